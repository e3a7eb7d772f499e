"""Windows DHCP through the DhcpServer PowerShell module (Windows Server 2012+): Add-DhcpServerv4Class,
Add-DhcpServerv4OptionDefinition, Set-DhcpServerv4OptionValue [-ScopeId] [-VendorClass]; and reading back a
script of those cmdlets, ``Get-DhcpServerv4OptionValue`` output (table or list) or an ``Export-DhcpServer`` XML.

Binary values are written as PowerShell byte arrays (``0x00,0x04,...``) and the sub-options as
``([System.Text.Encoding]::ASCII.GetBytes("..."))``, the form of Microsoft's own Set-DhcpServerv4OptionValue
example for the MS-UC-Client vendor class.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass

from .base import UC_CLASS_DATA, UC_CLASS_NAME, Dialect, Where, o43_values, o119, o120, parse_ipv4
from .model import Parsed, ScopeDecl, ScopeSpec
from .windows import VendorClass, WinConfig, encode, norm_type

SUB_DEFS = {
    1: ("UCIdentifier", "UC Identifier"),
    2: ("URLScheme", "URL Scheme"),
    3: ("WebServerFqdn", "Web Server Fqdn"),
    4: ("WebServerPort", "Web Server Port"),
    5: ("CertProvRelPath", "Cert Prov Relative Path"),
}
CLASS_LINE = (
    f'Add-DhcpServerv4Class -Name "{UC_CLASS_NAME}" -Type Vendor -Data "{UC_CLASS_DATA}" '
    '-Description "UC Vendor Class Id"'
)
# Windows' own definitions lyncready judges: code -> type
BUILTIN = {3: "IPADDRESS", 4: "IPADDRESS", 6: "IPADDRESS", 15: "STRING", 42: "IPADDRESS", 60: "STRING"}


def _bytes(data: bytes) -> str:
    return ",".join(f"0x{b:02X}" for b in data)


def _ascii(text: str) -> str:
    return f'([System.Text.Encoding]::ASCII.GetBytes("{text}"))'


class PowerShell(Dialect):
    name = "powershell"
    title = "Windows DHCP Server, PowerShell DhcpServer module"
    comment = "#"

    def _set(self, where: Where) -> str:
        if where.server_level:
            return "Set-DhcpServerv4OptionValue"
        return f"Set-DhcpServerv4OptionValue -ScopeId {where.scope_id}"

    def lines_class(self) -> list[str]:
        return [CLASS_LINE]

    def lines_120(self, names: Sequence[str], where: Where) -> list[str]:
        return [
            'Add-DhcpServerv4OptionDefinition -Name "UCSipServer" -OptionId 120 -Type BinaryData '
            '-Description "Sip Server Fqdn"',
            f"{self._set(where)} -OptionId 120 -Value {_bytes(o120(names))}",
        ]

    def lines_43(self, web: str, port: int, where: Where) -> list[str]:
        values = o43_values(web, port)
        out = [CLASS_LINE]
        out += [
            f'Add-DhcpServerv4OptionDefinition -Name "{n}" -OptionId {code} -Type BinaryData '
            f'-VendorClass "{UC_CLASS_NAME}" -Description "{c}"'
            for code, (n, c) in SUB_DEFS.items()
        ]
        out += [
            f'{self._set(where)} -VendorClass "{UC_CLASS_NAME}" -OptionId {code} -Value {_ascii(v)}'
            for code, v in enumerate(values, start=1)
        ]
        return out

    def lines_119(self, names: Sequence[str], where: Where) -> list[str]:
        return [
            self.note("if option 119 exists with the String type, remove it first (its values go with it):"),
            self.note("Remove-DhcpServerv4OptionDefinition -OptionId 119"),
            'Add-DhcpServerv4OptionDefinition -Name "DomainSearchList" -OptionId 119 -Type BinaryData '
            '-Description "DNS search list (RFC 3397)"',
            f"{self._set(where)} -OptionId 119 -Value {_bytes(o119(names))}",
        ]

    def lines_time(self, code: int, addresses: Sequence[str], where: Where) -> list[str]:
        return [f"{self._set(where)} -OptionId {code} -Value {','.join(f'{chr(34)}{a}{chr(34)}' for a in addresses)}"]

    def generate(self, spec: ScopeSpec) -> str:
        where = Where.of(spec)
        o43 = self.lines_43(spec.web, spec.port, where)
        lines = [
            *self.header(spec),
            self.note(f"Vendor class: name {UC_CLASS_NAME}, data {UC_CLASS_DATA} (what phones send in option 60)."),
        ]
        if where.network is not None:
            lines.append(self.note(f"The scope {where.network.network_address} must exist already."))
        lines += o43[:6]
        lines.append(self.lines_120([spec.sip_server], where)[0])
        if spec.search_list:
            lines += self.lines_119(spec.search_list, where)[:3]
        lines.append(self.lines_120([spec.sip_server], where)[1])
        lines += o43[6:]
        if spec.search_list:
            lines.append(self.lines_119(spec.search_list, where)[3])
        if spec.ntp:
            lines += self.lines_time(4, spec.ntp, where)
            lines += self.lines_time(42, spec.ntp, where)
        return "\n".join(lines) + "\n"

    def parse(self, text: str) -> Parsed:
        if re.search(r"<\s*DHCPServer\b", text, re.I):
            return _read_xml(text)
        if re.search(r"^\s*OptionId\s+Name\s+Type\s+Value|^\s*OptionId\s*:", text, re.I | re.M):
            return _read_get_output(text)
        return _read_script(text)


# --- values as PowerShell writes them ------------------------------------------------------------------

_GETBYTES = re.compile(
    r"^\(?\s*\[(?:System\.)?Text\.Encoding\]\s*::\s*(?:ASCII|UTF8)\s*\.\s*GetBytes\s*\(\s*(['\"])(.*)\1\s*\)\s*\)?$",
    re.I,
)


@dataclass(slots=True)
class Elem:
    kind: str  # "str", "bare", "expr"
    text: str


def _number(text: str) -> int | None:
    t = text.strip()
    try:
        return int(t, 16) if t.lower().startswith("0x") else int(t)
    except ValueError:
        return None


def value_bytes(kind: str | None, elems: list[Elem], code: int) -> tuple[bytes, str]:
    """The wire bytes of ``-Value`` elements for an option of ``kind`` (None: unknown); (bytes, type used)."""
    if not elems:
        raise ValueError("no value")
    for e in elems:
        if e.kind == "expr" and not _GETBYTES.match(e.text):
            raise ValueError(f"the expression {e.text[:40]!r} is not evaluated by lyncready")
        if (e.kind == "str" and re.search(r"\$[\w({]", e.text)) or (e.kind == "bare" and e.text.startswith("$")):
            raise ValueError(f"the variable in {e.text[:40]!r} is not evaluated by lyncready")
    if kind is None:
        kind = _guess_kind(elems)
    if kind in ("BINARY", "ENCAPSULATED"):
        out = b""
        for e in elems:
            m = _GETBYTES.match(e.text) if e.kind == "expr" else None
            if m:
                out += m.group(2).encode("latin-1", "replace")
                continue
            text = e.text.strip()
            digits = text[2:] if text.lower().startswith("0x") else text
            number = _number(text)
            if number is not None and 0 <= number <= 255 and (e.kind == "bare" or len(digits) <= 3):
                out += bytes([number])
            elif re.fullmatch(r"(?:[0-9A-Fa-f]{2})+", digits):
                out += bytes.fromhex(digits)
            else:
                raise ValueError(f"{text[:40]!r} is not a byte or hex")
        return out, kind
    texts = []
    for e in elems:
        m = _GETBYTES.match(e.text) if e.kind == "expr" else None
        texts.append(m.group(2) if m else e.text)
    return encode(kind, texts), kind


def _guess_kind(elems: list[Elem]) -> str:
    if any(e.kind == "expr" for e in elems):
        return "BINARY"
    if all(_number(e.text) is not None for e in elems) and (len(elems) > 1 or elems[0].kind == "bare"):
        return "BINARY"
    if all(parse_ipv4(e.text) for e in elems):
        return "IPADDRESS"
    return "STRING"


# --- a script of cmdlets -------------------------------------------------------------------------------


def split_commands(text: str) -> list[tuple[int, str]]:
    """Logical command lines (backtick continuations joined), with the line each starts on."""
    out: list[tuple[int, str]] = []
    buf = ""
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip()
        if not buf:
            start = number
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
        if line.endswith("`"):
            buf += line[:-1] + " "
            continue
        buf += line
        out.append((start, buf.strip()))
        buf = ""
    if buf:
        out.append((start, buf.strip()))
    return out


def lex(command: str) -> list[Elem | tuple[str, str]]:
    """Tokens of one command: ("param", name) for -Name, ("comma", ",") and Elem values."""
    out: list[Elem | tuple[str, str]] = []
    i, n = 0, len(command)
    while i < n:
        c = command[i]
        if c.isspace():
            i += 1
        elif c == "#":
            break
        elif c == ",":
            out.append(("comma", ","))
            i += 1
        elif c in "\"'":
            j = i + 1
            while j < n and command[j] != c:
                j += 2 if command[j] == "`" else 1
            out.append(Elem("str", command[i + 1 : j]))
            i = j + 1
        elif c == "(" or (c == "@" and command[i + 1 : i + 2] == "("):
            depth, j = 0, i
            quote = ""
            while j < n:
                ch = command[j]
                if quote:
                    if ch == quote:
                        quote = ""
                elif ch in "\"'":
                    quote = ch
                elif ch == "(":
                    depth += 1
                elif ch == ")":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            inner = command[i : j + 1]
            if inner.startswith("@(") or (inner.startswith("(") and not _GETBYTES.match(inner)):
                body = inner[2:-1] if inner.startswith("@(") else inner[1:-1]
                sub = lex(body)
                if all(isinstance(t, Elem) or t[0] == "comma" for t in sub) and not _GETBYTES.match(inner):
                    out.extend(sub)
                    i = j + 1
                    continue
            out.append(Elem("expr", inner))
            i = j + 1
        elif c == "-" and i + 1 < n and command[i + 1].isalpha() and (i == 0 or command[i - 1].isspace()):
            j = i + 1
            while j < n and (command[j].isalnum() or command[j] == "_"):
                j += 1
            out.append(("param", command[i + 1 : j].lower()))
            if j < n and command[j] == ":":
                j += 1
            i = j
        else:
            j = i
            while j < n and not command[j].isspace() and command[j] not in ",;":
                j += 1
            out.append(Elem("bare", command[i:j]))
            i = j + (1 if j < n and command[j] == ";" else 0)
    return out


def parse_command(command: str) -> tuple[str, dict[str, list[Elem]], list[Elem]]:
    """(cmdlet lower-case, named parameters -> values, positional values)."""
    toks = lex(command)
    if not toks or not isinstance(toks[0], Elem):
        return "", {}, []
    name = toks[0].text.lower()
    params: dict[str, list[Elem]] = {}
    positional: list[Elem] = []
    current: str | None = None
    joined = False
    for tok in toks[1:]:
        if isinstance(tok, tuple):
            if tok[0] == "param":
                current = tok[1]
                params[current] = []
                joined = False
            else:
                joined = True
            continue
        if current is not None and (not params[current] or joined):
            params[current].append(tok)
            joined = False
        else:
            current = None
            positional.append(tok)
    return name, params, positional


def _param(params: dict[str, list[Elem]], *names: str) -> list[Elem] | None:
    for key, value in params.items():
        if any(key == n or (len(key) >= 3 and n.startswith(key)) for n in names):
            return value
    return None


def _one(params: dict[str, list[Elem]], *names: str) -> str | None:
    value = _param(params, *names)
    return value[0].text if value else None


class _Script:
    def __init__(self, source: Sequence[str] = ()) -> None:
        self.source = source
        self.out = Parsed("powershell")
        self.win = WinConfig()
        self.defs: dict[tuple[str, int], str] = {}  # (vendor class lower or "", code) -> type

    def kind(self, vendor: str | None, code: int) -> str | None:
        found = self.defs.get(((vendor or "").lower(), code))
        if found is None and vendor is None:
            found = BUILTIN.get(code)
        return found

    def scope(self, text: str | None, number: int) -> str | None:
        if text is None:
            return None
        address = parse_ipv4(text)
        if address is None:
            raise ValueError(f"-ScopeId {text!r} is not an IPv4 address")
        if not any(s.key == address for s in self.out.scopes):
            self.out.scopes.append(ScopeDecl(address, f"scope {address}", number, handle=address))
        return address

    def command(self, number: int, command: str) -> None:
        name, params, positional = parse_command(command)
        if name == "add-dhcpserverv4class":
            cname = _one(params, "name") or (positional[0].text if positional else None)
            data = _one(params, "data") or (positional[2].text if len(positional) > 2 else None)
            kind = _one(params, "type") or (positional[1].text if len(positional) > 1 else "Vendor")
            if cname is None or data is None:
                raise ValueError("expected -Name and -Data")
            self.win.classes[cname.lower()] = VendorClass(cname, data, number, kind.lower() == "vendor")
        elif name == "add-dhcpserverv4optiondefinition":
            code = _one(params, "optionid") or (positional[1].text if len(positional) > 1 else None)
            kind_text = _one(params, "type") or (positional[2].text if len(positional) > 2 else None)
            if code is None or kind_text is None:
                raise ValueError("expected -OptionId and -Type")
            def_kind = norm_type(kind_text)
            if def_kind is None:
                raise ValueError(f"unknown -Type {kind_text!r}")
            vendor = _one(params, "vendorclass") or ""
            self.defs[(vendor.lower(), int(code))] = def_kind
        elif name == "add-dhcpserverv4scope":
            start, mask = _one(params, "startrange"), _one(params, "subnetmask")
            if start and mask:
                net = ipaddress.IPv4Network(f"{start}/{mask}", strict=False)
                key = str(net.network_address)
                label = f"scope {key} ({net})"
                for decl in self.out.scopes:
                    if decl.key == key:
                        decl.network, decl.label = net, label
                        return
                self.out.scopes.append(ScopeDecl(key, label, number, net, handle=key))
        elif name == "set-dhcpserverv4optionvalue":
            self._set(number, params, positional)
        elif name == "remove-dhcpserverv4optionvalue":
            code = _one(params, "optionid")
            scope = self.scope(_one(params, "scopeid"), number)
            rm_vendor = _one(params, "vendorclass")
            if code is not None:
                for c in re.split(r"[,\s]+", code):
                    if c.isdigit():
                        if rm_vendor:
                            self.win.vendor.pop((scope, rm_vendor, int(c)), None)
                        else:
                            self.win.standard.pop((scope, int(c)), None)

    def _set(self, number: int, params: dict[str, list[Elem]], positional: list[Elem]) -> None:
        scope = self.scope(_one(params, "scopeid"), number)
        if _param(params, "reservedip") is not None or _param(params, "policyname", "userclass") is not None:
            self.out.skipped(number, "a reservation, policy or user-class value: not what every phone gets")
            return
        common = {"dnsserver": (6, "IPADDRESS"), "router": (3, "IPADDRESS"), "dnsdomain": (15, "STRING")}
        for key, (code, kind) in common.items():
            value = _param(params, key)
            if value:
                self.win.standard[(scope, code)] = (encode(kind, [e.text for e in value]), number)
        code_text = _one(params, "optionid")
        if code_text is None:
            if not any(_param(params, k) for k in common):
                raise ValueError("expected -OptionId and -Value (positional values are not read)")
            return
        code = int(code_text)
        elems = _param(params, "value")
        if not elems:
            raise ValueError("no -Value")
        vendor = _one(params, "vendorclass")
        data, _ = value_bytes(self.kind(vendor, code), elems, code)
        if vendor:
            self.win.vendor[(scope, vendor, code)] = (data, number)
        else:
            self.win.standard[(scope, code)] = (data, number)

    def finish(self) -> Parsed:
        self.win.finish(self.out, [CLASS_LINE], self.source)
        return self.out


_CMDLETS = ("dhcpserverv4class", "dhcpserverv4optiondefinition", "dhcpserverv4optionvalue", "dhcpserverv4scope")


def _read_script(text: str) -> Parsed:
    s = _Script(text.splitlines())
    for number, command in split_commands(text):
        head = command.split(None, 1)[0].lower() if command.split() else ""
        if not head.endswith(_CMDLETS):
            continue
        try:
            s.command(number, command)
        except (ValueError, IndexError) as exc:
            s.out.bad(number, f"{head}: {exc}")
    return s.finish()


# --- Get-DhcpServerv4OptionValue output ----------------------------------------------------------------

_PROMPT = re.compile(r"^\s*(?:PS [^>]*>\s*)?Get-DhcpServerv4OptionValue\b(.*)$", re.I)


def _elems_from_braces(value: str) -> list[Elem]:
    body = value.strip()
    if body.startswith("{") and body.endswith("}"):
        body = body[1:-1]
    return [Elem("str", part.strip()) for part in body.split(",") if part.strip()]


def _read_get_output(text: str) -> Parsed:
    s = _Script()
    ctx_scope: str | None = None
    ctx_vendor: str | None = None
    lines = text.splitlines()
    columns: list[tuple[str, int, int]] | None = None
    record: dict[str, str] = {}
    record_line = 0

    def row(fields: dict[str, str], number: int) -> None:
        code_text = fields.get("optionid", "").strip()
        if not code_text.isdigit():
            return
        code = int(code_text)
        value = fields.get("value", "").strip()
        if value.endswith("...") or value.endswith("...}") or "…" in value:
            s.out.bad(
                number,
                f"option {code}: the value is cut by PowerShell's table view ({value[-20:]!r}); run "
                "Get-DhcpServerv4OptionValue ... | Format-List, or lint an Export-DhcpServer XML file",
            )
            return
        kind = norm_type(fields.get("type", "")) or s.kind(fields.get("vendorclass") or ctx_vendor, code)
        vendor = fields.get("vendorclass", "").strip() or ctx_vendor
        try:
            data, _ = value_bytes(kind, _elems_from_braces(value), code)
        except ValueError as exc:
            s.out.bad(number, f"option {code}: {exc}")
            return
        if vendor:
            s.win.vendor[(ctx_scope, vendor, code)] = (data, number)
        else:
            s.win.standard[(ctx_scope, code)] = (data, number)

    for number, raw in enumerate(lines, start=1):
        m = _PROMPT.match(raw)
        if m:
            if record:
                row(record, record_line)
                record = {}
            _cmd, params, _ = parse_command("get " + m.group(1))
            try:
                ctx_scope = s.scope(_one(params, "scopeid"), number)
            except ValueError as exc:
                s.out.bad(number, str(exc))
            ctx_vendor = _one(params, "vendorclass")
            columns = None
            continue
        if re.match(r"^\s*OptionId\s+Name\s+Type\s+Value", raw, re.I) and number < len(lines):
            dashes = lines[number] if number < len(lines) else ""
            columns = []
            for dm in re.finditer(r"-+", dashes):
                columns.append(("", dm.start(), dm.end()))
            names = raw.split()
            columns = [(names[i].lower(), c[1], c[2]) for i, c in enumerate(columns) if i < len(names)]
            continue
        if columns and raw.strip() and not re.match(r"^[\s-]+$", raw):
            fields: dict[str, str] = {}
            for i, (cname, start, _) in enumerate(columns):
                end = columns[i + 1][1] if i + 1 < len(columns) else len(raw)
                fields[cname] = raw[start:end].strip() if i + 1 < len(columns) else raw[start:].strip()
            row(fields, number)
            continue
        lm = re.match(r"^\s*(\w+)\s*:\s?(.*)$", raw)
        if lm and not columns:
            key = lm.group(1).lower()
            if key == "optionid" and record:
                row(record, record_line)
                record = {}
            if key == "optionid":
                record_line = number
            record[key] = lm.group(2)
        elif not raw.strip() and record:
            row(record, record_line)
            record = {}
    if record:
        row(record, record_line)
    return s.finish()


# --- Export-DhcpServer XML -----------------------------------------------------------------------------


@dataclass(slots=True)
class _Node:
    tag: str
    line: int
    text: str
    children: list[_Node]

    def find(self, tag: str) -> _Node | None:
        return next((c for c in self.children if c.tag == tag), None)

    def all(self, tag: str) -> list[_Node]:
        return [c for c in self.children if c.tag == tag]

    def get(self, tag: str) -> str | None:
        node = self.find(tag)
        return node.text.strip() if node is not None else None


def _xml_tree(text: str) -> _Node:
    from xml.parsers import expat

    parser = expat.ParserCreate()
    root = _Node("", 0, "", [])
    stack = [root]

    def start(name: str, _attrs: dict[str, str]) -> None:
        node = _Node(name.rsplit(":", 1)[-1].lower(), parser.CurrentLineNumber, "", [])
        stack[-1].children.append(node)
        stack.append(node)

    def end(_name: str) -> None:
        stack.pop()

    def chars(data: str) -> None:
        stack[-1].text += data

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    parser.Parse(text.encode("utf-8"), True)
    return root


def _read_xml(text: str) -> Parsed:
    from xml.parsers import expat

    s = _Script()
    text = re.sub(r"^\s*<\?xml[^>]*\?>", "", text.lstrip())  # the declared encoding may not match: text is str
    try:
        root = _xml_tree(text)
    except expat.ExpatError as exc:
        s.out.bad(exc.lineno, f"not well-formed XML: {expat.ErrorString(exc.code)}")
        return s.out
    server = next((c for c in root.children if c.tag == "dhcpserver"), None)
    v4 = server.find("ipv4") if server is not None else None
    if v4 is None:
        s.out.bad(1, "no <DHCPServer><IPv4> element: not an Export-DhcpServer file")
        return s.out
    classes = v4.find("classes")
    for cls in classes.all("class") if classes is not None else []:
        name, data = cls.get("name"), cls.get("data")
        if name and data is not None:
            if re.fullmatch(r"(?:[0-9A-Fa-f]{2})+", data) and data != UC_CLASS_DATA:
                try:
                    decoded = bytes.fromhex(data).decode("ascii")
                    if decoded.isprintable():
                        data = decoded
                except (ValueError, UnicodeDecodeError):
                    pass
            s.win.classes[name.lower()] = VendorClass(name, data, cls.line, (cls.get("type") or "").lower() == "vendor")
    defs = v4.find("optiondefinitions")
    for d in defs.all("optiondefinition") if defs is not None else []:
        code, kind = d.get("optionid"), norm_type(d.get("type") or "")
        if code and code.isdigit() and kind:
            s.defs[((d.get("vendorclass") or "").lower(), int(code))] = kind
    _xml_values(s, v4.find("optionvalues"), None)
    scopes = v4.find("scopes")
    for sc in scopes.all("scope") if scopes is not None else []:
        sid, mask = sc.get("scopeid"), sc.get("subnetmask")
        address = parse_ipv4(sid or "")
        if address is None:
            s.out.bad(sc.line, f"<Scope> with ScopeId {sid!r}")
            continue
        net = ipaddress.IPv4Network(f"{address}/{mask}", strict=False) if mask and parse_ipv4(mask) else None
        label = f"scope {address}" + (f" ({net})" if net else "") + (f" {sc.get('name')!r}" if sc.get("name") else "")
        s.out.scopes.append(ScopeDecl(address, label, sc.line, net, handle=address))
        _xml_values(s, sc.find("optionvalues"), address)
    return s.finish()


def _xml_values(s: _Script, node: _Node | None, scope: str | None) -> None:
    if node is None:
        return
    for ov in node.all("optionvalue"):
        code_text = ov.get("optionid")
        if not code_text or not code_text.isdigit():
            continue
        if ov.get("userclass") or ov.get("policyname"):
            continue
        code = int(code_text)
        vendor = ov.get("vendorclass") or None
        elems = [Elem("str", v.text.strip()) for v in ov.all("value")]
        if not elems:
            s.out.bad(ov.line, f"option {code}: no <Value>")
            continue
        try:
            data, _ = value_bytes(s.kind(vendor, code), elems, code)
        except ValueError as exc:
            s.out.bad(ov.line, f"option {code}: {exc}")
            continue
        if vendor:
            s.win.vendor[(scope, vendor, code)] = (data, ov.line)
        else:
            s.win.standard[(scope, code)] = (data, ov.line)


DIALECT = PowerShell()
