"""The checks every dialect shares: the bytes of each option go through the probe's decoders
(``lyncready.codecs.decode_option``); then each scope is checked for what a phone needs (120, 43, a time
source) and for scope values that disagree with the server level. Every problem gets corrected lines in the
file's own dialect."""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..codecs import UC_CLIENT as UC_CLASS
from ..codecs import Decoded, decode_option, guess_option
from ..codecs.base import hexu
from ..codecs.names import hostname_problem
from .base import Dialect, Where, parse_ipv4
from .model import LEVEL_RANK, LintFinding, LintReport, Parsed, ScopeDecl, ScopeView, Value

JUDGED = (120, 43, 119, 4, 42)
_SUB_OF_TAG = {
    "uc_identifier": 1,
    "bad_uc_identifier": 1,
    "bad_scheme": 2,
    "scheme_case": 2,
    "web_fqdn": 3,
    "bad_web_fqdn": 3,
    "port": 4,
    "binary_port": 4,
    "bad_port": 4,
    "cert_prov_path": 5,
    "bad_cert_prov_path": 5,
}


def is_uc_43(data: bytes) -> bool:
    """Option 43 bytes meant for Lync phones (not another vendor's option 43)."""
    return b"MS-UC" in data or b"MSUC" in data or b"MS-US" in data or guess_option(data) == 43


