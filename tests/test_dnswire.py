"""The DNS codec of the probe's hot path (lyncready/codecs/dnswire.py), checked against dnspython.

Answers are built with dnspython (name compression, escapes, mixed case, every record type the codec
reads) and the codec must read exactly what dnspython reads; anything else must come back as Malformed
or as None (left to dnspython), never as an exception. fuzz/fuzz_decoders.py runs the same contract for a
million inputs (target ``dns_parse_response``).
"""

from __future__ import annotations

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lyncready.codecs import dnswire
from lyncready.probes.dns import from_message

LABEL = st.text(alphabet="abcXYZ019-_.\\@ \x01\xe9", min_size=1, max_size=12)
NAME = st.lists(LABEL, min_size=1, max_size=4).map(
    lambda labels: dns.name.Name([*(x.encode("latin-1") for x in labels), b""])
)
TYPES = st.sampled_from(["A", "AAAA", "CNAME", "SRV"])


def _rdata(kind: str, data: st.DataObject) -> str:
    if kind == "A":
        return ".".join(str(data.draw(st.integers(0, 255))) for _ in range(4))
    if kind == "AAAA":
        return data.draw(st.sampled_from(["::1", "2001:db8::5", "::ffff:192.0.2.1", "fe80::1:2:3:4", "::"]))
    target = data.draw(NAME).to_text()
    if kind == "CNAME":
        return target
    prio, weight, port = (data.draw(st.integers(0, 65535)) for _ in range(3))
    return f"{prio} {weight} {port} {target}"


@settings(max_examples=400, deadline=None)
@given(qname=NAME, qtype=TYPES, data=st.data())
def test_reads_what_dnspython_reads(qname: dns.name.Name, qtype: str, data: st.DataObject) -> None:
    query = dns.message.make_query(qname, qtype)
    response = dns.message.make_response(query)
    response.set_rcode(data.draw(st.sampled_from([dns.rcode.NOERROR, dns.rcode.NXDOMAIN, dns.rcode.SERVFAIL])))
    for _ in range(data.draw(st.integers(0, 4))):
        kind = data.draw(TYPES)
        owner = data.draw(st.one_of(st.just(qname), NAME))
        ttl = data.draw(st.integers(0, 2**31 - 1))
        response.answer.append(dns.rrset.from_text(owner, ttl, "IN", kind, _rdata(kind, data)))
    wire = response.to_wire()
    parsed = dnswire.parse_response(wire, query.id, qname.to_text(), int(dns.rdatatype.from_text(qtype)))
    expected = from_message(dns.message.from_wire(wire))
    assert isinstance(parsed, dnswire.Response), parsed
    assert parsed.rcode == expected.rcode and parsed.truncated is False
    # dnspython merges equal records of one RRset and takes its smallest TTL: compare as the probe uses them
    assert _by_rrset(parsed) == _by_rrset(expected)


def _by_rrset(r: dnswire.Response) -> dict[tuple[str, int], tuple[frozenset[dnswire.Record], int]]:
    out: dict[tuple[str, int], tuple[set[dnswire.Record], int]] = {}
    for rec in r.answer:
        records, ttl = out.setdefault((rec.owner, rec.rdtype), (set(), rec.ttl))
        records.add(
            dnswire.Record(
                rec.owner, rec.rdtype, 0, rec.text, rec.address, rec.target, rec.priority, rec.weight, rec.port
            )
        )
        out[(rec.owner, rec.rdtype)] = (records, min(ttl, rec.ttl))
    return {k: (frozenset(v), t) for k, (v, t) in out.items()}


@settings(max_examples=1000, deadline=None)
@given(st.binary(max_size=600), st.integers(0, 65535))
def test_never_raises_on_any_bytes(data: bytes, qid: int) -> None:
    out = dnswire.parse_response(data, qid, "x.example.test", dnswire.SRV)
    assert out is None or isinstance(out, (dnswire.Response, dnswire.Malformed))


@settings(max_examples=300, deadline=None)
@given(name=NAME, cut=st.integers(0, 200), qtype=TYPES)
def test_a_cut_answer_is_malformed(name: dns.name.Name, cut: int, qtype: str) -> None:
    query = dns.message.make_query(name, qtype)
    response = dns.message.make_response(query)
    response.answer.append(dns.rrset.from_text(name, 60, "IN", "A", "192.0.2.1"))
    wire = response.to_wire()
    cut = min(cut, len(wire) - 1)
    out = dnswire.parse_response(wire[:cut], query.id, name.to_text(), int(dns.rdatatype.from_text(qtype)))
    assert isinstance(out, dnswire.Malformed), out


def test_a_pointer_loop_is_malformed() -> None:
    query = dns.message.make_query("loop.example.test", "A")
    header = query.to_wire()[:12]
    flags = (0x8180).to_bytes(2, "big")
    wire = header[:2] + flags + header[4:] + b"\xc0\x0c" + b"\x00\x01\x00\x01"
    out = dnswire.parse_response(wire, query.id, "loop.example.test", dnswire.A)
    assert isinstance(out, dnswire.Malformed) and "points forward" in out.reason


def test_another_question_or_id_is_not_an_answer() -> None:
    query = dns.message.make_query("asked.example.test", "A")
    wire = dns.message.make_response(query).to_wire()
    assert isinstance(dnswire.parse_response(wire, query.id ^ 1, "asked.example.test", dnswire.A), dnswire.Malformed)
    other = dnswire.parse_response(wire, query.id, "other.example.test", dnswire.A)
    assert isinstance(other, dnswire.Malformed) and "does not respond" in other.reason
    assert isinstance(dnswire.parse_response(wire, query.id, "asked.example.test", dnswire.SRV), dnswire.Malformed)


def test_truncated_answers_say_so_and_other_types_are_left_to_dnspython() -> None:
    query = dns.message.make_query("big.example.test", "SRV")
    response = dns.message.make_response(query)
    response.flags |= dns.flags.TC
    tc = dnswire.parse_response(response.to_wire(), query.id, "big.example.test", dnswire.SRV)
    assert isinstance(tc, dnswire.Response) and tc.truncated
    txt = dns.message.make_response(dns.message.make_query("t.example.test", "TXT"))
    txt.answer.append(dns.rrset.from_text("t.example.test.", 60, "IN", "TXT", '"hello"'))
    assert dnswire.parse_response(txt.to_wire(), txt.id, "t.example.test", 16) is None


@pytest.mark.parametrize(
    "name", ["_sipinternaltls._tcp.contoso.com", "a.b", "xn--bcher-kva.example.", "A.EXAMPLE.test"]
)
def test_queries_are_dnspythons_bytes(name: str) -> None:
    for kind in ("A", "AAAA", "SRV"):
        q = dns.message.make_query(name, kind)
        q.flags |= dns.flags.RD
        assert dnswire.build_query(q.id, name, int(dns.rdatatype.from_text(kind))) == q.to_wire()


def test_names_the_codec_does_not_build_are_left_to_dnspython() -> None:
    assert dnswire.build_query(1, "bücher.example", dnswire.A) is None
    assert dnswire.build_query(1, "a..b", dnswire.A) is None
    assert dnswire.build_query(1, "x" * 64 + ".test", dnswire.A) is None
