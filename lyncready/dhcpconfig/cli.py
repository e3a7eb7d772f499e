"""``lyncready dhcp config`` and ``lyncready dhcp lint``, added to the ``dhcp`` group by :func:`add_commands`.

Exit codes: ``config`` 0, or 3 with one ``lyncready: error: ...`` line for a value that cannot be encoded;
``lint`` 0 clean (info only), 1 warnings, 2 errors, 3 unreadable input or usage.
"""

from __future__ import annotations

import json
import sys
from typing import NoReturn

import click

from .model import FORMATS, LINT_FORMATS


def _fail(message: str) -> NoReturn:
    from ..cli import UsageFailure  # loaded: these commands hang off its 'dhcp' group

    raise UsageFailure(message)


@click.command("config")
@click.option("--sip-server", required=True, metavar="FQDN", help="Registrar pool FQDN (option 120).")
@click.option("--web-server", metavar="FQDN", help="Internal web services FQDN (option 43.3) [the SIP server].")
@click.option("--port", type=int, default=443, show_default=True, help="Web services port (option 43.4).")
@click.option("--search-list", "search_list", multiple=True, metavar="D1,D2", help="DNS search domains (option 119).")
@click.option("--ntp", multiple=True, metavar="IP1,IP2", help="NTP server addresses (options 4 and 42).")
@click.option(
    "--format", "fmt", type=click.Choice(FORMATS), default="hex", show_default=True, help="The DHCP server's language."
)
@click.option("--scope", metavar="NETWORK", help="Set the options on this scope (10.1.20.0 or 10.1.20.0/24).")
def config_cmd(
    sip_server: str,
    web_server: str | None,
    port: int,
    search_list: tuple[str, ...],
    ntp: tuple[str, ...],
    fmt: str,
    scope: str | None,
) -> None:
    """Print the DHCP configuration Lync / Skype for Business phones need, for one server type.

    The MS-UC-Client vendor class with option 43 sub-options 1-5, option 120, and 119, 4, 42 when given; at
    server level, or on --scope. '--format hex' prints DHCPUtil's values.
    """
    from . import generate
    from .model import ScopeSpec, SpecError

    try:
        spec = ScopeSpec.make(sip_server, web_server, port, search_list, ntp, scope)
        text = generate(spec, fmt)
    except (SpecError, ValueError) as exc:
        _fail(str(exc))
    click.echo(text, nl=False)


@click.command("lint")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option(
    "--format", "fmt", type=click.Choice(LINT_FORMATS), default="auto", show_default=True, help="The file's dialect."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def lint_cmd(file: str, fmt: str, as_json: bool) -> None:
    """Check a DHCP server configuration: what each scope sends a phone, the classic mistakes, fixed lines.

    FILE: a netsh dump, PowerShell output or Export-DhcpServer XML, dhcpd.conf, Kea JSON, dnsmasq.conf,
    IOS 'ip dhcp pool' blocks, MikroTik '/ip dhcp-server' export, DHCPUtil output; '-' reads stdin.
    Exit 0 clean, 1 warnings, 2 errors, 3 unreadable.
    """
    from . import lint
    from .render import render_text

    try:
        if file == "-":
            data = sys.stdin.buffer.read()
        else:
            with open(file, "rb") as handle:
                data = handle.read()
    except OSError as exc:
        _fail(f"{file}: {exc.strerror or exc}")
    report = lint(data, fmt)  # bytes: decoded as UTF-8, or UTF-16 with a BOM
    if as_json:
        doc = {"file": file, **report.to_json()}
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        click.echo(render_text(report, file), nl=False)
    sys.exit(report.exit_code)


def add_commands(group: click.Group) -> None:
    """Add ``config`` and ``lint`` to the ``lyncready dhcp`` group."""
    group.add_command(config_cmd, "config")
    group.add_command(lint_cmd, "lint")


__all__ = ["add_commands", "config_cmd", "lint_cmd"]
