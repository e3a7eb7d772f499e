"""DHCP probe: ask what a Lync phone asks (DHCPINFORM as ``MS-UC-Client``) and keep every reply.

A phone that has an address sends a DHCPINFORM (ciaddr = its address, chaddr = its MAC) with
option 60 ``MS-UC-Client`` and option 55 asking for 120 and 43. Some servers ignore INFORM, so
``mode="discover"`` sends a DHCPDISCOVER from 0.0.0.0 with the broadcast flag instead. A DISCOVER
is **never** followed by a REQUEST: no lease is ever taken.

How the exchange works (Linux only):

* Replies are read from an ``AF_PACKET`` socket bound to the interface, opened before the request
  goes out, for the whole ``window``: every BOOTREPLY whose xid is ours is kept, from every server
  (two servers answering is how a rogue DHCP server shows). Reading at layer 2 sees replies
  whatever their destination: broadcast, unicast to ciaddr:68 (Kea answers INFORM that way), or
  giaddr:67 in relay mode.
* A broadcast request is sent as a whole Ethernet frame on the named interface (a DISCOVER must
  come from 0.0.0.0, which no UDP socket can do); scapy frames it (imported lazily, in a worker
  thread: ``lyncready --help`` never imports it). A unicast request (``key.server``) goes through a
  UDP socket, so the kernel routes it and resolves the next hop's MAC.
* A UDP socket bound to the reply port (68, or 67 in relay mode) on the interface also absorbs
  unicast replies, so the host does not answer the server with ICMP port unreachable.
* Relay mode (``key.giaddr``) sets giaddr and hops=1 and sends from port 67, as a relay agent
  does; the server answers to giaddr:67 (the address must route back to this interface).

Privileges: the packet socket needs CAP_NET_RAW, the port below 1024 CAP_NET_BIND_SERVICE (unless
``net.ipv4.ip_unprivileged_port_start`` allows it). Without them the probe returns NO_PRIVILEGE
with the ``setcap`` line that grants them, and sends nothing.

Replies are parsed here (BOOTP header and the options TLV, with RFC 2131 option overload into
``file``/``sname``), never raising on garbage: what cannot be parsed is not a reply. Options are
kept as every instance in wire order; :meth:`DhcpReply.option` joins RFC 3396 splits.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import errno
import ipaddress
import os
import secrets
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ..facts import DhcpProbe, DhcpReplies, DhcpReply, DhcpStatus, ProbeContext

SERVER_PORT = 67
CLIENT_PORT = 68
MAGIC_COOKIE = b"\x63\x82\x53\x63"
BOOTP_MIN_LENGTH = 300  # RFC 1542: relays may drop shorter BOOTP messages; phones pad to it
BOOTREQUEST, BOOTREPLY = 1, 2
DHCPDISCOVER, DHCPINFORM = 1, 8
BROADCAST_FLAG = 0x8000
PARAMETER_REQUEST_LIST = (1, 3, 4, 6, 15, 42, 43, 119, 120)
HOST_NAME = b"lyncready"
MODES = {"inform": DHCPINFORM, "discover": DHCPDISCOVER}
MESSAGE_NAMES = {1: "DHCPDISCOVER", 2: "DHCPOFFER", 3: "DHCPREQUEST", 5: "DHCPACK", 6: "DHCPNAK", 8: "DHCPINFORM"}

# Linux
CAP_NET_BIND_SERVICE = 10
CAP_NET_RAW = 13
ETH_P_IP = 0x0800
ETH_P_8021Q = 0x8100
ARPHRD_ETHER = 1
PACKET_OUTGOING = 4
SIOCGIFFLAGS = 0x8913
SIOCGIFADDR = 0x8915
SIOCGIFHWADDR = 0x8927
IFF_UP = 0x1
SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)
BROADCAST_MAC = "ff:ff:ff:ff:ff:ff"


def _mac_text(mac: bytes) -> str:
    return ":".join(f"{b:02x}" for b in mac)


# --- the request ---------------------------------------------------------------------------------


def build_request(
    *,
    message_type: int,
    xid: int,
    mac: bytes,
    ciaddr: str = "0.0.0.0",
    giaddr: str = "0.0.0.0",
    vendor_class: str | None = "MS-UC-Client",
    broadcast: bool = False,
) -> bytes:
    """The BOOTP/DHCP message (UDP data) a phone sends, padded to the BOOTP minimum of 300 bytes."""
    relayed = giaddr != "0.0.0.0"
    header = struct.pack(
        "!BBBBIHH4s4s4s4s16s64s128s",
        BOOTREQUEST,
        1,  # htype Ethernet
        6,  # hlen
        1 if relayed else 0,  # hops: a relay agent adds one
        xid,
        0,  # secs
        BROADCAST_FLAG if broadcast else 0,
        socket.inet_aton(ciaddr),
        bytes(4),  # yiaddr
        bytes(4),  # siaddr
        socket.inet_aton(giaddr),
        mac.ljust(16, b"\x00"),
        bytes(64),  # sname
        bytes(128),  # file
    )
    options = [(53, bytes([message_type]))]
    if vendor_class is not None:
        options.append((60, vendor_class.encode()))
    options += [
        (55, bytes(PARAMETER_REQUEST_LIST)),
        (61, b"\x01" + mac),  # client identifier: hardware type 1 + MAC, as phones send it
        (12, HOST_NAME),
    ]
    body = b"".join(bytes([code, len(value)]) + value for code, value in options)
    message = header + MAGIC_COOKIE + body + b"\xff"
    return message.ljust(BOOTP_MIN_LENGTH, b"\x00")


# --- replies -------------------------------------------------------------------------------------


def parse_options(data: bytes) -> tuple[list[tuple[int, bytes]], bool]:
    """Options TLV until the end option; pad skipped. Returns (options, complete): a cut option stops it."""
    options: list[tuple[int, bytes]] = []
    i = 0
    while i < len(data):
        code = data[i]
        if code == 0:
            i += 1
            continue
        if code == 255:
            return options, True
        if i + 1 >= len(data):
            return options, False
        length = data[i + 1]
        value = data[i + 2 : i + 2 + length]
        if len(value) < length:
            return options, False
        options.append((code, value))
        i += 2 + length
    return options, True  # no end option: tolerated, everything read


def parse_bootp_reply(
    payload: bytes, *, source: str = "", source_mac: str = "", elapsed: float = 0.0
) -> DhcpReply | None:
    """One BOOTREPLY (UDP data) as a DhcpReply; None when it is not one. Never raises."""
    if len(payload) < 236 or payload[0] != BOOTREPLY:
        return None
    yiaddr = socket.inet_ntoa(payload[16:20])
    giaddr = socket.inet_ntoa(payload[24:28])
    options: list[tuple[int, bytes]] = []
    if payload[236:240] == MAGIC_COOKIE:
        options, _ = parse_options(payload[240:])
        overload = next((v for c, v in options if c == 52), b"")
        if overload[:1] in (b"\x01", b"\x03"):  # RFC 2131: options continue in 'file', then 'sname'
            options += parse_options(payload[108:236])[0]
        if overload[:1] in (b"\x02", b"\x03"):
            options += parse_options(payload[44:108])[0]
    message_type = next((v[0] for c, v in options if c == 53 and v), 0)
    server_id = next((v for c, v in options if c == 54), b"")
    return DhcpReply(
        message_type=message_type,
        server_id=socket.inet_ntoa(server_id) if len(server_id) == 4 else "",
        source=source,
        source_mac=source_mac,
        yiaddr=yiaddr,
        giaddr=giaddr,
        options=tuple(options),
        elapsed=elapsed,
        raw=bytes(payload),
    )


def reply_from_frame(frame: bytes, xid: int, elapsed: float) -> DhcpReply | None:
    """An Ethernet frame carrying IPv4/UDP to port 67 or 68 and a BOOTREPLY with our xid; else None."""
    if len(frame) < 14:
        return None
    source_mac = _mac_text(frame[6:12])
    ethertype = int.from_bytes(frame[12:14], "big")
    offset = 14
    if ethertype == ETH_P_8021Q and len(frame) >= 18:
        ethertype = int.from_bytes(frame[16:18], "big")
        offset = 18
    if ethertype != ETH_P_IP:
        return None
    ip = frame[offset:]
    if len(ip) < 20 or ip[0] >> 4 != 4:
        return None
    ihl = (ip[0] & 0x0F) * 4
    total = int.from_bytes(ip[2:4], "big")
    fragment = int.from_bytes(ip[6:8], "big") & 0x3FFF  # MF flag or an offset: a fragment
    if ip[9] != 17 or fragment or ihl < 20 or total < ihl + 8:
        return None
    ip = ip[:total]  # drop Ethernet padding
    udp = ip[ihl:]
    if len(udp) < 8:
        return None
    dport = int.from_bytes(udp[2:4], "big")
    ulen = int.from_bytes(udp[4:6], "big")
    if dport not in (SERVER_PORT, CLIENT_PORT) or ulen < 8:
        return None
    payload = udp[8:ulen]
    if len(payload) < 8 or int.from_bytes(payload[4:8], "big") != xid:
        return None
    return parse_bootp_reply(payload, source=socket.inet_ntoa(ip[12:16]), source_mac=source_mac, elapsed=elapsed)


# --- the interface and privileges ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Interface:
    name: str
    mac: bytes
    ipv4: str | None
    up: bool


def interface_info(name: str) -> Interface | str:
    """The interface's MAC, IPv4 address and state; a reason string when it cannot be used."""
    import fcntl

    raw = name.encode()
    if not raw or len(raw) > 15 or b"/" in raw:
        return f"no network interface named {name!r}"
    ifreq = struct.pack("16s16x", raw)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            hw = fcntl.ioctl(s.fileno(), SIOCGIFHWADDR, ifreq)
        except OSError as exc:
            if exc.errno in (errno.ENODEV, errno.ENXIO):
                return f"no network interface named {name!r}"
            return f"cannot read interface {name!r}: {exc.strerror or exc}"
        family = struct.unpack_from("H", hw, 16)[0]
        if family != ARPHRD_ETHER:
            return f"interface {name!r} is not an Ethernet interface (hardware type {family}): DHCP needs one"
        try:
            flags = struct.unpack_from("H", fcntl.ioctl(s.fileno(), SIOCGIFFLAGS, ifreq), 16)[0]
        except OSError as exc:
            return f"cannot read interface {name!r}: {exc.strerror or exc}"
        try:
            addr = fcntl.ioctl(s.fileno(), SIOCGIFADDR, ifreq)
            ipv4: str | None = socket.inet_ntoa(addr[20:24])
        except OSError:
            ipv4 = None
    return Interface(name, bytes(hw[18:24]), ipv4, bool(flags & IFF_UP))


