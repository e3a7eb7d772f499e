"""NTP probe: one client-mode request over a connected UDP socket, and a reply validated field by field.

ntplib only checks a reply's length: it accepts 48 random bytes, a kiss-o'-death, leap 3 or
stratum 16. We use it to build the request and decode the fields, and validate the rest
ourselves (RFC 5905 section 8): mode 4, version 1-4, origin timestamp equal to the transmit
timestamp we sent, stratum 1-15, leap indicator not 3, a non-zero transmit timestamp.

A connected socket gets ``ConnectionRefusedError`` from the ICMP port-unreachable of a closed
port within a millisecond, so "refused" is told from "silent" without waiting for the timeout.
"""

from __future__ import annotations

import asyncio
import os
import struct
import time
from typing import Any

import ntplib

from ..facts import NtpQuery, NtpReply, NtpStatus, ProbeContext

NTP_EPOCH_OFFSET = 2208988800  # 1900-01-01 to 1970-01-01
MODE_SERVER = 4
MODE_BROADCAST = 5
KOD_MEANINGS = {
    "DENY": "access denied by the server's policy",
    "RSTR": "access denied by the server's policy",
    "RATE": "rate limited: the client sends too often",
    "INIT": "the server has not yet synchronised",
    "STEP": "the server is stepping its clock",
    "AUTH": "authentication failed",
    "AUTO": "autokey sequence failed",
    "BCST": "broadcast-only server",
    "CRYP": "cryptographic authentication failed",
    "NKEY": "no key found",
    "RMOT": "remote access not allowed",
}


def _ntp_timestamp(t: float) -> bytes:
    """An NTP 64-bit timestamp; low bits randomised so the origin check cannot be guessed."""
    t += NTP_EPOCH_OFFSET
    seconds = int(t)
    fraction = (int((t - seconds) * 2**32) & 0xFFFFF000) | (int.from_bytes(os.urandom(2), "big") & 0xFFF)
    return struct.pack("!II", seconds & 0xFFFFFFFF, fraction)


def _ts_to_float(raw: bytes) -> float:
    seconds, fraction = struct.unpack("!II", raw)
    return float(seconds + fraction / 2**32 - NTP_EPOCH_OFFSET)


def build_request(transmit: bytes) -> bytes:
    packet = ntplib.NTPPacket(version=4, mode=3)
    data: bytes = packet.to_data()
    return data[:40] + transmit


def parse_reply(data: bytes, sent: bytes, t1: float, t4: float, address: str, port: int, elapsed: float) -> NtpReply:
    """Judge one datagram as an answer to the request whose transmit timestamp was ``sent``."""
    raw = data[:128].hex()
    if len(data) < 48:
        return NtpReply(
            address,
            port,
            NtpStatus.INVALID,
            reason=f"reply of {len(data)} bytes, shorter than an NTP header (48)",
            problems=("short",),
            raw=raw,
            elapsed=elapsed,
        )
    try:
        pkt = ntplib.NTPPacket()
        pkt.from_data(data[:48])
    except Exception as exc:  # ntplib raises its own exception type or struct.error
        return NtpReply(
            address,
            port,
            NtpStatus.INVALID,
            reason=f"undecodable: {exc}",
            problems=("undecodable",),
            raw=raw,
            elapsed=elapsed,
        )
    leap, version, mode, stratum = int(pkt.leap), int(pkt.version), int(pkt.mode), int(pkt.stratum)
    refid_raw = data[12:16]
    refid = (
        refid_raw.decode("ascii", "replace").rstrip("\x00")
        if stratum in (0, 1)
        else ".".join(str(b) for b in refid_raw)
    )
    problems: list[str] = []
    reasons: list[str] = []
    kod = ""
    if mode not in (MODE_SERVER, MODE_BROADCAST):
        problems.append("mode")
        reasons.append(f"mode {mode}, not 4 (server)")
    if not 1 <= version <= 4:
        problems.append("version")
        reasons.append(f"version {version} is not an NTP version")
    if data[24:32] != sent:
        problems.append("origin")
        reasons.append("origin timestamp does not echo our transmit timestamp (spoofed, stale or not an NTP reply)")
    code = refid_raw.rstrip(b"\x00")
    if stratum == 0 and code and all(0x21 <= b <= 0x7E for b in code):
        # RFC 5905 7.4: a kiss-o'-death is stratum 0 with an ASCII kiss code in the reference id
        kod = code.decode("ascii")
        problems.append("kod")
        meaning = KOD_MEANINGS.get(kod, "unknown code")
        reasons.append(f"kiss-o'-death {kod!r}: {meaning}")
    elif stratum == 0:
        # stratum 0 without a kiss code is "unspecified": what an unsynchronised chronyd sends (leap 3,
        # reference id 0), not a kiss-o'-death
        problems.append("stratum0")
        reasons.append("stratum 0 (unspecified) and no kiss code: the server is not synchronised")
    elif stratum >= 16:
        problems.append("stratum16")
        reasons.append(f"stratum {stratum}: the server is not synchronised")
    if leap == 3:
        problems.append("leap3")
        reasons.append("leap indicator 3: the server's clock is not synchronised")
    if data[40:48] == b"\x00" * 8:
        problems.append("transmit0")
        reasons.append("transmit timestamp is zero")
    t2 = _ts_to_float(data[32:40])
    t3 = _ts_to_float(data[40:48])
    offset = ((t2 - t1) + (t3 - t4)) / 2
    delay = (t4 - t1) - (t3 - t2)
    return NtpReply(
        address,
        port,
        NtpStatus.INVALID if problems else NtpStatus.OK,
        reason="; ".join(reasons),
        problems=tuple(problems),
        stratum=stratum,
        leap=leap,
        version=version,
        mode=mode,
        refid=refid,
        kod_code=kod,
        offset=None if problems else offset,
        delay=None if problems else delay,
        root_delay=float(pkt.root_delay),
        root_dispersion=float(pkt.root_dispersion),
        raw=raw,
        elapsed=elapsed,
    )


