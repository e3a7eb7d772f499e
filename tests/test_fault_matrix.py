"""The fault matrix: one test per fault, each a whole audit against real servers with the fault in it.

Every test runs ``lyncready.audit`` on the fault *and* on a healthy SIP domain (``good.test``: SRV records,
a chronyd time server, nginx on HTTP and HTTPS with a certificate chain from the lab CA), then asserts:

1. the affected check's exact status, its exact set of non-info finding tags, and a telling part of the
   message (``expect``);
2. that every selected check produced exactly one result for every target of its kind (``assert_complete``:
   16 built-in checks, plus the plugin checks where a plugin is loaded), that no other result is an error,
   that every result of ``good.test`` passes, and that every result the test did not judge passed or was
   skipped (``rest_passes``): the fault stayed where it was and the rest of the audit ran;
3. that the report was written (``write_report`` to a JSON file), and that the file read back validates
   against the JSON Schema (``validated``).

Real servers misbehave where they can be made to: dnsmasq (timeout, SERVFAIL, REFUSED, NXDOMAIN/NODATA, a
truncated answer, a CNAME), chronyd (stopped; running with no time source), nginx (refused port, 401/403, a
redirect loop, certificate and protocol faults). Small servers from ``tests/faultservers.py`` do what no
real server does on demand: on loopback, NTP kiss-o'-death, stratum 16, leap 3, a wrong origin, a clock an
hour off, an HTTP server that resets or never answers, a DNS forwarder that truncates and refuses TCP; in the
network namespaces of ``tests/netlab.py``, a DHCP responder that sends NAK, malformed options, or option 43
to every client (dnsmasq and Kea refuse to, see netlab.py).

Fault -> the test here; under it, an existing test that also covers the fault (``*``: it asserts the same
verdict in detail, without the whole-audit part, which the test here adds: points 2 and 3)::

    DNS timeout                              test_dns_timeout
        * test_checks_real.py::test_dns_servfail_refused_and_timeout
    DNS SERVFAIL                             test_dns_servfail
        * test_checks_real.py::test_dns_servfail_refused_and_timeout
    DNS REFUSED                              test_dns_refused
        * test_checks_real.py::test_dns_servfail_refused_and_timeout
    DNS NXDOMAIN vs NODATA                   test_nxdomain_and_nodata
        * test_checks_real.py::test_nxdomain_and_nodata_are_told_apart
    DNS truncated UDP answer, read over TCP  test_truncated_udp_answer_is_read_over_tcp
        test_probes_real.py::test_truncated_answer_retried_over_tcp (probe only)
    DNS truncated UDP answer, TCP refused    test_truncated_answer_with_tcp_blocked
    DNS CNAME as SRV target                  test_cname_as_srv_target
    NTP silence                              test_ntp_silence
        * test_checks_real.py::test_ntp_faults_refused_silent_garbage
    NTP refused port (chronyd stopped)       test_ntp_refused_after_chronyd_stopped
        * test_checks_real.py::test_ntp_faults_refused_silent_garbage (a closed port)
    NTP garbage reply                        test_ntp_garbage
        * test_checks_real.py::test_ntp_faults_refused_silent_garbage
    NTP kiss-o'-death                        test_ntp_kiss_of_death
    NTP stratum 16                           test_ntp_stratum_16
    NTP leap 3                               test_ntp_leap_3
    NTP unsynchronised chronyd (stratum 0)   test_ntp_unsynchronised_chronyd
    NTP wrong origin timestamp               test_ntp_wrong_origin
    NTP huge offset                          test_ntp_huge_offset
    HTTP connection refused                  test_http_refused
        test_dhcp_checks_real.py::test_healthy_scope_passes_and_feeds_the_other_layers (in passing)
    HTTP reset                               test_http_reset
    HTTP accepts and never answers           test_http_accepts_and_never_answers
        test_probes_real.py::test_http_silent_listener_times_out (probe only)
    HTTP 401                                 test_http_401
    HTTP 403                                 test_http_403
        * test_checks_real.py::test_anonymous_http_403_fails
    HTTP redirect loop                       test_http_redirect_loop
    TLS name mismatch                        test_tls_name_mismatch
        * test_checks_real.py::test_certificate_not_covering_the_web_fqdn_fails
    TLS expired                              test_tls_expired
        * test_checks_real.py::test_expired_certificate_fails_expiry_but_the_chain_builds
    TLS not yet valid                        test_tls_not_yet_valid
    TLS missing intermediate                 test_tls_missing_intermediate
        * test_checks_real.py::test_missing_intermediate_is_named
    TLS unknown root                         test_tls_unknown_root
        test_checks_real.py::test_unknown_root (the bundle swapped, not a rogue chain)
    TLS 1.0-only server                      test_tls10_only_server
        test_probes_real.py::test_tls10_only_server_version_matrix (probe only)
    TLS 1.2-only server                      test_tls12_only_server
        * test_checks_real.py::test_tls12_only_server_locks_out_lync_phone_edition
    DHCP no answer                           test_dhcp_no_answer
        * test_dhcp_checks_real.py::test_no_server_fails_after_inform_and_discover
    DHCP NAK                                 test_dhcp_nak
    DHCP two servers                         test_dhcp_two_servers
        * test_dhcp_checks_real.py::test_two_servers_are_both_reported
    DHCP malformed 43 (length overrun)       test_dhcp_malformed_43
        test_dhcp_checks_real.py::test_broken_dnsmasq_scope_names_each_mistake (Cisco cut)
    DHCP malformed 119 (pointer loop)        test_dhcp_malformed_119
        test_dhcp_checks_real.py::test_text_119_and_option_43_without_vendor_class (text)
    DHCP malformed 120 (cut label)           test_dhcp_malformed_120
        test_dhcp_checks_real.py::test_broken_dnsmasq_scope_names_each_mistake (ASCII)
    DHCP option 43 without option 60         test_dhcp_43_without_option_60
        * test_dhcp_checks_real.py::test_text_119_and_option_43_without_vendor_class
    plugin that raises                       test_plugin_that_raises
        test_engine.py::test_a_crashing_check_is_an_error_and_the_rest_completes (no network)
    plugin that hangs                        test_plugin_that_hangs
        test_engine.py::test_a_hanging_check_times_out_and_others_finish (no network)

The DHCP tests run the audit in this process with ``netns=`` (only the DHCP probe's thread enters the lab's
client namespace); the responders hand out loopback names and addresses only, so every other probe of the
audit stays on 127.0.0.0/8.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import trustme
from faultservers import (
    FaultServers,
    garbage,
    kod,
    leap3,
    offset_by,
    reset_after_request,
    silent_after_request,
    start_dhcp_responder,
    start_unsynchronised_chronyd,
    stratum16,
    wrong_origin,
)
from realservers import (
    DnsServer,
    NtpServer,
    Pki,
    ServerPool,
    Site,
    Srv,
    Tls,
    WebServer,
    free_port,
    require_binary,
    silent_udp,
)
from reportcheck import validated

import lyncready
from lyncready import (
    Check,
    CheckContext,
    Level,
    Outcome,
    Report,
    Result,
    Severity,
    Status,
    Target,
    TargetKind,
    check,
    hookimpl,
)
from lyncready.codecs import encode_43, encode_119, encode_120
from lyncready.facts import Addresses
from lyncready.report import report_from_dict, write_report

PROBE_TIMEOUT = 1.0  # one network exchange (as test_checks_real); each silent fault costs this much
DHCP_WINDOW = 0.5
ALL_VERSIONS = "TLSv1 TLSv1.1 TLSv1.2 TLSv1.3"
LEGACY_CIPHERS = "ALL:@SECLEVEL=0"  # OpenSSL 3 needs it for TLS 1.0/1.1
BUILTIN_CHECKS = 16

# SIP domains whose pool has a web site; each gets 127.0.3.<n> (n = position + 1), the same HTTP and HTTPS
# ports on every address, an _ntp._udp record to chronyd, and a healthy site unless the test's fault is there.
WEB_DOMAINS = (
    "good.test",
    "alias.test",
    "http-refused.test",
    "http-reset.test",
    "http-hang.test",
    "http-401.test",
    "http-403.test",
    "http-loop.test",
    "tls-name.test",
    "tls-expired.test",
    "tls-notyet.test",
    "tls-nointer.test",
    "tls-rogue.test",
    "tls10.test",
    "tls12.test",
    "big.test",  # its _ntp._udp record is the 40 targets below instead of time.big.test
)
ZONES = (*WEB_DOMAINS, "nodata.test", "tcblocked.test")
BIG_SRV = 40  # _ntp._udp.big.test records: more than 512 bytes, truncated over UDP


def pool(domain: str) -> str:
    return "web.alias.test" if domain == "alias.test" else f"pool.{domain}"


def address(domain: str) -> str:
    return f"127.0.3.{WEB_DOMAINS.index(domain) + 1}"


HEALTHY_NAMES = tuple(pool(d) for d in WEB_DOMAINS if not d.startswith("tls-"))
HEALTHY_TLS = Tls(names=HEALTHY_NAMES, protocols=ALL_VERSIONS, ciphers=LEGACY_CIPHERS)


class FaultPki(Pki):
    """The lab PKI, plus leaves no ``Tls`` flag describes: not yet valid, and one from a rogue hierarchy."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        now = datetime.now(UTC)
        rogue = trustme.CA(key_type=self.key_type, organization_name="rogue root").create_child_ca(
            key_type=self.key_type
        )
        self.custom: dict[tuple[str, ...], trustme.LeafCert] = {
            (pool("tls-notyet.test"),): self.intermediate.issue_cert(
                pool("tls-notyet.test"),
                not_before=now + timedelta(days=30),
                not_after=now + timedelta(days=400),
                key_type=self.key_type,
            ),
            (pool("tls-rogue.test"),): rogue.issue_cert(pool("tls-rogue.test"), key_type=self.key_type),
        }

    def leaf(self, names: Iterable[str], *, expired: bool = False) -> trustme.LeafCert:
        names = tuple(names)
        return self.custom.get(names) or super().leaf(names, expired=expired)


