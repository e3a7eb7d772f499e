#!/usr/bin/env python3
"""Fuzz every decoder lyncready runs on bytes it does not control, and say per decoder how it went.

    .venv/bin/python fuzz/fuzz_decoders.py --count 1000000 --decoder all            # what docs/fuzzing.md records
    .venv/bin/python fuzz/fuzz_decoders.py --count 20000 --decoder http_parse_head  # one decoder, a quick look
    .venv/bin/python fuzz/fuzz_decoders.py --list                                   # the decoders and what they call
    .venv/bin/python fuzz/fuzz_decoders.py --replay fuzz/artifacts/X.bin --decoder NAME   # one saved input again

Engines (``--engine``):

* ``atheris`` (the default when ``import atheris`` works; ``pip install atheris``): coverage-guided libFuzzer.
  Each decoder runs in its own process (libFuzzer owns the process and ends it), with the lyncready modules
  instrumented, string and regex comparison hooks on, and a seed corpus of valid encodings written to a temp
  directory (the repository is never written to). ``--jobs`` processes run at once.
* ``random``: a seeded mutation fuzzer in pure Python (no coverage feedback, no extra package): the same seeds,
  mutated by bit flips, interesting bytes at random offsets, length-byte changes, inserts, deletions,
  duplications, splices and fresh random bytes. Reproducible from ``--seed``.

For every input each target checks the decoder's contract: it returns the documented type and never raises
(``parse_hex_input`` may raise ``HexInputError`` with a one-line message, and only that); a ``Decoded``
has no ``codec.bug`` diagnostic (the safety net that turns an internal exception into a finding) and is
JSON-serialisable; an NTP reply is OK exactly when it has no problem; an HTTP status is three ASCII digits;
and the call takes at most ``--time-bound`` seconds (default 1). A violation is a failure: the input and the
traceback are saved under ``--artifacts`` (default ``fuzz/artifacts/``, git-ignored by its own .gitignore).

Output: one line per decoder (inputs, seconds, inputs/s, slowest input, libFuzzer coverage when atheris ran)
and a last line ``RESULT: ok`` or ``RESULT: FAILED (...)``. Exit status 0 when every decoder ran its
``--count`` inputs without a failure, 1 otherwise, 2 on a usage error. ``--json FILE`` also writes the table.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import json
import os
import random
import re
import struct
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_ARTIFACTS = HERE / "artifacts"
RESULT_PREFIX = "FUZZRESULT "


class ContractViolation(AssertionError):
    """A decoder broke its contract on one input (raised by the targets below)."""


# --- the targets -----------------------------------------------------------------------------------------------
#
# Imports of lyncready happen inside functions: under atheris they must happen inside instrument_imports().


def _check_decoded(decoded: Any, option: int) -> None:
    from lyncready.codecs import Decoded

    if not isinstance(decoded, Decoded):
        raise ContractViolation(f"decode_option({option}) returned {type(decoded).__name__}")
    if decoded.option != option:
        raise ContractViolation(f"decode_option({option}) returned option {decoded.option}")
    if "codec.bug" in decoded.tags:
        raise ContractViolation(f"decode_option({option}) hit its safety net: {decoded.diagnostics[0].message}")
    if decoded.valid != (not any(d.level == "error" for d in decoded.diagnostics)):
        raise ContractViolation("Decoded.valid disagrees with the diagnostics")
    json.dumps(decoded.to_json())


def _options(*codes: int) -> Callable[[bytes], None]:
    def run(data: bytes) -> None:
        from lyncready.codecs import decode_option

        for code in codes:
            if code == 120:
                for device in ("lpe", "3pip"):
                    _check_decoded(decode_option(code, data, device=device), code)
            else:
                _check_decoded(decode_option(code, data), code)

    return run


def _parse_options(data: bytes) -> None:
    from lyncready.codecs import parse_options

    options, diagnostics = parse_options(data)
    used = 0
    for code, value in options:
        if not (0 < code < 255) or not isinstance(value, bytes) or len(value) > 255:
            raise ContractViolation(f"parse_options gave option {code!r} with {type(value).__name__}")
        used += 2 + len(value)
    if used > len(data):
        raise ContractViolation(f"parse_options read {used} bytes out of {len(data)}")
    if any(d.tag == "options.bug" for d in diagnostics):
        raise ContractViolation(f"parse_options hit its safety net: {diagnostics}")


_BOOTP_HEAD = bytes([2, 1, 6, 0]) + b"\x12\x34\x56\x78" + bytes(228) + b"\x63\x82\x53\x63"


def _parse_bootp(data: bytes) -> None:
    from lyncready.codecs import BootpPacket, parse_bootp

    # the input as a whole packet, and as the options of a well-formed header (where the interesting bytes are)
    for payload in (data, _BOOTP_HEAD + data, data[:236].ljust(236, b"\x00") + b"\x63\x82\x53\x63" + data[236:]):
        packet = parse_bootp(payload)
        if not isinstance(packet, BootpPacket):
            raise ContractViolation(f"parse_bootp returned {type(packet).__name__}")
        if any(d.tag.endswith(".bug") for d in packet.diagnostics):
            raise ContractViolation(f"parse_bootp hit its safety net: {packet.diagnostics}")
        packet.option(53)
        _ = packet.message_type, packet.valid


def _parse_hex_input(data: bytes) -> None:
    from lyncready.codecs import HexInputError, decode_option, parse_hex_input

    text = data.decode("utf-8", "replace")
    try:
        pasted = parse_hex_input(text)
    except HexInputError as exc:
        if "\n" in str(exc) or not str(exc):
            raise ContractViolation(f"HexInputError message is not one line: {str(exc)[:200]!r}") from exc
        return
    for code, value in pasted.parts:
        _check_decoded(decode_option(code, value), code)
    _ = pasted.option_guess


_NTP_SENT = b"\xe9\x2b\x4c\x00\x12\x34\x5f\xff"


def _ntp_parse_reply(data: bytes) -> None:
    from lyncready.facts import NtpStatus
    from lyncready.probes.ntp import parse_reply

    # once with a fixed request timestamp, once as if the reply echoed ours (the origin check passes)
    for sent in (_NTP_SENT, data[24:32].ljust(8, b"\x00")):
        reply = parse_reply(data, sent, 1.7e9, 1.7e9 + 0.001, "127.0.0.1", 123, 0.001)
        if reply.status not in (NtpStatus.OK, NtpStatus.INVALID):
            raise ContractViolation(f"parse_reply status {reply.status}")
        if (reply.status is NtpStatus.OK) != (not reply.problems):
            raise ContractViolation(f"parse_reply status {reply.status} with problems {reply.problems}")
        if (reply.offset is None) != bool(reply.problems):
            raise ContractViolation("parse_reply gave an offset for an unusable reply, or none for a good one")
        json.dumps(dataclasses.asdict(reply))


def _http_parse_head(data: bytes) -> None:
    from lyncready.probes.http import parse_head

    for head in (data, b"HTTP/1.1 " + data, data + b"\r\n\r\n"):
        parsed = parse_head(head)
        if parsed is None:
            continue
        code, phrase, headers = parsed
        if not isinstance(code, int) or not 0 <= code <= 999:
            raise ContractViolation(f"parse_head status code {code!r}")
        if not isinstance(phrase, str) or not all(isinstance(k, str) and isinstance(v, str) for k, v in headers):
            raise ContractViolation("parse_head returned non-text")


def _dns_parse_response(data: bytes) -> None:
    from lyncready.codecs import dnswire

    qid = int.from_bytes(data[:2], "big") if len(data) >= 2 else 0
    for rdtype in (dnswire.A, dnswire.SRV):
        out = dnswire.parse_response(data, qid, "_sipinternaltls._tcp.contoso.test", rdtype)
        if out is not None and not isinstance(out, (dnswire.Response, dnswire.Malformed)):
            raise ContractViolation(f"parse_response returned {type(out).__name__}")
        if isinstance(out, dnswire.Response):
            for r in out.answer:
                if not isinstance(r.text, str) or r.owner != r.owner.lower():
                    raise ContractViolation(f"parse_response record {r!r}")


def _seeds_dns() -> list[bytes]:
    import dns.message
    import dns.rrset

    out = []
    for kind, rdata in (("SRV", "0 0 5061 pool.contoso.test."), ("A", "192.0.2.1"), ("CNAME", "alias.contoso.test.")):
        q = dns.message.make_query("_sipinternaltls._tcp.contoso.test", kind)
        r = dns.message.make_response(q)
        r.answer.append(dns.rrset.from_text("_sipinternaltls._tcp.contoso.test.", 60, "IN", kind, rdata))
        out.append(r.to_wire())
    return out


def _udp_frame(payload: bytes, *, dport: int = 68) -> bytes:
    udp = struct.pack("!HHHH", 67, dport, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, bytes([10, 0, 0, 1]), bytes(4)) + udp
    return b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00" + ip


def _dhcp_probe_reply(data: bytes) -> None:
    from lyncready.facts import DhcpReply
    from lyncready.probes.dhcp import parse_bootp_reply, parse_options, reply_from_frame

    options, _complete = parse_options(data)
    if sum(2 + len(v) for _, v in options) > len(data):
        raise ContractViolation("the probe's parse_options read past the data")
    xid = int.from_bytes(data[4:8].ljust(4, b"\x00"), "big")
    results = [
        parse_bootp_reply(data),
        parse_bootp_reply(_BOOTP_HEAD + data),
        reply_from_frame(data, xid, 0.0),
        reply_from_frame(_udp_frame(data), xid, 0.0),
        reply_from_frame(_udp_frame(_BOOTP_HEAD[:4] + data[4:8] + _BOOTP_HEAD[8:] + data), xid, 0.0),
    ]
    for reply in results:
        if reply is None:
            continue
        if not isinstance(reply, DhcpReply):
            raise ContractViolation(f"the probe's reply parser returned {type(reply).__name__}")
        reply.option(43)
        if not 0 <= reply.message_type <= 255:
            raise ContractViolation(f"message type {reply.message_type}")


# --- seeds ---------------------------------------------------------------------------------------------------


def _seeds_options(code: int) -> Callable[[], list[bytes]]:
    def seeds() -> list[bytes]:
        from lyncready.codecs import encode_43, encode_119, encode_120, encode_120_addresses

        long43 = encode_43("lyncpool01.frontend.corp.example.test")
        common = [b"", b"\x00", b"\xff" * 8]
        by_code: dict[int, list[bytes]] = {
            120: [
                encode_120(["lync.example.test"]),
                encode_120(["pool.contoso.com", "pool2.contoso.com"]),
                encode_120_addresses(["10.0.0.5"]),
                b"lync.example.test",
                b"\x04lync\x07example\x04test\x00",
                b"\x00\x04pool\xc0\x00",
            ],
            43: [
                long43,
                long43[:90],
                encode_43("lync.example.test", port=4443),
                long43 + b"\xff",
                b"https://lync.example.test/CertProv/CertProvisioningService.svc",
            ],
            119: [
                encode_119(["example.test", "corp.example.test"]),
                encode_119(["a.b.c", "b.c", "c"], compress=False),
                b"example.test;corp.example.test",
                b"\x01a\xc0\x00",
            ],
            4: [bytes([10, 0, 0, 1, 10, 0, 0, 2]), bytes([127, 0, 0, 1]), b"\x01\x02\x03"],
            60: [b"MS-UC-Client", b"MSUCClient", b"ms-uc-client\x00"],
            55: [bytes([1, 3, 4, 6, 15, 42, 43, 119, 120]), bytes([1, 1, 1])],
        }
        return common + by_code[code]

    return seeds


def _request_packets() -> list[bytes]:
    from lyncready.codecs import encode_43, encode_119, encode_120
    from lyncready.probes.dhcp import build_request

    mac = b"\x02\x00\x00\x00\x00\x01"
    inform = build_request(message_type=8, xid=0x12345678, mac=mac, ciaddr="10.0.0.9")
    reply = bytearray(inform)
    reply[0] = 2
    options = (
        bytes([53, 1, 5, 54, 4, 10, 0, 0, 1, 43, len(encode_43("lync.example.test"))])
        + encode_43("lync.example.test")
        + bytes([120, len(encode_120(["lync.example.test"]))])
        + encode_120(["lync.example.test"])
        + bytes([119, len(encode_119(["example.test"]))])
        + encode_119(["example.test"])
        + b"\xff"
    )
    ack = bytes(reply[:240]) + options
    overloaded = bytes(reply[:108]) + (b"\x2a\x04\x0a\x00\x00\x01\xff").ljust(128, b"\x00") + bytes(reply[236:240])
    overloaded += bytes([53, 1, 5, 52, 1, 1, 255])
    return [inform, ack, overloaded, ack[:250]]


def _seeds_bootp() -> list[bytes]:
    packets = _request_packets()
    return [*packets, *(p[240:] for p in packets)]


def _seeds_options_field() -> list[bytes]:
    return [p[240:] for p in _request_packets()] + [b"\x00\x00\x35\x01\x05\xff", b"\x2b\x05abc"]


def _seeds_paste() -> list[bytes]:
    from lyncready.codecs import encode_43, encode_120

    hex43 = encode_43("lync.example.test").hex()
    hex120 = encode_120(["lync.example.test"]).hex()
    return [
        hex120.encode(),
        hex43.upper().encode(),
        ":".join(hex43[i : i + 2] for i in range(0, len(hex43), 2)).encode(),
        ("0x" + hex120).encode(),
        b"0000   00 04 6c 79 6e 63 07 65 78 61 6d 70 6c 65 04 74   ..lync.example.t\n0010   65 73 74 00  est.",
        b"Configure MS-UC-Client -WebServer lync.example.test -SipServer lync.example.test\n"
        + f"  120 {hex120}\n  43 {hex43}".encode(),
        b"ip dhcp pool phones\n option 43 hex " + hex43.encode() + b"\n option 120 hex " + hex120.encode(),
        b"zz not hex",
    ]


def _seeds_ntp() -> list[bytes]:
    now = struct.pack("!II", 0xE92B4C00, 0x12345000)
    good = struct.pack("!BBbb", 0x24, 2, 6, -20) + bytes(8) + b"\x7f\x00\x00\x01" + now + _NTP_SENT + now + now
    kod = bytes([0xE4, 0]) + good[2:12] + b"RATE" + good[16:]
    unsync = bytes([0xE4, 0]) + good[2:12] + bytes(4) + good[16:]
    return [good, kod, unsync, good[:47], good + b"\x00" * 20]


def _seeds_http() -> list[bytes]:
    return [
        b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.0 301 Moved\r\nLocation: http://lync.example.test/\r\n\r\n",
        b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Negotiate\r\nWWW-Authenticate: NTLM\r\n\r\n",
        b"SSH-2.0-OpenSSH_9.2\r\n\r\n",
        b"HTTP/1.1 404\r\n\r\n",
    ]


def _seeds_dhcp_reply() -> list[bytes]:
    packets = _request_packets()
    return [*packets, *(_udp_frame(p) for p in packets)]


@dataclasses.dataclass(frozen=True)
class Target:
    name: str
    calls: str
    run: Callable[[bytes], None]
    seeds: Callable[[], list[bytes]]
    max_len: int = 2048
    cost: float = 1.0  # relative time per input under atheris (measured): the slowest start first


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target(
            "option_120",
            "decode_option(120, data) for device lpe and 3pip",
            _options(120),
            _seeds_options(120),
            1024,
            cost=5,
        ),
        Target("option_43", "decode_option(43, data)", _options(43), _seeds_options(43), 1024, cost=9),
        Target("option_119", "decode_option(119, data)", _options(119), _seeds_options(119), 1024, cost=3.5),
        Target(
            "option_4_42",
            "decode_option(4, data) and decode_option(42, data)",
            _options(4, 42),
            _seeds_options(4),
            512,
            cost=6,
        ),
        Target(
            "option_60_15",
            "decode_option(60, data) and decode_option(15, data)",
            _options(60, 15),
            _seeds_options(60),
            512,
            cost=3.5,
        ),
        Target("option_55", "decode_option(55, data)", _options(55), _seeds_options(55), 512, cost=0.7),
        Target(
            "parse_options",
            "lyncready.codecs.parse_options(data)",
            _parse_options,
            _seeds_options_field,
            1500,
            cost=0.6,
        ),
        Target(
            "parse_bootp",
            "lyncready.codecs.parse_bootp(data), and data as the options after a BOOTP header",
            _parse_bootp,
            _seeds_bootp,
            max_len=1500,
            cost=4,
        ),
        Target(
            "parse_hex_input",
            "lyncready.codecs.parse_hex_input(data as UTF-8 text), then decode_option on every part",
            _parse_hex_input,
            _seeds_paste,
            max_len=4096,
            cost=2,
        ),
        Target(
            "ntp_parse_reply",
            "lyncready.probes.ntp.parse_reply(data, ...) with a foreign and an echoed origin timestamp",
            _ntp_parse_reply,
            _seeds_ntp,
            max_len=200,
            cost=1.7,
        ),
        Target("http_parse_head", "lyncready.probes.http.parse_head(data)", _http_parse_head, _seeds_http, cost=0.3),
        Target(
            "dns_parse_response",
            "lyncready.codecs.dnswire.parse_response(data, id, name, A and SRV)",
            _dns_parse_response,
            _seeds_dns,
            max_len=600,
            cost=0.5,
        ),
        Target(
            "dhcp_probe_reply",
            "lyncready.probes.dhcp: parse_options, parse_bootp_reply (raw and after a header), reply_from_frame",
            _dhcp_probe_reply,
            _seeds_dhcp_reply,
            max_len=1600,
            cost=2.2,
        ),
    )
}


# --- one worker: one target, one engine ----------------------------------------------------------------------


@dataclasses.dataclass
class Stats:
    target: str
    engine: str
    count: int = 0
    seconds: float = 0.0
    slowest: float = 0.0
    slowest_len: int = 0
    outcome: str = "ok"
    failure: str = ""
    artifact: str = ""
    coverage: str = ""

    def line(self) -> str:
        rate = self.count / self.seconds if self.seconds else 0.0
        extra = f"  coverage {self.coverage}" if self.coverage else ""
        text = (
            f"{self.target:<17} {self.engine:<8} {self.count:>10,} inputs {self.seconds:>8.1f} s "
            f"{rate:>9,.0f}/s  slowest {self.slowest * 1000:>7.2f} ms ({self.slowest_len} B)  {self.outcome}{extra}"
        )
        if self.failure:
            text += f"\n    {self.failure}" + (f"\n    input saved to {self.artifact}" if self.artifact else "")
        return text


class Runner:
    """Calls a target on one input: times it, and turns a contract violation into a saved artifact."""

    def __init__(self, target: Target, engine: str, count: int, time_bound: float, artifacts: Path) -> None:
        self.target = target
        self.count = count
        self.time_bound = time_bound
        self.artifacts = artifacts
        self.stats = Stats(target.name, engine)
        self.started = time.perf_counter()

    def one(self, data: bytes) -> bool:
        """Run one input; False when it failed (the stats say why)."""
        start = time.thread_time()  # CPU time of this thread: other load on the machine does not count
        try:
            self.target.run(data)
        except Exception as exc:
            return self._fail(data, f"{type(exc).__name__}: {exc}", traceback.format_exc())
        took = time.thread_time() - start
        self.stats.count += 1
        if self.stats.count % 100_000 == 0:
            print(f"progress {self.target.name} {self.stats.count}", file=sys.stderr, flush=True)
        if took > self.stats.slowest:
            self.stats.slowest, self.stats.slowest_len = took, len(data)
        if took > self.time_bound:
            return self._fail(data, f"one input took {took:.3f} s of CPU (bound {self.time_bound:g} s)", "")
        return True

    def _fail(self, data: bytes, why: str, trace: str) -> bool:
        self.artifacts.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha1(data).hexdigest()[:16]
        path = self.artifacts / f"{self.target.name}-{digest}.bin"
        path.write_bytes(data)
        path.with_suffix(".txt").write_text(f"{why}\ninput (hex): {data.hex()}\n\n{trace}")
        self.stats.outcome = "FAILED"
        self.stats.failure = why[:500]
        self.stats.artifact = str(path)
        return False

    def finish(self) -> Stats:
        self.stats.seconds = time.perf_counter() - self.started
        return self.stats


def _report(stats: Stats) -> None:
    sys.stdout.write(RESULT_PREFIX + json.dumps(dataclasses.asdict(stats)) + "\n")
    sys.stdout.flush()


_INTERESTING = (0, 1, 2, 3, 4, 0x1F, 0x20, 0x2E, 0x3F, 0x40, 0x7F, 0x80, 0xBF, 0xC0, 0xFE, 0xFF)


def mutate(rnd: random.Random, data: bytes, pool: Sequence[bytes], max_len: int) -> bytes:
    """One input for the random engine: 1 to 8 stacked mutations of ``data`` (or fresh random bytes)."""
    if rnd.random() < 0.05:
        return rnd.randbytes(rnd.randrange(0, min(max_len, 600)))
    buf = bytearray(data)
    for _ in range(rnd.randint(1, 8)):
        op = rnd.randrange(9)
        n = len(buf)
        if op == 0 and n:  # flip a bit
            i = rnd.randrange(n)
            buf[i] ^= 1 << rnd.randrange(8)
        elif op == 1 and n:  # an interesting byte (lengths, pointers, 0xFF end, '.')
            buf[rnd.randrange(n)] = rnd.choice(_INTERESTING)
        elif op == 2 and n:  # a random byte
            buf[rnd.randrange(n)] = rnd.randrange(256)
        elif op == 3:  # insert random bytes
            i = rnd.randrange(n + 1)
            buf[i:i] = rnd.randbytes(rnd.randint(1, 16))
        elif op == 4 and n:  # delete a range
            i = rnd.randrange(n)
            del buf[i : i + rnd.randint(1, 16)]
        elif op == 5 and n:  # duplicate a range
            i = rnd.randrange(n)
            j = min(n, i + rnd.randint(1, 32))
            k = rnd.randrange(n + 1)
            buf[k:k] = buf[i:j]
        elif op == 6 and pool:  # splice with another seed
            other = rnd.choice(pool)
            cut = rnd.randrange(len(buf) + 1)
            buf = buf[:cut] + other[rnd.randrange(len(other) + 1) :]
        elif op == 7 and n:  # truncate
            del buf[rnd.randrange(n) :]
        elif op == 8 and n:  # a length byte bumped by a little (off-by-one lengths are the classic)
            i = rnd.randrange(n)
            buf[i] = (buf[i] + rnd.choice((-2, -1, 1, 2, 64, 128))) % 256
    return bytes(buf[:max_len])


def run_random(runner: Runner, seed: int) -> Stats:
    target = runner.target
    seeds = [s[: target.max_len] for s in target.seeds()] or [b""]
    rnd = random.Random(f"{seed}:{target.name}")
    pool = list(seeds)
    for data in seeds:
        with contextlib.suppress(Exception):  # warm up: lazy imports must not count against the time bound
            target.run(data)
    runner.started = time.perf_counter()
    for data in seeds:
        if not runner.one(data):
            return runner.finish()
    while runner.stats.count < runner.count:
        data = mutate(rnd, rnd.choice(pool), pool, target.max_len)
        if not runner.one(data):
            break
        if len(pool) < 512 and rnd.random() < 0.001:  # keep a few mutants as new bases
            pool.append(data)
    return runner.finish()


def run_atheris(runner: Runner, seed: int, workdir: Path, hard_timeout: int) -> None:
    """Never returns: libFuzzer owns the process; the worker reports and leaves through os._exit."""
    import atheris  # type: ignore[import-untyped,import-not-found,unused-ignore]

    # dnspython compiles bytes regexes on import, which atheris's regex hook cannot take: load it first
    import dns.ipv6
    import dns.message
    import dns.rrset  # noqa: F401

    atheris.enabled_hooks.add("str")
    atheris.enabled_hooks.add("RegEx")
    with atheris.instrument_imports(include=["lyncready"]):
        import lyncready.codecs
        import lyncready.codecs.dnswire
        import lyncready.probes.dhcp
        import lyncready.probes.http
        import lyncready.probes.ntp  # noqa: F401
    target = runner.target
    corpus = workdir / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    for i, data in enumerate(target.seeds()):
        (corpus / f"seed-{i:03d}").write_bytes(data[: target.max_len])
        with contextlib.suppress(Exception):  # warm up: lazy imports must not count against the time bound
            target.run(data)
    runner.started = time.perf_counter()

    def test_one_input(data: bytes) -> None:
        if not runner.one(data):
            _report(runner.finish())
            os._exit(1)
        if runner.stats.count >= runner.count:
            _report(runner.finish())
            os._exit(0)

    argv = [
        sys.argv[0],
        f"-runs={runner.count * 2 + 1000}",
        f"-seed={seed}",
        f"-max_len={target.max_len}",
        f"-timeout={hard_timeout}",
        "-rss_limit_mb=4096",
        "-print_final_stats=1",
        f"-artifact_prefix={workdir}/",
        str(corpus),
    ]
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()
    _report(runner.finish())  # libFuzzer stopped before the count: reported as short
    os._exit(1)


def worker(args: argparse.Namespace) -> int:
    target = TARGETS[args.worker]
    runner = Runner(target, args.engine, args.count, args.time_bound, Path(args.artifacts))
    if args.engine == "atheris":
        with tempfile.TemporaryDirectory(prefix=f"lyncready-fuzz-{target.name}-") as tmp:
            run_atheris(runner, args.seed, Path(tmp), args.hard_timeout)
        return 1
    _report(run_random(runner, args.seed))
    return 0 if runner.stats.outcome == "ok" else 1


def replay(args: argparse.Namespace) -> int:
    """Run one input (a saved artifact) through one decoder's checks, with the traceback on failure."""
    if len(args.decoder) != 1 or args.decoder[0] not in TARGETS:
        print("--replay needs --decoder with one decoder name (see --list)", file=sys.stderr)
        return 2
    target = TARGETS[args.decoder[0]]
    data = Path(args.replay).read_bytes()
    start = time.thread_time()
    try:
        target.run(data)
    except Exception:
        traceback.print_exc()
        print(f"{target.name}: FAILED on {len(data)} bytes")
        return 1
    print(f"{target.name}: ok on {len(data)} bytes ({(time.thread_time() - start) * 1000:.2f} ms of CPU)")
    return 0


