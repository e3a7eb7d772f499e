"""DHCP option codecs: the seed article's vectors, round trips, every classic mistake, and garbage that must
never make a decoder raise or hang."""

from __future__ import annotations

import ipaddress
import random
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lyncready.codecs import (
    CERT_PROV_PATH,
    Decoded,
    Diagnostic,
    HexInputError,
    decode_43,
    decode_119,
    decode_120,
    decode_ipv4_list,
    decode_option,
    decode_param_list,
    decode_text,
    dhcputil_values,
    encode_43,
    encode_119,
    encode_120,
    encode_120_addresses,
    encode_option,
    guess_option,
    join_rfc3396,
    parse_bootp,
    parse_hex_input,
    parse_options,
)

# --- the seed article (configuring-lync-server-for-phone-edition-devices.txt) ----------------------------

SEED_120 = "00046C796E63077363686572747A056C6F63616C00"
SEED_SUBS = {
    "43.1": "4D532D55432D436C69656E74",
    "43.2": "6874747073",
    "43.3": "6C796E632E7363686572747A2E6C6F63616C",
    "43.4": "343433",
    # the article cuts this line; the full value is the path in ASCII
    "43.5": "2F4365727450726F762F4365727450726F766973696F6E696E67536572766963652E737663",
}
SEED_URL = "https://lync.schertz.local:443/CertProv/CertProvisioningService.svc"

# DHCPConfigScript.bat line as the article shows it: wrapped at 80 columns by the console, the last value cut
SEED_CONFIGURE = (
    "\u201cC:\\DHCPConfigScript.bat\u201d Configure MS-UC-Client 00046C796E6307736368657274\n"
    "7A056C6F63616C00 4D532D55432D436C69656E74 6874747073 6C796E632E7363686572747A2E6\n"
    "C6F63616C 343433 2F4365727450726F762F4365727450726F766973696F6E696E6753657276696\n"
)

SEED_DHCPUTIL_OUTPUT = """\
SIP Server FQDN : lync.schertz.local
Certificate Provisioning Service URL : https://lync.schertz.local:443/CertProv/CertProvisioningService.svc

Option 120: 00046C796E63077363686572747A056C6F63616C00

Vendor Class Identifier: MS-UC-Client
Option 43 (for vendor=MS-UC-Client):
        sub-option 1 <UC Identifier>: 4D532D55432D436C69656E74
        sub-option 2 <URL Scheme>: 6874747073
        sub-option 3 <Web Server FQDN>: 6C796E632E7363686572747A2E6C6F63616C
        sub-option 4 <Port>: 343433
        sub-option 5 <Relative Path for Cert Prov>: {path}

To configure DHCP Server with appropriate values, you can do one of the following things:
        1. Run DHCPUtil on the DHCP Server: use '-RunConfigScript' switch
""".format(path=SEED_SUBS["43.5"])


def test_seed_dhcputil_values() -> None:
    v = dhcputil_values("lync.schertz.local")
    assert v["120"] == SEED_120
    for key, value in SEED_SUBS.items():
        assert v[key] == value
    assert v["43.5"].startswith("2F4365727450726F762F43657274")  # what the article's cut line shows
    assert bytes.fromhex(v["43.5"]).decode() == CERT_PROV_PATH
    assert v["url"] == SEED_URL
    assert v["configure"] == "Configure MS-UC-Client " + " ".join([SEED_120, *SEED_SUBS.values()])
    # the article's wrapped Configure line is a prefix of ours once the console wrapping is undone
    seed_args = SEED_CONFIGURE.split("MS-UC-Client ", 1)[1].replace("\n", "")
    assert v["configure"].split("MS-UC-Client ", 1)[1].startswith(seed_args)


def test_seed_decodes() -> None:
    d120 = decode_option(120, bytes.fromhex(SEED_120))
    assert d120.to_json() == {
        "option": 120,
        "valid": True,
        "diagnostics": [],
        "value": {"encoding": 0, "names": ["lync.schertz.local"]},
    }
    assert len(bytes.fromhex(SEED_120)) == 21  # DHCPUtil -EmulateClient: "SIP Server( 120) = (Length: 21)"
    o43 = bytes.fromhex(dhcputil_values("lync.schertz.local")["43"])
    d43 = decode_option(43, o43)
    assert d43.valid and d43.diagnostics == ()
    assert d43.value["url"] == SEED_URL
    assert [s["code"] for s in d43.value["suboptions"]] == [1, 2, 3, 4, 5]
    assert d43.value["suboptions"][0] == {"code": 1, "text": "MS-UC-Client", "hex": SEED_SUBS["43.1"]}