class _Client(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.replies: asyncio.Queue[tuple[bytes, float]] = asyncio.Queue()
        self.error: asyncio.Future[Exception] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.replies.put_nowait((data, time.time()))

    def error_received(self, exc: Exception) -> None:
        if not self.error.done():
            self.error.set_result(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None and not self.error.done():
            self.error.set_result(exc)


async def probe_ntp(key: NtpQuery, ctx: ProbeContext) -> NtpReply:
    timeout = ctx.timeout
    loop = asyncio.get_running_loop()
    async with ctx.slot(key.address, key.port, "udp") as contact:
        if contact.silent:
            return NtpReply(key.address, key.port, NtpStatus.TIMEOUT, reason=f"UDP {key.port}: {contact.silent}")
        start = time.perf_counter()
        try:
            transport, client = await loop.create_datagram_endpoint(_Client, remote_addr=(key.address, key.port))
        except OSError as exc:
            return NtpReply(key.address, key.port, NtpStatus.ERROR, reason=f"cannot open a UDP socket: {exc}")
        try:
            deadline = start + timeout
            sent = _ntp_timestamp(time.time())
            t1 = time.time()
            transport.sendto(build_request(sent))
            last_invalid: NtpReply | None = None
            while True:
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    break
                get: asyncio.Future[Any] = asyncio.ensure_future(client.replies.get())
                waiting: set[asyncio.Future[Any]] = {get, client.error}
                done, _ = await asyncio.wait(waiting, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
                if get not in done:
                    get.cancel()
                if client.error in done:
                    problem = client.error.result()
                    elapsed = time.perf_counter() - start
                    if isinstance(problem, ConnectionRefusedError):
                        return NtpReply(
                            key.address,
                            key.port,
                            NtpStatus.REFUSED,
                            elapsed=elapsed,
                            reason=f"UDP port {key.port} refused (ICMP port unreachable): nothing listens there",
                        )
                    return NtpReply(key.address, key.port, NtpStatus.ERROR, reason=str(problem), elapsed=elapsed)
                if get in done:
                    data, t4 = get.result()
                    reply = parse_reply(data, sent, t1, t4, key.address, key.port, time.perf_counter() - start)
                    if reply.status is NtpStatus.OK or "origin" not in reply.problems:
                        return reply
                    last_invalid = reply  # a stray datagram: keep listening for the real answer
            if last_invalid is not None:
                return last_invalid
            contact.no_answer(f"no answer within {timeout:g} s (to an earlier request; not asked again)")
            return NtpReply(
                key.address,
                key.port,
                NtpStatus.TIMEOUT,
                elapsed=time.perf_counter() - start,
                reason=f"no answer on UDP {key.port} within {timeout:g} s (dropped by a firewall, or the host is down)",
            )
        finally:
            transport.close()
