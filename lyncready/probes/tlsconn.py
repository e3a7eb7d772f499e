"""A TLS client connection driven by hand: ``ssl.SSLObject`` over memory BIOs on a plain TCP transport.

Why not ``asyncio.open_connection(ssl=...)``: asyncio's TLS layer calls ``getpeercert()`` after every
handshake, and on a verified connection that decodes the whole certificate into Python dicts (a
load-balancer certificate with a thousand names costs a millisecond each time), which the audit never
uses: it wants the DER chain. Driving the handshake ourselves also lets the OpenSSL work run in a
worker thread (``SSLObject.do_handshake`` releases the GIL), so certificate parsing and signature
checks of one handshake overlap with the event loop's work on the others.

Thread safety: the SSL object and its BIOs are touched by one thread at a time. Bytes that arrive
while a handshake step runs in the worker are queued in Python and written into the incoming BIO
only between steps, on the event loop's thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ssl
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar, cast

T = TypeVar("T")


@functools.cache
def _pool() -> ThreadPoolExecutor:
    # two threads: OpenSSL work runs beside the event loop; more would only contend on a small machine
    return ThreadPoolExecutor(max_workers=2, thread_name_prefix="lyncready-tls")


class _Pipe(asyncio.Protocol):
    """The TCP side: queues what arrives and wakes the reader."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.pending: list[bytes] = []
        self.eof = False
        self.error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # a stream transport; other loops' need not subclass

    def data_received(self, data: bytes) -> None:
        self.pending.append(data)
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        if exc is not None and self.error is None:
            self.error = exc
        self._wake()

    def _wake(self) -> None:
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    async def wait(self) -> None:
        """Until something arrives or the connection ends."""
        if self.pending or self.eof:
            return
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None


class TlsConnection:
    """An open TLS connection: the handshake's facts, and a small reader/writer for HTTP on top."""

    def __init__(self, pipe: _Pipe, sslobj: ssl.SSLObject, incoming: ssl.MemoryBIO, outgoing: ssl.MemoryBIO) -> None:
        self._pipe = pipe
        self.sslobj = sslobj
        self._in = incoming
        self._out = outgoing
        self._plain = bytearray()  # decrypted bytes not consumed yet
        self._closed = False

    # -- opening ------------------------------------------------------------------------------

    @classmethod
    async def open(cls, address: str, port: int, sni: str, context: ssl.SSLContext) -> TlsConnection:
        """Connect and handshake. Raises what ``asyncio.open_connection`` would: OSError subclasses
        (refused, reset, unreachable), ``ssl.SSLCertVerificationError``, ``ssl.SSLError``, and ValueError
        for an SNI that is no host name. The caller bounds the time (``asyncio.timeout``)."""
        loop = asyncio.get_running_loop()
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        sslobj = context.wrap_bio(incoming, outgoing, server_side=False, server_hostname=sni or None)
        _transport, pipe = await loop.create_connection(_Pipe, address, port)
        conn = cls(pipe, sslobj, incoming, outgoing)
        try:
            await conn._handshake()
        except BaseException:
            conn.abort()
            raise
        return conn

    async def _handshake(self) -> None:
        loop = asyncio.get_running_loop()
        first = True
        while True:
            self._feed()
            try:
                if first:
                    # the ClientHello costs little; the server's flight (certificate parsing, signature
                    # checks) is the expensive step, and runs in a worker thread
                    self.sslobj.do_handshake()
                else:
                    await _in_thread(loop, self.sslobj.do_handshake)
            except ssl.SSLWantReadError:
                first = False
                self._flush()
                if self._in.eof:  # OpenSSL saw the end and still wants more: it never will
                    raise self._lost_during_handshake() from None
                await self._pipe.wait()
                continue
            except ssl.SSLEOFError:
                # the server closed (or reset) before the handshake was over: what asyncio reports too
                raise self._lost_during_handshake() from None
            self._flush()
            return

    def _lost_during_handshake(self) -> OSError:
        err = self._pipe.error
        if isinstance(err, OSError):
            return err
        return ConnectionResetError("the server closed the connection during the TLS handshake")

    # -- plumbing -----------------------------------------------------------------------------

    def _feed(self) -> None:
        pending = self._pipe.pending
        if pending:
            for chunk in pending:
                self._in.write(chunk)
            pending.clear()
        if self._pipe.eof and not self._in.eof:
            self._in.write_eof()

    def _flush(self) -> None:
        data = self._out.read()
        transport = self._pipe.transport
        if data and transport is not None and not transport.is_closing():
            transport.write(data)

    # -- application data ---------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        self.sslobj.write(data)
        self._flush()

    async def _fill(self) -> bool:
        """Decrypt more into the buffer; False at the end of the stream."""
        while True:
            self._feed()
            try:
                chunk = self.sslobj.read(65536)
            except ssl.SSLWantReadError:
                self._flush()  # TLS 1.3 tickets and alerts may want an answer
                if self._pipe.eof and not self._pipe.pending:
                    if isinstance(self._pipe.error, OSError):
                        raise self._pipe.error from None
                    return False
                await self._pipe.wait()
                continue
            except ssl.SSLZeroReturnError:
                return False
            except ssl.SSLEOFError:
                if isinstance(self._pipe.error, OSError):
                    raise self._pipe.error from None  # a reset, not a clean end
                return False
            if not chunk:
                return False
            self._plain += chunk
            return True

    async def readuntil(self, separator: bytes, limit: int) -> bytes:
        """Like ``StreamReader.readuntil``: IncompleteReadError at the end, LimitOverrunError past limit."""
        start = 0
        while True:
            i = self._plain.find(separator, start)
            if i >= 0:
                end = i + len(separator)
                out = bytes(self._plain[:end])
                del self._plain[:end]
                return out
            if len(self._plain) > limit:
                raise asyncio.LimitOverrunError("separator not found within the limit", len(self._plain))
            start = max(0, len(self._plain) - len(separator) + 1)
            if not await self._fill():
                partial = bytes(self._plain)
                self._plain.clear()
                raise asyncio.IncompleteReadError(partial, None)

    async def readexactly(self, n: int) -> bytes:
        while len(self._plain) < n:
            if not await self._fill():
                partial = bytes(self._plain)
                self._plain.clear()
                raise asyncio.IncompleteReadError(partial, n)
        out = bytes(self._plain[:n])
        del self._plain[:n]
        return out

    # -- closing ------------------------------------------------------------------------------

    def abort(self) -> None:
        self._closed = True
        transport = self._pipe.transport
        if transport is not None:
            transport.abort()

    def close(self) -> None:
        """Send close_notify (best effort) and close the TCP connection; never waits."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(ssl.SSLError, ValueError, OSError):
            self.sslobj.unwrap()
        self._flush()
        transport = self._pipe.transport
        if transport is not None:
            transport.close()


async def _in_thread(loop: asyncio.AbstractEventLoop, fn: Callable[[], T]) -> T:
    return await loop.run_in_executor(_pool(), fn)
