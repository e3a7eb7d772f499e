"""DNS names in wire format (RFC 1035 section 3.1), with compression pointers (section 4.1.4).

Decoding never raises and always terminates: pointer loops, forward pointers, over-long names and truncated
labels become diagnostics. Compression pointers are offsets from the start of the byte string handed to
:func:`decode_names` (for option 119 the whole joined option data, RFC 3397; for option 120 the data after the
encoding byte, see ``dhcp.decode_120``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .base import Diagnostic, Diags, printable

MAX_LABEL = 63
MAX_NAME_WIRE = 255  # octets on the wire: length bytes, labels and the final zero
MAX_HOPS = 127  # a name has at most 127 labels; more pointer hops than that can only be a loop
MAX_ERRORS = 8  # stop reporting (and decoding) after this many errors in one option
STEP_BUDGET = 1_000_000  # total bytes read and hops followed per decode: bounds work on hostile input

_LDH = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")


@dataclass(slots=True)
class NameList:
    names: list[str] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)


def render(labels: Sequence[bytes]) -> str:
    """Labels as a dotted name; dots inside a label and non-printable bytes escaped."""
    return ".".join(printable(label, escape_dot=True) for label in labels)


def hostname_problem(name: str) -> str | None:
    """Why ``name`` is not a usable host name (letters, digits, hyphens), or None."""
    if not name:
        return "it is empty"
    if len(name.rstrip(".")) > 253:
        return f"it is {len(name)} characters long (at most 253)"
    body = name[:-1] if name.endswith(".") else name
    for label in body.split("."):
        if not label:
            return "it has an empty label (two dots in a row, or a leading dot)"
        if len(label) > MAX_LABEL:
            return f"the label {label[:20]!r}... is {len(label)} characters long (at most 63)"
        if not _LDH.match(label):
            return f"the label {label!r} has characters other than letters, digits and inner hyphens"
    return None


class _Reader:
    """Decodes a sequence of names from one buffer, sharing the error count and the work budget."""

    def __init__(self, data: bytes, diags: Diags, what: str, base: int) -> None:
        self.base = base
        self.data = data
        self.d = diags
        self.what = what
        self.budget = STEP_BUDGET
        self.errors = 0

    def error(self, name: str, message: str) -> None:
        self.errors += 1
        self.d.error(name, message)

    def read(self, start: int) -> tuple[list[bytes] | None, int, bool]:
        """One name starting at ``start``: (labels or None when unusable, where the next name starts, go on?)."""
        data, n, base = self.data, len(self.data), self.base
        labels: list[bytes] = []
        wire = 1
        pos = start
        after: int | None = None  # where the next name starts, fixed at the first pointer or the final zero
        targets: set[int] = set()
        while True:
            self.budget -= 1
            if self.budget <= 0:
                self.error("too_complex", f"{self.what}: too many labels and pointers to follow; decoding stopped")
                return None, n, False
            if pos >= n:
                if labels:
                    shown = render(labels)
                    self.error(
                        "truncated_name",
                        f"{self.what}: the name starting at byte {start + base} ({shown}...) runs to the end of "
                        "the data without its final zero byte: the value was cut or a length byte is wrong",
                    )
                else:
                    self.error("truncated_name", f"{self.what}: the data ends where a name should continue")
                return None, n, False
            b = data[pos]
            if b == 0:
                if after is None:
                    after = pos + 1
                if wire > MAX_NAME_WIRE:
                    self.error(
                        "name_too_long",
                        f"{self.what}: the name {render(labels)[:60]}... takes {wire} bytes on the wire "
                        f"(at most {MAX_NAME_WIRE})",
                    )
                    return None, after, True
                return labels, after, True
            kind = b & 0xC0
            if kind == 0xC0:
                if pos + 1 >= n:
                    self.error(
                        "truncated_pointer",
                        f"{self.what}: a compression pointer at byte {pos + base} lacks its second byte: "
                        "the value was cut",
                    )
                    return None, n, False
                target = ((b & 0x3F) << 8) | data[pos + 1]
                if after is None:
                    after = pos + 2
                if target >= pos:
                    self.error(
                        "forward_pointer",
                        f"{self.what}: the compression pointer at byte {pos + base} points forward to offset {target} "
                        f"(byte {target + base}); "
                        "pointers may only refer to an earlier name (RFC 1035 4.1.4). The encoder is broken: "
                        "re-encode the list without compression",
                    )
                    return None, after, True
                if target in targets or len(targets) >= MAX_HOPS:
                    self.error(
                        "pointer_loop",
                        f"{self.what}: the compression pointers of the name at byte {start + base} form a loop "
                        f"(byte {pos + base} points back to offset {target} again); the name never ends. "
                        "Re-encode the list",
                    )
                    return None, after, True
                targets.add(target)
                pos = target
                continue
            if kind != 0:
                self.error(
                    "label_too_long",
                    f"{self.what}: byte {pos + base} is 0x{b:02X} where a label length (at most 63, 0x3F) or a "
                    "compression pointer (0xC0-0xFF) must be; "
                    + (
                        "that looks like text, not DNS labels"
                        if 0x20 <= b < 0x7F
                        else "labels are at most 63 characters and 0x40-0xBF are not valid label types"
                    ),
                )
                return None, n, False
            end = pos + 1 + b
            if end > n:
                self.error(
                    "truncated_label",
                    f"{self.what}: the label at byte {pos + base} says {b} bytes but only {n - pos - 1} remain: "
                    "the value was cut (a length limit, a copy/paste) or the length byte is wrong",
                )
                return None, n, False
            self.budget -= b
            wire += b + 1
            if after is not None and wire > MAX_NAME_WIRE:
                # after a jump nothing ties the rest of this name to the sequence: stop reading it
                self.error(
                    "name_too_long",
                    f"{self.what}: the name starting at byte {start + base} grows past {MAX_NAME_WIRE} bytes "
                    "through compression pointers",
                )
                return None, after, True
            labels.append(data[pos + 1 : end])
            pos = end


def decode_names(data: bytes, prefix: str, what: str, *, base: int = 0) -> NameList:
    """A list of wire-format names filling ``data``; diagnostics tagged ``<prefix>.<name>``.

    Zero bytes where a name should start (root names) are reported as ``trailing_bytes`` (at the end) or
    ``root_name`` (in the middle) and left out of the list. ``base`` is added to byte positions in messages
    (1 for option 120, whose names follow the encoding byte); pointer values are shown as they are.
    """
    d = Diags(prefix)
    out = NameList(diagnostics=d.items)
    reader = _Reader(data, d, what, base)
    pos = 0
    n = len(data)
    roots: list[int] = []
    while pos < n:
        if reader.errors >= MAX_ERRORS:
            d.info("more_errors", f"{what}: more than {MAX_ERRORS} errors; the rest of the data was not decoded")
            break
        if data[pos] == 0:
            roots.append(pos)
            pos += 1
            continue
        if roots:
            d.warning(
                "root_name",
                f"{what}: an empty (root) name at byte {roots[0] + base} sits between names; "
                "remove the stray zero byte",
            )
            roots = []
        labels, pos, go_on = reader.read(pos)
        if labels is not None:
            name = render(labels)
            out.names.append(name)
            problem = hostname_problem(name)
            if problem:
                d.warning("bad_characters", f"{what}: {name!r} is not a valid host or domain name: {problem}")
        if not go_on:
            break
    if roots:
        d.warning(
            "trailing_bytes",
            f"{what}: {len(roots)} extra zero byte(s) after the last name; most clients ignore them, "
            "but remove them from the value",
        )
    return out


def split_name(name: str) -> list[bytes]:
    """``lync.contoso.com`` -> [b"lync", b"contoso", b"com"]; raises ValueError for names that cannot be encoded."""
    text = name.strip()
    if text.endswith("."):
        text = text[:-1]
    if not text:
        raise ValueError("empty domain name")
    try:
        raw = text.encode("ascii")
    except UnicodeEncodeError:
        try:
            raw = text.encode("idna")
        except UnicodeError as exc:
            raise ValueError(f"{name!r}: not an ASCII or IDNA domain name ({exc})") from None
    labels = raw.split(b".")
    for label in labels:
        if not label:
            raise ValueError(f"{name!r}: empty label (two dots in a row or a leading dot)")
        if len(label) > MAX_LABEL:
            raise ValueError(f"{name!r}: label {label[:20]!r}... is {len(label)} bytes long (at most 63)")
    if sum(len(label) + 1 for label in labels) + 1 > MAX_NAME_WIRE:
        raise ValueError(f"{name!r}: longer than {MAX_NAME_WIRE} bytes in wire format")
    return labels


def encode_name(name: str) -> bytes:
    """One name in wire format, no compression: ``04 6C796E63 ... 00``."""
    return b"".join(bytes([len(label)]) + label for label in split_name(name)) + b"\x00"


def encode_names(names: Iterable[str], *, compress: bool = False) -> bytes:
    """Names in wire format back to back; with ``compress`` repeated suffixes become pointers (offsets from 0)."""
    out = bytearray()
    seen: dict[tuple[bytes, ...], int] = {}
    for name in names:
        labels = split_name(name)
        for i in range(len(labels)):
            suffix = tuple(labels[i:])
            if compress and suffix in seen:
                out += (0xC000 | seen[suffix]).to_bytes(2, "big")
                break
            if compress and len(out) < 0x4000:
                seen[suffix] = len(out)
            out.append(len(labels[i]))
            out += labels[i]
        else:
            out.append(0)
    return bytes(out)
