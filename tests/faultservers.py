"""Small misbehaving servers on loopback, for the faults no real server can be made to commit on demand.

Everything listens on 127.0.0.0/8 only, runs in daemon threads of the test process, and is stopped (threads
joined, sockets closed) by :meth:`FaultServers.close`; nothing sends a packet anywhere but to the peer that
asked. Use as a context manager or through the ``faultservers`` fixture of the test module::

    with FaultServers() as fs:
        port = fs.ntp(kod("RATE"))                    # an NTP server that answers with a kiss-o'-death
        port = fs.tcp(reset_after_request, "127.0.3.9", port=http_port)   # an HTTP server that resets

* NTP responders (:meth:`FaultServers.ntp`): a function turns each request into a reply; ``ntp_reply`` builds a
  well-formed server reply with any field overridden (leap 3, stratum 16, a kiss code, a wrong origin, a clock
  an hour off); ``garbage`` answers 48 bytes that are not a reply.
* TCP servers (:meth:`FaultServers.tcp`): a handler per accepted connection (own thread): ``reset_after_request``
  reads the request then closes with SO_LINGER 0 (an RST, as a firewall or a crashing proxy does);
  ``silent_after_request`` accepts, reads, and never answers until the servers close.
* :meth:`FaultServers.truncating_dns`: a UDP DNS forwarder in front of a real server (dnsmasq) that answers
  the names under given suffixes with the TC bit and no records, and forwards every other query untouched. Its
  TCP port is closed, so the retry over TCP a client must make is refused: DNS over TCP blocked by a firewall.
  (dnsmasq itself answers a large answer truncated over UDP and in full over TCP: that case needs no helper.)
* :func:`start_dhcp_responder`: a DHCP responder in a server namespace of a ``netlab.NetLab`` that can answer
  with any message type (DHCPNAK included, which ``NetLab.scripted`` cannot send) and raw options.
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dns.flags
import dns.message
import dns.name
from realservers import Daemon, NtpServer, free_port, require_binary

NTP_EPOCH_OFFSET = 2208988800
POLL = 0.05  # seconds between checks of the stop flag

NtpBehaviour = Callable[[bytes, float], bytes | None]
"""(request, time received) -> the reply, or None to stay silent."""

TcpHandler = Callable[[socket.socket, threading.Event], None]
"""Serves one accepted connection; returns when done or when the event is set (the servers close)."""


# --- NTP -----------------------------------------------------------------------------------------------------


def ntp_timestamp(t: float) -> bytes:
    t += NTP_EPOCH_OFFSET
    seconds = int(t)
    return struct.pack("!II", seconds & 0xFFFFFFFF, int((t - seconds) * 2**32) & 0xFFFFFFFF)


def ntp_reply(
    request: bytes,
    received: float,
    *,
    li: int = 0,
    version: int = 4,
    mode: int = 4,
    stratum: int = 2,
    refid: bytes = b"\x7f\x00\x00\x01",
    offset: float = 0.0,
    origin: bytes | None = None,
) -> bytes:
    """A server reply to ``request`` (RFC 5905 header), every field overridable; ``offset`` shifts our clock."""
    rx = ntp_timestamp(received + offset)
    tx = ntp_timestamp(time.time() + offset)
    return (
        struct.pack("!BBbb", (li << 6) | (version << 3) | mode, stratum, 6, -20)
        + struct.pack("!II", 0x00000100, 0x00000200)  # root delay, root dispersion
        + refid
        + ntp_timestamp(received + offset - 16)  # reference timestamp
        + (origin if origin is not None else request[40:48])
        + rx
        + tx
    )


def kod(code: str) -> NtpBehaviour:
    """A kiss-o'-death: stratum 0, leap 3, the kiss code in the reference id (RFC 5905 7.4)."""
    return lambda req, t: ntp_reply(req, t, li=3, stratum=0, refid=code.encode("ascii").ljust(4, b"\x00")[:4])


