"""NTP checks: every time source a phone may use answers on UDP 123 with a usable time."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lyncready import (
    Check,
    CheckContext,
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
from lyncready.facts import NtpQuery, NtpReply, NtpStatus

from ._common import SEED_ARTICLE, addresses, dns_problem

NTP_REFS = ("RFC 5905", "RFC 2782", SEED_ARTICLE)


async def _replies(ctx: CheckContext, target: Target) -> tuple[list[NtpReply], str]:
    """Every address of the source asked once; the second value says why there is none."""
    answer = await addresses(ctx, target.name)
    if not answer.ok:
        return [], dns_problem(target.name, "A", answer)
    port = target.port or ctx.options.ports.ntp
    replies = await ctx.facts(NtpQuery(a, port) for a in answer.addresses)
    return list(replies), ""


def _reply_evidence(r: NtpReply) -> dict[str, Any]:
    ev: dict[str, Any] = {"status": r.status.value}
    for name in ("stratum", "leap", "version", "mode", "refid", "kod_code", "offset", "delay", "reason"):
        value = getattr(r, name)
        if value not in (None, ""):
            ev[name] = round(value, 6) if isinstance(value, float) else value
    if r.raw:
        ev["raw"] = r.raw
    return ev


@check(
    id="ntp_reachable",
    title="Time sources answer NTP on UDP 123",
    target_kind=TargetKind.NTP,
    severity=Severity.FAIL,
    description="""Every time source a phone may use (the _ntp._udp SRV targets, --ntp-server, DHCP options 4
    and 42) must answer an NTP client request on UDP 123 with a valid reply: server mode, our origin timestamp
    echoed, stratum 1-15, leap indicator not 3, no kiss-o'-death. A refused port (nothing listens) is told
    from a silent one (a firewall drops the packets).""",
    remediation="""Run an NTP service on the time source (Windows: w32time with the NTP server provider enabled;
    Linux: chrony or ntpd with an allow line for the phone VLANs), make sure it is synchronised, and allow
    UDP 123 from the phone VLANs to it.""",
    fix="permit udp <phone VLAN> host <time server> eq 123",
    references=NTP_REFS,
)
async def ntp_reachable(ctx: CheckContext, target: Target) -> Outcome:
    replies, why = await _replies(ctx, target)
    f = Findings()
    if why:
        f.add("ntp.unresolved", Level.FAIL, f"Time source {target.name}: {why}", name=target.name)
        return f.outcome(f"{target.name} does not resolve", evidence={"origins": list(target.origins)})
    good = [r for r in replies if r.status is NtpStatus.OK]
    # when some addresses of the source answer, a phone may still get time, but not reliably
    bad = Level.WARN if good else Level.FAIL
    for r in replies:
        where = f"{r.address}:{r.port}"
        if r.status is NtpStatus.OK:
            f.add(
                "ntp.ok",
                Level.INFO,
                f"{where} answered: stratum {r.stratum}, refid {r.refid}",
                address=r.address,
                stratum=r.stratum,
            )
        elif r.status is NtpStatus.REFUSED:
            f.add("ntp.refused", bad, f"{where}: {r.reason}", address=r.address)
        elif r.status is NtpStatus.TIMEOUT:
            f.add("ntp.silent", bad, f"{where}: {r.reason}", address=r.address)
        elif r.status is NtpStatus.INVALID:
            tag = f"ntp.{r.problems[0]}" if r.problems else "ntp.invalid"
            f.add(
                tag,
                bad,
                f"{where} sent a reply that must not be used: {r.reason}",
                address=r.address,
                problems=list(r.problems),
            )
        else:
            f.add("ntp.error", bad, f"{where}: {r.reason}", address=r.address)
    evidence = {
        "replies": {f"{r.address}:{r.port}": _reply_evidence(r) for r in replies},
        "origins": list(target.origins),
    }
    fix = ""
    blocked = next((r for r in replies if r.status is NtpStatus.TIMEOUT), None)  # silent: a firewall?
    if blocked is not None:
        fix = f"permit udp <phone VLAN> host {blocked.address} eq {blocked.port}"
    if good:
        best = good[0]
        return f.outcome(
            f"{target.label} answers NTP (stratum {best.stratum}) on {len(good)}/{len(replies)} address(es)",
            evidence=evidence,
            fix=fix,
        )
    return f.outcome(f"{target.label} gives no usable NTP answer", evidence=evidence, fix=fix)


@check(
    id="ntp_time_sane",
    title="Time sources give a sane time",
    target_kind=TargetKind.NTP,
    severity=Severity.FAIL,
    description="""A time source that answers must also be right: its offset from this machine's clock is within
    the thresholds (default: warning above 1 s, failure above 60 s), since a phone whose clock is off cannot
    validate certificates. The stratum is reported. (If this machine's own clock is wrong, every source
    will seem off by the same amount.)""",
    remediation="""Synchronise the time source with a reliable upstream (the domain hierarchy, or a stratum 1/2
    server) and check that its clock is not drifting.""",
    references=NTP_REFS,
)
async def ntp_time_sane(ctx: CheckContext, target: Target) -> Outcome:
    replies, why = await _replies(ctx, target)
    good = [r for r in replies if r.status is NtpStatus.OK and r.offset is not None]
    if not good:
        reason = why or "no valid NTP reply (see ntp_reachable)"
        return Outcome(f"Not judged: {reason}", status=Status.SKIP)
    th = ctx.options.thresholds
    f = Findings()
    for r in good:
        assert r.offset is not None
        where = f"{r.address}:{r.port}"
        off = abs(r.offset)
        args = {"address": r.address, "offset": round(r.offset, 6), "stratum": r.stratum}
        if off > th.ntp_offset_fail:
            f.add(
                "ntp.offset_huge",
                Level.FAIL,
                f"{where} is {r.offset:+.3f} s off (limit {th.ntp_offset_fail:g} s)",
                **args,
            )
        elif off > th.ntp_offset_warn:
            f.add(
                "ntp.offset_large",
                Level.WARN,
                f"{where} is {r.offset:+.3f} s off (limit {th.ntp_offset_warn:g} s)",
                **args,
            )
        else:
            f.add("ntp.offset_ok", Level.INFO, f"{where}: offset {r.offset:+.3f} s, stratum {r.stratum}", **args)
    worst_off = max(good, key=lambda r: abs(r.offset or 0.0))
    return f.outcome(
        f"{target.label}: offset {worst_off.offset:+.3f} s, stratum {worst_off.stratum}",
        evidence={
            "offsets": {r.address: round(r.offset or 0.0, 6) for r in good},
            "strata": {r.address: r.stratum for r in good},
            "thresholds": {"warn": th.ntp_offset_warn, "fail": th.ntp_offset_fail},
        },
    )


@hookimpl
def register_checks(register: Callable[[Check], None]) -> None:
    register(ntp_reachable)
    register(ntp_time_sane)
