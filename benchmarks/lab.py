"""The benchmark lab: N SIP domains served by real servers, inside a network namespace with only ``lo``.

Run only inside the namespace that ``benchmarks/run.py`` makes (it refuses to start anywhere else):
the servers listen on the standard ports 53, 80, 123 and 443 of loopback addresses that exist only there.

For every SIP domain ``dNNNNN.test`` (N = 1..size) the authoritative DNS server (NSD, one zone file)
serves::

    _sipinternaltls._tcp.dNNNNN.test. SRV 0 0 5061 pool.dNNNNN.test.
    _ntp._udp.dNNNNN.test.            SRV 0 0 123  time.dNNNNN.test.
    pool.dNNNNN.test.                 A   127.0.0.80    (one nginx: HTTP 80, HTTPS 443)
    time.dNNNNN.test.                 A   127.0.0.123   (one chrony: NTP 123)

NSD itself listens on 127.0.0.53:53.

and, for the failure scenarios, 100 black-hole domains ``bhNNN.test`` whose pool and time server
each have their own address in 127.66.0.0/16 (dropped on input by an nftables rule: silence, like a
firewall that drops), 100 refused domains ``rfNNN.test`` whose servers have their own address in
127.0.1.0/24 where nothing listens (TCP RST, ICMP port unreachable), and the same two families on a
single address (``bhoneNNN`` -> 127.66.255.1, ``rfoneNNN`` -> 127.0.2.1).

One nginx serves every web FQDN by SNI. Every certificate lists its pool FQDNs as SANs, at most
``sans_per_cert`` of them (default 1000): a certificate with 10000 SANs is 180 KB of DER, beyond
OpenSSL's 100 KiB limit on a peer's certificate list, so neither curl nor Python can complete a
handshake with it (measured: ``EXCESSIVE_MESSAGE_SIZE``). Up to N = 1000 one certificate covers
every web FQDN; at N = 10000 ten certificates of 1000 SANs each do.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import trustme
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

# three hosts, as on a real network (the audit's per-host limit applies to each address)
WEB_ADDRESS = "127.0.0.80"
NTP_ADDRESS = "127.0.0.123"
DNS_ADDRESS = "127.0.0.53"
BLACKHOLE_NET = "127.66.0.0/16"
BLACKHOLE_ONE = "127.66.255.1"
REFUSED_ONE = "127.0.2.1"
FAILURE_DOMAINS = 100
CERTPROV = "/CertProv/CertProvisioningService.svc"
WEBTICKET = "/WebTicket/WebTicketService.svc"
SBIN = "/usr/local/sbin:/usr/sbin:/sbin"


def sip_domain(i: int) -> str:
    return f"d{i:05d}.test"


def domains(n: int) -> list[str]:
    return [sip_domain(i) for i in range(1, n + 1)]


def blackhole_domains(single: bool = False) -> list[str]:
    stem = "bhone" if single else "bh"
    return [f"{stem}{i:03d}.test" for i in range(1, FAILURE_DOMAINS + 1)]


def refused_domains(single: bool = False) -> list[str]:
    stem = "rfone" if single else "rf"
    return [f"{stem}{i:03d}.test" for i in range(1, FAILURE_DOMAINS + 1)]


def _blackhole_address(i: int) -> str:
    return f"127.66.{i // 250}.{i % 250 + 1}"


def _refused_address(i: int) -> str:
    return f"127.0.1.{i}"


def inside_lab_namespace() -> bool:
    """True when the only network interface is ``lo`` (the namespace run.py made)."""
    return sorted(p.name for p in Path("/sys/class/net").iterdir()) == ["lo"]


def which(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path=SBIN)
    if found is None:
        raise SystemExit(f"{name} is not installed: apt-get install nsd chrony nginx-light nftables dnsutils curl sntp")
    return found


# --- generation ------------------------------------------------------------------------------------------


def zone_text(n: int) -> str:
    lines = [
        "$ORIGIN test.",
        "$TTL 3600",
        "@ IN SOA ns.test. hostmaster.test. 1 3600 600 86400 60",
        "@ IN NS ns.test.",
        f"ns IN A {DNS_ADDRESS}",
    ]

    def domain(label: str, web: str, ntp: str) -> None:
        lines.append(f"_sipinternaltls._tcp.{label} IN SRV 0 0 5061 pool.{label}.test.")
        lines.append(f"_ntp._udp.{label} IN SRV 0 0 123 time.{label}.test.")
        lines.append(f"pool.{label} IN A {web}")
        lines.append(f"time.{label} IN A {ntp}")

    for d in domains(n):
        domain(d.removesuffix(".test"), WEB_ADDRESS, NTP_ADDRESS)
    for i, d in enumerate(blackhole_domains(), 1):
        domain(d.removesuffix(".test"), _blackhole_address(i), _blackhole_address(i))
    for d in blackhole_domains(single=True):
        domain(d.removesuffix(".test"), BLACKHOLE_ONE, BLACKHOLE_ONE)
    for i, d in enumerate(refused_domains(), 1):
        domain(d.removesuffix(".test"), _refused_address(i), _refused_address(i))
    for d in refused_domains(single=True):
        domain(d.removesuffix(".test"), REFUSED_ONE, REFUSED_ONE)
    return "\n".join(lines) + "\n"


@dataclass
class Certificates:
    ca_bundle: Path
    chunks: list[tuple[list[str], Path, Path]]  # (pool FQDNs, certificate chain file, key file)
    seconds: float  # time to issue them
    sans_per_cert: int
    largest_der: int  # bytes of the largest leaf


def make_certificates(directory: Path, n: int, sans_per_cert: int) -> Certificates:
    """A root and an intermediate (trustme, ECDSA P-256); leaves of at most ``sans_per_cert`` pool FQDNs."""
    start = time.perf_counter()
    root = trustme.CA(organization_name="lyncready benchmark root")
    intermediate = root.create_child_ca()
    ca_bundle = directory / "root.pem"
    root.cert_pem.write_to_path(str(ca_bundle))
    pools = [f"pool.{d}" for d in domains(n)]
    chunks = []
    largest = 0
    for k in range(0, len(pools), sans_per_cert):
        names = pools[k : k + sans_per_cert]
        leaf = intermediate.issue_cert(*names)
        cert = directory / f"web-{k // sans_per_cert:03d}.crt"
        key = directory / f"web-{k // sans_per_cert:03d}.key"
        cert.write_bytes(b"".join(p.bytes() for p in leaf.cert_chain_pems))  # leaf + intermediate
        leaf.private_key_pem.write_to_path(str(key))
        der = x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes()).public_bytes(Encoding.DER)
        largest = max(largest, len(der))
        chunks.append((names, cert, key))
    return Certificates(ca_bundle, chunks, time.perf_counter() - start, sans_per_cert, largest)


def nginx_conf(prefix: Path, certs: Certificates, workers: str) -> str:
    body = 'return 200 "lyncready benchmark\\n";'
    lines = [
        "user root;",
        f"worker_processes {workers};",
        f"pid {prefix / 'nginx.pid'};",
        f"error_log {prefix / 'error.log'} warn;",
        "worker_rlimit_nofile 65536;",
        "events { worker_connections 16384; }",
        "http {",
        "    access_log off;",
        "    default_type text/plain;",
        "    server_tokens off;",
        "    server_names_hash_max_size 65536;",
        "    server_names_hash_bucket_size 128;",
        "    ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3;",
        '    ssl_ciphers "ALL:@SECLEVEL=0";',
        "    ssl_session_cache off;",
        "    ssl_session_tickets off;",
    ]
    for d in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        lines.append(f"    {d}_temp_path {prefix / 'tmp' / d};")
    lines += [
        "    server {",
        f"        listen {WEB_ADDRESS}:80 default_server;",
        "        server_name _;",
        f"        location = {CERTPROV} {{ {body} }}",
        "        location / { return 404; }",
        "    }",
    ]
    for i, (names, cert, key) in enumerate(certs.chunks):
        lines += [
            "    server {",
            f"        listen {WEB_ADDRESS}:443 ssl{' default_server' if i == 0 else ''};",
            f"        server_name {' '.join(names)};",
            f"        ssl_certificate {cert};",
            f"        ssl_certificate_key {key};",
            f"        location = {CERTPROV} {{ {body} }}",
            f"        location = {WEBTICKET} {{ {body} }}",
            "        location / { return 404; }",
            "    }",
        ]
    lines.append("}")
    return "\n".join(lines) + "\n"


def nsd_conf(directory: Path) -> str:
    return f"""server:
    ip-address: {DNS_ADDRESS}
    port: 53
    username: ""
    chroot: ""
    zonesdir: "{directory}"
    pidfile: "{directory / "nsd.pid"}"
    database: ""
    zonelistfile: "{directory / "zone.list"}"
    xfrdfile: "{directory / "xfrd.state"}"
    xfrdir: "{directory}"
    logfile: "{directory / "nsd.log"}"
    server-count: 1
    verbosity: 0
    hide-version: yes
    do-ip6: no
    refuse-any: yes
