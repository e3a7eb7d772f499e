"""What Windows DHCP Server does with option values, shared by the netsh and PowerShell dialects.

Types: a STRING value goes on the wire with a terminating NUL byte; BINARY/ENCAPSULATED as the bytes given;
IPADDRESS as 4 bytes each; BYTE/WORD/DWORD as big-endian integers. Options set under a vendor class are
sent to clients whose option 60 equals the class *data* (not its name), as sub-options of option 43
(code, length, value), in option code order. Scope values override server values option by option.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from .base import UC_CLASS_DATA, UC_CLASS_NAME
from .model import Parsed, Value

TYPES = {
    "byte": "BYTE",
    "word": "WORD",
    "dword": "DWORD",
    "dworddword": "DWORDDWORD",
    "ipaddress": "IPADDRESS",
    "ipv4address": "IPADDRESS",
    "string": "STRING",
    "binary": "BINARY",
    "binarydata": "BINARY",
    "encapsulated": "ENCAPSULATED",
    "encapsulateddata": "ENCAPSULATED",
}
_SIZES = {"BYTE": 1, "WORD": 2, "DWORD": 4, "DWORDDWORD": 8}


def norm_type(text: str) -> str | None:
    return TYPES.get(text.strip().strip('"').lower())


def _number(text: str) -> int:
    t = text.strip()
    return int(t, 16) if t.lower().startswith("0x") else int(t)


def encode(kind: str, values: list[str]) -> bytes:
    """The wire bytes of a Windows option value; raises ValueError with a reason."""
    if kind == "STRING":
        return b"".join(v.encode("latin-1", "replace") + b"\x00" for v in values)
    if kind == "IPADDRESS":
        try:
            return b"".join(ipaddress.IPv4Address(v.strip()).packed for v in values)
        except ValueError:
            raise ValueError(f"{' '.join(values)!r} is not a list of IPv4 addresses") from None
    if kind in ("BINARY", "ENCAPSULATED"):
        digits = re.sub(r"[\s,:-]", "", "".join(values))
        if digits.lower().startswith("0x"):
            digits = digits[2:]
        if len(digits) % 2 or not re.fullmatch(r"[0-9A-Fa-f]*", digits):
            raise ValueError(f"{''.join(values)[:40]!r} is not hex")
        return bytes.fromhex(digits)
    if kind in _SIZES:
        try:
            return b"".join(_number(v).to_bytes(_SIZES[kind], "big") for v in values)
        except (ValueError, OverflowError):
            raise ValueError(f"{' '.join(values)!r} is not a list of {kind} numbers") from None
    raise ValueError(f"data type {kind!r}")


def looks_uc(text: str) -> bool:
    low = re.sub(r"[^a-z]", "", text.lower())
    return low in ("msucclient", "msusclient") or low.startswith("msuc")


@dataclass(slots=True)
class VendorClass:
    name: str
    data: str
    line: int
    vendor: bool = True


@dataclass(slots=True)
class WinConfig:
    """Option values as Windows stores them, before they become wire values."""

    classes: dict[str, VendorClass] = field(default_factory=dict)  # lower-case name -> class
    # (scope or None, code) -> (bytes, line)
    standard: dict[tuple[str | None, int], tuple[bytes, int]] = field(default_factory=dict)
    # (scope or None, vendor class name as written, code) -> (bytes, line)
    vendor: dict[tuple[str | None, str, int], tuple[bytes, int]] = field(default_factory=dict)

    def finish(self, out: Parsed, fix_class: list[str], source: Sequence[str] = ()) -> None:
        for (scope, code), (data, line) in self.standard.items():
            out.values.append(Value(code, data, line, scope, False))
        names = {name for _, name, _ in self.vendor}
        for name in sorted(names):
            cls = self.classes.get(name.lower())
            if cls is None:
                by_data = next((c for c in self.classes.values() if c.data == name), None)
                if by_data is not None:
                    lines = sorted(line for (_, n, _), (_, line) in self.vendor.items() if n == name)
                    fixed = [_rename(source[n - 1], name, by_data.name) for n in lines if 0 < n <= len(source)]
                    out.finding(
                        lines[0],
                        "cfg.vendor_class_name",
                        "error",
                        f"options are set for vendor class {name!r}, but that is the class *data*; the class is "
                        f"named {by_data.name!r}: Windows refuses these values (vendor class not found), so "
                        f"phones never get them (line(s) {', '.join(map(str, lines))})",
                        fixed,
                    )
                    continue
                if not looks_uc(name):
                    continue
                cls = VendorClass(name, UC_CLASS_DATA, 0)  # defined elsewhere on the server, as DHCPUtil does
            if cls.data != UC_CLASS_DATA:
                if looks_uc(cls.data) or looks_uc(cls.name):
                    out.finding(
                        cls.line,
                        "cfg.vendor_class_data",
                        "error",
                        f"vendor class {cls.name!r} has the data {cls.data!r}; phones send {UC_CLASS_DATA!r} in "
                        "option 60 and Windows compares it with the class data (case-sensitive), so phones never "
                        "match and get none of its options"
                        + (
                            f" ({UC_CLASS_NAME!r} is the class *name*, {UC_CLASS_DATA!r} its data)"
                            if cls.data.lower() == UC_CLASS_NAME.lower()
                            else ""
                        ),
                        fix_class,
                    )
                continue
            self._assemble(out, name)

    def _assemble(self, out: Parsed, name: str) -> None:
        mine = {(s, c): v for (s, n, c), v in self.vendor.items() if n == name}
        server = {c: v for (s, c), v in mine.items() if s is None}
        scopes = sorted({s for (s, _) in mine if s is not None})
        for code, (_, line) in server.items():
            if code in (6, 15, 42, 119, 120):
                self._inside_43(out, code, line, name)
        if server:
            out.values.append(_tlv_value(server, None))
        for scope in scopes:
            merged = dict(server)
            for (s, c), v in mine.items():
                if s == scope:
                    merged[c] = v
                    if c in (6, 15, 42, 119, 120):
                        self._inside_43(out, c, v[1], name)
            out.values.append(_tlv_value(merged, scope))

    @staticmethod
    def _inside_43(out: Parsed, code: int, line: int, name: str) -> None:
        out.finding(
            line,
            "win.option_in_vendor_class",
            "error",
            f"option {code} is set under vendor class {name!r}: Windows sends vendor-class options inside option "
            f"43 (as sub-option {code}), not as option {code}. Set it as a standard option (no vendor class)",
        )


def _rename(text: str, old: str, new: str) -> str:
    """A netsh / PowerShell line with its vendor class name replaced."""
    pattern = re.compile(r"(vendor=\"?|-VendorClass\s+[\"']?)" + re.escape(old), re.I)
    return pattern.sub(lambda m: m.group(1) + new, text.strip())


def _tlv_value(subs: dict[int, tuple[bytes, int]], scope: str | None) -> Value:
    data = b"".join(bytes([c, min(len(v), 255)]) + v[:255] for c, (v, _) in sorted(subs.items()))
    lines = {c: line for c, (_, line) in subs.items()}
    return Value(43, data, min(lines.values()), scope, True, sub_lines=lines)
