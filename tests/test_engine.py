"""The engine without the network: plugins, the fact memo, limits, timeouts, crashes, exit codes."""

from __future__ import annotations

import asyncio
import dataclasses
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from reportcheck import validated

import lyncready
from lyncready import (
    Check,
    CheckContext,
    Finding,
    Level,
    Outcome,
    Severity,
    Status,
    Target,
    TargetKind,
    check,
    hookimpl,
)
from lyncready.checks import validate_meta
from lyncready.facts import FactKey, ProbeContext
from lyncready.host import DEFAULT_PLUGINS, load_registry
from lyncready.model import ExitCode, Result, exit_code_for

BUILTIN_IDS = {
    "dhcp_server_response",
    "dhcp_option_120",
    "dhcp_option_43",
    "dhcp_option_119",
    "dhcp_time_servers",
    "dns_sipinternaltls_srv",
    "dns_ntp_srv",
    "dns_strict_naming",
    "ntp_reachable",
    "ntp_time_sane",
    "http_certprov_anonymous",
    "https_web_services",
    "tls_certificate_names",
    "tls_certificate_chain",
    "tls_certificate_expiry",
    "tls_protocol_versions",
}


# --- a fake fact with a counting probe ----------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Echo(FactKey[str]):
    word: str
    host: str = "h1"
    delay: float = 0.0


class EchoProbe:
    def __init__(self) -> None:
        self.calls: list[Echo] = []
        self.in_flight = 0
        self.peak = 0
        self.peak_per_host: dict[str, int] = {}
        self._per_host: dict[str, int] = {}

    async def __call__(self, key: Echo, ctx: ProbeContext) -> str:
        self.calls.append(key)
        async with ctx.slot(key.host):
            self.in_flight += 1
            self._per_host[key.host] = self._per_host.get(key.host, 0) + 1
            self.peak = max(self.peak, self.in_flight)
            self.peak_per_host[key.host] = max(self.peak_per_host.get(key.host, 0), self._per_host[key.host])
            await asyncio.sleep(key.delay)
            self.in_flight -= 1
            self._per_host[key.host] -= 1
        if key.word == "boom":
            raise RuntimeError("probe exploded")
        return key.word.upper()


def make_check(cid: str, func: Callable[[CheckContext, Target], Any], severity: Severity = Severity.FAIL) -> Check:
    return check(
        id=cid,
        title=f"Test check {cid}",
        target_kind=TargetKind.DOMAIN,
        severity=severity,
        description="A check used by the engine tests to exercise the runner.",
        remediation="Nothing to remediate: this is a test.",
    )(func)


class Plugin:
    """A plugin object registering the given checks and the Echo probe."""

    def __init__(self, checks: list[Check], probe: EchoProbe | None = None) -> None:
        self.checks = checks
        self.probe = probe or EchoProbe()

    @hookimpl
    def register_checks(self, register: Callable[[Check], None]) -> None:
        for c in self.checks:
            register(c)

    @hookimpl
    def register_probes(self, register: Callable[..., None]) -> None:
        register(Echo, self.probe)


def run(plugin: Any, ids: list[str], **kw: Any) -> lyncready.Report:
    kw.setdefault("domains", ["a.test", "b.test"])
    report = lyncready.audit(checks=ids, plugins=[plugin], autoload=False, **kw)
    validated(report)
    return report


# --- tests ---------------------------------------------------------------------------------------


def test_builtin_checks_are_registered_with_valid_metadata() -> None:
    reg = load_registry(autoload=False)
    assert set(reg.checks) == BUILTIN_IDS
    for c in reg.checks.values():
        assert validate_meta(c.meta) == [], c.id
        assert c.plugin.startswith("lyncready.plugins."), c.plugin
    names = [p.name for p in reg.plugins]
    assert names[: len(DEFAULT_PLUGINS)] == list(DEFAULT_PLUGINS)
    assert all(p.source == "builtin" and p.version == lyncready.__version__ for p in reg.plugins)


def test_a_fact_asked_by_many_checks_is_fetched_once() -> None:
    async def ask(ctx: CheckContext, target: Target) -> Outcome:
        value = await ctx.fact(Echo("shared", delay=0.01))
        return Outcome(f"{target.name}: {value}")

    checks = [make_check(f"shared_{i}", ask) for i in range(5)]
    plugin = Plugin(checks)
    report = run(plugin, [c.id for c in checks])
    assert [r.status for r in report.results] == [Status.PASS] * 10
    assert all(r.summary.endswith("SHARED") for r in report.results)
    assert plugin.probe.calls == [Echo("shared", delay=0.01)]


