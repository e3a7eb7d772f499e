"""``lyncready dhcp config`` proven on the wire: the generated dnsmasq, Kea and ISC dhcpd configurations are
loaded into the real servers in a network namespace lab (tests/netlab.py), lyncready's own DHCP probe asks as a
phone would (DHCPINFORM, DISCOVER, with and without option 60 MS-UC-Client), and the bytes that come back decode
to exactly what was asked. Then ``lyncready dhcp lint`` is held to the wire: for sample configurations with the
classic mistakes, the bytes lint says a scope sends are the bytes the real server sends.

Only the lines a lab needs are added to a generated configuration (interface, lease file, a subnet or range
for the lab's 10.77.1.0/24); nothing in it is changed. Each test stops its server by PID before the next starts.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from netlab import LAN, SERVER_IFACE, DhcpServer, NetLab, ServerNs, _environ, ns_command
from realservers import require_binary

from lyncready.codecs import decode_option
from lyncready.dhcpconfig import ScopeSpec, generate, lint
from lyncready.dhcpconfig.jsonc import parse_jsonc
from lyncready.facts import DhcpProbe, DhcpReplies, DhcpStatus

pytestmark = pytest.mark.realserver

DATA = Path(__file__).parent / "data" / "dhcp-configs"
WINDOW = 0.5
NET = f"{LAN}.0/24"
SPEC_ARGS = {
    "sip_server": "pool.contoso.com",
    "web_server": "lyncwebservices.frontend.contoso.com",  # 103-byte option 43: past Cisco's 180 hex characters
    "port": 443,
    "search_list": "contoso.com,corp.contoso.com",
    "ntp": f"{LAN}.1,{LAN}.2",
}


@pytest.fixture(scope="module")
def lab() -> Iterator[NetLab]:
    with NetLab() as net:
        yield net


# --- starting the servers on a configuration ----------------------------------------------------------


def start_dnsmasq(lab: NetLab, config: str, *, own_range: bool = True) -> DhcpServer:
    binary = require_binary("dnsmasq")
    server = lab.add_server()
    name = f"dnsmasq-s{server.index}"
    base = [
        "port=0",
        f"interface={SERVER_IFACE}",
        "bind-interfaces",
        "keep-in-foreground",
        "log-facility=-",
        "log-dhcp",
        "user=root",
        "no-ping",
        f"dhcp-leasefile={lab.workdir / (name + '.leases')}",
        f"pid-file={lab.workdir / (name + '.pid')}",
    ]
    if own_range:
        base.append(f"dhcp-range={LAN}.100,{LAN}.149,255.255.255.0,1h")
    path = lab.workdir / f"{name}.conf"
    path.write_text("\n".join(base) + "\n" + config)
    daemon = lab.start(name, [binary, f"--conf-file={path}"], server.name)
    lab._wait_dhcp(daemon, server.name)
    return DhcpServer("dnsmasq", server, daemon, None, path)


def kea_document(text: str) -> dict[str, object]:
    """A generated or sample Kea configuration (comments allowed, as Kea allows them) as plain JSON data."""
    doc = json.loads(json.dumps(parse_jsonc(text)))
    assert isinstance(doc, dict)
    return doc


def start_kea(lab: NetLab, doc: dict[str, object]) -> DhcpServer:
    binary = require_binary("kea-dhcp4")
    server = lab.add_server()
    name = f"kea-s{server.index}"
    dhcp4 = doc["Dhcp4"]
    assert isinstance(dhcp4, dict)
    dhcp4["interfaces-config"] = {"interfaces": [SERVER_IFACE]}
    dhcp4["lease-database"] = {"type": "memfile", "name": str(lab.workdir / f"{name}.csv"), "lfc-interval": 0}
    dhcp4["loggers"] = [{"name": "kea-dhcp4", "output_options": [{"output": "stdout"}], "severity": "INFO"}]
    path = lab.workdir / f"{name}.json"
    path.write_text(json.dumps(doc, indent=1))
    env = {"KEA_PIDFILE_DIR": str(lab.workdir), "KEA_LOCKFILE_DIR": str(lab.workdir)}
    with _environ(env):
        check = subprocess.run(ns_command(server.name, [binary, "-t", str(path)]), capture_output=True, text=True)
        assert check.returncode == 0, check.stdout[-2000:] + check.stderr[-2000:]
    daemon = lab.start(name, [binary, "-c", str(path)], server.name, env)
    lab._wait_dhcp(daemon, server.name)
    return DhcpServer("kea", server, daemon, None, path)


def start_dhcpd(lab: NetLab, config: str) -> DhcpServer:
    binary = require_binary("dhcpd")
    server = lab.add_server()
    name = f"dhcpd-s{server.index}"
    path = lab.workdir / f"{name}.conf"
    path.write_text("ping-check false;  # the lab's addition: offer at once (dnsmasq: no-ping)\n" + config)
    leases = lab.workdir / f"{name}.leases"
    leases.write_text("")
    check = subprocess.run([binary, "-t", "-4", "-cf", str(path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr[-2000:]
    argv = [binary, "-f", "-d", "-4", "-cf", str(path), "-lf", str(leases), "-pf", str(lab.workdir / f"{name}.pid")]
    daemon = lab.start(name, [*argv, SERVER_IFACE], server.name)
    lab._wait_dhcp(daemon, server.name)
    return DhcpServer("dhcpd", server, daemon, leases, path)


def probe(
    lab: NetLab, server: ServerNs, mode: str = "inform", vendor_class: str | None = "MS-UC-Client"
) -> dict[int, bytes]:
    """The options of the one reply from ``server`` (RFC 3396 instances joined)."""
    result: DhcpReplies = lab.probe(DhcpProbe("br0", mode=mode, vendor_class=vendor_class, window=WINDOW))
    assert result.status is DhcpStatus.OK, result.reason
    replies = [r for r in result.replies if r.server_id == server.address]
    assert len(replies) == 1, result.replies
    options: dict[int, bytes] = {}
    for code, value in replies[0].options:
        options[code] = options.get(code, b"") + value
    return options


def assert_phone_gets(options: dict[int, bytes], spec: ScopeSpec) -> None:
    """What the phone got decodes to what was asked, with no error or warning from the probe's decoders."""
    for code in (120, 43, 119, 4, 42):
        assert code in options, f"option {code} missing: {sorted(options)}"
        decoded = decode_option(code, options[code])
        assert decoded.valid, (code, decoded.diagnostics)
        assert not [d for d in decoded.diagnostics if d.level != "info"], (code, decoded.diagnostics)
    assert decode_option(120, options[120]).value == {"encoding": 0, "names": [spec.sip_server]}
    assert decode_option(43, options[43]).value["url"] == spec.url
    subs = {s["code"]: s["text"] for s in decode_option(43, options[43]).value["suboptions"]}
    assert subs == {
        1: "MS-UC-Client",
        2: "https",
        3: spec.web,
        4: str(spec.port),
        5: "/CertProv/CertProvisioningService.svc",
    }
    assert decode_option(119, options[119]).value["names"] == list(spec.search_list)
    assert decode_option(42, options[42]).value["addresses"] == list(spec.ntp)
    assert decode_option(4, options[4]).value["addresses"] == list(spec.ntp)


