"""The probes against real servers on loopback: dnsmasq (DNS), chronyd (NTP), nginx (HTTP, HTTPS, TLS).

Each test builds a FactStore with the registered probes, pinned to the lab's servers, and asks one
fact inside ``asyncio.run``. Nothing is sent outside 127.0.0.0/8; the system resolver is never used.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import time
from typing import Any, TypeVar

import pytest
import realservers as rs
from cryptography import x509
from realservers import (
    CERTPROV_PATH,
    LOOPBACK,
    WEBTICKET_PATH,
    DnsServer,
    NtpServer,
    Pki,
    ServerPool,
    Site,
    Srv,
    Tls,
    WebServer,
    closed_port,
    silent_tcp,
    silent_udp,
)

from lyncready import build_options
from lyncready.facts import (
    Addresses,
    ConnStatus,
    DnsQuery,
    DnsStatus,
    FactKey,
    FactStore,
    HttpQuery,
    NtpQuery,
    NtpStatus,
    Probe,
    SrvRecord,
    TlsQuery,
    TlsVersionQuery,
)
from lyncready.host import load_registry

pytestmark = pytest.mark.realserver

V = TypeVar("V")
DOMAIN = "example.test"
FQDN = "lync.example.test"
TIMEOUT = 1.0
SILENCE = 0.5  # probe timeout for the tests that wait for silence


@functools.cache
def probes() -> dict[type[FactKey[Any]], Probe]:
    registry = load_registry(autoload=False)
    return dict(registry.probes)


def fact(
    key: FactKey[V], *, nameservers: list[str] | None = None, ca_bundle: Any = None, timeout: float = TIMEOUT
) -> V:
    """Ask one fact of a fresh store, as an audit would; returns its value."""
    options = build_options(
        nameservers=nameservers or [], ca_bundle=None if ca_bundle is None else str(ca_bundle), timeout=timeout
    )

    async def main() -> V:
        store = FactStore(probes(), options)
        try:
            return await store.get(key)
        finally:
            store.close()

    return asyncio.run(main())


def timed(key: FactKey[V], **kwargs: Any) -> tuple[V, float]:
    start = time.perf_counter()
    value = fact(key, **kwargs)
    return value, time.perf_counter() - start


# --- the lab ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dns_lab(realservers_module: ServerPool) -> DnsServer:
    return realservers_module.dns(
        zones=[DOMAIN],
        srv=[
            Srv(f"_sipinternaltls._tcp.{DOMAIN}", "pool2.example.test", 5061, priority=20, weight=5),
            Srv(f"_sipinternaltls._tcp.{DOMAIN}", FQDN, 5061, priority=10, weight=20),
            Srv(f"_ntp._udp.{DOMAIN}", "time.example.test", 123),
            # more than 512 bytes of answer: truncated over UDP, complete over TCP
            *(Srv(f"_big._tcp.{DOMAIN}", f"frontend{i:02d}.pool.example.test", 5061, 10, i) for i in range(40)),
        ],
        a={FQDN: "127.0.0.1", "pool2.example.test": "127.0.0.2", "multi.example.test": ["127.0.0.3", "127.0.0.1"]},
        cname={
            "alias.example.test": FQDN,
            "c1.example.test": "c2.example.test",
            "c2.example.test": FQDN,
            "dangling.example.test": "gone.example.test",
        },
        servfail_zones=["sick.test"],
        extra_args=[f"--srv-host=_sip._tls.{DOMAIN}"],  # no target: the "." (no service) record
    )


@pytest.fixture(scope="module")
def ntp_lab(realservers_module: ServerPool) -> NtpServer:
    return realservers_module.ntp(stratum=8)


@pytest.fixture(scope="module")
def web_lab(realservers_module: ServerPool, lab_pki: Pki) -> WebServer:
    sol = "ALL:@SECLEVEL=0"
    return realservers_module.web(
        [
            Site("http"),
            Site("http403", status=403),
            Site("redirect", status=301, location=f"https://{FQDN}{CERTPROV_PATH}"),
            Site("tls", tls=Tls(names=(FQDN, "lyncweb.example.test"))),
            Site("nochain", tls=Tls(names=(FQDN,), intermediate=False)),
            Site("wrongname", tls=Tls(names=("other.elsewhere.test",))),
            Site("expired", tls=Tls(names=(FQDN,), expired=True)),
            Site("tls12", tls=Tls(names=(FQDN,), protocols="TLSv1.2")),
            Site("tls10", tls=Tls(names=(FQDN,), protocols="TLSv1", ciphers=sol)),
            # TLS 1.0 enabled but nginx's default ciphers under OpenSSL 3 (SECLEVEL 2) leave none for it
            Site("tls10blocked", tls=Tls(names=(FQDN,), protocols="TLSv1")),
        ],
        lab_pki,
    )


def der_of(pem: bytes) -> bytes:
    return ssl.PEM_cert_to_DER_cert(pem.decode())


# --- DNS -------------------------------------------------------------------------------------------


def test_srv_answer_parsed(dns_lab: DnsServer) -> None:
    ans = fact(DnsQuery(f"_sipinternaltls._tcp.{DOMAIN}", "SRV"), nameservers=[dns_lab.nameserver])
    assert ans.status is DnsStatus.OK, ans.reason
    assert ans.srv == (
        SrvRecord(priority=10, weight=20, port=5061, target=FQDN),
        SrvRecord(priority=20, weight=5, port=5061, target="pool2.example.test"),
    )
    assert ans.records == ("10 20 5061 lync.example.test.", "20 5 5061 pool2.example.test.")
    assert ans.ttl == 60
    assert ans.server == dns_lab.nameserver
    assert ans.cname_chain == ()
    assert not ans.used_tcp


def test_srv_ntp_record(dns_lab: DnsServer) -> None:
    ans = fact(DnsQuery(f"_ntp._udp.{DOMAIN}", "SRV"), nameservers=[dns_lab.nameserver])
    assert ans.status is DnsStatus.OK
    assert ans.srv == (SrvRecord(0, 0, 123, "time.example.test"),)


def test_truncated_answer_retried_over_tcp(dns_lab: DnsServer) -> None:
    ans = fact(DnsQuery(f"_big._tcp.{DOMAIN}", "SRV"), nameservers=[dns_lab.nameserver])
    assert ans.status is DnsStatus.OK, ans
    assert ans.used_tcp
    assert len(ans.srv) == 40
    assert ans.srv[0] == SrvRecord(10, 39, 5061, "frontend39.pool.example.test")  # highest weight first


def test_srv_no_service_target_is_empty(dns_lab: DnsServer) -> None:
    ans = fact(DnsQuery(f"_sip._tls.{DOMAIN}", "SRV"), nameservers=[dns_lab.nameserver])
    assert ans.status is DnsStatus.OK
    assert [s.target for s in ans.srv] == [""]


def test_a_records_and_addresses(dns_lab: DnsServer) -> None:
    ans = fact(DnsQuery("multi.example.test", "A"), nameservers=[dns_lab.nameserver])
    assert ans.status is DnsStatus.OK
    assert ans.addresses == ("127.0.0.1", "127.0.0.3")
    via = fact(Addresses("LYNC.example.test."), nameservers=[dns_lab.nameserver])
    assert via.status is DnsStatus.OK and via.addresses == ("127.0.0.1",)
    literal = fact(Addresses("127.0.0.9"), nameservers=[dns_lab.nameserver])
    assert literal.status is DnsStatus.OK and literal.addresses == ("127.0.0.9",)


def test_nxdomain_and_nodata_told_apart(dns_lab: DnsServer) -> None:
    nx = fact(DnsQuery(f"_sipinternaltls._tcp.nope.{DOMAIN}", "SRV"), nameservers=[dns_lab.nameserver])
    assert nx.status is DnsStatus.NXDOMAIN, nx
    nodata = fact(DnsQuery(FQDN, "SRV"), nameservers=[dns_lab.nameserver])  # the name has an A record only
    assert nodata.status is DnsStatus.NODATA, nodata
    assert "no SRV record" in nodata.reason
    apex = fact(DnsQuery(DOMAIN, "A"), nameservers=[dns_lab.nameserver])
    assert apex.status is DnsStatus.NODATA, apex


def test_refused_outside_every_zone(dns_lab: DnsServer) -> None:
    ans = fact(DnsQuery("_sipinternaltls._tcp.other.test", "SRV"), nameservers=[dns_lab.nameserver])
    assert ans.status is DnsStatus.REFUSED, ans
    assert "REFUSED" in ans.reason and dns_lab.nameserver in ans.reason
    assert ans.server == dns_lab.nameserver


def test_servfail(dns_lab: DnsServer) -> None:
    ans, took = timed(DnsQuery("_sipinternaltls._tcp.sick.test", "SRV"), nameservers=[dns_lab.nameserver])
    assert ans.status is DnsStatus.SERVFAIL, ans
    assert "SERVFAIL" in ans.reason
    assert took < TIMEOUT


def test_next_nameserver_after_refused(realservers: ServerPool, dns_lab: DnsServer) -> None:
    refuser = realservers.dns(zones=[])  # serves nothing: REFUSED for every name
    ans = fact(DnsQuery(FQDN, "A"), nameservers=[refuser.nameserver, dns_lab.nameserver])
    assert ans.status is DnsStatus.OK, ans
    assert ans.server == dns_lab.nameserver
    assert ans.addresses == ("127.0.0.1",)


def test_timeout_on_silent_server() -> None:
    with silent_udp() as port:
        ans, took = timed(DnsQuery(FQDN, "A"), nameservers=[f"{LOOPBACK}:{port}"], timeout=SILENCE)
    assert ans.status is DnsStatus.TIMEOUT, ans
    assert "no answer within" in ans.reason
    assert SILENCE * 0.9 <= took < SILENCE + 1.0


def test_closed_dns_port_is_reported_as_refused_quickly() -> None:
    """A closed port answers ICMP port unreachable: the probe's own ConnectionRefusedError branch."""
    port = closed_port()
    ans, took = timed(DnsQuery(FQDN, "A"), nameservers=[f"{LOOPBACK}:{port}"], timeout=SILENCE)
    assert ans.status is DnsStatus.ERROR, ans
    assert "connection refused" in ans.reason
    assert took < SILENCE / 2


