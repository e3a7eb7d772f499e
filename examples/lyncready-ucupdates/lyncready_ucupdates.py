"""An example lyncready plugin (docs/plugins.md walks through it).

UC devices that have never had a user signed in find the Device Update Web service through the
host record ucupdates-r2.<SIP domain>. This plugin adds one check for it, using only the public API:
the DnsQuery fact (so the lookup goes through the audit's pinned resolver and is shared), a
Findings collector, and a fix line.
"""

from __future__ import annotations

from collections.abc import Callable

from lyncready import Check, CheckContext, Findings, Level, Outcome, Severity, Target, TargetKind, check, hookimpl
from lyncready.facts import DnsQuery, DnsStatus

__version__ = "0.1.0"


@check(
    id="dns_ucupdates_a",
    title="ucupdates-r2.<domain> leads to the Device Update service",
    target_kind=TargetKind.DOMAIN,
    severity=Severity.WARN,
    description="""UC devices that no user has signed in to yet find the Device Update Web service through the
    host record ucupdates-r2.<SIP domain>. Without it they receive firmware updates only after a first sign-in.""",
    remediation="Create an A record ucupdates-r2.<SIP domain> pointing to the Front End pool hosting Device Update.",
    fix="ucupdates-r2.<domain>. 3600 IN A <pool address>",
    references=("https://learn.microsoft.com/en-us/previous-versions/office/skype-server-2010/gg425900(v=ocs.14)",),
)
async def dns_ucupdates_a(ctx: CheckContext, target: Target) -> Outcome:
    name = f"ucupdates-r2.{target.name}"
    answer = await ctx.fact(DnsQuery(name, "A"))
    f = Findings()
    if answer.ok:
        f.add("ucupdates.ok", Level.INFO, f"{name} -> {', '.join(answer.addresses)}", addresses=list(answer.addresses))
        return f.outcome(f"{name} resolves", evidence={"records": list(answer.records)})
    level = Level.WARN if answer.status in (DnsStatus.NXDOMAIN, DnsStatus.NODATA) else Level.FAIL
    f.add(f"ucupdates.{answer.status.value}", level, f"{name}: {answer.status.value} {answer.reason}".strip())
    return f.outcome(f"{name} does not resolve", fix=f"{name}. 3600 IN A <pool address>")


@hookimpl
def register_checks(register: Callable[[Check], None]) -> None:
    register(dns_ucupdates_a)
