"""Hex as admins paste it: bare hex in any separator style, Wireshark/xxd hex dumps, DHCPUtil output and its
``Configure MS-UC-Client ...`` line (wrapped at 80 columns by the console), Cisco IOS ``option NN hex`` lines.
"""

from __future__ import annotations

import ipaddress
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass

from .base import Diagnostic, Diags, HexInputError, clip, hexu
from .dhcp import CERT_PROV_PATH, CISCO_HEX_LIMIT, UC_CLIENT, _parse_tlv, decode_120, guess_option, suboptions_to_43
from .names import hostname_problem

_HEX = re.compile(r"^[0-9A-Fa-f]+$")
_MAX_WRAP_CHOICES = 12  # line breaks inside the Configure arguments tried both ways (2**12 candidates)


@dataclass(frozen=True, slots=True)
class PastedInput:
    """What a paste holds.

    ``parts``: every (option code, value) the paste names, in order (a Cisco pool, DHCPUtil output and the
    ``Configure`` line name 120 and 43). ``option``/``data``: the single option named, or ``None``/the bytes
    when the paste is bare hex (see :attr:`option_guess`); ``None``/``b""`` when it names several options.
    ``form``: ``hex``, ``hexdump``, ``dhcputil``, ``configure`` or ``cisco``.
    """

    option: int | None
    data: bytes
    parts: tuple[tuple[int, bytes], ...] = ()
    form: str = "hex"
    diagnostics: tuple[Diagnostic, ...] = ()

    @property
    def option_guess(self) -> int | None:
        """The named option, else a guess from the bytes (None when the paste names several or nothing fits)."""
        if self.option is not None:
            return self.option
        if len(self.parts) > 1 or not self.data:
            return None
        return guess_option(self.data) or None

    def get(self, code: int) -> bytes | None:
        """The value of one option named in the paste (instances joined), None when absent."""
        values = [v for c, v in self.parts if c == code]
        return b"".join(values) if values else None


def parse_hex_input(text: str) -> PastedInput:
    """Read pasted hex; raise :class:`HexInputError` (one-line message) when it holds no usable hex."""
    if isinstance(text, bytes | bytearray):
        text = bytes(text).decode("utf-8", "replace")
    norm = _normalise(str(text))
    if not norm.strip():
        raise HexInputError("empty input: paste the option value as hex, e.g. 00046C796E63...")
    for parser in (_dhcputil, _configure, _cisco, _hexdump):
        found = parser(norm)
        if found is not None:
            return found
    return _plain(norm)


def _normalise(text: str) -> str:
    table = {"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'", "\u00a0": " ", "\u2013": "-", "\u2014": "-"}
    for a, b in table.items():
        text = text.replace(a, b)
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _result(parts: list[tuple[int, bytes]], form: str, d: Diags) -> PastedInput:
    if len({c for c, _ in parts}) == 1:
        code = parts[0][0]
        return PastedInput(code, b"".join(v for _, v in parts), tuple(parts), form, tuple(d.items))
    return PastedInput(None, b"", tuple(parts), form, tuple(d.items))


def _hex_bytes(digits: str, d: Diags, where: str) -> bytes:
    if len(digits) % 2:
        d.warning(
            "odd_digits",
            f"{where}: {len(digits)} hex digits, an odd number: the last digit was dropped; "
            "a digit is missing or the value was cut",
        )
        digits = digits[:-1]
    return bytes.fromhex(digits)


# --- DHCPUtil output -----------------------------------------------------------------------------------

_ROPT = re.compile(r"^\s*Option\s*(\d{1,3})\s*[:=]\s*([0-9A-Fa-f ]*)$", re.I)
_RFULL = re.compile(r"^\s*Full\s+Option\s+43\s+value\s*\(\s*Length\s*:\s*(\d+)\s*\)\s*:\s*([0-9A-Fa-f]*)\s*$", re.I)
_RSUB = re.compile(r"^\s*sub-?option\s+(\d{1,3})\s*(?:<[^>]*>)?\s*:\s*([0-9A-Fa-f]*)\s*$", re.I)
_REMU = re.compile(r"^\s*DHCP:\s.*?\(\s*(\d{1,3})\s*\)\s*=\s*\(\s*Length:\s*(\d+)\s*\).*?\(([0-9A-Fa-f]+)\)?\s*$")
_RCONT = re.compile(r"^\s*([0-9A-Fa-f]+)\s*$")