def server_spec(scope: str | None = None) -> ScopeSpec:
    return ScopeSpec.make(**SPEC_ARGS, scope=scope)  # type: ignore[arg-type]


# --- generated configurations on the wire --------------------------------------------------------------


def test_dnsmasq_server_level(lab: NetLab) -> None:
    spec = server_spec()
    server = start_dnsmasq(lab, generate(spec, "dnsmasq"))
    try:
        for mode in ("inform", "discover"):
            assert_phone_gets(probe(lab, server.ns, mode), spec)
        assert 43 not in probe(lab, server.ns, "inform", vendor_class=None)  # only for MS-UC-Client
    finally:
        server.stop()


def test_dnsmasq_scope_level_with_the_tag_on_the_range(lab: NetLab) -> None:
    spec = server_spec(NET)
    text = generate(spec, "dnsmasq")
    tag = "lync-" + LAN.replace(".", "-") + "-0"
    assert f"set:{tag}" in text  # the generated comment says which tag the range needs
    server = start_dnsmasq(lab, f"dhcp-range=set:{tag},{LAN}.100,{LAN}.149,255.255.255.0,1h\n" + text, own_range=False)
    try:
        for mode in ("inform", "discover"):
            assert_phone_gets(probe(lab, server.ns, mode), spec)
    finally:
        server.stop()


@pytest.mark.parametrize("scoped", [False, True], ids=["server", "scope"])
def test_kea(lab: NetLab, scoped: bool) -> None:
    spec = server_spec(NET if scoped else None)
    doc = kea_document(generate(spec, "kea"))
    dhcp4 = doc["Dhcp4"]
    assert isinstance(dhcp4, dict)
    pool = [{"pool": f"{LAN}.150 - {LAN}.199"}]
    if scoped:  # merged into the generated subnet4 entry, as its comment says
        dhcp4["subnet4"][0].update({"id": 1, "pools": pool})
    else:
        dhcp4["subnet4"] = [{"id": 1, "subnet": NET, "pools": pool}]
    server = start_kea(lab, doc)
    try:
        for mode in ("inform", "discover"):
            assert_phone_gets(probe(lab, server.ns, mode), spec)
        assert 43 not in probe(lab, server.ns, "inform", vendor_class=None)
    finally:
        server.stop()