def test_seed_ack_with_nap_suboption_is_90_bytes_and_fine() -> None:
    """The article's ACK shows 'Vendor Info(43) = (Length: 90)' ending in '?<03>NAP': a Windows server adds a
    3-byte NAP sub-option (code assumed 220 here). 90 bytes, but nothing is cut: no Cisco diagnostic."""
    data = bytes.fromhex(dhcputil_values("lync.schertz.local")["43"]) + bytes([220, 3]) + b"NAP"
    assert len(data) == 90
    d = decode_43(data)
    assert d.valid
    assert d.tags == ("o43.unknown_suboption",)
    assert d.value["suboptions"][-1] == {"code": 220, "text": "NAP", "hex": "4E4150"}


def test_seed_configure_line_paste() -> None:
    pasted = parse_hex_input(SEED_CONFIGURE)
    assert pasted.form == "configure"
    assert pasted.option is None and pasted.data == b""
    assert pasted.get(120) == bytes.fromhex(SEED_120)
    o43 = pasted.get(43)
    assert o43 is not None
    d = decode_43(o43)
    assert [s["text"] for s in d.value["suboptions"][:4]] == ["MS-UC-Client", "https", "lync.schertz.local", "443"]
    assert d.value["suboptions"][4]["text"] == "/CertProv/CertProvisioningService.svc"[:31]  # the article cut it
    assert "paste.odd_digits" in [x.tag for x in pasted.diagnostics]


def test_seed_dhcputil_output_paste() -> None:
    pasted = parse_hex_input(SEED_DHCPUTIL_OUTPUT)
    assert pasted.form == "dhcputil"
    assert pasted.get(120) == bytes.fromhex(SEED_120)
    assert pasted.get(43) == bytes.fromhex(dhcputil_values("lync.schertz.local")["43"])
    assert pasted.diagnostics == ()


def test_configure_line_wrapped_at_80_columns() -> None:
    v = dhcputil_values("lyncpool01.corp.contoso.com", "lyncweb.corp.contoso.com")
    line = '"C:\\Program Files\\Common Files\\Microsoft Lync Server 2010\\DHCPConfigScript.bat" ' + v["configure"]
    wrapped = "\n".join(line[i : i + 80] for i in range(0, len(line), 80)) + "\nC:\\>"
    pasted = parse_hex_input(wrapped)
    assert pasted.diagnostics == ()
    assert pasted.get(120) == bytes.fromhex(v["120"])
    assert pasted.get(43) == bytes.fromhex(v["43"])


def test_newer_dhcputil_output_with_full_value() -> None:
    text = """Option 120:
0009736970736572766572046671646E07636F6D70616E7903636F6D00

Vendor Class Identifier: MS-UC-Client
Option 43 (for vendor=MS-UC-Client):
        Full Option 43 value (Length: 186) :
        010C4D532D55432D436C69656E7402056874747073031A7369707365727665722E6671646E2
        E636F6D70616E792E636F6D040334343305252F4365727450726F762F4365727450726F766973696F6E696E67536572766963652E737663
        sub-option 1 <UC Identifier>: 4D532D55432D436C69656E74
"""
    pasted = parse_hex_input(text)
    assert pasted.diagnostics == ()
    assert pasted.get(120) == encode_120(["sipserver.fqdn.company.com"])
    assert pasted.get(43) == encode_43("sipserver.fqdn.company.com")


# --- round trips ---------------------------------------------------------------------------------------

_LABEL = st.from_regex(r"\A[A-Za-z0-9](?:[A-Za-z0-9-]{0,20}[A-Za-z0-9])?\Z", fullmatch=True)
_NAME = st.lists(_LABEL, min_size=1, max_size=6).map(".".join).filter(lambda n: len(n) < 200)
_NAMES = st.lists(_NAME, min_size=1, max_size=6)


@given(_NAMES)
def test_roundtrip_120(names: list[str]) -> None:
    d = decode_120(encode_120(names))
    assert d.value == {"encoding": 0, "names": names}
    assert not any(x.level == "error" for x in d.diagnostics)