def _dhcputil(text: str) -> PastedInput | None:
    d = Diags("paste")
    named: list[tuple[int, list[str]]] = []
    full: list[str] | None = None
    full_length = 0
    subs: list[tuple[int, list[str]]] = []
    emulated: list[tuple[int, int, list[str]]] = []
    current: list[str] | None = None
    for line in text.split("\n"):
        if m := _ROPT.match(line):
            current = [m.group(2).replace(" ", "")]
            named.append((int(m.group(1)), current))
        elif m := _RFULL.match(line):
            full_length = int(m.group(1))
            full = current = [m.group(2)]
        elif m := _RSUB.match(line):
            current = [m.group(2)]
            subs.append((int(m.group(1)), current))
        elif m := _REMU.match(line):
            current = [m.group(3)]
            emulated.append((int(m.group(1)), int(m.group(2)), current))
        elif current is not None and (m := _RCONT.match(line)):
            current.append(m.group(1))
        else:
            current = None
    if not named and full is None and not subs and not emulated:
        return None
    parts: list[tuple[int, bytes]] = []
    for code, chunks in named:
        parts.append((code, _hex_bytes("".join(chunks), d, f"Option {code}")))
    if full is not None:
        digits = "".join(full)
        if full_length and full_length != len(digits):
            d.warning(
                "length_mismatch",
                f"DHCPUtil says 'Length: {full_length}' (hex characters, i.e. {full_length // 2} bytes) but the "
                f"pasted value has {len(digits)} hex characters: part of it is missing or extra",
            )
        value = _hex_bytes(digits, d, "Full Option 43 value")
        in_full = dict(reversed(_parse_tlv(value).subs))
        differ = [code for code, chunks in subs if in_full.get(code) != _hex_bytes("".join(chunks), Diags("x"), "")]
        if differ:
            d.warning(
                "inconsistent",
                f"the 'Full Option 43 value' differs from the sub-option {', '.join(map(str, differ))} line(s); "
                "the full value was used",
            )
        parts.append((43, value))
    elif subs:
        parts.append((43, _subs_to_43(subs, d)))
    for code, length, chunks in emulated:
        value = _hex_bytes("".join(chunks), d, f"option {code}")
        if length != len(value):
            d.warning(
                "cut",
                f"DHCPUtil shows option {code} with 'Length: {length}' (bytes here) but only {len(value)} bytes "
                "of hex: the display was cut; paste the full hex",
            )
        if code in (0, 255):
            continue
        parts.append((code, value))
    if not parts:
        return None
    return _result(parts, "dhcputil", d)


def _subs_to_43(subs: list[tuple[int, list[str]]], d: Diags) -> bytes:
    values: list[tuple[int, bytes]] = []
    for code, chunks in subs:
        value = _hex_bytes("".join(chunks), d, f"sub-option {code}")
        if not 0 < code < 255:
            d.warning("bad_suboption", f"sub-option {code} cannot be encoded (codes are 1-254); skipped")
            continue
        if len(value) > 255:
            d.warning("long_suboption", f"sub-option {code} is {len(value)} bytes; only 255 fit: cut")
        values.append((code, value))
    return suboptions_to_43(values)


# --- DHCPConfigScript.bat Configure line ---------------------------------------------------------------

_RCONF = re.compile(r"\bConfigure\s+(\S+)\s+(?=[0-9A-Fa-f])")


