"""The public API a plugin uses to write checks and target sources.

A check is pure judgement: it awaits the facts it needs through its :class:`CheckContext` and
returns an :class:`~lyncready.model.Outcome`. It never opens a socket.

.. code-block:: python

    from lyncready import CheckContext, Finding, Level, Outcome, Severity, Target, TargetKind, check
    from lyncready.facts import DnsQuery

    @check(id="dns_txt_present", title="The SIP domain has a TXT record", target_kind=TargetKind.DOMAIN,
           severity=Severity.WARN, description="...", remediation="Add a TXT record.")
    async def dns_txt_present(ctx: CheckContext, target: Target) -> Outcome:
        answer = await ctx.fact(DnsQuery(target.name, "TXT"))
        if answer.ok:
            return Outcome(f"{target.name} has {len(answer.records)} TXT record(s)")
        missing = Finding("txt.missing", Level.WARN, answer.reason)
        return Outcome(f"{target.name} has no TXT record", (missing,))
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from .model import CheckMeta, Finding, Level, Outcome, Severity, Target, TargetKind

if TYPE_CHECKING:
    from .facts import FactKey
    from .options import AuditOptions

V = TypeVar("V")

CHECK_ID = re.compile(r"^[a-z][a-z0-9_]{2,63}$")

CheckFunction = Callable[["CheckContext", Target], Awaitable[Outcome]]


class CheckContext:
    """What a check (and a target source) may use: the options, facts, and other targets."""

    def __init__(
        self,
        options: AuditOptions,
        get_fact: Callable[[Any], Awaitable[Any]],
        get_targets: Callable[[TargetKind], Awaitable[Discovery]],
        get_facts: Callable[[list[Any]], Awaitable[list[Any]]] | None = None,
    ) -> None:
        self.options = options
        self._get_fact = get_fact
        self._get_targets = get_targets
        self._get_facts = get_facts

    async def fact(self, key: FactKey[V]) -> V:
        """The answer to one network question, asked at most once per audit."""
        result: V = await self._get_fact(key)
        return result

    async def facts(self, keys: Iterable[FactKey[V]]) -> list[V]:
        """The answers to several questions, in order, asked concurrently."""
        keys = list(keys)
        if len(keys) == 1:  # the common case needs no tasks
            return [await self._get_fact(keys[0])]
        if self._get_facts is not None:
            return await self._get_facts(keys)  # one waiter for all (target discovery asks thousands)
        return list(await asyncio.gather(*(self._get_fact(k) for k in keys)))

    async def targets(self, kind: TargetKind) -> Discovery:
        """Every target of a kind found in this audit (waits until they are known)."""
        return await self._get_targets(kind)


@dataclass(frozen=True, slots=True)
class Check:
    meta: CheckMeta
    func: CheckFunction
    plugin: str = ""

    @property
    def id(self) -> str:
        return self.meta.id

    async def __call__(self, ctx: CheckContext, target: Target) -> Outcome:
        return await self.func(ctx, target)


def check(
    *,
    id: str,
    title: str,
    target_kind: TargetKind,
    severity: Severity,
    description: str,
    remediation: str,
    fix: str = "",
    references: Iterable[str] = (),
    tags: Iterable[str] = (),
) -> Callable[[CheckFunction], Check]:
    """Decorate an ``async def f(ctx, target) -> Outcome`` into a :class:`Check` with its metadata."""

    def wrap(func: CheckFunction) -> Check:
        meta = CheckMeta(
            id=id,
            title=title,
            target_kind=TargetKind(target_kind),
            severity=Severity(severity),
            description=_dedent(description),
            remediation=_dedent(remediation),
            fix=fix,
            references=tuple(references),
            tags=tuple(tags),
        )
        return Check(meta, func)

    return wrap


def _dedent(text: str) -> str:
    return " ".join(text.split())


def validate_meta(meta: CheckMeta) -> list[str]:
    """Problems with a check's metadata (empty when it is fit for the catalogue)."""
    problems = []
    if not CHECK_ID.match(meta.id):
        problems.append(f"id {meta.id!r} must be lower case letters, digits and '_', 3-64 characters")
    if not meta.title.strip():
        problems.append("title is empty")
    if len(meta.description.strip()) < 20:
        problems.append("description is missing or too short to help anyone")
    if len(meta.remediation.strip()) < 10:
        problems.append("remediation is missing: every check must say what to change")
    if not isinstance(meta.target_kind, TargetKind):
        problems.append(f"target_kind {meta.target_kind!r} is not a TargetKind")
    if not isinstance(meta.severity, Severity):
        problems.append(f"severity {meta.severity!r} is not a Severity")
    for ref in meta.references:
        if not ref.startswith(("http://", "https://", "RFC ")):
            problems.append(f"reference {ref!r} is neither a URL nor an RFC")
    return problems


@dataclass(frozen=True, slots=True)
class Discovery:
    """The targets of one kind, and why there are none when there are none."""

    targets: tuple[Target, ...] = ()
    notes: tuple[str, ...] = ()


TargetSourceFunction = Callable[[CheckContext], Awaitable[Discovery]]


@dataclass(frozen=True, slots=True)
class TargetSource:
    """Finds targets of one kind, usually from facts (an SRV record names the web FQDN).

    A *fallback* source is used only when no other source of that kind found a target:
    the ``_sipinternaltls`` target is the web FQDN only when ``--web-fqdn`` (or DHCP option 43) gives none.
    """

    kind: TargetKind
    name: str
    func: TargetSourceFunction
    fallback: bool = False
    plugin: str = ""


def target_source(
    kind: TargetKind, name: str, *, fallback: bool = False
) -> Callable[[TargetSourceFunction], TargetSource]:
    def wrap(func: TargetSourceFunction) -> TargetSource:
        return TargetSource(TargetKind(kind), name, func, fallback)

    return wrap


@dataclass(frozen=True, slots=True)
class Findings:
    """Collects findings while a check runs, then builds its :class:`Outcome`."""

    findings: list[Finding] = field(default_factory=list)

    def add(self, tag: str, level: Level, message: str, **args: Any) -> None:
        self.findings.append(Finding(tag, level, message, args))

    @property
    def worst(self) -> Level:
        return max((f.level for f in self.findings), key=lambda lv: lv.rank, default=Level.INFO)

    def outcome(self, summary: str, *, evidence: dict[str, Any] | None = None, fix: str = "") -> Outcome:
        return Outcome(summary, tuple(self.findings), evidence or {}, fix)
