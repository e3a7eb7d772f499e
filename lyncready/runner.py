"""The audit runner: discovers targets, runs every (check, target) pair concurrently, never loses a result.

* Facts are fetched through one :class:`~lyncready.facts.FactStore`, so each network question is
  asked once; probes hold the global and per-host concurrency limits.
* Checks run in a bounded pool of workers (memory stays flat however many domains are audited).
  Each (check, target) has its own timeout; the whole audit has a deadline.
* A check that raises or times out becomes an ``error`` result with its reason; a plugin that
  failed to load becomes an ``error`` result too; the report always comes back complete.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ._version import __version__
from .checks import Check, CheckContext, Discovery
from .facts import FactStore, ProbeCrash
from .host import Registry
from .model import (
    CheckMeta,
    Level,
    Outcome,
    Report,
    Result,
    Severity,
    Status,
    Target,
    TargetKind,
    to_jsonable,
)
from .options import AuditOptions, OptionError
from .resultlog import ResultLog

KIND_ORDER = {k: i for i, k in enumerate(TargetKind)}
_STATUS_FOR_LEVEL = {Level.INFO: Status.PASS, Level.WARN: Status.WARN, Level.FAIL: Status.FAIL}


def select_checks(registry: Registry, only: Sequence[str], skip: Sequence[str]) -> list[Check]:
    known = registry.checks
    for cid in (*only, *skip):
        if cid not in known:
            raise OptionError(f"unknown check id {cid!r} (see 'lyncready checks')")
    chosen = [c for cid, c in known.items() if (not only or cid in only) and cid not in skip]
    return chosen


def severity_of(check: Check, options: AuditOptions) -> Severity:
    """The check's severity: the profile's, else the check's default."""
    return options.severity.get(check.id, check.meta.severity)


def status_of(outcome: Outcome, severity: Severity) -> Status:
    if outcome.status is not None:
        status = outcome.status
    else:
        worst = max((f.level for f in outcome.findings), key=lambda lv: lv.rank, default=Level.INFO)
        status = _STATUS_FOR_LEVEL[worst]
    if status is Status.FAIL and severity is Severity.WARN:
        return Status.WARN  # an advisory check never fails an audit
    return status


def _capped(level: Level, severity: Severity) -> Level:
    """A finding of an advisory (warn-severity) check is at most a warning, like its result."""
    if level is Level.FAIL and severity is Severity.WARN:
        return Level.WARN
    return level


@dataclass(slots=True)
class _Job:
    check: Check
    target: Target


