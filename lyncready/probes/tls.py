"""TLS probes: one handshake per (address, port, SNI), and one per TLS version for the version matrix.

The handshake is made against the audit's trust anchors (``--ca-bundle``, else the system store)
with host name checking off: the chain verdict is one fact, the name coverage another check's
judgement. When verification fails, a second handshake without verification fetches what the
server presented, so a missing intermediate can be told from an unknown root.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import time
import warnings
from typing import Any

from ..facts import ConnStatus, ProbeContext, TlsHandshake, TlsQuery, TlsVersionQuery, TlsVersionResult
from .tlsconn import TlsConnection

VERSIONS: dict[str, ssl.TLSVersion] = {
    "TLSv1": ssl.TLSVersion.TLSv1,
    "TLSv1.1": ssl.TLSVersion.TLSv1_1,
    "TLSv1.2": ssl.TLSVersion.TLSv1_2,
    "TLSv1.3": ssl.TLSVersion.TLSv1_3,
}


def trust_source(ctx: ProbeContext) -> str:
    return ctx.options.ca_bundle or "system store"


def _verifying_context(ctx: ProbeContext) -> ssl.SSLContext:
    cached = ctx.cache.get("tls.verify")
    if isinstance(cached, ssl.SSLContext):
        return cached
    sc = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    sc.check_hostname = False
    sc.verify_mode = ssl.CERT_REQUIRED
    _allow_everything(sc)
    if ctx.options.ca_bundle:
        sc.load_verify_locations(cafile=ctx.options.ca_bundle)
    else:
        sc.load_default_certs()
    ctx.cache["tls.verify"] = sc
    return sc


def _allow_everything(sc: ssl.SSLContext) -> None:
    """Offer every version and cipher our OpenSSL has: we observe servers, we do not protect data."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            sc.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        sc.set_ciphers("ALL:@SECLEVEL=0")
    except (ValueError, ssl.SSLError):
        pass