@given(st.lists(st.sampled_from(["contoso.com", "corp.contoso.com", "a.corp.contoso.com"]) | _NAME, min_size=1))
def test_roundtrip_119(names: list[str]) -> None:
    for compress in (True, False):
        data = encode_119(names, compress=compress)
        d = decode_119(data)
        assert d.valid, d.diagnostics
        assert d.value == {"names": names, "form": "rfc3397"}


def test_119_compression_saves_bytes() -> None:
    names = ["contoso.com", "corp.contoso.com", "eu.corp.contoso.com"]
    packed = encode_119(names)
    assert packed.hex().upper() == "07636F6E746F736F03636F6D00" + "04636F7270C000" + "026575C00D"
    assert len(packed) < len(encode_119(names, compress=False))


@given(
    st.lists(_LABEL, min_size=2, max_size=5).map(".".join).filter(lambda n: len(n) <= 200 and n[-1].isalpha()),
    st.integers(min_value=1, max_value=65535),
)
def test_roundtrip_43(fqdn: str, port: int) -> None:
    d = decode_43(encode_43(fqdn, port))
    assert d.valid, d.diagnostics
    assert d.value["url"] == f"https://{fqdn}:{port}{CERT_PROV_PATH}"
    assert set(d.tags) <= {"o43.port_not_443"}


@given(st.lists(st.ip_addresses(v=4).map(str), min_size=1, max_size=8))
def test_roundtrip_120_addresses(addresses: list[str]) -> None:
    d = decode_120(encode_120_addresses(addresses), device="3pip")
    assert d.value == {"encoding": 1, "addresses": addresses}
    assert d.valid and d.tags == ("o120.ipv4_encoding",)


# --- option 120 mistakes -------------------------------------------------------------------------------


def _only_error(d: Decoded, tag: str) -> None:
    assert not d.valid
    assert tag in d.tags, d.diagnostics
    level = {x.tag: x.level for x in d.diagnostics}[tag]
    assert level == "error"


def test_120_raw_ascii() -> None:
    d = decode_120(b"lync.contoso.com")
    _only_error(d, "o120.no_encoding_byte")
    assert d.value == {"encoding": None, "names": ["lync.contoso.com"]}
    assert "00046C796E6307636F6E746F736F03636F6D00" in d.diagnostics[0].message


def test_120_labels_without_encoding_byte() -> None:
    d = decode_120(encode_120(["lync.contoso.com"])[1:])
    _only_error(d, "o120.no_encoding_byte")
    assert d.value["names"] == ["lync.contoso.com"]


def test_120_text_after_encoding_byte() -> None:
    _only_error(decode_120(b"\x00lync.contoso.com"), "o120.text_names")


def test_120_unknown_encoding() -> None:
    _only_error(decode_120(b"\x07\xff\xfe"), "o120.unknown_encoding")


@pytest.mark.parametrize("data", [b"", b"\x00", b"\x00\x00\x00", b"\x01"])
def test_120_empty(data: bytes) -> None:
    _only_error(decode_120(data), "o120.empty")


def test_120_ipv4_is_error_for_lpe_and_warning_for_3pip() -> None:
    data = encode_120_addresses(["10.0.0.5"])
    _only_error(decode_option(120, data), "o120.ipv4_encoding")
    d = decode_option(120, data, device="3pip")
    assert d.valid and d.diagnostics[0].level == "warning"
    assert d.value == {"encoding": 1, "addresses": ["10.0.0.5"]}


def test_120_ipv4_bad_length() -> None:
    _only_error(decode_120(b"\x01\x0a\x00\x00\x05\x0a"), "o120.address_length")


def test_120_label_too_long() -> None:
    _only_error(decode_120(b"\x00\x40" + b"a" * 64 + b"\x00"), "o120.label_too_long")


def test_120_name_too_long() -> None:
    name = ".".join(["a" * 63] * 5)  # 5 * 64 + 1 = 321 bytes on the wire
    data = b"\x00" + b"".join(b"\x3f" + b"a" * 63 for _ in range(5)) + b"\x00"
    d = decode_120(data)
    _only_error(d, "o120.name_too_long")
    assert name not in d.value["names"]


def test_120_truncated_label_and_name() -> None:
    _only_error(decode_120(bytes.fromhex("00046C796E6307736368")), "o120.truncated_label")
    _only_error(decode_120(bytes.fromhex("00046C796E63")), "o120.truncated_name")
    _only_error(decode_120(bytes.fromhex("00046C796E63C0")), "o120.truncated_pointer")


