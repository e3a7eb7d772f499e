"""``lyncready dhcp config`` and ``lyncready dhcp lint`` without a network: every dialect generates, its output
follows the vendor's documented syntax and lints clean (round trip), the sample configurations under
tests/data/dhcp-configs/ show the classic mistakes, unreadable input never raises, and the CLI's exit codes.
(The generated dnsmasq, Kea and ISC dhcpd configurations are proven on the wire in test_dhcpconfig_real.py.)
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lyncready.cli import dhcp, main
from lyncready.codecs import decode_option, dhcputil_values, encode_43, encode_119, encode_120, parse_hex_input
from lyncready.dhcpconfig import FORMATS, ScopeSpec, SpecError, detect_format, dialect, generate, lint
from lyncready.dhcpconfig.cli import add_commands
from lyncready.dhcpconfig.jsonc import parse_jsonc

DATA = Path(__file__).parent / "data" / "dhcp-configs"
SEED = "lync.schertz.local"
LONG_WEB = "lyncwebservices.frontend.contoso.com"  # option 43 = 103 bytes: past Cisco's 180 hex characters
TAG = "lync-10-1-20-0"

if "config" not in dhcp.commands:  # the lead wires this into lyncready/cli.py; until then, here
    add_commands(dhcp)


def spec(scope: str | None = None, web: str | None = "web.contoso.com", **kw: object) -> ScopeSpec:
    args: dict[str, object] = {
        "sip_server": "pool.contoso.com",
        "web_server": web,
        "search_list": "contoso.com,corp.contoso.com",
        "ntp": "10.0.0.1,10.0.0.2",
        "scope": scope,
    }
    args.update(kw)
    return ScopeSpec.make(**args)  # type: ignore[arg-type]


def scoped_text(fmt: str, s: ScopeSpec) -> str:
    """The generated text, plus for dnsmasq the admin's own range carrying the tag (as the comment asks)."""
    text = generate(s, fmt)
    if fmt == "dnsmasq" and s.scope:
        text = f"dhcp-range=set:{TAG},10.1.20.100,10.1.20.199,255.255.255.0,12h\n" + text
    return text


# --- hex: DHCPUtil's own values ------------------------------------------------------------------------


def test_hex_prints_exactly_dhcputils_values_for_the_seed() -> None:
    text = generate(ScopeSpec.make(SEED), "hex")
    lines = text.splitlines()
    assert "Option 120: 00046C796E63077363686572747A056C6F63616C00" in lines  # the seed article's value
    expected_subs = {
        1: "4D532D55432D436C69656E74",
        2: "6874747073",
        3: "6C796E632E7363686572747A2E6C6F63616C",
        4: "343433",
        5: "2F4365727450726F762F4365727450726F766973696F6E696E67536572766963652E737663",
    }
    for code, value in expected_subs.items():
        assert any(re.match(rf"^\s+sub-option {code} <[^>]+>: {value}$", line) for line in lines), code
    assert "Vendor Class Identifier: MS-UC-Client" in lines
    assert (
        "Certificate Provisioning Service URL : https://lync.schertz.local:443/CertProv/CertProvisioningService.svc"
        in lines
    )
    assert dhcputil_values(SEED)["configure"] in lines
    pasted = parse_hex_input(text)  # what 'lyncready dhcp decode' reads back
    assert pasted.get(120) == encode_120([SEED]) and pasted.get(43) == encode_43(SEED)


def test_hex_says_when_cisco_would_cut_option_43() -> None:
    text = generate(spec(web=LONG_WEB), "hex")
    assert "Full Option 43 value (Length: 206)" in text and "--format ios" in text
    assert "would cut" not in generate(spec(), "hex")


# --- every dialect: generate, documented syntax, round trip through lint --------------------------------


