"""dnsmasq: ``dhcp-option=vendor:MS-UC-Client,...`` lines, and reading a dnsmasq.conf back.

What dnsmasq 2.90 does with them (measured in the netns lab, see tests/netlab.py): ``vendor:X`` matches X as a
case-sensitive substring of option 60; sub-options go out in reverse order followed by an end byte 0xFF;
``120,<name>`` gets the encoding byte 0 and labels; ``119`` is compressed; an unquoted all-digit value is an
integer (``4,443`` is the 2-byte number 0x01BB), so every value here is quoted.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from .base import UC_CLASS_DATA, Dialect, Where, all_digits, o119, o120, parse_ipv4, tag_for
from .model import Parsed, ScopeDecl, ScopeSpec, Value

NAMES = {
    "netmask": 1,
    "router": 3,
    "dns-server": 6,
    "domain-name": 15,
    "ntp-server": 42,
    "vendor-class": 60,
    "domain-search": 119,
    "sip-server": 120,
}
IP_LISTS = {3, 4, 6, 42}


def _q(text: str) -> str:
    return f'"{text}"'


class Dnsmasq(Dialect):
    name = "dnsmasq"
    title = "dnsmasq"
    comment = "#"

    def _tag(self, where: Where) -> str:
        """Options of a scope carry the tag of its dhcp-range; a range without a tag gets server-level lines."""
        return f"tag:{where.name}," if where.name else ""

    def lines_120(self, names: Sequence[str], where: Where) -> list[str]:
        return [f"dhcp-option={self._tag(where)}120,{','.join(names)}"]

    def lines_43(self, web: str, port: int, where: Where) -> list[str]:
        subs = [
            (1, UC_CLASS_DATA),
            (2, "https"),
            (3, web),
            (4, str(port)),
            (5, "/CertProv/CertProvisioningService.svc"),
        ]
        return [f"dhcp-option={self._tag(where)}vendor:{UC_CLASS_DATA},{code},{_q(v)}" for code, v in subs]

    def lines_119(self, names: Sequence[str], where: Where) -> list[str]:
        return [f"dhcp-option={self._tag(where)}119,{','.join(names)}"]

    def lines_time(self, code: int, addresses: Sequence[str], where: Where) -> list[str]:
        return [f"dhcp-option={self._tag(where)}{code},{','.join(addresses)}"]

    def generate(self, spec: ScopeSpec) -> str:
        where = Where.of(spec)
        if where.network is not None:
            where = Where(where.network, tag_for(where.network), where.assumed_prefix)
        lines = self.header(spec)
        lines.append(
            self.note(
                "'vendor:MS-UC-Client' = only clients whose option 60 contains MS-UC-Client (case-sensitive) get "
                "option 43; dnsmasq builds it from sub-options 1-5 (values quoted: an unquoted 443 would be a "
                "2-byte integer)"
            )
        )
        if where.network is not None:
            tag = tag_for(where.network)
            net = where.network
            lines += [
                self.note(
                    f"Scope {net}: the options below carry the tag '{tag}'. Add 'set:{tag}' to your dhcp-range "
                    f"for {net}, for example:"
                ),
                self.note(f"  dhcp-range=set:{tag},<first address>,<last address>,{net.netmask},12h"),
                self.note(
                    "(a separate 'static' range would tag DHCPINFORM only: the DISCOVER/REQUEST replies would lack "
                    "options 119, 4 and 42)"
                ),
            ]
        lines += self.lines_120([spec.sip_server], where)
        lines += self.lines_43(spec.web, spec.port, where)
        if spec.search_list:
            lines += self.lines_119(spec.search_list, where)
        if spec.ntp:
            lines += self.lines_time(4, spec.ntp, where)
            lines += self.lines_time(42, spec.ntp, where)
        return "\n".join(lines) + "\n"

    def parse(self, text: str) -> Parsed:
        return _Reader(self).read(text)


# --- reading -------------------------------------------------------------------------------------------


def split_commas(text: str) -> list[str]:
    """Comma-separated parts; double-quoted parts keep their quotes (dnsmasq treats them as strings)."""
    parts: list[str] = []
    cur: list[str] = []
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
            cur.append(ch)
        elif ch == "," and not quoted:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur).strip())
    return parts


def _unquote(part: str) -> tuple[str, bool]:
    if len(part) >= 2 and part[0] == part[-1] == '"':
        return part[1:-1], True
    return part, False


_COLON_HEX = re.compile(r"^[0-9A-Fa-f]{1,2}(?::[0-9A-Fa-f]{1,2})+$")


def encode_generic(parts: list[str]) -> tuple[bytes, str]:
    """dnsmasq's guess for an option it has no type for (and for vendor sub-options): (bytes, note)."""
    if len(parts) == 1:
        text, quoted = _unquote(parts[0])
        if quoted:
            return text.encode("latin-1", "replace"), ""
        if all_digits(text):
            number = int(text)
            size = 1 if number < 0x100 else 2 if number < 0x10000 else 4
            return number.to_bytes(size, "big"), (
                f"the unquoted all-digit value {text} is sent as a {size}-byte integer (0x{number:0{size * 2}X}), "
                f'not as text: quote it ("{text}")'
            )
        if _COLON_HEX.match(text):
            return bytes(int(b, 16) for b in text.split(":")), ""
    if parts and all(parse_ipv4(p) for p in parts):
        return b"".join(ipaddress.IPv4Address(p).packed for p in parts), ""
    return ",".join(_unquote(p)[0] for p in parts).encode("latin-1", "replace"), ""