def test_120_pointer_loop_and_forward_pointer() -> None:
    _only_error(decode_120(b"\x00\x01a\xc0\x00"), "o120.pointer_loop")  # a -> pointer to itself's start
    _only_error(decode_120(b"\x00\xc0\x00"), "o120.forward_pointer")  # points at itself
    _only_error(decode_120(b"\x00\xc0\x04\x00\x01a\x00"), "o120.forward_pointer")
    _only_error(decode_120(b"\x00\x02ab\x01c\xc0\x00"), "o120.pointer_loop")


def test_120_compression_pointers_are_relative_to_after_the_encoding_byte() -> None:
    data = b"\x00" + bytes.fromhex("04706F6F6C07636F6E746F736F03636F6D00") + b"\x05pool2\xc0\x05"
    d = decode_120(data)
    assert d.valid and d.value["names"] == ["pool.contoso.com", "pool2.contoso.com"]


def test_120_trailing_zero_bytes() -> None:
    d = decode_120(bytes.fromhex(SEED_120) + b"\x00\x00")
    assert d.valid and "o120.trailing_bytes" in d.tags
    assert d.value["names"] == ["lync.schertz.local"]


def test_120_single_label_warning() -> None:
    d = decode_120(encode_120(["lyncpool"]))
    assert d.valid and d.tags == ("o120.single_label",)


# --- option 43 mistakes --------------------------------------------------------------------------------


def _tlv(*subs: tuple[int, bytes]) -> bytes:
    return b"".join(bytes([c, len(v)]) + v for c, v in subs)


GOOD = [(1, b"MS-UC-Client"), (2, b"https"), (3, b"lync.contoso.com"), (4, b"443"), (5, CERT_PROV_PATH.encode())]


def _with(code: int, value: bytes) -> bytes:
    return _tlv(*[(c, value if c == code else v) for c, v in GOOD])


def test_43_any_order_and_unknown_suboption_kept() -> None:
    d = decode_43(_tlv(GOOD[4], GOOD[2], (10, b"\x01\x02"), GOOD[0], GOOD[3], GOOD[1]))
    assert d.valid
    assert d.tags == ("o43.unknown_suboption",)
    assert {"code": 10, "text": "\\x01\\x02", "hex": "0102"} in d.value["suboptions"]
    assert d.value["url"] == f"https://lync.contoso.com:443{CERT_PROV_PATH}"


def test_43_dnsmasq_end_byte_and_pad() -> None:
    d = decode_43(_tlv(*GOOD) + b"\xff")
    assert d.valid and d.tags == ("o43.end_byte",)
    d = decode_43(_tlv(*GOOD[:2]) + b"\x00" + _tlv(*GOOD[2:]))
    assert d.valid and d.tags == ("o43.pad",)
    d = decode_43(_tlv(*GOOD[:2]) + b"\xff" + _tlv(*GOOD[2:]))
    assert "o43.data_after_end" in d.tags and "o43.missing_suboption" in d.tags


@pytest.mark.parametrize("missing", [1, 2, 3, 4, 5])
def test_43_missing_suboption(missing: int) -> None:
    d = decode_43(_tlv(*[s for s in GOOD if s[0] != missing]))
    _only_error(d, "o43.missing_suboption")
    assert f"Sub-option {missing}" in d.diagnostics[-1].message or any(
        f"Sub-option {missing}" in x.message for x in d.diagnostics
    )


@pytest.mark.parametrize(
    ("code", "value", "tag"),
    [
        (1, b"MS-US-Client", "o43.uc_identifier_typo"),
        (1, b"MSUCClient", "o43.uc_identifier_class_name"),
        (1, b"ms-uc-client", "o43.bad_uc_identifier"),
        (2, b"http", "o43.bad_scheme"),
        (3, b"10.0.0.20", "o43.web_fqdn_is_ip"),
        (3, b"lync contoso", "o43.bad_web_fqdn"),
        (3, b"\x04lync\x07contoso\x03com\x00", "o43.web_fqdn_wire_format"),
        (4, b"\x01\xbb", "o43.binary_port"),
        (4, b"https", "o43.bad_port"),
        (4, b"70000", "o43.bad_port"),
        (5, b"/CertProv/CertProvisioning.svc", "o43.bad_cert_prov_path"),
        (5, b"CertProv/CertProvisioningService.svc", "o43.bad_cert_prov_path"),
    ],
)
def test_43_wrong_values(code: int, value: bytes, tag: str) -> None:
    d = decode_43(_with(code, value))
    _only_error(d, tag)