@pytest.mark.parametrize("scope", [None, "10.1.20.0/24", "10.1.20.0"], ids=["server", "scope", "scope-no-mask"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_generated_configuration_lints_to_what_was_asked(fmt: str, scope: str | None) -> None:
    s = spec(scope)
    text = scoped_text(fmt, s)
    assert detect_format(text) == fmt
    report = lint(text)
    assert report.format == fmt and not report.unreadable, report.unreadable
    allowed = {"o43.end_byte"} | ({"o43.sent_without_vendor_class"} if fmt == "ios" else set())
    assert set(report.tags) <= allowed, [(f.tag, f.message) for f in report.findings]
    assert report.exit_code == (1 if fmt == "ios" else 0)
    views = [v for v in report.scopes if not scope or fmt == "hex" or "10.1.20.0" in v.name]  # hex: no scopes
    assert len(views) == 1
    got = {code: data for code, (data, _) in views[0].options.items()}
    want = s.options()
    assert got[120] == want[120] and got[4] == want[4] and got[42] == want[42]
    assert decode_option(119, got[119]).value["names"] == ["contoso.com", "corp.contoso.com"]
    o43 = decode_option(43, got[43])  # dnsmasq: reverse order + end byte; the others: 1-5 in order
    assert o43.value["url"] == s.url and o43.valid
    if fmt != "dnsmasq":
        assert got[43] == want[43]


@pytest.mark.parametrize("fmt", FORMATS)
def test_minimal_spec_and_missing_time_servers_are_said(fmt: str) -> None:
    text = generate(ScopeSpec.make("pool.contoso.com"), fmt)
    if fmt != "hex":
        assert "_ntp._udp" in text  # the header says why 4/42 are absent
    report = lint(text)
    assert not report.unreadable
    assert report.has("cfg.missing_time") == (fmt != "hex")


def test_netsh_follows_the_dhcpconfigscript_syntax() -> None:
    for scope in (None, "10.1.20.0/24"):
        lines = [line for line in generate(spec(scope), "netsh").splitlines() if not line.startswith("REM")]
        prefix = "netsh dhcp server " + (r"scope 10\.1\.20\.0 " if scope else "")
        grammar = [
            r'^netsh dhcp server add class MSUCClient "UC Vendor Class Id" "MS-UC-Client" 1$',
            r'^netsh dhcp server add optiondef \d{1,3} \w+ Binary 0( vendor=MSUCClient)? comment="[^"]+"$',
            rf"^{prefix}set optionvalue \d{{1,3}} Binary( vendor=MSUCClient)? [0-9A-F]+$",
            rf"^{prefix}set optionvalue 0(04|42) IPADDRESS( \d+\.\d+\.\d+\.\d+)+$",
        ]
        for line in lines:
            assert any(re.match(g, line) for g in grammar), line
        assert "\r\n" in generate(spec(scope), "netsh")  # a .cmd file


PS_PARAMS = {
    "Add-DhcpServerv4Class": {"Name", "Type", "Data", "Description"},
    "Add-DhcpServerv4OptionDefinition": {"Name", "OptionId", "Type", "VendorClass", "Description"},
    "Set-DhcpServerv4OptionValue": {"ScopeId", "OptionId", "Value", "VendorClass"},
}
PS_TYPES = {"Byte", "Word", "DWord", "DWordDWord", "IPv4Address", "String", "BinaryData", "EncapsulatedData"}


def test_powershell_uses_documented_cmdlets_parameters_and_types() -> None:
    for scope in (None, "10.1.20.0/24"):
        for line in generate(spec(scope), "powershell").splitlines():
            if line.startswith("#"):
                continue
            cmdlet = line.split()[0]
            assert cmdlet in PS_PARAMS, line
            assert set(re.findall(r"\s-(\w+)\s", line + " ")) <= PS_PARAMS[cmdlet], line
            for kind in re.findall(r"-Type (\w+)", line):
                assert kind in PS_TYPES | {"Vendor"}, line
            assert ("-ScopeId 10.1.20.0" in line) == bool(scope and cmdlet.startswith("Set-")), line


def test_ios_switches_to_the_long_form_past_180_hex_characters() -> None:
    short = generate(spec(web="web.contoso.com"), "ios")
    assert re.search(r"^ option 43 hex [0-9a-f.]+$", short, re.M) and "option ext" not in short
    long = generate(spec("10.1.20.0/24", web=LONG_WEB), "ios")
    assert "option ext 43 hex" in long and "180" in long and not re.search(r"^ option 43 hex", long, re.M)
    for line in long.splitlines():  # IOS syntax: pool, network, option N hex|ip, comments
        assert re.match(
            r"^(!.*|ip dhcp pool \S+| network \d+(\.\d+){3} \d+(\.\d+){3}| option (ext )?\d+ hex [0-9a-f.]+"
            r"| option \d+ ip( \d+(\.\d+){3})+| !.*)$",
            line,
        ), line
    digits = {len(re.sub(r"\.", "", m)) for m in re.findall(r"option \d+ hex (\S+)", long)}
    assert max(digits) <= 180
    # lyncready's own reader of Cisco lines (dhcp decode) joins the long form: the whole 43
    assert parse_hex_input(long).get(43) == encode_43(LONG_WEB)
    report = lint(long)
    assert report.tags == ("o43.sent_without_vendor_class",)  # IOS cannot match option 60: said, not hidden


def test_kea_defines_what_it_lacks_and_the_client_class() -> None:
    doc = parse_jsonc(generate(spec(), "kea"))
    d4 = doc["Dhcp4"]
    assert {"name": "sip-server", "code": 120, "space": "dhcp4", "type": "record", "record-types": "uint8, fqdn"} in d4[
        "option-def"
    ]
    (cls,) = d4["client-classes"]
    assert cls["test"] == "option[60].text == 'MS-UC-Client'"
    assert cls["option-def"][0]["code"] == 43 and cls["option-def"][0]["encapsulate"] == "ms-uc-client"
    scoped = parse_jsonc(generate(spec("10.1.20.0/24"), "kea"))["Dhcp4"]
    (subnet,) = scoped["subnet4"]
    assert subnet["subnet"] == "10.1.20.0/24" and "option-data" not in scoped
    assert subnet["require-client-classes"] == [scoped["client-classes"][0]["name"]]
    assert scoped["client-classes"][0]["only-if-required"] is True


def test_dnsmasq_quotes_every_vendor_value_and_all_digit_ones() -> None:
    text = generate(spec(port=8443), "dnsmasq")
    assert 'dhcp-option=vendor:MS-UC-Client,4,"8443"' in text
    for line in text.splitlines():
        if line.startswith("dhcp-option=vendor:"):
            assert re.match(r'^dhcp-option=vendor:MS-UC-Client,[1-5],"[^"]+"$', line), line
    scoped = generate(spec("10.1.20.0/24"), "dnsmasq")
    assert all(line.startswith(f"dhcp-option=tag:{TAG},") for line in scoped.splitlines() if line.startswith("dhcp-"))


def test_mikrotik_values_are_exact_hex_and_43_goes_to_the_matcher() -> None:
    text = generate(spec("10.1.20.0/24"), "mikrotik")
    values = dict(re.findall(r"^add code=(\d+) name=\S+ value=0x([0-9a-f]+)$", text, re.M))
    assert bytes.fromhex(values["120"]) == encode_120(["pool.contoso.com"])
    assert bytes.fromhex(values["43"]) == encode_43("web.contoso.com")
    assert bytes.fromhex(values["119"]) == encode_119(["contoso.com", "corp.contoso.com"])
    assert re.search(r'^add code=60 name=\S+ option-set=lync-ms-uc-client server=\S+ value="MS-UC-Client"$', text, re.M)
    assert "set [find address=10.1.20.0/24] dhcp-option-set=lync-phones" in text
    assert re.search(r"^add name=lync-phones options=(?!.*lync-ms-uc-client\b)", text, re.M)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"sip_server": "lync"}, "fully qualified"),
        ({"sip_server": "bad..name"}, "empty label"),
        ({"ntp": "time.contoso.com"}, "IPv4 addresses"),
        ({"port": 70000}, "1-65535"),
        ({"scope": "10.1.20.5/24"}, "host bits"),
        ({"scope": "vlan20"}, "not an IPv4 network"),
    ],
)
def test_values_that_cannot_be_encoded_are_refused_with_one_line(kwargs: dict[str, object], needle: str) -> None:
    args: dict[str, object] = {"sip_server": "pool.contoso.com", **kwargs}
    with pytest.raises(SpecError, match=needle) as info:
        ScopeSpec.make(**args)  # type: ignore[arg-type]
    assert "\n" not in str(info.value)


