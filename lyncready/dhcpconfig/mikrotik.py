"""MikroTik RouterOS: ``/ip dhcp-server option`` values in hex, option sets, and (RouterOS 7) a matcher on
option 60; and reading an ``/export`` back.

Values are written as ``0x...`` hex: the exact bytes. RouterOS reads ``'...'`` as a string, but ``'10'`` as a
number and ``'10.0.0.1'`` as an IP address, and ``s'...'`` as a string always: the classic mistakes are
``value='443'`` (a one- or two-byte number) and option 120 or 119 given as text.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from .base import UC_CLASS_DATA, Dialect, Where, o43, o119, o120, o_ips, parse_ipv4
from .model import Parsed, ScopeDecl, ScopeSpec, Value

NAMES = {
    120: "lync-sip-server",
    43: "lync-ms-uc-client",
    119: "lync-search-list",
    4: "lync-time-servers",
    42: "lync-ntp-servers",
}
PHONES_SET = "lync-phones"
UC_SET = "lync-ms-uc-client"
UNBOUND = (
    "RouterOS 7 can restrict option 43 to vendor class MS-UC-Client with /ip dhcp-server matcher (code=60); "
    "RouterOS 6 cannot: there every client of the network gets option 43, so keep the phones in a network of their own"
)


class MikroTik(Dialect):
    name = "mikrotik"
    title = "MikroTik RouterOS, /ip dhcp-server"
    comment = "#"
    unbound_advice = UNBOUND

    def _opt(self, code: int, data: bytes) -> str:
        return f"add code={code} name={NAMES[code]} value=0x{data.hex()}"

    def _attach(self, where: Where, option_set: str) -> list[str]:
        if where.network is not None:
            return ["/ip dhcp-server network", f"set [find address={where.network}] dhcp-option-set={option_set}"]
        return ["/ip dhcp-server", f"set [find] dhcp-option-set={option_set}"]

    def lines_120(self, names: Sequence[str], where: Where) -> list[str]:
        return [
            "/ip dhcp-server option",
            self._opt(120, o120(names)),
            self.note(f"add {NAMES[120]} to the option set of {where.label}"),
        ]

    def lines_43(self, web: str, port: int, where: Where) -> list[str]:
        return [
            "/ip dhcp-server option",
            self._opt(43, o43(web, port)),
            "/ip dhcp-server option sets",
            f"add name={UC_SET} options={NAMES[43]}",
            *self.lines_class(),
        ]

    def lines_119(self, names: Sequence[str], where: Where) -> list[str]:
        return [
            "/ip dhcp-server option",
            self._opt(119, o119(names)),
            self.note(f"add {NAMES[119]} to the option set of {where.label}"),
        ]

    def lines_time(self, code: int, addresses: Sequence[str], where: Where) -> list[str]:
        return [
            "/ip dhcp-server option",
            self._opt(code, o_ips(addresses)),
            self.note(f"add {NAMES[code]} to the option set of {where.label}"),
        ]

    def lines_class(self) -> list[str]:
        return [
            "/ip dhcp-server matcher",
            f'add code=60 name={UC_SET} option-set={UC_SET} server=dhcp1 value="{UC_CLASS_DATA}"',
        ]

    def generate(self, spec: ScopeSpec) -> str:
        where = Where.of(spec)
        opts = spec.options()
        plain = [NAMES[c] for c in opts if c != 43]
        lines = [
            *self.header(spec),
            self.note("Values are hex (0x...): the exact bytes. 'value=443' or value='443' would be a number."),
            "/ip dhcp-server option",
            *(self._opt(code, data) for code, data in opts.items()),
            "/ip dhcp-server option sets",
            f"add name={PHONES_SET} options={','.join(plain)}",
            f"add name={UC_SET} options={','.join(NAMES[c] for c in opts)}",
            *self._attach(where, PHONES_SET),
            self.note("RouterOS 7: clients sending option 60 MS-UC-Client get the set with option 43."),
            self.note("Set server= to the name of your DHCP server (/ip dhcp-server print)."),
            *self.lines_class(),
            self.note(
                f"RouterOS 6 has no matcher: put {NAMES[43]} into {PHONES_SET} instead (every client of the "
                "network then gets option 43)."
            ),
        ]
        return "\n".join(lines) + "\n"

    def parse(self, text: str) -> Parsed:
        return _Reader().read(text)


# --- reading -------------------------------------------------------------------------------------------


def logical_lines(text: str) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    buf, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip()
        if not buf:
            start = number
        if line.endswith("\\"):
            buf += line[:-1].lstrip() if buf else line[:-1]
            continue
        buf += line.lstrip() if buf else line
        out.append((start, buf))
        buf = ""
    if buf:
        out.append((start, buf))
    return out


def props(text: str) -> tuple[list[str], dict[str, str]]:
    """Words and key=value properties of one command; values keep their own quoting except outer "..."."""
    words: list[str] = []
    kv: dict[str, str] = {}
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        if text[i] == "[":
            j = text.find("]", i)
            j = n if j < 0 else j + 1
            words.append(text[i:j])
            i = j
            continue
        m = re.match(r"([\w.-]+)=", text[i:])
        if m:
            key = m.group(1)
            i += m.end()
            if i < n and text[i] == '"':
                j = i + 1
                buf = []
                while j < n and text[j] != '"':
                    if text[j] == "\\" and j + 1 < n:
                        buf.append(text[j + 1])
                        j += 2
                        continue
                    buf.append(text[j])
                    j += 1
                kv[key] = "".join(buf)
                i = j + 1
            else:
                j = i
                quote = ""
                while j < n and (quote or not text[j].isspace()):
                    if text[j] == "'":
                        quote = "" if quote else "'"
                    j += 1
                kv[key] = text[i:j]
                i = j
            continue
        j = i
        while j < n and not text[j].isspace():
            j += 1
        words.append(text[i:j])
        i = j
    return words, kv


_PART = re.compile(r"0x([0-9A-Fa-f]*)|(s?)'([^']*)'|\$\(([^)]*)\)|\.")


def value_bytes(text: str) -> tuple[bytes, str]:
    """RouterOS option value -> (bytes, note). Raises ValueError for what cannot be known offline."""
    raw = text.strip()
    if not raw:
        return b"", ""
    if not re.match(r"^(0x|s?'|\$\()", raw):
        return raw.encode("latin-1", "replace"), "an unquoted value is read as text"
    out = b""
    notes: list[str] = []
    pos = 0
    while pos < len(raw):
        m = _PART.match(raw, pos)
        if m is None:
            raise ValueError(f"cannot read {raw[pos : pos + 20]!r} in the value")
        pos = m.end()
        if m.group(0) == ".":
            continue
        if m.group(1) is not None and m.group(0).startswith("0x"):
            digits = m.group(1)
            if len(digits) % 2:
                raise ValueError(f"0x{digits[:20]}...: an odd number of hex digits")
            out += bytes.fromhex(digits)
        elif m.group(4) is not None:
            raise ValueError(f"the variable $({m.group(4)}) is only known when a client asks")
        else:
            string, inner = m.group(2), m.group(3)
            if string:
                out += inner.encode("latin-1", "replace")
            elif parse_ipv4(inner):
                out += ipaddress.IPv4Address(inner).packed
            elif inner.isdigit():
                number = int(inner)
                size = 1 if number < 0x100 else 2 if number < 0x10000 else 4
                out += number.to_bytes(size, "big")
                notes.append(
                    f"'{inner}' is the number 0x{number:0{size * 2}X} ({size} byte{'s' if size > 1 else ''}), not "
                    f"the text {inner}: write s'{inner}' or hex 0x{inner.encode().hex()}"
                )
            else:
                out += inner.encode("latin-1", "replace")
    return out, "; ".join(notes)


@dataclass(slots=True)
class _Reader:
    out: Parsed = field(default_factory=lambda: Parsed("mikrotik"))
    options: dict[str, tuple[int, str, int]] = field(default_factory=dict)  # name -> (code, value text, line)
    sets: dict[str, list[str]] = field(default_factory=dict)
    networks: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    servers: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    matchers: list[tuple[int, dict[str, str]]] = field(default_factory=list)

    def read(self, text: str) -> Parsed:
        self.out.precedence = (("server", True), ("scope", True), ("server", False), ("scope", False))
        path = ""
        for number, line in logical_lines(text):
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            if stripped.startswith("/"):
                m = re.match(r"^(/[\w\s/-]*?)(?:\s+(add|set|remove)\b(.*))?$", stripped)
                if m is None:
                    continue
                path = " ".join(m.group(1).split())
                if not m.group(2):
                    continue
                stripped = f"{m.group(2)}{m.group(3)}"
            words, kv = props(stripped)
            if not words or words[0] not in ("add", "set"):
                continue
            self._command(path, words, kv, number)
        self._assemble()
        return self.out

    def _command(self, path: str, words: list[str], kv: dict[str, str], number: int) -> None:
        if path == "/ip dhcp-server option":
            if "code" in kv and "name" in kv:
                if not kv["code"].isdigit():
                    self.out.bad(number, f"code={kv['code']}: not a number")
                    return
                self.options[kv["name"]] = (int(kv["code"]), kv.get("value", ""), number)
        elif path == "/ip dhcp-server option sets":
            if "name" in kv:
                self.sets[kv["name"]] = [o for o in kv.get("options", "").split(",") if o]
        elif path == "/ip dhcp-server network":
            selector = " ".join(w for w in words[1:])
            if words[0] == "set":
                m = re.search(r"address=([\d./]+)", selector)
                if m:
                    kv = {"address": m.group(1), **kv}
                else:
                    self.out.skipped(number, "a network 'set' lyncready cannot tie to an address")
                    return
            self.networks.append((number, kv))
        elif path == "/ip dhcp-server":
            self.servers.append((number, kv))
        elif path == "/ip dhcp-server matcher":
            self.matchers.append((number, kv))

    def _values(self, names: Sequence[str], scope: str | None, vendor: bool, line: int) -> None:
        for name in names:
            found = self.options.get(name)
            if found is None:
                if name in self.sets:
                    self._values(self.sets[name], scope, vendor, line)
                else:
                    self.out.bad(line, f"option or option set {name!r} is not defined in this export")
                continue
            code, text, opt_line = found
            if code not in (3, 4, 6, 15, 42, 43, 60, 119, 120):
                continue
            try:
                data, note = value_bytes(text)
            except ValueError as exc:
                self.out.bad(opt_line, f"option {name!r}: {exc}")
                continue
            self.out.values.append(Value(code, data, opt_line, scope, vendor, note=note))

    def _assemble(self) -> None:
        for number, kv in self.servers:
            names = [*kv.get("dhcp-option", "").split(","), *self.sets.get(kv.get("dhcp-option-set", ""), [])]
            self._values([n for n in names if n], None, False, number)
        for number, kv in self.networks:
            try:
                net = ipaddress.IPv4Network(kv.get("address", ""), strict=False)
            except ValueError:
                self.out.bad(number, f"network address {kv.get('address')!r}")
                continue
            key = str(net)
            self.out.scopes.append(ScopeDecl(key, f"network {net}", number, net))
            names = [*kv.get("dhcp-option", "").split(","), *self.sets.get(kv.get("dhcp-option-set", ""), [])]
            self._values([n for n in names if n], key, False, number)
            if kv.get("ntp-server"):
                addresses = [parse_ipv4(a) for a in kv["ntp-server"].split(",")]
                if all(addresses):
                    self.out.values.append(Value(42, o_ips([a for a in addresses if a]), number, key, False))
        for number, kv in self.matchers:
            if kv.get("code") != "60":
                continue
            wanted = kv.get("value", "").strip("'")
            if wanted != UC_CLASS_DATA:
                if re.sub(r"[^a-z]", "", wanted.lower()) in ("msucclient", "msusclient"):
                    self.out.finding(
                        number,
                        "cfg.vendor_class_data",
                        "error",
                        f"the matcher compares option 60 with {wanted!r}; phones send 'MS-UC-Client', so it never "
                        "matches and phones get none of its options",
                        [f'set [find name={kv.get("name", "?")}] value="{UC_CLASS_DATA}"'],
                    )
                continue
            option_set = kv.get("option-set", "")
            if option_set not in self.sets:
                self.out.bad(number, f"matcher option-set={option_set!r} is not defined in this export")
                continue
            self._values(self.sets[option_set], None, True, number)


DIALECT = MikroTik()