def test_cname_followed(dns_lab: DnsServer) -> None:
    ans = fact(DnsQuery("alias.example.test", "A"), nameservers=[dns_lab.nameserver])
    assert ans.status is DnsStatus.OK, ans
    assert ans.cname_chain == (FQDN,)
    assert ans.addresses == ("127.0.0.1",)
    two = fact(DnsQuery("c1.example.test", "A"), nameservers=[dns_lab.nameserver])
    assert two.status is DnsStatus.OK
    assert two.cname_chain == ("c2.example.test", FQDN)
    assert two.addresses == ("127.0.0.1",)


def test_cname_to_a_name_without_the_type(dns_lab: DnsServer) -> None:
    # dnsmasq answers the alias alone (NOERROR): the probe asks for the target, which has no SRV
    ans = fact(DnsQuery("alias.example.test", "SRV"), nameservers=[dns_lab.nameserver])
    assert ans.status is DnsStatus.NODATA, ans
    assert ans.cname_chain == (FQDN,)


def test_dangling_cname_is_nxdomain(dns_lab: DnsServer) -> None:
    ans = fact(DnsQuery("dangling.example.test", "A"), nameservers=[dns_lab.nameserver])
    assert ans.status is DnsStatus.NXDOMAIN, ans
    assert ans.cname_chain == ("gone.example.test",)
    assert "gone.example.test" in ans.reason