def test_43_binary_port_is_named() -> None:
    d = decode_43(_with(4, b"\x01\xbb"))
    message = {x.tag: x.message for x in d.diagnostics}["o43.binary_port"]
    assert "443" in message and "343433" in message and "binary" in message


def test_43_case_insensitive_path_and_other_port() -> None:
    d = decode_43(_with(5, b"/CertProv/CertprovisioningService.svc"))
    assert d.valid and d.tags == ("o43.cert_prov_path_case",)
    d = decode_43(_with(4, b"4443"))
    assert d.valid and d.tags == ("o43.port_not_443",)
    assert d.value["url"] == f"https://lync.contoso.com:4443{CERT_PROV_PATH}"


def test_43_trailing_nul_and_duplicates() -> None:
    d = decode_43(_with(1, b"MS-UC-Client\x00"))
    assert d.valid and d.tags == ("o43.trailing_nul",)
    d = decode_43(_tlv(*GOOD, (3, b"other.contoso.com")))
    assert d.valid and d.tags == ("o43.duplicate_suboption",)


def test_43_text_form() -> None:
    d = decode_43(f"https://lync.contoso.com{CERT_PROV_PATH}".encode())
    _only_error(d, "o43.text_form")
    assert encode_43("lync.contoso.com").hex().upper() in d.diagnostics[0].message


def test_43_truncated_elsewhere() -> None:
    data = _tlv(*GOOD)[:-5]
    _only_error(decode_43(data), "o43.truncated")
    assert "o43.missing_suboption" not in decode_43(data).tags
    _only_error(decode_43(_tlv(*GOOD[:4]) + b"\x05"), "o43.truncated")
    _only_error(decode_43(b""), "o43.empty")


def test_43_cisco_180_hex_truncation() -> None:
    full = encode_43("lyncwebservices.internal.contoso.com")
    assert len(full.hex()) > 180
    cut = bytes.fromhex(full.hex()[:180])
    d = decode_option(43, cut)
    _only_error(d, "o43.truncated_cisco_180")
    assert d.tags == ("o43.truncated_cisco_180",)  # the cut sub-option is not reported again as missing
    message = d.diagnostics[0].message
    assert "Cisco" in message and "180" in message and "option ext" in message
    assert d.value["url"] is None


def test_43_cisco_article_vector() -> None:
    """The Cisco router from the reference blog stored sub-option 5 without its last 3 bytes ('svc')."""
    shown = (
        "010c.4d53.2d55.432d.436c.6965.6e74.0205.6874.7470.7303.1a73.6970.7365.7276.6572.2e66.7164.6e2e.636f."
        "6d70.616e.792e.636f.6d04.0334.3433.0525.2f43.6572.7450.726f.762f.4365.7274.5072.6f76.6973.696f.6e69."
        "6e67.5365.7276.6963.652e"
    )
    o120 = "0009.7369.7073.6572.7665.7204.6671.646e.0763.6f6d.7061.6e79.0363.6f6d.00"
    pasted = parse_hex_input(f" option 43 hex {shown}\n option 120 hex {o120}")
    assert pasted.form == "cisco"
    assert pasted.get(43) == encode_43("sipserver.fqdn.company.com")[:90]
    _only_error(decode_43(pasted.get(43) or b""), "o43.truncated_cisco_180")
    assert decode_120(pasted.get(120) or b"").value["names"] == ["sipserver.fqdn.company.com"]


def test_43_fqdn_of_23_characters_fits_cisco() -> None:
    fqdn = "server.fqdn.company.com"
    assert len(fqdn) == 23
    data = encode_43(fqdn)
    assert len(data.hex()) == 180
    assert decode_43(data).valid
    too_long = encode_43("s" + fqdn)
    assert len(too_long.hex()) == 182
    assert decode_43(bytes.fromhex(too_long.hex()[:180])).tags == ("o43.truncated_cisco_180",)


def test_cisco_paste_warns_about_long_hex_line() -> None:
    full = encode_43("lyncwebservices.internal.contoso.com")
    pasted = parse_hex_input(f"ip dhcp pool PHONES\n option 43 hex {full.hex()}\n")
    assert pasted.option == 43 and pasted.data == full
    assert [x.tag for x in pasted.diagnostics] == ["paste.cisco_180"]
    ext = parse_hex_input(f" option ext 43 hex {full.hex()[:100]}\n option ext 43 hex {full.hex()[100:]}")
    assert ext.data == full and ext.diagnostics == ()


