"""Property tests for every decoder that reads bytes lyncready does not control.

What the existing suite already states is not repeated here: every codec never raises on arbitrary bytes
(``test_codecs.py::test_decoders_never_raise``, ``test_paste_never_raises_anything_else``), options 120, 119 and
43 round-trip through their encoders (``test_codecs.py::test_roundtrip_*``), the NTP and HTTP parsers never
raise (``test_units.py``). These tests add what each decoder must *mean*, for generated inputs:

decoder                                 properties here
decode_option 120 / 43 / 119            every strict prefix of a valid encoding is invalid (a cut value is never
                                        taken for a good one; for 119 a prefix may be a shorter valid list)
decode_option 4 / 42                    addresses round-trip; a length not a multiple of 4 is an error; the
                                        warning for unusable addresses appears exactly when one is listed
decode_option 60 / 15                   printable text round-trips; trailing NULs are noted, not kept;
                                        MS-UC-Client exact / wrong case / the class name are told apart
decode_option 55                        the codes are the bytes; duplicates are noted exactly when present
parse_options (codecs)                  TLVs with pads and an end option parse back exactly; a cut is an error;
                                        RFC 3396 splits join back (encode_option / join_rfc3396)
parse_bootp (codecs)                    the probe's own requests parse back field by field; option overload
                                        (52) is followed into ``file`` and ``sname``
parse_hex_input                         bytes pasted in seven styles (hex, HEX, spaced, colons, 0x, 0x per byte,
                                        wrapped) read back as the same bytes
probes.ntp.parse_reply                  a valid reply gives OK and the offset and delay it was built with; each
                                        field made invalid gives exactly that field's problem; stratum 0 is a
                                        kiss-o'-death only with an ASCII kiss code (else ``stratum0``)
probes.http.parse_head                  status line and headers round-trip; a status that is not three ASCII
                                        digits (``'²00'``: ``str.isdigit`` says yes, ``int`` says no) is not HTTP
probes.dhcp parse_options,              a reply built from options parses back (type, server id, options in
parse_bootp_reply, reply_from_frame     order), inside an Ethernet/IPv4/UDP frame with or without an 802.1Q
                                        tag; another xid, a fragment, TCP or another port is not a reply; never
                                        raises on arbitrary bytes

``fuzz/fuzz_decoders.py`` runs the same decoders for a million inputs each (see docs/fuzzing.md).
"""

from __future__ import annotations

import importlib.util
import ipaddress
import json
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from lyncready.codecs import (
    HexInputError,
    decode_option,
    encode_43,
    encode_119,
    encode_120,
    encode_ipv4_list,
    encode_option,
    join_rfc3396,
    parse_bootp,
    parse_hex_input,
    parse_options,
)
from lyncready.facts import NtpStatus
from lyncready.probes import dhcp as probe_dhcp
from lyncready.probes.http import parse_head
from lyncready.probes.ntp import NTP_EPOCH_OFFSET, parse_reply

PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

LABEL = st.from_regex(r"[a-z][a-z0-9-]{0,14}[a-z0-9]", fullmatch=True)
NAME = st.lists(LABEL, min_size=2, max_size=4).map(".".join)
OPTION_VALUE = st.binary(max_size=40)
PLAIN_CODE = st.integers(1, 254).filter(lambda c: c not in (52, 53, 54))


# --- options 120, 43, 119: a cut value is never a good one ------------------------------------------------------


@PROPERTY
@given(NAME, st.data())
def test_120_every_strict_prefix_is_invalid(name: str, data: st.DataObject) -> None:
    encoded = encode_120([name])
    cut = data.draw(st.integers(1, len(encoded) - 1))
    decoded = decode_option(120, encoded[:cut])
    assert not decoded.valid, (encoded[:cut].hex(), decoded.tags)
    assert "codec.bug" not in decoded.tags


@PROPERTY
@given(NAME, st.integers(1, 65535), st.data())
def test_43_every_strict_prefix_is_invalid(fqdn: str, port: int, data: st.DataObject) -> None:
    encoded = encode_43(fqdn, port=port)
    assert decode_option(43, encoded).valid
    cut = data.draw(st.integers(1, len(encoded) - 1))
    decoded = decode_option(43, encoded[:cut])
    assert not decoded.valid, (encoded[:cut].hex(), decoded.tags)


