"""The command line: ``lyncready audit | checks | plugins | demo``.

Exit codes follow monitoring-plugins: 0 all passed, 1 warnings, 2 failures, 3 could not run
(a usage error prints one line and exits 3). Heavy modules load inside the commands, so
``lyncready --help`` stays fast.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from ._version import __version__

if TYPE_CHECKING:
    from .host import Registry
    from .model import Report
    from .runner import Progress

EXIT_UNKNOWN = 3
FORMATS = ("text", "json", "html", "junit", "prometheus", "monitoring", "sarif", "csv")


class UsageFailure(click.ClickException):
    exit_code = EXIT_UNKNOWN


def _fail(message: str) -> NoReturn:
    raise UsageFailure(message)


def _registry(plugins_dir: str | None) -> Registry:
    from .host import PluginLoadError, load_registry

    try:
        return load_registry(plugins_dir=plugins_dir)
    except PluginLoadError as exc:
        _fail(str(exc))


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="lyncready")
def cli() -> None:
    """Audit whether a network is ready for Lync / Skype for Business desk phones.

    Exit codes: 0 all passed, 1 warnings, 2 failures, 3 could not run.
    """


_plugins_dir_option = click.option(
    "--plugins-dir", type=click.Path(file_okay=False), help="Also load every *.py file in DIR as a plugin."
)


@cli.command()
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Audit every site of a network audit file (TOML; see examples/network.toml).",
)
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False),
    metavar="DIR",
    help="Write timestamped reports (JSON, HTML, JUnit, Prometheus...) and latest.* here.",
)
@click.option(
    "--history",
    "history_path",
    type=click.Path(dir_okay=False),
    metavar="PATH",
    help="History database (default: DIR/history.sqlite with --output-dir).",
)
@click.option("--keep", type=int, metavar="N", help="Keep only the last N runs in the history.")
@click.option("--keep-days", type=int, metavar="N", help="Drop runs older than N days from the history.")
@click.option(
    "--fail-on-regression",
    is_flag=True,
    help="Exit non-zero only for what regressed since the last run (2 regressions, else 0).",
)
@click.option("--domain", "domains", multiple=True, metavar="DOMAIN", help="A SIP domain (repeatable).")
@click.option(
    "--nameserver",
    "nameservers",
    multiple=True,
    metavar="IP[:PORT]",
    help="DNS server the phones use (repeatable). Default: this machine's resolver configuration.",
)
@click.option(
    "--web-fqdn",
    "web_fqdns",
    multiple=True,
    metavar="FQDN",
    help="Web services FQDN (default: the _sipinternaltls SRV target).",
)
@click.option("--ntp-server", "ntp_servers", multiple=True, metavar="HOST[:PORT]", help="An extra time source.")
@click.option("--ca-bundle", type=click.Path(dir_okay=False), help="PEM file of trusted roots (default: system store).")
@click.option(
    "--device",
    type=click.Choice(["lpe", "3pip"]),
    default="lpe",
    show_default=True,
    help="Phone family: Lync Phone Edition or third-party IP phones.",
)
@click.option("--format", "fmt", type=click.Choice(FORMATS), help="Report format (default: from --output, else text).")
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write the report to FILE instead of stdout.")
@click.option("--check", "checks", multiple=True, metavar="ID", help="Run only this check (repeatable).")
@click.option("--skip", "skip", multiple=True, metavar="ID", help="Do not run this check (repeatable).")
@click.option("--timeout", type=float, metavar="S", help="Seconds for one network exchange [3].")
@click.option("--check-timeout", type=float, metavar="S", help="Seconds for one check on one target [20].")
@click.option("--deadline", type=float, metavar="S", help="Seconds for the whole audit [300].")
@click.option("--concurrency", type=int, metavar="N", help="Network operations in flight at once [512].")
@click.option("--http-port", type=int, metavar="PORT", help="Port of the HTTP web services [80].")
@click.option("--https-port", type=int, metavar="PORT", help="Port of the HTTPS web services [443].")
@click.option("--ntp-port", type=int, metavar="PORT", help="NTP port expected and used for --ntp-server [123].")
@click.option("--interface", metavar="IFACE", help="Probe DHCP on this interface, as a phone on that VLAN would.")
@click.option(
    "--dhcp-mode",
    type=click.Choice(["inform", "discover"]),
    default="inform",
    show_default=True,
    help="DHCPINFORM as phones send it, or DISCOVER (never followed by REQUEST: no lease is taken).",
)
@click.option("--dhcp-server", metavar="IP", help="Unicast the DHCP probe to this server.")
@click.option("--giaddr", metavar="IP", help="Relay agent address: audit the scope of a remote phone VLAN.")
@click.option("--dhcp-timeout", type=float, metavar="S", help="Seconds to collect DHCP replies [5].")
@click.option("--netns", metavar="NAME", help="Probe DHCP from inside this network namespace (ip netns).")
@click.option(
    "--tls-versions-per-name",
    is_flag=True,
    help="Test TLS versions for every web FQDN, not once per address:port (a load balancer that picks TLS "
    "settings by SNI).",
)
@_plugins_dir_option
@click.option("--color/--no-color", default=None, help="Colour the text report (default: on a terminal).")
def audit(
    domains: tuple[str, ...],
    nameservers: tuple[str, ...],
    web_fqdns: tuple[str, ...],
    ntp_servers: tuple[str, ...],
    ca_bundle: str | None,
    device: str,
    fmt: str | None,
    output: str | None,
    checks: tuple[str, ...],
    skip: tuple[str, ...],
    timeout: float | None,
    check_timeout: float | None,
    deadline: float | None,
    concurrency: int | None,
    http_port: int | None,
    https_port: int | None,
    ntp_port: int | None,
    interface: str | None,
    dhcp_mode: str,
    dhcp_server: str | None,
    giaddr: str | None,
    dhcp_timeout: float | None,
    netns: str | None,
    tls_versions_per_name: bool,
    plugins_dir: str | None,
    color: bool | None,
    config_file: str | None,
    output_dir: str | None,
    history_path: str | None,
    keep: int | None,
    keep_days: int | None,
    fail_on_regression: bool,
) -> None:
    """Audit SIP domains from the phone's point of view: DHCP, DNS, NTP, HTTP, HTTPS and TLS."""
    from .options import OptionError, build_options

    schedule = {
        "output_dir": output_dir,
        "history": history_path,
        "keep": keep,
        "keep_days": keep_days,
        "fail_on_regression": fail_on_regression,
    }
    if config_file is not None:
        given = [
            n
            for n, v in (
                ("--domain", domains),
                ("--interface", interface),
                ("--web-fqdn", web_fqdns),
                ("--ntp-server", ntp_servers),
                ("--nameserver", nameservers),
            )
            if v
        ]
        if given:
            _fail(f"--config describes the sites: drop {', '.join(given)} (or put them in the file)")
        _network_audit(config_file, plugins_dir, fmt, output, color, schedule)
        return
    if not domains and not web_fqdns and not ntp_servers and not interface:
        _fail("nothing to audit: give at least one --domain (or --interface / --web-fqdn / --ntp-server)")
    if ca_bundle is not None and not Path(ca_bundle).is_file():
        _fail(f"--ca-bundle {ca_bundle}: no such file")
    fmt = _format_for(fmt, output)
    try:
        options = build_options(
            domains=domains,
            nameservers=nameservers,
            web_fqdns=web_fqdns,
            ntp_servers=ntp_servers,
            ca_bundle=ca_bundle,
            device=device,
            checks=checks,
            skip=skip,
            timeout=timeout,
            check_timeout=check_timeout,
            total_timeout=deadline,
            concurrency=concurrency,
            http_port=http_port,
            https_port=https_port,
            ntp_port=ntp_port,
            interface=interface,
            dhcp_mode=dhcp_mode,
            dhcp_server=dhcp_server,
            giaddr=giaddr,
            dhcp_timeout=dhcp_timeout,
            netns=netns,
            tls_versions_per_name=tls_versions_per_name,
        )
    except OptionError as exc:
        _fail(str(exc))
    registry = _registry(plugins_dir)
    if output_dir or history_path:
        _scheduled(lambda: _run(options, registry), output_dir, fmt, output, color, schedule, label=None)
        return
    report = _run(options, registry)
    _emit(report, fmt, output, color)
    sys.exit(int(report.exit_code))