# --- option 119 ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [b"contoso.com;corp.contoso.com", b"contoso.com", b"contoso.com\x00"])
def test_119_windows_string_mistake(text: bytes) -> None:
    d = decode_option(119, text)
    _only_error(d, "o119.text_form")
    assert d.value["form"] == "text"
    message = d.diagnostics[0].message
    assert "Byte" in message and "String" in message
    names = [n for n in text.rstrip(b"\x00").decode().split(";")]
    assert d.value["names"] == names
    assert encode_119(names).hex().upper() in message


def test_119_errors() -> None:
    _only_error(decode_119(b"\x07contoso\x03com\x00\x04corp\xc0\x16\x00"), "o119.forward_pointer")
    _only_error(decode_119(b"\x04corp\xc0\x00"), "o119.pointer_loop")
    _only_error(decode_119(b"\x07contoso\x03co"), "o119.truncated_label")
    assert decode_119(b"").tags == ("o119.empty",)


def test_pointer_loops_terminate_quickly() -> None:
    # every name points at the previous one: long legal-looking chains, then a loop at the end
    chain = bytearray(b"\x01a\x00")
    for i in range(2000):
        chain += bytes([0xC0 | ((3 + 2 * (i - 1)) >> 8 if i else 0), (3 + 2 * (i - 1)) & 0xFF if i else 0])
    start = time.perf_counter()
    for data in (bytes(chain), b"\x01a\xc0\x00" * 5000, b"\xc0\x00" * 50000):
        decode_119(data)
        decode_120(b"\x00" + data)
    assert time.perf_counter() - start < 5


# --- simple options ------------------------------------------------------------------------------------


def test_ipv4_lists() -> None:
    d = decode_option(42, bytes([10, 0, 0, 1, 10, 0, 0, 2]))
    assert d.valid and d.value == {"addresses": ["10.0.0.1", "10.0.0.2"]}
    for code in (3, 4, 6, 42):
        _only_error(decode_option(code, bytes([10, 0, 0])), f"o{code}.bad_length")
        _only_error(decode_option(code, b""), f"o{code}.empty")
    assert decode_ipv4_list(bytes(4), option=6).tags == ("o6.unusable_address",)


def test_text_and_param_list() -> None:
    assert decode_option(60, b"MS-UC-Client").to_json() == {
        "option": 60,
        "valid": True,
        "diagnostics": [],
        "value": {"text": "MS-UC-Client"},
    }
    _only_error(decode_text(b"MSUCClient", option=60), "o60.class_name")
    d = decode_option(15, b"corp.contoso.com\x00")
    assert d.valid and d.value == {"text": "corp.contoso.com"} and d.tags == ("o15.trailing_nul",)
    assert decode_option(55, bytes([1, 3, 6, 120, 43])).value == {"codes": [1, 3, 6, 120, 43]}
    assert decode_param_list(b"").tags == ("o55.empty",)
    assert decode_option(81, b"\x01\x02").value == {"hex": "0102"}


def test_decoded_invariants() -> None:
    with pytest.raises(ValueError):
        Decoded(1, True, (Diagnostic("x.y", "error", "m"),), {})
    with pytest.raises(ValueError):
        Decoded(1, False, (Diagnostic("x.y", "warning", "m"),), {})


# --- options field, RFC 3396, BOOTP --------------------------------------------------------------------


def test_parse_options_and_rfc3396() -> None:
    long43 = encode_43("lyncwebservices.internal.contoso.com") * 3  # 279 bytes: split in two instances
    field = encode_option(53, b"\x05") + b"\x00\x00" + encode_option(43, long43) + encode_option(120, b"\x00")
    field += b"\xff\x00\x00"
    options, diags = parse_options(field)
    assert diags == []
    assert [c for c, _ in options] == [53, 43, 43, 120]
    joined = join_rfc3396(options)
    assert joined[43] == long43 and list(joined) == [53, 43, 120]
    options, diags = parse_options(field[:-20])
    assert [d.tag for d in diags] == ["options.truncated"]
    assert parse_options(encode_option(53, b"\x05"))[1][0].tag == "options.no_end"
    assert parse_options(b"\x35")[1][0].tag == "options.truncated"