@dataclass
class FaultLab:
    dns: DnsServer
    ntp: NtpServer
    web: WebServer
    pki: FaultPki
    faults: FaultServers
    pool: ServerPool
    http_port: int
    https_port: int
    truncating_port: int

    @property
    def good(self) -> set[str]:
        """The labels of good.test's targets: every check on them must pass."""
        return {"good.test", "pool.good.test", f"time.good.test:{self.ntp.port}"}

    def audit(
        self,
        tmp_path: Path,
        domains: Iterable[str] = (),
        *,
        errors: Iterable[tuple[str, str]] = (),
        **kw: Any,
    ) -> Report:
        """Audit ``domains`` (and good.test); write the report; assert it is complete, valid and contained."""
        kw.setdefault("nameservers", [self.dns.nameserver])
        kw.setdefault("ca_bundle", str(self.pki.ca_bundle))
        kw.setdefault("timeout", PROBE_TIMEOUT)
        kw.setdefault("autoload", False)
        report = lyncready.audit(
            domains=[*domains, "good.test"],
            http_port=self.http_port,
            https_port=self.https_port,
            ntp_port=self.ntp.port,
            **kw,
        )
        path = write_report(report, tmp_path / "audit.json")
        doc = json.loads(path.read_text())
        validated(report_from_dict(doc))
        assert len(doc["results"]) == len(report.results)
        assert_complete(report)
        unexpected = [
            (r.check_id, r.target, r.summary)
            for r in report.results
            if r.status is Status.ERROR and (r.check_id, r.target) not in set(errors)
        ]
        assert not unexpected, unexpected
        builtin = [r for r in report.results if r.target in self.good and r.plugin.startswith("lyncready.plugins.")]
        bad = [(r.check_id, r.target, r.summary) for r in builtin if r.status is not Status.PASS]
        assert not bad, f"the fault leaked into good.test: {bad}"
        assert {r.target for r in builtin} == self.good
        return report