def _network_audit(
    config_file: str,
    plugins_dir: str | None,
    fmt: str | None,
    output: str | None,
    color: bool | None,
    schedule: dict[str, Any],
) -> None:
    from .config import ConfigError, load
    from .options import OptionError
    from .runner import run_sites

    registry = _registry(plugins_dir)
    try:
        af = load(config_file, registry.checks)
    except ConfigError as exc:
        _fail(str(exc))
    sites = [(s.name, dataclasses.replace(s.options, severity=dict(af.severity), mutes=af.mutes)) for s in af.sites]

    def run() -> Report:
        try:
            return _run_quietly(run_sites(sites, registry, arguments={"config": af.path}, progress=_progress()))
        except OptionError as exc:
            _fail(str(exc))

    for key, value in (
        ("output_dir", af.output_dir),
        ("history", af.history),
        ("keep", af.keep),
        ("keep_days", af.keep_days),
    ):
        if schedule.get(key) is None and value is not None:
            schedule[key] = value
    _scheduled(run, schedule["output_dir"], fmt, output, color, schedule, label=Path(config_file).stem)


def _scheduled(
    run: Callable[[], Report],
    output_dir: str | None,
    fmt: str | None,
    output: str | None,
    color: bool | None,
    schedule: dict[str, Any],
    label: str | None,
) -> None:
    """A run that writes to an output directory and/or records history (the scheduled-job path)."""
    if not output_dir and not schedule.get("history"):
        report = run()
        _emit(report, _format_for(fmt, output), output, color)
        sys.exit(int(report.exit_code))
    from .scheduled import ScheduleError, scheduled_run

    try:
        outcome = scheduled_run(
            run,
            output_dir=output_dir,
            history=schedule.get("history"),
            keep=schedule.get("keep"),
            keep_days=schedule.get("keep_days"),
            label=label,
        )
    except ScheduleError as exc:
        _fail(str(exc))
    _emit(outcome.report, _format_for(fmt, output), output, color)
    for line in outcome.messages:
        click.echo(f"lyncready: {line}", err=True)
    if schedule.get("fail_on_regression"):
        sys.exit(2 if outcome.regressions else 0)
    sys.exit(int(outcome.report.exit_code))


