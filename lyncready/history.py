"""The history of audit runs: an embedded SQLite database, so a scheduled audit can say what changed.

::

    from lyncready.history import History, mark_changes

    with History("/var/lib/lyncready/history.db") as h:
        previous = h.latest(1, site="berlin")
        run_id = h.record(report, label="nightly")
        if previous:
            diff = h.diff(previous[0].id, run_id)
            for change in diff.regressions:
                print(change.check_id, change.target, change.old, "->", change.new)
        h.retain(keep=100, days=90)

Layout (``schema_version`` 1, in the ``meta`` table)::

    meta(key TEXT PRIMARY KEY, value)                       'schema_version' -> 1, 'created_by' -> 'lyncready x.y'
    runs(id INTEGER PRIMARY KEY AUTOINCREMENT, started_at, finished_at, started_ts, recorded_at, duration,
         exit_code, passed, warned, failed, errors, skipped, site, label, tool_version,
         report BLOB)                                       the JSON report (report_to_dict), zlib-compressed
    results(run_id, seq, check_id, target, target_kind, status, summary, tags, site, muted)
                                                            one row per result; tags: the findings' tags

Run ids are never reused (``AUTOINCREMENT``), so "run 42" keeps meaning one run after :meth:`History.retain`.

Concurrency: the database is in WAL mode with a 10 s busy timeout, and every write is one ``BEGIN IMMEDIATE``
transaction, so audits started at the same time by cron or systemd timers on one machine queue for the lock
instead of failing with "database is locked". WAL needs a local file system (not NFS/SMB). One
:class:`History` (one SQLite connection) belongs to one thread; open one per thread or process.

Safety: a file that is not a SQLite database, a SQLite database that is not a lyncready history, or a
history written by a newer lyncready (a higher ``schema_version``) raises :class:`HistoryError` before
anything is written to it. Nothing here ever deletes, overwrites or "repairs" a file it does not understand.
"""

from __future__ import annotations

import datetime as _dt
import enum
import json
import sqlite3
import zlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final, NamedTuple, Self

from ._version import __version__
from .model import ExitCode, Report, Result, Status, Summary
from .report.json import report_from_dict, report_to_dict

__all__ = [
    "BUSY_TIMEOUT",
    "HISTORY_SCHEMA_VERSION",
    "Change",
    "ChangeKind",
    "Diff",
    "History",
    "HistoryError",
    "ResultKey",
    "RunInfo",
    "classify",
    "diff_reports",
    "mark_changes",
    "result_key",
]

HISTORY_SCHEMA_VERSION: Final = 1
"""The layout of the database this code writes and reads; a database with a higher one is refused."""

BUSY_TIMEOUT: Final = 10.0
"""Seconds a write waits for another process's write to finish before giving up."""

_SQLITE_MAGIC: Final = b"SQLite format 3\x00"

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value ANY
) STRICT;
CREATE TABLE IF NOT EXISTS runs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at   TEXT NOT NULL,
    finished_at  TEXT NOT NULL,
    started_ts   REAL NOT NULL,
    recorded_at  TEXT NOT NULL,
    duration     REAL NOT NULL,
    exit_code    INTEGER NOT NULL,
    passed       INTEGER NOT NULL,
    warned       INTEGER NOT NULL,
    failed       INTEGER NOT NULL,
    errors       INTEGER NOT NULL,
    skipped      INTEGER NOT NULL,
    site         TEXT,
    label        TEXT,
    tool_version TEXT NOT NULL,
    report       BLOB NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS runs_site ON runs (site, id);
