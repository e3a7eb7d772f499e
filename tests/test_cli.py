"""The command line: usage errors exit 3 with one line, catalogues, and a light start-up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_engine import BUILTIN_IDS

from lyncready.cli import main

LYNCREADY = [sys.executable, "-c", "import sys; from lyncready.cli import main; sys.exit(main())"]


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "LYNCREADY_DISABLE_PLUGIN_AUTOLOAD": "1", **(env or {})}
    return subprocess.run([*LYNCREADY, *args], capture_output=True, text=True, timeout=60, env=full_env)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["audit"], "nothing to audit"),
        (["audit", "--domain", "a.test", "--giaddr", "10.1.2.3"], "need --interface"),
        (["audit", "--interface", "eth0", "--dhcp-server", "dhcp.example"], "not an IPv4 address"),
        (["audit", "--domain", "a.test", "--bogus"], "No such option '--bogus'"),
        (["audit", "--domain", "a.test", "--check", "nope"], "unknown check id 'nope'"),
        (["audit", "--domain", "a.test", "--nameserver", "dns.example"], "give an IP address"),
        (["audit", "--domain", "a.test", "--nameserver", "127.0.0.1:99999"], "port must be"),
        (["audit", "--domain", "bad domain!"], "is not a DNS name"),
        (["audit", "--domain", "a.test", "--device", "cx700"], "Invalid value for '--device'"),
        (["audit", "--domain", "a.test", "--ca-bundle", "/nonexistent.pem"], "no such file"),
        (["audit", "--domain", "a.test", "--plugins-dir", "/nonexistent-dir"], "not a directory"),
        (["audit", "--domain", "a.test", "--concurrency", "0"], "concurrency must be at least 1"),
        (["frobnicate"], "No such command"),
    ],
)
def test_usage_errors_print_one_line_and_exit_3(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(args)
    _out, err = capsys.readouterr()
    assert code == 3
    assert message in err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("lyncready: error: ")


def test_checks_json_lists_the_catalogue() -> None:
    proc = cli("checks", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert {r["id"] for r in rows} == BUILTIN_IDS
    for r in rows:
        assert set(r) >= {"id", "title", "severity", "plugin", "description", "remediation", "references"}
        assert r["severity"] in ("warn", "fail")


def test_plugins_json_lists_plugins_and_hooks() -> None:
    proc = cli("plugins", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    assert rows["lyncready.plugins.dns_srv"]["hooks"] == ["register_checks"]
    assert rows["lyncready.plugins.probes"]["hooks"] == ["register_probes"]
    assert rows["lyncready.plugins.targets"]["hooks"] == ["register_target_sources"]


def test_help_imports_no_network_stack() -> None:
    code = (
        "import sys\n"
        "from lyncready.cli import main\n"
        "rc = main(['--help'])\n"
        "mods = ('scapy', 'dns', 'jinja2', 'cryptography', 'ntplib', 'trustme', 'jsonschema')\n"
        "heavy = [m for m in mods if m in sys.modules]\n"
        "print(rc, heavy)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip().splitlines()[-1] == "0 []", proc.stdout + proc.stderr


def test_audit_output_file_infers_the_format(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    # nothing listens on 127.0.0.1:9 for DNS: the audit runs and reports the failures, never crashes
    proc = cli(
        "audit",
        "--domain",
        "a.test",
        "--nameserver",
        "127.0.0.1:9",
        "--timeout",
        "0.3",
        "--check",
        "dns_ntp_srv",
        "--output",
        str(out),
    )
    assert proc.returncode == 2, proc.stderr
    doc = json.loads(out.read_text())
    assert doc["results"][0]["check_id"] == "dns_ntp_srv"
    assert doc["results"][0]["status"] == "fail"
    assert "report written to" in proc.stderr


def test_progress_bar_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from lyncready import cli as cli_module

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty = Tty()
    monkeypatch.setattr(sys, "stderr", tty)
    monkeypatch.delenv("TERM", raising=False)
    progress = cli_module._progress()
    assert progress is not None
    for _ in range(40):
        progress.queued(1)
    for _ in range(40):
        progress.done(1)
    assert tty.getvalue().endswith(f"\r[{'#' * 30}] 40/40 checks\n")
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # a pipe, a log file, cron: no bar at all
    assert cli_module._progress() is None
