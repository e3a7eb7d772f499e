"""The DHCP checks end to end: `lyncready audit --interface br0` run inside the client namespace of a netns lab,
against real dnsmasq and Kea DHCP servers (and a scripted responder for what no real server sends), with a
real dnsmasq DNS server in a server namespace. tshark's decoding of the same exchange cross-checks ours.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from netlab import BROKEN, DhcpOptions, NetLab, ServerNs, require_binary, without_capabilities
from reportcheck import validated

from lyncready.codecs import decode_option, encode_43, encode_119, encode_120
from lyncready.facts import DhcpProbe, DhcpStatus
from lyncready.report import report_from_dict

DOMAIN = "example.test"
DHCP_CHECKS = ("dhcp_server_response", "dhcp_option_120", "dhcp_option_43", "dhcp_option_119", "dhcp_time_servers")


def start_dns(lab: NetLab, server: ServerNs, *, registrar: str = "lync.example.test") -> str:
    """A real dnsmasq DNS server on the server's address, port 53 (what option 6 tells phones)."""
    binary = require_binary("dnsmasq")
    conf = lab.workdir / f"dns-{server.index}.conf"
    conf.write_text(
        "\n".join(
            [
                "port=53",
                f"listen-address={server.address}",
                "bind-interfaces",
                "no-resolv",
                "no-hosts",
                "keep-in-foreground",
                "log-facility=-",
                "user=root",
                "local-ttl=60",
                f"local=/{DOMAIN}/",
                f"pid-file={lab.workdir / f'dns-{server.index}.pid'}",
                f"srv-host=_sipinternaltls._tcp.{DOMAIN},{registrar},5061",
                f"srv-host=_ntp._udp.{DOMAIN},time.{DOMAIN},123",
                f"host-record={registrar},{server.address}",
                f"host-record=time.{DOMAIN},{server.address}",
            ]
        )
        + "\n"
    )
    daemon = lab.start(f"dns-{server.index}", [binary, f"--conf-file={conf}"], server.name)
    probe = (
        "import dns.message, dns.query, sys; "
        f"q = dns.message.make_query('_sipinternaltls._tcp.{DOMAIN}', 'SRV'); "
        f"r = dns.query.udp(q, '{server.address}', timeout=0.5); print(len(r.answer))"
    )
    daemon.wait_ready(lambda: lab.run(["python", "-c", probe], timeout=10).stdout.strip() == "1", "answering DNS")
    return server.address


def audit(
    lab: NetLab, nameserver: str, *extra: str, checks: tuple[str, ...] = DHCP_CHECKS, wrap: Sequence[str] = ()
) -> tuple[int, dict[str, Any]]:
    argv = [
        "lyncready",
        "audit",
        "--interface",
        "br0",
        "--domain",
        DOMAIN,
        "--nameserver",
        nameserver,
        "--dhcp-timeout",
        "1",
        "--timeout",
        "1",
        "--format",
        "json",
        *extra,
    ]
    for c in checks:
        argv += ["--check", c]
    proc = lab.run(argv, wrap=wrap, timeout=120)
    assert proc.stdout, proc.stderr
    doc = json.loads(proc.stdout)
    validated(report_from_dict(doc))
    return proc.returncode, doc


def by_check(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["check_id"]: r for r in doc["results"] if r["target_kind"] == "dhcp"}


def tags(result: dict[str, Any]) -> set[str]:
    return {f["tag"] for f in result["findings"]}


@pytest.fixture
def lab() -> Iterator[NetLab]:
    with NetLab() as net:
        yield net