def _format_for(fmt: str | None, output: str | None) -> str:
    """--format, else the output file's suffix (.json .html .xml .prom .sarif .csv .txt), else text."""
    if fmt is not None:
        return fmt
    if output is not None:
        from .report import format_for_path

        try:
            return format_for_path(output)
        except ValueError as exc:
            _fail(f"--output: {exc}")
    return "text"


def _progress() -> Progress | None:
    """A progress bar on stderr while checks run, only on a terminal (never in a pipe, a log or cron)."""
    from .runner import Progress

    stream = sys.stderr
    if not stream.isatty() or os.environ.get("TERM") == "dumb":
        return None
    width = 30
    last = [-1]

    def update(done: int, total: int) -> None:
        if total < 20:  # a small audit finishes before a bar helps
            return
        filled = width * done // total
        if filled == last[0] and done != total:
            return
        last[0] = filled
        end = "\n" if done == total else ""
        stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} checks{end}")
        stream.flush()

    return Progress(update)


def _run_quietly(coro: Coroutine[Any, Any, Report]) -> Report:
    """asyncio.run(coro), but the main task returns None: on Python 3.11, asyncio.Runner restores the SIGINT
    handler with signal.signal(), whose enum conversion formats repr(main task), result included: the
    repr of a whole Report (110,000 results at 10,000 domains) costs seconds and hundreds of MB."""
    from .loop import LoopError, run

    box: list[Report] = []

    async def main() -> None:
        box.append(await coro)

    try:
        run(main())
    except LoopError as exc:
        coro.close()
        _fail(str(exc))
    return box[0]