def _packet(options: bytes, *, file: bytes = b"", sname: bytes = b"") -> bytes:
    header = bytearray(236)
    header[0:4] = bytes([2, 1, 6, 0])
    header[4:8] = (0x12345678).to_bytes(4, "big")
    header[16:20] = ipaddress.IPv4Address("10.1.2.30").packed
    header[24:28] = ipaddress.IPv4Address("10.1.2.1").packed
    header[28:34] = bytes.fromhex("00155d670224")
    header[44 : 44 + len(sname)] = sname
    header[108 : 108 + len(file)] = file
    return bytes(header) + b"\x63\x82\x53\x63" + options


def test_parse_bootp_with_overload() -> None:
    o43 = dhcputil_values("lync.schertz.local")["43"]
    file_options = encode_option(43, bytes.fromhex(o43)[40:]) + b"\xff"
    options = encode_option(53, b"\x05") + encode_option(52, b"\x01") + encode_option(43, bytes.fromhex(o43)[:40])
    options += encode_option(120, bytes.fromhex(SEED_120)) + b"\xff"
    packet = parse_bootp(_packet(options, file=file_options, sname=b"dhcp01"))
    assert packet.valid
    assert (packet.op, packet.xid, packet.yiaddr, packet.giaddr) == (2, 0x12345678, "10.1.2.30", "10.1.2.1")
    assert packet.chaddr == "00:15:5d:67:02:24"
    assert packet.message_type == 5
    assert packet.option(43) == bytes.fromhex(o43)
    assert packet.option(120) == bytes.fromhex(SEED_120)
    assert packet.sname == "dhcp01" and packet.file == ""
    assert "bootp.overload" in [d.tag for d in packet.diagnostics]


def test_parse_bootp_garbage() -> None:
    assert parse_bootp(b"").diagnostics[0].tag == "bootp.truncated"
    assert parse_bootp(b"\x02" * 300).diagnostics[-1].tag == "bootp.no_magic_cookie"
    bad = parse_bootp(_packet(encode_option(52, b"\x07") + b"\xff"))
    assert "bootp.bad_overload" in [d.tag for d in bad.diagnostics]


# --- pasted hex ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "00046C796E63077363686572747A056C6F63616C00",
        "00 04 6c 79 6e 63 07 73 63 68 65 72 74 7a 05 6c 6f 63 61 6c 00",
        "00:04:6C:79:6E:63:07:73:63:68:65:72:74:7A:05:6C:6F:63:61:6C:00",
        "00-04-6c-79-6e-63-07-73-63-68-65-72-74-7a-05-6c-6f-63-61-6c-00",
        "0x00, 0x04, 0x6c, 0x79, 0x6e, 0x63, 0x07, 0x73, 0x63, 0x68, 0x65, 0x72, 0x74, 0x7a, 0x05, 0x6c, 0x6f, "
        "0x63, 0x61, 0x6c, 0x00",
        "0x0 0x4 0x6c 0x79 0x6e 0x63 0x7 0x73 0x63 0x68 0x65 0x72 0x74 0x7a 0x5 0x6c 0x6f 0x63 0x61 0x6c 0x0",
        "0x00046C796E63077363686572747A056C6F63616C00",
        "00046C796E6307736368\r\n657274 7A056C6F63616C00\n",
        "Option 120: 00046C796E63077363686572747A056C6F63616C00",
        " option 120 hex 0004.6c79.6e63.0773.6368.6572.747a.056c.6f63.616c.00",
        "0000   00 04 6c 79 6e 63 07 73 63 68 65 72 74 7a 05 6c   ..lync.schertz.l\n"
        "0010   6f 63 61 6c 00                                    ocal.",
        "00000000: 0004 6c79 6e63 0773 6368 6572 747a 056c  ..lync.schertz.l\n00000010: 6f63 616c 00  ocal.",
    ],
)
def test_paste_forms(text: str) -> None:
    pasted = parse_hex_input(text)
    assert pasted.diagnostics == ()
    assert pasted.data == bytes.fromhex(SEED_120)
    assert pasted.option_guess == 120


def test_paste_suboption_lines_reassembled() -> None:
    text = "\n".join(f"sub-option {i} <x>: {SEED_SUBS[f'43.{i}']}" for i in range(1, 6))
    pasted = parse_hex_input(text)
    assert pasted.option == 43
    assert pasted.data == bytes.fromhex(dhcputil_values("lync.schertz.local")["43"])


