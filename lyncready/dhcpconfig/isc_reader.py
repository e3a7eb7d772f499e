"""Reading a dhcpd.conf (ISC dhcpd 4.x): statements, option definitions, option spaces, classes, subnets."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from ..codecs import encode_119
from .base import UC_CLASS_DATA, parse_ipv4
from .model import Parsed, ScopeDecl, Value

_PUNCT = "{};,=()!~"


@dataclass(slots=True)
class Tok:
    kind: str  # "word", "str", "punct"
    text: str
    line: int


@dataclass(slots=True)
class Stmt:
    toks: list[Tok]
    line: int
    block: list[Stmt] | None = None

    @property
    def words(self) -> list[str]:
        return [t.text for t in self.toks]

    def head(self, n: int = 1) -> list[str]:
        return [t.text.lower() if t.kind == "word" else t.text for t in self.toks[:n]]


class IscSyntax(ValueError):
    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line = line
        self.reason = reason


_ESC = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


def tokenize(text: str) -> list[Tok]:
    out: list[Tok] = []
    i, n, line = 0, len(text), 1
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            i += 1
        elif c.isspace():
            i += 1
        elif c == "#":
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif c == '"':
            start_line = line
            buf: list[str] = []
            i += 1
            while i < n and text[i] != '"':
                if text[i] == "\\" and i + 1 < n:
                    nxt = text[i + 1]
                    if nxt in _ESC:
                        buf.append(_ESC[nxt])
                        i += 2
                        continue
                    m = re.match(r"[0-7]{1,3}", text[i + 1 :])
                    if m:
                        buf.append(chr(int(m.group(0), 8)))
                        i += 1 + len(m.group(0))
                        continue
                    buf.append(nxt)
                    i += 2
                    continue
                if text[i] == "\n":
                    line += 1
                buf.append(text[i])
                i += 1
            if i >= n:
                raise IscSyntax(start_line, "a quoted string is never closed")
            i += 1
            out.append(Tok("str", "".join(buf), start_line))
        elif c in _PUNCT:
            if c in "!~=" and i + 1 < n and text[i + 1] in "=~":
                out.append(Tok("punct", text[i : i + 2], line))
                i += 2
            else:
                out.append(Tok("punct", c, line))
                i += 1
        else:
            j = i
            while j < n and not text[j].isspace() and text[j] not in _PUNCT and text[j] not in '"#':
                j += 1
            out.append(Tok("word", text[i:j], line))
            i = j
    return out


def statements(toks: list[Tok]) -> list[Stmt]:
    pos = 0

    def block() -> list[Stmt]:
        nonlocal pos
        out: list[Stmt] = []
        cur: list[Tok] = []
        while pos < len(toks):
            t = toks[pos]
            pos += 1
            if t.kind == "punct" and t.text == ";":
                if cur:
                    out.append(Stmt(cur, cur[0].line))
                cur = []
            elif t.kind == "punct" and t.text == "{":
                if _is_record_def(cur):  # option x code N = { type, type };
                    depth = 1
                    cur.append(t)
                    while pos < len(toks) and depth:
                        cur.append(toks[pos])
                        if toks[pos].text == "{" and toks[pos].kind == "punct":
                            depth += 1
                        elif toks[pos].text == "}" and toks[pos].kind == "punct":
                            depth -= 1
                        pos += 1
                    continue
                line = cur[0].line if cur else t.line
                inner = block()
                out.append(Stmt(cur, line, inner))
                cur = []
            elif t.kind == "punct" and t.text == "}":
                if cur:
                    raise IscSyntax(cur[0].line, f"'{' '.join(x.text for x in cur)[:60]}' lacks its ';' before '}}'")
                return out
            else:
                cur.append(t)
        if cur:
            raise IscSyntax(cur[0].line, f"'{' '.join(x.text for x in cur)[:60]}' lacks its final ';'")
        return out

    result = block()
    if pos < len(toks):
        raise IscSyntax(toks[pos - 1].line, "a '}' closes nothing")
    return result


def _is_record_def(cur: list[Tok]) -> bool:
    texts = [t.text.lower() for t in cur]
    return len(texts) >= 4 and texts[0] == "option" and "code" in texts and texts[-1] == "="


# --- option types and values ----------------------------------------------------------------------------

# dhcpd's own definitions lyncready judges: name -> (code, type)
STANDARD: dict[str, tuple[int, list[str], bool]] = {
    "routers": (3, ["ip-address"], True),
    "time-servers": (4, ["ip-address"], True),
    "domain-name-servers": (6, ["ip-address"], True),
    "domain-name": (15, ["text"], False),
    "ntp-servers": (42, ["ip-address"], True),
    "vendor-encapsulated-options": (43, ["string"], False),
    "vendor-class-identifier": (60, ["string"], False),
    "domain-search": (119, ["domain-list-compressed"], False),
}


@dataclass(slots=True)
class OptDef:
    code: int
    fields: list[str]
    array: bool
    line: int
    encapsulate: str | None = None


def parse_type(toks: list[Tok]) -> tuple[list[str], bool, str | None]:
    """The tokens after '=' in an option definition -> (field types, array, encapsulated space)."""
    words = [t.text.lower() for t in toks]
    if words and words[0] == "encapsulate" and len(words) > 1:
        return ["string"], False, toks[1].text
    array = False
    if words[:2] == ["array", "of"]:
        array = True
        words = words[2:]
    if words and words[0] == "{":
        inner = " ".join(words[1:-1]) if words[-1] == "}" else " ".join(words[1:])
        fields = [_one_type(part.split()) for part in inner.split(",") if part.strip()]
        return fields, array, None
    return [_one_type(words)], array, None


def _one_type(words: list[str]) -> str:
    if not words:
        raise ValueError("empty type")
    if words[0] in ("unsigned", "signed"):
        if len(words) >= 3 and words[1] == "integer":
            return f"{words[0]}-{words[2]}"
        raise ValueError(f"type {' '.join(words)!r}")
    if words[0] == "integer" and len(words) >= 2:
        return f"signed-{words[1]}"
    if words[0] == "domain-list":
        return "domain-list-compressed" if "compressed" in words else "domain-list"
    if words[0] in ("text", "string", "ip-address", "boolean", "domain-name", "zerolen"):
        return words[0]
    raise ValueError(f"type {' '.join(words)!r} is not read by lyncready")


def encode_value(d: OptDef, toks: list[Tok]) -> bytes:
    """The bytes dhcpd sends for ``option x <toks>;`` given the definition. Raises ValueError with a reason."""
    groups: list[list[Tok]] = [[]]
    for t in toks:
        if t.kind == "punct" and t.text == ",":
            groups.append([])
        else:
            groups[-1].append(t)
    if d.fields == ["domain-list"] or d.fields == ["domain-list-compressed"]:
        names = []
        for g in groups:
            if len(g) != 1 or g[0].kind != "str":
                raise ValueError("a domain list is quoted names separated by commas")
            names.append(g[0].text)
        return encode_119(names, compress=d.fields[0].endswith("compressed"))
    fields = d.fields
    if len(fields) > 1:
        return _record(fields, toks)
    out = b""
    for g in groups:
        if not g:
            raise ValueError("an empty value between commas")
        if len(g) > 1:
            raise ValueError(f"{' '.join(t.text for t in g)!r}: one value expected between commas")
        out += _field(fields[0], g)
    return out


def _record(fields: list[str], toks: list[Tok]) -> bytes:
    """A record ``{ a, b }`` value: fields separated by spaces; a last domain-list takes the remaining names."""
    out = b""
    for i, kind in enumerate(fields):
        if kind.startswith("domain-list"):
            rest = toks[i:]
            names = [t.text for t in rest if not (t.kind == "punct" and t.text == ",")]
            if not names or any(t.kind != "str" for t in rest if t.text != ","):
                raise ValueError("a domain list is quoted names separated by commas")
            return out + encode_119(names, compress=kind.endswith("compressed"))
        if i >= len(toks):
            raise ValueError(f"the record needs {len(fields)} values")
        t = toks[i]
        if t.kind == "punct":
            raise ValueError("the values of a record are separated by spaces, not commas")
        out += _field(kind, [t])
    if len(toks) > len(fields):
        raise ValueError(f"more values than the record's {len(fields)} fields")
    return out


def _field(kind: str, g: list[Tok]) -> bytes:
    t = g[0]
    if kind == "text":
        if t.kind != "str":
            raise ValueError(f"{t.text!r}: a text value must be quoted")
        return t.text.encode("latin-1", "replace")
    if kind == "string" or kind == "domain-name":
        if t.kind == "str":
            return t.text.encode("latin-1", "replace")
        digits = t.text.split(":")
        if all(re.fullmatch(r"[0-9A-Fa-f]{1,2}", x) for x in digits):
            return bytes(int(x, 16) for x in digits)
        raise ValueError(f"{t.text!r}: quote the text or write colon-separated hex")
    if kind == "ip-address":
        address = parse_ipv4(t.text)
        if address is None:
            raise ValueError(f"{t.text!r} is a host name; dhcpd resolves it when it starts, lyncready cannot")
        return ipaddress.IPv4Address(address).packed
    if kind == "boolean":
        word = t.text.lower()
        if word in ("true", "on", "yes", "1"):
            return b"\x01"
        if word in ("false", "off", "no", "0"):
            return b"\x00"
        raise ValueError(f"{t.text!r} is not a boolean")
    m = re.fullmatch(r"(unsigned|signed)-(8|16|32)", kind)
    if m:
        number = int(t.text, 0)
        return number.to_bytes(int(m.group(2)) // 8, "big", signed=m.group(1) == "signed")
    if kind == "zerolen":
        return b""
    raise ValueError(f"type {kind!r}")


# --- walking the statements ---------------------------------------------------------------------------


@dataclass(slots=True)
class Ctx:
    """Values set in one place: (scope key or None, vendor-bound)."""

    plain: dict[int, tuple[bytes, int]] = field(default_factory=dict)
    spaces: dict[str, dict[int, tuple[bytes, int]]] = field(default_factory=dict)
    vos: tuple[str, int] | None = None


@dataclass(slots=True)
class Walker:
    out: Parsed
    defs: dict[tuple[str, str], OptDef] = field(default_factory=dict)
    ctxs: dict[tuple[str | None, bool], Ctx] = field(default_factory=dict)
    authoritative: bool = False

    def __post_init__(self) -> None:
        for name, (code, fields, array) in STANDARD.items():
            self.defs[("dhcp", name)] = OptDef(code, fields, array, 0)

    def ctx(self, scope: str | None, vendor: bool) -> Ctx:
        return self.ctxs.setdefault((scope, vendor), Ctx())

    def walk(self, stmts: list[Stmt], scope: str | None, vendor: bool) -> None:
        saved = self.authoritative
        for st in stmts:
            if st.block is None and st.head(2) in (["authoritative"], ["not", "authoritative"]):
                self.authoritative = st.head(1) == ["authoritative"]
        try:
            self._walk(stmts, scope, vendor)
        finally:
            self.authoritative = saved

    def _walk(self, stmts: list[Stmt], scope: str | None, vendor: bool) -> None:
        i = 0
        while i < len(stmts):
            st = stmts[i]
            i += 1
            head = st.head(3)
            try:
                self._stmt(st, head, scope, vendor)
            except ValueError as exc:
                self.out.bad(st.line, f"'{_show(st)}': {exc}")
            if head and head[0] == "if" and st.block is not None:
                while i < len(stmts) and stmts[i].head(1) and stmts[i].head(1)[0] in ("elsif", "else"):
                    i += 1  # other branches: not for phones (their condition is the MS-UC one or unknown)

    def _stmt(self, st: Stmt, head: list[str], scope: str | None, vendor: bool) -> None:
        if not head:
            return
        kw = head[0]
        if kw == "option" and st.block is None:
            self._option(st, scope, vendor)
        elif kw == "vendor-option-space" and len(st.toks) >= 2:
            self.ctx(scope, vendor).vos = (st.toks[1].text, st.line)
        elif kw == "subnet" and st.block is not None:
            self._subnet(st, vendor)
        elif kw in ("shared-network", "group", "pool") and st.block is not None:
            self.walk(st.block, scope, vendor)
        elif kw == "class" and st.block is not None:
            self._class(st)
        elif kw == "if" and st.block is not None:
            match = _vendor_match(st.toks[1:])
            if match is None:
                self.out.skipped(st.line, "a conditional block lyncready does not evaluate was skipped")
            elif self._check_match(match, st.line):
                self.walk(st.block, scope, True)

    def _subnet(self, st: Stmt, vendor: bool) -> None:
        words = st.words
        try:
            mask_at = [w.lower() for w in words].index("netmask")
            net = ipaddress.IPv4Network(f"{words[1]}/{words[mask_at + 1]}", strict=False)
        except (ValueError, IndexError):
            raise ValueError("expected 'subnet <address> netmask <mask>'") from None
        key = str(net)
        if not any(s.key == key for s in self.out.scopes):
            self.out.scopes.append(ScopeDecl(key, f"subnet {net}", st.line, net))
        assert st.block is not None
        inner = [x.head(2) for x in st.block if x.block is None]
        authoritative = ["authoritative"] in inner or (self.authoritative and ["not", "authoritative"] not in inner)
        if not authoritative:
            self.out.finding(
                st.line,
                "isc.not_authoritative",
                "warning",
                f"subnet {net}: dhcpd is not authoritative here, and then it ignores DHCPINFORM ('not authoritative "
                "for subnet' in its log): phones ask for options 43 and 120 with DHCPINFORM, so they get no answer",
                ["authoritative;"],
                key,
            )
        self.walk(st.block, key, vendor)

    def _class(self, st: Stmt) -> None:
        assert st.block is not None
        name = st.toks[1].text if len(st.toks) > 1 else "?"
        for inner in st.block:
            if inner.head(2) == ["match", "if"]:
                match = _vendor_match(inner.toks[2:])
                if match is not None and self._check_match(match, inner.line, name):
                    self.walk(st.block, None, True)
                return
            if inner.head(1) == ["match"]:
                return  # 'match <expr>' with subclasses: not evaluated
        return

    def _check_match(self, match: tuple[str, str], line: int, name: str | None = None) -> bool:
        op, wanted = match
        if op == "=" and wanted == UC_CLASS_DATA:
            return True
        if op == "substring" and wanted and UC_CLASS_DATA.startswith(wanted):
            return True
        low = re.sub(r"[^a-z]", "", wanted.lower())
        if low in ("msucclient", "msusclient") or "msuc" in low:
            what = f"class {name!r}" if name else "the condition"
            self.out.finding(
                line,
                "cfg.vendor_class_data",
                "error",
                f"{what} compares option 60 with {wanted!r}; phones send 'MS-UC-Client' (case-sensitive), so "
                "they never match and get none of these options"
                + (" ('MSUCClient' is the Windows class *name*, not its data)" if low == "msucclient" else ""),
                [f'match if option vendor-class-identifier = "{UC_CLASS_DATA}";'],
            )
        return False

    def _option(self, st: Stmt, scope: str | None, vendor: bool) -> None:
        toks = st.toks
        if len(toks) < 2:
            raise ValueError("an option statement without a name")
        words = [t.text.lower() for t in toks]
        if words[1] == "space":
            return
        name = toks[1].text
        space, _, short = name.rpartition(".")
        space = space or "dhcp"
        if len(words) >= 5 and words[2] == "code" and "=" in words:
            eq = words.index("=")
            fields, array, encap = parse_type(toks[eq + 1 :])
            code = int(words[3])
            self.defs[(space, short)] = OptDef(code, fields, array, st.line, encap)
            return
        d = self.defs.get((space, short))
        if d is None:
            if space != "dhcp" or short in ("sip-server", "lync-sip-server"):
                raise ValueError(f"option {name!r} has no definition ('option {name} code N = type;')")
            return  # a standard option lyncready does not judge
        if words[2:3] == ["="]:
            raise ValueError("an option set from an expression ('option x = ...') is not evaluated by lyncready")
        data = encode_value(d, toks[2:])
        ctx = self.ctx(scope, vendor)
        if space == "dhcp":
            if d.code in (3, 4, 6, 15, 42, 43, 60, 119, 120):
                ctx.plain[d.code] = (data, st.line)
        else:
            ctx.spaces.setdefault(space, {})[d.code] = (data, st.line)

    # --- the values a phone gets ------------------------------------------------------------------------

    def finish(self) -> None:
        order: list[tuple[str | None, bool]] = [(None, False), (None, True)]
        scopes = [s.key for s in self.out.scopes]
        for key in scopes:
            order += [(key, False), (key, True)]
        for scope, vendor in order:
            ctx = self.ctxs.get((scope, vendor))
            if ctx is None:
                continue
            for code, (data, line) in ctx.plain.items():
                self.out.values.append(Value(code, data, line, scope, vendor))
            if ctx.vos is not None or any(ctx.spaces.values()):
                self._vendor_43(scope, vendor)

    def _chain(self, scope: str | None, vendor: bool) -> list[Ctx]:
        """The contexts whose values apply here, most specific first."""
        keys: list[tuple[str | None, bool]] = [(scope, vendor)]
        if vendor:
            keys += [(None, True)] if scope is not None else []
            keys += [(scope, False)] + ([(None, False)] if scope is not None else [])
        elif scope is not None:
            keys.append((None, False))
        return [self.ctxs[k] for k in keys if k in self.ctxs]

    def _vendor_43(self, scope: str | None, vendor: bool) -> None:
        chain = self._chain(scope, vendor)
        vos = next((c.vos for c in chain if c.vos is not None), None)
        if vos is None:
            return
        space, vos_line = vos
        subs: dict[int, tuple[bytes, int]] = {}
        for c in reversed(chain):
            subs.update(c.spaces.get(space, {}))
        if not subs:
            self.out.bad(vos_line, f"vendor-option-space {space}: no option of that space has a value")
            return
        data = b"".join(bytes([code, len(v)]) + v for code, (v, _) in sorted(subs.items()))
        lines = {code: line for code, (_, line) in subs.items()}
        first = min([vos_line, *lines.values()])
        self.out.values.append(Value(43, data, first, scope, vendor, sub_lines=lines))


def _vendor_match(toks: list[Tok]) -> tuple[str, str] | None:
    """('=', data) or ('substring', prefix) when the expression tests option 60; None otherwise."""
    words = [t.text for t in toks]
    joined = " ".join(words)
    if "vendor-class-identifier" not in joined:
        return None
    strings = [t.text for t in toks if t.kind == "str"]
    if not strings:
        return None
    if "substring" in words:
        return "substring", strings[0]
    return "=", strings[0]


def _show(st: Stmt) -> str:
    text = " ".join(t.text if t.kind != "str" else f'"{t.text}"' for t in st.toks)
    return text if len(text) <= 70 else text[:67] + "..."


def read(text: str) -> Parsed:
    out = Parsed("isc")
    try:
        stmts = statements(tokenize(text))
    except IscSyntax as exc:
        out.bad(exc.line, exc.reason)
        return out
    walker = Walker(out)
    walker.walk(stmts, None, False)
    walker.finish()
    return out
