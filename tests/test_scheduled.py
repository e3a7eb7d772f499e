"""A scheduled network audit end to end: an audit file with several sites against the lab, every report format,
history, a regression after breaking the lab, the lock against overlapping runs, and the scheduling docs."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from reportcheck import validated

from lyncready.lab import Lab, running_lab
from lyncready.report import report_from_dict

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-c", "import sys; from lyncready.cli import main; sys.exit(main())"]


def lyncready(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LYNCREADY_DISABLE_PLUGIN_AUTOLOAD": "1"}
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=180, env=env)


def network_file(lab: Lab, tmp: Path) -> Path:
    common = (
        f'nameservers = ["{lab.nameserver}"]\nca_bundle = "{lab.ca_bundle}"\ntimeout = 1\n'
        f"[site.ports]\nhttp = {lab.http_port}\nhttps = {lab.https_port}\nntp = {lab.ntp_port}\n"
    )
    text = f"""
[[site]]
name = "HQ"
domains = ["{lab.HEALTHY}", "{lab.BROKEN}"]
{common}
[[site]]
name = "Branch"
domains = ["{lab.HEALTHY}"]
device = "3pip"
{common}
[profile.severity]
dns_strict_naming = "warn"

[[mute]]
check = "http_certprov_anonymous"
target = "{lab.BROKEN_POOL}"
site = "HQ"
reason = "port 80 opens with the new load balancer (CHG-42)"

[output]
dir = "{tmp / "reports"}"
keep = 10
"""
    path = tmp / "network.toml"
    path.write_text(text)
    return path


def results(doc: dict[str, Any]) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {(r["site"], r["check_id"], r["target"].split(":")[0]): r for r in doc["results"]}


def test_network_audit_writes_every_format_records_history_and_reports_the_regression(tmp_path: Path) -> None:
    with running_lab() as lab:
        config = network_file(lab, tmp_path)
        out = tmp_path / "reports"
        first = lyncready("audit", "--config", str(config))
        assert first.returncode == 2, first.stderr
        assert "the first run recorded" in first.stderr

        doc = json.loads((out / "latest.json").read_text())
        validated(report_from_dict(doc))
        by = results(doc)
        assert by[("HQ", "dns_strict_naming", lab.BROKEN)]["status"] == "warn"  # the profile's severity
        muted = by[("HQ", "http_certprov_anonymous", lab.BROKEN_POOL)]
        assert muted["status"] == "fail" and muted["muted"].startswith("port 80 opens")
        assert by[("Branch", "tls_protocol_versions", f"pool.{lab.HEALTHY}")]["status"] == "pass"
        assert {r["site"] for r in doc["results"]} == {"HQ", "Branch"}

        junit = next(out.glob("lyncready-network-*.xml"))
        suites = ET.parse(junit).getroot()
        cases = suites.findall(".//testcase")
        assert len(cases) == len(doc["results"])
        assert any(c.find("failure") is not None for c in cases)
        metrics = {f.name: f for f in text_string_to_metric_families((out / "lyncready.prom").read_text())}
        exit_sample = metrics["lyncready_audit_exit_code"].samples[0]
        assert exit_sample.value == 2
        status = {
            (s.labels["site"], s.labels["check"], s.labels["target"]): s.value
            for s in metrics["lyncready_check_status"].samples
        }
        assert status[("HQ", "dns_ntp_srv", lab.BROKEN)] == 2
        html = (out / "latest.html").read_text()
        assert "CHG-42" in html and "<script>alert" not in html
        assert next(out.glob("lyncready-network-*.txt")).read_text().rstrip().endswith("exit 2")

        # break the healthy domain: its _ntp._udp record disappears
        lab.dns.remove(f"_ntp._udp.{lab.HEALTHY}.", "SRV")
        second = lyncready("audit", "--config", str(config), "--fail-on-regression")
        assert second.returncode == 2, second.stderr
        assert "2 regression(s)" in second.stderr
        assert f"[HQ] dns_ntp_srv on {lab.HEALTHY}: pass -> fail" in second.stderr
        assert f"[Branch] dns_ntp_srv on {lab.HEALTHY}: pass -> fail" in second.stderr

        diff = lyncready("diff", "--history", str(out / "history.sqlite"), "--json")
        assert diff.returncode == 2
        changes = json.loads(diff.stdout)["changes"]
        regressed = sorted((c["site"], c["check_id"], c["target"]) for c in changes if c["kind"] == "regressed")
        assert regressed == [("Branch", "dns_ntp_srv", lab.HEALTHY), ("HQ", "dns_ntp_srv", lab.HEALTHY)]
        latest = json.loads((out / "latest.json").read_text())
        assert any("regressed since the last run" in n for n in latest["notes"])

        third = lyncready("audit", "--config", str(config), "--fail-on-regression")
        assert third.returncode == 0, third.stderr  # still failing, but nothing new regressed
        history = lyncready("history", "--history", str(out / "history.sqlite"), "--json")
        assert [r["exit_code"] for r in json.loads(history.stdout)] == [2, 2, 2]
        assert len(list(out.glob("lyncready-network-*.json"))) == 3


def test_overlapping_runs_are_refused(tmp_path: Path) -> None:
    out = tmp_path / "reports"
    out.mkdir()
    with (out / ".lyncready.lock").open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.write("4242\n")
        held.flush()
        proc = lyncready("audit", "--domain", "a.test", "--nameserver", "127.0.0.1:9", "--output-dir", str(out))
    assert proc.returncode == 3
    assert "another lyncready audit is running" in proc.stderr and "pid 4242" in proc.stderr
    assert not list(out.glob("lyncready-*"))


def test_monitoring_output_for_nagios(tmp_path: Path) -> None:
    with running_lab() as lab:
        proc = lyncready(
            "audit",
            "--domain",
            lab.HEALTHY,
            "--nameserver",
            lab.nameserver,
            "--ca-bundle",
            lab.ca_bundle,
            "--http-port",
            str(lab.http_port),
            "--https-port",
            str(lab.https_port),
            "--ntp-port",
            str(lab.ntp_port),
            "--format",
            "monitoring",
        )
    first = proc.stdout.splitlines()[0]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert first.startswith("LYNCREADY OK - ") and "| passed=" in first


@pytest.mark.parametrize("unit", ["lyncready-audit.service", "lyncready-audit.timer"])
def test_systemd_units_and_cron_line_use_the_same_command(unit: str) -> None:
    docs = (ROOT / "docs" / "scheduling.md").read_text()
    command = "lyncready audit --config /etc/lyncready/network.toml --output-dir /var/lib/lyncready/reports"
    unit_text = (ROOT / "examples" / "systemd" / unit).read_text()
    if unit.endswith(".service"):
        assert f"ExecStart=/opt/lyncready/.venv/bin/{command}" in unit_text
    else:
        assert "OnCalendar=" in unit_text and "Persistent=true" in unit_text
    assert command in docs
    cron = next(line for line in docs.splitlines() if line.startswith("*/") or line[:1].isdigit())
    assert command in cron
