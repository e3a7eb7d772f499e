"""Audit files: a whole network in one TOML file, so a scheduled job is one line.

``lyncready audit --config network.toml`` audits every site; ``lyncready config check FILE`` validates
without auditing. Every key is validated on load: an unknown key, a wrong type or an unknown check id
is a :class:`ConfigError` naming the file, the line and the key (the CLI prints it and exits 3).
See ``examples/network.toml`` for a commented example.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .model import Mute, Severity
from .options import AuditOptions, OptionError, build_options


class ConfigError(ValueError):
    """A problem in an audit file: ``file:line: key: what is wrong``."""


@dataclass(frozen=True, slots=True)
class Site:
    name: str
    options: AuditOptions


@dataclass(frozen=True, slots=True)
class AuditFile:
    path: str
    sites: tuple[Site, ...]
    severity: Mapping[str, Severity] = field(default_factory=dict)
    mutes: tuple[Mute, ...] = ()
    output_dir: str | None = None
    history: str | None = None
    keep: int | None = None
    keep_days: int | None = None


# --- schema: key -> (type check, description) ------------------------------------------------------

_Check = Callable[[Any], bool]


def _is_str(v: Any) -> bool:
    return isinstance(v, str)


def _is_strs(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_date(v: Any) -> bool:
    return isinstance(v, dt.date) and not isinstance(v, dt.datetime)


AUDIT_KEYS: dict[str, tuple[_Check, str]] = {
    "domains": (_is_strs, "a list of SIP domains"),
    "nameservers": (_is_strs, "a list of 'IP[:PORT]'"),
    "web_fqdn": (lambda v: _is_str(v) or _is_strs(v), "a web services FQDN (or a list)"),
    "registrar": (lambda v: _is_str(v) or _is_strs(v), "the expected Registrar pool FQDN (or a list)"),
    "ntp_servers": (_is_strs, "a list of 'HOST[:PORT]'"),
    "ca_bundle": (_is_str, "a PEM file path"),
    "device": (lambda v: v in ("lpe", "3pip"), "'lpe' or '3pip'"),
    "timeout": (_is_num, "seconds"),
    "check_timeout": (_is_num, "seconds"),
    "deadline": (_is_num, "seconds"),
    "concurrency": (_is_int, "an integer"),
    "tls_versions_per_name": (lambda v: isinstance(v, bool), "true or false"),
    "checks": (_is_strs, "a list of check ids"),
    "skip": (_is_strs, "a list of check ids"),
}
TABLE_KEYS: dict[str, dict[str, tuple[_Check, str]]] = {
    "dhcp": {
        "interface": (_is_str, "an interface name"),
        "mode": (lambda v: v in ("inform", "discover"), "'inform' or 'discover'"),
        "server": (_is_str, "an IPv4 address"),
        "giaddr": (_is_str, "an IPv4 address"),
        "timeout": (_is_num, "seconds"),
        "netns": (_is_str, "a network namespace name"),
    },
    "thresholds": {
        "ntp_offset_warn": (_is_num, "seconds"),
        "ntp_offset_fail": (_is_num, "seconds"),
        "cert_expiry_warn_days": (_is_int, "days"),
    },
    "ports": {
        "http": (_is_int, "a port"),
        "https": (_is_int, "a port"),
        "ntp": (_is_int, "a port"),
        "sip": (_is_int, "a port"),
    },
}
TOP_KEYS = {"defaults", "site", "profile", "mute", "output"}
OUTPUT_KEYS: dict[str, tuple[_Check, str]] = {
    "dir": (_is_str, "a directory"),
    "history": (_is_str, "a file path"),
    "keep": (_is_int, "a number of runs"),
    "keep_days": (_is_int, "a number of days"),
}
MUTE_KEYS: dict[str, tuple[_Check, str]] = {
    "check": (_is_str, "a check id"),
    "target": (_is_str, "a target (name, name:port, or '*')"),
    "reason": (_is_str, "why the finding is accepted"),
    "site": (_is_str, "a site name"),
    "until": (_is_date, "a date (2027-01-31)"),
}


class _Locator:
    """Finds the line of a key in the TOML text (tomllib gives no positions)."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()

    def line_of(self, table: str, index: int | None, key: str | None) -> int:
        header = re.compile(rf"^\s*\[\[?\s*{re.escape(table)}\s*\]?\]\s*(#.*)?$") if table else None
        start, seen = 0, -1
        if header is not None:
            for n, line in enumerate(self.lines):
                if header.match(line):
                    seen += 1
                    if index is None or seen == index:
                        start = n
                        break
        if key is None:
            return start + 1
        keyre = re.compile(rf"^\s*{re.escape(key)}\s*=")
        for n in range(start, len(self.lines)):
            if n > start and self.lines[n].lstrip().startswith("[") and header is not None:
                break
            if keyre.match(self.lines[n]):
                return n + 1
        return start + 1

    def error(self, where: tuple[str, int | None, str | None], message: str) -> ConfigError:
        table, index, key = where
        line = self.line_of(table, index, key)
        name = table + (f"[{index}]" if index is not None else "") + (f".{key}" if key else "")
        return ConfigError(f"{self.path}:{line}: {name.lstrip('.') or 'file'}: {message}")


