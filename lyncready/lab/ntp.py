"""An NTP responder for the lab (RFC 5905 server mode, UDP on loopback).

It answers each client request (mode 3, version 1-4, at least 48 bytes) with a mode-4 reply:
version echoed, leap 0, stratum 2, reference id 127.127.1.0 (the classic local-clock driver
address), origin timestamp = the client's transmit timestamp, receive and transmit timestamps =
now. Everything else (server or broadcast packets, control messages, short datagrams) is ignored,
as a real server does. The clock is this machine's: the lab never touches the host's time.
"""

from __future__ import annotations

import asyncio
import functools
import struct
import time
from typing import cast

NTP_EPOCH_OFFSET = 2208988800  # 1900-01-01 to 1970-01-01
MODE_CLIENT = 3
MODE_SERVER = 4
HEADER = struct.Struct("!BBbbII4s8s8s8s8s")  # 48 bytes


def ntp_timestamp(t: float) -> bytes:
    """Unix time as an NTP 64-bit timestamp (seconds since 1900, 32-bit fraction)."""
    t += NTP_EPOCH_OFFSET
    seconds = int(t)
    fraction = int((t - seconds) * 2**32) & 0xFFFFFFFF
    return struct.pack("!II", seconds & 0xFFFFFFFF, fraction)


class NtpServer:
    """A stateless NTP server. ``requests`` counts the client requests answered."""

    def __init__(self, *, stratum: int = 2, leap: int = 0, refid: bytes = bytes((127, 127, 1, 0))) -> None:
        self.stratum = stratum
        self.leap = leap
        self.refid = refid
        self.requests = 0
        self.host = ""
        self.port = 0
        self._transport: asyncio.DatagramTransport | None = None
        self._closed: asyncio.Future[None] | None = None

    def reply_to(self, data: bytes, received: float) -> bytes | None:
        """The reply to one datagram received at Unix time ``received``, or None to stay silent."""
        if len(data) < HEADER.size:
            return None
        version, mode = (data[0] >> 3) & 0x7, data[0] & 0x7
        if mode != MODE_CLIENT or not 1 <= version <= 4:
            return None
        poll = max(4, min(17, struct.unpack("!b", data[2:3])[0]))
        self.requests += 1
        return HEADER.pack(
            (self.leap << 6) | (version << 3) | MODE_SERVER,
            self.stratum,
            poll,
            -20,  # precision: about a microsecond
            0x00000100,  # root delay: 1/256 s (16.16 fixed point)
            0x00000100,  # root dispersion
            self.refid,
            ntp_timestamp(received - 16),  # reference: when we last "synchronised"
            data[40:48],  # origin = the client's transmit timestamp, byte for byte
            ntp_timestamp(received),
            ntp_timestamp(time.time()),
        )

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        loop = asyncio.get_running_loop()
        self._closed = loop.create_future()
        transport, _ = await loop.create_datagram_endpoint(
            functools.partial(_NtpProtocol, self, self._closed), local_addr=(host, port)
        )
        self._transport = transport
        self.host, self.port = host, int(transport.get_extra_info("sockname")[1])
        return self.port

    async def stop(self) -> None:
        if self._transport is not None:
            self._transport.close()
            if self._closed is not None:
                await self._closed
        self._transport = self._closed = None


class _NtpProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: NtpServer, closed: asyncio.Future[None]) -> None:
        self.server = server
        self.closed = closed
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Python 3.11's selector transport does not subclass DatagramTransport, but is one
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        try:
            reply = self.server.reply_to(data, time.time())
        except Exception:
            return
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)

    def error_received(self, exc: Exception) -> None:
        pass

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)