@functools.lru_cache(maxsize=8)  # an SSLContext costs ~0.5 ms to build (set_ciphers); one per version is enough
def open_context(version: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    sc = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    sc.check_hostname = False
    sc.verify_mode = ssl.CERT_NONE
    _allow_everything(sc)
    if version is not None:
        with warnings.catch_warnings():
            # Python deprecates TLS 1.0/1.1; we offer them on purpose, to see what old phones would get
            warnings.simplefilter("ignore", DeprecationWarning)
            sc.minimum_version = version
            sc.maximum_version = version
    return sc


def presented_chain(sslobj: Any) -> tuple[bytes, ...]:
    """The certificates the server sent, leaf first (public API from Python 3.13, private before)."""
    getter = getattr(sslobj, "get_unverified_chain", None)
    if getter is None:
        inner = getattr(sslobj, "_sslobj", None)
        getter = getattr(inner, "get_unverified_chain", None)
    if getter is not None:
        try:
            certs = getter() or []
            out: list[bytes] = []
            for c in certs:
                out.append(c if isinstance(c, bytes) else c.public_bytes(ssl._ssl.ENCODING_DER))  # type: ignore[attr-defined]
            if out:
                return tuple(out)
        except Exception:
            pass
    leaf = sslobj.getpeercert(binary_form=True)
    return (leaf,) if leaf else ()


def _interned(chain: tuple[bytes, ...], ctx: ProbeContext) -> tuple[bytes, ...]:
    """One copy of each certificate per audit: N names served with one certificate share its bytes."""
    seen: dict[bytes, bytes] = ctx.cache.setdefault("tls.certificates", {})
    return tuple(seen.setdefault(der, der) for der in chain)


async def _handshake(
    address: str, port: int, sni: str, context: ssl.SSLContext, budget: float
) -> tuple[ConnStatus, str, Any, TlsConnection | None]:
    """(status, reason, SSL object or the verification error, the open connection)."""
    timeout = budget
    try:
        async with asyncio.timeout(timeout):
            conn = await TlsConnection.open(address, port, sni, context)
    except TimeoutError:
        return ConnStatus.TIMEOUT, f"no TLS handshake with {address}:{port} within {timeout:g} s", None, None
    except ConnectionRefusedError:
        return (
            ConnStatus.REFUSED,
            f"TCP {address}:{port} refused: nothing listens there (or a firewall rejects)",
            (None),
            None,
        )
    except ssl.SSLCertVerificationError as exc:
        return ConnStatus.TLS_ERROR, exc.verify_message or str(exc), exc, None
    except ssl.SSLError as exc:
        return ConnStatus.TLS_ERROR, f"TLS handshake failed: {exc.reason or exc}", exc, None
    except ConnectionResetError:
        return ConnStatus.RESET, f"{address}:{port} reset the connection during the handshake", None, None
    except OSError as exc:
        return ConnStatus.ERROR, f"{address}:{port}: {exc.strerror or exc}", None, None
    except ValueError as exc:  # an SNI that is no host name (UnicodeError included)
        return ConnStatus.TLS_ERROR, f"cannot send {sni!r} as the TLS server name: {exc}", None, None
    return ConnStatus.OK, "", conn.sslobj, conn


async def probe_tls(key: TlsQuery, ctx: ProbeContext) -> TlsHandshake:
    source = trust_source(ctx)
    try:
        verifying = _verifying_context(ctx)
    except (OSError, ssl.SSLError) as exc:
        verifying = None
        load_error = f"cannot load trust anchors from {source}: {exc}"
    start = time.perf_counter()
    verified: bool | None = None
    code: int | None = None
    message = ""
    async with ctx.slot(key.address, key.port, "tcp") as contact:
        if contact.silent:
            return TlsHandshake(
                key.address,
                key.port,
                key.sni,
                ConnStatus.TIMEOUT,
                reason=f"TCP {key.address}:{key.port}: {contact.silent}",
                trust_source=source,
            )
        status, reason, obj, conn = ConnStatus.ERROR, "", None, None
        if verifying is not None:
            status, reason, obj, conn = await _handshake(key.address, key.port, key.sni, verifying, ctx.timeout)
            if status is ConnStatus.TIMEOUT:
                contact.no_answer(f"no TLS handshake within {ctx.timeout:g} s (to an earlier attempt; not tried again)")
            if status is ConnStatus.OK:
                verified = True
            elif isinstance(obj, ssl.SSLCertVerificationError):
                verified, code, message = False, obj.verify_code, obj.verify_message or str(obj)
        else:
            message = load_error
        if status is not ConnStatus.OK and (verified is False or verifying is None):
            # the chain did not verify: look at what the server presents, without verification
            status, reason, obj, conn = await _handshake(key.address, key.port, key.sni, open_context(), ctx.timeout)
        elapsed = time.perf_counter() - start
        if status is not ConnStatus.OK:
            return TlsHandshake(
                key.address,
                key.port,
                key.sni,
                status,
                reason=reason,
                verified=verified,
                verify_code=code,
                verify_message=message,
                trust_source=source,
                elapsed=elapsed,
            )
        assert obj is not None
        try:
            cipher = obj.cipher()
            from .http import fetch_on

            responses: tuple[tuple[str, Any], ...] = ()
            if conn is not None:
                responses = await fetch_on(conn, key.address, key.port, key.sni, ctx.timeout)
            return TlsHandshake(
                key.address,
                key.port,
                key.sni,
                ConnStatus.OK,
                version=obj.version() or "",
                cipher=cipher[0] if cipher else "",
                chain=_interned(presented_chain(obj), ctx),
                verified=verified,
                verify_code=code,
                verify_message=message,
                trust_source=source,
                elapsed=elapsed,
                responses=responses,
            )
        finally:
            if conn is not None:
                conn.close()


async def probe_tls_version(key: TlsVersionQuery, ctx: ProbeContext) -> TlsVersionResult:
    version = VERSIONS.get(key.version)
    if version is None:
        return TlsVersionResult(key.version, None, reason=f"unknown TLS version {key.version!r}")
    try:
        context = open_context(version)
    except (ValueError, ssl.SSLError) as exc:
        return TlsVersionResult(key.version, None, reason=f"this machine's OpenSSL cannot offer {key.version}: {exc}")
    # the audit's main handshake offers every version: the one it negotiated is accepted, no need to ask again
    main = await ctx.fact(TlsQuery(key.address, key.port, key.sni))
    if main.status is ConnStatus.OK and main.version == key.version:
        return TlsVersionResult(key.version, True, cipher=main.cipher)
    async with ctx.slot(key.address, key.port, "tcp") as contact:
        if contact.silent:
            return TlsVersionResult(key.version, None, reason=f"TCP {key.address}:{key.port}: {contact.silent}")
        status, reason, obj, conn = await _handshake(key.address, key.port, key.sni, context, ctx.timeout)
        if status is ConnStatus.TIMEOUT:
            contact.no_answer(f"no TLS handshake within {ctx.timeout:g} s (to an earlier attempt; not tried again)")
        try:
            if status is ConnStatus.OK:
                cipher = obj.cipher()
                return TlsVersionResult(key.version, True, cipher=cipher[0] if cipher else "")
            if status is ConnStatus.TLS_ERROR:
                text = str(reason)
                if "NO_PROTOCOLS_AVAILABLE" in text or "no protocols available" in text:
                    return TlsVersionResult(
                        key.version, None, reason=f"this machine's OpenSSL cannot offer {key.version}"
                    )
                return TlsVersionResult(key.version, False, reason=text)
            if status is ConnStatus.RESET:
                return TlsVersionResult(key.version, False, reason=reason)
            return TlsVersionResult(key.version, None, reason=reason)
        finally:
            if conn is not None:
                conn.close()
