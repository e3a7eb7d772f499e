"""Every built-in check against real servers: dnsmasq (DNS), chronyd (NTP), nginx with trustme certificates.

One dnsmasq serves a healthy SIP domain and one domain per classic mistake; nginx serves each domain's
pool on its own 127.0.1.x address with the same HTTP and HTTPS ports (pinned with --http-port /
--https-port as a lab must). Each test asserts the exact status and finding tag of the affected check,
and every report is validated against the JSON Schema.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from realservers import Pki, ServerPool, Site, Srv, Tls, closed_port, free_port, require_binary, silent_udp
from reportcheck import validated

import lyncready
from lyncready import Report, Status

ALL_TLS = Tls(names=(), protocols="TLSv1 TLSv1.1 TLSv1.2 TLSv1.3", ciphers="ALL:@SECLEVEL=0")

# domain -> (pool address, nginx HTTP site options, TLS settings)
SCENARIOS: dict[str, tuple[str, dict[str, Any], Tls]] = {
    "good.test": (
        "127.0.1.1",
        {},
        Tls(names=("pool.good.test",), protocols=ALL_TLS.protocols, ciphers=ALL_TLS.ciphers),
    ),
    "forbidden.test": (
        "127.0.1.2",
        {"status": 403},
        Tls(names=("other.forbidden.test",), protocols=ALL_TLS.protocols, ciphers=ALL_TLS.ciphers),
    ),
    "expired.test": (
        "127.0.1.3",
        {},
        Tls(names=("pool.expired.test",), expired=True, protocols=ALL_TLS.protocols, ciphers=ALL_TLS.ciphers),
    ),
    "nointer.test": (
        "127.0.1.4",
        {},
        Tls(names=("pool.nointer.test",), intermediate=False, protocols=ALL_TLS.protocols, ciphers=ALL_TLS.ciphers),
    ),
    "modern.test": ("127.0.1.5", {}, Tls(names=("pool.modern.test",), protocols="TLSv1.2")),
}


@dataclass
class RealLab:
    dns: Any
    ntp: Any
    http_port: int
    https_port: int
    pki: Pki

    def audit(self, domains: list[str], **kw: Any) -> Report:
        kw.setdefault("nameservers", [self.dns.nameserver])
        kw.setdefault("ca_bundle", str(self.pki.ca_bundle))
        kw.setdefault("timeout", 1.0)
        report = lyncready.audit(
            domains=domains,
            http_port=self.http_port,
            https_port=self.https_port,
            ntp_port=self.ntp.port,
            autoload=False,
            **kw,
        )
        validated(report)
        return report


@pytest.fixture(scope="module")
def lab(realservers_module: ServerPool, lab_pki: Pki) -> RealLab:
    for binary in ("dnsmasq", "chronyd", "nginx"):
        require_binary(binary)
    ntp = realservers_module.ntp()
    http_port = free_port("127.0.1.1")
    https_port = free_port("127.0.1.1")
    srv = [Srv(f"_ntp._udp.{d}", f"time.{d}", ntp.port) for d in ("good.test", "outside.test")]
    a = {"time.good.test": ntp.address, "time.outside.test": ntp.address, "pool.elsewhere.test": "127.0.1.1"}
    sites = []
    for domain, (address, http_opts, tls) in SCENARIOS.items():
        srv.append(Srv(f"_sipinternaltls._tcp.{domain}", f"pool.{domain}", 5061))
        a[f"pool.{domain}"] = address
        sites.append(Site(f"http-{domain}", address=address, port=http_port, **http_opts))
        sites.append(Site(f"https-{domain}", tls=tls, address=address, port=https_port))
    srv.append(Srv("_sipinternaltls._tcp.outside.test", "pool.elsewhere.test", 5061))
    srv.append(Srv("_sipinternaltls._tcp.badport.test", "pool.badport.test", 5062))
    srv.append(Srv("_sipinternaltls._tcp.dangling.test", "pool.dangling.test", 5061))  # no A record
    a["pool.badport.test"] = "127.0.1.1"
    dns = realservers_module.dns(
        zones=(*SCENARIOS, "outside.test", "elsewhere.test", "badport.test", "dangling.test", "nodata.test"),
        srv=srv,
        a=a,
        txt={"_sipinternaltls._tcp.nodata.test": "not an SRV"},
        servfail_zones=("sf.test",),
        silent_zones=("slow.test",),
    )
    realservers_module.web(sites, lab_pki)
    return RealLab(dns, ntp, http_port, https_port, lab_pki)


def result(report: Report, check_id: str, target: str) -> lyncready.Result:
    found = [r for r in report.results if r.check_id == check_id and r.target.split(":")[0] == target]
    assert len(found) == 1, f"{check_id} on {target}: {[(r.check_id, r.target) for r in report.results]}"
    return found[0]


def tags(r: lyncready.Result) -> set[str]:
    return {f.tag for f in r.findings}


@pytest.fixture(scope="module")
def main_report(lab: RealLab) -> Report:
    return lab.audit([*SCENARIOS, "outside.test", "badport.test", "dangling.test", "nodata.test"])


def test_healthy_domain_passes_every_check(main_report: Report) -> None:
    ids = {
        "dns_sipinternaltls_srv": "good.test",
        "dns_ntp_srv": "good.test",
        "dns_strict_naming": "good.test",
        "http_certprov_anonymous": "pool.good.test",
        "https_web_services": "pool.good.test",
        "tls_certificate_names": "pool.good.test",
        "tls_certificate_chain": "pool.good.test",
        "tls_certificate_expiry": "pool.good.test",
        "tls_protocol_versions": "pool.good.test",
        "ntp_reachable": "time.good.test",
        "ntp_time_sane": "time.good.test",
    }
    for check_id, target in ids.items():
        r = result(main_report, check_id, target)
        assert r.status is Status.PASS, (check_id, r.summary, r.findings)
    assert result(main_report, "ntp_reachable", "time.good.test").evidence["replies"]
    stratum = result(main_report, "ntp_time_sane", "time.good.test").findings[0].args["stratum"]
    assert stratum == 8  # chronyd runs with "local stratum 8"
    versions = result(main_report, "tls_protocol_versions", "pool.good.test").evidence["versions"]["127.0.1.1"]
    assert versions == {"TLS 1.0": True, "TLS 1.1": True, "TLS 1.2": True, "TLS 1.3": True}


def test_web_targets_come_from_the_srv_records(main_report: Report) -> None:
    web = {t.name: t for t in main_report.targets if t.kind == "web"}
    assert web["pool.good.test"].origins == ("SRV _sipinternaltls._tcp.good.test target",)
    assert web["pool.elsewhere.test"].domains == ("outside.test",)


def test_anonymous_http_403_fails(main_report: Report) -> None:
    r = result(main_report, "http_certprov_anonymous", "pool.forbidden.test")
    assert r.status is Status.FAIL
    assert tags(r) == {"http.auth_required"}
    assert "403" in r.findings[0].message
    assert r.remediation and r.fix.startswith("Enable anonymous access to /CertProv/")


def test_certificate_not_covering_the_web_fqdn_fails(main_report: Report) -> None:
    r = result(main_report, "tls_certificate_names", "pool.forbidden.test")
    assert r.status is Status.FAIL
    assert tags(r) == {"cert.name_missing"}
    assert r.findings[0].args["name"] == "pool.forbidden.test"
    assert "other.forbidden.test" in r.findings[0].message
    # the name mismatch is not a chain problem
    assert result(main_report, "tls_certificate_chain", "pool.forbidden.test").status is Status.PASS


def test_expired_certificate_fails_expiry_but_the_chain_builds(main_report: Report) -> None:
    r = result(main_report, "tls_certificate_expiry", "pool.expired.test")
    assert r.status is Status.FAIL
    assert "cert.expired" in tags(r)
    chain = result(main_report, "tls_certificate_chain", "pool.expired.test")
    assert chain.status is Status.PASS and tags(chain) == {"chain.ok_but_time"}


def test_missing_intermediate_is_named(main_report: Report) -> None:
    r = result(main_report, "tls_certificate_chain", "pool.nointer.test")
    assert r.status is Status.FAIL
    assert tags(r) == {"chain.missing_intermediate"}
    assert "omits the intermediate" in r.findings[0].message
    assert r.evidence["chains"][0]["verify_code"] == 20


def test_tls12_only_server_locks_out_lync_phone_edition(main_report: Report, lab: RealLab) -> None:
    r = result(main_report, "tls_protocol_versions", "pool.modern.test")
    assert r.status is Status.FAIL
    assert tags(r) == {"tls.version_missing"}
    assert r.evidence["versions"]["127.0.1.5"]["TLS 1.0"] is False
    assert r.evidence["versions"]["127.0.1.5"]["TLS 1.2"] is True
    third_party = lab.audit(["modern.test"], device="3pip", checks=["tls_protocol_versions"])
    assert result(third_party, "tls_protocol_versions", "pool.modern.test").status is Status.PASS


def test_srv_target_outside_the_domain_breaks_strict_naming(main_report: Report) -> None:
    r = result(main_report, "dns_strict_naming", "outside.test")
    assert r.status is Status.FAIL
    assert tags(r) == {"strict.outside"}
    assert r.fix == "_sipinternaltls._tcp.outside.test. 3600 IN SRV 0 0 5061 pool.outside.test."
    assert result(main_report, "dns_sipinternaltls_srv", "outside.test").status is Status.PASS


def test_srv_port_and_dangling_target(main_report: Report) -> None:
    r = result(main_report, "dns_sipinternaltls_srv", "badport.test")
    assert r.status is Status.WARN and tags(r) == {"srv.port"}
    r = result(main_report, "dns_sipinternaltls_srv", "dangling.test")
    assert r.status is Status.FAIL and tags(r) == {"srv.target_unresolved"}


def test_nxdomain_and_nodata_are_told_apart(main_report: Report) -> None:
    r = result(main_report, "dns_sipinternaltls_srv", "nodata.test")
    assert r.status is Status.FAIL and tags(r) == {"srv.nodata"}
    r = result(main_report, "dns_ntp_srv", "nodata.test")
    assert r.status is Status.FAIL and tags(r) == {"srv.nxdomain"}
    assert r.fix.startswith("_ntp._udp.nodata.test. 3600 IN SRV 0 0 ")


def test_dns_servfail_refused_and_timeout(lab: RealLab) -> None:
    report = lab.audit(["sf.test", "unserved.test", "slow.test"], checks=["dns_sipinternaltls_srv"])
    assert tags(result(report, "dns_sipinternaltls_srv", "sf.test")) == {"dns.servfail"}
    assert tags(result(report, "dns_sipinternaltls_srv", "unserved.test")) == {"dns.refused"}
    slow = result(report, "dns_sipinternaltls_srv", "slow.test")
    assert tags(slow) == {"dns.timeout"} and slow.status is Status.FAIL
    assert "no answer within 1 s" in slow.findings[0].message


def test_unknown_root(lab: RealLab) -> None:
    report = lab.audit(["good.test"], ca_bundle=str(lab.pki.other_ca_bundle), checks=["tls_certificate_chain"])
    r = result(report, "tls_certificate_chain", "pool.good.test")
    assert r.status is Status.FAIL and tags(r) == {"chain.unknown_root"}


@pytest.fixture
def garbage_ntp() -> Iterator[int]:
    """A UDP responder that answers every datagram with 48 bytes that are not a reply to it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                _data, peer = sock.recvfrom(512)
            except OSError:
                continue
            sock.sendto(bytes(range(48)), peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        sock.close()


def test_ntp_faults_refused_silent_garbage(lab: RealLab, garbage_ntp: int) -> None:
    closed = closed_port()
    with silent_udp() as silent:
        report = lab.audit(
            [],
            ntp_servers=[f"127.0.0.1:{closed}", f"127.0.0.1:{silent}", f"127.0.0.1:{garbage_ntp}", lab.ntp.hostport],
            checks=["ntp_reachable", "ntp_time_sane"],
        )
    by_port = {r.target: r for r in report.results if r.check_id == "ntp_reachable"}
    assert tags(by_port[f"127.0.0.1:{closed}"]) == {"ntp.refused"}
    assert by_port[f"127.0.0.1:{closed}"].evidence["replies"][f"127.0.0.1:{closed}"]["status"] == "refused"
    assert tags(by_port[f"127.0.0.1:{silent}"]) == {"ntp.silent"}
    garbage = by_port[f"127.0.0.1:{garbage_ntp}"]
    assert garbage.status is Status.FAIL and tags(garbage) == {"ntp.mode"}
    assert set(garbage.findings[0].args["problems"]) >= {"mode", "origin"}
    assert by_port[lab.ntp.hostport].status is Status.PASS
    sane = {r.target: r for r in report.results if r.check_id == "ntp_time_sane"}
    assert sane[f"127.0.0.1:{silent}"].status is Status.SKIP
    assert sane[lab.ntp.hostport].status is Status.PASS


def test_the_certificate_must_cover_a_registrar_served_from_the_same_address(lab: RealLab) -> None:
    # outside.test's Registrar pool.elsewhere.test resolves to 127.0.1.1, where pool.good.test's certificate is
    same = lab.audit(["outside.test"], web_fqdns=["pool.good.test"], checks=["tls_certificate_names"])
    r = result(same, "tls_certificate_names", "pool.good.test")
    assert r.status is Status.FAIL and tags(r) == {"cert.name_ok", "cert.name_missing"}
    missing = [f.args["name"] for f in r.findings if f.tag == "cert.name_missing"]
    assert missing == ["pool.elsewhere.test"]
    # forbidden.test's Registrar lives on 127.0.1.2: another server, with its own certificate
    other = lab.audit(["forbidden.test"], web_fqdns=["pool.good.test"], checks=["tls_certificate_names"])
    r = result(other, "tls_certificate_names", "pool.good.test")
    assert r.status is Status.PASS and r.evidence["required_names"] == ["pool.good.test"]
