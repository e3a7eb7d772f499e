"""A DHCP lab in network namespaces: a client namespace with a bridge, and DHCP servers next to it.

DHCP broadcasts only travel on a link, so the lab builds one out of network namespaces::

    client namespace (lyncready-<pid>-<n>-c)         server namespaces (lyncready-<pid>-<n>-s1, -s2 ...)
      br0  10.77.1.10/24  (+ 10.77.9.1/24, a relay's giaddr)
        ├── vs1 ──── veth ──── eth0  10.77.1.1/24  (route 10.77.9.0/24 via 10.77.1.10)
        └── vs2 ──── veth ──── eth0  10.77.1.2/24

The veth pairs are created directly inside the namespaces (``ip -n``), so nothing appears in the host's
namespace, and 10.77.x.x exists only there: the namespaces have no route anywhere else, so nothing
sent inside can leave the machine (the system resolver inside fails with "network unreachable").
IPv6 is disabled in them to keep captures quiet. Every namespace name carries the test process's
PID. ``NetLab.close()`` (also run at exit) stops every process it started by PID, then deletes the
namespaces and the temp dir.

Running things in the client namespace: **a subprocess through** ``ip netns exec`` (chosen over
``setns()`` in a worker thread: the probe, the CLI and tshark all run exactly as a user runs them,
each process gets its own view of interfaces, and a privilege drop with ``setpriv`` is one more
argv prefix). ``lab.command(argv)`` builds the argv, ``lab.run(argv)`` runs it, and
``lab.probe(DhcpProbe(...))`` runs ``run_dhcp_probe`` there and returns the ``DhcpReplies``
(decoded from JSON on stdout). For the CLI: ``lab.run(["lyncready", "audit", "--interface", "br0", ...])``.

Servers (all stopped by PID; configuration, pid file, lease file and log in the lab's temp dir):

* ``lab.dnsmasq(server)``: dnsmasq 2.90 as DHCP server only (``port=0``), ``no-ping`` (it answers at
  once), ``user=root`` (the temp dir is 0700). Options 3/4/6/42 = the server's address, 15, 119, 120,
  and option 43 for vendor class MS-UC-Client through ``dhcp-option=vendor:MS-UC-Client,N,"value"``
  (all-digit values quoted, else ``4,443`` becomes a 2-byte integer). dnsmasq emits sub-options in
  reverse order with a 0xFF end byte, compresses 119, adds 120's encoding byte 0 itself.
* ``lab.kea(server)``: kea-dhcp4 2.2 with a JSON config checked by ``kea-dhcp4 -t`` inside the
  namespace; ``KEA_PIDFILE_DIR`` / ``KEA_LOCKFILE_DIR`` point at the temp dir; memfile leases with
  ``lfc-interval: 0`` (no kea-lfc child). Option 120 is defined as a record ``uint8, fqdn``; option 43 is
  redefined globally as ``empty`` encapsulating space ``ms-uc-client`` (sub-options 1-5 as strings),
  and sent only through the client class ``option[60].text == 'MS-UC-Client'``. Kea answers a
  DHCPINFORM to ciaddr port 68.
* ``lab.dnsmasq(server, broken=True)`` (options default to ``BROKEN``: a web FQDN long enough for 43
  to pass 90 bytes): the classic mistakes, as dnsmasq 2.90 can make them:

  - option 43 cut at 90 bytes (Cisco IOS's 180 hex characters): a raw value needs
    ``dhcp-vendorclass=set:msuc,MS-UC-Client`` + ``dhcp-option=tag:msuc,43,01:0c:4d:...`` (hex with
    colons; ``vendor:`` entries are always re-encoded by dnsmasq with correct lengths);
  - option 120 as raw ASCII: ``dhcp-option=120,6c:79:6e:63:...`` (hex is taken as is for 120);
  - option 119 "as text": **dnsmasq cannot put raw text in 119**. It parses 119 as domain names
    whatever the form: hex is refused ("bad domain in dhcp-option") and
    ``dhcp-option=119,"contoso.com;corp.contoso.com"`` becomes RFC 1035 labels
    ``07 contoso 08 com;corp 07 contoso 03 com 00`` (a label holding ';'). That is what ``broken=True``
    sends. Kea 2.2 cannot either: ``csv-format: false`` data for 119 is validated against the
    definition ("unknown label character"), and redefining 119 is refused (globally and in a class).
* ``lab.scripted(server, options=[(119, b"contoso.com;corp.contoso.com"), ...])``: a tiny DHCP
  responder (Python, in the server namespace, UDP port 67) that answers every DISCOVER/INFORM with
  exactly the raw options given, in order (repeat a code to split an option as RFC 3396 allows). The
  way to put on the wire what no real server will (raw-text 119, compression loops...).

Relay: the client's bridge also holds 10.77.9.1/24 (``RELAY_GIADDR``) and every server routes
10.77.9.0/24 back through the client; dnsmasq gets a ``dhcp-range`` and Kea a ``subnet4`` for it.
A probe with ``giaddr=RELAY_GIADDR`` (unicast to a server) then gets its replies at 10.77.9.1 port 67
on br0: an OFFER from the 10.77.9.0/24 scope from both servers. A relayed INFORM: dnsmasq answers to
giaddr:67 (giaddr echoed), Kea straight to ciaddr:68 (giaddr 0).

Capture: ``with lab.capture() as cap: ...`` runs tshark in the client namespace (``-n``: no name
resolution) into a pcapng file; the block starts once tshark says it captures and 2 s after its start
(lab.md: a capture started later may miss the first packet); after the block
``cap.fields("dhcp.option.vendor_class_id")`` reads fields back.

Fixtures: ``netlab`` (one lab per test) and ``netlab_module`` (one per module); or ``with NetLab() as lab``.
Without root (no ``ip netns add``) the tests skip, or fail under ``CI=true``; same for missing binaries.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from realservers import START_TIMEOUT, Daemon, ServerError, find_binary, in_ci, require_binary

from lyncready.facts import DhcpProbe, DhcpReplies, DhcpReply, DhcpStatus

LAN = "10.77.1"  # the bridge's /24
CLIENT_ADDRESS = f"{LAN}.10"
RELAY_NET = "10.77.9"  # a remote scope, reached through a relay whose giaddr is on br0
RELAY_GIADDR = f"{RELAY_NET}.1"
BRIDGE = "br0"
SERVER_IFACE = "eth0"
CERTPROV_PATH = "/CertProv/CertProvisioningService.svc"
MS_UC_CLIENT = "MS-UC-Client"
TRUNCATE_43_AT = 90  # bytes: Cisco IOS's 180 hex characters

_SEQ = itertools.count(1)
_LABS: list[NetLab] = []


# --- privileges and commands ---------------------------------------------------------------------


def _skip_or_fail(message: str) -> None:
    if in_ci():
        pytest.fail(f"{message}; CI=true: the network namespace lab is required", pytrace=False)
    pytest.skip(message)


def require_netns() -> str:
    """The ``ip`` binary, when this process can create network namespaces; skip (fail under CI) otherwise."""
    ip = require_binary("ip")
    if os.geteuid() != 0:
        _skip_or_fail("network namespaces need root (ip netns add)")
    name = f"lyncready-{os.getpid()}-check"
    out = subprocess.run([ip, "netns", "add", name], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        _skip_or_fail(f"cannot create a network namespace: {out.stderr.strip()}")
    subprocess.run([ip, "netns", "del", name], capture_output=True, check=False)
    return ip


def as_user(user: str) -> list[str]:
    """A command prefix that runs the rest as ``user`` with no capabilities (``setpriv``)."""
    group = "nogroup" if user == "nobody" else user
    return [require_binary("setpriv"), f"--reuid={user}", f"--regid={group}", "--clear-groups"]


def without_capabilities(*caps: str) -> list[str]:
    """A command prefix that runs the rest as root minus ``caps`` (e.g. ``"net_raw"``), via ``setpriv``."""
    drop = ",".join(f"-{c.lower().removeprefix('cap_')}" for c in caps)
    return [require_binary("setpriv"), f"--inh-caps={drop}", f"--bounding-set={drop}"]


def ns_command(namespace: str, argv: Sequence[str], *, wrap: Sequence[str] = ()) -> list[str]:
    """``argv`` run inside ``namespace`` (``ip netns exec``), behind the ``wrap`` prefix (``as_user(...)``)."""
    return [find_binary("ip") or "ip", "netns", "exec", namespace, *wrap, *argv]


def _check(argv: Sequence[str], what: str) -> str:
    out = subprocess.run(list(argv), capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise ServerError(f"{what} failed ({' '.join(argv)}): {(out.stderr or out.stdout).strip()}")
    return out.stdout


def _netns_inode(namespace: str) -> int:
    return Path(f"/run/netns/{namespace}").stat().st_ino


def _udp_port_bound(pid: int, port: int) -> bool:
    """True when a socket of ``pid``'s network namespace is bound to UDP ``port``."""
    try:
        lines = Path(f"/proc/{pid}/net/udp").read_text().splitlines()[1:]
    except OSError:
        return False
    locals_ = [line.split()[1] for line in lines if len(line.split()) > 1]
    return any(local.endswith(f":{port:04X}") for local in locals_)