def assert_complete(report: Report) -> None:
    """Every selected check ran once on every target of its kind (or once on "(none)" when there is none)."""
    assert len([m for m in report.checks if not m.id.startswith("fault_plugin_")]) == BUILTIN_CHECKS
    labels: dict[TargetKind, list[str]] = {}
    for t in report.targets:
        labels.setdefault(t.kind, []).append(t.label)
    expected = Counter((meta.id, label) for meta in report.checks for label in labels.get(meta.target_kind, ["(none)"]))
    got = Counter((r.check_id, r.target) for r in report.results if r.check_id != "plugin_load")
    assert got == expected, {"missing": expected - got, "extra": got - expected}
    for r in report.results:
        if r.target == "(none)":
            assert r.status is Status.SKIP, r


def one(report: Report, check_id: str, target: str) -> Result:
    found = [r for r in report.results if r.check_id == check_id and r.target == target]
    assert len(found) == 1, (check_id, target, sorted({r.target for r in report.results}))
    return found[0]


_EXPECTED: dict[int, set[tuple[str, str]]] = {}  # id(report) -> the results ``expect`` judged


def expect(report: Report, check_id: str, target: str, status: Status, tags: set[str], text: str) -> Result:
    """The result's exact status, its exact non-info finding tags, and ``text`` in a finding of those tags."""
    _EXPECTED.setdefault(id(report), set()).add((check_id, target))
    r = one(report, check_id, target)
    assert r.status is status, (r.status, r.summary, r.findings)
    found = {f.tag for f in r.findings if f.level is not Level.INFO}
    assert found == tags, (found, r.findings)
    messages = [f.message for f in r.findings if f.tag in tags] if tags else [r.summary]
    assert any(text in m for m in messages), (text, messages)
    return r


def rest_passes(report: Report, *also: tuple[str, str]) -> None:
    """Every result but those ``expect`` judged (and ``also``) passed or was skipped: the fault stayed put."""
    judged = _EXPECTED.pop(id(report), set()) | set(also)
    bad = [
        (r.check_id, r.target, r.status.value, r.summary)
        for r in report.results
        if r.check_id != "plugin_load" and (r.check_id, r.target) not in judged
        if r.status not in (Status.PASS, Status.SKIP)
    ]
    assert not bad, bad


# --- the lab ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lab(realservers_module: ServerPool) -> Iterator[FaultLab]:
    for binary in ("dnsmasq", "chronyd", "nginx"):
        require_binary(binary)
    pki = FaultPki(realservers_module.workdir / "fault-pki")
    ntp = realservers_module.ntp()
    http_port = free_port(address("good.test"))
    https_port = free_port(address("good.test"))
    srv: list[Srv] = []
    a: dict[str, str | list[str]] = {}
    for d in WEB_DOMAINS:
        srv.append(Srv(f"_sipinternaltls._tcp.{d}", pool(d), 5061))
        if d != "big.test":
            srv.append(Srv(f"_ntp._udp.{d}", f"time.{d}", ntp.port))
            a[f"time.{d}"] = ntp.address
        if d != "alias.test":
            a[pool(d)] = address(d)
    a["pool.alias.test"] = address("alias.test")
    for i in range(BIG_SRV):
        srv.append(Srv("_ntp._udp.big.test", f"time{i:02d}.big.test", ntp.port, weight=i))
        a[f"time{i:02d}.big.test"] = ntp.address
    srv.append(Srv("_sipinternaltls._tcp.tcblocked.test", "pool.tcblocked.test", 5061))
    dns = realservers_module.dns(
        zones=ZONES,
        srv=srv,
        a=a,
        cname={"web.alias.test": "pool.alias.test"},
        txt={"_sipinternaltls._tcp.nodata.test": "not an SRV"},
        servfail_zones=("sick.test",),
        silent_zones=("slow.test",),
    )
    sites: list[Site] = []
    http: dict[str, dict[str, Any] | None] = {
        "http-refused.test": None,  # nothing listens on the HTTP port of this address
        "http-reset.test": None,  # a faultservers TCP server instead of nginx
        "http-hang.test": None,
        "http-401.test": {"status": 401},
        "http-403.test": {"status": 403},
        "http-loop.test": {"status": 301, "location": "http://$http_host$request_uri"},
    }
    tls: dict[str, Tls] = {
        "tls-name.test": Tls(names=("other.tls-name.test",), protocols=ALL_VERSIONS, ciphers=LEGACY_CIPHERS),
        "tls-expired.test": Tls(
            names=(pool("tls-expired.test"),), expired=True, protocols=ALL_VERSIONS, ciphers=LEGACY_CIPHERS
        ),
        "tls-notyet.test": Tls(names=(pool("tls-notyet.test"),), protocols=ALL_VERSIONS, ciphers=LEGACY_CIPHERS),
        "tls-nointer.test": Tls(
            names=(pool("tls-nointer.test"),), intermediate=False, protocols=ALL_VERSIONS, ciphers=LEGACY_CIPHERS
        ),
        "tls-rogue.test": Tls(names=(pool("tls-rogue.test"),), protocols=ALL_VERSIONS, ciphers=LEGACY_CIPHERS),
        "tls10.test": Tls(names=HEALTHY_NAMES, protocols="TLSv1", ciphers=LEGACY_CIPHERS),
        "tls12.test": Tls(names=HEALTHY_NAMES, protocols="TLSv1.2"),
    }
    for d in WEB_DOMAINS:
        opts = http.get(d, {})
        if opts is not None:
            sites.append(Site(f"http-{d}", address=address(d), port=http_port, **opts))
        status = 401 if d == "http-401.test" else 200
        sites.append(
            Site(f"https-{d}", tls=tls.get(d, HEALTHY_TLS), status=status, address=address(d), port=https_port)
        )
    web = realservers_module.web(sites, pki)
    faults = FaultServers()
    try:
        faults.tcp(reset_after_request, address("http-reset.test"), http_port)
        faults.tcp(silent_after_request, address("http-hang.test"), http_port)
        truncating = faults.truncating_dns((dns.address, dns.port), ["tcblocked.test"])
        yield FaultLab(dns, ntp, web, pki, faults, realservers_module, http_port, https_port, truncating)
    finally:
        faults.close()


