"""HTTP probe: one anonymous GET to a given address (never resolved behind the audit's back).

We connect to the address the audit's resolver gave, send the Host header (and SNI) the phone
would send, read the status line and headers, and close. No redirects are followed: a phone
downloading its root chain does not follow them either, so a redirect is itself a finding.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from typing import Any, TypeVar, cast

from .._version import __version__
from ..facts import ConnStatus, HttpQuery, HttpResponse, ProbeContext
from .tls import open_context
from .tlsconn import TlsConnection

T = TypeVar("T")

MAX_HEAD = 64 * 1024
USER_AGENT = f"lyncready/{__version__} (phone bootstrap audit)"


def _request(key: HttpQuery) -> bytes:
    default = 80 if key.scheme == "http" else 443
    host = key.host if key.port == default else f"{key.host}:{key.port}"
    return (
        f"GET {key.path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {USER_AGENT}\r\n"
        "Accept: */*\r\nConnection: close\r\n\r\n"
    ).encode("ascii", "replace")


def parse_head(head: bytes) -> tuple[int, str, tuple[tuple[str, str], ...]] | None:
    """Parse a status line and headers; None when it is not HTTP/1.x."""
    lines = head.decode("iso-8859-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    code = parts[1] if len(parts) > 1 else ""
    # isascii(): str.isdigit() is also true for '²' or '٣', which int() refuses (a status line of
    # b"HTTP/1.1 \xb200 OK" decodes to '²00' and crashed the probe)
    if not parts[0].startswith("HTTP/1.") or len(code) != 3 or not (code.isascii() and code.isdigit()):
        return None
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if sep:
            headers.append(_interned((name.strip(), value.strip())))
    return int(code), parts[2] if len(parts) > 2 else "", _interned(tuple(headers))


_INTERNED: dict[Any, Any] = {}


def _interned(value: T) -> T:
    """One object for equal header lines and header sets: a web farm answers 10,000 names with a handful
    of distinct headers. The table is bounded (cleared when full): a server varying every header costs
    nothing more than before."""
    if len(_INTERNED) >= 4096:
        _INTERNED.clear()
    return cast(T, _INTERNED.setdefault(value, value))


async def close_writer(writer: asyncio.StreamWriter | None) -> None:
    if writer is None:
        return
    writer.close()
    try:
        async with asyncio.timeout(1):
            await writer.wait_closed()
    except (TimeoutError, OSError, ssl.SSLError):
        pass


BOOTSTRAP = ("/CertProv/CertProvisioningService.svc", "/WebTicket/WebTicketService.svc")


async def fetch_on(
    conn: TlsConnection, address: str, port: int, host: str, budget: float
) -> tuple[tuple[str, HttpResponse], ...]:
    """GET the bootstrap paths pipelined on an open (TLS) connection; stops at the first surprise."""
    out: list[tuple[str, HttpResponse]] = []
    start = time.perf_counter()
    try:
        async with asyncio.timeout(budget):
            for i, path in enumerate(BOOTSTRAP):
                key = HttpQuery("https", address, port, host, path)
                req = _request(key)
                if i < len(BOOTSTRAP) - 1:
                    req = req.replace(b"Connection: close", b"Connection: keep-alive")
                conn.write(req)
            for path in BOOTSTRAP:
                key = HttpQuery("https", address, port, host, path)
                head = await conn.readuntil(b"\r\n\r\n", MAX_HEAD)
                parsed = parse_head(head)
                if parsed is None:
                    break
                code, phrase, headers = parsed
                out.append(
                    (
                        path,
                        HttpResponse(
                            key.url,
                            address,
                            ConnStatus.OK,
                            code=code,
                            reason_phrase=phrase,
                            headers=headers,
                            elapsed=time.perf_counter() - start,
                        ),
                    )
                )
                length = next((v for k, v in headers if k.lower() == "content-length"), None)
                if length is None or not length.isdigit():
                    break
                await conn.readexactly(int(length))
    except (TimeoutError, OSError, ssl.SSLError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        pass
    return tuple(out)


async def probe_http(key: HttpQuery, ctx: ProbeContext) -> HttpResponse:
    if key.scheme == "https" and key.path in BOOTSTRAP:
        from ..facts import TlsQuery

        hs = await ctx.fact(TlsQuery(key.address, key.port, key.host))
        for path, response in hs.responses:
            if path == key.path:
                return response  # type: ignore[no-any-return]
    timeout = ctx.timeout
    url = key.url
    context: ssl.SSLContext | None = open_context() if key.scheme == "https" else None
    start = time.perf_counter()

    def fail(status: ConnStatus, reason: str) -> HttpResponse:
        return HttpResponse(url, key.address, status, reason=reason, elapsed=time.perf_counter() - start)

    async with ctx.slot(key.address, key.port, "tcp") as contact:
        if contact.silent:
            return fail(ConnStatus.TIMEOUT, f"TCP {key.address}:{key.port}: {contact.silent}")
        writer: asyncio.StreamWriter | None = None
        try:
            try:
                async with asyncio.timeout(timeout):
                    reader, writer = await asyncio.open_connection(
                        key.address,
                        key.port,
                        ssl=context,
                        server_hostname=key.host if context is not None else None,
                    )
            except TimeoutError:
                contact.no_answer(f"no connection within {timeout:g} s (to an earlier attempt; not tried again)")
                return fail(
                    ConnStatus.TIMEOUT,
                    f"no TCP connection to {key.address}:{key.port} within {timeout:g} s "
                    "(a firewall drops the packets?)",
                )
            try:
                async with asyncio.timeout(timeout):
                    writer.write(_request(key))
                    await writer.drain()
                    head = await reader.readuntil(b"\r\n\r\n")
            except TimeoutError:
                return fail(
                    ConnStatus.TIMEOUT,
                    f"{key.address}:{key.port} accepted the connection but sent no HTTP answer within {timeout:g} s",
                )
            except asyncio.IncompleteReadError as exc:
                if not exc.partial:
                    return fail(ConnStatus.RESET, f"{key.address}:{key.port} closed the connection without answering")
                return fail(ConnStatus.PROTOCOL_ERROR, f"incomplete HTTP answer: {exc.partial[:80]!r}")
            except asyncio.LimitOverrunError:
                return fail(ConnStatus.PROTOCOL_ERROR, f"HTTP headers larger than {MAX_HEAD} bytes")
        except ConnectionRefusedError:
            return fail(
                ConnStatus.REFUSED,
                f"TCP {key.address}:{key.port} refused: nothing listens there, or a "
                "firewall or load balancer rejects it",
            )
        except ConnectionResetError:
            return fail(ConnStatus.RESET, f"{key.address}:{key.port} reset the connection")
        except ssl.SSLError as exc:
            return fail(ConnStatus.TLS_ERROR, f"TLS handshake failed: {exc.reason or exc}")
        except OSError as exc:
            return fail(ConnStatus.ERROR, f"{key.address}:{key.port}: {exc.strerror or exc}")
        finally:
            await close_writer(writer)
    parsed = parse_head(head)
    if parsed is None:
        return fail(ConnStatus.PROTOCOL_ERROR, f"not an HTTP answer: {head[:80]!r}")
    code, phrase, headers = parsed
    return HttpResponse(
        url,
        key.address,
        ConnStatus.OK,
        code=code,
        reason_phrase=phrase,
        headers=headers,
        elapsed=time.perf_counter() - start,
    )
