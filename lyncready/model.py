"""The result model: check metadata, targets, findings, results and the report.

Everything here is a frozen dataclass or a ``StrEnum`` so results can be shared between
tasks without copies and serialised by one function (:func:`to_jsonable`).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

SCHEMA_VERSION = 1

JSONValue = Any
"""A value that :func:`json.dumps` accepts (dicts, lists, str, int, float, bool, None)."""


class Status(enum.StrEnum):
    """The outcome of one check on one target."""

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    ERROR = "error"  # the check could not run: a crash, a timeout, a probe that broke
    SKIP = "skip"  # the check did not apply (no target, filtered out, needs privileges)


class Level(enum.StrEnum):
    """How serious one finding is."""

    INFO = "info"
    WARN = "warn"
    FAIL = "fail"

    @property
    def rank(self) -> int:
        return _LEVEL_RANK[self]


_LEVEL_RANK = {Level.INFO: 0, Level.WARN: 1, Level.FAIL: 2}


class Severity(enum.StrEnum):
    """The worst status a check reports by default (a profile may change it)."""

    WARN = "warn"
    FAIL = "fail"


class TargetKind(enum.StrEnum):
    """What a check examines. Targets of one kind are discovered once per audit."""

    DHCP = "dhcp"  # a DHCP probe: an interface, and how to ask (INFORM/DISCOVER, server, relay)
    DOMAIN = "domain"  # a SIP domain given by the user
    NTP = "ntp"  # a time source: host name or address, with the port it is asked on
    WEB = "web"  # a web services FQDN (Certificate Provisioning, WebTicket)


@dataclass(frozen=True, slots=True)
class CheckMeta:
    """What a check is: shown in the catalogue, carried into every result it emits."""

    id: str
    title: str
    target_kind: TargetKind
    severity: Severity
    description: str
    remediation: str
    fix: str = ""  # a template for a ready fix line, e.g. a DNS record; filled by the check
    references: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Target:
    """One thing a check examines, with where it came from (the chain a reader follows)."""

    kind: TargetKind
    name: str
    port: int | None = None
    origins: tuple[str, ...] = ()  # e.g. "--web-fqdn", "SRV _sipinternaltls._tcp.contoso.com"
    domains: tuple[str, ...] = ()  # the SIP domains that led to this target

    @property
    def key(self) -> tuple[TargetKind, str, int | None]:
        return (self.kind, self.name.lower().rstrip("."), self.port)

    @property
    def label(self) -> str:
        if self.port is None:
            return self.name
        if ":" in self.name:
            return f"[{self.name}]:{self.port}"
        return f"{self.name}:{self.port}"

    def merged(self, other: Target) -> Target:
        """The same target reached a second way: keep both origins and domains."""
        origins = self.origins + tuple(o for o in other.origins if o not in self.origins)
        domains = self.domains + tuple(d for d in other.domains if d not in self.domains)
        return dataclasses.replace(self, origins=origins, domains=domains)


@dataclass(frozen=True, slots=True)
class Finding:
    """One observation, with a stable tag (scripts and profiles match on it) and its arguments."""

    tag: str
    level: Level
    message: str
    args: Mapping[str, JSONValue] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a check function returns; the runner turns it into a :class:`Result`."""

    summary: str
    findings: tuple[Finding, ...] = ()
    evidence: Mapping[str, JSONValue] = field(default_factory=dict)
    fix: str = ""  # the ready fix line for this target, when the check can write one
    status: Status | None = None  # None: derived from the findings (worst level)


@dataclass(frozen=True, slots=True)
class Result:
    check_id: str
    target: str
    target_kind: TargetKind
    status: Status
    summary: str
    findings: tuple[Finding, ...] = ()
    evidence: Mapping[str, JSONValue] = field(default_factory=dict)
    remediation: str = ""
    fix: str = ""
    duration: float = 0.0
    origins: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()
    plugin: str = ""
    site: str = ""  # the site of a network audit file ("" for a single audit)
    muted: str = ""  # why the finding is accepted (a mute in the audit file); muted results do not set the exit code