@PROPERTY
@given(st.lists(NAME, min_size=1, max_size=4, unique=True), st.booleans(), st.data())
def test_119_a_prefix_is_invalid_or_a_shorter_list(names: list[str], compress: bool, data: st.DataObject) -> None:
    encoded = encode_119(names, compress=compress)
    cut = data.draw(st.integers(1, len(encoded) - 1))
    decoded = decode_option(119, encoded[:cut])
    assert decoded.value["names"] != names or not decoded.valid
    if decoded.valid:  # cut right after a whole name: the names before it, nothing invented
        assert decoded.value["names"] == names[: len(decoded.value["names"])]


# --- options 4 / 42, 60 / 15, 55 -------------------------------------------------------------------------------

UNUSABLE = ("0.0.0.0", "127.0.0.1", "224.0.0.1", "255.255.255.255")


@PROPERTY
@given(
    st.lists(st.ip_addresses(v=4).map(str) | st.sampled_from(UNUSABLE), min_size=1, max_size=8),
    st.sampled_from([4, 42]),
)
def test_time_server_lists_round_trip(addresses: list[str], code: int) -> None:
    decoded = decode_option(code, encode_ipv4_list(addresses))
    assert decoded.valid and decoded.value["addresses"] == addresses
    unusable = any(
        a.is_unspecified or a.is_loopback or a.is_multicast or str(a) == "255.255.255.255"
        for a in map(ipaddress.IPv4Address, addresses)
    )
    assert (f"o{code}.unusable_address" in decoded.tags) == unusable


@PROPERTY
@given(st.binary(min_size=1, max_size=64).filter(lambda b: len(b) % 4), st.sampled_from([4, 42]))
def test_time_server_list_of_a_bad_length_is_an_error(data: bytes, code: int) -> None:
    decoded = decode_option(code, data)
    assert not decoded.valid and f"o{code}.bad_length" in decoded.tags
    assert len(decoded.value["addresses"]) == len(data) // 4


TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E).filter(lambda c: c != "\\"), min_size=1)


@PROPERTY
@given(TEXT, st.integers(0, 3), st.sampled_from([60, 15]))
def test_text_options_round_trip(text: str, nuls: int, code: int) -> None:
    decoded = decode_option(code, text.encode() + b"\x00" * nuls)
    assert decoded.value["text"] == text
    assert (f"o{code}.trailing_nul" in decoded.tags) == (nuls > 0)
    assert f"o{code}.non_printable" not in decoded.tags


@PROPERTY
@given(st.sampled_from(["MS-UC-Client", "ms-uc-client", "MS-UC-CLIENT", "MSUCClient", "msucclient"]))
def test_vendor_class_forms_are_told_apart(text: str) -> None:
    tags = decode_option(60, text.encode()).tags
    if text == "MS-UC-Client":
        assert tags == ()
    elif text.lower() == "msucclient":
        assert tags == ("o60.class_name",)
    else:
        assert tags == ("o60.case",)


@PROPERTY
@given(st.binary(max_size=300))
def test_parameter_request_list_is_the_bytes(data: bytes) -> None:
    decoded = decode_option(55, data)
    assert decoded.value["codes"] == list(data)
    assert ("o55.duplicates" in decoded.tags) == (len(set(data)) < len(data))
    assert ("o55.empty" in decoded.tags) == (not data)


# --- the options field and whole packets (codecs) ----------------------------------------------------------------


def tlv(options: list[tuple[int, bytes]], pads: list[int]) -> bytes:
    out = b""
    for i, (code, value) in enumerate(options):
        out += b"\x00" * pads[i % len(pads)] + bytes([code, len(value)]) + value
    return out


@PROPERTY
@given(
    st.lists(st.tuples(st.integers(1, 254), OPTION_VALUE), max_size=12),
    st.lists(st.integers(0, 3), min_size=1, max_size=4),
    st.binary(max_size=20),
)
def test_options_field_parses_back(options: list[tuple[int, bytes]], pads: list[int], trailer: bytes) -> None:
    field = tlv(options, pads) + b"\xff" + trailer  # after the end option nothing is read
    parsed, diagnostics = parse_options(field)
    assert parsed == options and diagnostics == []