# --- NTP -------------------------------------------------------------------------------------------


def test_ntp_valid_reply_from_chrony(ntp_lab: NtpServer) -> None:
    reply = fact(NtpQuery(ntp_lab.address, ntp_lab.port))
    assert reply.status is NtpStatus.OK, reply
    assert reply.problems == ()
    assert reply.stratum == 8
    assert reply.mode == 4
    assert reply.version == 4
    assert reply.leap in (0, 1, 2)
    assert reply.offset is not None and abs(reply.offset) < 0.5
    assert reply.delay is not None and 0 <= reply.delay < 0.5
    assert len(bytes.fromhex(reply.raw)) >= 48


def test_ntp_closed_port_refused_quickly() -> None:
    port = closed_port()
    reply, took = timed(NtpQuery(LOOPBACK, port), timeout=TIMEOUT)
    assert reply.status is NtpStatus.REFUSED, reply
    assert reply.elapsed < TIMEOUT / 4
    assert took < TIMEOUT / 2


def test_ntp_silence_is_timeout() -> None:
    with silent_udp() as port:
        reply, took = timed(NtpQuery(LOOPBACK, port), timeout=SILENCE)
    assert reply.status is NtpStatus.TIMEOUT, reply
    assert SILENCE * 0.9 <= took < SILENCE + 1.0