class Audit:
    """One audit run. Use :func:`lyncready.audit_async` rather than this class directly."""

    def __init__(self, options: AuditOptions, registry: Registry, progress: Progress | None = None) -> None:
        self.progress = progress
        self.options = options
        self.registry = registry
        self.checks = select_checks(registry, options.checks, options.skip)
        self.store = FactStore(registry.probes, options)
        self.results = ResultLog()
        self._discoveries: dict[TargetKind, asyncio.Future[Discovery]] = {}
        self._pending: dict[int, _Job] = {}  # handed to a worker, not finished
        self._unqueued: dict[TargetKind, tuple[list[Check], list[Target], int]] = {}  # (checks, targets, next)
        self._undiscovered: set[TargetKind] = set()
        self.context = CheckContext(options, self.store.get, self.discover, self.store.get_many)

    # -- targets ------------------------------------------------------------------------------------

    async def discover(self, kind: TargetKind) -> Discovery:
        fut = self._discoveries.get(kind)
        if fut is None:
            fut = asyncio.ensure_future(self._discover(kind))
            self._discoveries[kind] = fut
        return await asyncio.shield(fut)

    async def _discover(self, kind: TargetKind) -> Discovery:
        sources = [s for s in self.registry.sources if s.kind is kind]
        found: dict[tuple[object, ...], Target] = {}
        notes: list[str] = []
        for fallback in (False, True):
            group = [s for s in sources if s.fallback is fallback]
            if not group or (fallback and found):
                continue
            outcomes = await asyncio.gather(*(self._run_source(s) for s in group))
            for disc in outcomes:
                notes.extend(disc.notes)
                for t in disc.targets:
                    k = t.key
                    found[k] = found[k].merged(t) if k in found else t
        return Discovery(tuple(found.values()), tuple(dict.fromkeys(notes)))

    async def _run_source(self, source: object) -> Discovery:
        from .checks import TargetSource

        assert isinstance(source, TargetSource)
        try:
            async with asyncio.timeout(self.options.timeouts.check):
                disc = await source.func(self.context)
        except TimeoutError:
            return Discovery(notes=(f"target source {source.name} timed out",))
        except Exception as exc:
            return Discovery(
                notes=(f"target source {source.name} ({source.plugin}) failed: {type(exc).__name__}: {exc}",)
            )
        return disc

    # -- running --------------------------------------------------------------------------------------

    async def run(self) -> Report:
        started_wall = dt.datetime.now(dt.UTC)
        started = time.perf_counter()
        for problem in self.registry.problems:
            self.results.append(
                Result(
                    check_id="plugin_load",
                    target=problem.plugin,
                    target_kind=TargetKind.DOMAIN,
                    status=Status.ERROR,
                    summary=problem.message,
                    evidence={"traceback": problem.detail[-4000:]},
                    remediation="Fix or remove the plugin; the other checks ran without it.",
                    plugin=problem.plugin,
                )
            )
        # bounded: jobs are made as workers free up, not 110,000 at once for 10,000 domains
        n_workers = 2048
        queue: asyncio.Queue[_Job | None] = asyncio.Queue(maxsize=n_workers)
        kinds = sorted({c.meta.target_kind for c in self.checks}, key=KIND_ORDER.__getitem__)
        self._undiscovered = set(kinds)
        # a check waiting for a fact costs a coroutine, not a socket: many more checks than network operations
        try:
            async with asyncio.timeout(self.options.timeouts.total):
                async with asyncio.TaskGroup() as tg:
                    producers = [tg.create_task(self._produce(kind, queue)) for kind in kinds]
                    workers = [tg.create_task(self._work(queue)) for _ in range(n_workers)]
                    await asyncio.gather(*producers)
                    for _ in workers:
                        await queue.put(None)
        except TimeoutError:
            self._deadline_reached()
        finally:
            self.store.close()
            for fut in self._discoveries.values():
                fut.cancel()
        finished_wall = dt.datetime.now(dt.UTC)
        discovered: dict[tuple[object, ...], Target] = {}
        for fut in self._discoveries.values():
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                for t in fut.result().targets:
                    discovered[t.key] = t
        order = {c.id: i for i, c in enumerate(self.checks)}
        results = self.results.ordered(lambda m: (order.get(m.check_id, -1), KIND_ORDER[m.target_kind], m.target))
        return Report(
            tool_version=__version__,
            started_at=started_wall.isoformat(timespec="seconds"),
            finished_at=finished_wall.isoformat(timespec="seconds"),
            duration=round(time.perf_counter() - started, 3),
            arguments=self.options.as_dict(),
            plugins=tuple(self.registry.plugins),
            checks=tuple(c.meta for c in self.checks),
            targets=tuple(sorted(discovered.values(), key=lambda t: (KIND_ORDER[t.kind], t.name, t.port or 0))),
            results=results,
            notes=tuple(f"{p.plugin}: {p.message}" for p in self.registry.problems)
            + ((self.results.spill_error,) if self.results.spill_error else ()),
        )

    async def _produce(self, kind: TargetKind, queue: asyncio.Queue[_Job | None]) -> None:
        checks = [c for c in self.checks if c.meta.target_kind is kind]
        disc = await self.discover(kind)
        self._undiscovered.discard(kind)
        if not disc.targets:
            why = "; ".join(disc.notes) or f"no {kind.value} target was found or given"
            for c in checks:
                self.results.append(self._result(c, Target(kind, "(none)"), Status.SKIP, f"Not run: {why}", 0.0))
            return
        targets = list(disc.targets)
        if self.progress is not None:
            self.progress.queued(len(targets) * len(checks))
        for n, t in enumerate(targets):
            self._unqueued[kind] = (checks, targets, n)
            for c in checks:
                job = _Job(c, t)
                self._pending[id(job)] = job
                await queue.put(job)
        self._unqueued.pop(kind, None)

    async def _work(self, queue: asyncio.Queue[_Job | None]) -> None:
        while True:
            job = await queue.get()
            if job is None:
                return
            result = await self._run_one(job.check, job.target)
            self.results.append(result)
            if self.progress is not None:
                self.progress.done(1)
            self._pending.pop(id(job), None)

    async def _run_one(self, check: Check, target: Target) -> Result:
        start = time.perf_counter()
        limit = self.options.timeouts.check
        try:
            async with asyncio.timeout(limit):
                outcome = await check(self.context, target)
            if not isinstance(outcome, Outcome):
                raise TypeError(f"check returned {type(outcome).__name__}, not an Outcome")
        except TimeoutError:
            return self._result(
                check,
                target,
                Status.ERROR,
                f"Check did not finish within {limit:g} s (per-check timeout)",
                time.perf_counter() - start,
            )
        except ProbeCrash as exc:
            return self._result(check, target, Status.ERROR, f"A probe failed: {exc}", time.perf_counter() - start)
        except Exception as exc:
            return self._result(
                check,
                target,
                Status.ERROR,
                f"Check crashed: {type(exc).__name__}: {exc}",
                time.perf_counter() - start,
                evidence={"traceback": traceback.format_exc()[-4000:]},
            )
        severity = severity_of(check, self.options)
        status = status_of(outcome, severity)
        return self._stamped(
            Result(
                check_id=check.id,
                target=target.label,
                target_kind=target.kind,
                status=status,
                summary=outcome.summary,
                # evidence and arguments as JSON types, so a report read back from JSON equals the original
                findings=tuple(
                    dataclasses.replace(f, level=_capped(f.level, severity), args=to_jsonable(f.args))
                    for f in outcome.findings
                ),
                evidence=to_jsonable(outcome.evidence),
                remediation=check.meta.remediation if status in (Status.WARN, Status.FAIL) else "",
                fix=outcome.fix if status in (Status.WARN, Status.FAIL) else "",
                duration=round(time.perf_counter() - start, 4),
                origins=target.origins,
                domains=target.domains,
                plugin=check.plugin,
            )
        )

    def _stamped(self, result: Result) -> Result:
        """The site, and the mute that accepts this result's finding (expired mutes are ignored)."""
        site = self.options.site
        muted = ""
        if result.status in (Status.WARN, Status.FAIL, Status.ERROR):
            today = dt.date.today().isoformat()
            for mute in self.options.mutes:
                if mute.matches(site, result.check_id, result.target) and mute.active(today):
                    muted = mute.reason + (f" (until {mute.until})" if mute.until else "")
                    break
        if site or muted:
            return dataclasses.replace(result, site=site, muted=muted)
        return result

    def _result(
        self,
        check: Check,
        target: Target,
        status: Status,
        summary: str,
        duration: float,
        evidence: dict[str, str] | None = None,
    ) -> Result:
        return self._stamped(
            Result(
                check_id=check.id,
                target=target.label,
                target_kind=target.kind,
                status=status,
                summary=summary,
                evidence=evidence or {},
                duration=round(duration, 4),
                origins=target.origins,
                domains=target.domains,
                plugin=check.plugin,
            )
        )

    def _deadline_reached(self) -> None:
        why = f"The audit's deadline ({self.options.timeouts.total:g} s) was reached before this check finished"
        done: set[tuple[str, tuple[object, ...]]] = set()
        for job in self._pending.values():
            self.results.append(self._result(job.check, job.target, Status.ERROR, why, 0.0))
            done.add((job.check.id, job.target.key))
        self._pending.clear()
        for checks, targets, start in self._unqueued.values():  # not even handed to a worker yet
            for t in targets[start:]:
                for c in checks:
                    if (c.id, t.key) not in done:
                        self.results.append(self._result(c, t, Status.ERROR, why, 0.0))
        self._unqueued.clear()
        for kind in self._undiscovered:
            for c in self.checks:
                if c.meta.target_kind is kind:
                    self.results.append(
                        self._result(
                            c,
                            Target(kind, "(not discovered)"),
                            Status.ERROR,
                            why + " (its targets were still being discovered)",
                            0.0,
                        )
                    )
        self._undiscovered.clear()


