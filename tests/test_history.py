"""The run history: round trip, diffs, retention, concurrent writers, and refusing files it does not understand."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from test_report import RESULTS, make_report

from lyncready.history import (
    HISTORY_SCHEMA_VERSION,
    ChangeKind,
    History,
    HistoryError,
    ResultKey,
    classify,
    diff_reports,
    mark_changes,
    result_key,
)
from lyncready.model import ExitCode, Report, Result, Status, Summary, TargetKind
from lyncready.report import render_json

PAIR_PASS = (RESULTS[0].check_id, RESULTS[0].target, "")  # dns_sipinternaltls on contoso.test: pass


def with_status(report: Report, index: int, status: Status) -> Report:
    results = list(report.results)
    results[index] = dataclasses.replace(results[index], status=status)
    return dataclasses.replace(report, results=tuple(results))


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "state" / "history.db"


# -- record and read back ----------------------------------------------------------------------


def test_record_get_round_trip(db: Path) -> None:
    report = make_report()
    with History(db) as h:
        run_id = h.record(report, label="nightly")
        assert h.get(run_id) == report
        (info,) = h.runs()
    assert info.id == run_id
    assert info.label == "nightly" and info.site is None
    assert info.exit_code == ExitCode.CRITICAL
    assert info.summary == report.summary == Summary(passed=2, warned=1, failed=1, errors=1, skipped=1)
    assert (info.started_at, info.finished_at, info.duration) == (report.started_at, report.finished_at, 3.25)
    assert info.tool_version == "0.1.0"
    with History(db) as h:  # reopening an existing history
        assert h.get(run_id) == report
        assert h.counts() == {"runs": 1, "results": len(RESULTS)}


def test_results_table_and_schema(db: Path) -> None:
    with History(db) as h:
        run_id = h.record(make_report())
    con = sqlite3.connect(db)
    try:
        assert con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (
            HISTORY_SCHEMA_VERSION,
        )
        assert con.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        rows = con.execute(
            "SELECT check_id, target, status, summary, tags FROM results WHERE run_id = ? ORDER BY seq", (run_id,)
        ).fetchall()
    finally:
        con.close()
    assert [(r[0], r[1], r[2]) for r in rows] == [(r.check_id, r.target, r.status.value) for r in RESULTS]
    assert rows[1][4] == "srv_target_outside_domain srv_record_count"


def test_results_keep_site_and_mute(db: Path) -> None:
    results = (
        dataclasses.replace(RESULTS[0], site="berlin"),
        dataclasses.replace(RESULTS[1], site="paris", muted="accepted until the migration"),
    )
    report = make_report(results=results)
    with History(db) as h:
        run_id = h.record(report)
        assert h.get(run_id) == report
    con = sqlite3.connect(db)
    try:
        rows = con.execute("SELECT site, muted FROM results WHERE run_id = ? ORDER BY seq", (run_id,)).fetchall()
    finally:
        con.close()
    assert rows == [("berlin", ""), ("paris", "accepted until the migration")]


def test_site_runs_and_latest(db: Path) -> None:
    with History(db) as h:
        a = h.record(make_report(arguments={"site": "berlin"}))
        b = h.record(make_report(), site="paris")
        c = h.record(make_report(arguments={"site": "berlin"}), label="after the change")
        assert [r.id for r in h.runs()] == [c, b, a]
        assert [r.id for r in h.runs(limit=1)] == [c]
        assert [r.id for r in h.runs(site="berlin")] == [c, a]
        assert [r.id for r in h.latest()] == [c, b]
        assert [r.id for r in h.latest(5, site="paris")] == [b]
        assert h.run_info(a).site == "berlin"
        with pytest.raises(KeyError, match="no run 999"):
            h.get(999)


def test_strange_strings_are_stored(db: Path) -> None:
    r = dataclasses.replace(RESULTS[1], target="a\ud800b\x00c", summary="\udcff")
    report = make_report(results=(r,))
    with History(db) as h:
        run_id = h.record(report, label="x\ud800")
        assert h.get(run_id) == report


# -- comparing runs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "kind"),
    [
        (None, Status.FAIL, ChangeKind.NEW),
        (Status.PASS, None, ChangeKind.DISAPPEARED),
        (Status.PASS, Status.PASS, ChangeKind.UNCHANGED),
        (Status.PASS, Status.WARN, ChangeKind.REGRESSED),
        (Status.PASS, Status.FAIL, ChangeKind.REGRESSED),
        (Status.PASS, Status.ERROR, ChangeKind.REGRESSED),
        (Status.WARN, Status.FAIL, ChangeKind.REGRESSED),
        (Status.WARN, Status.ERROR, ChangeKind.REGRESSED),
        (Status.ERROR, Status.FAIL, ChangeKind.REGRESSED),
        (Status.FAIL, Status.PASS, ChangeKind.FIXED),
        (Status.FAIL, Status.WARN, ChangeKind.FIXED),
        (Status.WARN, Status.PASS, ChangeKind.FIXED),
        (Status.ERROR, Status.PASS, ChangeKind.FIXED),
        (Status.FAIL, Status.ERROR, ChangeKind.CHANGED),
        (Status.PASS, Status.SKIP, ChangeKind.CHANGED),
        (Status.SKIP, Status.FAIL, ChangeKind.CHANGED),
    ],
)
def test_classify(old: Status | None, new: Status | None, kind: ChangeKind) -> None:
    assert classify(old, new) == kind


def test_diff_finds_exactly_one_regression(db: Path) -> None:
    before = make_report()
    after = with_status(before, 0, Status.FAIL)
    with History(db) as h:
        old_id = h.record(before)
        new_id = h.record(after)
        diff = h.diff(old_id, new_id)
    assert (diff.old_run, diff.new_run) == (old_id, new_id)
    (change,) = diff.regressions
    assert change.key == PAIR_PASS
    assert (change.old, change.new) == (Status.PASS, Status.FAIL)
    assert diff.fixed == diff.new == diff.disappeared == diff.changed == ()
    assert len(diff.unchanged) == len(RESULTS) - 1


def test_diff_fixed_new_and_disappeared() -> None:
    before = make_report()
    extra = Result("ntp_answers", "ntp2.contoso.test:123", TargetKind.NTP, Status.WARN, "new server")
    after = dataclasses.replace(
        with_status(before, 1, Status.PASS), results=(*with_status(before, 1, Status.PASS).results[:-1], extra)
    )
    diff = diff_reports(before, after)
    assert [c.key for c in diff.fixed] == [(RESULTS[1].check_id, RESULTS[1].target, "")]
    assert [(c.key, c.new) for c in diff.new] == [(("ntp_answers", "ntp2.contoso.test:123", ""), Status.WARN)]
    assert [(c.key, c.old) for c in diff.disappeared] == [(("web_http80", "pool.contoso.test:80", ""), Status.PASS)]
    assert diff.regressions == ()
    assert diff.new[0].summary == "new server"
    # a report not recorded can be compared with a recorded run
    assert diff_reports(after, after).regressions == ()


def test_mark_changes() -> None:
    before = make_report()
    assert set(mark_changes(before, None).values()) == {"new"}
    after = with_status(with_status(before, 0, Status.WARN), 1, Status.PASS)
    marks = mark_changes(after, before)
    assert marks[PAIR_PASS] == "regressed"
    assert marks[(RESULTS[1].check_id, RESULTS[1].target, "")] == "fixed"
    assert [marks[result_key(r)] for r in RESULTS[2:]] == ["unchanged"] * 4
    assert len(marks) == len(RESULTS)


def test_sites_are_compared_apart() -> None:
    # one network audit: the same domain checked from two sites; only berlin's result regresses
    berlin = dataclasses.replace(RESULTS[0], site="berlin")
    paris = dataclasses.replace(RESULTS[0], site="paris")
    before = make_report(results=(berlin, paris))
    broken = dataclasses.replace(berlin, status=Status.FAIL, muted="known, ticket 42")
    after = make_report(results=(broken, paris))
    diff = diff_reports(before, after)
    (change,) = diff.regressions
    assert change.key == ResultKey("dns_sipinternaltls", "contoso.test", "berlin")
    assert (change.site, change.muted) == ("berlin", "known, ticket 42")
    assert [c.site for c in diff.unchanged] == ["paris"]
    assert mark_changes(after, before) == {
        ("dns_sipinternaltls", "contoso.test", "berlin"): "regressed",
        ("dns_sipinternaltls", "contoso.test", "paris"): "unchanged",
    }


# -- retention ---------------------------------------------------------------------------------


def _iso(days_ago: float) -> str:
    return (dt.datetime.now(dt.UTC) - dt.timedelta(days=days_ago)).isoformat(timespec="seconds")


def test_retain_keep(db: Path) -> None:
    with History(db) as h:
        ids = [h.record(make_report()) for _ in range(5)]
        assert h.retain(keep=2) == 3
        assert [r.id for r in h.runs()] == [ids[4], ids[3]]
        assert h.counts() == {"runs": 2, "results": 2 * len(RESULTS)}
        assert h.retain(keep=2) == 0
        assert h.record(make_report()) > ids[-1]  # ids are never reused
        assert h.retain(keep=0) == 3
        assert h.counts() == {"runs": 0, "results": 0}


def test_retain_days_and_both(db: Path) -> None:
    with History(db) as h:
        old = [h.record(make_report(started_at=_iso(days))) for days in (100, 40)]
        recent = [h.record(make_report(started_at=_iso(days))) for days in (10, 0)]
        assert h.retain(keep=3, days=30) == 1  # kept: the newest 3, or anything younger than 30 days
        assert [r.id for r in h.runs()] == [*recent[::-1], old[1]]
        assert h.retain(days=30) == 1
        assert [r.id for r in h.runs()] == recent[::-1]
        with pytest.raises(ValueError, match="keep or days"):
            h.retain()
        with pytest.raises(ValueError, match="negative"):
            h.retain(keep=-1)


# -- concurrency -------------------------------------------------------------------------------


def test_two_threads_record_at_once(db: Path) -> None:
    History(db).close()
    report = make_report()
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            with History(db) as h:
                start.wait()
                for _ in range(20):
                    h.record(report)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    with History(db) as h:
        assert len(h.runs()) == 40
        assert h.counts()["results"] == 40 * len(RESULTS)


WRITER = """
import json, sys
from lyncready.history import History
from lyncready.report import report_from_dict
report = report_from_dict(json.load(open(sys.argv[2], encoding="utf-8")))
print("ready", flush=True)
sys.stdin.readline()
with History(sys.argv[1]) as h:
    for _ in range(20):
        h.record(report)