# --- DNS ----------------------------------------------------------------------------------------------------------


def test_dns_timeout(lab: FaultLab, tmp_path: Path) -> None:
    """dnsmasq forwards slow.test to a closed port and never answers."""
    report = lab.audit(tmp_path, ["slow.test"])
    for check_id, name in (("dns_sipinternaltls_srv", "_sipinternaltls._tcp"), ("dns_ntp_srv", "_ntp._udp")):
        r = expect(report, check_id, "slow.test", Status.FAIL, {"dns.timeout"}, f"no answer within {PROBE_TIMEOUT:g} s")
        assert r.evidence["status"] == "timeout" and r.evidence["query"] == f"{name}.slow.test SRV"
    assert one(report, "dns_strict_naming", "slow.test").status is Status.SKIP
    rest_passes(report)


def test_dns_servfail(lab: FaultLab, tmp_path: Path) -> None:
    """dnsmasq fails to DNSSEC-validate sick.test (see realservers): SERVFAIL within milliseconds."""
    report = lab.audit(tmp_path, ["sick.test"])
    expect(report, "dns_sipinternaltls_srv", "sick.test", Status.FAIL, {"dns.servfail"}, "SERVFAIL")
    expect(report, "dns_ntp_srv", "sick.test", Status.FAIL, {"dns.servfail"}, "SERVFAIL")
    rest_passes(report)


def test_dns_refused(lab: FaultLab, tmp_path: Path) -> None:
    """unserved.test is in no zone of dnsmasq, which runs with --no-resolv: REFUSED."""
    report = lab.audit(tmp_path, ["unserved.test"])
    r = expect(report, "dns_sipinternaltls_srv", "unserved.test", Status.FAIL, {"dns.refused"}, "REFUSED")
    assert lab.dns.nameserver in r.findings[0].message
    expect(report, "dns_ntp_srv", "unserved.test", Status.FAIL, {"dns.refused"}, "REFUSED")
    rest_passes(report)


def test_nxdomain_and_nodata(lab: FaultLab, tmp_path: Path) -> None:
    """_sipinternaltls has a TXT record only (NODATA); _ntp._udp does not exist (NXDOMAIN)."""
    report = lab.audit(tmp_path, ["nodata.test"])
    r = expect(report, "dns_sipinternaltls_srv", "nodata.test", Status.FAIL, {"srv.nodata"}, "(NODATA)")
    assert r.fix == "_sipinternaltls._tcp.nodata.test. 3600 IN SRV 0 0 5061 pool.nodata.test."
    r = expect(report, "dns_ntp_srv", "nodata.test", Status.FAIL, {"srv.nxdomain"}, "(NXDOMAIN)")
    assert r.evidence["status"] == "nxdomain"
    rest_passes(report)


def test_truncated_udp_answer_is_read_over_tcp(lab: FaultLab, tmp_path: Path) -> None:
    """40 SRV records do not fit 512 bytes: dnsmasq sets TC over UDP and answers in full over TCP."""
    report = lab.audit(tmp_path, ["big.test"])
    r = expect(report, "dns_ntp_srv", "big.test", Status.PASS, set(), "all resolving")
    assert len(r.evidence["records"]) == BIG_SRV  # a truncated UDP answer is dropped whole: these came over TCP
    ntp_targets = {t.label for t in report.targets if t.kind is TargetKind.NTP and "big.test" in t.name}
    assert len(ntp_targets) == BIG_SRV
    for label in ntp_targets:
        assert one(report, "ntp_reachable", label).status is Status.PASS
    rest_passes(report)


def test_truncated_answer_with_tcp_blocked(lab: FaultLab, tmp_path: Path) -> None:
    """A forwarder truncates tcblocked.test over UDP and refuses TCP: a firewall that blocks DNS over TCP."""
    ns = f"127.0.0.1:{lab.truncating_port}"
    report = lab.audit(tmp_path, ["tcblocked.test"], nameservers=[ns])
    r = expect(
        report,
        "dns_sipinternaltls_srv",
        "tcblocked.test",
        Status.FAIL,
        {"dns.error"},
        "the UDP answer was truncated (TC) and the retry over TCP was refused",
    )
    assert "nothing listens" not in r.findings[0].message  # UDP did answer: the port is served
    expect(report, "dns_ntp_srv", "tcblocked.test", Status.FAIL, {"dns.error"}, "retry over TCP was refused")
    assert any(line.startswith("TC _sipinternaltls._tcp.tcblocked.test.") for line in lab.faults.log)
    rest_passes(report)