# --- lint: the sample configurations --------------------------------------------------------------------

SAMPLES = {
    "netsh/dump-classic-mistakes.txt": (
        2,
        {"cfg.vendor_class_data", "o120.no_encoding_byte", "o119.text_form", "cfg.missing_43", "cfg.missing_time"},
    ),
    "netsh/script-scope-overrides.cmd": (2, {"cfg.scope_overrides_server", "cfg.vendor_class_name"}),
    "powershell/script-classic-mistakes.ps1": (
        2,
        {"cfg.vendor_class_data", "o120.no_encoding_byte", "o119.text_form", "cfg.missing_43", "cfg.missing_time"},
    ),
    "powershell/script-binary-port.ps1": (2, {"o43.binary_port", "cfg.missing_time"}),
    "powershell/get-optionvalue-list.txt": (2, {"o119.text_form"}),
    "powershell/get-optionvalue-table-cut.txt": (3, set()),
    "powershell/export-dhcpserver.xml": (2, {"o119.text_form", "cfg.scope_overrides_server"}),
    "isc/dhcpd-classic-mistakes.conf": (
        2,
        {"cfg.vendor_class_data", "o120.no_encoding_byte", "o119.bad_characters", "cfg.missing_43", "cfg.missing_time"},
    ),
    "isc/dhcpd-binary-port-and-global-43.conf": (
        2,
        {"o43.sent_without_vendor_class", "o43.binary_port", "cfg.scope_overrides_server"},
    ),
    "isc/dhcpd-not-authoritative.conf": (1, {"isc.not_authoritative"}),
    "kea/kea-dhcp4-classic-mistakes.json": (
        2,
        {"cfg.vendor_class_data", "o120.no_encoding_byte", "cfg.missing_43", "cfg.missing_time"},
    ),
    "kea/kea-dhcp4-port-and-global-43.json": (
        2,
        {"o43.sent_without_vendor_class", "o43.binary_port", "cfg.scope_overrides_server"},
    ),
    "kea/kea-dhcp4-syntax-error.json": (3, set()),
    "dnsmasq/dnsmasq-classic-mistakes.conf": (
        2,
        {"o120.no_encoding_byte", "o119.bad_characters", "o43.binary_port", "o43.end_byte", "cfg.missing_time"},
    ),
    "dnsmasq/dnsmasq-vendor-name-and-scopes.conf": (
        2,
        {"cfg.vendor_class_data", "cfg.missing_43", "cfg.scope_overrides_server", "cfg.missing_time"},
    ),
    "ios/pools-classic-mistakes.txt": (
        2,
        {
            "o120.no_encoding_byte",
            "o119.text_form",
            "o43.truncated_cisco_180",
            "o43.sent_without_vendor_class",
            "cfg.missing_time",
        },
    ),
    "ios/pools-parent-child.txt": (1, {"o43.sent_without_vendor_class", "cfg.scope_overrides_server"}),
    "mikrotik/export-classic-mistakes.rsc": (
        2,
        {"o120.no_encoding_byte", "o119.text_form", "cfg.vendor_class_data", "cfg.missing_43", "cfg.missing_time"},
    ),
    "mikrotik/export-port-as-number.rsc": (2, {"o43.truncated", "o43.binary_port"}),
    "mikrotik/export-routeros6-43-for-all.rsc": (1, {"o43.sent_without_vendor_class"}),
    "hex/dhcputil-cut-at-180.txt": (2, {"o43.truncated_cisco_180"}),
    "hex/configure-line-no-encoding-byte.txt": (2, {"o120.no_encoding_byte"}),
}