@PROPERTY
@given(st.lists(st.tuples(st.integers(1, 254), OPTION_VALUE), min_size=1, max_size=8), st.data())
def test_a_cut_options_field_is_an_error_and_keeps_what_came_before(
    options: list[tuple[int, bytes]], data: st.DataObject
) -> None:
    field = tlv(options, [0])
    starts = [0]
    for _code, value in options:
        starts.append(starts[-1] + 2 + len(value))
    cut = data.draw(st.integers(0, len(field) - 1).filter(lambda c: c not in starts))
    parsed, diagnostics = parse_options(field[:cut])
    whole = sum(1 for s in starts[1:] if s <= cut)
    assert parsed == options[:whole]
    assert [d.tag for d in diagnostics] == ["options.truncated"]


@PROPERTY
@given(st.integers(1, 254), st.binary(max_size=800))
def test_rfc3396_split_options_join_back(code: int, value: bytes) -> None:
    wire = encode_option(code, value)
    parsed, _ = parse_options(wire + b"\xff")
    assert all(len(v) <= 255 for _, v in parsed)
    assert join_rfc3396(parsed).get(code, b"") == value


MAC = st.binary(min_size=6, max_size=6)


@PROPERTY
@given(
    st.integers(0, 2**32 - 1),
    MAC,
    st.ip_addresses(v=4).map(str),
    st.sampled_from([1, 8]),
    st.none() | st.sampled_from(["MS-UC-Client", "Polycom-VVX"]),
)
def test_the_probes_requests_parse_back(xid: int, mac: bytes, ciaddr: str, kind: int, vendor: str | None) -> None:
    packet = parse_bootp(
        probe_dhcp.build_request(message_type=kind, xid=xid, mac=mac, ciaddr=ciaddr, vendor_class=vendor)
    )
    assert packet.valid and packet.op == 1 and packet.xid == xid and packet.ciaddr == ciaddr
    assert packet.chaddr == mac.hex(":") and packet.message_type == kind
    assert packet.option(60) == (vendor.encode() if vendor else None)
    assert list(packet.option(55) or b"") == list(probe_dhcp.PARAMETER_REQUEST_LIST)


@PROPERTY
@given(
    st.lists(st.tuples(PLAIN_CODE, st.binary(max_size=20)), max_size=4),
    st.lists(st.tuples(PLAIN_CODE, st.binary(max_size=10)), max_size=3),
    st.sampled_from([1, 2, 3]),
)
def test_option_overload_is_followed(
    in_file: list[tuple[int, bytes]], in_sname: list[tuple[int, bytes]], overload: int
) -> None:
    file = (tlv(in_file, [0]) + b"\xff").ljust(128, b"\x00")
    sname = (tlv(in_sname, [0]) + b"\xff").ljust(64, b"\x00")
    header = bytes([2, 1, 6, 0]) + bytes(40) + sname + file
    packet = parse_bootp(header + b"\x63\x82\x53\x63" + bytes([53, 1, 5, 52, 1, overload, 255]))
    expected = [(53, b"\x05"), (52, bytes([overload]))]
    expected += in_file if overload & 1 else []
    expected += in_sname if overload & 2 else []
    assert list(packet.options) == expected
    assert "bootp.overload" in [d.tag for d in packet.diagnostics]


# --- pasted hex ----------------------------------------------------------------------------------------------------

PASTE_STYLES: dict[str, Callable[[bytes], str]] = {
    "hex": lambda b: b.hex(),
    "HEX": lambda b: b.hex().upper(),
    "spaced": lambda b: " ".join(f"{x:02x}" for x in b),
    "colons": lambda b: ":".join(f"{x:02X}" for x in b),
    "0x": lambda b: "0x" + b.hex(),
    "0x per byte": lambda b: " ".join(f"0x{x:02x}" for x in b),
    "wrapped": lambda b: "\n".join(b.hex()[i : i + 32] for i in range(0, 2 * len(b), 32)),
}


@PROPERTY
@given(st.binary(min_size=1, max_size=300), st.sampled_from(sorted(PASTE_STYLES)))
def test_pasted_hex_reads_back(data: bytes, style: str) -> None:
    pasted = parse_hex_input(PASTE_STYLES[style](data))
    assert pasted.data == data and pasted.form == "hex"