def _configure(text: str) -> PastedInput | None:
    m = _RCONF.search(text)
    if m is None:
        return None
    d = Diags("paste")
    vendor = m.group(1).strip("\"'")
    if vendor != UC_CLIENT:
        d.warning(
            "vendor_class",
            f"the Configure line names vendor class {vendor!r}; phones send 'MS-UC-Client' (case-sensitive)",
        )
    rest = text[m.end() :]
    tokens: list[str] = []
    breaks: list[bool] = []  # breaks[i]: a line break sits between tokens[i] and tokens[i + 1]
    line_long: list[bool] = []  # the line before that break fills the console (79-80 columns or more)
    prev_end = 0
    for tok in re.finditer(r"\S+", rest):
        word = tok.group(0).strip("\"'")
        if not _HEX.match(word):
            break
        if tokens:
            gap = rest[prev_end : tok.start()]
            breaks.append("\n" in gap)
            line_start = text.rfind("\n", 0, m.end() + prev_end) + 1
            line_long.append(m.end() + prev_end - line_start >= 79)
        tokens.append(word)
        prev_end = tok.end()
    if not tokens:
        return None
    args = _unwrap(tokens, breaks, line_long)
    if len(args) != 6:
        d.warning(
            "configure_args",
            f"expected 6 hex values after 'Configure {vendor}' (option 120, then sub-options 1 to 5), "
            f"found {len(args)}; the values were read in that order",
        )
    values = [_hex_bytes(a, d, "option 120" if i == 0 else f"sub-option {i}") for i, a in enumerate(args)]
    parts: list[tuple[int, bytes]] = [(120, values[0])]
    if len(values) > 1:
        parts.append((43, suboptions_to_43(list(enumerate(values[1:6], start=1)))))
    return _result(parts, "configure", d)


def _unwrap(tokens: list[str], breaks: list[bool], line_long: list[bool]) -> list[str]:
    """Undo console wrapping: decide for each line break whether it split a value or separated two."""
    where = [i for i, b in enumerate(breaks) if b]
    if len(where) > _MAX_WRAP_CHOICES:
        return _join(tokens, {i for i in where if line_long[i]})
    best: tuple[float, list[str]] | None = None
    for choice in itertools.product((False, True), repeat=len(where)):
        joins = {i for i, j in zip(where, choice, strict=True) if j}
        args = _join(tokens, joins)
        score = _score(args) + 0.5 * sum(1 for i in joins if line_long[i])
        if best is None or score > best[0]:
            best = (score, args)
    assert best is not None
    return best[1]


def _join(tokens: list[str], joins: set[int]) -> list[str]:
    out = [tokens[0]]
    for i, tok in enumerate(tokens[1:]):
        if i in joins:
            out[-1] += tok
        else:
            out.append(tok)
    return out


def _score(args: list[str]) -> float:
    score = 100.0 if len(args) == 6 else -10.0 * abs(len(args) - 6)
    score -= 50 * sum(len(a) % 2 for a in args)
    if any(len(a) % 2 for a in args):
        return score
    vals = [bytes.fromhex(a) for a in args]
    if decode_120(vals[0]).valid:
        score += 10
    checks: list[Callable[[bytes], bool]] = [
        lambda v: v == UC_CLIENT.encode(),
        lambda v: v.lower() in (b"https", b"http"),
        lambda v: _ascii(v) and hostname_problem(v.decode()) is None and "." in v.decode(),
        lambda v: v.isdigit(),
        lambda v: v.lower() == CERT_PROV_PATH.lower().encode() or v.startswith(b"/"),
    ]
    for check, v in zip(checks, vals[1:], strict=False):
        if check(v):
            score += 5
    return score


def _ascii(v: bytes) -> bool:
    return bool(v) and all(0x20 <= b < 0x7F for b in v)


# --- Cisco IOS -----------------------------------------------------------------------------------------

_RCISCO = re.compile(r"^\s*option\s+(ext\s+)?(\d{1,3})\s+(hex|ascii|ip)\s+(.*?)\s*$", re.I)


