"""DNS checks: the SRV records a phone looks up for its SIP domain, and strict DNS naming."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lyncready import (
    Check,
    CheckContext,
    Device,
    Findings,
    Level,
    Outcome,
    Severity,
    Status,
    Target,
    TargetKind,
    check,
    hookimpl,
)
from lyncready.facts import DnsAnswer, DnsQuery, DnsStatus

from ._common import (
    CU7_STRICT_NAMING,
    NTP_SRV,
    SEED_ARTICLE,
    SIP_SRV,
    dns_problem,
    dns_tag,
    in_domain,
    resolve_all,
)

SRV_REFS = ("RFC 2782", SEED_ARTICLE)


async def _judge_srv(
    ctx: CheckContext,
    target: Target,
    template: str,
    expected_port: int,
    what: str,
    port_level: Level,
    placeholder: str,
) -> Outcome:
    domain = target.name
    name = template.format(domain=domain)
    answer: DnsAnswer = await ctx.fact(DnsQuery(name, "SRV"))
    f = Findings()
    evidence: dict[str, Any] = {
        "query": f"{name} SRV",
        "server": answer.server,
        "status": answer.status.value,
        "records": list(answer.records),
    }
    if answer.cname_chain:
        evidence["cname_chain"] = list(answer.cname_chain)
        f.add(
            "srv.cname",
            Level.INFO,
            f"{name} is an alias (CNAME) for {answer.cname_chain[-1]}",
            chain=list(answer.cname_chain),
        )
    fix_line = f"{name}. 3600 IN SRV 0 0 {expected_port} {placeholder}.{domain}."
    if not answer.ok:
        if answer.status is DnsStatus.NXDOMAIN:
            f.add(
                "srv.nxdomain",
                Level.FAIL,
                f"There is no {name} record (NXDOMAIN): phones of {domain} cannot find the {what}.",
                name=name,
            )
        elif answer.status is DnsStatus.NODATA:
            f.add(
                "srv.nodata",
                Level.FAIL,
                f"{name} exists but has no SRV record (NODATA): another record type "
                "sits at that name, or the SRV was created in the wrong zone.",
                name=name,
            )
        else:
            f.add(
                dns_tag(answer),
                Level.FAIL,
                dns_problem(name, "SRV", answer) + ": a phone asking this DNS server gets no answer either.",
                name=name,
                reason=answer.reason,
            )
        return f.outcome(
            f"{name}: {answer.status.value}",
            evidence=evidence,
            fix=fix_line if answer.status in (DnsStatus.NXDOMAIN, DnsStatus.NODATA) else "",
        )
    usable = [r for r in answer.srv if r.target]
    if not usable:
        f.add(
            "srv.no_service",
            Level.FAIL,
            f"{name} has only the '.' target: the service is declared unavailable.",
        )
        return f.outcome(f"{name} declares no service", evidence=evidence, fix=fix_line)
    resolved = await resolve_all(ctx, sorted({r.target for r in usable}))
    evidence["targets"] = {t: {"status": a.status.value, "addresses": list(a.addresses)} for t, a in resolved.items()}
    aliased: dict[str, str] = {}  # SRV target -> the name its CNAME chain ends at
    for rec in usable:
        if rec.port != expected_port:
            f.add(
                "srv.port",
                port_level,
                f"{name} points to {rec.target} port {rec.port}; phones expect {expected_port}.",
                target=rec.target,
                port=rec.port,
                expected=expected_port,
            )
        ans = resolved[rec.target]
        if not ans.ok:
            f.add(
                "srv.target_unresolved",
                Level.FAIL,
                f"SRV target {rec.target}: " + dns_problem(rec.target, "A", ans),
                target=rec.target,
            )
        elif ans.cname_chain and rec.target not in aliased:
            aliased[rec.target] = ans.cname_chain[-1]
            f.add(
                "srv.target_alias",
                Level.WARN,
                f"SRV target {rec.target} is an alias (CNAME) for {ans.cname_chain[-1]}: RFC 2782 requires the "
                "host's own name; phones may not follow the alias, and the certificate must cover the name used.",
                target=rec.target,
                canonical=ans.cname_chain[-1],
            )
    expected = ctx.options.expected_registrars if template == SIP_SRV else ()
    if expected and not {r.target for r in usable} & set(expected):
        f.add(
            "srv.unexpected_target",
            Level.FAIL,
            f"{name} points to {', '.join(sorted({r.target for r in usable}))}; the audit file expects "
            f"{', '.join(expected)}.",
            expected=list(expected),
        )
    summary_targets = ", ".join(f"{r.target}:{r.port}" for r in usable)
    if f.worst is Level.INFO:
        return f.outcome(f"{name} -> {summary_targets}, all resolving", evidence=evidence)
    bad_port = next((r for r in usable if r.port != expected_port), None)
    fix = ""
    if bad_port is not None:
        fix = f"{name}. 3600 IN SRV {bad_port.priority} {bad_port.weight} {expected_port} {bad_port.target}."
    unresolved = next((t for t, a in resolved.items() if not a.ok), None)
    if unresolved is not None:
        fix = f"{unresolved}. 3600 IN A <address of {unresolved}>"
    alias = next((r for r in usable if r.target in aliased), None)
    if not fix and alias is not None:
        fix = f"{name}. 3600 IN SRV {alias.priority} {alias.weight} {alias.port} {aliased[alias.target]}."
    return f.outcome(f"{name} -> {summary_targets}: problems found", evidence=evidence, fix=fix)


@check(
    id="dns_sipinternaltls_srv",
    title="SRV _sipinternaltls._tcp leads to the Registrar",
    target_kind=TargetKind.DOMAIN,
    severity=Severity.FAIL,
    description="""Phones find their Registrar pool through the DNS SRV record _sipinternaltls._tcp.<SIP domain>
    (port 5061). The record must exist (NXDOMAIN and NODATA are told apart), use port 5061, and each target
    must resolve to an address through the DNS server the phones use.""",
    remediation="""Create the SRV record _sipinternaltls._tcp.<SIP domain> with port 5061 pointing to the
    Registrar (Front End) pool FQDN, in the zone of every SIP domain, and an A record for that pool FQDN.""",
    fix="_sipinternaltls._tcp.<domain>. 3600 IN SRV 0 0 5061 <pool FQDN>.",
    references=SRV_REFS,
)
async def dns_sipinternaltls_srv(ctx: CheckContext, target: Target) -> Outcome:
    return await _judge_srv(ctx, target, SIP_SRV, ctx.options.ports.sip_tls, "Registrar pool", Level.WARN, "pool")


@check(
    id="dns_ntp_srv",
    title="SRV _ntp._udp leads to a time server",
    target_kind=TargetKind.DOMAIN,
    severity=Severity.FAIL,
    description="""Lync Phone Edition looks up _ntp._udp.<SIP domain> to find its time server (besides DHCP
    options 4 and 42). A phone whose clock is wrong cannot validate the server certificates and never signs
    in. The record must exist, use port 123 (a warning otherwise), and its target must resolve.""",
    remediation="""Create the SRV record _ntp._udp.<SIP domain> (port 123) pointing to an NTP server host name in
    the same domain, with an A record, for every SIP domain.""",
    fix="_ntp._udp.<domain>. 3600 IN SRV 0 0 123 <time server FQDN>.",
    references=SRV_REFS,
)
async def dns_ntp_srv(ctx: CheckContext, target: Target) -> Outcome:
    return await _judge_srv(ctx, target, NTP_SRV, ctx.options.ports.ntp, "time server", Level.WARN, "time")


@check(
    id="dns_strict_naming",
    title="SRV targets lie inside the SIP domain (strict DNS naming)",
    target_kind=TargetKind.DOMAIN,
    severity=Severity.FAIL,
    description="""Since the 2013 cumulative update (CU7) Lync Phone Edition requires the targets of
    _sipinternaltls._tcp and _ntp._udp to be host names inside the SIP domain: a record for contoso.com that
    points to pool.corp.local is ignored and the phone cannot sign in. Third-party phones are usually
    lenient, so the finding is a warning for them.""",
    remediation="""Create a host (A) record inside the SIP domain for the pool or time server, point the SRV record
    to it, and make sure the pool certificate covers the new name.""",
    fix="_sipinternaltls._tcp.<domain>. 3600 IN SRV 0 0 5061 <host>.<domain>.",
    references=(CU7_STRICT_NAMING,),
)
async def dns_strict_naming(ctx: CheckContext, target: Target) -> Outcome:
    domain = target.name
    level = Level.FAIL if ctx.options.device is Device.LPE else Level.WARN
    f = Findings()
    judged: list[str] = []
    fix = ""
    evidence: dict[str, Any] = {}
    for template, port in ((SIP_SRV, ctx.options.ports.sip_tls), (NTP_SRV, ctx.options.ports.ntp)):
        name = template.format(domain=domain)
        answer = await ctx.fact(DnsQuery(name, "SRV"))
        evidence[name] = [r.target for r in answer.srv]
        for rec in answer.srv:
            if not rec.target:
                continue
            judged.append(rec.target)
            if in_domain(rec.target, domain):
                continue
            first = rec.target.split(".")[0]
            f.add(
                "strict.outside",
                level,
                f"{name} points to {rec.target}, outside {domain}: Lync Phone Edition "
                "(CU7 and later) ignores such a target.",
                record=name,
                target=rec.target,
                domain=domain,
            )
            fix = fix or f"{name}. 3600 IN SRV {rec.priority} {rec.weight} {port} {first}.{domain}."
    if not judged:
        return Outcome(
            f"No SRV target to judge for {domain} (see the SRV checks)", status=Status.SKIP, evidence=evidence
        )
    if f.worst is Level.INFO:
        return f.outcome(f"All {len(judged)} SRV target(s) lie inside {domain}", evidence=evidence)
    return f.outcome(f"SRV target(s) outside {domain}", evidence=evidence, fix=fix)


@hookimpl
def register_checks(register: Callable[[Check], None]) -> None:
    for c in (dns_sipinternaltls_srv, dns_ntp_srv, dns_strict_naming):
        register(c)
