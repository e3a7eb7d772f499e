"""Network audit files: validated on load with file, line and key; the example ships valid."""

from __future__ import annotations

from pathlib import Path

import pytest

from lyncready.cli import main
from lyncready.config import ConfigError, load
from lyncready.host import load_registry

ROOT = Path(__file__).resolve().parent.parent
KNOWN = set(load_registry(autoload=False).checks)

GOOD = """\
[defaults]
device = "lpe"
nameservers = ["10.0.0.5"]

[[site]]
name = "HQ"
domains = ["contoso.com"]

[site.dhcp]
interface = "eth0"
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "network.toml"
    p.write_text(text)
    return p


def test_the_shipped_example_is_valid() -> None:
    af = load(ROOT / "examples" / "network.toml", KNOWN)
    assert [s.name for s in af.sites] == ["HQ", "Branch-Lyon"]
    hq, branch = af.sites
    assert hq.options.domains == ("contoso.com", "fabrikam.com")
    assert hq.options.expected_registrars == ("pool01.contoso.com",)
    assert hq.options.dhcp.interface == "eth0.20" and hq.options.device.value == "lpe"
    assert branch.options.dhcp.giaddr == "10.20.30.1" and str(branch.options.nameservers[0]) == "10.20.0.5"
    assert str(hq.options.nameservers[0]) == "10.0.0.5"  # from [defaults]
    assert af.severity["dhcp_option_119"].value == "fail"
    assert af.mutes[0].until == "2027-06-30" and af.mutes[0].site == "HQ"
    assert af.keep == 200


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (GOOD.replace('device = "lpe"', "device = 3"), 2, "defaults.device: must be 'lpe' or '3pip', not 3"),
        (GOOD.replace('name = "HQ"', 'name = "HQ"\nchecks = ["dns_nope"]'), 7, "unknown check id 'dns_nope'"),
        (GOOD + '\n[profile.severity]\ndns_ntp_srv = "critical"\n', 13, "must be 'warn' or 'fail'"),
        (GOOD + '\n[[mute]]\ncheck = "dns_ntp_srv"\ntarget = "x"\n', 12, "a mute needs 'reason'"),
        (GOOD + '\n[[mute]]\ncheck = "nope"\ntarget = "x"\nreason = "r"\n', 13, "unknown check id 'nope'"),
        ('[[site]]\nname = "A"\ndomains = ["a.test"]\ncolour = "red"\n', 4, "site[0].colour: unknown key"),
        ('[[site]]\nname = "A"\ndomains = "a.test"\n', 3, "must be a list of SIP domains"),
        ("[sites]\n", 1, "unknown top-level key"),
        ('[[site]]\nname = "A"\n', 1, "a site needs domains"),
        ('[[site]]\ndomains = ["a.test"]\nnameservers = ["dns.example"]\n', 1, "give an IP address"),
    ],
)
def test_errors_name_file_line_and_key(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load(path, KNOWN)
    text_err = str(err.value)
    assert message in text_err
    assert text_err.startswith(f"{path}:{line}: "), text_err


def test_a_key_in_the_wrong_table_is_unknown(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + "domans = ['x']\n")
    with pytest.raises(ConfigError, match=r"network.toml:11: site.dhcp.domans: unknown key"):
        load(path, KNOWN)


def test_not_toml(tmp_path: Path) -> None:
    path = write(tmp_path, "[[site]\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load(path, KNOWN)


def test_config_check_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "check", str(write(tmp_path, GOOD))]) == 0
    assert "valid: 1 site(s), 1 SIP domain(s)" in capsys.readouterr().out
    bad = write(tmp_path, GOOD.replace("domains", "domain"))
    assert main(["config", "check", str(bad)]) == 3
    err = capsys.readouterr().err
    assert err.startswith(f"lyncready: error: {bad}:7: site[0].domain: unknown key") and len(err.splitlines()) == 1


def test_tls_versions_per_name_from_the_file(tmp_path: Path) -> None:
    text = GOOD.replace('name = "HQ"', 'name = "HQ"\ntls_versions_per_name = true')
    (site,) = load(write(tmp_path, text), KNOWN).sites
    assert site.options.tls_versions_per_name is True
    (default,) = load(write(tmp_path, GOOD), KNOWN).sites
    assert default.options.tls_versions_per_name is False
    with pytest.raises(ConfigError, match="tls_versions_per_name: must be true or false"):
        load(write(tmp_path, text.replace("= true", '= "yes"')), KNOWN)