@pytest.mark.parametrize("server_kind", ["dnsmasq", "kea"])
def test_healthy_scope_passes_and_feeds_the_other_layers(lab: NetLab, server_kind: str) -> None:
    server = lab.add_server()
    getattr(lab, server_kind)(server, DhcpOptions())
    ns = start_dns(lab, server)
    code, doc = audit(
        lab, ns, checks=(*DHCP_CHECKS, "dns_sipinternaltls_srv", "ntp_reachable", "http_certprov_anonymous")
    )
    results = by_check(doc)
    for check_id in DHCP_CHECKS:
        assert results[check_id]["status"] == "pass", (check_id, results[check_id])
    assert "o120.matches_srv" in tags(results["dhcp_option_120"])
    assert results["dhcp_option_43"]["evidence"]["web_fqdns"] == ["lync.example.test"]
    url = next(f for f in results["dhcp_option_43"]["findings"] if f["tag"] == "o43.url")["args"]["url"]
    assert url == "https://lync.example.test:443/CertProv/CertProvisioningService.svc"
    # options 42 and 4 name the server: they became NTP targets, and nothing answers NTP there
    ntp = {t["name"]: t for t in doc["targets"] if t["kind"] == "ntp"}
    assert f"DHCP option 42 from {server.address}" in ntp[server.address]["origins"]
    ntp_result = next(
        r for r in doc["results"] if r["check_id"] == "ntp_reachable" and r["target"].startswith(server.address)
    )
    assert ntp_result["status"] == "fail" and "ntp.refused" in tags(ntp_result)
    # option 43 named the web FQDN, the same as the Registrar's: one web target reached both ways
    web = [t for t in doc["targets"] if t["kind"] == "web"]
    assert [t["name"] for t in web] == ["lync.example.test"]
    assert set(web[0]["origins"]) == {
        f"DHCP option 43 from {server.address}",
        f"SRV _sipinternaltls._tcp.{DOMAIN} target",
    }
    http = next(r for r in doc["results"] if r["check_id"] == "http_certprov_anonymous")
    assert http["target"] == "lync.example.test" and tags(http) == {"http.refused"}
    assert code == 2  # the NTP and HTTP failures


def test_broken_dnsmasq_scope_names_each_mistake(lab: NetLab) -> None:
    server = lab.add_server()
    lab.dnsmasq(server, broken=True)
    ns = start_dns(lab, server, registrar=BROKEN.sip_fqdn)
    code, doc = audit(lab, ns)
    results = by_check(doc)
    assert results["dhcp_option_43"]["status"] == "fail"
    assert "o43.truncated_cisco_180" in tags(results["dhcp_option_43"])
    assert results["dhcp_option_120"]["status"] == "fail"
    assert "o120.no_encoding_byte" in tags(results["dhcp_option_120"])
    # dnsmasq turns "a;b" into labels with ';' inside: a warning on an advisory check
    assert results["dhcp_option_119"]["status"] == "warn"
    assert results["dhcp_server_response"]["status"] == "pass"
    assert code == 2


def test_text_119_and_option_43_without_vendor_class(lab: NetLab) -> None:
    """What no real server sends: raw-text 119, and MS-UC-Client 43 to every client (scripted responder)."""
    server = lab.add_server()
    lab.scripted(
        server,
        options=[
            (43, encode_43("lync.example.test")),
            (120, encode_120(["lync.example.test"])),
            (119, b"example.test;corp.example.test"),
            (42, bytes([10, 77, 1, 1])),
        ],
    )
    ns = start_dns(lab, server)
    _code, doc = audit(lab, ns)
    results = by_check(doc)
    assert "o43.sent_without_vendor_class" in tags(results["dhcp_option_43"])
    assert results["dhcp_option_43"]["status"] == "fail"
    r119 = results["dhcp_option_119"]
    assert r119["status"] == "warn" and "o119.text_form" in tags(r119)
    assert encode_119(["example.test", "corp.example.test"]).hex().upper() in json.dumps(r119["findings"])


def test_two_servers_are_both_reported(lab: NetLab) -> None:
    s1, s2 = lab.add_server(), lab.add_server()
    lab.dnsmasq(s1)
    lab.kea(s2)
    ns = start_dns(lab, s1)
    _code, doc = audit(lab, ns, checks=("dhcp_server_response",))
    r = by_check(doc)["dhcp_server_response"]
    assert r["status"] == "warn" and "dhcp.several_servers" in tags(r)
    assert sorted(next(f for f in r["findings"] if f["tag"] == "dhcp.several_servers")["args"]["servers"]) == [
        s1.address,
        s2.address,
    ]


def test_no_server_fails_after_inform_and_discover(lab: NetLab) -> None:
    server = lab.add_server()
    ns = start_dns(lab, server)
    code, doc = audit(lab, ns)
    results = by_check(doc)
    assert results["dhcp_server_response"]["status"] == "fail"
    assert tags(results["dhcp_server_response"]) == {"dhcp.no_answer"}
    for check_id in DHCP_CHECKS[1:]:
        assert results[check_id]["status"] == "skip"
    assert code == 2