def test_global_and_per_host_limits_hold() -> None:
    async def many(ctx: CheckContext, target: Target) -> Outcome:
        words = [Echo(f"{target.name}-{i}", host=f"h{i % 2}", delay=0.02) for i in range(12)]
        await asyncio.gather(*(ctx.fact(w) for w in words))
        return Outcome("done")

    plugin = Plugin([make_check("fanout", many)])
    report = run(plugin, ["fanout"], domains=["a.test", "b.test", "c.test"], concurrency=4, per_host=2)
    assert {r.status for r in report.results} == {Status.PASS}
    assert len(plugin.probe.calls) == 36
    assert plugin.probe.peak == 4
    assert max(plugin.probe.peak_per_host.values()) == 2


def test_a_crashing_check_is_an_error_and_the_rest_completes() -> None:
    async def crash(ctx: CheckContext, target: Target) -> Outcome:
        raise ValueError("bad day")

    async def fine(ctx: CheckContext, target: Target) -> Outcome:
        return Outcome("fine", (Finding("t.warn", Level.WARN, "just a warning"),))

    report = run(Plugin([make_check("crash", crash), make_check("fine", fine)]), ["crash", "fine"])
    by = {(r.check_id, r.target): r for r in report.results}
    assert by[("crash", "a.test")].status is Status.ERROR
    assert "ValueError: bad day" in by[("crash", "a.test")].summary
    assert "Traceback" in by[("crash", "a.test")].evidence["traceback"]
    assert by[("fine", "b.test")].status is Status.WARN
    assert report.exit_code is ExitCode.WARNING


def test_a_crashing_probe_is_an_error_of_the_checks_that_needed_it() -> None:
    async def needs_boom(ctx: CheckContext, target: Target) -> Outcome:
        await ctx.fact(Echo("boom"))
        return Outcome("unreachable")

    async def ok(ctx: CheckContext, target: Target) -> Outcome:
        return Outcome(await ctx.fact(Echo("ok")))

    report = run(Plugin([make_check("needs_boom", needs_boom), make_check("okay", ok)]), ["needs_boom", "okay"])
    statuses = {(r.check_id, r.status) for r in report.results}
    assert statuses == {("needs_boom", Status.ERROR), ("okay", Status.PASS)}
    boom = report.results_for("needs_boom")[0]
    assert "probe crashed: RuntimeError: probe exploded" in boom.summary


def test_a_hanging_check_times_out_and_others_finish() -> None:
    async def hang(ctx: CheckContext, target: Target) -> Outcome:
        await asyncio.sleep(3600)
        return Outcome("never")

    async def quick(ctx: CheckContext, target: Target) -> Outcome:
        return Outcome("quick")

    plugin = Plugin([make_check("hang", hang), make_check("quick", quick)])
    report = run(plugin, ["hang", "quick"], check_timeout=0.2)
    hang_results = report.results_for("hang")
    assert [r.status for r in hang_results] == [Status.ERROR, Status.ERROR]
    assert "did not finish within 0.2 s" in hang_results[0].summary
    assert [r.status for r in report.results_for("quick")] == [Status.PASS, Status.PASS]
    assert report.duration < 5


def test_the_total_deadline_turns_unfinished_work_into_errors() -> None:
    async def slow(ctx: CheckContext, target: Target) -> Outcome:
        await asyncio.sleep(3600)
        return Outcome("never")

    async def quick(ctx: CheckContext, target: Target) -> Outcome:
        return Outcome("quick")

    report = run(
        Plugin([make_check("slow", slow), make_check("quick2", quick)]),
        ["slow", "quick2"],
        check_timeout=100,
        total_timeout=0.3,
    )
    assert {r.status for r in report.results_for("slow")} == {Status.ERROR}
    assert "deadline (0.3 s)" in report.results_for("slow")[0].summary
    assert {r.status for r in report.results_for("quick2")} == {Status.PASS}
    assert len(report.results) == 4


def test_the_deadline_reports_jobs_that_were_never_queued() -> None:
    """Jobs are made as workers free up (a bounded queue): at the deadline, the ones not made yet are
    errors too, each (check, target) exactly once."""

    async def slow(ctx: CheckContext, target: Target) -> Outcome:
        await asyncio.sleep(3600)
        return Outcome("never")

    domains = [f"d{i}.test" for i in range(2500)]  # 5000 jobs: more than 2048 workers + 2048 queued
    report = run(
        Plugin([make_check("slow", slow), make_check("slow2", slow)]),
        ["slow", "slow2"],
        domains=domains,
        check_timeout=100,
        total_timeout=0.5,
    )
    seen = [(r.check_id, r.target) for r in report.results]
    assert len(seen) == len(set(seen)) == 5000
    assert {r.status for r in report.results} == {Status.ERROR}
    assert all("deadline (0.5 s)" in r.summary for r in report.results)