class Analysis:
    def __init__(self, parsed: Parsed, dialect: Dialect) -> None:
        self.p = parsed
        self.d = dialect
        self.findings: list[LintFinding] = list(parsed.findings)
        self.scopes = {s.key: s for s in parsed.scopes}
        self.index: dict[tuple[int, str | None, bool], Value] = {}
        for v in parsed.values:
            if v.code == 43 and not is_uc_43(v.data):
                continue  # another vendor's option 43
            self.index[(v.code, v.scope, v.vendor)] = v

    # --- where values come from ---------------------------------------------------------------------------

    def where(self, scope: str | None) -> Where:
        if scope is None:
            return Where()
        decl = self.scopes.get(scope)
        if decl is None:
            return Where(name=scope)
        return Where(decl.network, decl.handle)

    def label(self, scope: str | None) -> str:
        if scope is None:
            return "server level"
        decl = self.scopes.get(scope)
        return decl.label if decl is not None else f"scope {scope}"

    def chain(self, scope: str | None) -> list[str]:
        out: list[str] = []
        seen: set[str] = set()
        while scope is not None and scope not in seen:
            seen.add(scope)
            out.append(scope)
            decl = self.scopes.get(scope)
            scope = decl.parent if decl is not None else None
        return out

    def effective(self, code: int, scope: str | None) -> Value | None:
        for level, vendor in self.p.precedence:
            keys: list[str | None] = list(self.chain(scope)) if level == "scope" else [None]
            for key in keys:
                v = self.index.get((code, key, vendor))
                if v is not None:
                    return v
        return None

    # --- semantic values, for fix lines ---------------------------------------------------------------------

    def names_of(self, code: int, scope: str | None) -> list[str]:
        v = self.effective(code, scope)
        if v is None:
            for (c, _, _), other in self.index.items():
                if c == code:
                    v = other
                    break
        if v is None:
            return []
        return _names(decode_option(code, v.data))

    def fix(self, code: int, dec: Decoded | None, scope: str | None) -> list[str]:
        where = self.where(scope)
        try:
            if code == 120:
                names = _names(dec) if dec is not None else []
                names = names or self.names_of(120, scope)
                if names:
                    return self.d.lines_120(names, where)
                return [self.d.note(f"lyncready dhcp config --sip-server <Registrar pool FQDN> --format {self.d.name}")]
            if code == 43:
                web, port = _web_port(dec) if dec is not None else (None, 443)
                web = web or next(iter(self.names_of(120, scope)), None)
                if web:
                    return self.d.lines_43(web, port, where)
                return [
                    self.d.note(
                        f"lyncready dhcp config --sip-server <pool FQDN> --web-server <web services FQDN> "
                        f"--format {self.d.name}"
                    )
                ]
            if code == 119:
                names = _names(dec) if dec is not None else []
                if names:
                    return self.d.lines_119(names, where)
                return [self.d.note(f"lyncready dhcp config ... --search-list <domains> --format {self.d.name}")]
            if code in (4, 42):
                addresses = _addresses(dec) if dec is not None else []
                if not addresses:
                    other = self.effective(42 if code == 4 else 4, scope)
                    if other is not None:
                        addresses = _addresses(decode_option(other.code, other.data))
                if addresses:
                    return self.d.lines_time(code, addresses, where)
                return [self.d.note(f"lyncready dhcp config ... --ntp <NTP server addresses> --format {self.d.name}")]
        except ValueError:
            return []
        return []

    # --- the checks -----------------------------------------------------------------------------------------

    def add(
        self, line: int, tag: str, level: str, message: str, fix: Sequence[str] = (), scope: str | None = None
    ) -> None:
        assert level in LEVEL_RANK
        self.findings.append(LintFinding(line, tag, level, message, tuple(fix), scope))  # type: ignore[arg-type]

    def value_checks(self) -> None:
        for v in self.index.values():
            if v.code not in JUDGED:
                continue
            dec = decode_option(v.code, v.data)
            where = self.label(v.scope)
            bad = any(d.level != "info" for d in dec.diagnostics)
            fix = self.fix(v.code, dec, v.scope) if bad else []
            for diag in dec.diagnostics:
                line = self._line_for(v, diag.tag, diag.message)
                self.add(
                    line,
                    diag.tag,
                    diag.level,
                    f"{where}: {diag.message}",
                    fix if diag.level != "info" else (),
                    v.scope,
                )
            if v.note and bad:
                self.add(v.line, "cfg.how_encoded", "info", f"{where}: option {v.code}: {v.note}", (), v.scope)
            if v.code == 43 and not v.vendor:
                self._unbound_43(v)

    def _unbound_43(self, v: Value) -> None:
        where = self.label(v.scope)
        if not self.d.unbound_advice:
            dec = decode_option(43, v.data)
            self.add(
                v.line,
                "o43.sent_without_vendor_class",
                "error",
                f"{where}: the MS-UC-Client option 43 is set as a plain option, so every client gets it (PCs, "
                "printers and phones of other vendors read it as their own vendor data); bind it to the vendor "
                f"class {UC_CLASS!r}",
                self.fix(43, dec, v.scope),
                v.scope,
            )
        else:
            self.add(
                v.line,
                "o43.sent_without_vendor_class",
                "warning",
                f"{where}: option 43 is not restricted to vendor class {UC_CLASS!r}. {self.d.unbound_advice}",
                (),
                v.scope,
            )

    @staticmethod
    def _line_for(v: Value, tag: str, message: str) -> int:
        if v.code != 43 or not v.sub_lines:
            return v.line
        m = re.search(r"Sub-option (\d)", message)
        if m and int(m.group(1)) in v.sub_lines:
            return v.sub_lines[int(m.group(1))]
        short = tag.split(".", 1)[-1]
        for key, sub in _SUB_OF_TAG.items():
            if short.startswith(key) and sub in v.sub_lines:
                return v.sub_lines[sub]
        return v.line

    def scope_checks(self) -> list[ScopeView]:
        views: list[ScopeView] = []
        parents = {s.parent for s in self.p.scopes if s.parent is not None}
        # a scope other scopes inherit from (an IOS parent pool) is judged through them
        targets: list[ScopeDecl | None] = [s for s in self.p.scopes if s.key not in parents] or [None]
        for decl in targets:
            key = decl.key if decl is not None else None
            line = decl.line if decl is not None else 0
            label = self.label(key)
            opts: dict[int, tuple[bytes, int]] = {}
            notes: list[str] = []
            for code in JUDGED:
                v = self.effective(code, key)
                if v is not None:
                    opts[code] = (v.data, v.line)
                    if code == 43 and not v.vendor:
                        notes.append("option 43 goes to every client (no vendor class)")
            views.append(ScopeView(label, line, opts, tuple(notes)))
            if 120 not in opts:
                self.add(
                    line,
                    "cfg.missing_120",
                    "error",
                    f"{label}: no option 120: phones do not learn the Registrar pool (SIP server) from DHCP",
                    self.fix(120, None, key),
                    key,
                )
            if 43 not in opts:
                self.add(
                    line,
                    "cfg.missing_43",
                    "error",
                    f"{label}: no option 43 for vendor class {UC_CLASS!r}: phones cannot build the Certificate "
                    "Provisioning URL, so PIN sign-in fails",
                    self.fix(43, None, key),
                    key,
                )
            if 4 not in opts and 42 not in opts and self.d.judges_time:
                self.add(
                    line,
                    "cfg.missing_time",
                    "warning",
                    f"{label}: neither option 42 (NTP servers) nor option 4 (time servers): phones then depend on "
                    "the _ntp._udp SRV record of the SIP domain to set their clock before TLS",
                    list(dict.fromkeys([*self.fix(42, None, key), *self.fix(4, None, key)])),
                    key,
                )
            if key is not None:
                self._overrides(key, label)
        return views

    def _overrides(self, key: str, label: str) -> None:
        for code in JUDGED:
            for vendor in (False, True):
                own = self.index.get((code, key, vendor))
                if own is None:
                    continue
                parents = self.chain(key)[1:]
                base = next((self.index[(code, p, vendor)] for p in parents if (code, p, vendor) in self.index), None)
                base = base or self.index.get((code, None, vendor))
                if base is None or base.data == own.data:
                    continue
                a, b = decode_option(code, own.data), decode_option(code, base.data)
                if not (a.valid and b.valid):
                    continue
                winner = self.effective(code, key)
                wins = "the scope's value" if winner is own else "the server-level value"
                where_base = self.label(base.scope)
                self.add(
                    own.line,
                    "cfg.scope_overrides_server",
                    "warning",
                    f"{label} sets option {code} to {_show(code, a)} (line {own.line}) while {where_base} sets "
                    f"{_show(code, b)} (line {base.line}); phones in this scope get {wins}. Make them agree, or "
                    "remove the value that is wrong",
                    self.fix(code, b, key),
                    key,
                )

    def run(self) -> LintReport:
        if self.p.unreadable and not self.p.values and not self.p.scopes:
            # the reader gave up on the file: nothing to judge beyond what it said
            return LintReport(self.d.name, tuple(self.findings), (), tuple(self.p.unreadable))
        self.value_checks()
        views = self.scope_checks()
        seen: set[tuple[int, str, str]] = set()
        unique: list[LintFinding] = []
        for f in self.findings:
            k = (f.line, f.tag, f.message)
            if k not in seen:
                seen.add(k)
                unique.append(f)
        unique.sort(key=lambda f: (f.line, -LEVEL_RANK[f.level]))
        return LintReport(self.d.name, tuple(unique), tuple(views), tuple(self.p.unreadable))