def _in_namespace(pid: int, namespace: str) -> bool:
    try:
        return Path(f"/proc/{pid}/ns/net").stat().st_ino == _netns_inode(namespace)
    except OSError:
        return False


# --- replies across the process boundary -----------------------------------------------------------

# argv[1]: the DhcpProbe fields as JSON; argv[2] "audit": through a FactStore (probe_dhcp and ctx.slot)
_PROBE_DRIVER = """
import asyncio, dataclasses, json, sys
from lyncready.facts import DhcpProbe
from lyncready.probes.dhcp import probe_dhcp, run_dhcp_probe
key = DhcpProbe(**json.loads(sys.argv[1]))

async def audit():
    from lyncready import build_options
    from lyncready.facts import FactStore
    return await FactStore({DhcpProbe: probe_dhcp}, build_options()).get(key)

result = asyncio.run(audit() if sys.argv[2:] == ["audit"] else run_dhcp_probe(key))
print(json.dumps(dataclasses.asdict(result), default=lambda b: b.hex()))
"""


def replies_from_json(data: dict[str, Any]) -> DhcpReplies:
    """The ``DhcpReplies`` the probe driver printed (bytes travel as hex)."""
    replies = tuple(
        DhcpReply(
            message_type=r["message_type"],
            server_id=r["server_id"],
            source=r["source"],
            source_mac=r["source_mac"],
            yiaddr=r["yiaddr"],
            giaddr=r["giaddr"],
            options=tuple((int(code), bytes.fromhex(value)) for code, value in r["options"]),
            elapsed=r["elapsed"],
            raw=bytes.fromhex(r["raw"]),
        )
        for r in data["replies"]
    )
    return DhcpReplies(
        status=DhcpStatus(data["status"]),
        reason=data["reason"],
        replies=replies,
        request=bytes.fromhex(data["request"]),
        xid=data["xid"],
        mac=data["mac"],
        elapsed=data["elapsed"],
    )