def test_an_advisory_check_never_fails_the_audit() -> None:
    async def failing(ctx: CheckContext, target: Target) -> Outcome:
        return Outcome("bad", (Finding("t.fail", Level.FAIL, "fails"),))

    report = run(Plugin([make_check("advice", failing, Severity.WARN)]), ["advice"])
    assert {r.status for r in report.results} == {Status.WARN}
    assert report.results[0].remediation.startswith("Nothing to remediate")
    assert [f.level for f in report.results[0].findings] == [Level.WARN]
    assert report.exit_code is ExitCode.WARNING


def test_a_plugin_that_raises_while_registering_is_reported_and_the_audit_runs() -> None:
    class Broken:
        @hookimpl
        def register_checks(self, register: Callable[[Check], None]) -> None:
            raise RuntimeError("plugin bug")

    async def fine(ctx: CheckContext, target: Target) -> Outcome:
        return Outcome("fine")

    report = lyncready.audit(
        domains=["a.test"], checks=["fine1"], autoload=False, plugins=[Broken(), Plugin([make_check("fine1", fine)])]
    )
    validated(report)
    load = report.results_for("plugin_load")
    assert len(load) == 1 and load[0].status is Status.ERROR
    assert "register_checks failed: RuntimeError: plugin bug" in load[0].summary
    assert report.results_for("fine1")[0].status is Status.PASS
    assert report.exit_code is ExitCode.WARNING


def test_duplicate_or_invalid_checks_are_refused() -> None:
    async def f(ctx: CheckContext, target: Target) -> Outcome:
        return Outcome("x")

    bad_meta = make_check("Bad-Id", f)
    dup = make_check("dns_ntp_srv", f)
    reg = load_registry(autoload=False, extra_plugins=[Plugin([bad_meta, dup])])
    messages = " | ".join(p.message for p in reg.problems)
    assert "'Bad-Id'" in messages
    assert reg.checks["dns_ntp_srv"].plugin == "lyncready.plugins.dns_srv"


def test_unknown_check_id_is_an_option_error() -> None:
    with pytest.raises(lyncready.OptionError, match="unknown check id 'nope'"):
        lyncready.audit(domains=["a.test"], checks=["nope"], autoload=False)


def test_plugins_dir_loads_files_and_reports_broken_ones(tmp_path: Path) -> None:
    (tmp_path / "good.py").write_text(
        textwrap.dedent("""
        from lyncready import Outcome, Severity, TargetKind, check, hookimpl

        @check(id="dir_check", title="From a plugins dir", target_kind=TargetKind.DOMAIN, severity=Severity.WARN,
               description="A one-off check loaded from --plugins-dir.", remediation="Nothing to do here.")
        async def dir_check(ctx, target):
            return Outcome(f"saw {target.name}")

        @hookimpl
        def register_checks(register):
            register(dir_check)
    """)
    )
    (tmp_path / "broken.py").write_text("import not_a_module_anywhere\n")
    report = lyncready.audit(domains=["x.test"], checks=["dir_check"], autoload=False, plugins_dir=str(tmp_path))
    validated(report)
    assert report.results_for("dir_check")[0].summary == "saw x.test"
    assert report.results_for("dir_check")[0].plugin == "good.py"
    assert any("broken.py" in r.target and r.status is Status.ERROR for r in report.results_for("plugin_load"))
    assert any(p.name == "good.py" and p.source == "plugins-dir" for p in report.plugins)


