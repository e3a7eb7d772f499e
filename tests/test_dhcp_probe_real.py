"""The DHCP probe against real dnsmasq and Kea servers in network namespaces (see ``tests/netlab.py``).

The module's lab has dnsmasq on 10.77.1.1 and Kea on 10.77.1.2, both on the client's bridge br0
(10.77.1.10, plus the relay address 10.77.9.1). Each probe runs in a subprocess inside the client
namespace, as ``lyncready`` would. Nothing leaves the namespaces; no lease is ever taken.

What the servers do (dnsmasq 2.90, Kea 2.2, measured here):

* both answer a broadcast DHCPINFORM with a DHCPACK (dnsmasq broadcasts it, Kea sends it to ciaddr:68)
  and a broadcast DISCOVER with an OFFER; neither writes a lease for either.
* option 43 only for option 60 ``MS-UC-Client``: dnsmasq sub-options in reverse order plus a 0xFF end
  byte, Kea in config order without one. dnsmasq compresses 119, Kea does not.
* relay (giaddr 10.77.9.1, unicast to the server): both OFFER from the 10.77.9.0/24 scope with giaddr
  echoed, sent to giaddr:67. A relayed INFORM: dnsmasq answers to giaddr:67 (giaddr echoed), Kea answers
  straight to ciaddr:68 with giaddr 0.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from netlab import (
    BROKEN,
    CLIENT_ADDRESS,
    LAN,
    RELAY_GIADDR,
    RELAY_NET,
    DhcpOptions,
    DhcpServer,
    NetLab,
    without_capabilities,
)

from lyncready.facts import DhcpProbe, DhcpReplies, DhcpReply, DhcpStatus
from lyncready.probes.dhcp import parse_options, reply_from_frame

pytestmark = pytest.mark.realserver

WINDOW = 0.5  # the lab's servers answer within milliseconds (no-ping)
OPTS = DhcpOptions()
SIP_WIRE = b"\x00\x04lync\x07example\x04test\x00"  # option 120, encoding 0 + one name
SEARCH_PLAIN = b"\x07example\x04test\x00\x04corp\x07example\x04test\x00"
SEARCH_COMPRESSED = b"\x07example\x04test\x00\x04corp\xc0\x00"  # dnsmasq: pointer to offset 0
SUB_OPTIONS = {1: b"MS-UC-Client", 2: b"https", 3: b"lync.example.test", 4: b"443", 5: OPTS.path.encode()}


@dataclass
class Lab:
    net: NetLab
    dnsmasq: DhcpServer
    kea: DhcpServer

    def probe(self, interface: str = "br0", **kw: object) -> DhcpReplies:
        kw.setdefault("window", WINDOW)
        return self.net.probe(DhcpProbe(interface, **kw))  # type: ignore[arg-type]

    def by_server(self, result: DhcpReplies) -> dict[str, DhcpReply]:
        assert result.status is DhcpStatus.OK, result.reason
        servers = {r.server_id: r for r in result.replies}
        assert len(servers) == len(result.replies), f"one reply per server expected: {result.replies}"
        return servers


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with NetLab() as net:
        yield Lab(net, net.dnsmasq(), net.kea())


def sub_options(value: bytes) -> dict[int, bytes]:
    """Option 43's TLVs (dnsmasq's trailing 0xFF end byte tolerated)."""
    found, complete = parse_options(value)
    assert complete, f"option 43 is cut: {value.hex()}"
    return dict(found)


def ipv4(address: str) -> bytes:
    return bytes(int(x) for x in address.split("."))


def assert_lync_options(reply: DhcpReply, server: DhcpServer) -> None:
    own = ipv4(server.address)
    for code in (3, 4, 6, 42):
        assert reply.option(code) == own, f"option {code} from {server.kind}"
    assert reply.option(15) == OPTS.domain.encode()
    assert reply.option(120) == SIP_WIRE
    assert reply.option(119) == (SEARCH_COMPRESSED if server.kind == "dnsmasq" else SEARCH_PLAIN)
    value = reply.option(43)
    assert value is not None, f"no option 43 from {server.kind}"
    assert sub_options(value) == SUB_OPTIONS
    for code, sub in SUB_OPTIONS.items():  # the sub-options as they are in the raw UDP payload
        assert bytes([code, len(sub)]) + sub in reply.raw
    if server.kind == "dnsmasq":
        assert value.endswith(b"\xff") and value.startswith(b"\x05")  # reverse order, end byte
    else:
        assert value.startswith(b"\x01\x0cMS-UC-Client") and not value.endswith(b"\xff")


def request_options(result: DhcpReplies) -> dict[int, bytes]:
    found, complete = parse_options(result.request[240:])
    assert complete and result.request[236:240] == b"\x63\x82\x53\x63"
    return dict(found)


# --- INFORM, DISCOVER, option 60 --------------------------------------------------------------------


def test_inform_as_ms_uc_client_gets_the_lync_options_from_dnsmasq_and_kea(lab: Lab) -> None:
    result = lab.probe()
    replies = lab.by_server(result)
    assert set(replies) == {lab.dnsmasq.address, lab.kea.address}
    for server in (lab.dnsmasq, lab.kea):
        reply = replies[server.address]
        assert reply.message_type == 5  # DHCPACK
        assert reply.source == server.address
        assert reply.yiaddr == "0.0.0.0"
        assert reply.options[0] == (53, b"\x05")  # wire order kept
        assert reply.raw[4:8] == result.xid.to_bytes(4, "big")
        assert 0 <= reply.elapsed < WINDOW
        assert_lync_options(reply, server)
    # what we sent: an INFORM from our address, as a phone sends it
    sent = request_options(result)
    assert sent[53] == b"\x08" and sent[60] == b"MS-UC-Client" and sent[12] == b"lyncready"
    assert set(sent[55]) >= {1, 3, 4, 6, 15, 42, 43, 119, 120}
    assert sent[61] == b"\x01" + bytes.fromhex(result.mac.replace(":", ""))
    assert result.request[12:16] == ipv4(CLIENT_ADDRESS)  # ciaddr
    assert len(result.request) >= 300


def test_discover_gets_an_offer_with_the_lync_options(lab: Lab) -> None:
    result = lab.probe(mode="discover")
    replies = lab.by_server(result)
    assert set(replies) == {lab.dnsmasq.address, lab.kea.address}
    for server in (lab.dnsmasq, lab.kea):
        reply = replies[server.address]
        assert reply.message_type == 2  # DHCPOFFER
        assert reply.yiaddr.startswith(f"{LAN}.")
        assert_lync_options(reply, server)
    sent = request_options(result)
    assert sent[53] == b"\x01" and 50 not in sent
    assert result.request[10:12] == b"\x80\x00"  # broadcast flag
    assert result.request[12:16] == bytes(4)  # ciaddr 0.0.0.0


def test_no_lease_is_ever_taken(lab: Lab) -> None:
    before = {s.kind: s.leases() for s in (lab.dnsmasq, lab.kea)}
    assert before["dnsmasq"] == ""
    assert before["kea"].startswith("address,hwaddr")  # the memfile header only
    assert before["kea"].count("\n") == 1
    for mode in ("inform", "discover"):
        assert lab.probe(mode=mode).status is DhcpStatus.OK
        assert {s.kind: s.leases() for s in (lab.dnsmasq, lab.kea)} == before, f"a lease appeared after {mode}"
    assert "DHCPREQUEST" not in lab.dnsmasq.log() and "DHCPINFORM" in lab.dnsmasq.log()
    kea_log = lab.kea.log()
    assert "DHCP4_LEASE_ADVERT" in kea_log  # the OFFER: a lease advertised, not allocated
    assert "DHCP4_LEASE_ALLOC" not in kea_log and "DHCPREQUEST" not in kea_log


def test_without_option_60_no_option_43(lab: Lab) -> None:
    result = lab.probe(vendor_class=None)
    replies = lab.by_server(result)
    assert len(replies) == 2
    for reply in replies.values():
        assert reply.option(43) is None
        assert reply.option(120) == SIP_WIRE  # the rest of the scope still comes
    assert 60 not in request_options(result)


def test_two_servers_on_the_link_are_both_reported(lab: Lab) -> None:
    result = lab.probe()
    assert result.status is DhcpStatus.OK
    assert len(result.replies) == 2
    assert {r.server_id for r in result.replies} == {lab.dnsmasq.address, lab.kea.address}
    assert len({r.source_mac for r in result.replies}) == 2
    assert lab.dnsmasq.address in result.reason and lab.kea.address in result.reason


def test_unicast_to_a_named_server_gets_only_that_server(lab: Lab) -> None:
    for server in (lab.dnsmasq, lab.kea):
        result = lab.probe(server=server.address)
        replies = lab.by_server(result)
        assert list(replies) == [server.address]
        assert replies[server.address].message_type == 5
        assert_lync_options(replies[server.address], server)
        assert f"unicast to {server.address}" in result.reason


def test_through_a_fact_store(lab: Lab) -> None:
    result = lab.net.probe(DhcpProbe("br0", window=WINDOW), audit=True)
    assert len(lab.by_server(result)) == 2


# --- relay -------------------------------------------------------------------------------------------


def test_relay_discover_gets_an_offer_from_the_relayed_scope(lab: Lab) -> None:
    for server in (lab.dnsmasq, lab.kea):
        result = lab.probe(mode="discover", giaddr=RELAY_GIADDR, server=server.address)
        reply = lab.by_server(result)[server.address]
        assert reply.message_type == 2
        assert reply.yiaddr.startswith(f"{RELAY_NET}.")
        assert reply.giaddr == RELAY_GIADDR
        assert_lync_options(reply, server)
        assert result.request[3] == 1  # hops
        assert result.request[24:28] == ipv4(RELAY_GIADDR)


def test_relay_inform(lab: Lab) -> None:
    replies = {
        s.kind: lab.by_server(lab.probe(giaddr=RELAY_GIADDR, server=s.address))[s.address]
        for s in (lab.dnsmasq, lab.kea)
    }
    assert replies["dnsmasq"].giaddr == RELAY_GIADDR  # answered to giaddr:67
    assert replies["kea"].giaddr == "0.0.0.0"  # answered straight to ciaddr:68
    for kind, reply in replies.items():
        assert reply.message_type == 5, kind
        assert reply.option(120) == SIP_WIRE


# --- failures ----------------------------------------------------------------------------------------


def test_no_server_no_answer_within_the_window() -> None:
    with NetLab() as net:
        net.add_server()  # a link, but nobody serves DHCP on it
        result = net.probe(DhcpProbe("br0", window=1.0))
    assert result.status is DhcpStatus.NO_ANSWER
    assert "within 1 s" in result.reason
    assert 1.0 <= result.elapsed < 3.0
    assert result.replies == ()
    assert result.request and result.xid


def test_unprivileged_process_is_told_which_capabilities_are_missing(lab: Lab) -> None:
    # root minus both capabilities: what an ordinary user has, while still able to read a checkout in a
    # 0700 directory (CI clones into one, which user "nobody" could not even enter)
    result = lab.net.probe(DhcpProbe("br0", window=WINDOW), wrap=without_capabilities("net_raw", "net_bind_service"))
    assert result.status is DhcpStatus.NO_PRIVILEGE
    assert "CAP_NET_RAW" in result.reason and "CAP_NET_BIND_SERVICE" in result.reason
    assert "setcap cap_net_raw,cap_net_bind_service+ep" in result.reason and "root" in result.reason
    assert result.request == b""  # nothing was sent


def test_a_missing_capability_is_named(lab: Lab) -> None:
    key = DhcpProbe("br0", window=WINDOW)
    no_raw = lab.net.probe(key, wrap=without_capabilities("net_raw"))
    assert no_raw.status is DhcpStatus.NO_PRIVILEGE
    assert "missing capability CAP_NET_RAW (" in no_raw.reason
    no_bind = lab.net.probe(key, wrap=without_capabilities("net_bind_service"))
    assert no_bind.status is DhcpStatus.NO_PRIVILEGE
    assert "missing capability CAP_NET_BIND_SERVICE (" in no_bind.reason and "UDP port 68" in no_bind.reason


def test_interface_problems_are_errors(lab: Lab) -> None:
    missing = lab.probe("nope0")
    assert missing.status is DhcpStatus.ERROR and "no network interface named 'nope0'" in missing.reason
    setup = lab.net.run(
        ["sh", "-c", "ip link add nov4 type veth peer name nov4p && ip link set nov4 up && ip link set nov4p up"]
    )
    assert setup.returncode == 0, setup.stderr
    inform = lab.probe("nov4")
    assert inform.status is DhcpStatus.ERROR and "no IPv4 address" in inform.reason
    discover = lab.probe("nov4", mode="discover", window=0.3)
    assert discover.status is DhcpStatus.NO_ANSWER
    loopback = lab.probe("lo")
    assert loopback.status is DhcpStatus.ERROR and "not an Ethernet interface" in loopback.reason


# --- capture -----------------------------------------------------------------------------------------


def test_tshark_sees_the_inform_and_its_option_60(lab: Lab) -> None:
    with lab.net.capture() as cap:
        result = lab.probe()
    assert result.status is DhcpStatus.OK
    rows = cap.fields("dhcp.option.dhcp", "dhcp.option.vendor_class_id", "ip.src", "dhcp.id")
    informs = [row for row in rows if row[0] == "8"]
    assert informs, rows
    assert informs[0][1:3] == ["MS-UC-Client", CLIENT_ADDRESS]
    assert int(informs[0][3], 16) == result.xid
    assert {row[2] for row in rows if row[0] == "5"} == {lab.dnsmasq.address, lab.kea.address}


# --- broken servers ----------------------------------------------------------------------------------


def test_broken_dnsmasq_and_scripted_raw_options() -> None:
    split_120 = (b"\x00\x04lync", b"\x07example\x04test\x00")  # RFC 3396: one option in two instances
    text_119 = b"contoso.com;corp.contoso.com"
    with NetLab() as net:
        broken = net.dnsmasq(broken=True)
        scripted = net.scripted(options=[(119, text_119), (120, split_120[0]), (120, split_120[1])])
        result = net.probe(DhcpProbe("br0", window=WINDOW))
    assert result.status is DhcpStatus.OK, result.reason
    replies = {r.server_id: r for r in result.replies}
    cut = replies[broken.address]
    value = cut.option(43)
    assert value is not None and len(value) == 90
    assert value == BROKEN.option43()[:90]
    assert value[-1] != 0xFF
    _, complete = parse_options(value)
    assert not complete  # sub-option 5 claims more bytes than arrive
    assert cut.option(120) == b"lync.example.test"  # raw ASCII: no encoding byte, no labels
    assert cut.option(119) == b"\x07example\x09test;corp\x07example\x04test\x00"
    raw = replies[scripted.address]
    assert raw.option(119) == text_119
    assert [v for c, v in raw.options if c == 120] == list(split_120)  # instances kept, in wire order
    assert raw.option(120) == SIP_WIRE  # joined by DhcpReply.option


# --- no lab needed -----------------------------------------------------------------------------------


def test_importing_the_probe_does_not_import_scapy() -> None:
    code = "import sys, lyncready.probes.dhcp; sys.exit('scapy' in ' '.join(sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_garbage_frames_are_never_replies() -> None:
    payload = bytearray(300)
    payload[0] = 2
    payload[4:8] = (1234).to_bytes(4, "big")
    payload[236:240] = b"\x63\x82\x53\x63"
    payload[240:244] = bytes([53, 1, 5, 52])  # an overload option cut short
    header = bytes(12) + b"\x08\x00" + bytes([0x45, 0, 0x01, 0x48]) + bytes(5) + b"\x11" + bytes(10)
    frame = header + b"\x00\x43\x00\x44\x01\x34\x00\x00" + bytes(payload)
    assert reply_from_frame(frame, 1234, 0.0) is not None
    for cut in range(len(frame)):
        reply_from_frame(frame[:cut], 1234, 0.0)  # never raises
    for _ in range(2000):
        reply_from_frame(os.urandom(64) + bytes(payload), 1234, 0.0)
        reply_from_frame(header + os.urandom(300), 1234, 0.0)
    assert reply_from_frame(frame, 4321, 0.0) is None  # another xid
