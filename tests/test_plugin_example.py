"""The plugin guide's example plugin, really installed (pip, entry point) and run against the lab."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lyncready.lab import running_lab

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "lyncready-ucupdates"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(EXAMPLE),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert list(target.glob("lyncready_ucupdates-0.1.0.dist-info"))
    return target


def lyncready(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "LYNCREADY_DISABLE_PLUGIN_AUTOLOAD"}
    env["PYTHONPATH"] = str(site)
    code = "import sys; from lyncready.cli import main; sys.exit(main())"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120, env=env)


def test_installed_plugin_is_listed(installed: Path) -> None:
    plugins = {p["name"]: p for p in json.loads(lyncready(installed, "plugins", "--json").stdout)}
    assert plugins["ucupdates"]["version"] == "0.1.0"
    assert plugins["ucupdates"]["source"] == "entrypoint"
    checks = {c["id"]: c for c in json.loads(lyncready(installed, "checks", "--json").stdout)}
    assert checks["dns_ucupdates_a"]["plugin"] == "ucupdates"
    assert checks["dns_ucupdates_a"]["severity"] == "warn"


def test_installed_plugin_runs_in_an_audit(installed: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    with running_lab() as lab:
        proc = lyncready(
            installed,
            "audit",
            "--domain",
            lab.HEALTHY,
            "--nameserver",
            lab.nameserver,
            "--check",
            "dns_ucupdates_a",
            "--check",
            "dns_sipinternaltls_srv",
            "--output",
            str(out),
        )
    doc = json.loads(out.read_text())
    results = {r["check_id"]: r for r in doc["results"]}
    # the lab has no ucupdates-r2 record: the example check warns with its fix line, the built-in one passes
    assert results["dns_ucupdates_a"]["status"] == "warn"
    assert results["dns_ucupdates_a"]["findings"][0]["tag"] == "ucupdates.nxdomain"
    assert results["dns_ucupdates_a"]["fix"] == f"ucupdates-r2.{lab.HEALTHY}. 3600 IN A <pool address>"
    assert results["dns_sipinternaltls_srv"]["status"] == "pass"
    assert proc.returncode == 1, proc.stderr