class Progress:
    """Counts (check, target) jobs as they are queued and finished; ``update`` is called on each change."""

    def __init__(self, update: Callable[[int, int], None]) -> None:
        self.total = 0
        self.finished = 0
        self._update = update

    def queued(self, n: int) -> None:
        self.total += n
        self._update(self.finished, self.total)

    def done(self, n: int) -> None:
        self.finished += n
        self._update(self.finished, self.total)


async def run_audit(options: AuditOptions, registry: Registry, progress: Progress | None = None) -> Report:
    return await Audit(options, registry, progress).run()


async def run_sites(
    sites: Sequence[tuple[str, AuditOptions]],
    registry: Registry,
    *,
    arguments: dict[str, object],
    progress: Progress | None = None,
) -> Report:
    """Audit several sites (each its own options) concurrently and merge them into one report.

    Every result keeps its site. Sites are separate audits: a site's DNS server may answer
    differently from another's, so no fact is shared between them.
    """
    if not sites:
        raise OptionError("no site to audit")
    reports = await asyncio.gather(
        *(run_audit(dataclasses.replace(o, site=name), registry, progress) for name, o in sites)
    )
    checks: dict[str, CheckMeta] = {}
    for r in reports:
        for meta in r.checks:
            checks.setdefault(meta.id, meta)
    # plugin load problems are the same for every site: keep them once
    log = ResultLog()
    for i, r in enumerate(reports):
        for x in r.results:
            if x.check_id != "plugin_load" or i == 0:
                log.append(x)
    return Report(
        tool_version=__version__,
        started_at=min(r.started_at for r in reports),
        finished_at=max(r.finished_at for r in reports),
        duration=round(max(r.duration for r in reports), 3),
        arguments={**arguments, "sites": {name: r.arguments for (name, _), r in zip(sites, reports, strict=True)}},
        plugins=reports[0].plugins,
        checks=tuple(checks.values()),
        targets=tuple(t for r in reports for t in r.targets),
        results=log.ordered(lambda m: 0),  # a stable sort: the sites' order
        notes=reports[0].notes,
    )
