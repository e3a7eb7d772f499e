"""The small model of ``lyncready dhcp config`` / ``lint``: what to generate, what lint found, what a file holds."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from ..codecs.base import Level
else:
    Level = Literal["info", "warning", "error"]

# kept free of the codecs at import time: ``lyncready --help`` loads this package through the CLI
CERT_PROV_PATH = "/CertProv/CertProvisioningService.svc"

FORMATS = ("netsh", "powershell", "isc", "kea", "dnsmasq", "ios", "mikrotik", "hex")
LINT_FORMATS = ("auto", *FORMATS)
LEVEL_RANK = {"info": 0, "warning": 1, "error": 2}
EXIT_CLEAN, EXIT_WARNINGS, EXIT_ERRORS, EXIT_UNREADABLE = 0, 1, 2, 3


class SpecError(ValueError):
    """A value that cannot go into a DHCP configuration; the message is one line."""


class FormatError(ValueError):
    """An unknown ``--format`` name."""


@dataclass(frozen=True, slots=True)
class ScopeSpec:
    """What the phones of one scope (or of the whole server) must get.

    ``scope``: None for server level, else the scope's network (``10.1.20.0``, taken as /24, or
    ``10.1.20.0/24``). ``ntp``: IPv4 addresses sent as options 4 and 42.
    """

    sip_server: str
    web_server: str | None = None
    port: int = 443
    search_list: tuple[str, ...] = ()
    ntp: tuple[str, ...] = ()
    scope: str | None = None

    @classmethod
    def make(
        cls,
        sip_server: str,
        web_server: str | None = None,
        port: int = 443,
        search_list: Sequence[str] | str = (),
        ntp: Sequence[str] | str = (),
        scope: str | None = None,
    ) -> ScopeSpec:
        """A validated spec; comma-separated strings are accepted for the lists. Raises :class:`SpecError`."""
        spec = cls(
            sip_server=sip_server.strip().rstrip("."),
            web_server=(web_server.strip().rstrip(".") or None) if web_server else None,
            port=port,
            search_list=_split(search_list),
            ntp=_split(ntp),
            scope=scope.strip() if scope else None,
        )
        spec.validate()
        return spec

    def validate(self) -> None:
        _check_fqdn("--sip-server", self.sip_server)
        if self.web_server is not None:
            _check_fqdn("--web-server", self.web_server)
        if not 0 < self.port < 65536:
            raise SpecError(f"--port {self.port}: must be 1-65535")
        for name in self.search_list:
            _check_fqdn("--search-list", name, need_dot=False)
        for address in self.ntp:
            try:
                ipaddress.IPv4Address(address)
            except ValueError:
                raise SpecError(
                    f"--ntp {address!r}: options 4 and 42 carry IPv4 addresses, not names: give the NTP servers' "
                    "addresses"
                ) from None
        if self.scope is not None:
            self.network  # noqa: B018 - validates

    @property
    def web(self) -> str:
        return self.web_server or self.sip_server

    @property
    def network(self) -> ipaddress.IPv4Network | None:
        if self.scope is None:
            return None
        return parse_scope(self.scope)

    @property
    def scope_id(self) -> str | None:
        net = self.network
        return None if net is None else str(net.network_address)

    @property
    def assumed_prefix(self) -> bool:
        """True when ``--scope`` gave no mask and /24 was assumed."""
        return self.scope is not None and "/" not in self.scope

    @property
    def url(self) -> str:
        return f"https://{self.web}:{self.port}{CERT_PROV_PATH}"

    def sub_options(self) -> list[tuple[int, str]]:
        """The MS-UC-Client sub-options 1 to 5 as text."""
        return [(1, "MS-UC-Client"), (2, "https"), (3, self.web), (4, str(self.port)), (5, CERT_PROV_PATH)]

    def o120(self) -> bytes:
        from ..codecs import encode_120

        return encode_120([self.sip_server])

    def o43(self) -> bytes:
        from ..codecs import encode_43

        return encode_43(self.web, self.port)

    def o119(self, compress: bool = True) -> bytes:
        from ..codecs import encode_119

        return encode_119(list(self.search_list), compress=compress)

    def o_time(self) -> bytes:
        from ..codecs import encode_ipv4_list

        return encode_ipv4_list(list(self.ntp))

    def options(self) -> dict[int, bytes]:
        """Every option this spec puts on the wire (43 as MS-UC-Client gets it), in DHCPUtil's order."""
        out = {120: self.o120(), 43: self.o43()}
        if self.search_list:
            out[119] = self.o119()
        if self.ntp:
            out[4] = self.o_time()
            out[42] = self.o_time()
        return out


def _split(value: Sequence[str] | str) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else list(value)
    out: list[str] = []
    for item in items:
        out.extend(part.strip().rstrip(".") for part in item.replace(";", ",").split(",") if part.strip())
    return tuple(out)


def _check_fqdn(option: str, name: str, *, need_dot: bool = True) -> None:
    from ..codecs.names import hostname_problem, split_name

    problem = hostname_problem(name)
    if problem is None:
        try:
            split_name(name)
        except ValueError as exc:
            problem = str(exc)
    if problem:
        raise SpecError(f"{option} {name!r} is not a usable DNS name: {problem}")
    if need_dot and "." not in name:
        raise SpecError(f"{option} {name!r}: give the fully qualified name (the one on the certificate)")