def stratum16(req: bytes, t: float) -> bytes:
    """What ntpd says when unsynchronised: stratum 16 (and leap 0 here, so stratum alone is judged)."""
    return ntp_reply(req, t, stratum=16)


def leap3(req: bytes, t: float) -> bytes:
    """A stratum 2 server whose leap indicator says 3 (alarm: clock not synchronised)."""
    return ntp_reply(req, t, li=3, stratum=2)


def wrong_origin(req: bytes, t: float) -> bytes:
    """A well-formed reply whose origin timestamp is not the transmit timestamp of the request."""
    return ntp_reply(req, t, origin=ntp_timestamp(time.time() - 3600))


def offset_by(seconds: float) -> NtpBehaviour:
    """A valid reply from a clock ``seconds`` ahead of ours."""
    return lambda req, t: ntp_reply(req, t, offset=seconds)


def garbage(req: bytes, t: float) -> bytes:
    """48 bytes that are no reply to anything (mode 0, no origin)."""
    return bytes(range(48))


def start_unsynchronised_chronyd(workdir: Path, address: str = "127.0.0.1") -> NtpServer:
    """A real chronyd with no time source and no ``local`` reference: it answers, but unsynchronised.

    chrony 4.3 then replies leap indicator 3, stratum 0 and a zero reference id (no kiss code).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    binary = require_binary("chronyd")
    port = free_port(address, tcp=False)
    name = f"chronyd-unsync-{port}"
    conf = workdir / f"{name}.conf"
    conf.write_text(
        f"bindaddress {address}\nallow 127.0.0.0/8\ncmdport 0\nbindcmdaddress /\nport {port}\n"
        f"pidfile {workdir / (name + '.pid')}\ndriftfile {workdir / (name + '.drift')}\n"
    )
    argv = [binary, "-x", "-d", "-f", str(conf)]
    if os.geteuid() == 0:
        argv[1:1] = ["-u", "root"]
    daemon = Daemon(name, argv, workdir)
    request = b"\x23" + bytes(39) + os.urandom(8)

    def ready() -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.1)
            try:
                s.sendto(request, (address, port))
                data = s.recv(512)
            except OSError:
                return False
        return len(data) >= 48 and data[24:32] == request[40:48]

    took = daemon.wait_ready(ready, f"answering NTP on {address}:{port}")
    return NtpServer(address, port, daemon, took)


# --- TCP -----------------------------------------------------------------------------------------------------


def _read_request(conn: socket.socket, stop: threading.Event, limit: int = 65536) -> bytes:
    conn.settimeout(POLL)
    data = b""
    while not stop.is_set() and b"\r\n\r\n" not in data and len(data) < limit:
        try:
            chunk = conn.recv(4096)
        except TimeoutError:
            continue
        except OSError:
            break
        if not chunk:
            break
        data += chunk
    return data


def reset_after_request(conn: socket.socket, stop: threading.Event) -> None:
    """Read the HTTP request, then abort the connection: SO_LINGER 0 makes close() send an RST."""
    _read_request(conn, stop)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def silent_after_request(conn: socket.socket, stop: threading.Event) -> None:
    """Accept, read the request, and never answer (an application hung behind a listening socket)."""
    _read_request(conn, stop)
    stop.wait()
    conn.close()


# --- the servers ---------------------------------------------------------------------------------------------


@dataclass
class FaultServers:
    """Loopback fault servers in daemon threads; ``close()`` stops every thread and closes every socket."""

    sockets: list[socket.socket] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    log: list[str] = field(default_factory=list)

    def _thread(self, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        self.threads.append(thread)

    def _udp(self, address: str, port: int | None) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((address, port or 0))
        sock.settimeout(POLL)
        self.sockets.append(sock)
        return sock

    def ntp(self, behaviour: NtpBehaviour, address: str = "127.0.0.1") -> int:
        """An NTP server answering every datagram with ``behaviour``; returns its UDP port."""
        sock = self._udp(address, None)

        def serve() -> None:
            while not self.stop.is_set():
                try:
                    request, peer = sock.recvfrom(2048)
                except TimeoutError:
                    continue
                except OSError:
                    return
                reply = behaviour(request, time.time())
                if reply is not None:
                    with contextlib.suppress(OSError):
                        sock.sendto(reply, peer)

        self._thread(serve)
        return int(sock.getsockname()[1])

    def tcp(self, handler: TcpHandler, address: str = "127.0.0.1", port: int | None = None) -> int:
        """A TCP server calling ``handler`` on every accepted connection (one thread each); returns the port."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port or 0))
        sock.listen(32)
        sock.settimeout(POLL)
        self.sockets.append(sock)

        def serve() -> None:
            while not self.stop.is_set():
                try:
                    conn, _peer = sock.accept()
                except TimeoutError:
                    continue
                except OSError:
                    return
                self._thread(self._handle, handler, conn)

        self._thread(serve)
        return int(sock.getsockname()[1])

    def _handle(self, handler: TcpHandler, conn: socket.socket) -> None:
        try:
            handler(conn, self.stop)
        except OSError:
            pass
        finally:
            conn.close()

    def truncating_dns(self, upstream: tuple[str, int], truncate: Sequence[str], address: str = "127.0.0.1") -> int:
        """A UDP DNS forwarder to ``upstream`` answering names under ``truncate`` with TC set and no records.

        Returns its port; TCP on that port is closed (connections are refused).
        """
        port = free_port(address)  # free for UDP and TCP: we take UDP, TCP stays closed
        sock = self._udp(address, port)
        suffixes = [dns.name.from_text(s) for s in truncate]

        def serve() -> None:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as up:
                up.settimeout(1.0)
                while not self.stop.is_set():
                    try:
                        data, peer = sock.recvfrom(4096)
                    except TimeoutError:
                        continue
                    except OSError:
                        return
                    try:
                        query = dns.message.from_wire(data)
                        qname = query.question[0].name
                    except Exception:
                        continue
                    if any(qname.is_subdomain(s) for s in suffixes):
                        response = dns.message.make_response(query)
                        response.flags |= dns.flags.TC
                        self.log.append(f"TC {qname} {query.question[0].rdtype!r}")
                        answer = response.to_wire()
                    else:
                        try:
                            up.sendto(data, upstream)
                            answer, _ = up.recvfrom(65535)
                        except OSError:
                            continue
                    with contextlib.suppress(OSError):
                        sock.sendto(answer, peer)

        self._thread(serve)
        return port

    def close(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=5)
        for sock in self.sockets:
            sock.close()
        self.threads.clear()
        self.sockets.clear()

    def __enter__(self) -> FaultServers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- DHCP: a responder with any message type, in a netlab server namespace ---------------------------------------