def test_every_sample_is_listed() -> None:
    found = {str(p.relative_to(DATA)) for p in DATA.rglob("*") if p.is_file()}
    assert found == set(SAMPLES)
    assert {name.split("/")[0] for name in SAMPLES} == set(FORMATS)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_lint_finds_the_classic_mistakes_of_each_sample(name: str) -> None:
    exit_code, tags = SAMPLES[name]
    dialect_name = name.split("/")[0]
    data = (DATA / name).read_bytes()
    assert detect_format(data.decode()) == dialect_name
    report = lint(data)
    assert report.format == dialect_name
    assert report.exit_code == exit_code, (report.tags, report.unreadable)
    assert tags <= set(report.tags), report.tags
    assert report.to_json()["exit_code"] == exit_code
    for f in report.findings:
        assert f.message and f.level in ("info", "warning", "error")
        inherent = f.tag == "o43.sent_without_vendor_class" and dialect_name in ("ios", "mikrotik")
        if f.level != "info" and not f.tag.startswith("paste.") and not inherent:
            assert f.fix_lines, (f.tag, f.message)  # every problem comes with corrected lines


def fix_for(name: str, tag: str) -> tuple[str, ...]:
    report = lint((DATA / name).read_bytes())
    return next(f.fix_lines for f in report.findings if f.tag == tag)