def test_cname_as_srv_target(lab: FaultLab, tmp_path: Path) -> None:
    """_sipinternaltls._tcp.alias.test points to web.alias.test, a CNAME (RFC 2782: the target must not be one)."""
    report = lab.audit(tmp_path, ["alias.test"])
    r = expect(report, "dns_sipinternaltls_srv", "alias.test", Status.WARN, {"srv.target_alias"}, "pool.alias.test")
    assert r.fix == "_sipinternaltls._tcp.alias.test. 3600 IN SRV 0 0 5061 pool.alias.test."
    # the alias still resolves, so the chain goes on to the web services under the alias name
    for check_id in ("http_certprov_anonymous", "https_web_services", "tls_certificate_names"):
        assert one(report, check_id, "web.alias.test").status is Status.PASS
    rest_passes(report)


# --- NTP ----------------------------------------------------------------------------------------------------------


def ntp_audit(lab: FaultLab, tmp_path: Path, port: int) -> tuple[Report, str]:
    label = f"127.0.0.1:{port}"
    return lab.audit(tmp_path, ntp_servers=[label]), label


def test_ntp_silence(lab: FaultLab, tmp_path: Path) -> None:
    with silent_udp() as port:
        report, label = ntp_audit(lab, tmp_path, port)
    r = expect(
        report,
        "ntp_reachable",
        label,
        Status.FAIL,
        {"ntp.silent"},
        f"no answer on UDP {port} within {PROBE_TIMEOUT:g} s",
    )
    assert r.fix == f"permit udp <phone VLAN> host 127.0.0.1 eq {port}"
    assert one(report, "ntp_time_sane", label).status is Status.SKIP
    rest_passes(report)


def test_ntp_refused_after_chronyd_stopped(lab: FaultLab, tmp_path: Path) -> None:
    """A real chronyd, stopped: its port now answers ICMP port unreachable."""
    stopped = lab.pool.ntp()
    stopped.stop()
    report, label = ntp_audit(lab, tmp_path, stopped.port)
    r = expect(report, "ntp_reachable", label, Status.FAIL, {"ntp.refused"}, "refused (ICMP port unreachable)")
    assert r.evidence["replies"][label]["status"] == "refused"
    assert one(report, "ntp_time_sane", label).status is Status.SKIP
    rest_passes(report)


def test_ntp_garbage(lab: FaultLab, tmp_path: Path) -> None:
    report, label = ntp_audit(lab, tmp_path, lab.faults.ntp(garbage))
    r = expect(report, "ntp_reachable", label, Status.FAIL, {"ntp.mode"}, "mode 0, not 4 (server)")
    assert set(r.findings[0].args["problems"]) >= {"mode", "origin"}
    rest_passes(report)


def test_ntp_kiss_of_death(lab: FaultLab, tmp_path: Path) -> None:
    report, label = ntp_audit(lab, tmp_path, lab.faults.ntp(kod("RATE")))
    r = expect(report, "ntp_reachable", label, Status.FAIL, {"ntp.kod"}, "kiss-o'-death 'RATE': rate limited")
    assert r.evidence["replies"][label]["kod_code"] == "RATE"
    assert one(report, "ntp_time_sane", label).status is Status.SKIP
    rest_passes(report)


def test_ntp_stratum_16(lab: FaultLab, tmp_path: Path) -> None:
    report, label = ntp_audit(lab, tmp_path, lab.faults.ntp(stratum16))
    expect(report, "ntp_reachable", label, Status.FAIL, {"ntp.stratum16"}, "stratum 16: the server is not synchronised")
    rest_passes(report)


def test_ntp_leap_3(lab: FaultLab, tmp_path: Path) -> None:
    report, label = ntp_audit(lab, tmp_path, lab.faults.ntp(leap3))
    r = expect(report, "ntp_reachable", label, Status.FAIL, {"ntp.leap3"}, "leap indicator 3")
    assert r.findings[0].args["problems"] == ["leap3"]
    rest_passes(report)


def test_ntp_unsynchronised_chronyd(lab: FaultLab, tmp_path: Path) -> None:
    """A real chronyd with no time source answers leap 3, stratum 0, reference id 0: not synchronised.

    Stratum 0 without a kiss code is "unspecified" (RFC 5905 7.3), not a kiss-o'-death; before the fix the
    audit reported this chronyd as a kiss-o'-death with the empty code ''.
    """
    chronyd = start_unsynchronised_chronyd(lab.pool.workdir / "unsync")
    try:
        report, label = ntp_audit(lab, tmp_path, chronyd.port)
    finally:
        chronyd.stop()
    r = expect(report, "ntp_reachable", label, Status.FAIL, {"ntp.stratum0"}, "stratum 0 (unspecified)")
    assert r.findings[0].args["problems"] == ["stratum0", "leap3"]
    assert "kiss-o'-death" not in r.findings[0].message
    rest_passes(report)


def test_ntp_wrong_origin(lab: FaultLab, tmp_path: Path) -> None:
    """Every reply carries a stale origin: the probe waits for the real answer, then reports the bad one."""
    report, label = ntp_audit(lab, tmp_path, lab.faults.ntp(wrong_origin))
    r = expect(report, "ntp_reachable", label, Status.FAIL, {"ntp.origin"}, "origin timestamp does not echo")
    assert r.findings[0].args["problems"] == ["origin"]
    rest_passes(report)


def test_ntp_huge_offset(lab: FaultLab, tmp_path: Path) -> None:
    """A valid server an hour ahead: reachable passes, the time check fails."""
    report, label = ntp_audit(lab, tmp_path, lab.faults.ntp(offset_by(3600)))
    assert one(report, "ntp_reachable", label).status is Status.PASS
    r = expect(report, "ntp_time_sane", label, Status.FAIL, {"ntp.offset_huge"}, "s off (limit 60 s)")
    assert 3599 < r.findings[0].args["offset"] < 3601
    rest_passes(report)