def start_dhcp_responder(
    lab: Any,
    server: Any,
    options: Sequence[tuple[int, bytes]] = (),
    *,
    message_type: int | None = None,
    only_ms_uc_client: bool = True,
) -> Daemon:
    """A DHCP responder in ``server``'s namespace (a ``netlab.ServerNs``) of ``lab`` (a ``netlab.NetLab``).

    It answers DISCOVER/INFORM with ``message_type`` (None: OFFER/ACK; 6: DHCPNAK, broadcast as RFC 2131
    says), option 53, option 54, then ``options`` raw and in order, to clients with option 60 MS-UC-Client
    (every client when ``only_ms_uc_client`` is False). Stop it with ``.stop()`` (by its PID).
    """
    scripted = lab.scripted(server, options, message_type=message_type, only_ms_uc_client=only_ms_uc_client)
    daemon: Daemon = scripted.daemon
    return daemon


__all__ = [
    "FaultServers",
    "NtpBehaviour",
    "TcpHandler",
    "garbage",
    "kod",
    "leap3",
    "ntp_reply",
    "ntp_timestamp",
    "offset_by",
    "reset_after_request",
    "silent_after_request",
    "start_dhcp_responder",
    "start_unsynchronised_chronyd",
    "stratum16",
    "wrong_origin",
]
