"""DHCPUtil for every DHCP server: generate the Lync / Skype for Business phone options in each server's own
configuration language, and lint existing configurations.

    from lyncready.dhcpconfig import ScopeSpec, generate, lint
    print(generate(ScopeSpec.make("pool.contoso.com", ntp="10.0.0.1"), "kea"))
    report = lint(open("dhcpd.conf").read())          # format detected
    for f in report.findings: print(f.line, f.level, f.tag, f.message, f.fix_lines)

Dialects: netsh, powershell, isc, kea, dnsmasq, ios, mikrotik, hex (DHCPUtil's own output). Pure: no I/O.
"""

from __future__ import annotations

import importlib
import re

from .base import Dialect
from .model import (
    EXIT_CLEAN,
    EXIT_ERRORS,
    EXIT_UNREADABLE,
    EXIT_WARNINGS,
    FORMATS,
    LINT_FORMATS,
    FormatError,
    LintFinding,
    LintReport,
    ScopeSpec,
    ScopeView,
    SpecError,
    Unreadable,
)

_MODULES = {
    "netsh": "netsh",
    "powershell": "powershell",
    "isc": "isc",
    "kea": "kea",
    "dnsmasq": "dnsmasq",
    "ios": "ios",
    "mikrotik": "mikrotik",
    "hex": "hexfmt",
}


def dialect(fmt: str) -> Dialect:
    """The dialect object for a format name; raises :class:`FormatError` for an unknown one."""
    name = fmt.strip().lower()
    if name not in _MODULES:
        raise FormatError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")
    module = importlib.import_module(f"{__name__}.{_MODULES[name]}")
    found: Dialect = module.DIALECT
    return found


def generate(spec: ScopeSpec, fmt: str) -> str:
    """The configuration for one server type (see :data:`FORMATS`)."""
    spec.validate()
    return dialect(fmt).generate(spec)


_DETECT: list[tuple[str, re.Pattern[str]]] = [
    ("powershell", re.compile(r"<DHCPServer\b|^\s*(?:PS [^>]*>\s*)?(?:Add|Set|Get)-DhcpServerv4\w+", re.I | re.M)),
    ("powershell", re.compile(r"^\s*OptionId\s+Name\s+Type\s+Value", re.I | re.M)),
    ("kea", re.compile(r'"Dhcp4"\s*:')),
    ("netsh", re.compile(r"^\s*(?:netsh\s+)?dhcp\s+server\b", re.I | re.M)),
    ("mikrotik", re.compile(r"^\s*/ip\s+dhcp-server\b", re.M)),
    ("ios", re.compile(r"^\s*ip\s+dhcp\s+pool\s+\S+", re.M)),
    ("dnsmasq", re.compile(r"^\s*(?:--)?dhcp-(?:option|range|vendorclass)(?:-force)?\s*=", re.M)),
    (
        "isc",
        re.compile(
            r"^\s*(?:subnet\s+\S+\s+netmask|option\s+[\w.-]+\s+code\s+\d+\s*=|class\s+\"|option\s+space\b)", re.M
        ),
    ),
    (
        "hex",
        re.compile(r"^\s*(?:Option\s*\d{1,3}\s*[:=]|sub-?option\s+\d|.*\bConfigure\s+\S+\s+[0-9A-Fa-f])", re.I | re.M),
    ),
    ("isc", re.compile(r"^\s*option\s+[\w.-]+\s+[^;]*;", re.M)),
]


def detect_format(text: str) -> str | None:
    """The dialect a configuration is written in, or None when nothing fits."""
    for name, pattern in _DETECT:
        if pattern.search(text):
            return name
    return None


def lint(text: str | bytes, fmt: str = "auto") -> LintReport:
    """Read a configuration, compute what each scope sends a phone, and check it. Never raises on content:
    unreadable input comes back as ``report.unreadable`` (line, reason), exit code 3."""
    from .analysis import analyze

    if isinstance(text, bytes | bytearray):
        raw = bytes(text)
        if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
            text = raw.decode("utf-16", "replace")  # PowerShell's Out-File default
        else:
            text = raw.decode("utf-8", "replace")
    text = text.lstrip("\ufeff")
    name = fmt.strip().lower()
    if name == "auto":
        found = detect_format(text)
        if found is None:
            reason = (
                "the input is empty"
                if not text.strip()
                else "cannot tell which DHCP server this configuration is for: give --format " + "|".join(FORMATS)
            )
            return LintReport("auto", unreadable=(Unreadable(0, reason),))
        name = found
    d = dialect(name)
    if "\x00" in text:
        return LintReport(name, unreadable=(Unreadable(0, "binary data (NUL bytes): not a text configuration"),))
    try:
        parsed = d.parse(text)
    except Exception as exc:  # a reader bug must not become a traceback for the user
        return LintReport(name, unreadable=(Unreadable(0, f"internal reader error ({type(exc).__name__}: {exc})"),))
    return analyze(parsed, d)


__all__ = [
    "EXIT_CLEAN",
    "EXIT_ERRORS",
    "EXIT_UNREADABLE",
    "EXIT_WARNINGS",
    "FORMATS",
    "LINT_FORMATS",
    "Dialect",
    "FormatError",
    "LintFinding",
    "LintReport",
    "ScopeSpec",
    "ScopeView",
    "SpecError",
    "Unreadable",
    "detect_format",
    "dialect",
    "generate",
    "lint",
]