def test_isc_dhcpd_server_level(lab: NetLab) -> None:
    spec = server_spec()
    subnet = f"subnet {LAN}.0 netmask 255.255.255.0 {{\n    range {LAN}.150 {LAN}.199;\n}}\n"
    server = start_dhcpd(lab, "authoritative;\n" + generate(spec, "isc") + subnet)
    try:
        for mode in ("inform", "discover"):
            assert_phone_gets(probe(lab, server.ns, mode), spec)
        assert 43 not in probe(lab, server.ns, "inform", vendor_class=None)
    finally:
        server.stop()


def test_isc_dhcpd_scope_level(lab: NetLab) -> None:
    spec = server_spec(NET)
    text = generate(spec, "isc")
    opening = f"subnet {LAN}.0 netmask 255.255.255.0 {{"
    assert opening in text
    text = text.replace(opening, opening + f"\n    range {LAN}.150 {LAN}.199;")  # the admin's own range
    server = start_dhcpd(lab, "authoritative;\n" + text)
    try:
        for mode in ("inform", "discover"):
            assert_phone_gets(probe(lab, server.ns, mode), spec)
        assert 43 not in probe(lab, server.ns, "inform", vendor_class=None)
    finally:
        server.stop()


# --- lint's bytes are the wire's bytes -----------------------------------------------------------------


def lab_sample(name: str) -> str:
    """A sample configuration moved onto the lab's subnet (10.1.20.0/24 -> 10.77.1.0/24)."""
    return (DATA / name).read_text().replace("10.1.20.", f"{LAN}.")


def assert_lint_matches_wire(text: str, options: dict[int, bytes], fmt: str) -> None:
    report = lint(text, fmt)
    assert not report.unreadable, report.unreadable
    view = next(v for v in report.scopes if NET in v.name)
    predicted = {code: data for code, (data, _line) in view.options.items()}
    on_wire = {code: options[code] for code in (120, 43, 119, 4, 42) if code in options}
    assert predicted == on_wire


def test_lint_predicts_dnsmasq_on_the_wire(lab: NetLab) -> None:
    text = lab_sample("dnsmasq/dnsmasq-classic-mistakes.conf")
    server = start_dnsmasq(lab, text, own_range=False)
    try:
        options = probe(lab, server.ns)
    finally:
        server.stop()
    assert_lint_matches_wire(text, options, "dnsmasq")
    # and the wire shows the mistakes lint names: raw-text 120, the port as a 2-byte number
    assert decode_option(120, options[120]).has("o120.no_encoding_byte")
    assert decode_option(43, options[43]).has("o43.binary_port")


def test_lint_predicts_kea_on_the_wire(lab: NetLab) -> None:
    text = lab_sample("kea/kea-dhcp4-port-and-global-43.json")
    server = start_kea(lab, kea_document(text))
    try:
        options = probe(lab, server.ns)
        plain = probe(lab, server.ns, vendor_class=None)
    finally:
        server.stop()
    assert_lint_matches_wire(text, options, "kea")
    assert plain[43] == options[43]  # lint: o43.sent_without_vendor_class
    assert lint(text).has("o43.sent_without_vendor_class")


def test_lint_predicts_isc_dhcpd_on_the_wire(lab: NetLab) -> None:
    text = lab_sample("isc/dhcpd-binary-port-and-global-43.conf")
    server = start_dhcpd(lab, text)
    try:
        options = probe(lab, server.ns)
    finally:
        server.stop()
    assert_lint_matches_wire(text, options, "isc")
    assert lint(text).has("cfg.scope_overrides_server")  # the subnet's 42 wins, as on the wire
    assert decode_option(42, options[42]).value["addresses"] == [f"{LAN}.1"]


def test_isc_not_authoritative_means_no_answer_to_inform(lab: NetLab) -> None:
    """What lint's isc.not_authoritative claims, on the wire: DHCPINFORM unanswered, DISCOVER answered."""
    text = lab_sample("isc/dhcpd-not-authoritative.conf")
    assert lint(text).tags == ("isc.not_authoritative",)
    server = start_dhcpd(lab, text)
    try:
        inform = lab.probe(DhcpProbe("br0", mode="inform", window=WINDOW))
        offer = probe(lab, server.ns, "discover")
    finally:
        server.stop()
    assert inform.status is DhcpStatus.NO_ANSWER
    assert "not authoritative" in server.daemon.log()
    assert decode_option(43, offer[43]).valid