def _capabilities() -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("CapEff:"):
                    return int(line.split()[1], 16)
    except (OSError, ValueError):
        pass
    return None


def _unprivileged_port_start() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_unprivileged_port_start", encoding="ascii") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return 1024


def missing_capabilities(port: int = CLIENT_PORT) -> list[str]:
    """The capabilities this process lacks to probe DHCP (raw frames and UDP ``port``)."""
    caps = _capabilities()
    if caps is None:
        caps = ~0 if os.geteuid() == 0 else 0
    missing = []
    if not caps >> CAP_NET_RAW & 1:
        missing.append("CAP_NET_RAW")
    if not caps >> CAP_NET_BIND_SERVICE & 1 and port < _unprivileged_port_start():
        missing.append("CAP_NET_BIND_SERVICE")
    return missing


def privilege_reason(missing: list[str], port: int = CLIENT_PORT) -> str:
    """One sentence: what is missing, why, and how to grant it."""
    which = " and ".join(missing or ["CAP_NET_RAW"])
    noun = "capabilities" if len(missing) > 1 else "capability"
    return (
        f"missing {noun} {which} (a DHCP probe sends raw Ethernet frames and binds UDP port {port}): "
        f"run as root, or grant them with `sudo setcap cap_net_raw,cap_net_bind_service+ep "
        f"$(readlink -f {sys.executable})`"
    )