# --- HTTP ---------------------------------------------------------------------------------------------------------


def test_http_refused(lab: FaultLab, tmp_path: Path) -> None:
    """Nothing listens on the HTTP port of the pool (HTTPS works): a firewall or load balancer passing only 443."""
    report = lab.audit(tmp_path, ["http-refused.test"])
    target = pool("http-refused.test")
    r = expect(report, "http_certprov_anonymous", target, Status.FAIL, {"http.refused"}, "refused: nothing listens")
    assert r.fix == f"permit tcp <phone VLAN> host {address('http-refused.test')} eq {lab.http_port}"
    assert one(report, "https_web_services", target).status is Status.PASS
    rest_passes(report)


def test_http_reset(lab: FaultLab, tmp_path: Path) -> None:
    report = lab.audit(tmp_path, ["http-reset.test"])
    target = pool("http-reset.test")
    expect(report, "http_certprov_anonymous", target, Status.FAIL, {"http.reset"}, "reset the connection")
    assert one(report, "https_web_services", target).status is Status.PASS
    rest_passes(report)


def test_http_accepts_and_never_answers(lab: FaultLab, tmp_path: Path) -> None:
    report = lab.audit(tmp_path, ["http-hang.test"])
    target = pool("http-hang.test")
    expect(
        report,
        "http_certprov_anonymous",
        target,
        Status.FAIL,
        {"http.timeout"},
        f"accepted the connection but sent no HTTP answer within {PROBE_TIMEOUT:g} s",
    )
    assert one(report, "tls_certificate_chain", target).status is Status.PASS
    rest_passes(report)


def test_http_401(lab: FaultLab, tmp_path: Path) -> None:
    """401 on port 80 refuses the anonymous root-chain download; on 443 it is the expected challenge."""
    report = lab.audit(tmp_path, ["http-401.test"])
    target = pool("http-401.test")
    r = expect(report, "http_certprov_anonymous", target, Status.FAIL, {"http.auth_required"}, "answered 401")
    assert r.fix.startswith("Enable anonymous access to /CertProv/")
    r = expect(report, "https_web_services", target, Status.PASS, set(), "answers for WebTicket and CertProv")
    assert {f.tag for f in r.findings} == {"https.ok"}
    assert all("authentication challenge, as expected" in f.message for f in r.findings)
    rest_passes(report)


def test_http_403(lab: FaultLab, tmp_path: Path) -> None:
    report = lab.audit(tmp_path, ["http-403.test"])
    expect(
        report, "http_certprov_anonymous", pool("http-403.test"), Status.FAIL, {"http.auth_required"}, "answered 403"
    )
    rest_passes(report)


def test_http_redirect_loop(lab: FaultLab, tmp_path: Path) -> None:
    """nginx redirects the CertProv URL to itself: no client ever gets the root chain."""
    report = lab.audit(tmp_path, ["http-loop.test"])
    target = pool("http-loop.test")
    r = expect(
        report, "http_certprov_anonymous", target, Status.FAIL, {"http.redirect_loop"}, "redirects (301) to itself"
    )
    location = r.evidence["responses"][0]["location"]
    assert location == f"http://{target}:{lab.http_port}/CertProv/CertProvisioningService.svc"
    rest_passes(report)


# --- TLS ----------------------------------------------------------------------------------------------------------


def test_tls_name_mismatch(lab: FaultLab, tmp_path: Path) -> None:
    report = lab.audit(tmp_path, ["tls-name.test"])
    target = pool("tls-name.test")
    r = expect(report, "tls_certificate_names", target, Status.FAIL, {"cert.name_missing"}, "other.tls-name.test")
    assert r.findings[0].args["name"] == target
    assert one(report, "tls_certificate_chain", target).status is Status.PASS
    rest_passes(report)


def test_tls_expired(lab: FaultLab, tmp_path: Path) -> None:
    report = lab.audit(tmp_path, ["tls-expired.test"])
    target = pool("tls-expired.test")
    expect(report, "tls_certificate_expiry", target, Status.FAIL, {"cert.expired"}, "The server certificate")
    chain = one(report, "tls_certificate_chain", target)
    assert chain.status is Status.PASS and {f.tag for f in chain.findings} == {"chain.ok_but_time"}
    rest_passes(report)


def test_tls_not_yet_valid(lab: FaultLab, tmp_path: Path) -> None:
    report = lab.audit(tmp_path, ["tls-notyet.test"])
    target = pool("tls-notyet.test")
    expect(report, "tls_certificate_expiry", target, Status.FAIL, {"cert.not_yet_valid"}, "is not valid before")
    chain = one(report, "tls_certificate_chain", target)
    assert chain.status is Status.PASS and {f.tag for f in chain.findings} == {"chain.ok_but_time"}
    assert chain.evidence["chains"][0]["verify_code"] == 9  # X509_V_ERR_CERT_NOT_YET_VALID
    rest_passes(report)


def test_tls_missing_intermediate(lab: FaultLab, tmp_path: Path) -> None:
    report = lab.audit(tmp_path, ["tls-nointer.test"])
    target = pool("tls-nointer.test")
    r = expect(
        report, "tls_certificate_chain", target, Status.FAIL, {"chain.missing_intermediate"}, "omits the intermediate"
    )
    assert r.fix.startswith("Install the intermediate CA certificate")
    rest_passes(report)