# --- what the servers hand out ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DhcpOptions:
    """The scope a Lync phone wants. Empty router/dns/time/ntp: the server's own address."""

    sip_fqdn: str = "lync.example.test"  # option 120
    web_fqdn: str = "lync.example.test"  # option 43 sub-option 3
    scheme: str = "https"  # 43.2
    port: str = "443"  # 43.4 (a string: dnsmasq would make "443" a 2-byte integer unquoted)
    path: str = CERTPROV_PATH  # 43.5
    search: tuple[str, ...] = ("example.test", "corp.example.test")  # option 119
    domain: str = "example.test"  # option 15
    router: str = ""
    dns: str = ""
    time: str = ""  # option 4
    ntp: str = ""  # option 42

    def sub_options(self) -> list[tuple[int, str]]:
        return [(1, MS_UC_CLIENT), (2, self.scheme), (3, self.web_fqdn), (4, self.port), (5, self.path)]

    def option43(self) -> bytes:
        """Option 43 as a well-behaved server sends it: sub-options 1-5 in order, no end byte."""
        return b"".join(bytes([code, len(v.encode())]) + v.encode() for code, v in self.sub_options())


# A web FQDN long enough for option 43 to pass 90 bytes: what Cisco IOS then cuts (sub-option 5 arrives short).
BROKEN = DhcpOptions(web_fqdn="lyncpool01.frontend.corp.example.test")