def _check_keys(
    loc: _Locator,
    table: str,
    index: int | None,
    data: Mapping[str, Any],
    schema: Mapping[str, tuple[_Check, str]],
    extra_tables: Iterable[str] = (),
) -> None:
    for key, value in data.items():
        if key in extra_tables:
            continue
        if key not in schema:
            known = ", ".join(sorted([*schema, *extra_tables]))
            raise loc.error((table, index, key), f"unknown key (known: {known})")
        ok, what = schema[key]
        if not ok(value):
            raise loc.error((table, index, key), f"must be {what}, not {value!r}")


def _as_list(v: Any) -> list[str]:
    return [v] if isinstance(v, str) else list(v or [])


def load(path: str | Path, known_checks: Iterable[str]) -> AuditFile:
    """Read and validate an audit file. Raises :class:`ConfigError` with file, line and key."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from None
    return parse(data, str(p), text, set(known_checks))


def parse(data: Mapping[str, Any], path: str, text: str, known: set[str]) -> AuditFile:
    loc = _Locator(path, text)
    for key in data:
        if key not in TOP_KEYS:
            raise loc.error(("", None, key), f"unknown top-level key (known: {', '.join(sorted(TOP_KEYS))})")
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict):
        raise loc.error(("defaults", None, None), "must be a table")
    _check_keys(loc, "defaults", None, defaults, AUDIT_KEYS, TABLE_KEYS)
    for name, schema in TABLE_KEYS.items():
        if name in defaults:
            _check_keys(loc, f"defaults.{name}", None, defaults[name], schema)
    raw_sites = data.get("site", [])
    if not isinstance(raw_sites, list) or not raw_sites:
        raise loc.error(("site", None, None), "give at least one [[site]] with a name and domains")
    sites: list[Site] = []
    names: set[str] = set()
    for i, raw in enumerate(raw_sites):
        _check_keys(loc, "site", i, raw, {**AUDIT_KEYS, "name": (_is_str, "a site name")}, TABLE_KEYS)
        for name, schema in TABLE_KEYS.items():
            if name in raw:
                if not isinstance(raw[name], dict):
                    raise loc.error(("site", i, name), "must be a table")
                _check_keys(loc, f"site.{name}", None, raw[name], schema)
        site_name = raw.get("name") or f"site{i + 1}"
        if site_name in names:
            raise loc.error(("site", i, "name"), f"site name {site_name!r} is used twice")
        names.add(site_name)
        merged = {**defaults, **raw}
        for table in TABLE_KEYS:
            merged[table] = {**defaults.get(table, {}), **raw.get(table, {})}
        for key in ("checks", "skip"):
            for cid in merged.get(key, []):
                if cid not in known:
                    raise loc.error(("site", i, key), f"unknown check id {cid!r}")
        try:
            options = _options(merged)
        except OptionError as exc:
            raise loc.error(("site", i, None), str(exc)) from None
        if not options.domains and not options.dhcp.interface:
            raise loc.error(("site", i, "domains"), "a site needs domains (or a [site.dhcp] interface)")
        sites.append(Site(site_name, options))
    profile = data.get("profile", {})
    if not isinstance(profile, dict):
        raise loc.error(("profile", None, None), "must be a table")
    for key in profile:
        if key != "severity":
            raise loc.error(("profile", None, key), "unknown key (known: severity)")
    severity: dict[str, Severity] = {}
    for cid, value in profile.get("severity", {}).items():
        if cid not in known:
            raise loc.error(("profile.severity", None, cid), f"unknown check id {cid!r}")
        if value not in ("warn", "fail"):
            raise loc.error(("profile.severity", None, cid), f"must be 'warn' or 'fail', not {value!r}")
        severity[cid] = Severity(value)
    mutes: list[Mute] = []
    for i, raw in enumerate(data.get("mute", [])):
        _check_keys(loc, "mute", i, raw, MUTE_KEYS)
        for key in ("check", "target", "reason"):
            if key not in raw:
                raise loc.error(("mute", i, None), f"a mute needs '{key}'")
        if raw["check"] not in known:
            raise loc.error(("mute", i, "check"), f"unknown check id {raw['check']!r}")
        if raw.get("site") and raw["site"] not in names:
            raise loc.error(("mute", i, "site"), f"no site named {raw['site']!r}")
        until = raw["until"].isoformat() if "until" in raw else ""
        mutes.append(Mute(raw["check"], raw["target"], raw["reason"], raw.get("site", ""), until))
    output = data.get("output", {})
    _check_keys(loc, "output", None, output, OUTPUT_KEYS)
    return AuditFile(
        path,
        tuple(sites),
        severity,
        tuple(mutes),
        output.get("dir"),
        output.get("history"),
        output.get("keep"),
        output.get("keep_days"),
    )


def _options(m: Mapping[str, Any]) -> AuditOptions:
    dhcp, th, ports = m.get("dhcp", {}), m.get("thresholds", {}), m.get("ports", {})
    options = build_options(
        domains=m.get("domains", []),
        nameservers=m.get("nameservers", []),
        web_fqdns=_as_list(m.get("web_fqdn")),
        ntp_servers=m.get("ntp_servers", []),
        ca_bundle=m.get("ca_bundle"),
        device=m.get("device", "lpe"),
        checks=m.get("checks", []),
        skip=m.get("skip", []),
        timeout=m.get("timeout"),
        check_timeout=m.get("check_timeout"),
        total_timeout=m.get("deadline"),
        concurrency=m.get("concurrency"),
        http_port=ports.get("http"),
        https_port=ports.get("https"),
        ntp_port=ports.get("ntp"),
        sip_port=ports.get("sip"),
        ntp_offset_warn=th.get("ntp_offset_warn"),
        ntp_offset_fail=th.get("ntp_offset_fail"),
        cert_expiry_warn_days=th.get("cert_expiry_warn_days"),
        interface=dhcp.get("interface"),
        dhcp_mode=dhcp.get("mode", "inform"),
        dhcp_server=dhcp.get("server"),
        giaddr=dhcp.get("giaddr"),
        dhcp_timeout=dhcp.get("timeout"),
        netns=dhcp.get("netns"),
        tls_versions_per_name=m.get("tls_versions_per_name", False),
    )
    registrars = tuple(r.lower().rstrip(".") for r in _as_list(m.get("registrar")))
    return dataclasses.replace(options, expected_registrars=registrars)
