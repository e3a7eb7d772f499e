"""HTTP and HTTPS servers for the lab: asyncio streams, HTTP/1.1 with ``Connection: close``.

``GET`` (or ``HEAD``) of a phone bootstrap path answers 200 with a small HTML page, the match being
case-insensitive as IIS does (Microsoft's own texts spell ``CertprovisioningService.svc``); any other
path gets 404, any other method 405. HTTPS uses :func:`tls_server_context`, which accepts TLS 1.0
through 1.3 with every cipher (Lync Phone Edition speaks only TLS 1.0) and presents leaf and
intermediate certificates.

:class:`StreamServer` is the TCP plumbing shared with the DNS server: ``asyncio.start_server`` plus
what Python 3.11 lacks, closing the connections still open when the server stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import ssl
import urllib.parse
import warnings
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

PHONE_PATHS = ("/CertProv/CertProvisioningService.svc", "/WebTicket/WebTicketService.svc")
REQUEST_TIMEOUT = 10.0
HANDSHAKE_TIMEOUT = 5.0
MAX_HEAD = 16 * 1024

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}


class StreamServer:
    """A TCP (or TLS) server that runs ``handler`` per connection and closes every connection on stop."""

    def __init__(self, handler: Handler, *, ssl: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.ssl = ssl
        self.host = ""
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def serving(self) -> bool:
        return self._server is not None

    async def start(self, host: str, port: int = 0) -> int:
        """Listen on ``host:port`` (0: a free port). Raises OSError when the port is taken."""
        if self._server is not None:
            raise RuntimeError("already started")
        self._server = await asyncio.start_server(
            self._connected,
            host,
            port,
            ssl=self.ssl,
            ssl_handshake_timeout=HANDSHAKE_TIMEOUT if self.ssl is not None else None,
            limit=MAX_HEAD,
        )
        self.host, self.port = host, int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()  # closes the listening socket now
        for writer in list(self._writers):
            writer.transport.abort()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if server is not None:
            await server.wait_closed()

    async def _connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self._writers.add(writer)
        try:
            await self.handler(reader, writer)
        except Exception:
            pass  # a client's misbehaviour ends its connection, never the server
        finally:
            self._writers.discard(writer)
            if task is not None:
                self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1):
                    await writer.wait_closed()


def tls_server_context(leaf: Any) -> ssl.SSLContext:
    """A server context offering TLS 1.0 to 1.3 and every cipher, presenting ``leaf``'s chain.

    ``leaf`` is a ``trustme.LeafCert``: its private key and ``cert_chain_pems`` (leaf, then the
    intermediates) are loaded, so the server presents the intermediate as a real one must.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.0/1.1 are deprecated: that is the point
        context.minimum_version = ssl.TLSVersion.TLSv1
        context.maximum_version = ssl.TLSVersion.MAXIMUM_SUPPORTED
    context.set_ciphers("ALL:@SECLEVEL=0")
    leaf.configure_cert(context)
    return context


def _page(title: str) -> bytes:
    return (
        f"<!DOCTYPE html>\n<html><head><title>{title}</title></head>"
        f"<body><h1>{title}</h1><p>lyncready lab</p></body></html>\n"
    ).encode()


class WebServer:
    """One HTTP or HTTPS listener. ``routes`` maps a path (compared case-insensitively) to a page."""

    def __init__(self, *, ssl: ssl.SSLContext | None = None, routes: Mapping[str, bytes] | None = None) -> None:
        if routes is None:
            routes = {path: _page(path.rsplit("/", 1)[-1]) for path in PHONE_PATHS}
        self.routes = {path.lower(): body for path, body in routes.items()}
        self.requests: list[tuple[str, str, str]] = []  # (method, path, Host header) as received
        self._stream = StreamServer(self._serve, ssl=ssl)

    @property
    def host(self) -> str:
        return self._stream.host

    @property
    def port(self) -> int:
        return self._stream.port

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        return await self._stream.start(host, port)

    async def stop(self) -> None:
        await self._stream.stop()

    def respond(self, head: bytes) -> bytes:
        """The full response to a request head (request line and headers). No I/O."""
        lines = head.decode("iso-8859-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            return _response(400, _page("Bad Request"))
        method, target, _version = parts
        host = ""
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep and name.strip().lower() == "host":
                host = value.strip()
        path = urllib.parse.urlsplit(target).path or "/"
        self.requests.append((method, path, host))
        if method not in ("GET", "HEAD"):
            return _response(405, _page("Method Not Allowed"), extra=(("Allow", "GET, HEAD"),))
        body = self.routes.get(path.lower())
        if body is None:
            return _response(404, _page("Not Found"), head_only=method == "HEAD")
        return _response(200, body, head_only=method == "HEAD")

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError:
            head = b""
        except (asyncio.IncompleteReadError, TimeoutError):
            return
        writer.write(self.respond(head) if head else _response(400, _page("Request Too Large")))
        await writer.drain()


def _response(code: int, body: bytes, *, head_only: bool = False, extra: tuple[tuple[str, str], ...] = ()) -> bytes:
    headers = [
        ("Date", email.utils.formatdate(usegmt=True)),
        ("Server", "lyncready-lab"),
        ("Content-Type", "text/html; charset=utf-8"),
        ("Content-Length", str(len(body))),
        ("Connection", "close"),
        *extra,
    ]
    head = f"HTTP/1.1 {code} {REASONS.get(code, 'Error')}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
    return head.encode("latin-1") + b"\r\n" + (b"" if head_only else body)