def test_tls_unknown_root(lab: FaultLab, tmp_path: Path) -> None:
    """The pool presents leaf + intermediate of a rogue hierarchy; the phones trust the lab root only."""
    report = lab.audit(tmp_path, ["tls-rogue.test"])
    target = pool("tls-rogue.test")
    r = expect(
        report, "tls_certificate_chain", target, Status.FAIL, {"chain.unknown_root"}, "an unknown or untrusted root"
    )
    assert "rogue root" in r.findings[0].args["root"]
    assert one(report, "tls_certificate_names", target).status is Status.PASS
    rest_passes(report)


def test_tls10_only_server(lab: FaultLab, tmp_path: Path) -> None:
    """Third-party phones want TLS 1.2: a TLS 1.0-only server fails them (Lync Phone Edition is served)."""
    report = lab.audit(tmp_path, ["tls10.test"], device="3pip")
    target = pool("tls10.test")
    r = expect(report, "tls_protocol_versions", target, Status.FAIL, {"tls.version_missing"}, "refuses TLS 1.2")
    assert r.evidence["versions"][address("tls10.test")] == {
        "TLS 1.0": True,
        "TLS 1.1": False,
        "TLS 1.2": False,
        "TLS 1.3": False,
    }
    for check_id in ("tls_certificate_names", "tls_certificate_chain", "tls_certificate_expiry"):
        assert one(report, check_id, target).status is Status.PASS  # the other handshakes speak TLS 1.0
    rest_passes(report)


def test_tls12_only_server(lab: FaultLab, tmp_path: Path) -> None:
    report = lab.audit(tmp_path, ["tls12.test"])
    r = expect(
        report, "tls_protocol_versions", pool("tls12.test"), Status.FAIL, {"tls.version_missing"}, "refuses TLS 1.0"
    )
    assert r.fix.startswith("Enable TLS 1.0")
    rest_passes(report)


# --- plugins ------------------------------------------------------------------------------------------------------


def plugin_check(cid: str, kind: TargetKind, func: Callable[[CheckContext, Target], Any]) -> Check:
    return check(
        id=cid,
        title=f"Fault-matrix plugin check {cid}",
        target_kind=kind,
        severity=Severity.FAIL,
        description="A plugin check that misbehaves on purpose, to show the audit completes without it.",
        remediation="Fix the plugin.",
    )(func)


class Plugin:
    def __init__(self, *checks: Check) -> None:
        self.checks = checks

    @hookimpl
    def register_checks(self, register: Callable[[Check], None]) -> None:
        for c in self.checks:
            register(c)


class BrokenRegistration:
    @hookimpl
    def register_checks(self, register: Callable[[Check], None]) -> None:
        raise RuntimeError("the plugin's register_checks blew up")


def test_plugin_that_raises(lab: FaultLab, tmp_path: Path) -> None:
    """A plugin check that raises on every web target, and a plugin whose registration raises."""

    async def crash(ctx: CheckContext, target: Target) -> Outcome:
        await ctx.fact(Addresses(target.name))  # it uses the audit's facts, then fails
        raise RuntimeError(f"plugin bug on {target.name}")

    raising = plugin_check("fault_plugin_raises", TargetKind.WEB, crash)
    report = lab.audit(
        tmp_path,
        ["tls12.test"],
        plugins=[Plugin(raising), BrokenRegistration()],
        errors=[
            ("plugin_load", "BrokenRegistration"),
            *(("fault_plugin_raises", pool(d)) for d in ("good.test", "tls12.test")),
        ],
    )
    assert len(report.checks) == BUILTIN_CHECKS + 1
    for d in ("good.test", "tls12.test"):
        r = one(report, "fault_plugin_raises", pool(d))
        assert r.status is Status.ERROR and r.summary == f"Check crashed: RuntimeError: plugin bug on {pool(d)}"
        assert "Traceback" in r.evidence["traceback"]
    load = [r for r in report.results if r.check_id == "plugin_load"]
    assert len(load) == 1 and load[0].status is Status.ERROR
    assert "register_checks failed: RuntimeError: the plugin's register_checks blew up" in load[0].summary
    # the built-in checks still judged the same target
    expect(report, "tls_protocol_versions", pool("tls12.test"), Status.FAIL, {"tls.version_missing"}, "TLS 1.0")
    rest_passes(report, *(("fault_plugin_raises", pool(d)) for d in ("good.test", "tls12.test")))


def test_plugin_that_hangs(lab: FaultLab, tmp_path: Path) -> None:
    """A plugin check that awaits forever: an error with the per-check timeout reason; the rest completes."""

    async def hang(ctx: CheckContext, target: Target) -> Outcome:
        await asyncio.Event().wait()
        return Outcome("never")

    hanging = plugin_check("fault_plugin_hangs", TargetKind.DOMAIN, hang)
    report = lab.audit(
        tmp_path,
        ["http-403.test"],
        plugins=[Plugin(hanging)],
        check_timeout=2.0,
        errors=[("fault_plugin_hangs", d) for d in ("good.test", "http-403.test")],
    )
    for d in ("good.test", "http-403.test"):
        r = one(report, "fault_plugin_hangs", d)
        assert r.status is Status.ERROR
        assert r.summary == "Check did not finish within 2 s (per-check timeout)"
        assert 1.9 < r.duration < 4
    expect(report, "http_certprov_anonymous", pool("http-403.test"), Status.FAIL, {"http.auth_required"}, "403")
    assert report.duration < 10
    rest_passes(report, *(("fault_plugin_hangs", d) for d in ("good.test", "http-403.test")))


# --- DHCP ---------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def netlab_faults() -> Iterator[Any]:
    from netlab import NetLab

    with NetLab() as net:
        yield net