def test_fix_lines_are_in_the_files_own_dialect() -> None:
    sip = "00046C796E6307636F6E746F736F03636F6D00"
    assert fix_for("netsh/dump-classic-mistakes.txt", "o120.no_encoding_byte")[-1] == (
        f"netsh dhcp server set optionvalue 120 Binary {sip}"
    )
    assert fix_for("netsh/dump-classic-mistakes.txt", "cfg.vendor_class_data") == (
        'netsh dhcp server add class MSUCClient "UC Vendor Class Id" "MS-UC-Client" 1',
    )
    assert fix_for("netsh/script-scope-overrides.cmd", "cfg.vendor_class_name") == (
        "netsh dhcp server scope 10.1.30.0 set optionvalue 3 Binary vendor=MSUCClient "
        "6C796E637765622E636F6E746F736F2E636F6D",
    )
    ps = fix_for("powershell/script-classic-mistakes.ps1", "o119.text_form")
    assert ps[-1].startswith("Set-DhcpServerv4OptionValue -OptionId 119 -Value 0x07,0x63")
    assert any("-Type BinaryData" in line for line in ps)
    isc = fix_for("isc/dhcpd-classic-mistakes.conf", "o119.bad_characters")
    assert isc == (
        "subnet 10.1.20.0 netmask 255.255.255.0 {",
        '    option domain-search "contoso.com", "corp.contoso.com";',
        "}",
    )
    kea = fix_for("kea/kea-dhcp4-classic-mistakes.json", "o120.no_encoding_byte")
    assert '{"name": "sip-server", "data": "0, lync.contoso.com"}' in kea
    dm = fix_for("dnsmasq/dnsmasq-classic-mistakes.conf", "o43.binary_port")
    assert 'dhcp-option=vendor:MS-UC-Client,4,"443"' in dm
    ios = fix_for("ios/pools-classic-mistakes.txt", "o43.truncated_cisco_180")
    assert ios[0] == "ip dhcp pool VOICE" and ios[-1].startswith(" option ext 43 hex 010c.4d53")
    assert parse_hex_input(ios[-1]).get(43) == encode_43(LONG_WEB)  # the cut FQDN came back whole
    mt = fix_for("mikrotik/export-classic-mistakes.rsc", "o120.no_encoding_byte")
    assert "add code=120 name=lync-sip-server value=0x" + sip.lower() in mt
    hx = fix_for("hex/configure-line-no-encoding-byte.txt", "o120.no_encoding_byte")
    assert hx == (f"Option 120: {sip}",)


def test_lint_computes_the_bytes_each_scope_sends() -> None:
    report = lint((DATA / "dnsmasq/dnsmasq-classic-mistakes.conf").read_text())
    (view,) = report.scopes
    data, line = view.options[43]
    assert data[-1] == 0xFF and data[:2] == b"\x05\x25"  # dnsmasq: reverse order, end byte
    assert b"\x04\x02\x01\xbb" in data  # the unquoted 443: a 2-byte integer
    assert view.options[120][0] == b"lync.contoso.com"
    assert line == 10
    windows = lint((DATA / "netsh/dump-classic-mistakes.txt").read_text())
    assert windows.scopes[0].options[119][0] == b"contoso.com;corp.contoso.com\x00"  # STRING adds a NUL
    mikrotik = lint((DATA / "mikrotik/export-port-as-number.rsc").read_text())
    assert any("the number 0x01BB" in f.message for f in mikrotik.findings)
    xml = lint((DATA / "powershell/export-dhcpserver.xml").read_text())
    web = {v.name.split()[1]: decode_option(43, v.options[43][0]).value["url"] for v in xml.scopes}
    assert web["10.1.20.0"].startswith("https://lyncweb.contoso.com:443") and "//lync.contoso.com" in web["10.1.30.0"]


