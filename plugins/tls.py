"""TLS checks on the web services: certificate names, chain, expiry, and protocol versions by phone family."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass
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
from lyncready.facts import Addresses, ConnStatus, TlsHandshake, TlsQuery, TlsVersionQuery, TlsVersionResult

from ._common import SEED_ARTICLE, addresses, dns_problem, registrars
from .dhcp import registrars_from_option_120

SAN_EVIDENCE = 20  # SANs listed in the evidence; the count says how many there are
TLS_VERSIONS = ("TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")
PRETTY = {"TLSv1": "TLS 1.0", "TLSv1.1": "TLS 1.1", "TLSv1.2": "TLS 1.2", "TLSv1.3": "TLS 1.3"}


# --- certificate reading (cryptography) ------------------------------------------------------------


@dataclass(frozen=True)
class CertInfo:
    subject: str
    issuer: str
    common_names: tuple[str, ...]
    dns_names: tuple[str, ...]
    not_before: dt.datetime
    not_after: dt.datetime
    is_ca: bool
    self_signed: bool
    serial: str
    error: str = ""


@functools.lru_cache(maxsize=1024)  # one parse per distinct certificate: N web FQDNs often share one
def read_cert(der: bytes) -> CertInfo:
    from cryptography import x509
    from cryptography.x509.oid import ExtensionOID, NameOID

    try:
        cert = x509.load_der_x509_certificate(der)
        try:
            san = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
            dns_names = tuple(str(n).lower() for n in san.get_values_for_type(x509.DNSName))  # type: ignore[attr-defined]
        except x509.ExtensionNotFound:
            dns_names = ()
        try:
            bc = cert.extensions.get_extension_for_oid(ExtensionOID.BASIC_CONSTRAINTS).value
            is_ca = bool(bc.ca)  # type: ignore[attr-defined]
        except x509.ExtensionNotFound:
            is_ca = False
        cns = tuple(str(a.value).lower() for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME))
        return CertInfo(
            subject=cert.subject.rfc4514_string(),
            issuer=cert.issuer.rfc4514_string(),
            common_names=cns,
            dns_names=dns_names,
            not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc,
            is_ca=is_ca,
            self_signed=cert.subject == cert.issuer,
            serial=f"{cert.serial_number:x}",
        )
    except Exception as exc:  # a certificate we cannot parse is a finding, not a crash
        epoch = dt.datetime.fromtimestamp(0, dt.UTC)
        return CertInfo("?", "?", (), (), epoch, epoch, False, False, "", error=f"unparseable certificate: {exc}")


def name_matches(pattern: str, name: str) -> tuple[bool, bool]:
    """RFC 6125 matching: (matches, through a wildcard). Only a whole left-most '*' label is a wildcard."""
    pattern, name = pattern.lower().rstrip("."), name.lower().rstrip(".")
    if pattern == name:
        return True, False
    if pattern.startswith("*.") and "*" not in pattern[2:]:
        base = pattern[2:]
        if base.count(".") >= 1 and "." in name:
            head, rest = name.split(".", 1)
            matched = bool(head) and rest == base
            return matched, matched
    return False, False


def _san_text(info: CertInfo) -> str:
    names = ", ".join(info.dns_names[:SAN_EVIDENCE]) or "none"
    more = len(info.dns_names) - SAN_EVIDENCE
    return names + (f" and {more} more" if more > 0 else "")


def covers(info: CertInfo, name: str) -> tuple[bool, str]:
    """Does the certificate cover name? Returns (covered, how)."""
    for pattern in info.dns_names:
        ok, wild = name_matches(pattern, name)
        if ok:
            return True, f"SAN {pattern}" + (" (wildcard)" if wild else "")
    if not info.dns_names:
        for cn in info.common_names:
            if name_matches(cn, name)[0]:
                return True, f"subject CN {cn} (no SAN extension)"
    return False, ""


async def _handshakes(ctx: CheckContext, target: Target) -> tuple[list[TlsHandshake], str]:
    answer = await addresses(ctx, target.name)
    if not answer.ok:
        return [], dns_problem(target.name, "A", answer)
    port = ctx.options.ports.https
    hs = await ctx.facts(TlsQuery(a, port, target.name) for a in answer.addresses)
    return list(hs), ""


def _not_judged(target: Target, why: str, handshakes: list[TlsHandshake]) -> Outcome | None:
    """An error outcome when no handshake succeeded (https_web_services reports the connection itself)."""
    if why:
        return Outcome(f"Not judged: {why}", status=Status.ERROR)
    if any(h.status is ConnStatus.OK and h.chain for h in handshakes):
        return None
    reasons = "; ".join(f"{h.address}:{h.port}: {h.reason}" for h in handshakes) or "no address"
    return Outcome(
        f"No TLS handshake with {target.name}: {reasons}",
        status=Status.ERROR,
        evidence={
            "handshakes": [{"address": h.address, "status": h.status.value, "reason": h.reason} for h in handshakes]
        },
    )


async def _served_here(
    ctx: CheckContext, target: Target, handshakes: list[TlsHandshake], pools: list[str]
) -> list[str]:
    """The Registrar pools that resolve to an address of this web target: the same servers (or load balancer)
    present the same certificate, so it must cover them too. A pool elsewhere has its own certificate."""
    here = {h.address for h in handshakes}
    answers = await ctx.facts(Addresses(p) for p in pools)
    return [p for p, a in zip(pools, answers, strict=True) if here & set(a.addresses)]


def _leaf_evidence(h: TlsHandshake, info: CertInfo) -> dict[str, Any]:
    return {
        "address": h.address,
        "port": h.port,
        "sni": h.sni,
        "subject": info.subject,
        "issuer": info.issuer,
        "san": list(info.dns_names[:SAN_EVIDENCE]),
        "san_count": len(info.dns_names),
        "not_before": info.not_before.isoformat(),
        "not_after": info.not_after.isoformat(),
        "serial": info.serial,
        "version": h.version,
        "cipher": h.cipher,
        "chain_length": len(h.chain),
    }


# --- checks --------------------------------------------------------------------------------------------------


@check(
    id="tls_certificate_names",
    title="The web services certificate covers the web and Registrar FQDNs",
    target_kind=TargetKind.WEB,
    severity=Severity.FAIL,
    description="""The certificate the web services present must name the web FQDN the phone connects to and the
    Registrar pool FQDN (the _sipinternaltls target), in its Subject Alternative Names. Wildcards match one
    left-most label only (RFC 6125); Lync Phone Edition does not accept a wildcard for the pool FQDN.""",
    remediation="""Request a new certificate for the Front End pool (Lync Deployment Wizard, or Request-CsCertificate)
    whose SAN list includes the pool FQDN and the internal web services FQDN, and assign it to the Default and
    WebServicesInternal uses.""",
    fix="Request-CsCertificate -New -Type Default,WebServicesInternal -CA <CA> -DomainName <names> -AllSipDomain",
    references=("RFC 6125", "RFC 5280", SEED_ARTICLE),
)
async def tls_certificate_names(ctx: CheckContext, target: Target) -> Outcome:
    handshakes, why = await _handshakes(ctx, target)
    early = _not_judged(target, why, handshakes)
    if early is not None:
        return early
    pools = await registrars(ctx, target.domains) if target.domains else []
    pools += [p for p in await registrars_from_option_120(ctx) if p not in pools]  # what DHCP tells phones
    pools = await _served_here(ctx, target, handshakes, [p for p in pools if p != target.name])
    required = [target.name, *pools]
    f = Findings()
    leaves = []
    missing: set[str] = set()
    for h in handshakes:
        if not h.chain:
            continue
        info = read_cert(h.chain[0])
        leaves.append(_leaf_evidence(h, info))
        if info.error:
            f.add("cert.unparseable", Level.FAIL, f"{h.address}: {info.error}", address=h.address)
            continue
        if not info.dns_names:
            f.add(
                "cert.no_san",
                Level.WARN,
                f"{h.address}: the certificate has no Subject Alternative Name "
                "extension; names are taken from the subject CN, which current clients ignore.",
                address=h.address,
            )
        for name in required:
            ok, how = covers(info, name)
            role = "web FQDN" if name == target.name else "Registrar pool FQDN"
            if not ok:
                missing.add(name)
                f.add(
                    "cert.name_missing",
                    Level.FAIL,
                    f"{h.address}: the certificate does not cover the {role} {name} (SAN: {_san_text(info)})",
                    name=name,
                    address=h.address,
                )
            elif "wildcard" in how and name != target.name and ctx.options.device is Device.LPE:
                f.add(
                    "cert.pool_wildcard",
                    Level.WARN,
                    f"{h.address}: the {role} {name} is covered only by {how}; "
                    "Lync Phone Edition needs the pool FQDN itself in the SAN list.",
                    name=name,
                    address=h.address,
                )
            else:
                f.add(
                    "cert.name_ok",
                    Level.INFO,
                    f"{h.address}: {role} {name} covered by {how}",
                    name=name,
                    address=h.address,
                )
    evidence = {"required_names": required, "leaves": leaves}
    if f.worst is Level.INFO:
        return f.outcome(f"Certificate covers {', '.join(required)}", evidence=evidence)
    fix = ""
    if missing:
        names = ",".join(sorted(set(required)))
        fix = (
            f'Request-CsCertificate -New -Type Default,WebServicesInternal -CA <CA> -DomainName "{names}" -AllSipDomain'
        )
    return f.outcome(
        f"Certificate does not cover {', '.join(sorted(missing)) or 'the names as phones need'}",
        evidence=evidence,
        fix=fix,
    )


UNTRUSTED_CODES = {2, 18, 19, 20, 21}  # unable to get issuer, self-signed, untrusted chain, unable to verify leaf
TIME_CODES = {9: "not yet valid", 10: "expired"}


@check(
    id="tls_certificate_chain",
    title="The web services certificate chains to the trusted root",
    target_kind=TargetKind.WEB,
    severity=Severity.FAIL,
    description="""The phone downloads the root chain over HTTP, then expects the server's certificate to chain to
    it. The chain presented on 443 is verified against the trust anchors given (--ca-bundle, else the system
    store); a failure says whether the server omits an intermediate certificate or the root is unknown.""",
    remediation="""Install the full chain (server certificate plus intermediate CA certificates) on the web services
    and load balancer, and make sure the issuing root CA is the one published to the phones.""",
    references=("RFC 5280", SEED_ARTICLE),
)
async def tls_certificate_chain(ctx: CheckContext, target: Target) -> Outcome:
    handshakes, why = await _handshakes(ctx, target)
    early = _not_judged(target, why, handshakes)
    if early is not None:
        return early
    f = Findings()
    chains: list[dict[str, Any]] = []
    fix = ""
    for h in handshakes:
        if not h.chain:
            continue
        infos = [read_cert(der) for der in h.chain]
        chains.append(
            {
                "address": h.address,
                "trust": h.trust_source,
                "verified": h.verified,
                "verify_code": h.verify_code,
                "verify_message": h.verify_message,
                "presented": [{"subject": i.subject, "issuer": i.issuer, "ca": i.is_ca} for i in infos],
            }
        )
        last = infos[-1]
        if h.verified:
            f.add(
                "chain.ok",
                Level.INFO,
                f"{h.address}: chain of {len(infos)} certificate(s) verifies against {h.trust_source}",
                address=h.address,
            )
        elif h.verify_code in TIME_CODES:
            f.add(
                "chain.ok_but_time",
                Level.INFO,
                f"{h.address}: the chain builds to a trusted root, but a certificate "
                f"is {TIME_CODES[h.verify_code]} (see tls_certificate_expiry)",
                address=h.address,
            )
        elif h.verify_code in UNTRUSTED_CODES:
            if last.self_signed:
                f.add(
                    "chain.unknown_root",
                    Level.FAIL,
                    f"{h.address}: the chain ends in the root '{last.subject}', "
                    f"which {h.trust_source} does not trust ({h.verify_message})",
                    address=h.address,
                    root=last.subject,
                )
                fix = (
                    fix or "Publish the issuing root CA to the phones (and to --ca-bundle), or reissue the certificate"
                )
            elif not last.is_ca:
                f.add(
                    "chain.missing_intermediate",
                    Level.FAIL,
                    f"{h.address}: the server sends only its own "
                    f"certificate; its issuer '{last.issuer}' is neither sent nor a trusted anchor: the server "
                    f"omits the intermediate CA certificate ({h.verify_message})",
                    address=h.address,
                    issuer=last.issuer,
                )
                fix = fix or f"Install the intermediate CA certificate '{last.issuer}' with the server certificate"
            else:
                f.add(
                    "chain.unknown_root",
                    Level.FAIL,
                    f"{h.address}: the last certificate sent, '{last.subject}', "
                    f"is issued by '{last.issuer}', which {h.trust_source} does not hold: an unknown or "
                    f"untrusted root ({h.verify_message})",
                    address=h.address,
                    root=last.issuer,
                )
                fix = (
                    fix or "Publish the issuing root CA to the phones (and to --ca-bundle), or reissue the certificate"
                )
        else:
            f.add(
                "chain.invalid",
                Level.FAIL,
                f"{h.address}: verification failed: {h.verify_message} (code {h.verify_code})",
                address=h.address,
                code=h.verify_code,
            )
    evidence = {"chains": chains}
    if f.worst is Level.INFO:
        return f.outcome(f"Chain verifies against {handshakes[0].trust_source}", evidence=evidence)
    return f.outcome("Certificate chain does not verify as phones need", evidence=evidence, fix=fix)


@check(
    id="tls_certificate_expiry",
    title="The web services certificates are within their validity period",
    target_kind=TargetKind.WEB,
    severity=Severity.FAIL,
    description="""Every certificate the server presents (its own and the intermediates) must be valid now: the check
    fails when one has expired or is not yet valid, and warns when one expires within the warning period
    (default 30 days).""",
    remediation="""Renew the certificate (and the intermediate, if it is the one expiring) before it expires and
    assign it to the web services on every pool member and load balancer.""",
    references=("RFC 5280",),
)
async def tls_certificate_expiry(ctx: CheckContext, target: Target) -> Outcome:
    handshakes, why = await _handshakes(ctx, target)
    early = _not_judged(target, why, handshakes)
    if early is not None:
        return early
    now = dt.datetime.now(dt.UTC)
    warn_days = ctx.options.thresholds.cert_expiry_warn_days
    f = Findings()
    seen: dict[str, dict[str, Any]] = {}
    soonest: dt.datetime | None = None
    for h in handshakes:
        for position, der in enumerate(h.chain):
            info = read_cert(der)
            if info.error:
                continue
            role = "server certificate" if position == 0 else "intermediate certificate"
            key = f"{info.subject}#{info.serial}"
            if key in seen:
                continue
            days = (info.not_after - now).total_seconds() / 86400
            seen[key] = {
                "subject": info.subject,
                "role": role,
                "not_before": info.not_before.isoformat(),
                "not_after": info.not_after.isoformat(),
                "days_left": round(days, 1),
            }
            soonest = info.not_after if soonest is None else min(soonest, info.not_after)
            args = {"subject": info.subject, "not_after": info.not_after.isoformat(), "address": h.address}
            if info.not_after <= now:
                f.add(
                    "cert.expired",
                    Level.FAIL,
                    f"The {role} '{info.subject}' expired on {info.not_after:%Y-%m-%d %H:%M} UTC",
                    **args,
                )
            elif info.not_before > now:
                f.add(
                    "cert.not_yet_valid",
                    Level.FAIL,
                    f"The {role} '{info.subject}' is not valid before "
                    f"{info.not_before:%Y-%m-%d %H:%M} UTC (or a clock is wrong)",
                    **args,
                )
            elif days < warn_days:
                f.add(
                    "cert.expires_soon",
                    Level.WARN,
                    f"The {role} '{info.subject}' expires in {days:.0f} days ({info.not_after:%Y-%m-%d})",
                    **args,
                )
            else:
                f.add(
                    "cert.valid",
                    Level.INFO,
                    f"The {role} '{info.subject}' is valid until {info.not_after:%Y-%m-%d}",
                    **args,
                )
    evidence = {"certificates": list(seen.values())}
    if soonest is None:
        return Outcome("No certificate could be read", status=Status.ERROR, evidence=evidence)
    if f.worst is Level.INFO:
        return f.outcome(f"All certificates valid; the first expires on {soonest:%Y-%m-%d}", evidence=evidence)
    return f.outcome("A certificate is expired, not yet valid, or expires soon", evidence=evidence)


@check(
    id="tls_protocol_versions",
    title="The web services speak a TLS version the phones speak",
    target_kind=TargetKind.WEB,
    severity=Severity.FAIL,
    description="""Lync Phone Edition speaks only TLS 1.0: a server that offers only TLS 1.2 or later locks those
    phones out. Third-party IP phones (--device 3pip) want TLS 1.2. Each version is tried with its own
    handshake and the verdict follows the device family.""",
    remediation="""For Lync Phone Edition keep TLS 1.0 enabled on the web services and load balancer (or replace the
    phones); for third-party phones enable TLS 1.2.""",
    references=("RFC 8996", SEED_ARTICLE),
)
async def tls_protocol_versions(ctx: CheckContext, target: Target) -> Outcome:
    answer = await addresses(ctx, target.name)
    if not answer.ok:
        return Outcome(f"Not judged: {dns_problem(target.name, 'A', answer)}", status=Status.ERROR)
    port = ctx.options.ports.https
    device = ctx.options.device
    need = "TLSv1" if device is Device.LPE else "TLSv1.2"
    family = "Lync Phone Edition" if device is Device.LPE else "third-party IP phones"
    f = Findings()
    matrix: dict[str, dict[str, Any]] = {}
    for address in answer.addresses:
        results: list[TlsVersionResult] = list(
            await ctx.facts(
                TlsVersionQuery(address, port, target.name, v, per_name=ctx.options.tls_versions_per_name)
                for v in TLS_VERSIONS
            )
        )
        by_version = {r.version: r for r in results}
        matrix[address] = {PRETTY[r.version]: (r.accepted if r.accepted is not None else "untested") for r in results}
        accepted = [PRETTY[r.version] for r in results if r.accepted]
        if all(r.accepted is None for r in results):
            reasons = "; ".join(sorted({r.reason for r in results}))
            f.add(
                "tls.untestable", Level.WARN, f"{address}: no TLS version could be tested: {reasons}", address=address
            )
            continue
        wanted = by_version[need]
        if wanted.accepted:
            f.add(
                "tls.version_ok",
                Level.INFO,
                f"{address} accepts {PRETTY[need]}, which {family} need (accepted: {', '.join(accepted)})",
                address=address,
                accepted=accepted,
            )
        elif wanted.accepted is None:
            f.add(
                "tls.version_untested",
                Level.WARN,
                f"{address}: {PRETTY[need]} could not be tested: {wanted.reason}",
                address=address,
            )
        else:
            f.add(
                "tls.version_missing",
                Level.FAIL,
                f"{address} refuses {PRETTY[need]}, the version {family} "
                f"speak (accepted: {', '.join(accepted) or 'none'})",
                address=address,
                accepted=accepted,
                needed=PRETTY[need],
            )
        if device is Device.TPIP and by_version["TLSv1"].accepted:
            f.add(
                "tls.legacy_enabled",
                Level.INFO,
                f"{address} still accepts TLS 1.0 (deprecated by RFC 8996); "
                "keep it only while Lync Phone Edition devices remain",
                address=address,
            )
    evidence = {"device": device.value, "needed": PRETTY[need], "versions": matrix}
    if f.worst is Level.INFO:
        return f.outcome(f"{PRETTY[need]} accepted, as {family} need", evidence=evidence)
    fix = (
        "Enable TLS 1.0 on the web services and load balancer (SCHANNEL Server key Enabled=1 for TLS 1.0)"
        if device is Device.LPE
        else "Enable TLS 1.2 on the web services and load balancer"
    )
    return f.outcome(f"{PRETTY[need]} not available: {family} cannot connect", evidence=evidence, fix=fix)


@hookimpl
def register_checks(register: Callable[[Check], None]) -> None:
    for c in (tls_certificate_names, tls_certificate_chain, tls_certificate_expiry, tls_protocol_versions):
        register(c)