# --- the exchange --------------------------------------------------------------------------------


@dataclass
class _Plan:
    interface: Interface
    payload: bytes
    xid: int
    src_ip: str
    src_port: int
    server: str | None
    window: float
    stop: threading.Event = field(default_factory=threading.Event)


@dataclass
class _Outcome:
    replies: list[DhcpReply] = field(default_factory=list)
    error: str = ""
    no_privilege: bool = False


def _frame(plan: _Plan) -> bytes:
    """The broadcast Ethernet frame around the request (scapy computes the IP and UDP checksums)."""
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether
    from scapy.packet import Raw

    pkt = (
        Ether(src=_mac_text(plan.interface.mac), dst=BROADCAST_MAC)
        / IP(src=plan.src_ip, dst="255.255.255.255", ttl=64)
        / UDP(sport=plan.src_port, dport=SERVER_PORT)
        / Raw(load=plan.payload)
    )
    return bytes(pkt)


def _udp_socket(plan: _Plan) -> socket.socket | None:
    """A UDP socket on the reply port of the interface (absorbs unicast replies); None when the port is taken."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        s.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, plan.interface.name.encode())
        s.bind(("0.0.0.0", plan.src_port))
    except OSError as exc:
        s.close()
        if exc.errno == errno.EADDRINUSE:
            return None  # another DHCP client or server holds it: the packet socket still sees replies
        raise
    return s


def _exchange(plan: _Plan) -> _Outcome:
    """Blocking: open the packet socket, send the request, collect replies until the window ends."""
    outcome = _Outcome()
    try:
        frame = _frame(plan) if plan.server is None else b""
    except ImportError as exc:
        outcome.error = f"scapy is needed to send a DHCP frame and cannot be imported: {exc}"
        return outcome
    except Exception as exc:  # scapy raises its own exception types
        outcome.error = f"cannot build the DHCP frame: {type(exc).__name__}: {exc}"
        return outcome
    try:
        raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP))
    except PermissionError:
        outcome.no_privilege = True
        return outcome
    except OSError as exc:
        outcome.error = f"cannot open a packet socket: {exc.strerror or exc}"
        return outcome
    udp: socket.socket | None = None
    try:
        raw.bind((plan.interface.name, ETH_P_IP))
        try:
            udp = _udp_socket(plan)
        except PermissionError:  # the port needs CAP_NET_BIND_SERVICE
            outcome.no_privilege = True
            return outcome
        start = time.perf_counter()
        if plan.server is None:
            raw.send(frame)
        else:
            sender = udp
            if sender is None:  # the port is taken: send from any port, replies go to 68 / giaddr:67 anyway
                sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                sender.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, plan.interface.name.encode())
                udp = sender
            sender.sendto(plan.payload, (plan.server, SERVER_PORT))
        deadline = start + plan.window
        while not plan.stop.is_set():
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                break
            raw.settimeout(min(remaining, 0.25))
            try:
                data, address = raw.recvfrom(65535)
            except TimeoutError:
                continue
            if len(address) > 2 and address[2] == PACKET_OUTGOING:
                continue
            try:
                reply = reply_from_frame(data, plan.xid, time.perf_counter() - start)
            except Exception:  # garbage must never end the probe
                reply = None
            if reply is not None:
                outcome.replies.append(reply)
    except PermissionError as exc:  # capabilities were checked: EPERM on send is a local firewall rule
        outcome.error = f"sending on {plan.interface.name} was refused ({exc.strerror}): a local firewall rule?"
    except OSError as exc:
        outcome.error = f"DHCP exchange on {plan.interface.name} failed: {exc.strerror or exc}"
    finally:
        raw.close()
        if udp is not None:
            udp.close()
    return outcome


def _valid_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class _NetnsError:
    reason: str


CLONE_NEWNET = 0x40000000
T = TypeVar("T")


def enter_netns(name: str) -> None:
    """Move the calling thread (only it) into a network namespace: `ip netns` name or a path."""
    import ctypes

    path = name if "/" in name else f"/run/netns/{name}"
    fd = os.open(path, os.O_RDONLY)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
    finally:
        os.close(fd)


async def _in_netns(netns: str | None, fn: Callable[..., T], *args: Any) -> T | _NetnsError:
    """Run blocking ``fn`` in a worker thread, inside ``netns`` when given.

    A namespace switch applies to one thread, so each call gets a fresh thread that ends with it:
    no pooled thread is ever left in another namespace.
    """
    if netns is None:
        return await asyncio.to_thread(fn, *args)

    def run() -> T | _NetnsError:
        try:
            enter_netns(netns)
        except OSError as exc:
            why = "needs CAP_SYS_ADMIN (root)" if exc.errno == errno.EPERM else (exc.strerror or str(exc))
            return _NetnsError(f"cannot enter network namespace {netns!r}: {why}")
        return fn(*args)

    executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="lyncready-netns")
    try:
        return await asyncio.get_running_loop().run_in_executor(executor, run)
    finally:
        executor.shutdown(wait=False)


async def run_dhcp_probe(key: DhcpProbe) -> DhcpReplies:
    """Run one DHCP probe (usable outside an audit). Never raises; failures are DhcpReplies statuses."""
    start = time.perf_counter()

    def fail(status: DhcpStatus, reason: str, *, request: bytes = b"", xid: int = 0, mac: str = "") -> DhcpReplies:
        elapsed = time.perf_counter() - start
        return DhcpReplies(status, reason=reason, request=request, xid=xid, mac=mac, elapsed=elapsed)

    message_type = MODES.get(key.mode)
    if message_type is None:
        return fail(DhcpStatus.ERROR, f"unknown DHCP probe mode {key.mode!r} (use 'inform' or 'discover')")
    for what, value in (("server", key.server), ("giaddr", key.giaddr)):
        if value is not None and not _valid_ipv4(value):
            return fail(DhcpStatus.ERROR, f"{what} {value!r} is not an IPv4 address")
    if not hasattr(socket, "AF_PACKET"):
        return fail(DhcpStatus.ERROR, "DHCP probing needs Linux (raw AF_PACKET sockets)")
    iface = await _in_netns(key.netns, interface_info, key.interface)
    if isinstance(iface, _NetnsError):
        return fail(DhcpStatus.ERROR, iface.reason)
    if isinstance(iface, str):
        return fail(DhcpStatus.ERROR, iface)
    mac = _mac_text(iface.mac)
    if not iface.up:
        return fail(DhcpStatus.ERROR, f"interface {key.interface!r} is down", mac=mac)
    if message_type == DHCPINFORM and iface.ipv4 is None:
        return fail(
            DhcpStatus.ERROR,
            f"interface {key.interface!r} has no IPv4 address: a DHCPINFORM needs one (ciaddr); "
            "use discover mode instead",
            mac=mac,
        )
    port = SERVER_PORT if key.giaddr else CLIENT_PORT
    missing = missing_capabilities(port)
    if missing:
        return fail(DhcpStatus.NO_PRIVILEGE, privilege_reason(missing, port), mac=mac)
    xid = secrets.randbits(32)
    ciaddr = iface.ipv4 if message_type == DHCPINFORM and iface.ipv4 else "0.0.0.0"
    payload = build_request(
        message_type=message_type,
        xid=xid,
        mac=iface.mac,
        ciaddr=ciaddr,
        giaddr=key.giaddr or "0.0.0.0",
        vendor_class=key.vendor_class,
        broadcast=message_type == DHCPDISCOVER,
    )
    src_ip = (iface.ipv4 or key.giaddr) if key.giaddr else ciaddr  # a relay agent sends from its own address
    plan = _Plan(iface, payload, xid, src_ip, port, key.server, max(0.0, key.window))
    try:
        ran = await _in_netns(key.netns, _exchange, plan)
        if isinstance(ran, _NetnsError):
            return fail(DhcpStatus.ERROR, ran.reason, request=payload, xid=xid, mac=mac)
        outcome = ran
    finally:
        plan.stop.set()  # when cancelled, the worker thread ends at its next read
    if outcome.no_privilege:
        reason = privilege_reason(missing_capabilities(port) or ["CAP_NET_RAW"], port)
        return fail(DhcpStatus.NO_PRIVILEGE, reason, mac=mac)
    if outcome.error:
        return fail(DhcpStatus.ERROR, outcome.error, request=payload, xid=xid, mac=mac)
    name = MESSAGE_NAMES[message_type]
    how = f"unicast to {key.server}" if key.server else f"broadcast on {key.interface}"
    if key.giaddr:
        how += f" relayed with giaddr {key.giaddr}"
    if not outcome.replies:
        reason = f"no DHCP reply to our {name} ({how}) within {plan.window:g} s"
        return fail(DhcpStatus.NO_ANSWER, reason, request=payload, xid=xid, mac=mac)
    servers = sorted({r.server_id or r.source for r in outcome.replies})
    return DhcpReplies(
        DhcpStatus.OK,
        reason=f"{len(outcome.replies)} repl{'y' if len(outcome.replies) == 1 else 'ies'} to our {name} ({how}) "
        f"from {', '.join(servers)}",
        replies=tuple(outcome.replies),
        request=payload,
        xid=xid,
        mac=mac,
        elapsed=time.perf_counter() - start,
    )


async def probe_dhcp(key: DhcpProbe, ctx: ProbeContext) -> DhcpReplies:
    """The audit's DHCP probe: one exchange at a time per interface."""
    async with ctx.slot(key.interface):
        return await run_dhcp_probe(key)
