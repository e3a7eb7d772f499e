"""Pure functions: RFC 6125 name matching, NTP reply validation, HTTP head parsing, option parsing."""

from __future__ import annotations

import struct
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lyncready.facts import NtpStatus
from lyncready.options import HostPort, Nameserver, OptionError, build_options, normalise_domain
from lyncready.plugins.tls import name_matches
from lyncready.probes.http import parse_head
from lyncready.probes.ntp import NTP_EPOCH_OFFSET, _ntp_timestamp, build_request, parse_reply


@pytest.mark.parametrize(
    ("pattern", "name", "expected"),
    [
        ("pool.contoso.com", "pool.contoso.com", (True, False)),
        ("POOL.contoso.com.", "pool.CONTOSO.com", (True, False)),
        ("*.contoso.com", "pool.contoso.com", (True, True)),
        ("*.contoso.com", "a.pool.contoso.com", (False, False)),  # one label only
        ("*.contoso.com", "contoso.com", (False, False)),
        ("*.com", "contoso.com", (False, False)),  # no wildcard over a public suffix-like single label
        ("p*.contoso.com", "pool.contoso.com", (False, False)),  # partial wildcards are not honoured
        ("pool.*.com", "pool.contoso.com", (False, False)),
        ("other.contoso.com", "pool.contoso.com", (False, False)),
    ],
)
def test_rfc6125_name_matching(pattern: str, name: str, expected: tuple[bool, bool]) -> None:
    assert name_matches(pattern, name) == expected


def _reply(
    sent: bytes,
    *,
    li: int = 0,
    vn: int = 4,
    mode: int = 4,
    stratum: int = 2,
    refid: bytes = b"\x7f\0\0\1",
    origin: bytes | None = None,
    offset: float = 0.0,
) -> bytes:
    now = time.time() + offset
    ts = _ntp_timestamp(now)
    return (
        struct.pack("!BBbb", (li << 6) | (vn << 3) | mode, stratum, 6, -20)
        + struct.pack("!II", 0, 0)
        + refid
        + ts
        + (origin if origin is not None else sent)
        + ts
        + ts
    )


def test_ntp_valid_reply() -> None:
    sent = _ntp_timestamp(time.time())
    t1 = time.time()
    r = parse_reply(_reply(sent, offset=2.5), sent, t1, time.time(), "127.0.0.1", 123, 0.001)
    assert r.status is NtpStatus.OK and r.problems == ()
    assert r.stratum == 2 and r.refid == "127.0.0.1"
    assert r.offset is not None and 2.4 < r.offset < 2.6


@pytest.mark.parametrize(
    ("kwargs", "problem", "text"),
    [
        ({"mode": 3}, "mode", "mode 3"),
        ({"origin": b"\x01" * 8}, "origin", "origin timestamp"),
        ({"stratum": 0, "refid": b"RATE"}, "kod", "kiss-o'-death 'RATE'"),
        ({"stratum": 16}, "stratum16", "stratum 16"),
        ({"li": 3}, "leap3", "leap indicator 3"),
        ({"vn": 0}, "version", "version 0"),
    ],
)
def test_ntp_replies_that_ntplib_would_accept_are_rejected(kwargs: dict[str, object], problem: str, text: str) -> None:
    sent = _ntp_timestamp(time.time())
    r = parse_reply(_reply(sent, **kwargs), sent, time.time(), time.time(), "127.0.0.1", 123, 0.0)  # type: ignore[arg-type]
    assert r.status is NtpStatus.INVALID
    assert problem in r.problems
    assert text in r.reason
    assert r.offset is None


def test_ntp_short_reply() -> None:
    r = parse_reply(b"\x24\x02", b"\0" * 8, 0.0, 0.0, "127.0.0.1", 123, 0.0)
    assert r.status is NtpStatus.INVALID and r.problems == ("short",)


@given(st.binary(max_size=200))
def test_ntp_parse_never_raises(data: bytes) -> None:
    sent = _ntp_timestamp(time.time())
    r = parse_reply(data, sent, time.time(), time.time(), "127.0.0.1", 123, 0.0)
    assert r.status in (NtpStatus.OK, NtpStatus.INVALID)
    if data[24:32] != sent:
        assert r.status is NtpStatus.INVALID


def test_ntp_request_is_a_client_request_carrying_our_timestamp() -> None:
    sent = _ntp_timestamp(time.time())
    req = build_request(sent)
    assert len(req) == 48 and req[0] & 0x7 == 3 and (req[0] >> 3) & 0x7 == 4
    assert req[40:48] == sent
    seconds = struct.unpack("!I", sent[:4])[0] - NTP_EPOCH_OFFSET
    assert abs(seconds - time.time()) < 5


def test_http_head_parsing() -> None:
    code, phrase, headers = parse_head(b"HTTP/1.1 403 Forbidden\r\nServer: IIS\r\nX: a:b\r\n\r\n") or (0, "", ())
    assert (code, phrase) == (403, "Forbidden")
    assert ("X", "a:b") in headers
    assert parse_head(b"SSH-2.0-OpenSSH_9.2\r\n\r\n") is None
    assert parse_head(b"HTTP/1.1 2000 OK\r\n\r\n") is None


@given(st.binary(max_size=300))
def test_http_head_parsing_never_raises(data: bytes) -> None:
    parse_head(data)


def test_nameserver_and_hostport_parsing() -> None:
    assert Nameserver.parse("10.0.0.5") == Nameserver("10.0.0.5", 53)
    assert Nameserver.parse("127.0.0.1:5353") == Nameserver("127.0.0.1", 5353)
    assert Nameserver.parse("::1") == Nameserver("::1", 53)
    assert Nameserver.parse("[::1]:5353") == Nameserver("::1", 5353)
    assert str(Nameserver("::1", 5353)) == "[::1]:5353"
    with pytest.raises(OptionError):
        Nameserver.parse("dns.contoso.com")
    assert HostPort.parse("time.contoso.com") == HostPort("time.contoso.com", None)
    assert HostPort.parse("10.0.0.1:1123") == HostPort("10.0.0.1", 1123)


def test_options_normalise_and_validate() -> None:
    opts = build_options(domains=["Contoso.COM.", "contoso.com", "fabrikam.com"], timeout=2, concurrency=4)
    assert opts.domains == ("contoso.com", "fabrikam.com")
    assert opts.timeouts.probe == 2 and opts.limits.concurrency == 4 and opts.limits.per_host == 4
    with pytest.raises(OptionError):
        normalise_domain("a..b")
    with pytest.raises(OptionError):
        build_options(device="cx700")