# --- HTTP ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [CERTPROV_PATH, WEBTICKET_PATH])
def test_http_200(web_lab: WebServer, path: str) -> None:
    site = web_lab["http"]
    resp = fact(HttpQuery("http", site.address, site.port, FQDN, path))
    assert resp.status is ConnStatus.OK, resp
    assert resp.code == 200
    assert resp.reason_phrase == "OK"
    assert resp.header("server") == "nginx"
    assert resp.url == f"http://{FQDN}:{site.port}{path}"


def test_http_403(web_lab: WebServer) -> None:
    site = web_lab["http403"]
    resp = fact(HttpQuery("http", site.address, site.port, FQDN, CERTPROV_PATH))
    assert resp.status is ConnStatus.OK, resp
    assert resp.code == 403


def test_http_redirect_not_followed(web_lab: WebServer) -> None:
    site = web_lab["redirect"]
    resp = fact(HttpQuery("http", site.address, site.port, FQDN, CERTPROV_PATH))
    assert resp.code == 301
    assert resp.header("Location") == f"https://{FQDN}{CERTPROV_PATH}"


def test_http_refused() -> None:
    port = closed_port()
    resp, took = timed(HttpQuery("http", LOOPBACK, port, FQDN, CERTPROV_PATH))
    assert resp.status is ConnStatus.REFUSED, resp
    assert took < TIMEOUT / 2


def test_http_silent_listener_times_out() -> None:
    with silent_tcp() as port:
        resp, took = timed(HttpQuery("http", LOOPBACK, port, FQDN, CERTPROV_PATH), timeout=SILENCE)
    assert resp.status is ConnStatus.TIMEOUT, resp
    assert took < SILENCE * 2 + 1.0


def test_https_200_without_verification(web_lab: WebServer) -> None:
    site = web_lab["expired"]  # the HTTP probe does not judge the certificate
    resp = fact(HttpQuery("https", site.address, site.port, FQDN, WEBTICKET_PATH))
    assert resp.status is ConnStatus.OK, resp
    assert resp.code == 200


# --- TLS -------------------------------------------------------------------------------------------


def test_tls_chain_verified(web_lab: WebServer, lab_pki: Pki) -> None:
    site = web_lab["tls"]
    hs = fact(TlsQuery(site.address, site.port, FQDN), ca_bundle=lab_pki.ca_bundle)
    assert hs.status is ConnStatus.OK, hs
    assert hs.verified is True
    assert hs.verify_code is None
    assert hs.trust_source == str(lab_pki.ca_bundle)
    assert hs.version == "TLSv1.3"
    assert hs.cipher


def test_tls_presented_chain_has_leaf_and_intermediate(web_lab: WebServer, lab_pki: Pki) -> None:
    site = web_lab["tls"]
    hs = fact(TlsQuery(site.address, site.port, FQDN), ca_bundle=lab_pki.ca_bundle)
    assert hs.status is ConnStatus.OK, hs
    leaf = x509.load_der_x509_certificate(hs.chain[0])
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(sans.get_values_for_type(x509.DNSName)) == [FQDN, "lyncweb.example.test"]
    assert hs.chain == (
        der_of(lab_pki.leaf((FQDN, "lyncweb.example.test")).cert_chain_pems[0].bytes()),
        der_of(lab_pki.intermediate.cert_pem.bytes()),
    )


def test_tls_missing_intermediate(web_lab: WebServer, lab_pki: Pki) -> None:
    site = web_lab["nochain"]
    hs = fact(TlsQuery(site.address, site.port, FQDN), ca_bundle=lab_pki.ca_bundle)
    assert hs.status is ConnStatus.OK, hs  # the second, unverified handshake fetched the chain
    assert hs.verified is False
    assert hs.verify_code == 20  # unable to get local issuer certificate
    assert len(hs.chain) == 1