def parse_scope(text: str) -> ipaddress.IPv4Network:
    """``10.1.20.0`` (a /24), ``10.1.20.0/24`` or ``10.1.20.0/255.255.255.0``; raises :class:`SpecError`."""
    raw = text.strip()
    try:
        if "/" not in raw:
            ipaddress.IPv4Address(raw)
            raw += "/24"
        return ipaddress.IPv4Network(raw, strict=True)
    except ValueError as exc:
        if "host bits set" in str(exc):
            net = ipaddress.IPv4Network(raw, strict=False)
            raise SpecError(f"--scope {text}: host bits are set; give the network address {net}") from None
        raise SpecError(f"--scope {text!r}: not an IPv4 network (e.g. 10.1.20.0 or 10.1.20.0/24)") from None


# --- lint results --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LintFinding:
    """One problem in a configuration. ``line`` is 1-based (0: the file as a whole); ``fix_lines`` are the
    corrected lines in the file's own dialect; ``scope`` names the scope it concerns (None: server level)."""

    line: int
    tag: str
    level: Level
    message: str
    fix_lines: tuple[str, ...] = ()
    scope: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "tag": self.tag,
            "level": self.level,
            "message": self.message,
            "fix_lines": list(self.fix_lines),
            "scope": self.scope,
        }


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A line lint could not read, and why."""

    line: int
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"line": self.line, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class ScopeView:
    """What a phone (option 60 MS-UC-Client) in one scope gets: option code -> (bytes, line it comes from)."""

    name: str
    line: int
    options: dict[int, tuple[bytes, int]]
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        def hexu(data: bytes) -> str:
            return data.hex().upper()

        return {
            "name": self.name,
            "line": self.line,
            "options": {str(code): {"hex": hexu(data), "line": line} for code, (data, line) in self.options.items()},
            "notes": list(self.notes),
        }


@dataclass(frozen=True, slots=True)
class LintReport:
    """What ``lint`` found. ``exit_code``: 0 clean (or info only), 1 warnings, 2 errors, 3 unreadable input."""

    format: str
    findings: tuple[LintFinding, ...] = ()
    scopes: tuple[ScopeView, ...] = ()
    unreadable: tuple[Unreadable, ...] = ()

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.level == "error")

    @property
    def warnings(self) -> int:
        return sum(1 for f in self.findings if f.level == "warning")

    @property
    def exit_code(self) -> int:
        if self.unreadable:
            return EXIT_UNREADABLE
        if self.errors:
            return EXIT_ERRORS
        if self.warnings:
            return EXIT_WARNINGS
        return EXIT_CLEAN

    @property
    def tags(self) -> tuple[str, ...]:
        return tuple(f.tag for f in self.findings)

    def has(self, tag: str) -> bool:
        return any(f.tag == tag for f in self.findings)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "exit_code": self.exit_code,
            "summary": {
                "errors": self.errors,
                "warnings": self.warnings,
                "info": sum(1 for f in self.findings if f.level == "info"),
                "unreadable": len(self.unreadable),
            },
            "scopes": [s.to_json() for s in self.scopes],
            "findings": [f.to_json() for f in self.findings],
            "unreadable": [u.to_json() for u in self.unreadable],
        }


# --- what a parsed configuration holds (internal) --------------------------------------------------------


@dataclass(slots=True)
class Value:
    """One option as a server would send it, and where it comes from.

    ``vendor``: bound to the MS-UC-Client vendor class (only such clients get it). ``sub_lines``: for option 43
    built from sub-options, sub-option code -> line. ``note``: how the bytes were derived, for messages.
    """

    code: int
    data: bytes
    line: int
    scope: str | None = None
    vendor: bool = False
    sub_lines: dict[int, int] = field(default_factory=dict)
    note: str = ""


@dataclass(slots=True)
class ScopeDecl:
    key: str
    label: str
    line: int
    network: ipaddress.IPv4Network | None = None
    parent: str | None = None  # the scope whose values it inherits (IOS pools); None: the server level
    handle: str | None = None  # the dialect's own name for it (IOS pool name, dnsmasq tag)


@dataclass(slots=True)
class Parsed:
    """A configuration read by a dialect parser (before the common analysis)."""

    dialect: str
    values: list[Value] = field(default_factory=list)
    scopes: list[ScopeDecl] = field(default_factory=list)
    findings: list[LintFinding] = field(default_factory=list)
    unreadable: list[Unreadable] = field(default_factory=list)
    # the precedence of levels for a phone, highest first: ("scope"|"server", vendor-bound?)
    precedence: tuple[tuple[str, bool], ...] = (
        ("scope", True),
        ("server", True),
        ("scope", False),
        ("server", False),
    )

    def finding(
        self,
        line: int,
        tag: str,
        level: Level,
        message: str,
        fix_lines: Sequence[str] = (),
        scope: str | None = None,
    ) -> None:
        self.findings.append(LintFinding(line, tag, level, message, tuple(fix_lines), scope))

    def skipped(self, line: int, message: str) -> None:
        """Something lyncready read but cannot judge (an info finding)."""
        self.finding(line, "cfg.not_evaluated", "info", message)

    def bad(self, line: int, reason: str) -> None:
        self.unreadable.append(Unreadable(line, reason))