def _hex_colons(data: bytes) -> str:
    return ":".join(f"{b:02x}" for b in data)


# --- the lab ---------------------------------------------------------------------------------------


@dataclass
class ServerNs:
    """A server namespace attached to the client's bridge by a veth pair."""

    name: str
    address: str
    index: int


@dataclass
class DhcpServer:
    kind: str  # "dnsmasq", "kea", "scripted"
    ns: ServerNs
    daemon: Daemon
    lease_file: Path | None
    config: Path

    @property
    def address(self) -> str:
        return self.ns.address

    @property
    def pid(self) -> int:
        return self.daemon.pid

    def leases(self) -> str:
        """The lease file as it is on disk now ("" when there is none)."""
        if self.lease_file is None:
            return ""
        try:
            return self.lease_file.read_text()
        except FileNotFoundError:
            return ""

    def log(self, tail: int = 100_000) -> str:
        return self.daemon.log(tail)

    def stop(self) -> None:
        self.daemon.stop()


@dataclass
class Capture:
    path: Path
    daemon: Daemon

    def fields(self, *names: str, display_filter: str = "dhcp") -> list[list[str]]:
        """One row per packet matching ``display_filter``: the values of ``names`` (tshark -T fields)."""
        tshark = require_binary("tshark")
        argv = [tshark, "-n", "-r", str(self.path), "-Y", display_filter, "-T", "fields", "-E", "occurrence=a"]
        for name in names:
            argv += ["-e", name]
        out = _check(argv, "reading the capture")
        return [line.split("\t") for line in out.splitlines() if line.strip()]