# --- the driver ----------------------------------------------------------------------------------------------

_COVERAGE = re.compile(r"cov: (\d+) ft: (\d+) corp: (\d+)/")


def _collect(name: str, engine: str, proc: subprocess.Popen[bytes], count: int, logs: Path) -> Stats:
    proc.wait()
    out = (logs / f"{name}.out").read_text(errors="replace")
    err = (logs / f"{name}.err").read_text(errors="replace")
    stats: Stats | None = None
    for line in out.splitlines():
        if line.startswith(RESULT_PREFIX):
            stats = Stats(**json.loads(line[len(RESULT_PREFIX) :]))
    if stats is None:
        tail = " | ".join(line for line in err.splitlines()[-6:] if line.strip())
        stats = Stats(name, engine, outcome="FAILED", failure=f"worker exited {proc.returncode}: {tail[-600:]}")
    coverage = _COVERAGE.findall(err)
    if coverage:
        cov, ft, corp = coverage[-1]
        stats.coverage = f"cov {cov} ft {ft} corpus {corp}"
    if stats.outcome == "ok" and stats.count < count:
        stats.outcome = "FAILED"
        stats.failure = f"only {stats.count} of {count} inputs ran"
    return stats


def _spawn(name: str, args: argparse.Namespace, engine: str, logs: Path) -> subprocess.Popen[bytes]:
    argv = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        name,
        "--engine",
        engine,
        "--count",
        str(args.count),
        "--seed",
        str(args.seed),
        "--time-bound",
        str(args.time_bound),
        "--hard-timeout",
        str(args.hard_timeout),
        "--artifacts",
        str(args.artifacts),
    ]
    # output to files, not pipes: libFuzzer writes a line per new coverage feature, and a worker whose
    # pipe is full (nobody reads it until the worker ends) would block for ever
    with (logs / f"{name}.out").open("wb") as out, (logs / f"{name}.err").open("wb") as err:
        return subprocess.Popen(argv, stdout=out, stderr=err)