@PROPERTY
@given(st.text(alphabet="ghijklmnopqrstuvwxyzGHZ!?@", min_size=1, max_size=40))
def test_text_without_hex_is_refused_in_one_line(text: str) -> None:
    try:
        parse_hex_input(text)
    except HexInputError as exc:
        assert "\n" not in str(exc)
    else:
        raise AssertionError(f"{text!r} was read as hex")


# --- NTP -----------------------------------------------------------------------------------------------------------


def ntp_ts(t: float) -> bytes:
    t += NTP_EPOCH_OFFSET
    seconds = int(t)
    return struct.pack("!II", seconds, int((t - seconds) * 2**32))


def ntp_packet(
    sent: bytes,
    t2: float,
    t3: float,
    *,
    li: int = 0,
    version: int = 4,
    mode: int = 4,
    stratum: int = 2,
    refid: bytes = b"\x0a\x00\x00\x01",
    origin: bytes | None = None,
    transmit: bytes | None = None,
) -> bytes:
    return (
        struct.pack("!BBbb", (li << 6) | (version << 3) | mode, stratum, 6, -20)
        + bytes(8)
        + refid
        + ntp_ts(t2 - 30)
        + (sent if origin is None else origin)
        + ntp_ts(t2)
        + (ntp_ts(t3) if transmit is None else transmit)
    )


T1 = 1.7e9
SENT = ntp_ts(T1)


@PROPERTY
@given(
    st.floats(-1e6, 1e6),
    st.floats(0, 2),
    st.integers(1, 15),
    st.integers(0, 2),
    st.integers(1, 4),
    st.sampled_from([4, 5]),
)
def test_valid_ntp_reply_gives_its_offset_and_delay(
    offset: float, delay: float, stratum: int, li: int, version: int, mode: int
) -> None:
    t2 = T1 + delay / 2 + offset
    reply = parse_reply(
        ntp_packet(SENT, t2, t2, li=li, version=version, mode=mode, stratum=stratum),
        SENT,
        T1,
        T1 + delay,
        "127.0.0.1",
        123,
        delay,
    )
    assert reply.status is NtpStatus.OK and reply.problems == ()
    assert reply.offset is not None and abs(reply.offset - offset) < 1e-5
    assert reply.delay is not None and abs(reply.delay - delay) < 1e-5
    assert reply.stratum == stratum and reply.leap == li


KISS = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=4)
BAD_FIELDS: dict[str, st.SearchStrategy[dict[str, object]]] = {
    "mode": st.sampled_from([0, 1, 2, 3, 6, 7]).map(lambda m: {"mode": m}),
    "version": st.sampled_from([0, 5, 6, 7]).map(lambda v: {"version": v}),
    "origin": st.binary(min_size=8, max_size=8).filter(lambda o: o != SENT).map(lambda o: {"origin": o}),
    "stratum16": st.integers(16, 255).map(lambda s: {"stratum": s}),
    "kod": KISS.map(lambda k: {"stratum": 0, "refid": k.encode().ljust(4, b"\x00")}),
    "stratum0": st.sampled_from([b"\x00" * 4, b"\x7f\x00\x00\x01", b"\x00\x00\x00\x01", b" \x00\x00\x00"]).map(
        lambda r: {"stratum": 0, "refid": r}
    ),
    "leap3": st.just({"li": 3}),
    "transmit0": st.just({"transmit": bytes(8)}),
}


@PROPERTY
@given(st.sampled_from(sorted(BAD_FIELDS)), st.data())
def test_each_invalid_ntp_field_is_named_alone(problem: str, data: st.DataObject) -> None:
    fields = data.draw(BAD_FIELDS[problem])
    reply = parse_reply(ntp_packet(SENT, T1, T1, **fields), SENT, T1, T1, "127.0.0.1", 123, 0.0)  # type: ignore[arg-type]
    assert reply.status is NtpStatus.INVALID
    assert reply.problems == (problem,), (fields, reply.reason)
    assert reply.offset is None and reply.delay is None
    if problem == "kod":
        assert reply.kod_code == fields["refid"].rstrip(b"\x00").decode()  # type: ignore[attr-defined]
    else:
        assert reply.kod_code == ""


# --- HTTP ----------------------------------------------------------------------------------------------------------