def test_server_level_values_that_a_scope_overrides_are_named() -> None:
    report = lint((DATA / "dnsmasq/dnsmasq-vendor-name-and-scopes.conf").read_text())
    f = next(f for f in report.findings if f.tag == "cfg.scope_overrides_server")
    assert "pool2.contoso.com" in f.message and "lync.contoso.com" in f.message and f.line == 6
    assert f.fix_lines == ("dhcp-option=tag:vlan30,120,lync.contoso.com",)


def test_routeros_precedence_server_before_network() -> None:
    text = (
        "/ip dhcp-server option\nadd code=120 name=a value=0x" + encode_120(["a.contoso.com"]).hex() + "\n"
        "add code=120 name=b value=0x" + encode_120(["b.contoso.com"]).hex() + "\n"
        "/ip dhcp-server option sets\nadd name=s1 options=a\nadd name=s2 options=b\n"
        "/ip dhcp-server\nadd name=dhcp1 interface=vlan20 dhcp-option-set=s1\n"
        "/ip dhcp-server network\nadd address=10.1.20.0/24 dhcp-option-set=s2\n"
    )
    report = lint(text)
    (view,) = report.scopes
    assert view.options[120][0] == encode_120(["a.contoso.com"])  # RouterOS: server options win over network's
    assert "server-level value" in next(f.message for f in report.findings if f.tag == "cfg.scope_overrides_server")


# --- unreadable input: the line and the reason, never a traceback ---------------------------------------


@pytest.mark.parametrize(
    ("fmt", "text", "line", "needle"),
    [
        ("kea", '{"Dhcp4": {"option-data": [}}', 1, "Kea JSON"),
        ("isc", "subnet 10.1.20.0 netmask 255.255.255.0 {\n  option routers 10.1.20.1\n}\n", 2, "';'"),
        ("isc", 'option x code 120 = text;\noption x "unclosed;\n', 2, "never closed"),
        ("powershell", "<DHCPServer><IPv4><Scopes></IPv4></DHCPServer>", 1, "XML"),
        ("powershell", "Set-DhcpServerv4OptionValue -OptionId 120 -Value $sip", 1, "variable"),
        ("netsh", "netsh dhcp server set optionvalue 120 BINARY zz", 1, "not hex"),
        ("ios", "ip dhcp pool X\n network 10.1.20.0 255.255.255.0\n option 120 hex 00zz\n", 3, "not hex"),
        ("mikrotik", "/ip dhcp-server option\nadd code=12x name=x value=0x00\n", 2, "not a number"),
        (
            "mikrotik",
            "/ip dhcp-server option\nadd code=43 name=x value=$(HOSTNAME)\n/ip dhcp-server\nadd dhcp-option=x\n",
            2,
            "HOSTNAME",
        ),
        ("dnsmasq", "dhcp-option=4,10.0.0.1,ntp.contoso.com\n", 1, "IPv4"),
        ("hex", "zzzz", 0, "hex"),
        ("auto", "hello world\n", 0, "--format"),
        ("auto", "   \n", 0, "empty"),
    ],
)
def test_unreadable_input_gives_the_line_and_the_reason(fmt: str, text: str, line: int, needle: str) -> None:
    report = lint(text, fmt)
    assert report.exit_code == 3
    assert any(u.line == line and needle in u.reason for u in report.unreadable), report.unreadable


def test_binary_and_utf16_input() -> None:
    assert lint(b"\x00\x01\x02dhcp-option=120,a.b.c").exit_code == 3
    utf16 = (DATA / "powershell/script-binary-port.ps1").read_text().encode("utf-16")  # PowerShell's Out-File
    assert lint(utf16).has("o43.binary_port")