def test_tls_name_mismatch_does_not_fail_the_chain(web_lab: WebServer, lab_pki: Pki) -> None:
    site = web_lab["wrongname"]
    hs = fact(TlsQuery(site.address, site.port, FQDN), ca_bundle=lab_pki.ca_bundle)
    assert hs.status is ConnStatus.OK, hs
    assert hs.verified is True
    leaf = x509.load_der_x509_certificate(hs.chain[0])
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["other.elsewhere.test"]


def test_tls_expired_leaf(web_lab: WebServer, lab_pki: Pki) -> None:
    site = web_lab["expired"]
    hs = fact(TlsQuery(site.address, site.port, FQDN), ca_bundle=lab_pki.ca_bundle)
    assert hs.status is ConnStatus.OK, hs
    assert hs.verified is False
    assert hs.verify_code == 10, hs.verify_message  # certificate has expired
    assert "expired" in hs.verify_message


def test_tls_unknown_root(web_lab: WebServer, lab_pki: Pki) -> None:
    site = web_lab["tls"]
    hs = fact(TlsQuery(site.address, site.port, FQDN), ca_bundle=lab_pki.other_ca_bundle)
    assert hs.status is ConnStatus.OK, hs
    assert hs.verified is False
    assert hs.verify_code == 20
    assert hs.trust_source == str(lab_pki.other_ca_bundle)


def test_tls_refused() -> None:
    port = closed_port()
    hs, took = timed(TlsQuery(LOOPBACK, port, FQDN))
    assert hs.status is ConnStatus.REFUSED, hs
    assert took < TIMEOUT / 2


def test_tls_handshake_with_tls10_only_server(web_lab: WebServer, lab_pki: Pki) -> None:
    site = web_lab["tls10"]
    hs = fact(TlsQuery(site.address, site.port, FQDN), ca_bundle=lab_pki.ca_bundle)
    assert hs.status is ConnStatus.OK, hs
    assert hs.version == "TLSv1"
    assert hs.verified is True


def test_tls12_only_server_version_matrix(web_lab: WebServer) -> None:
    site = web_lab["tls12"]
    results = {v: fact(TlsVersionQuery(site.address, site.port, FQDN, v)) for v in ("TLSv1", "TLSv1.2", "TLSv1.3")}
    assert results["TLSv1.2"].accepted is True, results["TLSv1.2"]
    assert results["TLSv1.2"].cipher
    assert results["TLSv1"].accepted is False, results["TLSv1"]
    assert "PROTOCOL_VERSION" in results["TLSv1"].reason.upper()
    assert results["TLSv1.3"].accepted is False, results["TLSv1.3"]


def test_tls10_only_server_version_matrix(web_lab: WebServer) -> None:
    site = web_lab["tls10"]
    tls1 = fact(TlsVersionQuery(site.address, site.port, FQDN, "TLSv1"))
    assert tls1.accepted is True, tls1  # OpenSSL 3 offers TLS 1.0 at SECLEVEL=0 (the probe sets it)
    tls12 = fact(TlsVersionQuery(site.address, site.port, FQDN, "TLSv1.2"))
    assert tls12.accepted is False, tls12


def test_tls_version_unknown_name(web_lab: WebServer) -> None:
    site = web_lab["tls12"]
    res = fact(TlsVersionQuery(site.address, site.port, FQDN, "SSLv3"))
    assert res.accepted is None


def test_tls10_enabled_but_no_cipher_left_is_refused(web_lab: WebServer) -> None:
    # nginx answers alert 80 (internal error): for a phone that is a refusal, not "cannot test"
    site = web_lab["tls10blocked"]
    tls1 = fact(TlsVersionQuery(site.address, site.port, FQDN, "TLSv1"))
    assert tls1.accepted is False, tls1
    assert "INTERNAL_ERROR" in tls1.reason.upper()


# --- the harness itself ----------------------------------------------------------------------------


def test_require_binary_skips_locally_and_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rs, "find_binary", lambda name: None)
    monkeypatch.setenv("CI", "")
    with pytest.raises(pytest.skip.Exception):
        rs.require_binary("dnsmasq")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception):
        rs.require_binary("dnsmasq")


def test_pool_stops_its_servers_by_pid() -> None:
    with ServerPool() as pool:
        server = pool.dns(zones=[DOMAIN], a={FQDN: "127.0.0.1"})
        daemon = server.daemons[0]
        assert daemon.alive()
        workdir = pool.workdir
    assert not daemon.alive()
    assert not workdir.exists()