TOKEN = st.from_regex(r"[A-Za-z0-9-]{1,20}", fullmatch=True)
VISIBLE = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=30)
VALUE = st.builds(lambda a, b: f"{a} {b}".strip(), VISIBLE, VISIBLE)


@PROPERTY
@given(
    st.integers(0, 1),
    st.integers(100, 999),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30),
    st.lists(st.tuples(TOKEN, VALUE), max_size=8),
)
def test_http_head_round_trips(minor: int, code: int, phrase: str, headers: list[tuple[str, str]]) -> None:
    head = f"HTTP/1.{minor} {code} {phrase}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
    assert parse_head(head.encode()) == (code, phrase, tuple(headers))


@PROPERTY
@given(st.text(min_size=3, max_size=3).filter(lambda c: not (c.isascii() and c.isdigit())))
def test_a_status_that_is_not_three_ascii_digits_is_not_http(status: str) -> None:
    assume(" " not in status and "\r" not in status and "\n" not in status)
    assert parse_head(f"HTTP/1.1 {status} OK\r\n\r\n".encode("utf-8", "surrogatepass")) is None
    assert parse_head(b"HTTP/1.1 " + status.encode("latin-1", "replace") + b" OK\r\n\r\n") is None


def test_unicode_digits_in_the_status_are_not_a_crash() -> None:
    """Regression: b'\\xb2' decodes to '²', which str.isdigit() accepts and int() refuses (found by the fuzzer)."""
    for status in (b"\xb200", b"1\xb22", b"\xb9\xb2\xb3"):
        assert parse_head(b"HTTP/1.1 " + status + b" OK\r\nServer: x\r\n\r\n") is None


# --- the DHCP probe's reply parser ----------------------------------------------------------------------------------


def bootreply(xid: int, kind: int, server: str, yiaddr: str, options: list[tuple[int, bytes]]) -> bytes:
    head = bytes([2, 1, 6, 0]) + xid.to_bytes(4, "big") + bytes(8) + ipaddress.IPv4Address(yiaddr).packed + bytes(8)
    head += bytes(208)  # chaddr, sname, file
    assert len(head) == 236
    body = bytes([53, 1, kind, 54, 4]) + ipaddress.IPv4Address(server).packed + tlv(options, [0]) + b"\xff"
    return head + b"\x63\x82\x53\x63" + body


def frame(payload: bytes, *, source: str, dport: int = 68, vlan: bool = False, proto: int = 17, frag: int = 0) -> bytes:
    udp = struct.pack("!HHHH", 67, dport, 8 + len(payload), 0) + payload
    ip = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        20 + len(udp),
        0,
        frag,
        64,
        proto,
        0,
        ipaddress.IPv4Address(source).packed,
        bytes([255] * 4),
    )
    tag = b"\x81\x00\x00\x0a" if vlan else b""
    return b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x07" + tag + b"\x08\x00" + ip + udp + b"\x00" * 6  # with padding


REPLY = st.tuples(
    st.integers(0, 2**32 - 1),
    st.sampled_from([2, 5, 6]),
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=4).map(str),
    st.lists(st.tuples(PLAIN_CODE, OPTION_VALUE), max_size=8),
)


@PROPERTY
@given(REPLY, st.booleans(), st.sampled_from([67, 68]))
def test_a_reply_parses_back_from_its_frame(
    reply: tuple[int, int, str, str, list[tuple[int, bytes]]], vlan: bool, dport: int
) -> None:
    xid, kind, server, yiaddr, options = reply
    payload = bootreply(xid, kind, server, yiaddr, options)
    parsed = probe_dhcp.parse_bootp_reply(payload)
    assert parsed is not None
    assert (parsed.message_type, parsed.server_id, parsed.yiaddr) == (kind, server, yiaddr)
    assert list(parsed.options) == [(53, bytes([kind])), (54, ipaddress.IPv4Address(server).packed), *options]
    framed = probe_dhcp.reply_from_frame(frame(payload, source=server, dport=dport, vlan=vlan), xid, 0.25)
    assert framed is not None
    assert framed.options == parsed.options and framed.raw == payload
    assert framed.source == server and framed.source_mac == "02:00:00:00:00:07" and framed.elapsed == 0.25