def test_entry_point_plugins_load_unless_autoload_is_disabled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "lr_ep_plugin.py").write_text(
        textwrap.dedent("""
        from lyncready import Outcome, Severity, TargetKind, check, hookimpl

        @check(id="ep_check", title="From an entry point", target_kind=TargetKind.DOMAIN, severity=Severity.FAIL,
               description="A check shipped by a third-party distribution.", remediation="Nothing to do here.")
        async def ep_check(ctx, target):
            return Outcome("entry point works")

        @hookimpl
        def register_checks(register):
            register(ep_check)
    """)
    )
    dist = tmp_path / "lr_ep_plugin-1.2.3.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: lr-ep-plugin\nVersion: 1.2.3\n")
    (dist / "entry_points.txt").write_text("[lyncready]\nep = lr_ep_plugin\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("LYNCREADY_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    reg = load_registry()
    assert "ep_check" in reg.checks
    info = next(p for p in reg.plugins if p.name == "ep")
    assert (info.version, info.source, info.hooks) == ("1.2.3", "entrypoint", ("register_checks",))
    monkeypatch.setenv("LYNCREADY_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert "ep_check" not in load_registry().checks
    sys.modules.pop("lr_ep_plugin", None)


def test_exit_codes_follow_monitoring_plugins() -> None:
    def r(status: Status) -> Result:
        return Result("c", "t", TargetKind.DOMAIN, status, "s")

    assert exit_code_for([r(Status.PASS), r(Status.SKIP)]) is ExitCode.OK
    assert exit_code_for([r(Status.PASS), r(Status.WARN)]) is ExitCode.WARNING
    assert exit_code_for([r(Status.PASS), r(Status.ERROR)]) is ExitCode.WARNING
    assert exit_code_for([r(Status.WARN), r(Status.FAIL), r(Status.ERROR)]) is ExitCode.CRITICAL
    assert exit_code_for([r(Status.ERROR), r(Status.SKIP)]) is ExitCode.UNKNOWN
    assert exit_code_for([]) is ExitCode.UNKNOWN


def test_targets_from_several_sources_are_merged_with_their_origins() -> None:
    a = Target(TargetKind.WEB, "Pool.Contoso.test", origins=("--web-fqdn",), domains=("contoso.test",))
    b = Target(TargetKind.WEB, "pool.contoso.test.", origins=("SRV x",), domains=("contoso.test", "f.test"))
    assert a.key == b.key
    m = a.merged(b)
    assert m.origins == ("--web-fqdn", "SRV x") and m.domains == ("contoso.test", "f.test")


def test_a_fallback_target_source_is_used_only_when_no_other_source_found_targets() -> None:
    from lyncready import Discovery, TargetSource, target_source

    @target_source(TargetKind.DOMAIN, "preferred")
    async def preferred(ctx: CheckContext) -> Discovery:
        names = ctx.options.extra.get("preferred", [])
        return Discovery(tuple(Target(TargetKind.DOMAIN, n, origins=("preferred",)) for n in names))

    @target_source(TargetKind.DOMAIN, "fallback", fallback=True)
    async def fallback(ctx: CheckContext) -> Discovery:
        return Discovery((Target(TargetKind.DOMAIN, "fallback.test", origins=("fallback",)),))

    class Sources:
        @hookimpl
        def register_target_sources(self, register: Callable[[TargetSource], None]) -> None:
            register(preferred)
            register(fallback)

    async def name(ctx: CheckContext, target: Target) -> Outcome:
        return Outcome(target.name)

    plugin = Plugin([make_check("names", name)])
    with_preferred = lyncready.audit(
        checks=["names"], plugins=[plugin, Sources()], autoload=False, extra={"preferred": ["p.test"]}
    )
    assert sorted(r.target for r in with_preferred.results) == ["p.test"]
    without = lyncready.audit(checks=["names"], plugins=[plugin, Sources()], autoload=False)
    assert sorted(r.target for r in without.results) == ["fallback.test"]


def test_profile_severity_caps_or_uncaps_a_check() -> None:
    async def failing(ctx: CheckContext, target: Target) -> Outcome:
        return Outcome("bad", (Finding("t.fail", Level.FAIL, "fails"),))

    plugin = Plugin([make_check("strict", failing, Severity.FAIL), make_check("advisory", failing, Severity.WARN)])
    plain = run(plugin, ["strict", "advisory"])
    assert {(r.check_id, r.status) for r in plain.results} == {("strict", Status.FAIL), ("advisory", Status.WARN)}
    options = lyncready.build_options(domains=["a.test"], checks=["strict", "advisory"])
    swapped = dataclasses.replace(options, severity={"strict": Severity.WARN, "advisory": Severity.FAIL})
    report = lyncready.audit(swapped, plugins=[plugin], autoload=False)
    validated(report)
    assert {(r.check_id, r.status) for r in report.results} == {("strict", Status.WARN), ("advisory", Status.FAIL)}
    assert report.results_for("strict")[0].findings[0].level is Level.WARN


def test_a_mute_shows_the_result_as_muted_and_keeps_it_out_of_the_exit_code() -> None:
    from lyncready.model import Mute

    async def failing(ctx: CheckContext, target: Target) -> Outcome:
        return Outcome("bad", (Finding("t.fail", Level.FAIL, "fails"),))

    plugin = Plugin([make_check("flaky", failing)])
    options = lyncready.build_options(domains=["a.test", "b.test"], checks=["flaky"])
    muted = dataclasses.replace(
        options,
        mutes=(Mute("flaky", "a.test", "accepted: CHG-1"), Mute("flaky", "b.test", "expired", until="2020-01-01")),
    )
    report = lyncready.audit(muted, plugins=[plugin], autoload=False)
    validated(report)
    by = {r.target: r for r in report.results}
    assert by["a.test"].status is Status.FAIL and by["a.test"].muted == "accepted: CHG-1"
    assert by["b.test"].muted == ""  # an expired mute no longer applies
    assert report.exit_code is ExitCode.CRITICAL  # b.test still fails
    only_a = dataclasses.replace(muted, domains=("a.test",))
    assert lyncready.audit(only_a, plugins=[plugin], autoload=False).exit_code is ExitCode.OK
