"""The built-in lab (lyncready.lab): real DNS, NTP, HTTP and HTTPS servers on loopback.

Every query is pinned to the lab's own servers on 127.0.0.0/8; the system resolver is never used.
Most tests share one lab running in a background thread (``running_lab``); each test drives its own
client loop with ``asyncio.run``.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.resolver
import pytest
from cryptography import x509

import lyncready
from lyncready.facts import (
    ConnStatus,
    DnsQuery,
    DnsStatus,
    FactKey,
    FactStore,
    HttpQuery,
    NtpQuery,
    NtpStatus,
    TlsQuery,
    TlsVersionQuery,
)
from lyncready.host import load_registry
from lyncready.lab import Lab, running_lab
from lyncready.lab.ntp import NtpServer
from lyncready.options import build_options

T = TypeVar("T")
H, B = Lab.HEALTHY_ADDRESS, Lab.BROKEN_ADDRESS


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with running_lab() as running:
        yield running


def ask(lab: Lab, name: str, rdtype: str, *, tcp: bool = False, **kw: Any) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype, **kw)
    if tcp:
        return dns.query.tcp(query, H, timeout=2, port=lab.dns_port)
    return dns.query.udp(query, H, timeout=2, port=lab.dns_port)


def pinned_resolver(lab: Lab) -> dns.resolver.Resolver:
    resolver = dns.resolver.Resolver(configure=False)  # never /etc/resolv.conf
    resolver.nameservers = [H]
    resolver.port = lab.dns_port
    resolver.lifetime = 2
    return resolver


def fact(lab: Lab, key: FactKey[T], **options: Any) -> T:
    """One probe run through a FactStore aimed at the lab, as an audit would run it."""

    async def run() -> T:
        opts = build_options(**{**lab.audit_kwargs(), "timeout": 2.0, **options})
        store = FactStore(load_registry(autoload=False).probes, opts)
        try:
            return await store.get(key)
        finally:
            store.close()

    return asyncio.run(run())


# -- DNS -------------------------------------------------------------------------------------------


def test_srv_and_a_records_through_a_pinned_resolver(lab: Lab) -> None:
    resolver = pinned_resolver(lab)
    sip = resolver.resolve(f"_sipinternaltls._tcp.{Lab.HEALTHY}", "SRV")
    assert [(r.priority, r.weight, r.port, str(r.target)) for r in sip] == [(0, 0, 5061, "pool.contoso.test.")]
    ntp = resolver.resolve(f"_ntp._udp.{Lab.HEALTHY}", "SRV")
    assert [(r.port, str(r.target)) for r in ntp] == [(lab.ntp_port, "time.contoso.test.")]
    assert [r.address for r in resolver.resolve("pool.contoso.test", "A")] == [H]
    assert [r.address for r in resolver.resolve("time.contoso.test", "A")] == [H]
    broken = resolver.resolve(f"_sipinternaltls._tcp.{Lab.BROKEN}", "SRV")
    assert [str(r.target) for r in broken] == [f"{Lab.BROKEN_POOL}."]  # outside fabrikam.test
    assert [r.address for r in resolver.resolve(Lab.BROKEN_POOL, "A")] == [B]


def test_answers_are_authoritative_with_glue(lab: Lab) -> None:
    response = ask(lab, f"_sipinternaltls._tcp.{Lab.HEALTHY}", "SRV")
    assert response.rcode() == dns.rcode.NOERROR
    assert response.flags & dns.flags.AA
    assert not response.flags & dns.flags.TC
    assert [str(rr.name) for rr in response.additional] == ["pool.contoso.test."]
    soa = ask(lab, Lab.HEALTHY, "SOA")
    assert soa.answer[0].rdtype == dns.rdatatype.SOA
    ns = ask(lab, Lab.BROKEN_ZONE, "NS")
    assert ns.answer and ns.flags & dns.flags.AA


def test_nxdomain_carries_the_zone_soa(lab: Lab) -> None:
    response = ask(lab, f"_ntp._udp.{Lab.BROKEN}", "SRV")
    assert response.rcode() == dns.rcode.NXDOMAIN
    assert response.flags & dns.flags.AA
    assert not response.answer
    (soa,) = response.authority
    assert soa.rdtype == dns.rdatatype.SOA and str(soa.name) == "fabrikam.test."
    with pytest.raises(dns.resolver.NXDOMAIN):
        pinned_resolver(lab).resolve(f"_ntp._udp.{Lab.BROKEN}", "SRV")


def test_nodata_for_existing_names_and_empty_non_terminals(lab: Lab) -> None:
    for name, rdtype in (("pool.contoso.test", "AAAA"), ("_tcp.contoso.test", "A"), ("contoso.test", "A")):
        response = ask(lab, name, rdtype)
        assert response.rcode() == dns.rcode.NOERROR, name
        assert response.flags & dns.flags.AA
        assert not response.answer
        assert [rr.rdtype for rr in response.authority] == [dns.rdatatype.SOA]
    with pytest.raises(dns.resolver.NoAnswer):
        pinned_resolver(lab).resolve("pool.contoso.test", "AAAA")


def test_refused_outside_its_zones(lab: Lab) -> None:
    for name in ("example.com", "test", "contoso.test.example", "fabrikam.localhost"):
        response = ask(lab, name, "A")
        assert response.rcode() == dns.rcode.REFUSED, name
        assert not response.flags & dns.flags.AA
    assert ask(lab, Lab.HEALTHY, "AXFR", tcp=True).rcode() == dns.rcode.REFUSED


def test_truncation_and_tcp_fallback(lab: Lab) -> None:
    texts = [f'"{i:02d} {"x" * 60}"' for i in range(20)]  # about 1.3 kB
    lab.dns.add("big.contoso.test.", "TXT", *texts)
    try:
        udp = ask(lab, "big.contoso.test", "TXT")
        assert udp.flags & dns.flags.TC and not udp.answer
        edns = ask(lab, "big.contoso.test", "TXT", use_edns=0, payload=4096)
        assert not edns.flags & dns.flags.TC and len(edns.answer[0]) == 20  # fits the EDNS payload
        before = lab.dns.tcp_queries
        response, used_tcp = dns.query.udp_with_fallback(
            dns.message.make_query("big.contoso.test", "TXT"), H, timeout=2, port=lab.dns_port
        )
        assert used_tcp and len(response.answer[0]) == 20
        assert lab.dns.tcp_queries == before + 1
        answer = fact(lab, DnsQuery("big.contoso.test", "TXT"))  # the product's probe falls back too
        assert answer.status is DnsStatus.OK and answer.used_tcp and len(answer.records) == 20
    finally:
        lab.dns.remove("big.contoso.test.")
    assert ask(lab, "big.contoso.test", "TXT").rcode() == dns.rcode.NXDOMAIN


def test_malformed_queries_never_stop_the_server(lab: Lab) -> None:
    valid = dns.message.make_query("pool.contoso.test", "A").to_wire()
    garbage = [
        b"",
        b"\x01",
        b"\x12\x34\x01\x00" + b"\xff" * 8,  # 65535 questions announced, none present
        b"\xab\xcd\x01\x00\x00\x01" + b"\x00" * 6 + b"\x3f",
        valid[:-3],
    ]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.15)
        sock.connect((H, lab.dns_port))
        for packet in garbage:
            sock.send(packet)
            try:
                reply = sock.recv(512)
            except TimeoutError:
                assert len(packet) < 12  # only headerless junk is ignored
                continue
            assert reply[:2] == packet[:2] and reply[2] & 0x80  # same id, a response
            assert reply[3] & 0x0F == dns.rcode.FORMERR
        sock.send(valid[:2] + bytes([valid[2] | 0x80]) + valid[3:])  # a response, not a query: ignored
        with pytest.raises(TimeoutError):
            sock.recv(512)
    with socket.create_connection((H, lab.dns_port), timeout=2) as tcp:  # junk over TCP, then hang up
        tcp.sendall(struct.pack("!H", 40) + b"\x00" * 7)
    assert ask(lab, "pool.contoso.test", "A").answer  # still serving
    assert ask(lab, "pool.contoso.test", "A", tcp=True).answer


def test_queries_are_counted(lab: Lab) -> None:
    before = lab.queries
    ask(lab, "pool.contoso.test", "A")
    ask(lab, "example.com", "A")
    ask(lab, "time.contoso.test", "A", tcp=True)
    assert lab.queries == before + 3


def test_zone_data_is_a_dict_and_extends() -> None:
    async def run() -> None:
        async with Lab(extra_domains=["Branch1.test", "branch2.test"]) as lab:
            assert lab.domains == (Lab.HEALTHY, Lab.BROKEN, "branch1.test", "branch2.test")
            assert set(lab.zone_data()) == {Lab.HEALTHY, Lab.BROKEN, Lab.BROKEN_ZONE, "branch1.test", "branch2.test"}
            resolver = pinned_resolver(lab)
            srv = await asyncio.to_thread(resolver.resolve, "_sipinternaltls._tcp.branch2.test", "SRV")
            assert str(srv[0].target) == "pool.branch2.test."
            lab.dns.add_zone("extra.test", {"www": {"CNAME": ["pool.contoso.test."]}})
            response = await asyncio.to_thread(ask, lab, "www.extra.test", "A")
            assert [rr.rdtype for rr in response.answer] == [dns.rdatatype.CNAME, dns.rdatatype.A]

    asyncio.run(run())


# -- NTP -------------------------------------------------------------------------------------------


def test_ntp_reply_is_valid_for_the_product_probe(lab: Lab) -> None:
    reply = fact(lab, NtpQuery(H, lab.ntp_port))
    assert reply.status is NtpStatus.OK, reply.reason
    assert (reply.stratum, reply.leap, reply.version, reply.mode) == (2, 0, 4, 4)
    assert reply.refid == "127.127.1.0"
    assert reply.offset is not None and abs(reply.offset) < 0.5
    assert reply.delay is not None and 0 <= reply.delay < 1


def test_ntp_echoes_version_and_ignores_non_requests(lab: Lab) -> None:
    transmit = b"\xe0\x00\x00\x01\x12\x34\x56\x78"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.15)
        sock.connect((H, lab.ntp_port))
        sock.send(bytes([(3 << 3) | 3]) + b"\x00" * 39 + transmit)  # NTPv3 client request
        reply = sock.recv(128)
        assert len(reply) == 48 and reply[0] == (0 << 6) | (3 << 3) | 4
        assert reply[24:32] == transmit  # origin = our transmit timestamp
        assert reply[1] == 2 and reply[12:16] == bytes((127, 127, 1, 0))
        now = time.time() + 2208988800
        for offset in (32, 40):  # receive and transmit timestamps are now
            assert abs(struct.unpack("!I", reply[offset : offset + 4])[0] - now) < 2
        for junk in (
            bytes([(4 << 3) | 4]) + b"\x00" * 47,  # a server reply
            bytes([(4 << 3) | 6]) + b"\x00" * 11,  # a control message
            bytes([(4 << 3) | 3]) + b"\x00" * 20,  # a short client request
            bytes([(7 << 3) | 3]) + b"\x00" * 47,  # version 7
        ):
            sock.send(junk)
            with pytest.raises(TimeoutError):
                sock.recv(128)


def test_ntp_server_reply_builder_alone() -> None:
    server = NtpServer()
    assert server.reply_to(b"\x1b" + b"\x00" * 47, time.time()) is not None
    assert server.reply_to(b"\x1c" + b"\x00" * 47, time.time()) is None
    assert server.requests == 1


# -- HTTP ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/CertProv/CertProvisioningService.svc", 200),
        ("/WebTicket/WebTicketService.svc", 200),
        ("/certprov/CertprovisioningService.svc", 200),  # Microsoft's own typo: case-insensitive
        ("/WebTicket/WebTicketService.svc?wsdl", 200),
        ("/", 404),
        ("/CertProv/", 404),
    ],
)
def test_http_paths(lab: Lab, path: str, code: int) -> None:
    for scheme, port in (("http", lab.http_port), ("https", lab.https_port)):
        response = fact(lab, HttpQuery(scheme, H, port, "pool.contoso.test", path))
        assert response.status is ConnStatus.OK, response.reason
        assert response.code == code, (scheme, path)
        assert (response.header("Content-Type") or "").startswith("text/html")
        assert response.header("Connection") == "close"


def test_https_on_the_broken_address_and_http_refused_there(lab: Lab) -> None:
    ok = fact(lab, HttpQuery("https", B, lab.https_port, Lab.BROKEN_POOL, "/CertProv/CertProvisioningService.svc"))
    assert ok.status is ConnStatus.OK and ok.code == 200
    refused = fact(lab, HttpQuery("http", B, lab.http_port, Lab.BROKEN_POOL, "/CertProv/CertProvisioningService.svc"))
    assert refused.status is ConnStatus.REFUSED, refused.reason
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((B, lab.http_port), timeout=1).close()


def test_http_method_and_malformed_requests(lab: Lab) -> None:
    def exchange(raw: bytes) -> bytes:
        with socket.create_connection((H, lab.http_port), timeout=2) as sock:
            sock.sendall(raw)
            sock.shutdown(socket.SHUT_WR)
            chunks = []
            while chunk := sock.recv(4096):
                chunks.append(chunk)
            return b"".join(chunks)

    assert exchange(b"POST /CertProv/CertProvisioningService.svc HTTP/1.1\r\nHost: x\r\n\r\n").startswith(
        b"HTTP/1.1 405 "
    )
    assert exchange(b"garbage\r\n\r\n").startswith(b"HTTP/1.1 400 ")
    head = exchange(b"HEAD /CertProv/CertProvisioningService.svc HTTP/1.1\r\nHost: x\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ") and head.endswith(b"\r\n\r\n")
    assert exchange(b"GET / HTTP/1.1\r\n") == b""  # hung up mid-request: nothing to say
    assert ("GET", "/", "") not in lab.http.requests


# -- TLS -------------------------------------------------------------------------------------------


def _sans(der: bytes) -> list[str]:
    cert = x509.load_der_x509_certificate(der)
    return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)


def test_tls_presents_leaf_and_intermediate_that_verify(lab: Lab) -> None:
    healthy = fact(lab, TlsQuery(H, lab.https_port, "pool.contoso.test"))
    assert healthy.status is ConnStatus.OK and healthy.verified is True, healthy.reason
    assert len(healthy.chain) == 2
    assert _sans(healthy.chain[0]) == ["pool.contoso.test", "contoso.test"]
    intermediate = x509.load_der_x509_certificate(healthy.chain[1])
    assert intermediate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    broken = fact(lab, TlsQuery(B, lab.https_port, Lab.BROKEN_POOL))
    assert broken.status is ConnStatus.OK and broken.verified is True and len(broken.chain) == 2
    assert Lab.BROKEN_POOL not in _sans(broken.chain[0]) and _sans(broken.chain[0]) == ["sip.fabrikam.test"]


def test_tls_names_checked_by_the_standard_library(lab: Lab) -> None:
    context = ssl.create_default_context(cafile=lab.ca_bundle)

    def handshake(address: str, name: str) -> None:
        with (
            socket.create_connection((address, lab.https_port), timeout=2) as raw,
            context.wrap_socket(raw, server_hostname=name),
        ):
            pass

    handshake(H, "pool.contoso.test")
    with pytest.raises(ssl.SSLCertVerificationError) as caught:
        handshake(B, Lab.BROKEN_POOL)
    assert caught.value.verify_code == 62  # hostname mismatch: the chain itself is fine


@pytest.mark.parametrize("version", ["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"])
def test_every_tls_version_is_accepted(lab: Lab, version: str) -> None:
    for address, sni in ((H, "pool.contoso.test"), (B, Lab.BROKEN_POOL)):
        result = fact(lab, TlsVersionQuery(address, lab.https_port, sni, version))
        assert result.accepted is True, (address, version, result.reason)


# -- life cycle ------------------------------------------------------------------------------------


def _refused(address: str, port: int) -> bool:
    try:
        socket.create_connection((address, port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def test_stop_closes_every_socket_and_removes_the_temp_dir() -> None:
    threads = threading.active_count()

    async def run() -> Lab:
        async with Lab() as lab:
            bundle = Path(lab.ca_bundle)
            assert b"BEGIN CERTIFICATE" in await asyncio.to_thread(bundle.read_bytes)
            assert lab.https.port == lab.https_broken.port == lab.https_port
            # an open connection at stop time is closed too
            _reader, writer = await asyncio.open_connection(H, lab.http_port)
            lab_bundle = bundle
        writer.close()
        await writer.wait_closed()
        assert not lab_bundle.exists() and not lab_bundle.parent.exists() and lab.ca_bundle == ""
        return lab

    lab = asyncio.run(run())
    for address, port in ((H, lab.http_port), (H, lab.https_port), (B, lab.https_port), (H, lab.dns_port)):
        assert _refused(address, port)
    for port in (lab.dns_port, lab.ntp_port):  # the UDP ports are free again
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((H, port))
    with socket.socket() as sock:  # the port held closed on 127.0.0.2 is released
        sock.bind((B, lab.http_port))
    assert threading.active_count() == threads


def test_running_lab_joins_its_thread() -> None:
    threads = threading.active_count()
    with running_lab() as lab:
        assert threading.active_count() == threads + 1
        port = lab.dns_port
        assert ask(lab, "pool.contoso.test", "A").answer
    assert threading.active_count() == threads
    assert _refused(H, port)


def test_a_lab_runs_once() -> None:
    async def run() -> None:
        lab = Lab()
        await lab.start()
        try:
            with pytest.raises(RuntimeError):
                await lab.start()
        finally:
            await lab.stop()
            await lab.stop()  # idempotent

    asyncio.run(run())


# -- the whole audit against the lab ----------------------------------------------------------------

PLUGINS = Path(lyncready.__file__).resolve().parent.parent / "plugins"
CHECK_PLUGINS = ("dns_srv.py", "ntp.py", "web.py", "tls.py")


@pytest.mark.skipif(
    not all((PLUGINS / name).is_file() for name in CHECK_PLUGINS), reason="the check plugins are not written yet"
)
def test_audit_of_the_lab(lab: Lab) -> None:
    report = lyncready.audit(**lab.audit_kwargs(), autoload=False)
    by_domain: dict[str, dict[str, list[str]]] = {}
    for result in report.results:
        for domain in result.domains or ("?",):
            by_domain.setdefault(domain, {}).setdefault(result.check_id, []).append(result.status.value)
    healthy = by_domain[Lab.HEALTHY]
    assert healthy and all(status == "pass" for statuses in healthy.values() for status in statuses), healthy
    broken = by_domain[Lab.BROKEN]
    for check_id in ("dns_strict_naming", "dns_ntp_srv", "http_certprov_anonymous", "tls_certificate_names"):
        assert "fail" in broken.get(check_id, []), (check_id, broken)
