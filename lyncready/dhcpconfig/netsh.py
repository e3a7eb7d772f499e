"""Windows DHCP through ``netsh dhcp server``: the commands DHCPUtil's DHCPConfigScript.bat runs (vendor class
MSUCClient with data MS-UC-Client, Binary option definitions 1-5 and 120), at server or scope level; and
reading a ``netsh dhcp server dump`` or a netsh script back."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence

from .base import UC_CLASS_DATA, UC_CLASS_NAME, Dialect, Where, hex_upper, o43_values, o119, o120
from .model import Parsed, ScopeDecl, ScopeSpec
from .windows import VendorClass, WinConfig, encode, norm_type

SUB_DEFS = {
    1: ("UCIdentifier", "UC Identifier"),
    2: ("URLScheme", "URL Scheme"),
    3: ("WebServerFqdn", "Web Server Fqdn"),
    4: ("WebServerPort", "Web Server Port"),
    5: ("CertProvRelPath", "Cert Prov Relative Path"),
}
CLASS_LINE = f'netsh dhcp server add class {UC_CLASS_NAME} "UC Vendor Class Id" "{UC_CLASS_DATA}" 1'


class Netsh(Dialect):
    name = "netsh"
    title = "Windows DHCP Server, netsh"
    comment = "REM"

    def _set(self, where: Where) -> str:
        if where.server_level:
            return "netsh dhcp server set optionvalue"
        return f"netsh dhcp server scope {where.scope_id} set optionvalue"

    def lines_class(self) -> list[str]:
        return [CLASS_LINE]

    def lines_120(self, names: Sequence[str], where: Where) -> list[str]:
        return [
            'netsh dhcp server add optiondef 120 UCSipServer Binary 0 comment="Sip Server Fqdn"',
            f"{self._set(where)} 120 Binary {hex_upper(o120(names))}",
        ]

    def lines_43(self, web: str, port: int, where: Where) -> list[str]:
        values = o43_values(web, port)
        out = [CLASS_LINE]
        out += [
            f'netsh dhcp server add optiondef {code} {n} Binary 0 vendor={UC_CLASS_NAME} comment="{c}"'
            for code, (n, c) in SUB_DEFS.items()
        ]
        out += [
            f"{self._set(where)} {code} Binary vendor={UC_CLASS_NAME} {hex_upper(v.encode('ascii'))}"
            for code, v in enumerate(values, start=1)
        ]
        return out

    def lines_119(self, names: Sequence[str], where: Where) -> list[str]:
        return [
            self.note("if option 119 exists as a STRING definition, delete it first (its values go with it):"),
            self.note("netsh dhcp server delete optiondef 119"),
            'netsh dhcp server add optiondef 119 DomainSearchList Binary 0 comment="DNS search list (RFC 3397)"',
            f"{self._set(where)} 119 Binary {hex_upper(o119(names))}",
        ]

    def lines_time(self, code: int, addresses: Sequence[str], where: Where) -> list[str]:
        return [f"{self._set(where)} {code:03d} IPADDRESS {' '.join(addresses)}"]

    def generate(self, spec: ScopeSpec) -> str:
        where = Where.of(spec)
        lines = [
            *self.header(spec),
            self.note("Run in an elevated prompt on the DHCP server (or insert \\\\<server> after 'dhcp server')."),
            self.note(f"Vendor class: name {UC_CLASS_NAME}, data {UC_CLASS_DATA} (what phones send in option 60)."),
        ]
        if where.network is not None:
            lines.append(self.note(f"The scope {where.network.network_address} must exist already."))
        lines += [*self.lines_43(spec.web, spec.port, where)[:6]]
        lines.append('netsh dhcp server add optiondef 120 UCSipServer Binary 0 comment="Sip Server Fqdn"')
        if spec.search_list:
            lines += self.lines_119(spec.search_list, where)[:3]
        lines.append(f"{self._set(where)} 120 Binary {hex_upper(spec.o120())}")
        lines += self.lines_43(spec.web, spec.port, where)[6:]
        if spec.search_list:
            lines.append(f"{self._set(where)} 119 Binary {hex_upper(spec.o119())}")
        if spec.ntp:
            lines += self.lines_time(4, spec.ntp, where)
            lines += self.lines_time(42, spec.ntp, where)
        return "\r\n".join(lines) + "\r\n"

    def parse(self, text: str) -> Parsed:
        return _read(text)


# --- reading -------------------------------------------------------------------------------------------

_PREFIX = re.compile(
    r"^\s*(?:netsh\s+)?dhcp\s+server(?:\s+(?:\\\\\S+|\d{1,3}(?:\.\d{1,3}){3}))?\s+(?:scope\s+(\S+)\s+)?(.+)$",
    re.I,
)
_TOKEN = re.compile(r'(?:[^\s"]+|"[^"]*")+')


def tokens(text: str) -> list[str]:
    return [t.replace('"', "") for t in _TOKEN.findall(text)]


def _kv(tok: str) -> tuple[str, str] | None:
    m = re.match(r"^(user|vendor|comment)=(.*)$", tok, re.I)
    return (m.group(1).lower(), m.group(2)) if m else None


def _read(text: str) -> Parsed:
    out = Parsed("netsh")
    win = WinConfig()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(("#", "::", "@")) or re.match(r"^rem\b", line, re.I):
            continue
        m = _PREFIX.match(line)
        if m is None:
            continue
        scope_text, rest = m.group(1), m.group(2)
        scope: str | None = None
        if scope_text:
            try:
                scope = str(ipaddress.IPv4Address(scope_text))
            except ValueError:
                out.bad(number, f"scope {scope_text!r} is not an IPv4 address")
                continue
            if not any(s.key == scope for s in out.scopes):
                out.scopes.append(ScopeDecl(scope, f"scope {scope}", number, handle=scope))
        toks = tokens(rest)
        words = [t.lower() for t in toks]
        try:
            if words[:2] == ["add", "class"]:
                _add_class(win, toks[2:], number)
            elif words[:2] == ["add", "scope"] and len(toks) >= 4:
                _add_scope(out, toks[2:], number)
            elif words[:2] == ["set", "optionvalue"]:
                _set_value(out, win, toks[2:], scope, number)
            elif words[:2] == ["delete", "optionvalue"] and len(toks) >= 3:
                code = int(toks[2])
                vendor = next((kv[1] for t in toks[3:] if (kv := _kv(t)) and kv[0] == "vendor"), None)
                if vendor is None:
                    win.standard.pop((scope, code), None)
                else:
                    win.vendor.pop((scope, vendor, code), None)
        except (ValueError, IndexError) as exc:
            out.bad(number, f"{' '.join(toks[:3])}: {exc}")
    win.finish(out, [CLASS_LINE], text.splitlines())
    return out


def _add_class(win: WinConfig, toks: list[str], number: int) -> None:
    if len(toks) < 3:
        raise ValueError("expected: add class <name> <comment> <data> [1] [b]")
    name, data = toks[0], toks[2]
    is_vendor = len(toks) > 3 and toks[3] == "1"
    if len(toks) > 4 and toks[4].lower() == "b":
        try:
            data = bytes.fromhex(data).decode("latin-1")
        except ValueError:
            raise ValueError(f"class data {data!r} is marked binary (b) but is not hex") from None
    win.classes[name.lower()] = VendorClass(name, data, number, is_vendor)


def _add_scope(out: Parsed, toks: list[str], number: int) -> None:
    net = ipaddress.IPv4Network(f"{toks[0]}/{toks[1]}", strict=False)
    key = str(ipaddress.IPv4Address(toks[0]))
    for decl in out.scopes:
        if decl.key == key:
            decl.network, decl.label, decl.line = net, f"scope {key} ({net})", number
            return
    out.scopes.append(ScopeDecl(key, f"scope {key} ({net})", number, net, handle=key))


def _set_value(out: Parsed, win: WinConfig, toks: list[str], scope: str | None, number: int) -> None:
    if len(toks) < 2:
        raise ValueError("expected: set optionvalue <code> <type> <value>")
    code = int(toks[0])
    kind = norm_type(toks[1])
    if kind is None:
        raise ValueError(f"unknown data type {toks[1]!r}")
    vendor: str | None = None
    values: list[str] = []
    for tok in toks[2:]:
        kv = _kv(tok)
        if kv is not None:
            if kv[0] == "vendor":
                vendor = kv[1]
            continue
        values.append(tok)
    if not values:
        raise ValueError("no value")
    data = encode(kind, values)
    if vendor:
        win.vendor[(scope, vendor, code)] = (data, number)
    else:
        win.standard[(scope, code)] = (data, number)


DIALECT = Netsh()

__all__ = ["DIALECT", "Netsh", "tokens"]
