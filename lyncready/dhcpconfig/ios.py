"""Cisco IOS / IOS XE DHCP server: ``ip dhcp pool`` with ``option 120 hex`` and ``option 43 hex``; and reading
``ip dhcp pool`` blocks back.

IOS cannot match option 60, so option 43 goes to every client of the pool: phones need a pool (VLAN) of their
own. IOS 15.1(3)S and later keep only the first 180 hex characters of ``option NN hex`` without a word; a longer
option 43 (a web services FQDN longer than about 23 characters) is written in the long-option form
``option ext 43 hex`` (IOS XE 3.2.1S and later), as lyncready's decoder and ``dhcp decode`` expect it.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence

from ..codecs import CISCO_HEX_LIMIT
from .base import Dialect, Where, hex_dotted, o43, o119, o120, parse_ipv4, tag_for
from .model import Parsed, ScopeDecl, ScopeSpec, Value

UNBOUND = (
    "IOS cannot match option 60, so option 43 goes to every client of the pool: keep the phones in a VLAN (pool) "
    "of their own, or serve option 43 from a server that matches vendor classes"
)


class Ios(Dialect):
    name = "ios"
    title = "Cisco IOS / IOS XE DHCP server"
    comment = "!"
    unbound_advice = UNBOUND

    def _hex(self, code: int, data: bytes) -> list[str]:
        digits = len(data) * 2
        if digits <= CISCO_HEX_LIMIT:
            return [f" option {code} hex {hex_dotted(data)}"]
        return [
            f" ! option {code} is {digits} hex characters: 'option {code} hex' would be cut at {CISCO_HEX_LIMIT} "
            f"(IOS 15.1(3)S and later), so the long-option form is used (IOS XE 3.2.1S and later)",
            f" option ext {code} hex {hex_dotted(data)}",
        ]

    def _pool(self, where: Where) -> list[str]:
        if where.name and where.network is None:
            return [f"ip dhcp pool {where.name}"]
        name = where.name or tag_for(where.network).upper()
        lines = [f"ip dhcp pool {name}"]
        if where.network is not None:
            lines.append(f" network {where.network.network_address} {where.network.netmask}")
        return lines

    def lines_120(self, names: Sequence[str], where: Where) -> list[str]:
        return [*self._pool(where), *self._hex(120, o120(names))]

    def lines_43(self, web: str, port: int, where: Where) -> list[str]:
        return [*self._pool(where), *self._hex(43, o43(web, port))]

    def lines_119(self, names: Sequence[str], where: Where) -> list[str]:
        return [*self._pool(where), *self._hex(119, o119(names))]

    def lines_time(self, code: int, addresses: Sequence[str], where: Where) -> list[str]:
        return [*self._pool(where), f" option {code} ip {' '.join(addresses)}"]

    def generate(self, spec: ScopeSpec) -> str:
        where = Where.of(spec)
        lines = [*self.header(spec), self.note(UNBOUND)]
        if where.network is None:
            lines.append(
                self.note(
                    "No --scope: copy the option lines into the ip dhcp pool of each phone VLAN (this pool has no "
                    "network statement, so it serves no client as it stands)"
                )
            )
        lines += self._pool(where)
        lines += self._hex(120, spec.o120())
        lines += self._hex(43, spec.o43())
        if spec.search_list:
            lines += self._hex(119, spec.o119())
        if spec.ntp:
            lines.append(f" option 4 ip {' '.join(spec.ntp)}")
            lines.append(f" option 42 ip {' '.join(spec.ntp)}")
        lines.append("!")
        return "\n".join(lines) + "\n"

    def parse(self, text: str) -> Parsed:
        return _read(text)


_OPTION = re.compile(r"^option\s+(ext\s+)?(\d{1,3})(?:\s+instance\s+\d+)?\s+(hex|ascii|ip)\s+(.*?)\s*$", re.I)


def _read(text: str) -> Parsed:
    out = Parsed("ios")
    out.precedence = (("scope", False), ("server", False))
    pool: str | None = None
    values: dict[tuple[str, int], tuple[bytes, int, bool]] = {}  # (pool, code) -> (bytes, line, ext)
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("!"):
            if stripped.startswith("!") and not raw.startswith(" "):
                pool = None
            continue
        m = re.match(r"^ip\s+dhcp\s+pool\s+(\S+)", stripped, re.I)
        if m and not raw[:1].isspace():
            pool = m.group(1)
            if not any(s.key == pool for s in out.scopes):
                out.scopes.append(ScopeDecl(pool, f"pool {pool}", number, handle=pool))
            continue
        if not raw[:1].isspace() and not stripped.lower().startswith(("network", "option")):
            pool = None
            continue
        if pool is None:
            continue
        low = stripped.lower()
        if low.startswith("network "):
            parts = stripped.split()
            try:
                mask = parts[2].lstrip("/") if len(parts) > 2 else "24"
                net = ipaddress.IPv4Network(f"{parts[1]}/{mask}", strict=False)
            except (ValueError, IndexError):
                out.bad(number, f"{stripped!r}: expected 'network <address> <mask>'")
                continue
            for decl in out.scopes:
                if decl.key == pool:
                    decl.network = net
                    decl.label = f"pool {pool} ({net})"
            continue
        om = _OPTION.match(stripped)
        if om is None:
            if low.startswith("option"):
                out.bad(number, f"{stripped[:60]!r}: expected 'option <code> hex|ascii|ip <value>'")
            continue
        ext, code, kind, arg = bool(om.group(1)), int(om.group(2)), om.group(3).lower(), om.group(4)
        try:
            data = _value(kind, arg)
        except ValueError as exc:
            out.bad(number, f"option {code} {kind}: {exc}")
            continue
        key = (pool, code)
        if ext and key in values and values[key][2]:
            old = values[key]
            values[key] = (old[0] + data, old[1], True)
        else:
            values[key] = (data, number, ext)
        if kind == "hex" and not ext and len(data) * 2 > CISCO_HEX_LIMIT and code != 43:
            out.finding(
                number,
                "ios.hex_over_180",
                "error",
                f"pool {pool}: 'option {code} hex' has {len(data) * 2} hex characters; IOS 15.1(3)S and later keep "
                f"only the first {CISCO_HEX_LIMIT} ({CISCO_HEX_LIMIT // 2} bytes) without a warning",
                [f" option ext {code} hex {hex_dotted(data)}"],
                pool,
            )
    for (name, code), (data, line, ext) in values.items():
        if not ext and len(data) * 2 > CISCO_HEX_LIMIT:
            data = data[: CISCO_HEX_LIMIT // 2]  # what the phone receives
        out.values.append(Value(code, data, line, name, False))
    _parents(out)
    return out


def _value(kind: str, arg: str) -> bytes:
    if kind == "hex":
        digits = re.sub(r"[\s.:]", "", arg)
        if digits.lower().startswith("0x"):
            digits = digits[2:]
        if not re.fullmatch(r"[0-9A-Fa-f]*", digits) or not digits:
            raise ValueError(f"{arg[:40]!r} is not hex")
        if len(digits) % 2:
            raise ValueError(f"{len(digits)} hex digits, an odd number")
        return bytes.fromhex(digits)
    if kind == "ascii":
        text = arg.strip()
        if len(text) >= 2 and text[0] == text[-1] == '"':
            text = text[1:-1]
        return text.encode("latin-1", "replace")
    addresses = [parse_ipv4(a) for a in arg.split()]
    if not addresses or any(a is None for a in addresses):
        raise ValueError(f"{arg!r} is not a list of IPv4 addresses")
    return b"".join(ipaddress.IPv4Address(a).packed for a in addresses if a)


def _parents(out: Parsed) -> None:
    """IOS pools inherit from the pool whose network is the smallest one containing theirs."""
    for decl in out.scopes:
        if decl.network is None:
            continue
        best: ScopeDecl | None = None
        for other in out.scopes:
            if other is decl or other.network is None or other.network == decl.network:
                continue
            if decl.network.subnet_of(other.network) and (
                best is None or best.network is None or other.network.prefixlen > best.network.prefixlen
            ):
                best = other
        decl.parent = best.key if best is not None else None


DIALECT = Ios()