@dataclass
class DhcpFault:
    net: Any
    lab: FaultLab
    daemons: list[Any] = field(default_factory=list)
    namespaces: list[Any] = field(default_factory=list)

    def responder(self, options: list[tuple[int, bytes]], **kw: Any) -> Any:
        """A responder in a new server namespace on the lab's link; returns the namespace (its ``address``)."""
        server = self.net.add_server()
        self.daemons.append(start_dhcp_responder(self.net, server, options, **kw))
        self.namespaces.append(server)
        return server

    def audit(self, tmp_path: Path, **kw: Any) -> Report:
        return self.lab.audit(tmp_path, interface="br0", netns=self.net.client, dhcp_timeout=DHCP_WINDOW, **kw)


def scope(o43: bytes | None = None, o119: bytes | None = None, o120: bytes | None = None) -> list[tuple[int, bytes]]:
    """What the responders hand out: a good scope pointing at good.test (loopback only), one option replaced."""
    return [
        (120, o120 if o120 is not None else encode_120([pool("good.test")])),
        (43, o43 if o43 is not None else encode_43(pool("good.test"))),
        (119, o119 if o119 is not None else encode_119(["good.test"])),
        (42, socket.inet_aton("127.0.0.1")),
    ]


@pytest.fixture
def dhcp(netlab_faults: Any, lab: FaultLab) -> Iterator[DhcpFault]:
    fault = DhcpFault(netlab_faults, lab)
    try:
        yield fault
    finally:
        for daemon in fault.daemons:  # the link is shared by the module's tests: nobody may keep answering
            daemon.stop()


DHCP_IDS = ("dhcp_server_response", "dhcp_option_120", "dhcp_option_43", "dhcp_option_119", "dhcp_time_servers")


def test_dhcp_no_answer(dhcp: DhcpFault, tmp_path: Path) -> None:
    report = dhcp.audit(tmp_path)
    expect(report, "dhcp_server_response", "br0", Status.FAIL, {"dhcp.no_answer"}, "No DHCP server answered on br0")
    for check_id in DHCP_IDS[1:]:
        assert one(report, check_id, "br0").status is Status.SKIP
    rest_passes(report, ("dhcp_time_servers", "br0"))


def test_dhcp_nak(dhcp: DhcpFault, tmp_path: Path) -> None:
    dhcp.responder(scope(), message_type=6)
    report = dhcp.audit(tmp_path)
    r = expect(report, "dhcp_server_response", "br0", Status.FAIL, {"dhcp.nak"}, "answered with DHCPNAK")
    assert r.summary == "Only DHCPNAK on br0"
    for check_id in DHCP_IDS[1:]:
        assert one(report, check_id, "br0").status is Status.SKIP
    rest_passes(report, ("dhcp_time_servers", "br0"))


def test_dhcp_two_servers(dhcp: DhcpFault, tmp_path: Path) -> None:
    """Two servers on the phone VLAN (here with the same scope): one of them is a rogue or a leftover."""
    first, second = dhcp.responder(scope()), dhcp.responder(scope())
    report = dhcp.audit(tmp_path)
    r = expect(report, "dhcp_server_response", "br0", Status.WARN, {"dhcp.several_servers"}, "2 DHCP servers answered")
    several = next(f for f in r.findings if f.tag == "dhcp.several_servers")
    assert sorted(several.args["servers"]) == sorted([first.address, second.address])
    assert one(report, "dhcp_option_120", "br0").status is Status.PASS  # judged for both replies
    rest_passes(report, ("dhcp_time_servers", "br0"))


def test_dhcp_malformed_43(dhcp: DhcpFault, tmp_path: Path) -> None:
    """Sub-option 3 (the web FQDN) claims 200 bytes: the option is cut inside the FQDN."""
    good = encode_43(pool("good.test"))
    at = good.index(b"\x03" + bytes([len(pool("good.test"))]))
    dhcp.responder(scope(o43=good[: at + 1] + bytes([200]) + good[at + 2 :]))
    report = dhcp.audit(tmp_path)
    expect(report, "dhcp_option_43", "br0", Status.FAIL, {"o43.truncated"}, "Option 43 is cut: sub-option 3 at byte")
    assert "says 200 bytes" in one(report, "dhcp_option_43", "br0").findings[0].message
    rest_passes(report, ("dhcp_time_servers", "br0"))


def test_dhcp_malformed_119(dhcp: DhcpFault, tmp_path: Path) -> None:
    """A compression pointer that points back into its own name: a loop (RFC 3397 decoders must stop)."""
    dhcp.responder(scope(o119=b"\x04good\x04test\xc0\x05"))
    report = dhcp.audit(tmp_path)
    expect(report, "dhcp_option_119", "br0", Status.WARN, {"o119.pointer_loop", "o119.domain_missing"}, "form a loop")
    rest_passes(report, ("dhcp_time_servers", "br0"))


def test_dhcp_malformed_120(dhcp: DhcpFault, tmp_path: Path) -> None:
    """Option 120 cut three bytes short: the last label says 4 bytes, 2 remain."""
    dhcp.responder(scope(o120=encode_120([pool("good.test")])[:-3]))
    report = dhcp.audit(tmp_path)
    r = expect(
        report, "dhcp_option_120", "br0", Status.FAIL, {"o120.truncated_label"}, "says 4 bytes but only 2 remain"
    )
    assert r.findings[0].message.startswith(f"{dhcp.namespaces[0].address}: option 120: the label at byte 11")
    rest_passes(report, ("dhcp_time_servers", "br0"))


def test_dhcp_43_without_option_60(dhcp: DhcpFault, tmp_path: Path) -> None:
    dhcp.responder(scope(), only_ms_uc_client=False)
    report = dhcp.audit(tmp_path)
    expect(
        report,
        "dhcp_option_43",
        "br0",
        Status.FAIL,
        {"o43.sent_without_vendor_class"},
        "sends the MS-UC-Client option 43 to a client without vendor class MS-UC-Client",
    )
    rest_passes(report, ("dhcp_time_servers", "br0"))
