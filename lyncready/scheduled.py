"""The scheduled-job path: one lock, one audit, every report format written atomically, history recorded.

``lyncready audit --config network.toml --output-dir reports/`` (from cron or a systemd timer) runs
here: it refuses to overlap with a running audit (an exclusive lock next to the outputs), writes
timestamped reports plus ``latest.json`` / ``latest.html`` (temp file + rename, so a crash or a second
run never leaves half a report), records the run in the history database, says what changed since the
last run, and applies the retention.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .model import Report

if TYPE_CHECKING:
    from .history import Change, ChangeKind, ResultKey

# format -> file extension of the timestamped reports
OUTPUT_FORMATS = {"json": "json", "html": "html", "junit": "xml", "text": "txt"}
# files with fixed names, replaced by each run (node_exporter reads every *.prom of its directory)
FIXED = {"latest.json": "json", "latest.html": "html", "lyncready.prom": "prometheus"}


class ScheduleError(Exception):
    """The run could not start or record (lock held, history unreadable): one sentence, exit 3."""


@dataclass
class Outcome:
    report: Report
    written: list[Path] = field(default_factory=list)
    regressions: list[str] = field(default_factory=list)
    fixed: list[str] = field(default_factory=list)
    run_id: int | None = None
    messages: list[str] = field(default_factory=list)
    changes: dict[ResultKey, ChangeKind] | None = None  # per result, since the previous run (None: no previous run)


@contextlib.contextmanager
def exclusive(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive lock for the run; a second run fails at once and says who holds it."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
            raise ScheduleError(
                f"another lyncready audit is running (lock {lock_path} held by pid {holder}); not starting a second"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


def _stamp(report: Report) -> str:
    return re.sub(r"[^0-9A-Za-z]", "", report.started_at.split("+")[0])[:15] or "run"


def scheduled_run(
    run: Callable[[], Report],
    *,
    output_dir: str | None,
    history: str | None,
    keep: int | None = None,
    keep_days: int | None = None,
    label: str | None = None,
) -> Outcome:
    out = Path(output_dir) if output_dir else None
    history_path = Path(history) if history else (out / "history.sqlite" if out else None)
    lock = (out / ".lyncready.lock") if out else Path(f"{history_path}.lock")
    with exclusive(lock):
        report = run()
        outcome = Outcome(report)
        if history_path is not None:
            _record(outcome, history_path, label, keep, keep_days)
        if out is not None:
            _write_all(outcome, out, label)
    return outcome


def _record(outcome: Outcome, path: Path, label: str | None, keep: int | None, keep_days: int | None) -> None:
    from .history import History, HistoryError, mark_changes

    try:
        with History(path) as db:
            previous = db.latest(1)
            run_id = db.record(outcome.report, label=label)
            outcome.run_id = run_id
            if previous:
                outcome.changes = mark_changes(outcome.report, db.get(previous[0].id))
                diff = db.diff(previous[0].id, run_id)
                outcome.regressions = [_change(c) for c in diff.regressions]
                outcome.fixed = [_change(c) for c in diff.fixed]
                outcome.messages.append(
                    f"run {run_id}: {len(outcome.regressions)} regression(s), {len(outcome.fixed)} fixed since run "
                    f"{previous[0].id}" + (": " + "; ".join(outcome.regressions) if outcome.regressions else "")
                )
            else:
                outcome.messages.append(f"run {run_id}: the first run recorded in {path}")
            if keep is not None or keep_days is not None:
                dropped = db.retain(keep=keep, days=keep_days)
                if dropped:
                    outcome.messages.append(f"retention: {dropped} old run(s) removed from {path}")
    except HistoryError as exc:
        raise ScheduleError(str(exc)) from None
    if outcome.regressions or outcome.fixed:
        notes = [*outcome.report.notes]
        notes += [f"regressed since the last run: {r}" for r in outcome.regressions]
        notes += [f"fixed since the last run: {r}" for r in outcome.fixed]
        outcome.report = dataclasses.replace(outcome.report, notes=tuple(notes))


def _change(c: Change) -> str:
    site = f"[{c.site}] " if c.site else ""
    return f"{site}{c.check_id} on {c.target}: {c.old} -> {c.new}"


def _write_all(outcome: Outcome, out: Path, label: str | None) -> None:
    run = f"-run{outcome.run_id}" if outcome.run_id is not None else ""
    stem = f"lyncready-{label + '-' if label else ''}{_stamp(outcome.report)}{run}"
    for fmt, ext in OUTPUT_FORMATS.items():
        outcome.written.append(_write(outcome, out / f"{stem}.{ext}", fmt))
    for name, fmt in FIXED.items():
        outcome.written.append(_write(outcome, out / name, fmt))
    outcome.messages.append(f"reports written to {out} ({stem}.*, {', '.join(FIXED)})")


def _write(outcome: Outcome, path: Path, fmt: str) -> Path:
    """One report file, atomically; the HTML ones mark what changed since the previous run."""
    from .report import write_report

    return write_report(outcome.report, path, fmt, changes=outcome.changes)