@settings(max_examples=60, deadline=None)
@given(text=st.text(alphabet=st.sampled_from(list("{}[];,=\"':/\\.-0123456789abcxMSUC \n\t#!<>$()`")), max_size=300))
def test_no_reader_crashes_on_garbage(text: str) -> None:
    for fmt in FORMATS:
        report = lint(text, fmt)
        assert not any("internal reader error" in u.reason for u in report.unreadable), (fmt, report.unreadable)


def test_unknown_format_name() -> None:
    with pytest.raises(ValueError, match="unknown format"):
        dialect("windows")


# --- the CLI -----------------------------------------------------------------------------------------


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["dhcp", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_config_defaults_to_dhcputils_values(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "config", "--sip-server", SEED)
    assert code == 0 and not err
    assert out == generate(ScopeSpec.make(SEED), "hex")


def test_cli_config_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "config",
        "--sip-server",
        "pool.contoso.com",
        "--web-server",
        "web.contoso.com",
        "--port",
        "443",
        "--search-list",
        "contoso.com,corp.contoso.com",
        "--ntp",
        "10.0.0.1,10.0.0.2",
        "--format",
        "kea",
        "--scope",
        "10.1.20.0",
    )
    assert code == 0 and out == generate(spec("10.1.20.0"), "kea")


@pytest.mark.parametrize(
    "args",
    [
        ["config", "--sip-server", "lync"],
        ["config", "--sip-server", "a.b.c", "--format", "windows"],
        ["config", "--sip-server", "a.b.c", "--ntp", "ntp.contoso.com"],
        ["config"],
        ["lint", "/nonexistent/dhcpd.conf"],
    ],
)
def test_cli_usage_errors_exit_3_with_one_line(capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    code, out, err = run(capsys, *args)
    assert code == 3 and not out
    assert err.startswith("lyncready: error: ") and err.count("\n") == 1


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("isc/dhcpd-not-authoritative.conf", 1),
        ("isc/dhcpd-classic-mistakes.conf", 2),
        ("kea/kea-dhcp4-syntax-error.json", 3),
    ],
)
def test_cli_lint_exit_codes_and_text(capsys: pytest.CaptureFixture[str], name: str, code: int) -> None:
    path = str(DATA / name)
    got, out, err = run(capsys, "lint", path)
    assert got == code and not err
    assert f"exit {code}" in out
    if code == 3:
        assert f"{path}:5: not valid Kea JSON" in out


def test_cli_lint_clean_exits_0_and_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    conf = tmp_path / "kea.json"
    conf.write_text(generate(spec(), "kea"))
    code, out, _ = run(capsys, "lint", str(conf))
    assert code == 0 and "0 error(s), 0 warning(s)" in out
    code, out, _ = run(capsys, "lint", "--json", "--format", "ios", str(DATA / "ios/pools-classic-mistakes.txt"))
    doc = json.loads(out)
    assert code == 2 and doc["exit_code"] == 2 and doc["format"] == "ios"
    assert {f["tag"] for f in doc["findings"]} >= {"o43.truncated_cisco_180", "o120.no_encoding_byte"}
    assert doc["scopes"][0]["options"]["43"]["hex"].startswith("010C4D53")
    assert all({"line", "tag", "level", "message", "fix_lines", "scope"} <= set(f) for f in doc["findings"])


def test_cli_lint_reads_stdin(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import sys

    data = (DATA / "hex/configure-line-no-encoding-byte.txt").read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    code, out, _ = run(capsys, "lint", "-")
    assert code == 2 and "o120.no_encoding_byte" in out


def test_the_package_imports_without_the_codecs() -> None:
    """``lyncready --help`` loads the CLI, which loads this package: the codecs come only when a command runs."""
    import subprocess
    import sys

    from lyncready.codecs import CERT_PROV_PATH
    from lyncready.dhcpconfig import model

    assert model.CERT_PROV_PATH == CERT_PROV_PATH
    code = "import sys, lyncready.dhcpconfig.cli; print('lyncready.codecs' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