def test_without_privileges_the_dhcp_checks_say_which_capability(lab: NetLab) -> None:
    server = lab.add_server()
    lab.dnsmasq(server)
    ns = start_dns(lab, server)
    _code, doc = audit(lab, ns, "--concurrency", "4", wrap=without_capabilities("net_raw", "net_bind_service"))
    r = by_check(doc)["dhcp_server_response"]
    assert r["status"] == "error"
    assert "CAP_NET_RAW" in r["summary"] and "setcap" in r["summary"]


@pytest.mark.parametrize("server_kind", ["dnsmasq", "kea"])
def test_tshark_decodes_the_same_options_as_we_do(lab: NetLab, server_kind: str) -> None:
    """An independent decoder: tshark's reading of 119, 120, 4 and 42 equals ours, field by field."""
    server = lab.add_server()
    getattr(lab, server_kind)(server, DhcpOptions(search=("example.test", "corp.example.test", "voice.example.test")))
    with lab.capture() as cap:
        replies = lab.probe(DhcpProbe(interface="br0", window=1.0))
    assert replies.status is DhcpStatus.OK
    reply = replies.replies[0]
    rows = cap.fields(
        "dhcp.option.dhcp_dns_domain_search_list_fqdn",
        "dhcp.option.sip_server.encoding",
        "dhcp.option.sip_server.name",
        "dhcp.option.time_server",
        "dhcp.option.ntp_server",
        display_filter=f"dhcp.option.dhcp == 5 && dhcp.id == 0x{replies.xid:08x}",
    )
    assert len(rows) == 1, rows
    search, encoding, sip_names, time_servers, ntp_servers = rows[0]
    ours = {code: decode_option(code, reply.option(code) or b"").value for code in (119, 120, 4, 42)}
    assert search.split(",") == ours[119]["names"]
    assert int(encoding) == ours[120]["encoding"] == 0
    assert sip_names.split(",") == ours[120]["names"]
    assert time_servers.split(",") == ours[4]["addresses"]
    assert ntp_servers.split(",") == ours[42]["addresses"]


def test_dhcp_probe_command_prints_what_the_phone_receives(lab: NetLab) -> None:
    server = lab.add_server()
    lab.kea(server, DhcpOptions())
    proc = lab.run(["lyncready", "dhcp", "probe", "--interface", "br0", "--dhcp-timeout", "1", "--json"])
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["status"] == "ok" and len(doc["replies"]) == 1
    options = doc["replies"][0]["options"]
    assert options["120"]["value"]["names"] == ["lync.example.test"]
    assert options["43"]["value"]["url"] == "https://lync.example.test:443/CertProv/CertProvisioningService.svc"
    assert options["119"]["value"] == {"names": ["example.test", "corp.example.test"], "form": "rfc3397"}
    text = lab.run(["lyncready", "dhcp", "probe", "--interface", "br0", "--dhcp-timeout", "1"])
    assert text.returncode == 0 and "Certificate Provisioning URL: https://lync.example.test:443/" in text.stdout
    bare = lab.run(
        ["lyncready", "dhcp", "probe", "--interface", "br0", "--dhcp-timeout", "1", "--no-vendor-class", "--json"]
    )
    assert "43" not in json.loads(bare.stdout)["replies"][0]["options"]


def test_probe_from_the_host_into_a_named_namespace(lab: NetLab) -> None:
    """--netns: the probe thread enters the namespace; the rest of the audit stays where it is."""
    import asyncio

    from lyncready.probes.dhcp import run_dhcp_probe

    server = lab.add_server()
    lab.dnsmasq(server, DhcpOptions())
    replies = asyncio.run(run_dhcp_probe(DhcpProbe(interface="br0", window=1.0, netns=lab.client)))
    assert replies.status is DhcpStatus.OK, replies.reason
    assert decode_option(120, replies.replies[0].option(120) or b"").value["names"] == ["lync.example.test"]
    missing = asyncio.run(run_dhcp_probe(DhcpProbe(interface="br0", window=1.0, netns="no-such-ns-lyncready")))
    assert missing.status is DhcpStatus.ERROR
    assert "cannot enter network namespace 'no-such-ns-lyncready'" in missing.reason