def _cisco(text: str) -> PastedInput | None:
    found = [(m, line) for line in text.split("\n") if (m := _RCISCO.match(line))]
    if not found:
        return None
    d = Diags("paste")
    values: dict[int, list[bytes]] = {}
    order: list[int] = []
    for m, line in found:
        ext, code, kind, arg = bool(m.group(1)), int(m.group(2)), m.group(3).lower(), m.group(4)
        if kind == "hex":
            digits = re.sub(r"[\s.:]", "", arg)
            if digits.lower().startswith("0x"):
                digits = digits[2:]
            if not _HEX.match(digits):
                raise HexInputError(f"Cisco line {clip(line.strip(), 60)!r}: {arg[:40]!r} is not hex")
            if not ext and len(digits) > CISCO_HEX_LIMIT:
                d.warning(
                    "cisco_180",
                    f"'option {code} hex' has {len(digits)} hex characters; Cisco IOS 15.1(3)S and later keep only "
                    f"the first {CISCO_HEX_LIMIT} ({CISCO_HEX_LIMIT // 2} bytes) without a warning, so clients get "
                    f"a cut value. Use 'option ext {code} hex' (IOS XE 3.2.1S and later) or another DHCP server",
                )
            value = _hex_bytes(digits, d, f"option {code}")
        elif kind == "ascii":
            raw = arg.strip()
            if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":
                raw = raw[1:-1]
            value = raw.encode("latin-1", "replace")
        else:
            try:
                value = b"".join(ipaddress.IPv4Address(a).packed for a in arg.split())
            except ValueError:
                raise HexInputError(f"Cisco line {clip(line.strip(), 60)!r}: not a list of IPv4 addresses") from None
        if code in values and not ext:
            d.warning("duplicate_option", f"option {code} is set more than once; IOS keeps the last line")
            values[code] = [value]
        else:
            values.setdefault(code, []).append(value)
        if code not in order:
            order.append(code)
    return _result([(code, b"".join(values[code])) for code in order], "cisco", d)


# --- hex dumps (Wireshark "Copy as Hex Dump", xxd) -----------------------------------------------------

_RDUMP = re.compile(r"^\s*([0-9A-Fa-f]{4,8})(:\s*|\s{2,})(.*)$")


def _hexdump(text: str) -> PastedInput | None:
    lines = [line for line in text.split("\n") if line.strip()]
    if not lines:
        return None
    out = bytearray()
    expected: int | None = None
    colon = False
    for line in lines:
        m = _RDUMP.match(line)
        if m is None:
            return None
        colon = m.group(2).startswith(":")
        offset = int(m.group(1), 16)
        if expected is None:
            if len(lines) == 1 and offset != 0:
                return None
        elif offset != expected:
            return None
        row = _dump_row(m.group(3))
        if not row:
            return None
        out += row
        expected = offset + len(row)
    if len(lines) == 1 and not colon and len(out) < 2:
        return None
    return PastedInput(None, bytes(out), (), "hexdump", ())


def _dump_row(rest: str) -> bytes:
    """The bytes of one dump row: hex groups until the ASCII column (a wide gap) or 16 bytes."""
    out = bytearray()
    pos = 0
    while pos < len(rest) and len(out) < 16:
        m = re.match(r"( *)([0-9A-Fa-f]+)(?= |$)", rest[pos:])
        if m is None:
            break
        gap, group = m.group(1), m.group(2)
        if out and len(gap) >= 3:
            break
        if len(group) % 2 or len(group) > 8:
            break
        out += bytes.fromhex(group)
        pos += m.end()
    return bytes(out[:16])


# --- bare hex ------------------------------------------------------------------------------------------

_SEPARATORS = re.compile(r"[\s:,;.\-_'\"(){}\[\]]+")
_PREFIX = re.compile(r"0x|\\x", re.I)


def _plain(text: str) -> PastedInput:
    d = Diags("paste")
    prefixed = bool(_PREFIX.search(text))
    body = _PREFIX.sub(" ", text)
    tokens = [t for t in _SEPARATORS.split(body) if t]
    bad = sorted({c for t in tokens for c in t if c not in "0123456789abcdefABCDEF"})
    if not tokens or bad:
        shown = clip(" ".join(text.split()), 50)
        if not tokens:
            raise HexInputError(f"no hex digits in {shown!r}: paste the option value as hex, e.g. 00046C796E63...")
        chars = ", ".join(repr(c) for c in bad[:8])
        raise HexInputError(
            f"not hex: {shown!r} contains {chars}; paste the option value as hex (e.g. 00046C796E63...), "
            "a DHCPUtil output line or a Cisco 'option NN hex' line"
        )
    per_byte = all(len(t) <= 2 for t in tokens) and (prefixed or (len(tokens) > 1 and any(len(t) == 1 for t in tokens)))
    data = bytes(int(t, 16) for t in tokens) if per_byte else _hex_bytes("".join(tokens), d, "the pasted hex")
    return PastedInput(None, data, (), "hex", tuple(d.items))


__all__ = ["HexInputError", "PastedInput", "hexu", "parse_hex_input"]
