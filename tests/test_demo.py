"""`lyncready demo`: the built-in lab audited end to end, reports written, the exit code of the audit."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from reportcheck import validated

from lyncready.report import report_from_dict

DEMO = [sys.executable, "-c", "import sys; from lyncready.cli import main; sys.exit(main())", "demo", "--no-color"]


def run_demo(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, object]]:
    env = {**os.environ, "LYNCREADY_DISABLE_PLUGIN_AUTOLOAD": "1"}
    proc = subprocess.run(
        [*DEMO, "--output-dir", str(tmp_path), *args], capture_output=True, text=True, timeout=180, env=env
    )
    doc = json.loads((tmp_path / "demo.json").read_text())
    validated(report_from_dict(doc))
    assert (tmp_path / "demo.html").read_text().startswith("<!DOCTYPE html>")
    return proc, doc


def statuses(doc: dict[str, object], check_id: str) -> dict[str, str]:
    results = doc["results"]
    assert isinstance(results, list)
    return {r["target"].split(":")[0]: r["status"] for r in results if r["check_id"] == check_id}


def test_demo_without_dhcp(tmp_path: Path) -> None:
    proc, doc = run_demo(tmp_path, "--no-dhcp")
    assert proc.returncode == 2, proc.stderr
    assert "4 failed" in proc.stdout and "exit 2" in proc.stdout
    assert statuses(doc, "dns_strict_naming") == {"contoso.test": "pass", "fabrikam.test": "fail"}
    assert statuses(doc, "dns_ntp_srv") == {"contoso.test": "pass", "fabrikam.test": "fail"}
    assert statuses(doc, "http_certprov_anonymous") == {
        "pool.contoso.test": "pass",
        "lyncpool.corp.fabrikam.local": "fail",
    }
    assert statuses(doc, "tls_certificate_names") == {
        "pool.contoso.test": "pass",
        "lyncpool.corp.fabrikam.local": "fail",
    }
    assert statuses(doc, "dhcp_server_response") == {"(none)": "skip"}


@pytest.mark.skipif(os.geteuid() != 0 and os.environ.get("CI") != "true", reason="the DHCP layer needs root")
def test_demo_with_the_dhcp_layer(tmp_path: Path) -> None:
    proc, doc = run_demo(tmp_path, "--dhcp")
    assert proc.returncode == 2, proc.stderr
    assert "DHCP   responder in netns" in proc.stderr
    assert statuses(doc, "dhcp_server_response") == {"phone0": "pass"}
    assert statuses(doc, "dhcp_option_43") == {"phone0": "pass"}
    assert statuses(doc, "dhcp_option_120") == {"phone0": "pass"}
    assert statuses(doc, "dhcp_option_119") == {"phone0": "warn"}  # sent as a String, on purpose
    # option 43 names pool.contoso.test for every SIP domain, but fabrikam's Registrar is another server
    assert statuses(doc, "tls_certificate_names") == {
        "pool.contoso.test": "pass",
        "lyncpool.corp.fabrikam.local": "fail",
    }
    # option 42 fed an NTP target that the lab's NTP server answers
    assert statuses(doc, "ntp_reachable").get("127.0.0.1") == "pass"
    made = re.findall(r"netns (lyncready-demo-\S+)", proc.stderr)
    assert len(made) == 2, proc.stderr
    leftover = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert not any(name in leftover for name in made)
