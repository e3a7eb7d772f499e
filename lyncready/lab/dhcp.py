"""The lab's phone VLAN: two network namespaces joined by a veth pair, and a DHCP responder in one.

Only when run as root (namespaces need CAP_SYS_ADMIN). The responder is a thread that enters the
server namespace and answers DHCPINFORM / DHCPDISCOVER like a Windows scope configured for Lync,
with one classic mistake: option 119 defined as a String (ASCII text on the wire). Option 43 goes
only to vendor class MS-UC-Client. Options 4 and 42 name 127.0.0.1, the lab's NTP server as the
audit (which stays on the host) reaches it. Nothing leaves the namespaces: 10.77.0.0/24 exists only
inside them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import struct
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path

from ..codecs import encode_43, encode_120, encode_ipv4_list, parse_bootp
from ..probes.dhcp import enter_netns

SERVER_ADDRESS = "10.77.0.1"
CLIENT_ADDRESS = "10.77.0.2"
OFFERED_ADDRESS = "10.77.0.100"
CLIENT_IFACE = "phone0"
SERVER_IFACE = "dhcp0"
MAGIC = b"\x63\x82\x53\x63"


def unavailable_reason() -> str | None:
    """Why the DHCP part of the lab cannot run here, or None when it can."""
    if not hasattr(socket, "AF_PACKET") or not Path("/proc/self/ns").is_dir():
        return "DHCP layer skipped: it needs Linux network namespaces"
    if os.geteuid() != 0:
        return "DHCP layer skipped: run the demo as root to include it (it makes two network namespaces)"
    if shutil.which("ip") is None:
        return "DHCP layer skipped: the 'ip' command (iproute2) is missing"
    return None


def scope_options(domains: Sequence[str], pool: str) -> list[tuple[int, bytes]]:
    """What the lab scope sends (43 is added for MS-UC-Client only)."""
    return [
        (1, bytes([255, 255, 255, 0])),
        (3, encode_ipv4_list([SERVER_ADDRESS])),
        (6, encode_ipv4_list([SERVER_ADDRESS])),
        (15, domains[0].encode()),
        (4, encode_ipv4_list(["127.0.0.1"])),
        (42, encode_ipv4_list(["127.0.0.1"])),
        (119, ";".join(domains).encode()),  # the Windows "String" mistake, on purpose
        (120, encode_120([pool])),
    ]


class DhcpLab:
    """The namespaces and the responder. ``start()`` / ``stop()`` are blocking (run them in a thread)."""

    def __init__(self, domains: Sequence[str], pool: str) -> None:
        tag = f"{os.getpid()}-{id(self) % 100000}"
        self.client_ns = f"lyncready-demo-{tag}-c"
        self.server_ns = f"lyncready-demo-{tag}-s"
        self.interface = CLIENT_IFACE
        self.options = scope_options(domains, pool)
        self.option43 = encode_43(pool)
        self.answered = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._made: list[str] = []
        self._ready = threading.Event()
        self._error: str | None = None

    def _ip(self, *args: str) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=10)

    def start(self) -> None:
        try:
            for ns in (self.client_ns, self.server_ns):
                self._ip("netns", "add", ns)
                self._made.append(ns)
                self._ip("-n", ns, "link", "set", "lo", "up")
            self._ip(
                "-n",
                self.client_ns,
                "link",
                "add",
                CLIENT_IFACE,
                "type",
                "veth",
                "peer",
                "name",
                SERVER_IFACE,
                "netns",
                self.server_ns,
            )
            self._ip("-n", self.client_ns, "addr", "add", f"{CLIENT_ADDRESS}/24", "dev", CLIENT_IFACE)
            self._ip("-n", self.server_ns, "addr", "add", f"{SERVER_ADDRESS}/24", "dev", SERVER_IFACE)
            self._ip("-n", self.client_ns, "link", "set", CLIENT_IFACE, "up")
            self._ip("-n", self.server_ns, "link", "set", SERVER_IFACE, "up")
        except (OSError, subprocess.SubprocessError) as exc:
            self.stop()
            detail = getattr(exc, "stderr", "") or str(exc)
            raise OSError(f"cannot build the lab's network namespaces: {detail.strip()}") from exc
        self._thread = threading.Thread(target=self._serve, name="lyncready-lab-dhcp", daemon=True)
        self._thread.start()
        self._ready.wait(5)
        if self._error is not None:
            self.stop()
            raise OSError(self._error)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        while self._made:
            ns = self._made.pop()
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                self._ip("netns", "delete", ns)

    # -- the responder (its own thread, inside the server namespace) ------------------------------------

    def _serve(self) -> None:
        try:
            enter_netns(self.server_ns)
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, SERVER_IFACE.encode())
            sock.bind(("0.0.0.0", 67))
            sock.settimeout(0.2)
        except OSError as exc:
            self._error = f"the lab's DHCP responder cannot start: {exc}"
            self._ready.set()
            return
        self._ready.set()
        with sock:
            while not self._stop.is_set():
                try:
                    data, _peer = sock.recvfrom(2048)
                except TimeoutError:
                    continue
                except OSError:
                    return
                answer = self.answer(data)
                if answer is not None:
                    reply, destination = answer
                    with contextlib.suppress(OSError):
                        sock.sendto(reply, (destination, 68))
                        self.answered += 1

    def answer(self, data: bytes) -> tuple[bytes, str] | None:
        """The reply to one request and where it goes; None for anything but DISCOVER/INFORM."""
        packet = parse_bootp(data)
        kind = packet.message_type
        if packet.op != 1 or kind not in (1, 8):
            return None
        inform = kind == 8
        options = [(53, bytes([5 if inform else 2])), (54, socket.inet_aton(SERVER_ADDRESS))]
        if not inform:
            options += [(51, struct.pack("!I", 3600))]
        options += self.options
        if packet.option(60) == b"MS-UC-Client":
            options.append((43, self.option43))
        body = b"".join(bytes([code, len(value)]) + value for code, value in options) + b"\xff"
        chaddr = bytes.fromhex(packet.chaddr.replace(":", ""))[:16].ljust(16, b"\0")
        header = struct.pack(
            "!BBBBIHH4s4s4s4s16s64s128s",
            2,
            1,
            6,
            0,
            packet.xid,
            0,
            packet.flags,
            socket.inet_aton(packet.ciaddr if inform else "0.0.0.0"),
            socket.inet_aton("0.0.0.0" if inform else OFFERED_ADDRESS),
            socket.inet_aton(SERVER_ADDRESS),
            socket.inet_aton("0.0.0.0"),
            chaddr,
            b"",
            b"",
        )
        destination = packet.ciaddr if inform and packet.ciaddr != "0.0.0.0" else "255.255.255.255"
        return header + MAGIC + body, destination