def test_paste_emulate_client_line_and_vendor_class_typo() -> None:
    line = f"    DHCP: SIP Server( 120)        = (Length: 21) enc:0 lync.schertz.local ({SEED_120})"
    pasted = parse_hex_input(line)
    assert (pasted.option, pasted.data, pasted.diagnostics) == (120, bytes.fromhex(SEED_120), ())
    cut = parse_hex_input("    DHCP: SIP Server( 120)        = (Length: 21) enc:0 lync.schertz.local (00046C79)")
    assert [x.tag for x in cut.diagnostics] == ["paste.cut"]
    typo = parse_hex_input(dhcputil_values("lync.schertz.local")["configure"].replace("MS-UC-Client", "MS-US-Client"))
    assert [x.tag for x in typo.diagnostics] == ["paste.vendor_class"]
    assert typo.get(43) == bytes.fromhex(dhcputil_values("lync.schertz.local")["43"])


@pytest.mark.parametrize("text", ["", "   \n", "lync.contoso.com", "hello world", "Configure MS-UC-Client"])
def test_paste_not_hex(text: str) -> None:
    with pytest.raises(HexInputError) as err:
        parse_hex_input(text)
    assert "\n" not in str(err.value)


def test_guess_option() -> None:
    v = dhcputil_values("lync.schertz.local")
    assert guess_option(bytes.fromhex(v["43"])) == 43
    assert guess_option(bytes.fromhex(v["43"])[:60]) == 43
    assert guess_option(bytes.fromhex(v["120"])) == 120
    assert guess_option(encode_120_addresses(["10.0.0.1"])) == 120
    assert guess_option(encode_119(["contoso.com", "corp.contoso.com"])) == 119
    assert guess_option(b"contoso.com;corp.contoso.com") == 119
    assert guess_option(b"MS-UC-Client") == 60
    assert guess_option(b"") == 0
    assert guess_option(b"\xfe\xfe") == 0


# --- garbage never raises ------------------------------------------------------------------------------

_GARBAGE = settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)


def _sane(d: Decoded) -> None:
    assert "codec.bug" not in d.tags
    assert d.valid == (not any(x.level == "error" for x in d.diagnostics))
    d.to_json()


@_GARBAGE
@given(st.binary(max_size=600), st.sampled_from(["lpe", "3pip"]))
def test_decoders_never_raise(data: bytes, device: str) -> None:
    for code in (120, 43, 119, 3, 4, 6, 42, 60, 15, 55, 0, 255, 81):
        _sane(decode_option(code, data, device=device))
    _sane(decode_120(b"\x00" + data))
    _sane(decode_43(b"\x01\x0cMS-UC-Client" + data))
    guess_option(data)
    parse_options(data)
    parse_bootp(data)
    parse_bootp(_packet(data))
    parse_bootp(_packet(b"\x34\x01\x03" + data, file=data[:128], sname=data[:64]))


@_GARBAGE
@given(st.lists(st.sampled_from([0, 1, 3, 0x3F, 0x40, 0xC0, 0xC1, 0xFF, 0x61]), max_size=300).map(bytes))
def test_name_decoders_on_label_soup(data: bytes) -> None:
    for d in (decode_119(data), decode_120(b"\x00" + data), decode_120(data), decode_43(data)):
        _sane(d)


@_GARBAGE
@given(st.text(max_size=400) | st.text(alphabet="0123456789abcdefABCDEF x:.-\n\r\t,;", max_size=400))
def test_paste_never_raises_anything_else(text: str) -> None:
    try:
        pasted = parse_hex_input(text)
    except HexInputError as exc:
        assert "\n" not in str(exc)
        return
    for code, value in pasted.parts:
        _sane(decode_option(code, value))


def test_huge_inputs() -> None:
    rnd = random.Random(3361)
    huge = rnd.randbytes(1_000_000)
    start = time.perf_counter()
    for code in (120, 43, 119, 6, 60, 55):
        _sane(decode_option(code, huge))
    _sane(decode_option(119, b"\x01a" * 300_000))
    _sane(decode_option(120, b"\x00" + b"\x3f" + b"a" * 63 * 1000))
    parse_options(huge)
    parse_bootp(huge)
    guess_option(huge)
    with pytest.raises(HexInputError):
        parse_hex_input("zz" * 100_000)
    assert len(parse_hex_input("ab" * 200_000).data) == 200_000
    assert time.perf_counter() - start < 20
