"""Built-in target sources: the chain from the SIP domains to the hosts the other checks examine.

domain  <- --domain
ntp     <- SRV _ntp._udp.<domain> targets (with the SRV port), --ntp-server
web     <- --web-fqdn; else the _sipinternaltls._tcp.<domain> targets, as DHCPUtil defaults the web
           server to the SIP server (and DHCP option 43, from the DHCP plugin)
"""

from __future__ import annotations

from collections.abc import Callable

from lyncready import CheckContext, Discovery, Target, TargetKind, TargetSource, hookimpl, target_source
from lyncready.facts import DnsAnswer, DnsQuery

SIP_SRV = "_sipinternaltls._tcp.{domain}"
NTP_SRV = "_ntp._udp.{domain}"


async def srv_answers(ctx: CheckContext, template: str) -> list[tuple[str, DnsAnswer]]:
    domains = ctx.options.domains
    answers = await ctx.facts(DnsQuery(template.format(domain=d), "SRV") for d in domains)
    return list(zip(domains, answers, strict=True))


def _why(name: str, answer: DnsAnswer) -> str:
    return f"SRV {name}: {answer.status.value}" + (f" ({answer.reason})" if answer.reason else "")


@target_source(TargetKind.DOMAIN, "--domain")
async def domains_given(ctx: CheckContext) -> Discovery:
    targets = tuple(Target(TargetKind.DOMAIN, d, origins=("--domain",), domains=(d,)) for d in ctx.options.domains)
    return Discovery(targets, () if targets else ("no SIP domain given (--domain)",))


@target_source(TargetKind.NTP, "SRV _ntp._udp")
async def ntp_from_srv(ctx: CheckContext) -> Discovery:
    targets, notes = [], []
    for domain, answer in await srv_answers(ctx, NTP_SRV):
        name = NTP_SRV.format(domain=domain)
        if not answer.ok:
            notes.append(_why(name, answer))
        for rec in answer.srv:
            if rec.target:
                targets.append(
                    Target(TargetKind.NTP, rec.target, rec.port, origins=(f"SRV {name}",), domains=(domain,))
                )
    return Discovery(tuple(targets), tuple(notes))


@target_source(TargetKind.NTP, "--ntp-server")
async def ntp_given(ctx: CheckContext) -> Discovery:
    port = ctx.options.ports.ntp
    return Discovery(
        tuple(
            Target(TargetKind.NTP, s.host, s.port or port, origins=("--ntp-server",), domains=ctx.options.domains)
            for s in ctx.options.ntp_servers
        )
    )


@target_source(TargetKind.WEB, "--web-fqdn")
async def web_given(ctx: CheckContext) -> Discovery:
    return Discovery(
        tuple(
            Target(TargetKind.WEB, w, origins=("--web-fqdn",), domains=ctx.options.domains)
            for w in ctx.options.web_fqdns
        )
    )


@target_source(TargetKind.WEB, "SRV _sipinternaltls._tcp")
async def web_from_registrar(ctx: CheckContext) -> Discovery:
    """The Registrar's web services, unless --web-fqdn names the web FQDN explicitly.

    DHCP option 43 does not replace them: it names where phones get their certificate, while the
    web services of each SIP domain's Registrar pool are still used after sign-in.
    """
    if ctx.options.web_fqdns:
        return Discovery()
    targets, notes = [], []
    for domain, answer in await srv_answers(ctx, SIP_SRV):
        name = SIP_SRV.format(domain=domain)
        if not answer.ok:
            notes.append(_why(name, answer) + "; give --web-fqdn to test the web services anyway")
        for rec in answer.srv:
            if rec.target:
                targets.append(Target(TargetKind.WEB, rec.target, origins=(f"SRV {name} target",), domains=(domain,)))
    return Discovery(tuple(targets), tuple(notes))


@hookimpl
def register_target_sources(register: Callable[[TargetSource], None]) -> None:
    for source in (domains_given, ntp_from_srv, ntp_given, web_given, web_from_registrar):
        register(source)