@dataclass(frozen=True, slots=True)
class Mute:
    """An accepted finding: its results are shown as muted (never dropped) until it expires."""

    check: str
    target: str  # a target label or name; "*" for every target
    reason: str
    site: str = ""  # empty: every site
    until: str = ""  # ISO date, inclusive; empty: no expiry

    def matches(self, site: str, check_id: str, target: str) -> bool:
        if self.check != check_id or (self.site and self.site != site):
            return False
        return self.target in ("*", target, target.split(":")[0]) or target.startswith(self.target + ":")

    def active(self, today: str) -> bool:
        return not self.until or today <= self.until


@dataclass(frozen=True, slots=True)
class PluginInfo:
    name: str
    version: str
    hooks: tuple[str, ...] = ()
    source: str = ""  # "builtin", "entrypoint", "plugins-dir", "explicit"


@dataclass(frozen=True, slots=True)
class Summary:
    passed: int = 0
    warned: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0

    @property
    def total(self) -> int:
        return self.passed + self.warned + self.failed + self.errors + self.skipped

    @classmethod
    def of(cls, results: Sequence[Result]) -> Summary:
        counts = dict.fromkeys(Status, 0)
        for status, _muted in _statuses(results):
            counts[status] += 1
        return cls(
            passed=counts[Status.PASS],
            warned=counts[Status.WARN],
            failed=counts[Status.FAIL],
            errors=counts[Status.ERROR],
            skipped=counts[Status.SKIP],
        )

    def as_dict(self) -> dict[str, int]:
        return {
            "pass": self.passed,
            "warn": self.warned,
            "fail": self.failed,
            "error": self.errors,
            "skip": self.skipped,
            "total": self.total,
        }


def _statuses(results: Sequence[Result]) -> Iterable[tuple[Status, bool]]:
    """(status, muted) of each result; results spilled to disk (lyncready.resultlog) answer from memory."""
    fast = getattr(results, "statuses", None)
    if callable(fast):
        return cast(Iterable[tuple[Status, bool]], fast())
    return ((r.status, bool(r.muted)) for r in results)


class ExitCode(enum.IntEnum):
    """monitoring-plugins convention."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3


def exit_code_for(results: Sequence[Result]) -> ExitCode:
    """0 all passed, 1 warnings (or checks that errored), 2 failures, 3 nothing could run.

    A muted result counts as passed: the finding is accepted.
    """
    statuses = {Status.PASS if muted else status for status, muted in _statuses(results)}
    if Status.FAIL in statuses:
        return ExitCode.CRITICAL
    if not statuses & {Status.PASS, Status.WARN}:
        return ExitCode.UNKNOWN
    if statuses & {Status.WARN, Status.ERROR}:
        return ExitCode.WARNING
    return ExitCode.OK


@dataclass(frozen=True, slots=True)
class Report:
    tool_version: str
    started_at: str  # ISO 8601, UTC
    finished_at: str
    duration: float
    arguments: Mapping[str, JSONValue]
    plugins: tuple[PluginInfo, ...]
    checks: tuple[CheckMeta, ...]
    targets: tuple[Target, ...]
    # a tuple, or (past lyncready.resultlog.SPILL_AFTER results) a sequence that reads them back from disk
    results: Sequence[Result]
    notes: tuple[str, ...] = ()
    schema_version: int = SCHEMA_VERSION

    @property
    def summary(self) -> Summary:
        return Summary.of(self.results)

    @property
    def exit_code(self) -> ExitCode:
        return exit_code_for(self.results)

    def results_for(self, check_id: str) -> list[Result]:
        return [r for r in self.results if r.check_id == check_id]


def to_jsonable(obj: Any) -> JSONValue:
    """One serializer for every model object (dataclasses, enums, mappings, sequences)."""
    if isinstance(obj, enum.Enum):
        return obj.value
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, bytes):
        return obj.hex()
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    return str(obj)