# --- helpers --------------------------------------------------------------------------------------------


def _names(dec: Decoded | None) -> list[str]:
    if dec is None:
        return []
    out: list[str] = []
    for name in dec.value.get("names", []) or []:
        for part in re.split(r"[;,\s]+", str(name)):
            part = part.strip().rstrip(".")
            if part and hostname_problem(part) is None and "\\" not in part:
                out.append(part)
    return out


def _addresses(dec: Decoded | None) -> list[str]:
    if dec is None:
        return []
    good = []
    for a in dec.value.get("addresses", []) or []:
        ip = parse_ipv4(str(a))
        if ip and not ip.startswith(("0.", "127.", "255.")):
            good.append(ip)
    return good


def _web_port(dec: Decoded | None) -> tuple[str | None, int]:
    if dec is None:
        return None, 443
    subs = {int(s["code"]): bytes.fromhex(s["hex"]) for s in dec.value.get("suboptions", [])}
    web = None
    raw = subs.get(3, b"").rstrip(b"\x00")
    try:
        text = raw.decode("ascii").rstrip(".")
        if text and hostname_problem(text) is None and "." in text and parse_ipv4(text) is None:
            web = text
    except UnicodeDecodeError:
        web = None
    port = 443
    p = subs.get(4, b"").rstrip(b"\x00")
    if p.isdigit():
        port = int(p)
    elif 0 < len(p) <= 4:
        port = int.from_bytes(p, "big")
    if not 0 < port < 65536:
        port = 443
    return web, port


def _show(code: int, dec: Decoded) -> str:
    if code in (120, 119):
        return ", ".join(dec.value.get("names") or dec.value.get("addresses") or []) or "?"
    if code in (4, 42):
        return ", ".join(dec.value.get("addresses", [])) or "?"
    if code == 43:
        return str(dec.value.get("url") or "?")
    return hexu(b"")


def analyze(parsed: Parsed, dialect: Dialect) -> LintReport:
    return Analysis(parsed, dialect).run()