CREATE INDEX IF NOT EXISTS runs_started ON runs (started_ts);
CREATE TABLE IF NOT EXISTS results (
    run_id      INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    check_id    TEXT NOT NULL,
    target      TEXT NOT NULL,
    target_kind TEXT NOT NULL,
    status      TEXT NOT NULL,
    summary     TEXT NOT NULL,
    tags        TEXT NOT NULL,
    site        TEXT NOT NULL,
    muted       TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
) STRICT;
CREATE INDEX IF NOT EXISTS results_check_target ON results (check_id, target);
"""


class HistoryError(Exception):
    """The history database cannot be used; the message says which file, what is wrong and what to do."""


# -- comparing runs ----------------------------------------------------------------------------


class ChangeKind(enum.StrEnum):
    """How one (check, target) moved between two runs."""

    NEW = "new"  # not in the older run
    REGRESSED = "regressed"  # worse: pass -> warn/fail/error, warn -> fail/error, error -> fail
    FIXED = "fixed"  # better: fail -> warn/pass, warn -> pass, error -> pass/warn
    CHANGED = "changed"  # different but neither better nor worse: to or from skip, fail -> error
    UNCHANGED = "unchanged"
    DISAPPEARED = "disappeared"  # in the older run only


# Worse is higher. ERROR sits between WARN and FAIL: losing sight of a target is worse than a warning,
# finding it failing is worse than not knowing, but fail -> error is not a fix (see classify()).
_RANK: Final = {Status.PASS: 0, Status.WARN: 1, Status.ERROR: 2, Status.FAIL: 3}


def classify(old: Status | None, new: Status | None) -> ChangeKind:
    """The kind of change from ``old`` to ``new`` (``None``: the pair is absent from that run)."""
    if old is None and new is None:
        raise ValueError("classify() needs at least one status")
    if old is None:
        return ChangeKind.NEW
    if new is None:
        return ChangeKind.DISAPPEARED
    if old == new:
        return ChangeKind.UNCHANGED
    if old == Status.SKIP or new == Status.SKIP:
        return ChangeKind.CHANGED
    if old == Status.FAIL and new == Status.ERROR:
        return ChangeKind.CHANGED  # the check could not run this time: no news about the failure
    return ChangeKind.REGRESSED if _RANK[new] > _RANK[old] else ChangeKind.FIXED


class ResultKey(NamedTuple):
    """What makes results of two runs "the same": the check, the target as written, and the site
    (``""`` for an audit of one site). A plain tuple, so ``marks[(check_id, target, site)]`` works too."""

    check_id: str
    target: str
    site: str = ""


def result_key(r: Result) -> ResultKey:
    return ResultKey(r.check_id, r.target, r.site)


@dataclass(frozen=True, slots=True)
class Change:
    """One (check, target, site) and how its status moved between the two runs."""

    check_id: str
    target: str
    old: Status | None
    new: Status | None
    kind: ChangeKind
    summary: str = ""  # the newer run's summary (the older one's when the pair disappeared)
    site: str = ""
    muted: str = ""  # the newer run's mute reason: the change is an accepted finding

    @property
    def key(self) -> ResultKey:
        return ResultKey(self.check_id, self.target, self.site)


@dataclass(frozen=True, slots=True)
class Diff:
    """Every (check, target, site) of two runs, each with its :class:`ChangeKind`: the newer run's results
    in its order, then those that disappeared. Muted results are compared like the others (see ``muted``)."""

    old_run: int | None
    new_run: int | None
    changes: tuple[Change, ...]

    def of_kind(self, kind: ChangeKind) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.kind == kind)

    @property
    def regressions(self) -> tuple[Change, ...]:
        return self.of_kind(ChangeKind.REGRESSED)

    @property
    def fixed(self) -> tuple[Change, ...]:
        return self.of_kind(ChangeKind.FIXED)

    @property
    def new(self) -> tuple[Change, ...]:
        return self.of_kind(ChangeKind.NEW)

    @property
    def disappeared(self) -> tuple[Change, ...]:
        return self.of_kind(ChangeKind.DISAPPEARED)

    @property
    def changed(self) -> tuple[Change, ...]:
        """Moves that are neither a regression nor a fix (to or from ``skip``, ``fail`` to ``error``)."""
        return self.of_kind(ChangeKind.CHANGED)

    @property
    def unchanged(self) -> tuple[Change, ...]:
        return self.of_kind(ChangeKind.UNCHANGED)


def _by_key(report: Report) -> dict[ResultKey, Result]:
    """The results by key; the first one wins if a key appears twice."""
    out: dict[ResultKey, Result] = {}
    for r in report.results:
        out.setdefault(result_key(r), r)
    return out


def diff_reports(old: Report, new: Report, *, old_run: int | None = None, new_run: int | None = None) -> Diff:
    """Compare two reports result by result (check id, target name as written, site)."""
    before, after = _by_key(old), _by_key(new)
    changes = []
    for key, r in after.items():
        was = before[key].status if key in before else None
        changes.append(Change(r.check_id, r.target, was, r.status, classify(was, r.status), r.summary, r.site, r.muted))
    changes.extend(
        Change(r.check_id, r.target, r.status, None, ChangeKind.DISAPPEARED, r.summary, r.site)
        for key, r in before.items()
        if key not in after
    )
    return Diff(old_run, new_run, tuple(changes))


def mark_changes(report: Report, previous: Report | None) -> dict[ResultKey, ChangeKind]:
    """Per result of ``report`` (by :func:`result_key`): ``"new"``, ``"regressed"``, ``"fixed"``,
    ``"unchanged"`` or ``"changed"`` (to or from ``skip``, ``fail`` to ``error``) compared with
    ``previous``; all ``"new"`` without a previous report. :class:`ChangeKind` members are strings."""
    before = _by_key(previous) if previous is not None else {}
    return {
        key: classify(before[key].status if key in before else None, r.status) for key, r in _by_key(report).items()
    }


# -- the database ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunInfo:
    """One recorded run, without its results (:meth:`History.get` gives the whole report)."""

    id: int
    started_at: str
    finished_at: str
    recorded_at: str
    duration: float
    exit_code: ExitCode
    summary: Summary
    site: str | None
    label: str | None
    tool_version: str


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


def _text(value: str) -> str:
    """``value`` as SQLite can store it: a lone surrogate (not UTF-8) written as its escape."""
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


def _unix_time(iso: str, default: float) -> float:
    try:
        when = _dt.datetime.fromisoformat(iso)
    except ValueError:
        return default
    if when.tzinfo is None:
        when = when.replace(tzinfo=_dt.UTC)
    return when.timestamp()


_RUN_COLUMNS: Final = (
    "id, started_at, finished_at, recorded_at, duration, exit_code, passed, warned, failed, errors, skipped, "
    "site, label, tool_version"
)


def _run_info(row: Sequence[Any]) -> RunInfo:
    return RunInfo(
        id=int(row[0]),
        started_at=str(row[1]),
        finished_at=str(row[2]),
        recorded_at=str(row[3]),
        duration=float(row[4]),
        exit_code=ExitCode(int(row[5])),
        summary=Summary(passed=row[6], warned=row[7], failed=row[8], errors=row[9], skipped=row[10]),
        site=row[11],
        label=row[12],
        tool_version=str(row[13]),
    )


class History:
    """The run history in one SQLite file. Use as a context manager, or call :meth:`close`.

    Opening creates the file (and its folder) when it does not exist, and refuses with :class:`HistoryError`
    anything it does not understand. ``timeout``: seconds to wait for another writer (default 10).
    """

    def __init__(self, path: str | Path, *, timeout: float = BUSY_TIMEOUT) -> None:
        self.path = Path(path)
        self._db: sqlite3.Connection | None = None
        self._check_file()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise HistoryError(
                f"cannot open the history {self.path}: {exc}; check that the folder exists and is writable"
            ) from exc
        try:
            self._open(db)
        except BaseException:
            db.close()
            raise
        self._db = db

    # -- opening -------------------------------------------------------------------------------

    def _check_file(self) -> None:
        """Refuse a file that is not SQLite before SQLite touches it."""
        try:
            with self.path.open("rb") as fh:
                head = fh.read(len(_SQLITE_MAGIC))
        except FileNotFoundError:
            return
        except IsADirectoryError:
            raise HistoryError(f"the history {self.path} is a directory; give the path of a file") from None
        except OSError as exc:
            raise HistoryError(f"cannot read the history {self.path}: {exc}; check its permissions") from exc
        if head and head != _SQLITE_MAGIC:
            raise HistoryError(
                f"{self.path} is not a SQLite database (corrupt, or some other file); it was left untouched: "
                "move it aside or give another history path"
            )

    def _fail(self, what: str, exc: BaseException | None = None) -> HistoryError:
        detail = f" ({exc})" if exc is not None else ""
        return HistoryError(f"{self.path}: {what}{detail}")

    def _open(self, db: sqlite3.Connection) -> None:
        try:
            version = self._read_version(db)  # reads only: nothing is written to a file we refuse
            if version is None:
                self._create(db)
            elif version < HISTORY_SCHEMA_VERSION:  # pragma: no cover - no older layout exists yet
                raise self._fail(
                    f"history schema_version {version} needs a migration this lyncready lacks; "
                    "it was left untouched: use the lyncready that wrote it"
                )
            if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")  # safe with WAL: a power cut may lose the last run only
            db.execute("PRAGMA foreign_keys = ON")
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError):
                if "locked" in str(exc) or "busy" in str(exc):
                    raise self._fail("the history stayed locked by another process; try again later", exc) from exc
                raise self._fail(
                    "cannot use the history; check that this user can write the file and its folder", exc
                ) from exc
            raise self._fail(
                "the history database is damaged or unreadable; it was left untouched: "
                "move it aside (lyncready starts a new history) or restore a backup",
                exc,
            ) from exc

    def _read_version(self, db: sqlite3.Connection) -> int | None:
        """The history's schema_version; ``None`` for an empty database (a new file). Refuses the rest."""
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not tables:
            return None
        if "meta" not in tables:
            raise self._fail(
                "this SQLite database is not a lyncready history (no meta table); it was left untouched: "
                "give another history path"
            )
        row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is None or not isinstance(row[0], int):
            raise self._fail(
                "the history has no integer schema_version in its meta table; it was left untouched: "
                "move it aside or give another history path"
            )
        version: int = row[0]
        if version > HISTORY_SCHEMA_VERSION:
            raise self._fail(
                f"the history has schema_version {version}, newer than this lyncready reads "
                f"({HISTORY_SCHEMA_VERSION}); it was left untouched: upgrade lyncready or give another history path"
            )
        return version

    def _create(self, db: sqlite3.Connection) -> None:
        # Another process may be creating it at the same moment: decide again under the write lock.
        db.execute("BEGIN IMMEDIATE")
        try:
            if self._read_version(db) is None:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.executemany(
                    "INSERT INTO meta (key, value) VALUES (?, ?)",
                    [("schema_version", HISTORY_SCHEMA_VERSION), ("created_by", f"lyncready {__version__}")],
                )
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    # -- life cycle ----------------------------------------------------------------------------

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise HistoryError(f"the history {self.path} is closed")
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taking the write lock up front (waits up to the busy timeout)."""
        db = self.db
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise self._fail("the history stayed locked by another writer; try again later", exc) from exc
        try:
            yield db
            db.execute("COMMIT")
        except BaseException as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise self._fail(
                    "cannot write to the history (full disk? damaged file?); nothing was changed", exc
                ) from exc
            raise

    # -- writing -------------------------------------------------------------------------------

    def record(self, report: Report, label: str | None = None, *, site: str | None = None) -> int:
        """Store ``report`` as a new run and return its id.

        ``site``: ``None`` takes the report's ``arguments["site"]`` when it is a string.
        """
        if site is None:
            value = report.arguments.get("site")
            site = value if isinstance(value, str) else None
        now = _now()
        blob = zlib.compress(
            json.dumps(report_to_dict(report), ensure_ascii=False, separators=(",", ":")).encode(
                "utf-8", "surrogatepass"
            ),
            6,
        )
        s = report.summary
        with self._write() as db:
            cur = db.execute(
                "INSERT INTO runs (started_at, finished_at, started_ts, recorded_at, duration, exit_code, passed, "
                "warned, failed, errors, skipped, site, label, tool_version, report) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    _text(report.started_at),
                    _text(report.finished_at),
                    _unix_time(report.started_at, now.timestamp()),
                    now.isoformat(timespec="seconds"),
                    report.duration,
                    int(report.exit_code),
                    s.passed,
                    s.warned,
                    s.failed,
                    s.errors,
                    s.skipped,
                    None if site is None else _text(site),
                    None if label is None else _text(label),
                    _text(report.tool_version),
                    blob,
                ),
            )
            run_id = cur.lastrowid
            assert run_id is not None
            db.executemany(
                "INSERT INTO results (run_id, seq, check_id, target, target_kind, status, summary, tags, site, muted) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        run_id,
                        i,
                        _text(r.check_id),
                        _text(r.target),
                        r.target_kind.value,
                        r.status.value,
                        _text(r.summary),
                        _text(" ".join(f.tag for f in r.findings)),
                        _text(r.site),
                        _text(r.muted),
                    )
                    for i, r in enumerate(report.results)
                ],
            )
        return run_id

    def retain(self, keep: int | None = None, days: int | None = None) -> int:
        """Delete old runs and return how many went.

        A run stays when it is among the newest ``keep`` runs *or* started less than ``days`` days ago;
        with one of the two given, only that rule applies. Counts are over all sites. No VACUUM: the freed
        pages are reused by the next runs, so the file stops growing instead of shrinking.
        """
        if keep is None and days is None:
            raise ValueError("retain() needs keep or days")
        if (keep is not None and keep < 0) or (days is not None and days < 0):
            raise ValueError("keep and days cannot be negative")
        conditions, params = [], []
        if keep is not None:
            conditions.append("id NOT IN (SELECT id FROM runs ORDER BY id DESC LIMIT ?)")
            params.append(keep)
        if days is not None:
            conditions.append("started_ts < ?")
            params.append(int((_now() - _dt.timedelta(days=days)).timestamp()))
        where = " AND ".join(conditions)
        with self._write() as db:
            doomed = f"SELECT id FROM runs WHERE {where}"
            db.execute(f"DELETE FROM results WHERE run_id IN ({doomed})", params)
            deleted = db.execute(f"DELETE FROM runs WHERE {where}", params).rowcount
        return int(deleted)

    # -- reading -------------------------------------------------------------------------------

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        try:
            return self.db.execute(sql, params).fetchall()
        except sqlite3.DatabaseError as exc:
            raise self._fail(
                "cannot read the history; it may be damaged: restore a backup or move it aside", exc
            ) from exc

    def runs(self, limit: int | None = None, *, site: str | None = None) -> list[RunInfo]:
        """Recorded runs, newest first; ``site``: only that site's runs."""
        sql = f"SELECT {_RUN_COLUMNS} FROM runs"
        params: list[Any] = []
        if site is not None:
            sql += " WHERE site = ?"
            params.append(site)
        sql += " ORDER BY id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(max(limit, 0))
        return [_run_info(row) for row in self._query(sql, params)]

    def latest(self, n: int = 2, *, site: str | None = None) -> list[RunInfo]:
        """The ``n`` newest runs, newest first (``new, old = history.latest()``)."""
        return self.runs(n, site=site)

    def run_info(self, run_id: int) -> RunInfo:
        rows = self._query(f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,))
        if not rows:
            raise KeyError(f"no run {run_id} in the history {self.path}")
        return _run_info(rows[0])

    def get(self, run_id: int) -> Report:
        """The report of run ``run_id`` as it was recorded. Raises :class:`KeyError` for an unknown id."""
        rows = self._query("SELECT report FROM runs WHERE id = ?", (run_id,))
        if not rows:
            raise KeyError(f"no run {run_id} in the history {self.path}")
        try:
            doc = json.loads(zlib.decompress(rows[0][0]).decode("utf-8", "surrogatepass"))
            return report_from_dict(doc)
        except (zlib.error, UnicodeDecodeError, ValueError) as exc:
            raise self._fail(f"run {run_id} cannot be read back; the history may be damaged", exc) from exc

    def diff(self, old_run: int | Report, new_run: int | Report) -> Diff:
        """What changed from ``old_run`` to ``new_run`` (run ids, or reports not necessarily recorded)."""
        old = self.get(old_run) if isinstance(old_run, int) else old_run
        new = self.get(new_run) if isinstance(new_run, int) else new_run
        return diff_reports(
            old,
            new,
            old_run=old_run if isinstance(old_run, int) else None,
            new_run=new_run if isinstance(new_run, int) else None,
        )

    def counts(self) -> Mapping[str, int]:
        """Rows per table, for diagnostics (``{"runs": 3, "results": 18}``)."""
        return {
            "runs": int(self._query("SELECT count(*) FROM runs")[0][0]),
            "results": int(self._query("SELECT count(*) FROM results")[0][0]),
        }
