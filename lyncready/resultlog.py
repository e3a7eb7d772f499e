"""Where an audit keeps its results: in memory while they are few, pickled to a temporary file past that.

A result with its evidence is about 2 KB of Python objects; an audit of 10,000 SIP domains makes 110,000
of them. Past ``spill_after`` results, each new one is pickled to an unlinked temporary file (the file is
ours alone and read back only by this process) and only a small index entry stays in memory: its place
in the file, and the few fields reports sort, count and lay out by (:class:`ResultMeta`). The report then
holds a :class:`SpilledResults` sequence, which reads each result back when it is iterated.
"""

from __future__ import annotations

import pickle
import tempfile
from array import array
from collections.abc import Callable, Iterator, Sequence
from typing import IO, Any, NamedTuple, overload

from .model import Result, Status, TargetKind

SPILL_AFTER = 10_000  # about 25 MB of results in memory before the rest goes to disk


class ResultMeta(NamedTuple):
    """The fields reports order, count and measure by, kept in memory for every result."""

    check_id: str
    target_kind: TargetKind
    target: str
    status: Status
    muted: bool


def meta_of(r: Result) -> ResultMeta:
    return ResultMeta(r.check_id, r.target_kind, r.target, r.status, bool(r.muted))


class ResultLog:
    """The results of one audit, in the order they finished."""

    def __init__(self, spill_after: int | None = None) -> None:
        self.spill_after = SPILL_AFTER if spill_after is None else spill_after
        self._memory: list[Result] = []
        self._meta: list[ResultMeta] = []
        self._file: IO[bytes] | None = None
        # result i: in memory at _memory[-1 - _where[i]] when _where[i] < 0, else _size[i] bytes at _where[i]
        self._where = array("q")
        self._size = array("q")
        self._end = 0
        self.spill_error = ""  # why spilling stopped (the disk is full...): the rest stays in memory

    def __len__(self) -> int:
        return len(self._meta)

    @property
    def spilled(self) -> bool:
        return self._file is not None

    def append(self, result: Result) -> None:
        meta = meta_of(result)
        if len(self._memory) >= self.spill_after and not self.spill_error:
            try:
                self._spill(result)
            except (OSError, pickle.PicklingError, TypeError, AttributeError) as exc:
                self.spill_error = f"results kept in memory: cannot write them to a temporary file: {exc}"
            else:
                self._meta.append(meta)
                return
        self._memory.append(result)
        self._where.append(-len(self._memory))
        self._size.append(0)
        self._meta.append(meta)

    def _spill(self, result: Result) -> None:
        data = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="lyncready-results-")  # noqa: SIM115 (lives with the report)
        self._file.seek(self._end)
        self._file.write(data)
        self._where.append(self._end)
        self._size.append(len(data))
        self._end += len(data)

    def get(self, i: int) -> Result:
        where = self._where[i]
        if where < 0:
            return self._memory[-1 - where]
        assert self._file is not None
        self._file.seek(where)
        result: Result = pickle.loads(self._file.read(self._size[i]))
        return result

    def meta(self, i: int) -> ResultMeta:
        return self._meta[i]

    def ordered(self, key: Callable[[ResultMeta], Any]) -> Sequence[Result]:
        """All results sorted by key(meta): a tuple when they are all in memory, else a SpilledResults."""
        order = sorted(range(len(self._meta)), key=lambda i: key(self._meta[i]))
        if self._file is None:
            return tuple(self.get(i) for i in order)
        return SpilledResults(self, array("q", order))


class SpilledResults(Sequence[Result]):
    """A report's results read back from a :class:`ResultLog` on access, in the report's order.

    ``meta`` and ``statuses()`` answer without reading anything back (summaries, exit codes, layout).
    """

    def __init__(self, log: ResultLog, order: array[int]) -> None:
        self._log = log
        self._order = order

    def __len__(self) -> int:
        return len(self._order)

    @overload
    def __getitem__(self, i: int) -> Result: ...

    @overload
    def __getitem__(self, i: slice) -> Sequence[Result]: ...

    def __getitem__(self, i: int | slice) -> Result | Sequence[Result]:
        if isinstance(i, slice):
            return [self._log.get(j) for j in self._order[i]]
        return self._log.get(self._order[i])

    def __iter__(self) -> Iterator[Result]:
        get = self._log.get
        for j in self._order:
            yield get(j)

    def meta(self) -> list[ResultMeta]:
        """Every result's :class:`ResultMeta`, in order."""
        m = self._log.meta
        return [m(j) for j in self._order]

    def statuses(self) -> Iterator[tuple[Status, bool]]:
        m = self._log.meta
        for j in self._order:
            meta = m(j)
            yield meta.status, meta.muted

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or len(other) != len(self):
            return False
        return all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<SpilledResults: {len(self)} results>"


def metas(results: Sequence[Result]) -> list[ResultMeta]:
    """The :class:`ResultMeta` of each result, without reading spilled results back."""
    if isinstance(results, SpilledResults):
        return results.meta()
    return [meta_of(r) for r in results]


def statuses(results: Sequence[Result]) -> Iterator[tuple[Status, bool]]:
    """(status, muted) of each result, without reading spilled results back."""
    if isinstance(results, SpilledResults):
        return results.statuses()
    return ((r.status, bool(r.muted)) for r in results)