def _atheris_available() -> bool:
    try:
        import atheris  # type: ignore[import-untyped,import-not-found,unused-ignore]  # noqa: F401
    except ImportError:
        return False
    return True


@contextlib.contextmanager
def _all_stopped(running: dict[str, subprocess.Popen[bytes]]) -> Iterator[None]:
    try:
        yield
    finally:
        for proc in running.values():  # interrupted: end our own workers, by their PID
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def drive(args: argparse.Namespace) -> int:
    names = list(TARGETS) if args.decoder == ["all"] else args.decoder
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        print(f"unknown decoder(s): {', '.join(unknown)} (see --list)", file=sys.stderr)
        return 2
    engine = args.engine
    if engine == "auto":
        engine = "atheris" if _atheris_available() else "random"
    elif engine == "atheris" and not _atheris_available():
        print("atheris is not installed (pip install atheris), use --engine random", file=sys.stderr)
        return 2
    print(
        f"fuzzing {len(names)} decoder(s), {args.count:,} inputs each, engine {engine}, seed {args.seed}, "
        f"{args.jobs} at a time, per-input bound {args.time_bound:g} s",
        flush=True,
    )
    started = time.perf_counter()
    pending = sorted(names, key=lambda n: -TARGETS[n].cost)  # longest first: the jobs end close together
    running: dict[str, subprocess.Popen[bytes]] = {}
    results: dict[str, Stats] = {}
    with tempfile.TemporaryDirectory(prefix="lyncready-fuzz-logs-") as tmp, _all_stopped(running):
        logs = Path(args.logs) if args.logs else Path(tmp)
        logs.mkdir(parents=True, exist_ok=True)
        while pending or running:
            while pending and len(running) < args.jobs:
                name = pending.pop(0)
                running[name] = _spawn(name, args, engine, logs)
            time.sleep(0.2)
            for name, proc in list(running.items()):
                if proc.poll() is not None:
                    del running[name]
                    results[name] = _collect(name, engine, proc, args.count, logs)
                    print(results[name].line(), flush=True)
    total = time.perf_counter() - started
    failed = [n for n in names if results[n].outcome != "ok"]
    inputs = sum(results[n].count for n in names)
    verdict = "ok" if not failed else f"FAILED ({', '.join(failed)})"
    print(f"{inputs:,} inputs in {total:.0f} s wall clock. RESULT: {verdict}", flush=True)
    if args.json:
        doc = {
            "engine": engine,
            "count_per_decoder": args.count,
            "seed": args.seed,
            "time_bound": args.time_bound,
            "python": sys.version.split()[0],
            "wall_seconds": round(total, 1),
            "result": "ok" if not failed else "failed",
            "decoders": [dataclasses.asdict(results[n]) for n in names],
        }
        Path(args.json).write_text(json.dumps(doc, indent=1) + "\n")
    return 0 if not failed else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--decoder", nargs="+", default=["all"], help="decoder names (see --list), or all")
    parser.add_argument("--count", type=int, default=1_000_000, help="inputs per decoder [1000000]")
    parser.add_argument("--engine", choices=("auto", "atheris", "random"), default="auto")
    parser.add_argument("--seed", type=int, default=2013, help="random seed (libFuzzer -seed, random engine)")
    parser.add_argument("--jobs", type=int, default=max(1, min(4, os.cpu_count() or 1)), help="decoders at once")
    parser.add_argument("--time-bound", type=float, default=1.0, help="seconds one input may take [1]")
    parser.add_argument("--hard-timeout", type=int, default=10, help="libFuzzer -timeout for a hung input [10]")
    parser.add_argument("--artifacts", default=str(DEFAULT_ARTIFACTS), help="where failing inputs are saved")
    parser.add_argument("--json", help="also write the per-decoder table as JSON to this file")
    parser.add_argument("--logs", help="keep each worker's output (libFuzzer's progress) in this directory")
    parser.add_argument("--list", action="store_true", help="list the decoders and exit")
    parser.add_argument("--replay", metavar="FILE", help="run one saved input through --decoder NAME and exit")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.count < 1 or args.jobs < 1 or args.time_bound <= 0:
        parser.error("--count, --jobs and --time-bound must be positive")
    if args.list:
        for t in TARGETS.values():
            print(f"{t.name:<17} {t.calls}")
        return 0
    if args.replay:
        return replay(args)
    if args.worker:
        return worker(args)
    return drive(args)


if __name__ == "__main__":
    sys.exit(main())
