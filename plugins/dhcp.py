"""DHCP checks: what a phone on the VLAN receives when it asks as MS-UC-Client, decoded and judged.

The DHCP layer starts the chain: option 43 names the web services (Certificate Provisioning URL),
option 120 the Registrar, options 4 and 42 the time servers. The target sources below feed those
names to the web, TLS and NTP checks, so one run follows the phone from its first packet.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lyncready import (
    Check,
    CheckContext,
    Device,
    Discovery,
    Findings,
    Level,
    Outcome,
    Severity,
    Status,
    Target,
    TargetKind,
    TargetSource,
    check,
    hookimpl,
    target_source,
)
from lyncready.codecs.base import Decoded
from lyncready.codecs.dhcp import decode_option
from lyncready.facts import Addresses, DhcpProbe, DhcpReplies, DhcpReply, DhcpStatus, DnsQuery

from ._common import NTP_SRV, SEED_ARTICLE, SIP_SRV, dns_problem, in_domain

DHCP_REFS = ("RFC 2131", "RFC 2132", SEED_ARTICLE)
MESSAGE_TYPES = {2: "OFFER", 5: "ACK", 6: "NAK"}
LEVELS = {"info": Level.INFO, "warning": Level.WARN, "error": Level.FAIL}


# --- asking ------------------------------------------------------------------------------------------------


def probe_key(
    ctx: CheckContext, interface: str, *, mode: str | None = None, vendor_class: str | None = "MS-UC-Client"
) -> DhcpProbe:
    d = ctx.options.dhcp
    return DhcpProbe(
        interface=interface,
        mode=mode or d.mode,
        server=d.server,
        giaddr=d.giaddr,
        vendor_class=vendor_class,
        window=d.window,
        netns=d.netns,
    )


async def phone_replies(ctx: CheckContext, interface: str) -> tuple[DhcpReplies, str]:
    """What a phone gets: INFORM first; when nothing answers it, DISCOVER (no lease is taken).

    Returns the replies and the mode that got them ("inform" or "discover").
    """
    key = probe_key(ctx, interface)
    replies = await ctx.fact(key)
    if replies.status is DhcpStatus.NO_ANSWER and key.mode == "inform":
        fallback = await ctx.fact(probe_key(ctx, interface, mode="discover"))
        if fallback.status is DhcpStatus.OK:
            return fallback, "discover"
    return replies, key.mode


def _answering(replies: DhcpReplies) -> list[DhcpReply]:
    return [r for r in replies.replies if r.message_type in (2, 5)]


def _server(r: DhcpReply) -> str:
    return r.server_id or r.source


def _not_judged(replies: DhcpReplies) -> Outcome | None:
    if replies.status is DhcpStatus.OK and _answering(replies):
        return None
    if replies.status in (DhcpStatus.NO_PRIVILEGE, DhcpStatus.ERROR):
        return Outcome(f"DHCP probe could not run: {replies.reason}", status=Status.ERROR)
    return Outcome("Not judged: no DHCP server answered (see dhcp_server_response)", status=Status.SKIP)


async def _scope(
    ctx: CheckContext, target: Target, codes: tuple[int, ...]
) -> tuple[list[DhcpReply], dict[str, Any], str] | Outcome:
    """The answering replies, their evidence and the probe mode; or the outcome when nothing can be judged."""
    replies, mode = await phone_replies(ctx, target.name)
    early = _not_judged(replies)
    if early is not None:
        return early
    answers = _answering(replies)
    return answers, {"replies": [_reply_evidence(r, codes) for r in answers]}, mode


def _decode_into(
    ctx: CheckContext, f: Findings, evidence: dict[str, Any], r: DhcpReply, code: int, data: bytes
) -> Decoded:
    """Decode one option of one reply, keep the decoding as evidence and its diagnostics as findings."""
    decoded = decode_option(code, data, device=ctx.options.device.value)
    evidence.setdefault("decoded", {})[_server(r)] = decoded.to_json()
    _add_diagnostics(f, decoded, _server(r), code)
    return decoded


def _add_diagnostics(f: Findings, decoded: Decoded, server: str, option: int) -> None:
    for d in decoded.diagnostics:
        # most codec messages already name the option ("option 120: the label at byte 11..."): say it once
        named = d.message.lower().startswith(f"option {option}")
        message = d.message if named else f"option {option}: {d.message}"
        f.add(d.tag, LEVELS.get(d.level, Level.WARN), f"{server}: {message}", server=server)


def _reply_evidence(r: DhcpReply, codes: tuple[int, ...]) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "server": _server(r),
        "source": r.source,
        "type": MESSAGE_TYPES.get(r.message_type, "?"),
        "elapsed_ms": round(r.elapsed * 1000, 1),
    }
    for code in codes:
        data = r.option(code)
        if data is not None:
            ev[f"option_{code}"] = data.hex()
    return ev


# --- checks ------------------------------------------------------------------------------------------------


@check(
    id="dhcp_server_response",
    title="A DHCP server answers the phone's MS-UC-Client request",
    target_kind=TargetKind.DHCP,
    severity=Severity.FAIL,
    description="""A Lync phone sends DHCPINFORM with vendor class MS-UC-Client, asking for options 120 and 43. A
    server must answer it (some ignore INFORM: then a DISCOVER, never followed by REQUEST, shows whether the
    scope would give the options at lease time). Several answering servers are reported: a rogue DHCP server
    hands phones the wrong options.""",
    remediation="""Make sure the phone VLAN's DHCP server (or its relay, ip helper-address) reaches it and that it
    answers DHCPINFORM; remove any rogue DHCP server from the VLAN.""",
    fix="ip helper-address <DHCP server>",
    references=DHCP_REFS,
)
async def dhcp_server_response(ctx: CheckContext, target: Target) -> Outcome:
    replies, mode = await phone_replies(ctx, target.name)
    f = Findings()
    if replies.status in (DhcpStatus.NO_PRIVILEGE, DhcpStatus.ERROR):
        return Outcome(f"DHCP probe could not run: {replies.reason}", status=Status.ERROR)
    evidence: dict[str, Any] = {
        "mode": mode,
        "xid": f"{replies.xid:08x}",
        "mac": replies.mac,
        "request": replies.request.hex(),
        "replies": [_reply_evidence(r, (53, 54)) for r in replies.replies],
    }
    if replies.status is DhcpStatus.NO_ANSWER or not replies.replies:
        f.add(
            "dhcp.no_answer",
            Level.FAIL,
            f"No DHCP server answered on {target.name}: {replies.reason}",
            interface=target.name,
        )
        return f.outcome(f"No DHCP answer on {target.name}", evidence=evidence, fix="ip helper-address <DHCP server>")
    if mode == "discover" and ctx.options.dhcp.mode == "inform":
        f.add(
            "dhcp.inform_ignored",
            Level.WARN,
            "No server answered DHCPINFORM; a DISCOVER got an OFFER. Phones "
            "that already hold a lease ask with INFORM and get no 43/120 this way.",
            interface=target.name,
        )
    naks = [r for r in replies.replies if r.message_type == 6]
    for r in naks:
        f.add("dhcp.nak", Level.FAIL, f"{_server(r)} answered with DHCPNAK", server=_server(r))
    good = _answering(replies)
    servers = sorted({_server(r) for r in good})
    for r in good:
        f.add(
            "dhcp.answer",
            Level.INFO,
            f"{_server(r)} answered with DHCP{MESSAGE_TYPES[r.message_type]} in {r.elapsed * 1000:.0f} ms",
            server=_server(r),
            elapsed=round(r.elapsed, 4),
        )
    if len(servers) > 1:
        f.add(
            "dhcp.several_servers",
            Level.WARN,
            f"{len(servers)} DHCP servers answered ({', '.join(servers)}): a "
            "rogue or misconfigured server may hand phones different options",
            servers=servers,
        )
    if not good:
        return f.outcome(f"Only DHCPNAK on {target.name}", evidence=evidence)
    return f.outcome(f"{', '.join(servers)} answered the {mode.upper()} on {target.name}", evidence=evidence)


@check(
    id="dhcp_option_120",
    title="DHCP option 120 names the Registrar (SIP server)",
    target_kind=TargetKind.DHCP,
    severity=Severity.FAIL,
    description="""Option 120 (RFC 3361) must be present, use encoding 0 (DNS names; Lync Phone Edition does not
    accept encoding 1, IPv4 addresses), be well formed, and name a Registrar pool FQDN that resolves and is a
    _sipinternaltls._tcp target of the SIP domain.""",
    remediation="""Set option 120 with encoding 0 and the Registrar pool FQDN (DHCPUtil -SipServer <pool FQDN>
    prints the exact hex); in dnsmasq: dhcp-option=120,<pool FQDN>.""",
    fix="lyncready dhcp config --sip-server <pool FQDN> --format <your DHCP server>",
    references=("RFC 3361", *DHCP_REFS),
)
async def dhcp_option_120(ctx: CheckContext, target: Target) -> Outcome:
    scope = await _scope(ctx, target, (120,))
    if isinstance(scope, Outcome):
        return scope
    answers, evidence, _mode = scope
    f = Findings()
    names: list[str] = []
    for r in answers:
        data = r.option(120)
        if data is None:
            f.add(
                "o120.missing",
                Level.FAIL,
                f"{_server(r)} sends no option 120: phones cannot find the Registrar through DHCP",
                server=_server(r),
            )
            continue
        decoded = _decode_into(ctx, f, evidence, r, 120, data)
        for n in decoded.value.get("names", []) or []:
            if n not in names:
                names.append(n)
    registrars = await _srv_targets(ctx, SIP_SRV) | set(ctx.options.expected_registrars)
    resolved = await ctx.facts(Addresses(n) for n in names)
    for name, answer in zip(names, resolved, strict=True):
        if not answer.ok:
            f.add(
                "o120.unresolved",
                Level.FAIL,
                f"Option 120 names {name}, but {dns_problem(name, 'A', answer)}",
                name=name,
            )
        if registrars and name not in registrars:
            f.add(
                "o120.not_registrar",
                Level.WARN,
                f"Option 120 names {name}, which is neither a _sipinternaltls._tcp target nor an expected "
                f"Registrar ({', '.join(sorted(registrars))})",
                name=name,
                registrars=sorted(registrars),
            )
        elif name in registrars:
            f.add(
                "o120.matches_srv", Level.INFO, f"Option 120 names {name}, the _sipinternaltls._tcp target", name=name
            )
    evidence["names"] = names
    if f.worst is Level.INFO:
        return f.outcome(f"Option 120 names {', '.join(names)}", evidence=evidence)
    fix = (
        f"lyncready dhcp config --sip-server {sorted(registrars)[0]} --format <your DHCP server>" if registrars else ""
    )
    return f.outcome("Option 120 is missing or wrong", evidence=evidence, fix=fix)


@check(
    id="dhcp_option_43",
    title="DHCP option 43 carries the MS-UC-Client Certificate Provisioning URL",
    target_kind=TargetKind.DHCP,
    severity=Severity.FAIL,
    description="""For vendor class MS-UC-Client, option 43 must carry sub-options 1-5 (UC identifier
    MS-UC-Client, scheme https, web server FQDN, port, /CertProv/CertProvisioningService.svc) from which the phone
    builds its Certificate Provisioning URL. The web FQDN must resolve. The option must not be sent to clients
    without that vendor class: other devices read option 43 for their own provisioning.""",
    remediation="""Define the MSUCClient vendor class (data MS-UC-Client) and its option 43 sub-options (DHCPUtil
    -WebServer <FQDN> prints them), at server or scope level, only for that vendor class. On Cisco IOS use the
    long option form when the value exceeds 180 hex characters.""",
    fix="lyncready dhcp config --sip-server <pool FQDN> --web-server <web FQDN> --format <your DHCP server>",
    references=DHCP_REFS,
)
async def dhcp_option_43(ctx: CheckContext, target: Target) -> Outcome:
    scope = await _scope(ctx, target, (43, 60))
    if isinstance(scope, Outcome):
        return scope
    answers, evidence, mode = scope
    f = Findings()
    fqdns: list[str] = []
    for r in answers:
        data = r.option(43)
        if data is None:
            f.add(
                "o43.missing",
                Level.FAIL,
                f"{_server(r)} sends no option 43 to MS-UC-Client: phones cannot build "
                "the Certificate Provisioning URL",
                server=_server(r),
            )
            continue
        decoded = _decode_into(ctx, f, evidence, r, 43, data)
        fqdn = web_fqdn_of(decoded)
        if fqdn and fqdn not in fqdns:
            fqdns.append(fqdn)
        url = decoded.value.get("url")
        if url:
            f.add(
                "o43.url", Level.INFO, f"{_server(r)}: Certificate Provisioning URL {url}", server=_server(r), url=url
            )
    for fqdn, answer in zip(fqdns, await ctx.facts(Addresses(n) for n in fqdns), strict=True):
        if not answer.ok:
            f.add(
                "o43.unresolved",
                Level.FAIL,
                f"The option 43 web FQDN {fqdn}: {dns_problem(fqdn, 'A', answer)}",
                name=fqdn,
            )
    # the same request without option 60 must not get MS-UC-Client data
    plain = await ctx.fact(probe_key(ctx, target.name, mode=mode, vendor_class=None))
    for r in _answering(plain):
        data = r.option(43)
        if data is not None and b"MS-UC-Client" in data:
            f.add(
                "o43.sent_without_vendor_class",
                Level.FAIL,
                f"{_server(r)} sends the MS-UC-Client option 43 to a "
                "client without vendor class MS-UC-Client: define it under the vendor class, not as a standard "
                "option",
                server=_server(r),
            )
    evidence["without_option_60"] = [_reply_evidence(r, (43,)) for r in _answering(plain)]
    evidence["web_fqdns"] = fqdns
    if f.worst is Level.INFO:
        return f.outcome(f"Option 43 gives web FQDN {', '.join(fqdns)}", evidence=evidence)
    return f.outcome(
        "Option 43 is missing or wrong",
        evidence=evidence,
        fix="lyncready dhcp config --sip-server <pool FQDN> --web-server <web FQDN> --format <server type>",
    )


@check(
    id="dhcp_option_119",
    title="DHCP option 119 is an RFC 3397 search list with the SIP domain",
    target_kind=TargetKind.DHCP,
    severity=Severity.WARN,
    description="""Phones on a VLAN without NetBIOS reach, with users who tether with DOMAIN\\user names, need the
    DNS search list of option 119 in RFC 3397 wire format. Windows admins often define 119 as a String, which puts
    ASCII text on the wire that no phone can read. A warning, since only some sites need it.""",
    remediation="""Define option 119 as a byte array holding the RFC 3397 encoding of the search list (lyncready
    dhcp config --search-list prints it), listing the SIP domain.""",
    fix="lyncready dhcp config --sip-server <pool FQDN> --search-list <domains> --format <your DHCP server>",
    references=("RFC 3397", *DHCP_REFS),
)
async def dhcp_option_119(ctx: CheckContext, target: Target) -> Outcome:
    scope = await _scope(ctx, target, (119,))
    if isinstance(scope, Outcome):
        return scope
    answers, evidence, _mode = scope
    f = Findings()
    for r in answers:
        data = r.option(119)
        if data is None:
            f.add("o119.missing", Level.WARN, f"{_server(r)} sends no option 119 (DNS search list)", server=_server(r))
            continue
        decoded = _decode_into(ctx, f, evidence, r, 119, data)
        names = decoded.value.get("names", []) or []
        if decoded.value.get("form") == "rfc3397":
            for domain in ctx.options.domains:
                if not any(in_domain(domain, n) or n == domain for n in names):
                    f.add(
                        "o119.domain_missing",
                        Level.WARN,
                        f"{_server(r)}: the search list ({', '.join(names)}) does not list the SIP domain {domain}",
                        server=_server(r),
                        domain=domain,
                    )
    domains = ",".join(ctx.options.domains) or "<SIP domain>"
    if f.worst is Level.INFO:
        return f.outcome("Option 119 is a valid search list", evidence=evidence)
    return f.outcome(
        "Option 119 is missing or unusable",
        evidence=evidence,
        fix=f"lyncready dhcp config --sip-server <pool FQDN> --search-list {domains} --format <server type>",
    )


@check(
    id="dhcp_time_servers",
    title="DHCP options 4 and 42 give the phones time servers",
    target_kind=TargetKind.DHCP,
    severity=Severity.FAIL,
    description="""A phone must set its clock before TLS works. Options 42 (NTP servers) and 4 (time servers) are
    one of its time sources, with the _ntp._udp SRV record. Each address given is then checked by ntp_reachable
    and ntp_time_sane. Missing both options fails only when no _ntp._udp record exists either.""",
    remediation="""Set option 42 (and option 4, which Lync Phone Edition also reads) to the NTP servers of the phone
    VLAN.""",
    fix="option 42 ip <NTP server>",
    references=("RFC 2132", *DHCP_REFS),
)
async def dhcp_time_servers(ctx: CheckContext, target: Target) -> Outcome:
    scope = await _scope(ctx, target, (4, 42))
    if isinstance(scope, Outcome):
        return scope
    answers, evidence, _mode = scope
    f = Findings()
    have_srv = bool(await _srv_targets(ctx, NTP_SRV))
    missing_level = Level.WARN if have_srv else Level.FAIL
    for r in answers:
        found = False
        for code in (42, 4):
            data = r.option(code)
            if data is None:
                continue
            decoded = decode_option(code, data)
            _add_diagnostics(f, decoded, _server(r), code)
            addrs = decoded.value.get("addresses", []) or []
            if addrs:
                found = True
                f.add(
                    f"o{code}.present",
                    Level.INFO,
                    f"{_server(r)}: option {code} gives {', '.join(addrs)}",
                    server=_server(r),
                    addresses=addrs,
                )
        if not found:
            why = "; the _ntp._udp SRV record remains" if have_srv else " and no _ntp._udp SRV record exists"
            f.add(
                "time.missing",
                missing_level,
                f"{_server(r)} sends neither option 42 nor option 4{why}",
                server=_server(r),
            )
    given = any(fd.tag in ("o42.present", "o4.present") for fd in f.findings)
    if f.worst is Level.INFO:
        return f.outcome("Time servers given by DHCP (checked by ntp_reachable)", evidence=evidence)
    if given:
        return f.outcome("DHCP gives time servers, with problems", evidence=evidence, fix="option 42 ip <NTP server>")
    return f.outcome("No time server in DHCP", evidence=evidence, fix="option 42 ip <NTP server>")


# --- targets fed to the other layers ----------------------------------------------------------------------


def web_fqdn_of(decoded: Decoded) -> str | None:
    for sub in decoded.value.get("suboptions", []) or []:
        if sub.get("code") == 3:
            text = str(sub.get("text", "")).strip().rstrip(".").lower()
            if text and all(c.isalnum() or c in "-." for c in text):
                return text
    return None


async def _srv_targets(ctx: CheckContext, template: str) -> set[str]:
    answers = await ctx.facts(DnsQuery(template.format(domain=d), "SRV") for d in ctx.options.domains)
    return {rec.target for a in answers for rec in a.srv if rec.target}


async def _dhcp_answers(ctx: CheckContext) -> list[DhcpReply]:
    interface = ctx.options.dhcp.interface
    if not interface:
        return []
    replies, _mode = await phone_replies(ctx, interface)
    return _answering(replies)


@target_source(TargetKind.DHCP, "--interface")
async def dhcp_interface(ctx: CheckContext) -> Discovery:
    interface = ctx.options.dhcp.interface
    if not interface:
        return Discovery(notes=("no DHCP probe: give --interface to audit what phones receive",))
    return Discovery((Target(TargetKind.DHCP, interface, origins=("--interface",), domains=ctx.options.domains),))


@target_source(TargetKind.WEB, "DHCP option 43")
async def web_from_option_43(ctx: CheckContext) -> Discovery:
    targets = []
    for r in await _dhcp_answers(ctx):
        data = r.option(43)
        fqdn = web_fqdn_of(decode_option(43, data)) if data is not None else None
        if fqdn:
            targets.append(
                Target(
                    TargetKind.WEB, fqdn, origins=(f"DHCP option 43 from {_server(r)}",), domains=ctx.options.domains
                )
            )
    return Discovery(tuple(targets))


@target_source(TargetKind.NTP, "DHCP options 42 and 4")
async def ntp_from_dhcp(ctx: CheckContext) -> Discovery:
    targets = []
    for r in await _dhcp_answers(ctx):
        for code in (42, 4):
            data = r.option(code)
            if data is None:
                continue
            for addr in decode_option(code, data).value.get("addresses", []) or []:
                targets.append(
                    Target(
                        TargetKind.NTP,
                        addr,
                        ctx.options.ports.ntp,
                        origins=(f"DHCP option {code} from {_server(r)}",),
                        domains=ctx.options.domains,
                    )
                )
    return Discovery(tuple(targets))


async def registrars_from_option_120(ctx: CheckContext) -> list[str]:
    """The Registrar FQDNs option 120 gives (the TLS names check wants the certificate to cover them)."""
    out: list[str] = []
    for r in await _dhcp_answers(ctx):
        data = r.option(120)
        if data is not None:
            for n in decode_option(120, data, device=Device.TPIP.value).value.get("names", []) or []:
                if n not in out:
                    out.append(n)
    return out


@hookimpl
def register_checks(register: Callable[[Check], None]) -> None:
    for c in (dhcp_server_response, dhcp_option_120, dhcp_option_43, dhcp_option_119, dhcp_time_servers):
        register(c)


@hookimpl
def register_target_sources(register: Callable[[TargetSource], None]) -> None:
    for s in (dhcp_interface, web_from_option_43, ntp_from_dhcp):
        register(s)