def _run(options: Any, registry: Registry) -> Report:
    from .options import OptionError
    from .runner import run_audit

    try:
        return _run_quietly(run_audit(options, registry, _progress()))
    except OptionError as exc:
        _fail(str(exc))


def _emit(report: Report, fmt: str, output: str | None, color: bool | None) -> None:
    from .report import iter_render, iter_text, write_report

    if output is None:
        last = ""
        for piece in iter_text(report, color=color) if fmt == "text" else iter_render(report, fmt):
            click.echo(piece, nl=False)
            last = piece or last
        if not last.endswith("\n"):
            click.echo("")
        return
    write_report(report, output, fmt)
    s = report.summary
    click.echo(
        f"lyncready: {s.passed} passed, {s.warned} warnings, {s.failed} failed, {s.errors} errors, "
        f"{s.skipped} skipped; report written to {output}",
        err=True,
    )


@cli.command("checks")
@click.option("--json", "as_json", is_flag=True, help="Print the catalogue as JSON.")
@click.option("--markdown", "as_markdown", is_flag=True, help="Print the catalogue as Markdown (docs/checks.md).")
@_plugins_dir_option
def checks_cmd(as_json: bool, as_markdown: bool, plugins_dir: str | None) -> None:
    """List every check: id, title, default severity, plugin, description."""
    registry = _registry(plugins_dir)
    if as_markdown:
        from .catalogue import render_markdown

        click.echo(render_markdown(registry), nl=False)
        _report_problems(registry)
        return
    rows = [
        {
            "id": c.id,
            "title": c.meta.title,
            "severity": c.meta.severity.value,
            "target_kind": c.meta.target_kind.value,
            "plugin": c.plugin,
            "description": c.meta.description,
            "remediation": c.meta.remediation,
            "fix": c.meta.fix,
            "references": list(c.meta.references),
        }
        for c in registry.checks.values()
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        width = max((len(r["id"]) for r in rows), default=10)
        for r in rows:
            click.echo(f"{r['id']:<{width}}  {r['severity']:<4}  {r['target_kind']:<6}  {r['title']}  [{r['plugin']}]")
    _report_problems(registry)


@cli.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print the plugins as JSON.")
@_plugins_dir_option
def plugins_cmd(as_json: bool, plugins_dir: str | None) -> None:
    """List loaded plugins, their versions and the hooks they implement."""
    registry = _registry(plugins_dir)
    rows = [
        {"name": p.name, "version": p.version, "source": p.source, "hooks": list(p.hooks)} for p in registry.plugins
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        for r in rows:
            click.echo(f"{r['name']:<32} {r['version'] or '-':<8} {r['source']:<11} {', '.join(r['hooks'])}")
    _report_problems(registry)


def _report_problems(registry: Registry) -> None:
    for p in registry.problems:
        click.echo(f"lyncready: plugin {p.plugin}: {p.message}", err=True)


@cli.command()
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False),
    default="reports",
    show_default=True,
    help="Where demo.json and demo.html are written.",
)
@click.option("--device", type=click.Choice(["lpe", "3pip"]), default="lpe", show_default=True)
@click.option(
    "--dhcp/--no-dhcp",
    default=None,
    help="Include the DHCP layer (a phone VLAN in network namespaces; needs root). Default: when root.",
)
@click.option("--color/--no-color", default=None)
def demo(output_dir: str, device: str, dhcp: bool | None, color: bool | None) -> None:
    """Start the built-in lab (a healthy and a broken SIP domain on loopback) and audit it."""
    from .report import render_text, write_report

    try:
        report = _run_quietly(_demo(device, dhcp))
    except OSError as exc:
        _fail(f"cannot start the lab: {exc}")
    click.echo(render_text(report, color=color), nl=False)
    out = Path(output_dir)
    write_report(report, out / "demo.json", "json")
    write_report(report, out / "demo.html", "html")
    click.echo(f"Reports: {out / 'demo.json'}  {out / 'demo.html'}")
    sys.exit(int(report.exit_code))


