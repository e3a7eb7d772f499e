"""Real servers for integration tests: dnsmasq (DNS), chronyd (NTP) and nginx (HTTP/HTTPS) on loopback.

Each server is a child process listening on a free high port of 127.0.0.x, with its configuration,
pid file and log in a temporary directory. It is stopped by its own PID (SIGTERM, then SIGKILL) and
the directory is removed. Nothing here sends a packet outside 127.0.0.0/8, and nothing uses the
system resolver: the DNS helpers pin dnspython to the lab server (``Resolver(configure=False)``).

Use in tests (fixtures are re-exported by ``tests/conftest.py``)::

    def test_something(realservers, lab_pki):
        dns = realservers.dns(srv=[Srv("_sipinternaltls._tcp.example.test", "lync.example.test", 5061)],
                              a={"lync.example.test": "127.0.0.1"})
        ntp = realservers.ntp()
        web = realservers.web([Site("plain"), Site("tls", tls=Tls(names=("lync.example.test",)))], lab_pki)
        options = build_options(nameservers=[dns.nameserver], ca_bundle=str(lab_pki.ca_bundle))

What dnsmasq 2.90 does (measured on Debian 12, see ``start_dnsmasq``):

* a name inside a ``--local=/zone/`` that has no record: NXDOMAIN; a name with records of other
  types only (or the zone apex): NOERROR with an empty answer (NODATA).
* a name outside every zone, with ``--no-resolv`` and no ``--server``: REFUSED (log: "config error is
  REFUSED (EDE: not ready)"). An upstream's REFUSED is passed through as REFUSED. A ``--server``
  pointing at dnsmasq's own address and port is ignored ("ignoring nameserver - local interface").
* ``--server=/zone/127.0.0.1#<closed port>``: **no answer at all** (the client times out; 15 s seen),
  not SERVFAIL. ``--server=/zone/#`` with no general server: REFUSED.
* SERVFAIL: only from DNSSEC validation. A dnsmasq with ``--dnssec`` and a made-up root trust anchor
  that forwards to a second dnsmasq through a *general* ``--server=`` (domain-specific servers are
  marked "no DNSSEC" and never validated) answers SERVFAIL within milliseconds for every forwarded
  name the upstream answers: the DS query for the parent is REFUSED upstream, so validation is
  "ABANDONED". Its own ``--local`` zones are answered normally. ``servfail_zones=`` does this.
* ``--cname`` to a name nobody serves: NOERROR with the CNAME alone (not NXDOMAIN).
* without ``--local-ttl`` local records get TTL 0.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.resolver
import pytest
import trustme

LOOPBACK = "127.0.0.1"
CERTPROV_PATH = "/CertProv/CertProvisioningService.svc"
WEBTICKET_PATH = "/WebTicket/WebTicketService.svc"
BOOTSTRAP_PATHS = (CERTPROV_PATH, WEBTICKET_PATH)
START_TIMEOUT = 10.0
_SBIN = ("/usr/local/sbin", "/usr/sbin", "/sbin")

# A made-up DS for the root: any validation through it fails, which is how dnsmasq answers SERVFAIL.
_FAKE_ROOT_ANCHOR = ".,12345,8,2,49FD46E6C4B45C55D4AC69CBD3CD34AC1AFE51DE8BA8B7E03A2F3E5F8D1B5C7E"


class ServerError(RuntimeError):
    """A server did not start (the message carries the end of its log)."""


# --- binaries, CI, ports -----------------------------------------------------------------------------


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def find_binary(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path=os.pathsep.join(_SBIN))


def require_binary(name: str) -> str:
    """The path of ``name``; skip the test when it is missing, but fail it under ``CI=true``."""
    path = find_binary(name)
    if path is None:
        message = f"{name} is not installed (scripts/setup installs it)"
        if in_ci():
            pytest.fail(f"{message}; CI=true: a missing server binary fails the run", pytrace=False)
        pytest.skip(message)
    return path


def _bindable(address: str, port: int, kind: int) -> bool:
    with socket.socket(socket.AF_INET, kind) as s:
        try:
            s.bind((address, port))
        except OSError:
            return False
    return True


def free_port(address: str = LOOPBACK, *, udp: bool = True, tcp: bool = True) -> int:
    """A high port (from the kernel's ephemeral range) on ``address`` that is free for UDP and/or TCP."""
    first = socket.SOCK_DGRAM if udp else socket.SOCK_STREAM
    for _ in range(100):
        with socket.socket(socket.AF_INET, first) as s:
            s.bind((address, 0))
            port = int(s.getsockname()[1])
        if (not udp or _bindable(address, port, socket.SOCK_DGRAM)) and (
            not tcp or _bindable(address, port, socket.SOCK_STREAM)
        ):
            return port
    raise ServerError(f"no free port on {address}")


def closed_port(address: str = LOOPBACK) -> int:
    """A port where nothing listens (UDP answers ICMP port unreachable, TCP answers RST)."""
    return free_port(address)


@contextlib.contextmanager
def silent_udp(address: str = LOOPBACK) -> Iterator[int]:
    """A bound UDP socket that never reads nor answers: a black hole (queries time out)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((address, 0))
        yield int(s.getsockname()[1])


@contextlib.contextmanager
def silent_tcp(address: str = LOOPBACK) -> Iterator[int]:
    """A listening TCP socket that never accepts: the kernel completes the handshake, nobody speaks."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((address, 0))
        s.listen(16)
        yield int(s.getsockname()[1])


def tcp_open(address: str, port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


# --- processes ---------------------------------------------------------------------------------------

_RUNNING: dict[int, Daemon] = {}


class Daemon:
    """One child process, started in the foreground with its output in a log file, stopped by PID."""

    def __init__(self, name: str, argv: Sequence[str], workdir: Path) -> None:
        self.name = name
        self.argv = list(argv)
        self.workdir = workdir
        self.log_path = workdir / f"{name}.log"
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=workdir
            )
        self.pid = self.proc.pid
        _RUNNING[self.pid] = self

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log(self, tail: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except OSError:
            return ""

    def wait_ready(self, ready: Callable[[], bool], what: str, timeout: float = START_TIMEOUT) -> float:
        """Poll ``ready`` until it is true; returns the seconds it took. Raises if the process dies."""
        start = time.monotonic()
        while True:
            if not self.alive():
                code = self.proc.returncode
                self.stop()
                raise ServerError(f"{self.name} exited with status {code} before {what}:\n{self.log()}")
            if ready():
                return time.monotonic() - start
            if time.monotonic() - start > timeout:
                self.stop()
                raise ServerError(f"{self.name}: not {what} after {timeout:g} s:\n{self.log()}")
            time.sleep(0.02)

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM to our PID, SIGKILL if it lingers; always reaps the child."""
        _RUNNING.pop(self.pid, None)
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
                self.proc.wait(timeout)

    def __repr__(self) -> str:
        return f"<Daemon {self.name} pid={self.pid} {'running' if self.alive() else 'stopped'}>"


@atexit.register
def _stop_leftovers() -> None:  # an interrupted run must not leave our servers behind
    for daemon in list(_RUNNING.values()):
        daemon.stop(timeout=2.0)


# --- DNS: dnsmasq -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Srv:
    """One SRV record: ``Srv("_sipinternaltls._tcp.example.test", "lync.example.test", 5061)``."""

    name: str
    target: str
    port: int
    priority: int = 0
    weight: int = 0

    def arg(self) -> str:
        return f"--srv-host={self.name},{self.target},{self.port},{self.priority},{self.weight}"


@dataclass
class DnsServer:
    address: str
    port: int
    daemons: list[Daemon]
    workdir: Path

    @property
    def nameserver(self) -> str:
        """The form ``build_options(nameservers=[...])`` and ``--nameserver`` take: ``127.0.0.1:PORT``."""
        return f"{self.address}:{self.port}"

    @property
    def pid(self) -> int:
        return self.daemons[0].pid

    def query(self, name: str, rdtype: str = "A", timeout: float = 1.0) -> dns.message.Message:
        """One UDP query to this server only (raises ``dns.exception.Timeout`` on silence)."""
        return dns.query.udp(dns.message.make_query(name, rdtype), self.address, timeout=timeout, port=self.port)

    def resolver(self, timeout: float = 1.0) -> dns.resolver.Resolver:
        """A dnspython resolver pinned to this server (never the system configuration)."""
        res = dns.resolver.Resolver(configure=False)
        res.nameservers = [self.address]
        res.port = self.port
        res.timeout = res.lifetime = timeout
        return res

    def log(self) -> str:
        return "\n".join(d.log() for d in self.daemons)

    def stop(self) -> None:
        for d in self.daemons:
            d.stop()


def _answers(address: str, port: int) -> Callable[[], bool]:
    def ready() -> bool:
        try:
            dns.query.udp(dns.message.make_query("ready.invalid", "A"), address, timeout=0.1, port=port)
        except (dns.exception.DNSException, OSError):
            return False
        return True

    return ready


def _dnsmasq(workdir: Path, name: str, address: str, port: int, args: Iterable[str]) -> Daemon:
    argv = [
        require_binary("dnsmasq"),
        f"--port={port}",
        f"--listen-address={address}",
        "--bind-interfaces",
        "--no-resolv",
        "--no-hosts",
        "--keep-in-foreground",
        "--log-facility=-",
        "--log-queries",
        f"--pid-file={workdir / (name + '.pid')}",
        *args,
    ]
    daemon = Daemon(name, argv, workdir)
    daemon.wait_ready(_answers(address, port), f"answering DNS on {address}:{port}")
    return daemon


def start_dnsmasq(
    workdir: Path,
    *,
    zones: Sequence[str] = ("example.test",),
    srv: Iterable[Srv] = (),
    a: Mapping[str, str | Sequence[str]] | None = None,
    cname: Mapping[str, str] | None = None,
    txt: Mapping[str, str] | None = None,
    servfail_zones: Sequence[str] = (),
    silent_zones: Sequence[str] = (),
    extra_args: Sequence[str] = (),
    ttl: int = 60,
    address: str = LOOPBACK,
    port: int | None = None,
) -> DnsServer:
    """dnsmasq answering for ``zones`` (unknown names there: NXDOMAIN; names elsewhere: REFUSED).

    ``a`` maps a name to one address or several; ``cname`` maps an alias to its target;
    ``servfail_zones``: every name under them gets SERVFAIL (a second dnsmasq serves them, this one
    fails to DNSSEC-validate them); ``silent_zones``: queries under them get no answer at all
    (forwarded to a closed port). Returns when the server answers.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or free_port(address)
    args = [f"--local-ttl={ttl}"]
    args += [f"--local=/{z.strip('.')}/" for z in zones]
    args += [s.arg() for s in srv]
    for name, addrs in (a or {}).items():
        for addr in [addrs] if isinstance(addrs, str) else addrs:
            args.append(f"--host-record={name},{addr}")
    args += [f"--cname={alias},{target}" for alias, target in (cname or {}).items()]
    args += [f"--txt-record={name},{text}" for name, text in (txt or {}).items()]
    args += [f"--server=/{z.strip('.')}/{address}#{closed_port(address)}" for z in silent_zones]
    daemons: list[Daemon] = []
    if servfail_zones:
        up_port = free_port(address)
        up_args = [f"--local-ttl={ttl}", *(f"--local=/{z.strip('.')}/" for z in servfail_zones)]
        daemons.append(_dnsmasq(workdir, f"dnsmasq-upstream-{up_port}", address, up_port, up_args))
        args += ["--dnssec", f"--trust-anchor={_FAKE_ROOT_ANCHOR}", f"--server={address}#{up_port}"]
    args += list(extra_args)
    try:
        daemons.insert(0, _dnsmasq(workdir, f"dnsmasq-{port}", address, port, args))
    except BaseException:
        for d in daemons:
            d.stop()
        raise
    return DnsServer(address, port, daemons, workdir)


# --- NTP: chronyd ------------------------------------------------------------------------------------


@dataclass
class NtpServer:
    address: str
    port: int
    daemon: Daemon
    started_in: float = 0.0  # seconds until it first answered

    @property
    def pid(self) -> int:
        return self.daemon.pid

    @property
    def hostport(self) -> str:
        """The form ``build_options(ntp_servers=[...])`` takes."""
        return f"{self.address}:{self.port}"

    def stop(self) -> None:
        self.daemon.stop()


def _ntp_answers(address: str, port: int) -> Callable[[], bool]:
    request = b"\x23" + b"\x00" * 39 + os.urandom(8)  # LI 0, version 4, mode 3 (client)

    def ready() -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.1)
            try:
                s.sendto(request, (address, port))
                data, _ = s.recvfrom(512)
            except OSError:
                return False
        return len(data) >= 48 and data[24:32] == request[40:48]

    return ready


def start_chronyd(
    workdir: Path, *, stratum: int = 8, address: str = LOOPBACK, port: int | None = None, extra: str = ""
) -> NtpServer:
    """chronyd as an NTP server with no upstream (``local stratum``), never touching the host clock."""
    workdir.mkdir(parents=True, exist_ok=True)
    binary = require_binary("chronyd")
    port = port or free_port(address, tcp=False)
    name = f"chronyd-{port}"
    conf = workdir / f"{name}.conf"
    conf.write_text(
        f"bindaddress {address}\n"
        "allow 127.0.0.0/8\n"
        f"local stratum {stratum}\n"
        "cmdport 0\n"
        "bindcmdaddress /\n"  # no Unix command socket: nothing is created under /run/chrony
        f"port {port}\n"
        f"pidfile {workdir / (name + '.pid')}\n"
        f"driftfile {workdir / (name + '.drift')}\n" + extra
    )
    argv = [binary, "-x", "-d", "-f", str(conf)]
    if os.geteuid() == 0:
        argv[1:1] = ["-u", "root"]  # keep root: the privilege-dropped user cannot enter a 0700 temp dir
    daemon = Daemon(name, argv, workdir)
    took = daemon.wait_ready(_ntp_answers(address, port), f"answering NTP on {address}:{port}")
    return NtpServer(address, port, daemon, took)


# --- certificates ------------------------------------------------------------------------------------


class Pki:
    """A root CA, an intermediate below it, and an unrelated CA; leaves are issued by the intermediate.

    ``ca_bundle`` trusts the root (what ``--ca-bundle`` gets); ``other_ca_bundle`` trusts only the
    unrelated CA (the server's chain then ends at an unknown root).
    """

    def __init__(self, directory: Path, key_type: trustme.KeyType = trustme.KeyType.RSA) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.key_type = key_type
        self.root = trustme.CA(key_type=key_type, organization_name="lyncready lab root")
        self.intermediate = self.root.create_child_ca(key_type=key_type)
        self.other = trustme.CA(key_type=key_type, organization_name="lyncready unrelated root")
        self.ca_bundle = directory / "lab-root.pem"
        self.root.cert_pem.write_to_path(str(self.ca_bundle))
        self.other_ca_bundle = directory / "other-root.pem"
        self.other.cert_pem.write_to_path(str(self.other_ca_bundle))
        self._leaves: dict[tuple[tuple[str, ...], bool], trustme.LeafCert] = {}

    def leaf(self, names: Sequence[str], *, expired: bool = False) -> trustme.LeafCert:
        """A leaf for ``names`` (SANs) signed by the intermediate; memoised (RSA keys are slow to make)."""
        key = (tuple(names), expired)
        if key not in self._leaves:
            now = datetime.now(UTC)
            before, after = (now - timedelta(days=30), now - timedelta(days=1)) if expired else (None, None)
            self._leaves[key] = self.intermediate.issue_cert(
                *names, not_before=before, not_after=after, key_type=self.key_type
            )
        return self._leaves[key]

    @staticmethod
    def write(leaf: trustme.LeafCert, stem: Path, *, intermediate: bool = True) -> tuple[Path, Path]:
        """Write ``STEM.crt`` (leaf, plus the intermediate unless told not to) and ``STEM.key``."""
        cert = stem.with_name(stem.name + ".crt")
        key = stem.with_name(stem.name + ".key")
        pems = leaf.cert_chain_pems if intermediate else leaf.cert_chain_pems[:1]
        cert.write_bytes(b"".join(p.bytes() for p in pems))
        leaf.private_key_pem.write_to_path(str(key))
        return cert, key


# --- HTTP / HTTPS: nginx -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Tls:
    """The TLS side of a site: certificate names, chain, validity, protocol versions."""

    names: tuple[str, ...] = ("lync.example.test",)
    intermediate: bool = True  # False: the server sends the leaf alone (a classic misconfiguration)
    expired: bool = False
    protocols: str = "TLSv1.2 TLSv1.3"  # nginx ssl_protocols
    ciphers: str | None = None  # nginx ssl_ciphers; TLSv1/1.1 need "ALL:@SECLEVEL=0" with OpenSSL 3


@dataclass(frozen=True, slots=True)
class Site:
    """One nginx server block on its own address:port.

    The bootstrap ``paths`` answer ``status`` (with ``location`` for a 3xx); any other path 404.
    ``extra`` is raw nginx text added inside the server block.
    """

    key: str
    tls: Tls | None = None
    status: int = 200
    location: str = ""
    paths: tuple[str, ...] = BOOTSTRAP_PATHS
    address: str = LOOPBACK
    port: int | None = None
    extra: str = ""


@dataclass
class RunningSite:
    site: Site
    address: str
    port: int
    cert: Path | None = None
    key: Path | None = None

    @property
    def scheme(self) -> str:
        return "http" if self.site.tls is None else "https"

    @property
    def cert_pem(self) -> bytes:
        """The certificate file nginx serves: the leaf, then the intermediate when it is sent."""
        return self.cert.read_bytes() if self.cert else b""


@dataclass
class WebServer:
    daemon: Daemon
    sites: dict[str, RunningSite]
    workdir: Path
    pki: Pki | None = None

    def __getitem__(self, key: str) -> RunningSite:
        return self.sites[key]

    @property
    def pid(self) -> int:
        return self.daemon.pid

    def stop(self) -> None:
        self.daemon.stop()


@functools.cache
def _nginx_build(binary: str) -> str:
    out = subprocess.run([binary, "-V"], capture_output=True, text=True, check=False)
    return out.stdout + out.stderr


def _nginx_lacks(module: str) -> bool:
    binary = find_binary("nginx")
    return binary is None or f"--without-{module}" in _nginx_build(binary)


def _nginx_return(site: Site) -> str:
    if site.location:
        return f"return {site.status} {site.location};"
    return f'return {site.status} "lyncready lab {site.key}\\n";'


def nginx_config(prefix: Path, sites: Sequence[RunningSite]) -> str:
    """The nginx.conf text for ``sites`` (every path under ``prefix``; nothing under /var or /etc)."""
    lines = []
    if os.geteuid() == 0:
        lines.append("user root;")  # workers may then read the 0700 temp dir
    lines += ["worker_processes 1;", "events { worker_connections 128; }", "http {"]
    lines += [
        f"    access_log {prefix / 'access.log'};",
        "    default_type text/plain;",
        "    server_tokens off;",
        f"    client_body_temp_path {prefix / 'tmp' / 'body'};",
    ]
    for module, directive in (
        ("http_proxy_module", "proxy_temp_path"),
        ("http_fastcgi_module", "fastcgi_temp_path"),
        ("http_uwsgi_module", "uwsgi_temp_path"),
        ("http_scgi_module", "scgi_temp_path"),
    ):
        if not _nginx_lacks(module):
            lines.append(f"    {directive} {prefix / 'tmp' / directive.split('_')[0]};")
    for rs in sites:
        s = rs.site
        lines.append("    server {")
        lines.append(f"        listen {rs.address}:{rs.port}{' ssl' if s.tls else ''};")
        lines.append("        server_name _;")
        if s.tls is not None:
            lines += [
                f"        ssl_certificate {rs.cert};",
                f"        ssl_certificate_key {rs.key};",
                f"        ssl_protocols {s.tls.protocols};",
            ]
            if s.tls.ciphers:
                lines.append(f"        ssl_ciphers {s.tls.ciphers};")
        for path in s.paths:
            lines.append(f"        location = {path} {{ {_nginx_return(s)} }}")
        lines.append("        location / { return 404; }")
        if s.extra:
            lines.append("        " + s.extra)
        lines.append("    }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def start_nginx(workdir: Path, sites: Sequence[Site], pki: Pki | None = None) -> WebServer:
    """One nginx serving every site; certificates come from ``pki`` (made here when needed and None)."""
    binary = require_binary("nginx")
    prefix = workdir / f"nginx-{len(list(workdir.glob('nginx-*')))}"
    (prefix / "tmp").mkdir(parents=True)
    (prefix / "logs").mkdir()
    if pki is None and any(s.tls for s in sites):
        pki = Pki(prefix / "pki")
    running: dict[str, RunningSite] = {}
    for s in sites:
        if s.key in running:
            raise ValueError(f"two sites named {s.key!r}")
        rs = RunningSite(s, s.address, s.port or free_port(s.address, udp=False))
        if s.tls is not None:
            assert pki is not None
            leaf = pki.leaf(s.tls.names, expired=s.tls.expired)
            rs.cert, rs.key = pki.write(leaf, prefix / s.key, intermediate=s.tls.intermediate)
        running[s.key] = rs
    conf = prefix / "nginx.conf"
    conf.write_text(nginx_config(prefix, list(running.values())))
    argv = [
        binary,
        "-p",
        f"{prefix}/",
        "-e",
        str(prefix / "error.log"),
        "-c",
        str(conf),
        "-g",
        f"daemon off; master_process on; pid {prefix / 'nginx.pid'};",
    ]
    daemon = Daemon(prefix.name, argv, workdir)

    def ready() -> bool:
        return all(tcp_open(rs.address, rs.port) for rs in running.values())

    try:
        daemon.wait_ready(ready, "accepting connections on every site")
    except ServerError as exc:
        raise ServerError(f"{exc}\n{(prefix / 'error.log').read_text(errors='replace')[-3000:]}") from None
    return WebServer(daemon, running, prefix, pki)


# --- a pool of servers with one temp dir, and the fixtures -------------------------------------------


@dataclass
class ServerPool:
    """Starts servers in one temp dir; ``close()`` stops each by PID and removes the dir."""

    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="lyncready-lab-")))
    started: list[DnsServer | NtpServer | WebServer] = field(default_factory=list)

    def dns(self, **kwargs: object) -> DnsServer:
        """``start_dnsmasq`` in this pool (same keyword arguments)."""
        server = start_dnsmasq(self.workdir, **kwargs)  # type: ignore[arg-type]
        self.started.append(server)
        return server

    def ntp(self, **kwargs: object) -> NtpServer:
        """``start_chronyd`` in this pool (same keyword arguments)."""
        server = start_chronyd(self.workdir, **kwargs)  # type: ignore[arg-type]
        self.started.append(server)
        return server

    def web(self, sites: Sequence[Site], pki: Pki | None = None) -> WebServer:
        """``start_nginx`` in this pool."""
        server = start_nginx(self.workdir, sites, pki)
        self.started.append(server)
        return server

    def close(self) -> None:
        while self.started:
            self.started.pop().stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> ServerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@pytest.fixture
def realservers() -> Iterator[ServerPool]:
    """Start real servers for one test: ``realservers.dns(...)``, ``.ntp(...)``, ``.web(sites, pki)``."""
    with ServerPool() as pool:
        yield pool


@pytest.fixture(scope="module")
def realservers_module() -> Iterator[ServerPool]:
    """The same, shared by the tests of one module (start the servers in a module-scoped fixture)."""
    with ServerPool() as pool:
        yield pool


@pytest.fixture(scope="session")
def lab_pki() -> Iterator[Pki]:
    """A root -> intermediate CA (RSA) and an unrelated CA, shared by the whole session."""
    directory = Path(tempfile.mkdtemp(prefix="lyncready-pki-"))
    try:
        yield Pki(directory)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