@dataclass(slots=True)
class _Opt:
    line: int
    tags: list[str]
    vendor: str | None
    encap: bool
    code: int
    parts: list[str]
    force: bool


@dataclass(slots=True)
class _Reader:
    dialect: Dnsmasq
    out: Parsed = field(init=False)
    range_tags: dict[str, str] = field(default_factory=dict)  # tag -> scope key
    uc_tags: set[str] = field(default_factory=set)  # tags set by dhcp-vendorclass matching MS-UC-Client
    opts: list[_Opt] = field(default_factory=list)
    text_lines: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.out = Parsed("dnsmasq")

    def read(self, text: str) -> Parsed:
        self.text_lines = text.splitlines()
        for number, raw in enumerate(self.text_lines, start=1):
            line = _strip_comment(raw).strip()
            if not line:
                continue
            if line.startswith("--"):
                line = line[2:]
            key, _, value = line.partition("=")
            key = key.strip().lower()
            if key in ("dhcp-option", "dhcp-option-force"):
                self._option(number, value, key.endswith("force"))
            elif key == "dhcp-range":
                self._range(number, value)
            elif key == "dhcp-vendorclass":
                self._vendorclass(number, value)
            elif key == "conf-file" or key == "conf-dir":
                self.out.skipped(number, f"{key} is not followed: lint the included files too")
        self._assemble()
        return self.out

    def _range(self, number: int, value: str) -> None:
        parts = split_commas(value)
        tags: list[str] = []
        while parts and re.match(r"^(set|tag|net):", parts[0], re.I):
            kind, _, tag = parts.pop(0).partition(":")
            if kind.lower() in ("set", "net"):
                tags.append(tag)
        if len(parts) >= 2 and parse_ipv4(parts[0]) is None and parse_ipv4(parts[1]) is not None:
            tags.append(parts.pop(0))  # old syntax: dhcp-range=<network-id>,start,end
        start = parse_ipv4(parts[0]) if parts else None
        if start is None:
            if parts and ":" in parts[0]:
                return  # an IPv6 range
            self.out.bad(number, f"dhcp-range={value.strip()}: no IPv4 start address")
            return
        mask = parts[2] if len(parts) > 2 and parse_ipv4(parts[2]) else None
        try:
            net = ipaddress.IPv4Network(f"{start}/{mask or '255.255.255.0'}", strict=False)
        except ValueError:
            self.out.bad(number, f"dhcp-range: {mask!r} is not a netmask")
            return
        key = str(net)
        if not any(s.key == key for s in self.out.scopes):
            end = parts[1] if len(parts) > 1 else ""
            label = f"dhcp-range {start}-{end}" if parse_ipv4(end) else f"dhcp-range {start} ({end})"
            self.out.scopes.append(ScopeDecl(key, f"{label} ({net})", number, net, handle=tags[0] if tags else None))
        for tag in tags:
            self.range_tags[tag] = key
            for decl in self.out.scopes:
                if decl.key == key and decl.handle is None:
                    decl.handle = tag

    def _vendorclass(self, number: int, value: str) -> None:
        parts = split_commas(value)
        if len(parts) < 2:
            self.out.bad(number, f"dhcp-vendorclass={value.strip()}: expected set:<tag>,<vendor class>")
            return
        tag = re.sub(r"^(set|net):", "", parts[0], flags=re.I)
        data = _unquote(",".join(parts[1:]))[0]
        if data and data in UC_CLASS_DATA:
            self.uc_tags.add(tag)
        elif _looks_uc(data):
            self.out.finding(
                number,
                "cfg.vendor_class_data",
                "error",
                f"dhcp-vendorclass matches {data!r}, which is not part of what phones send in option 60 "
                f"('MS-UC-Client', matched as a case-sensitive substring): tag '{tag}' is never set for a phone"
                + (" ('MSUCClient' is the Windows class *name*, not its data)" if data.lower() == "msucclient" else ""),
                [f"dhcp-vendorclass=set:{tag},{UC_CLASS_DATA}"],
            )

    def _option(self, number: int, value: str, force: bool) -> None:
        parts = split_commas(value)
        tags: list[str] = []
        vendor: str | None = None
        encap = False
        while parts:
            head = parts[0]
            low = head.lower()
            if low.startswith(("tag:", "net:")):
                tags.append(head[4:])
            elif low.startswith("vendor:"):
                vendor = head[7:]
            elif low.startswith("encap:"):
                encap = head[6:].strip() == "43"
                if not encap:
                    return
            elif low.startswith(("vi-encap:", "option6:")):
                return
            else:
                break
            parts.pop(0)
        if not parts:
            self.out.bad(number, f"dhcp-option={value.strip()}: no option number")
            return
        head = parts.pop(0)
        if head.lower().startswith("option:"):
            code = NAMES.get(head[7:].lower(), -1)
            if code < 0:
                return  # an option lyncready does not judge
        elif head.isdigit():
            code = int(head)
        else:
            self.out.bad(number, f"dhcp-option={value.strip()}: {head!r} is not an option number or option:<name>")
            return
        self.opts.append(_Opt(number, tags, vendor, encap, code, parts, force))

    # --- turning the lines into values -------------------------------------------------------------------

    def _where(self, opt: _Opt) -> tuple[str | None, bool] | None:
        """(scope key or None, vendor-bound) for an option's tags; None when lyncready cannot tell who gets it."""
        scope: str | None = None
        vendor = False
        for tag in opt.tags:
            if tag.startswith("!"):
                return None
            if tag in self.range_tags:
                scope = self.range_tags[tag]
            elif tag in self.uc_tags:
                vendor = True
            else:
                return None
        return scope, vendor

    def _assemble(self) -> None:
        subs: dict[tuple[str | None, bool], list[_Opt]] = {}
        wrong: dict[tuple[str, str | None], list[_Opt]] = {}
        for opt in self.opts:
            where = self._where(opt)
            if where is None:
                self.out.skipped(
                    opt.line,
                    f"option {opt.code} carries tag(s) {', '.join(opt.tags)} that no dhcp-range or MS-UC-Client "
                    "dhcp-vendorclass sets: lyncready cannot tell which clients get it, so it is not counted",
                )
                continue
            scope, vendor = where
            if opt.vendor is not None:
                if not opt.vendor or opt.vendor not in UC_CLASS_DATA:
                    if _looks_uc(opt.vendor):
                        wrong.setdefault((opt.vendor, scope), []).append(opt)
                    continue
                subs.setdefault((scope, True), []).append(opt)
                continue
            if opt.encap:
                subs.setdefault((scope, vendor), []).append(opt)
                continue
            data, note = self._encode(opt)
            if data is None:
                continue
            self.out.values.append(Value(opt.code, data, opt.line, scope, vendor, note=note))
        for (name, scope), opts in wrong.items():
            self.out.finding(
                opts[0].line,
                "cfg.vendor_class_data",
                "error",
                f"'vendor:{name}' never matches a phone (line(s) {', '.join(str(o.line) for o in opts)}): dnsmasq "
                "compares it as a case-sensitive substring of option 60, and phones send 'MS-UC-Client'"
                + (" ('MSUCClient' is the Windows class *name*)" if name.lower() == "msucclient" else ""),
                [_with_vendor(self.text_lines[o.line - 1], name) for o in opts],
                scope,
            )
        for (scope, vendor), items in subs.items():
            # dnsmasq sends the sub-options in reverse order, then an end byte
            data = b""
            lines: dict[int, int] = {}
            notes: list[str] = []
            for opt in reversed(items):
                value, note = encode_generic(opt.parts)
                if note:
                    notes.append(f"sub-option {opt.code}: {note}")
                data += bytes([opt.code, min(len(value), 255)]) + value[:255]
                lines.setdefault(opt.code, opt.line)
            data += b"\xff"
            first = min(o.line for o in items)
            self.out.values.append(Value(43, data, first, scope, vendor, sub_lines=lines, note="; ".join(notes)))

    def _encode(self, opt: _Opt) -> tuple[bytes | None, str]:
        parts = opt.parts
        code = opt.code
        if not parts or parts == [""]:
            return b"", ""
        if code in IP_LISTS:
            addresses = [parse_ipv4(_unquote(p)[0]) for p in parts]
            if any(a is None for a in addresses):
                self.out.bad(opt.line, f"option {code}: {','.join(parts)!r} is not a list of IPv4 addresses")
                return None, ""
            return b"".join(ipaddress.IPv4Address(a).packed for a in addresses if a), ""
        if code == 119:
            if len(parts) == 1 and _COLON_HEX.match(parts[0]):
                self.out.finding(
                    opt.line,
                    "dnsmasq.rejected",
                    "error",
                    "dnsmasq refuses hex for option 119 ('bad domain in dhcp-option') and does not start: list the "
                    "domains instead",
                )
                return None, ""
            names = [_unquote(p)[0] for p in parts]
            try:
                return o119(names), ""
            except ValueError as exc:
                self.out.bad(opt.line, f"option 119: {exc}")
                return None, ""
        if code == 120:
            if len(parts) == 1 and _COLON_HEX.match(parts[0]):
                return bytes(int(b, 16) for b in parts[0].split(":")), "hex, sent as it is"
            values = [_unquote(p)[0] for p in parts]
            if all(parse_ipv4(v) for v in values):
                return b"\x01" + b"".join(ipaddress.IPv4Address(v).packed for v in values), ""
            try:
                return o120(values), ""
            except ValueError as exc:
                self.out.bad(opt.line, f"option 120: {exc}")
                return None, ""
        if code in (15, 60):
            return ",".join(_unquote(p)[0] for p in parts).encode("latin-1", "replace"), ""
        return encode_generic(parts)


def _with_vendor(line: str, wrong: str) -> str:
    return line.strip().replace(f"vendor:{wrong},", f"vendor:{UC_CLASS_DATA},")


def _looks_uc(text: str) -> bool:
    low = re.sub(r"[^a-z]", "", text.lower())
    return low in ("msucclient", "msusclient", "ucclient") or "msuc" in low


def _strip_comment(line: str) -> str:
    quoted = False
    for i, ch in enumerate(line):
        if ch == '"':
            quoted = not quoted
        elif ch == "#" and not quoted and (i == 0 or line[i - 1].isspace()):
            return line[:i]
    return line


DIALECT = Dnsmasq()

__all__ = ["DIALECT", "Dnsmasq", "encode_generic", "split_commas"]
