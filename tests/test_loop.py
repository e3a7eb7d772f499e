"""The event loop audits run on (lyncready/loop.py): uvloop by default, asyncio's own on request, and the
same report from both. The probe tests (test_probes_real.py, test_tlsconn.py, test_dns_channel.py) drive
the probes on asyncio's loop; the audits of the fault matrix and the CLI tests run on uvloop."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Iterator

import pytest
from test_cli import cli

import lyncready
from lyncready.lab import Lab, running_lab
from lyncready.loop import ENV, LoopError, loop_factory, run


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with running_lab() as running:
        yield running


async def _loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__


def test_uvloop_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    assert loop_factory()[0] == "uvloop"  # a declared dependency: CI installs it
    assert run(_loop_module()).startswith("uvloop")


def test_asyncio_on_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, "asyncio")
    assert loop_factory() == ("asyncio", None)
    assert run(_loop_module()) == "asyncio.unix_events"


def test_unknown_loop_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, "trio")
    with pytest.raises(LoopError, match="use 'uvloop', 'asyncio'"):
        loop_factory()
    proc = cli("audit", "--domain", "contoso.test", "--nameserver", "127.0.0.1:9", env={ENV: "trio"})
    assert proc.returncode == 3, proc
    assert proc.stderr.strip().splitlines() == [
        "lyncready: error: LYNCREADY_EVENT_LOOP='trio': use 'uvloop', 'asyncio' or leave it unset"
    ]


def _summary(report: lyncready.Report) -> list[tuple[str, str, str, str]]:
    """Each result, its measured numbers (NTP offsets, times) masked."""
    return [(r.check_id, r.target, r.status.value, re.sub(r"[+-]?\d+\.\d+", "#", r.summary)) for r in report.results]


def test_both_loops_give_the_same_report(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    kwargs = lab.audit_kwargs()
    kwargs["domains"] = [Lab.HEALTHY, Lab.BROKEN]
    monkeypatch.setenv(ENV, "uvloop")
    on_uvloop = lyncready.audit(**kwargs)
    monkeypatch.setenv(ENV, "asyncio")
    on_asyncio = lyncready.audit(**kwargs)
    assert _summary(on_uvloop) == _summary(on_asyncio)
    statuses = {s for _, _, s, _ in _summary(on_uvloop)}
    assert {"pass", "fail"} <= statuses  # the broken domain fails, the healthy one passes: a real audit
    assert os.environ[ENV] == "asyncio"
