"""`lyncready dhcp decode`: hex as people paste it, one JSON object, exit 0 valid / 2 invalid / 3 not hex."""

from __future__ import annotations

import json

import pytest

from lyncready.cli import main
from lyncready.codecs import dhcputil_values, encode_43, encode_119

SEED_120 = "00046C796E63077363686572747A056C6F63616C00"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["dhcp", "decode", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_seed_option_120_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--option", "120", "--json", SEED_120)
    doc = json.loads(out)
    assert code == 0
    assert doc == {
        "option": 120,
        "valid": True,
        "diagnostics": [],
        "value": {"encoding": 0, "names": ["lync.schertz.local"]},
    }


def test_configure_line_decodes_option_43_with_the_url(capsys: pytest.CaptureFixture[str]) -> None:
    line = "C:\\>DHCPConfigScript.bat " + dhcputil_values("lync.schertz.local")["configure"]
    code, out, _ = run(capsys, "--json", line)
    doc = json.loads(out)
    assert code == 0 and doc["option"] == 43 and doc["valid"] is True
    assert doc["value"]["url"] == "https://lync.schertz.local:443/CertProv/CertProvisioningService.svc"
    assert [s["code"] for s in doc["value"]["suboptions"]] == [1, 2, 3, 4, 5]
    assert {"code", "text", "hex"} <= set(doc["value"]["suboptions"][0])
    code, out, _ = run(capsys, "--json", "--option", "120", line)
    assert code == 0 and json.loads(out)["value"]["names"] == ["lync.schertz.local"]


def test_cisco_truncated_option_43_is_invalid_and_named(capsys: pytest.CaptureFixture[str]) -> None:
    full = encode_43("lyncwebservices.internal.contoso.com").hex()
    cisco = "option 43 hex " + full[:180]
    code, out, _ = run(capsys, "--json", cisco)
    doc = json.loads(out)
    assert code == 2 and doc["valid"] is False
    assert "o43.truncated_cisco_180" in {d["tag"] for d in doc["diagnostics"]}
    code, out, _ = run(capsys, cisco)
    assert code == 2 and "180" in out and "INVALID" in out


def test_text_form_119_says_what_to_type_instead(capsys: pytest.CaptureFixture[str]) -> None:
    hexed = b"contoso.com;corp.contoso.com".hex(":")
    code, out, _ = run(capsys, "--option", "119", "--json", hexed)
    doc = json.loads(out)
    assert code == 2 and doc["value"]["form"] == "text"
    assert encode_119(["contoso.com", "corp.contoso.com"]).hex().upper() in doc["diagnostics"][0]["message"]


@pytest.mark.parametrize("text", ["lync.contoso.com", "hello", "zz:zz"])
def test_not_hex_exits_3_with_one_line(capsys: pytest.CaptureFixture[str], text: str) -> None:
    code, out, err = run(capsys, "--option", "120", text)
    assert code == 3 and out == ""
    assert err.startswith("lyncready: error: not hex") and len(err.strip().splitlines()) == 1


def test_wireshark_style_and_0x_prefixes(capsys: pytest.CaptureFixture[str]) -> None:
    spaced = " ".join(f"0x{b:02x}" for b in bytes.fromhex(SEED_120))
    code, out, _ = run(capsys, spaced)
    assert code == 0 and "lync.schertz.local" in out and "Option 120" in out