class NetLab:
    """The client namespace with its bridge, server namespaces, and every process started in them."""

    def __init__(self) -> None:
        self.ip = require_netns()
        self.workdir = Path(tempfile.mkdtemp(prefix="lyncready-netlab-"))
        self.prefix = f"lyncready-{os.getpid()}-{next(_SEQ)}"
        self.client = f"{self.prefix}-c"
        self.namespaces: list[str] = []
        self.servers: list[ServerNs] = []
        self.daemons: list[Daemon] = []
        _LABS.append(self)
        try:
            self._add_namespace(self.client)
            self._ipn(self.client, "link", "add", BRIDGE, "type", "bridge", "forward_delay", "0", "stp_state", "0")
            self._ipn(self.client, "link", "set", BRIDGE, "up")
            self._ipn(self.client, "addr", "add", f"{CLIENT_ADDRESS}/24", "dev", BRIDGE)
            self._ipn(self.client, "addr", "add", f"{RELAY_GIADDR}/24", "dev", BRIDGE)
        except BaseException:
            self.close()
            raise

    # namespaces ------------------------------------------------------------------------------------

    def _ipn(self, namespace: str, *args: str) -> str:
        return _check([self.ip, "-n", namespace, *args], "ip")

    def _add_namespace(self, name: str) -> None:
        _check([self.ip, "netns", "add", name], "ip netns add")
        self.namespaces.append(name)
        self._ipn(name, "link", "set", "lo", "up")
        sysctl = find_binary("sysctl")
        if sysctl:  # no IPv6: no router solicitations or MLD reports in the captures
            subprocess.run(
                ns_command(
                    name,
                    [sysctl, "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"],
                ),
                capture_output=True,
                check=False,
            )

    def add_server(self) -> ServerNs:
        """A new server namespace on the bridge: eth0 = 10.77.1.<n>/24, a route to the relay subnet."""
        index = len(self.servers) + 1
        server = ServerNs(f"{self.prefix}-s{index}", f"{LAN}.{index}", index)
        self._add_namespace(server.name)
        port = f"vs{index}"
        self._ipn(self.client, "link", "add", port, "type", "veth", "peer", "name", SERVER_IFACE, "netns", server.name)
        self._ipn(self.client, "link", "set", port, "master", BRIDGE)
        self._ipn(self.client, "link", "set", port, "up")
        self._ipn(server.name, "link", "set", SERVER_IFACE, "up")
        self._ipn(server.name, "addr", "add", f"{server.address}/24", "dev", SERVER_IFACE)
        self._ipn(server.name, "route", "add", f"{RELAY_NET}.0/24", "via", CLIENT_ADDRESS)
        self.servers.append(server)
        return server

    # commands in the client namespace --------------------------------------------------------------

    def command(
        self,
        argv: Sequence[str],
        *,
        user: str | None = None,
        wrap: Sequence[str] = (),
        namespace: str | None = None,
    ) -> list[str]:
        """``argv`` prefixed to run in the client namespace (or ``namespace``).

        ``user``: as that user, without capabilities; ``wrap``: any other prefix (``without_capabilities(...)``).
        A first element ``"lyncready"`` or ``"python"`` is resolved to this virtualenv's script / interpreter.
        """
        argv = list(argv)
        if argv and argv[0] == "python":
            argv[0] = sys.executable
        elif argv and argv[0] == "lyncready":
            argv[0] = str(Path(sys.executable).with_name("lyncready"))
        prefix = [*wrap, *(as_user(user) if user else [])]
        return ns_command(namespace or self.client, argv, wrap=prefix)

    def run(
        self,
        argv: Sequence[str],
        *,
        user: str | None = None,
        wrap: Sequence[str] = (),
        timeout: float = 60.0,
        namespace: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` in the client namespace; stdout/stderr captured as text, never raises on exit status."""
        return subprocess.run(
            self.command(argv, user=user, wrap=wrap, namespace=namespace),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )

    def probe(
        self, key: DhcpProbe, *, user: str | None = None, wrap: Sequence[str] = (), audit: bool = False
    ) -> DhcpReplies:
        """``run_dhcp_probe(key)`` in a subprocess in the client namespace (``audit``: through a FactStore)."""
        args = [json.dumps(dataclasses.asdict(key))] + (["audit"] if audit else [])
        out = self.run(["python", "-c", _PROBE_DRIVER, *args], user=user, wrap=wrap, timeout=key.window + 30)
        if out.returncode != 0:
            raise AssertionError(f"the probe process failed ({out.returncode}):\n{out.stderr[-3000:]}")
        return replies_from_json(json.loads(out.stdout))

    # processes ---------------------------------------------------------------------------------------

    def start(self, name: str, argv: Sequence[str], namespace: str, env: dict[str, str] | None = None) -> Daemon:
        """A daemon in ``namespace`` (``ip netns exec`` execs it: the PID is the daemon's own)."""
        full = ns_command(namespace, argv)
        if env:
            with _environ(env):
                daemon = Daemon(name, full, self.workdir)
        else:
            daemon = Daemon(name, full, self.workdir)
        self.daemons.append(daemon)
        return daemon

    def _wait_dhcp(self, daemon: Daemon, namespace: str) -> None:
        def ready() -> bool:
            return _in_namespace(daemon.pid, namespace) and _udp_port_bound(daemon.pid, 67)

        daemon.wait_ready(ready, f"bound to UDP 67 in {namespace}")

    def dnsmasq(
        self,
        server: ServerNs | None = None,
        options: DhcpOptions | None = None,
        *,
        broken: bool = False,
        extra: Sequence[str] = (),
    ) -> DhcpServer:
        """dnsmasq as the DHCP server of ``server`` (a new server namespace when None)."""
        binary = require_binary("dnsmasq")
        server = server or self.add_server()
        options = options or (BROKEN if broken else DhcpOptions())
        own = server.address
        name = f"dnsmasq-s{server.index}"
        leases = self.workdir / f"{name}.leases"
        lines = [
            "port=0",  # no DNS
            f"interface={SERVER_IFACE}",
            "bind-interfaces",
            "keep-in-foreground",
            "log-facility=-",
            "log-dhcp",
            "user=root",
            "no-ping",
            f"dhcp-range={LAN}.100,{LAN}.149,255.255.255.0,1h",
            f"dhcp-range={RELAY_NET}.100,{RELAY_NET}.149,255.255.255.0,1h",
            f"dhcp-leasefile={leases}",
            f"pid-file={self.workdir / (name + '.pid')}",
            f"dhcp-option=3,{options.router or own}",
            f"dhcp-option=6,{options.dns or own}",
            f"dhcp-option=15,{options.domain}",
            f"dhcp-option=4,{options.time or own}",
            f"dhcp-option=42,{options.ntp or own}",
        ]
        if broken:
            if len(options.option43()) <= TRUNCATE_43_AT:
                raise ValueError(f"option 43 is {len(options.option43())} bytes: too short to be cut (see BROKEN)")
            truncated = options.option43()[:TRUNCATE_43_AT]
            lines += [
                f'dhcp-option=119,"{";".join(options.search)}"',
                f"dhcp-option=120,{_hex_colons(options.sip_fqdn.encode())}",
                f"dhcp-vendorclass=set:msuc,{MS_UC_CLIENT}",
                f"dhcp-option=tag:msuc,43,{_hex_colons(truncated)}",
            ]
        else:
            lines += [f"dhcp-option=119,{','.join(options.search)}", f"dhcp-option=120,{options.sip_fqdn}"]
            lines += [f'dhcp-option=vendor:{MS_UC_CLIENT},{code},"{v}"' for code, v in options.sub_options()]
        lines += list(extra)
        config = self.workdir / f"{name}.conf"
        config.write_text("\n".join(lines) + "\n")
        daemon = self.start(name, [binary, f"--conf-file={config}"], server.name)
        self._wait_dhcp(daemon, server.name)
        return DhcpServer("dnsmasq", server, daemon, leases, config)

    def kea_config(self, server: ServerNs, options: DhcpOptions, leases: Path) -> dict[str, Any]:
        own = server.address
        common = [
            {"name": "routers", "data": options.router or own},
            {"name": "domain-name-servers", "data": options.dns or own},
            {"name": "domain-name", "data": options.domain},
            {"name": "time-servers", "data": options.time or own},
            {"name": "ntp-servers", "data": options.ntp or own},
            {"name": "domain-search", "data": ", ".join(options.search)},
            {"name": "sip-server", "data": f"0, {options.sip_fqdn}"},
        ]
        sub_names = ["uc-identifier", "url-scheme", "web-fqdn", "web-port", "cert-prov-path"]
        return {
            "Dhcp4": {
                "interfaces-config": {"interfaces": [SERVER_IFACE]},
                "lease-database": {"type": "memfile", "name": str(leases), "lfc-interval": 0},
                "valid-lifetime": 3600,
                "option-def": [
                    {
                        "name": "sip-server",
                        "code": 120,
                        "space": "dhcp4",
                        "type": "record",
                        "record-types": "uint8, fqdn",
                    },
                    {
                        "name": "ms-uc-vendor",
                        "code": 43,
                        "space": "dhcp4",
                        "type": "empty",
                        "encapsulate": "ms-uc-client",
                    },
                    *(
                        {"name": n, "code": code, "space": "ms-uc-client", "type": "string"}
                        for n, (code, _) in zip(sub_names, options.sub_options(), strict=True)
                    ),
                ],
                "client-classes": [
                    {
                        "name": MS_UC_CLIENT,
                        "test": f"option[60].text == '{MS_UC_CLIENT}'",
                        "option-data": [
                            {"name": "ms-uc-vendor", "space": "dhcp4"},
                            *(
                                {"name": n, "space": "ms-uc-client", "data": v}
                                for n, (_, v) in zip(sub_names, options.sub_options(), strict=True)
                            ),
                        ],
                    }
                ],
                "subnet4": [
                    {
                        "id": 1,
                        "subnet": f"{LAN}.0/24",
                        "pools": [{"pool": f"{LAN}.150 - {LAN}.199"}],
                        "option-data": common,
                    },
                    {
                        "id": 9,
                        "subnet": f"{RELAY_NET}.0/24",
                        "pools": [{"pool": f"{RELAY_NET}.150 - {RELAY_NET}.199"}],
                        "option-data": common,
                    },
                ],
                "loggers": [{"name": "kea-dhcp4", "output_options": [{"output": "stdout"}], "severity": "INFO"}],
            }
        }

    def kea(self, server: ServerNs | None = None, options: DhcpOptions | None = None) -> DhcpServer:
        """kea-dhcp4 as the DHCP server of ``server`` (a new server namespace when None)."""
        binary = require_binary("kea-dhcp4")
        server = server or self.add_server()
        name = f"kea-s{server.index}"
        leases = self.workdir / f"{name}.leases.csv"
        config = self.workdir / f"{name}.json"
        config.write_text(json.dumps(self.kea_config(server, options or DhcpOptions(), leases), indent=1))
        env = {"KEA_PIDFILE_DIR": str(self.workdir), "KEA_LOCKFILE_DIR": str(self.workdir)}
        with _environ(env):
            _check(ns_command(server.name, [binary, "-t", str(config)]), "kea-dhcp4 -t (config check)")
        daemon = self.start(name, [binary, "-c", str(config)], server.name, env)
        self._wait_dhcp(daemon, server.name)
        return DhcpServer("kea", server, daemon, leases, config)

    def scripted(
        self,
        server: ServerNs | None = None,
        options: Sequence[tuple[int, bytes]] = (),
        *,
        message_type: int | None = None,
        only_ms_uc_client: bool = False,
    ) -> DhcpServer:
        """A minimal responder that answers DISCOVER/INFORM with exactly ``options`` (raw values, in order).

        ``message_type``: None answers OFFER/ACK; 6 answers DHCPNAK (broadcast, as RFC 2131 says).
        ``only_ms_uc_client``: send ``options`` only to clients with option 60 MS-UC-Client.
        """
        server = server or self.add_server()
        name = f"scripted-s{server.index}"
        config = self.workdir / f"{name}.json"
        spec = {
            "address": server.address,
            "iface": SERVER_IFACE,
            "options": [[c, v.hex()] for c, v in options],
            "message_type": message_type,
            "only_ms_uc_client": only_ms_uc_client,
        }
        config.write_text(json.dumps(spec))
        daemon = self.start(name, [sys.executable, "-u", "-c", _RESPONDER, str(config)], server.name)
        self._wait_dhcp(daemon, server.name)
        return DhcpServer("scripted", server, daemon, None, config)

    @contextlib.contextmanager
    def capture(
        self,
        interface: str = BRIDGE,
        capture_filter: str = "udp port 67 or udp port 68",
        namespace: str | None = None,
        lead: float = 2.0,
    ) -> Iterator[Capture]:
        """tshark on ``interface`` of the client namespace for the duration of the block.

        The block starts ``lead`` seconds after tshark (lab.md: a capture started later than about 2 s
        before the first packet may miss it), and at least once tshark says it is capturing.
        """
        tshark = require_binary("tshark")
        path = self.workdir / f"capture-{next(_SEQ)}.pcapng"
        daemon = self.start(
            path.stem,
            [tshark, "-n", "-q", "-i", interface, "-f", capture_filter, "-w", str(path)],
            namespace or self.client,
        )
        start = time.monotonic()
        daemon.wait_ready(lambda: "Capture started" in daemon.log() or "Capturing on" in daemon.log(), "capturing")
        time.sleep(max(0.0, lead - (time.monotonic() - start)))
        try:
            yield Capture(path, daemon)
        finally:
            time.sleep(0.3)  # let dumpcap write the last packets
            if daemon.alive():
                with contextlib.suppress(ProcessLookupError):
                    daemon.proc.send_signal(signal.SIGINT)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    daemon.proc.wait(5)
            daemon.stop()

    # teardown -------------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop every process by PID, delete the namespaces, remove the temp dir. Safe to call twice."""
        while self.daemons:
            self.daemons.pop().stop()
        while self.namespaces:
            name = self.namespaces.pop()
            subprocess.run([self.ip, "netns", "del", name], capture_output=True, check=False)
        shutil.rmtree(self.workdir, ignore_errors=True)
        if self in _LABS:
            _LABS.remove(self)

    def __enter__(self) -> NetLab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def _environ(env: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@atexit.register
def _close_leftovers() -> None:  # an interrupted run must not leave namespaces behind
    for lab in list(_LABS):
        lab.close()


# --- the scripted responder (runs in a server namespace) -------------------------------------------

_RESPONDER = r"""
import json, socket, sys
spec = json.load(open(sys.argv[1]))
own = socket.inet_aton(spec["address"])
extra = b"".join(bytes([c, len(bytes.fromhex(v))]) + bytes.fromhex(v) for c, v in spec["options"])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, spec["iface"].encode())
s.bind(("0.0.0.0", 67))
print("listening", flush=True)
while True:
    data, peer = s.recvfrom(4096)
    if len(data) < 240 or data[0] != 1 or data[236:240] != b"\x63\x82\x53\x63":
        continue
    i, kind, vendor = 240, 0, b""
    while i + 1 < len(data) and data[i] != 255:
        if data[i] == 0:
            i += 1
            continue
        if data[i] == 53:
            kind = data[i + 2]
        if data[i] == 60:
            vendor = data[i + 2 : i + 2 + data[i + 1]]
        i += 2 + data[i + 1]
    if kind not in (1, 8):
        continue
    answer = spec["message_type"] or (2 if kind == 1 else 5)
    xid, flags, ciaddr, giaddr = data[4:8], data[10:12], data[12:16], data[24:28]
    yiaddr = own[:3] + bytes([123]) if answer == 2 else bytes(4)
    opts = extra if (vendor == b"MS-UC-Client" or not spec["only_ms_uc_client"]) else b""
    reply = (bytes([2, 1, 6, 0]) + xid + bytes(2) + flags + ciaddr + yiaddr + own + giaddr + data[28:236]
             + b"\x63\x82\x53\x63" + bytes([53, 1, answer, 54, 4]) + own + opts + b"\xff")
    if giaddr != bytes(4):
        dest = (socket.inet_ntoa(giaddr), 67)
    elif ciaddr != bytes(4) and answer != 6:
        dest = (socket.inet_ntoa(ciaddr), 68)
    else:
        dest = ("255.255.255.255", 68)  # RFC 2131 4.1: a DHCPNAK is broadcast
    s.sendto(reply, dest)
    print("answered", kind, "with", answer, "xid", xid.hex(), "to", dest, flush=True)
"""


# --- fixtures --------------------------------------------------------------------------------------


@pytest.fixture
def netlab() -> Iterator[NetLab]:
    """A fresh lab (client namespace + bridge) for one test; servers via ``netlab.dnsmasq()`` etc."""
    with NetLab() as lab:
        yield lab


@pytest.fixture(scope="module")
def netlab_module() -> Iterator[NetLab]:
    """The same, shared by the tests of one module."""
    with NetLab() as lab:
        yield lab


__all__ = [
    "BRIDGE",
    "BROKEN",
    "CLIENT_ADDRESS",
    "LAN",
    "RELAY_GIADDR",
    "RELAY_NET",
    "START_TIMEOUT",
    "Capture",
    "DhcpOptions",
    "DhcpServer",
    "NetLab",
    "ServerNs",
    "as_user",
    "netlab",
    "netlab_module",
    "ns_command",
    "replies_from_json",
    "require_netns",
    "without_capabilities",
]
