"""Results past SPILL_AFTER go to a temporary file; reports read them back and render the same bytes."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator

import pytest

import lyncready
from lyncready import resultlog
from lyncready.lab import Lab, running_lab
from lyncready.model import Report, Status, Summary, exit_code_for
from lyncready.report import iter_render, render, render_json, render_text, report_to_dict
from lyncready.resultlog import ResultLog, SpilledResults


@pytest.fixture(scope="module")
def report() -> Iterator[Report]:
    with running_lab() as lab:
        kwargs = lab.audit_kwargs()
        kwargs["domains"] = [Lab.HEALTHY, Lab.BROKEN]
        kwargs["extra"] = {"hostile": '"results": [], "x": "\u202e\x1b[31m'}  # must not confuse the JSON stream
        yield lyncready.audit(**kwargs)


def spilled_copy(report: Report, keep: int) -> Report:
    log = ResultLog(spill_after=keep)
    for r in report.results:
        log.append(r)
    view = log.ordered(lambda m: 0)
    return dataclasses.replace(report, results=view)


def test_a_spilled_report_renders_the_same_bytes(report: Report) -> None:
    statuses = {r.status for r in report.results}
    assert {Status.PASS, Status.FAIL} <= statuses and len(report.results) > 10
    copy = spilled_copy(report, keep=3)
    assert isinstance(copy.results, SpilledResults)
    assert list(copy.results) == list(report.results)
    assert copy.results[-1] == report.results[-1] and list(copy.results[2:5]) == list(report.results[2:5])
    for fmt in ("json", "text", "csv", "junit", "sarif", "html"):
        assert render(copy, fmt) == render(report, fmt), fmt


def test_summary_and_exit_code_come_from_memory(report: Report, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = spilled_copy(report, keep=0)

    def no_reads(self: ResultLog, i: int) -> None:
        raise AssertionError("a summary must not read results back from disk")

    monkeypatch.setattr(ResultLog, "get", no_reads)
    assert copy.summary == Summary.of(tuple(report.results))
    assert copy.exit_code == exit_code_for(tuple(report.results))


def test_json_is_streamed_one_result_at_a_time(report: Report) -> None:
    pieces = list(iter_render(report, "json"))
    assert len(pieces) == len(report.results) + 2
    assert "".join(pieces) == json.dumps(report_to_dict(report), indent=2, ensure_ascii=False) + "\n"
    assert json.loads(render_json(report))["arguments"]["extra"]["hostile"].startswith('"results": []')
    empty = dataclasses.replace(report, results=())
    assert render_json(empty) == json.dumps(report_to_dict(empty), indent=2, ensure_ascii=False) + "\n"


def test_text_is_streamed_in_pieces() -> None:
    with running_lab(extra_domains=[f"d{i}.test" for i in range(120)]) as lab:
        big = lyncready.audit(**lab.audit_kwargs())
    pieces = list(iter_render(big, "text"))
    assert len(pieces) > 1 and "".join(pieces) == render_text(big, color=False)


def test_an_audit_spills_past_the_threshold(monkeypatch: pytest.MonkeyPatch, report: Report) -> None:
    monkeypatch.setattr(resultlog, "SPILL_AFTER", 4)
    with running_lab() as lab:
        kwargs = lab.audit_kwargs()
        kwargs["domains"] = [Lab.HEALTHY, Lab.BROKEN]
        spilled = lyncready.audit(**kwargs)
    assert isinstance(spilled.results, SpilledResults)
    key = [(r.check_id, r.target.split(":")[0], r.status) for r in report.results]  # another lab: other ports
    assert [(r.check_id, r.target.split(":")[0], r.status) for r in spilled.results] == key
    assert spilled.summary == report.summary


def test_a_failed_spill_keeps_results_in_memory(report: Report, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = [0]
    real = ResultLog._spill

    def full_disk(self: ResultLog, result: lyncready.Result) -> None:
        calls[0] += 1
        if calls[0] > 2:
            raise OSError(28, "No space left on device")
        real(self, result)

    monkeypatch.setattr(ResultLog, "_spill", full_disk)
    log = ResultLog(spill_after=3)
    for r in report.results:
        log.append(r)
    assert "No space left on device" in log.spill_error
    assert log.spilled  # two went to the file before the disk filled up
    view = log.ordered(lambda m: 0)
    assert list(view) == list(report.results)  # nothing lost, nothing shifted