@PROPERTY
@given(REPLY, st.sampled_from(["xid", "fragment", "tcp", "port"]))
def test_what_is_not_our_reply_is_none(reply: tuple[int, int, str, str, list[tuple[int, bytes]]], why: str) -> None:
    xid, kind, server, yiaddr, options = reply
    payload = bootreply(xid, kind, server, yiaddr, options)
    asked = (xid + 1) % 2**32 if why == "xid" else xid
    framed = frame(
        payload,
        source=server,
        frag=0x2000 if why == "fragment" else 0,  # the More Fragments flag
        proto=6 if why == "tcp" else 17,
        dport=53 if why == "port" else 68,
    )
    assert probe_dhcp.reply_from_frame(framed, asked, 0.0) is None


@PROPERTY
@given(st.lists(st.tuples(st.integers(1, 254), OPTION_VALUE), max_size=10), st.data())
def test_the_probes_options_parser(options: list[tuple[int, bytes]], data: st.DataObject) -> None:
    field = tlv(options, [1])  # a pad byte before every option
    assert probe_dhcp.parse_options(field + b"\xff") == (options, True)
    whole_at = {0}  # the cuts that fall between options (or after a pad): nothing is cut short there
    pos = 0
    for _code, value in options:
        pos += 1
        whole_at.add(pos)
        pos += 2 + len(value)
        whole_at.add(pos)
    cut = data.draw(st.integers(0, len(field)))
    parsed, complete = probe_dhcp.parse_options(field[:cut])
    assert parsed == options[: len(parsed)]
    assert complete == (cut in whole_at)


@PROPERTY
@given(st.binary(max_size=600), st.integers(0, 2**32 - 1))
def test_the_probes_reply_parser_never_raises(data: bytes, xid: int) -> None:
    probe_dhcp.parse_options(data)
    probe_dhcp.parse_bootp_reply(data)
    probe_dhcp.reply_from_frame(data, xid, 0.0)
    probe_dhcp.reply_from_frame(frame(data, source="10.0.0.1"), int.from_bytes(data[4:8].ljust(4, b"\x00")), 0.0)


# --- the fuzz harness itself (fuzz/fuzz_decoders.py) ----------------------------------------------------------------

FUZZ = Path(__file__).resolve().parent.parent / "fuzz" / "fuzz_decoders.py"


def _fuzz_module() -> Any:
    spec = importlib.util.spec_from_file_location("fuzz_decoders", FUZZ)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["fuzz_decoders"] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


def test_the_fuzz_harness_runs_every_decoder(tmp_path: Path) -> None:
    """The documented command, small: the random engine (no atheris needed), every decoder, exit 0."""
    argv = [sys.executable, str(FUZZ), "--engine", "random", "--count", "300", "--decoder", "all", "--jobs", "2"]
    argv += ["--artifacts", str(tmp_path / "artifacts"), "--json", str(tmp_path / "fuzz.json")]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "RESULT: ok" in out.stdout
    doc = json.loads((tmp_path / "fuzz.json").read_text())
    assert {d["target"] for d in doc["decoders"]} == set(_fuzz_module().TARGETS)
    assert all(d["count"] == 300 and d["outcome"] == "ok" for d in doc["decoders"])


def test_the_fuzz_harness_catches_a_raising_decoder_and_a_slow_one(tmp_path: Path) -> None:
    fuzz = _fuzz_module()

    def fragile(data: bytes) -> None:
        if len(data) > 3 and data[0] == 0xFF:
            raise ValueError("decoder bug")

    target = fuzz.Target("fragile", "a decoder that raises", fragile, lambda: [b"\x00abcdef"])
    stats = fuzz.run_random(fuzz.Runner(target, "random", 100_000, 1.0, tmp_path), seed=1)
    assert stats.outcome == "FAILED" and "ValueError: decoder bug" in stats.failure
    saved = Path(stats.artifact)
    assert saved.read_bytes()[0] == 0xFF and "Traceback" in saved.with_suffix(".txt").read_text()

    def slow(data: bytes) -> None:
        end = time.thread_time() + 0.05
        while time.thread_time() < end:
            pass

    target = fuzz.Target("slow", "a decoder that burns CPU", slow, lambda: [b"x"])
    stats = fuzz.run_random(fuzz.Runner(target, "random", 10, 0.01, tmp_path), seed=1)
    assert stats.outcome == "FAILED" and "of CPU (bound 0.01 s)" in stats.failure