remote-control:
    control-enable: no
zone:
    name: "test"
    zonefile: "test.zone"
"""


def chrony_conf(directory: Path) -> str:
    return (
        f"bindaddress {NTP_ADDRESS}\n"
        "allow 127.0.0.0/8\n"
        "local stratum 8\n"
        "cmdport 0\n"
        "bindcmdaddress /\n"
        "port 123\n"
        f"pidfile {directory / 'chronyd.pid'}\n"
        f"driftfile {directory / 'chronyd.drift'}\n"
    )


# --- servers ---------------------------------------------------------------------------------------------


@dataclass
class Daemon:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    def cpu_seconds(self) -> float:
        """utime + stime of the process and its live children (nginx workers), from /proc."""
        total = 0.0
        tick = os.sysconf("SC_CLK_TCK")
        for pid in [self.proc.pid, *_children(self.proc.pid)]:
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / tick
        return total

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def _start(name: str, argv: list[str], workdir: Path, ready: Callable[[], bool]) -> Daemon:
    log = workdir / f"{name}.out"
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=workdir)
    daemon = Daemon(name, proc, log)
    deadline = time.monotonic() + 30
    while not ready():
        if proc.poll() is not None or time.monotonic() > deadline:
            daemon.stop()
            raise SystemExit(f"{name} did not start:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.05)
    return daemon


def _dns_ready() -> bool:
    query = bytes.fromhex("abcd01000001000000000000") + b"\x02ns\x04test\x00\x00\x01\x00\x01"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.2)
        try:
            s.sendto(query, (DNS_ADDRESS, 53))
            data = s.recv(512)
        except OSError:
            return False
    return data[:2] == b"\xab\xcd" and data[3] & 0x0F == 0


def _ntp_ready() -> bool:
    request = b"\x23" + b"\x00" * 39 + os.urandom(8)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.2)
        try:
            s.sendto(request, (NTP_ADDRESS, 123))
            data = s.recv(512)
        except OSError:
            return False
    return len(data) >= 48 and data[24:32] == request[40:48] and 1 <= data[1] <= 15


def _tcp_ready(port: int) -> Callable[[], bool]:
    def ready() -> bool:
        try:
            with socket.create_connection((WEB_ADDRESS, port), timeout=0.2):
                return True
        except OSError:
            return False

    return ready


@dataclass
class Lab:
    size: int
    directory: Path
    certs: Certificates
    daemons: list[Daemon] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def domains(self) -> list[str]:
        return domains(self.size)

    def server_cpu(self) -> dict[str, float]:
        return {d.name: round(d.cpu_seconds(), 3) for d in self.daemons}

    def stop(self) -> None:
        while self.daemons:
            self.daemons.pop().stop()


def _blackhole_rules() -> None:
    """Drop every packet to 127.66.0.0/16 on input: the sender sees silence (not EPERM, as on output)."""
    nft = which("nft")
    subprocess.run([nft, "add", "table", "inet", "lyncbench"], check=True)
    subprocess.run(
        [nft, "add", "chain", "inet", "lyncbench", "in", "{ type filter hook input priority 0; }"], check=True
    )
    subprocess.run([nft, "add", "rule", "inet", "lyncbench", "in", "ip", "daddr", BLACKHOLE_NET, "drop"], check=True)


@contextlib.contextmanager
def running_lab(directory: Path, size: int, *, sans_per_cert: int = 1000, nginx_workers: str = "auto") -> Iterator[Lab]:
    """Generate the lab for ``size`` domains in ``directory`` and run its servers until the block ends."""
    if not inside_lab_namespace():
        raise SystemExit("refusing to start the lab outside a network namespace that has only 'lo' (use run.py)")
    directory.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    (directory / "test.zone").write_text(zone_text(size))
    (directory / "nsd.conf").write_text(nsd_conf(directory))
    (directory / "chrony.conf").write_text(chrony_conf(directory))
    certs = make_certificates(directory, size, sans_per_cert)
    prefix = directory / "nginx"
    for d in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (prefix / "tmp" / d).mkdir(parents=True, exist_ok=True)
    (prefix / "logs").mkdir(exist_ok=True)
    (prefix / "nginx.conf").write_text(nginx_conf(prefix, certs, nginx_workers))
    lab = Lab(size, directory, certs)
    lab.timings["generate"] = round(time.perf_counter() - t0, 3)
    lab.timings["certificates"] = round(certs.seconds, 3)
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    out = subprocess.run(["nft", "list", "table", "inet", "lyncbench"], capture_output=True)
    if out.returncode != 0:
        _blackhole_rules()
    try:
        t0 = time.perf_counter()
        lab.daemons.append(
            _start("nsd", [which("nsd"), "-d", "-c", str(directory / "nsd.conf")], directory, _dns_ready)
        )
        lab.timings["nsd_start"] = round(time.perf_counter() - t0, 3)
        lab.daemons.append(
            _start(
                "chronyd",
                [which("chronyd"), "-u", "root", "-x", "-d", "-f", str(directory / "chrony.conf")],
                directory,
                _ntp_ready,
            )
        )
        t0 = time.perf_counter()
        argv = [which("nginx"), "-p", f"{prefix}/", "-c", str(prefix / "nginx.conf"), "-g", "daemon off;"]
        lab.daemons.append(_start("nginx", argv, directory, lambda: _tcp_ready(80)() and _tcp_ready(443)()))
        lab.timings["nginx_start"] = round(time.perf_counter() - t0, 3)
        yield lab
    finally:
        lab.stop()