"""


def test_two_processes_create_and_record_at_once(tmp_path: Path) -> None:
    db = tmp_path / "fresh" / "history.db"  # not there yet: both processes may try to create it
    doc = tmp_path / "report.json"
    doc.write_text(render_json(make_report()), encoding="utf-8")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(db), str(doc)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for p in procs:  # both imported and waiting: release them together
        assert p.stdout is not None and p.stdout.readline() == "ready\n"
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    for p in procs:
        _out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        assert "locked" not in err
    with History(db) as h:
        assert len(h.runs()) == 40
        assert h.get(h.runs()[0].id) == make_report()


# -- files we do not understand ----------------------------------------------------------------


def _refused(path: Path, match: str) -> HistoryError:
    before = path.read_bytes()
    siblings = sorted(p.name for p in path.parent.iterdir())
    with pytest.raises(HistoryError, match=match) as info:
        History(path)
    assert path.read_bytes() == before, "the file was changed"
    assert sorted(p.name for p in path.parent.iterdir()) == siblings
    message = str(info.value)
    assert str(path) in message
    assert "\n" not in message
    return info.value


def test_garbage_file_is_refused_and_untouched(db: Path) -> None:
    db.parent.mkdir(parents=True)
    db.write_bytes(b"\x00\xffnot a database at all\n" * 200)
    err = _refused(db, "not a SQLite database")
    assert "untouched" in str(err) and "move it aside" in str(err)


def test_other_file_types_are_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("SQLite", encoding="utf-8")  # shorter than the header
    _refused(tmp_path / "notes.txt", "not a SQLite database")
    with pytest.raises(HistoryError, match="is a directory"):
        History(tmp_path)


def test_damaged_database_is_refused_and_untouched(db: Path) -> None:
    with History(db) as h:
        for _ in range(3):
            h.record(make_report())
    data = bytearray(db.read_bytes())
    data[100:4096] = b"\xa5" * (4096 - 100)  # page 1 after the header: the schema table
    db.write_bytes(bytes(data))
    _refused(db, "damaged")


def test_foreign_sqlite_database_is_refused_and_untouched(db: Path) -> None:
    db.parent.mkdir(parents=True)
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE accounts (name TEXT)")
    con.execute("INSERT INTO accounts VALUES ('alice')")
    con.commit()
    con.close()
    _refused(db, "not a lyncready history")


def test_newer_schema_is_refused_and_untouched(db: Path) -> None:
    with History(db) as h:
        h.record(make_report())
    con = sqlite3.connect(db)
    con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (HISTORY_SCHEMA_VERSION + 1,))
    con.commit()
    con.close()
    err = _refused(db, f"schema_version {HISTORY_SCHEMA_VERSION + 1}, newer")
    assert "upgrade lyncready" in str(err)


def test_empty_file_becomes_a_history(db: Path) -> None:
    db.parent.mkdir(parents=True)
    db.touch()
    with History(db) as h:
        assert h.runs() == []


def test_closed_history(db: Path) -> None:
    h = History(db)
    h.close()
    h.close()
    with pytest.raises(HistoryError, match="closed"):
        h.runs()


def test_stored_report_is_json_of_the_report(db: Path) -> None:
    import zlib

    report = make_report()
    with History(db) as h:
        run_id = h.record(report)
    con = sqlite3.connect(db)
    (blob,) = con.execute("SELECT report FROM runs WHERE id = ?", (run_id,)).fetchone()
    con.close()
    assert json.loads(zlib.decompress(blob)) == json.loads(render_json(report))
