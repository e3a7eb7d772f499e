"""DNS messages on the audit's hot path: the query it sends and the answers it reads, A, AAAA, CNAME and SRV.

An audit of 1,000 SIP domains sends 4,000 queries; dnspython's general ``Message`` costs about 150 µs to
build and parse per query (names, immutable rdata objects, rdataset merging), a quarter of the audit's
event-loop time. This codec does just what the probe needs, in plain tuples, and hands anything else
(another record type in the answer, a non-ASCII query name) back to dnspython: :func:`parse_response`
returns ``None`` for those and the caller uses ``dns.message.from_wire``. Record texts are written as
dnspython writes them (``to_text``), so reports do not depend on which path read the answer.

:func:`parse_response` never raises: malformed input gives a :class:`Malformed` with the reason.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from dns.ipv6 import inet_ntoa

__all__ = ["AAAA", "CNAME", "SRV", "A", "Malformed", "Record", "Response", "build_query", "parse_response"]

A, CNAME, AAAA, SRV = 1, 5, 28, 33
IN = 1
_KNOWN = frozenset({A, AAAA, CNAME, SRV})
_NO_QUESTION_NEEDED = frozenset({1, 2, 4, 5})  # FORMERR, SERVFAIL, NOTIMP, REFUSED (as dnspython's is_response)
_HEADER = struct.Struct("!HHHHHH")
_RR = struct.Struct("!HHIH")
_SRV = struct.Struct("!HHH")
_ESCAPED = frozenset(b'"().;\\@$')
_TEXT = {b: (f"\\{chr(b)}" if b in _ESCAPED else chr(b) if 0x20 < b < 0x7F else f"\\{b:03d}") for b in range(256)}


@dataclass(frozen=True, slots=True)
class Record:
    owner: str  # lower case, no trailing dot (for comparisons)
    rdtype: int
    ttl: int
    text: str  # as dnspython's to_text() writes the rdata
    address: str = ""  # A, AAAA
    target: str = ""  # CNAME, SRV: lower case, no trailing dot ("" for the root)
    priority: int = 0
    weight: int = 0
    port: int = 0


@dataclass(frozen=True, slots=True)
class Response:
    rcode: int
    truncated: bool
    answer: tuple[Record, ...]


@dataclass(frozen=True, slots=True)
class Malformed:
    reason: str
    foreign: bool = False  # well-formed, but the answer to another question (a late reply whose ID was reused)


def encode_qname(name: str) -> bytes | None:
    """Wire form of an ASCII name, or None (non-ASCII, empty or over-long labels: dnspython's job)."""
    if not name.isascii():
        return None
    out = bytearray()
    for label in name.rstrip(".").split("."):
        if not label or len(label) > 63 or "\\" in label:
            return None
        out.append(len(label))
        out += label.encode("ascii")
    out.append(0)
    return bytes(out) if len(out) <= 255 else None


def build_query(qid: int, name: str, rdtype: int, *, recursion_desired: bool = True) -> bytes | None:
    """A query as ``dns.message.make_query(name, rdtype)`` with RD sends it (no EDNS), or None when the
    name needs dnspython (see :func:`encode_qname`)."""
    qname = encode_qname(name)
    if qname is None:
        return None
    flags = 0x0100 if recursion_desired else 0
    return _HEADER.pack(qid & 0xFFFF, flags, 1, 0, 0, 0) + qname + struct.pack("!HH", rdtype, IN)


def _name(wire: bytes, pos: int) -> tuple[str, int]:
    """(text with trailing dot, position after the name). Raises ValueError on malformed names."""
    labels: list[str] = []
    end = -1
    total = 0
    limit = pos  # a compression pointer must point before where this name's current part began
    while True:
        if pos >= len(wire):
            raise ValueError("a name runs past the end of the message")
        n = wire[pos]
        if n >= 0xC0:
            if pos + 1 >= len(wire):
                raise ValueError("a compression pointer is cut short")
            target = ((n & 0x3F) << 8) | wire[pos + 1]
            if end < 0:
                end = pos + 2
            if target >= limit:
                raise ValueError("a compression pointer points forward (a loop?)")
            pos = limit = target
            continue
        if n >= 0x40:
            raise ValueError(f"unknown label type 0x{n:02x}")
        pos += 1
        if n == 0:
            break
        if pos + n > len(wire):
            raise ValueError("a label runs past the end of the message")
        total += n + 1
        if total > 254:
            raise ValueError("a name longer than 255 bytes")
        labels.append("".join(_TEXT[b] for b in wire[pos : pos + n]))
        pos += n
    return ".".join(labels) + ".", (end if end >= 0 else pos)


def _norm(text: str) -> str:
    return text.rstrip(".").lower()


def parse_response(wire: bytes, qid: int, qname: str, rdtype: int) -> Response | Malformed | None:
    """Read an answer to the query (qid, qname, rdtype, class IN).

    Returns a :class:`Response`; a :class:`Malformed` when the bytes are not a well-formed answer to that
    question; ``None`` when it is well-formed but holds what this codec leaves to dnspython (a record type
    other than A, AAAA, CNAME and SRV in the answer section). Never raises.
    """
    try:
        return _parse(wire, qid, qname, rdtype)
    except (ValueError, IndexError, struct.error) as exc:
        return Malformed(str(exc) or type(exc).__name__)


def _parse(wire: bytes, qid: int, qname: str, rdtype: int) -> Response | Malformed | None:
    if len(wire) < 12:
        return Malformed(f"{len(wire)} bytes: shorter than a DNS header")
    ident, flags, qd, an, _ns, _ar = _HEADER.unpack_from(wire)
    if ident != qid or not flags & 0x8000:
        return Malformed("the answer does not respond to the question asked", foreign=ident != qid)
    opcode = (flags >> 11) & 0xF
    if opcode != 0:
        return None
    rcode = flags & 0xF
    if qd == 0 and rcode in _NO_QUESTION_NEEDED:
        return Response(rcode, bool(flags & 0x0200), ())  # servers may drop the question from these
    if qd != 1:
        return Malformed(f"{qd} questions in the answer (the query asked one)")
    owner, pos = _name(wire, 12)
    qtype, qclass = struct.unpack_from("!HH", wire, pos)
    pos += 4
    if _norm(owner) != _norm(qname) or qtype != rdtype or qclass != IN:
        return Malformed("the answer does not respond to the question asked", foreign=True)
    if flags & 0x0200:
        return Response(flags & 0xF, True, ())  # truncated: the caller asks again over TCP
    records: list[Record] = []
    for _ in range(an):
        owner, pos = _name(wire, pos)
        rtype, rclass, ttl, rdlen = _RR.unpack_from(wire, pos)
        pos += _RR.size
        start, end = pos, pos + rdlen
        if end > len(wire):
            raise ValueError("a record's data runs past the end of the message")
        if rclass != IN or rtype not in _KNOWN:
            return None
        low = _norm(owner)
        if rtype == A:
            if rdlen != 4:
                raise ValueError(f"an A record of {rdlen} bytes")
            text = ".".join(str(b) for b in wire[start:end])
            records.append(Record(low, A, ttl, text, address=text))
        elif rtype == AAAA:
            if rdlen != 16:
                raise ValueError(f"an AAAA record of {rdlen} bytes")
            text = inet_ntoa(wire[start:end])  # dnspython's text form, IPv4-mapped included
            records.append(Record(low, AAAA, ttl, text, address=text))
        elif rtype == CNAME:
            target, stop = _name(wire, start)
            if stop != end:
                raise ValueError("a CNAME record's length does not match its name")
            # a name has one CNAME: a second one replaces the first (keeping the smaller TTL), as dnspython reads it
            earlier = [r for r in records if r.rdtype == CNAME and r.owner == low]
            if earlier:
                ttl = min(ttl, *(r.ttl for r in earlier))
                records = [r for r in records if not (r.rdtype == CNAME and r.owner == low)]
            records.append(Record(low, CNAME, ttl, target, target=_norm(target)))
        else:
            if rdlen < 7:
                raise ValueError(f"an SRV record of {rdlen} bytes")
            prio, weight, port = _SRV.unpack_from(wire, start)
            target, stop = _name(wire, start + 6)
            if stop != end:
                raise ValueError("an SRV record's length does not match its target")
            text = f"{prio} {weight} {port} {target}"
            records.append(Record(low, SRV, ttl, text, target=_norm(target), priority=prio, weight=weight, port=port))
        pos = end
    return Response(flags & 0xF, False, tuple(records))