async def _demo(device: str, dhcp: bool | None) -> Report:
    from . import audit_async
    from .lab import Lab

    async with Lab(dhcp=dhcp) as lab:
        kwargs = lab.audit_kwargs()
        kwargs["device"] = device
        click.echo(f"Lab: healthy SIP domain {lab.HEALTHY}, broken {lab.BROKEN}\n{lab.describe()}", err=True)
        return await audit_async(**kwargs)


@cli.group("config")
def config_group() -> None:
    """Network audit files (TOML)."""


@config_group.command("check")
@click.argument("file", type=click.Path(dir_okay=False))
@_plugins_dir_option
def config_check(file: str, plugins_dir: str | None) -> None:
    """Validate an audit file without auditing: exit 0 when valid, 3 with file:line: key: reason when not."""
    from .config import ConfigError, load

    registry = _registry(plugins_dir)
    try:
        af = load(file, registry.checks)
    except ConfigError as exc:
        _fail(str(exc))
    domains = sum(len(s.options.domains) for s in af.sites)
    click.echo(
        f"{file}: valid: {len(af.sites)} site(s), {domains} SIP domain(s), {len(af.severity)} severity "
        f"override(s), {len(af.mutes)} mute(s)"
    )


@cli.command("history")
@click.option(
    "--history",
    "path",
    type=click.Path(dir_okay=False),
    default="reports/history.sqlite",
    show_default=True,
    metavar="PATH",
)
@click.option("--limit", type=int, default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def history_cmd(path: str, limit: int, as_json: bool) -> None:
    """List recorded audit runs."""
    from .history import History, HistoryError

    if not Path(path).is_file():
        _fail(f"{path}: no history database (runs with --output-dir or --history record one)")
    try:
        with History(path) as db:
            runs = db.runs(limit=limit)
    except HistoryError as exc:
        _fail(str(exc))
    if as_json:
        click.echo(json.dumps([dataclasses.asdict(r) for r in runs], indent=2, default=str))
        return
    for r in runs:
        s = r.summary
        click.echo(
            f"{r.id:>5}  {r.started_at}  exit {int(r.exit_code)}  {r.label or '-':<16} "
            f"{s.passed} passed, {s.warned} warn, {s.failed} fail, {s.errors} error, {s.skipped} skip"
        )


@cli.command("diff")
@click.argument("run_a", type=int, required=False)
@click.argument("run_b", type=int, required=False)
@click.option(
    "--history",
    "path",
    type=click.Path(dir_okay=False),
    default="reports/history.sqlite",
    show_default=True,
    metavar="PATH",
)
@click.option("--json", "as_json", is_flag=True)
def diff_cmd(run_a: int | None, run_b: int | None, path: str, as_json: bool) -> None:
    """What regressed and what was fixed between two runs (default: the last two). Exit 2 on regressions."""
    from .history import History, HistoryError

    if not Path(path).is_file():
        _fail(f"{path}: no history database")
    try:
        with History(path) as db:
            if run_a is None or run_b is None:
                last = db.latest(2)
                if len(last) < 2:
                    _fail(f"{path}: fewer than two runs recorded")
                run_a, run_b = last[1].id, last[0].id
            d = db.diff(run_a, run_b)
    except HistoryError as exc:
        _fail(str(exc))
    if as_json:
        click.echo(json.dumps(dataclasses.asdict(d), indent=2, default=str))
    else:
        click.echo(f"run {run_a} -> run {run_b}")
        for title, items in (("regressed", d.regressions), ("fixed", d.fixed), ("new", d.new), ("gone", d.disappeared)):
            for c in items:
                click.echo(f"{title:<9} {c.check_id:<26} {c.target:<32} {c.old or '-'} -> {c.new or '-'}")
        if not (d.regressions or d.fixed or d.new or d.disappeared):
            click.echo("no change")
    sys.exit(2 if d.regressions else 0)


@cli.group()
def dhcp() -> None:
    """DHCP as a phone sees it: probe a VLAN, decode pasted option hex."""


def _add_config_commands() -> None:
    from .dhcpconfig.cli import add_commands

    add_commands(dhcp)


_add_config_commands()


@dhcp.command("probe")
@click.option("--interface", required=True, metavar="IFACE", help="The interface on the phone VLAN.")
@click.option("--dhcp-mode", "mode", type=click.Choice(["inform", "discover"]), default="inform", show_default=True)
@click.option("--dhcp-server", "server", metavar="IP", help="Unicast to this server.")
@click.option("--giaddr", metavar="IP", help="Relay agent address (audit a remote VLAN's scope).")
@click.option("--dhcp-timeout", "window", type=float, default=5.0, show_default=True, metavar="S")
@click.option("--no-vendor-class", is_flag=True, help="Ask without option 60 (what a non-phone client gets).")
@click.option("--netns", metavar="NAME", help="Probe from inside this network namespace (ip netns).")
@click.option("--device", type=click.Choice(["lpe", "3pip"]), default="lpe", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the replies and their decoding as JSON.")
def dhcp_probe(
    interface: str,
    mode: str,
    server: str | None,
    giaddr: str | None,
    window: float,
    no_vendor_class: bool,
    netns: str | None,
    device: str,
    as_json: bool,
) -> None:
    """Send what a Lync phone sends (DHCPINFORM as MS-UC-Client) and decode what comes back. No lease is taken."""
    from .dhcpview import probe_and_describe

    code, text = asyncio.run(
        probe_and_describe(
            interface=interface,
            mode=mode,
            server=server,
            giaddr=giaddr,
            window=window,
            vendor_class=None if no_vendor_class else "MS-UC-Client",
            device=device,
            as_json=as_json,
            netns=netns,
        )
    )
    click.echo(text, nl=not text.endswith("\n"))
    sys.exit(code)


@dhcp.command("decode")
@click.option(
    "--option",
    "option",
    default="auto",
    show_default=True,
    metavar="43|119|120|4|42|...|auto",
    help="Which option the hex is.",
)
@click.option("--device", type=click.Choice(["lpe", "3pip"]), default="lpe", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.argument("hex_text", nargs=-1, metavar="[HEX]")
def dhcp_decode(option: str, device: str, as_json: bool, hex_text: tuple[str, ...]) -> None:
    """Decode option hex as people paste it (Wireshark, DHCPUtil lines, Cisco 'option 43 hex ...'); stdin if no HEX.

    Exit 0 when valid, 2 when not, 3 when the input is not hex at all.
    """
    from .dhcpview import decode_and_describe

    text_in = " ".join(hex_text) if hex_text else sys.stdin.read()
    if option != "auto" and not option.isdigit():
        _fail(f"--option {option!r}: give an option number (43, 119, 120, ...) or auto")
    code, text = decode_and_describe(text_in, None if option == "auto" else int(option), device, as_json)
    if code == EXIT_UNKNOWN:
        _fail(text)
    click.echo(text, nl=not text.endswith("\n"))
    sys.exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: runs the CLI and maps every usage error to exit code 3 with one line."""
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="lyncready", standalone_mode=False)
    except click.UsageError as exc:
        if type(exc).__name__.startswith("NoArgsIsHelp") and exc.ctx is not None:
            click.echo(exc.ctx.get_help())  # bare 'lyncready': the help, and 3 as for any usage error
            return EXIT_UNKNOWN
        click.echo(f"lyncready: error: {exc.format_message()}", err=True)
        return EXIT_UNKNOWN
    except click.ClickException as exc:
        click.echo(f"lyncready: error: {exc.format_message()}", err=True)
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("lyncready: aborted", err=True)
        return EXIT_UNKNOWN
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_UNKNOWN
    return 0


def run() -> NoReturn:
    """Console-script entry point."""
    sys.exit(main())
