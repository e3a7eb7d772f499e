"""The DNS probe's shared UDP socket per nameserver, against small loopback servers that do what dnsmasq
will not: answer garbage, answer another question, send a stale ID first. dnsmasq itself is in
test_probes_real.py and the fault matrix."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import dns.message
import dns.rrset

from lyncready import build_options
from lyncready.facts import DnsAnswer, DnsQuery, DnsStatus, FactStore
from lyncready.host import load_registry

Responder = Callable[[bytes], list[bytes]]


@contextmanager
def udp_server(respond: Responder) -> Iterator[tuple[int, list[tuple[str, int]]]]:
    """A loopback DNS responder: respond(query) gives the datagrams to send back. Yields the port and the
    list of client addresses seen."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.1)
    stop = threading.Event()
    clients: list[tuple[str, int]] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                data, addr = sock.recvfrom(4096)
            except (TimeoutError, OSError):
                continue
            clients.append(addr)
            for out in respond(data):
                sock.sendto(out, addr)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        yield int(sock.getsockname()[1]), clients
    finally:
        stop.set()
        t.join()
        sock.close()


def answer(query_wire: bytes, address: str = "192.0.2.10") -> dns.message.Message:
    q = dns.message.from_wire(query_wire)
    r = dns.message.make_response(q)
    r.answer.append(dns.rrset.from_text(q.question[0].name, 60, "IN", "A", address))
    return r


def ask(port: int, names: list[str], timeout: float = 1.0) -> list[DnsAnswer]:
    options = build_options(nameservers=[f"127.0.0.1:{port}"], timeout=timeout)
    registry = load_registry(autoload=False)

    async def main() -> list[DnsAnswer]:
        store = FactStore(dict(registry.probes), options)
        try:
            return list(await asyncio.gather(*(store.get(DnsQuery(n, "A")) for n in names)))
        finally:
            store.close()

    return asyncio.run(main())


def test_many_queries_share_one_socket() -> None:
    with udp_server(lambda q: [answer(q).to_wire()]) as (port, clients):
        names = [f"h{i}.example.test" for i in range(200)]
        answers = ask(port, names)
    assert [a.status for a in answers] == [DnsStatus.OK] * 200
    assert all(a.addresses == ("192.0.2.10",) for a in answers)
    assert len(clients) == 200
    assert len(set(clients)) == 1  # one source port for the whole audit


def test_stale_id_is_ignored_and_the_real_answer_taken() -> None:
    def stale_first(q: bytes) -> list[bytes]:
        stale = answer(q, "198.51.100.66")
        stale.id = (stale.id + 1) % 65536  # an answer to some other (timed out) query
        return [stale.to_wire(), answer(q).to_wire()]

    with udp_server(stale_first) as (port, _):
        (ans,) = ask(port, ["stale.example.test"])
    assert ans.status is DnsStatus.OK, ans
    assert ans.addresses == ("192.0.2.10",)


def test_garbage_with_the_right_id_is_a_malformed_answer() -> None:
    with udp_server(lambda q: [q[:2] + b"\x81\x80\xff\xff\x00\x01"]) as (port, _):
        (ans,) = ask(port, ["garbage.example.test"])
    assert ans.status is DnsStatus.ERROR, ans
    assert ans.reason.startswith(f"127.0.0.1:{port}: malformed answer ("), ans.reason


def test_answer_to_another_question_is_ignored_then_reported() -> None:
    def other_question(q: bytes) -> list[bytes]:
        query = dns.message.from_wire(q)
        wrong = dns.message.make_query("elsewhere.example.test", "A")
        wrong.id = query.id
        return [answer(wrong.to_wire()).to_wire()]

    with udp_server(other_question) as (port, _):
        (ans,) = ask(port, ["asked.example.test"], timeout=0.3)
    assert ans.status is DnsStatus.ERROR, ans
    assert "only answers to another question came back" in ans.reason


def test_a_late_answer_to_another_question_does_not_spoil_the_real_one() -> None:
    def late_then_real(q: bytes) -> list[bytes]:
        query = dns.message.from_wire(q)
        late = dns.message.make_query("earlier.example.test", "A")
        late.id = query.id  # a reply to an earlier query that had the same ID
        return [answer(late.to_wire(), "198.51.100.9").to_wire(), answer(q).to_wire()]

    with udp_server(late_then_real) as (port, _):
        (ans,) = ask(port, ["asked.example.test"])
    assert ans.status is DnsStatus.OK and ans.addresses == ("192.0.2.10",), ans


def test_refused_without_a_question_section_is_refused() -> None:
    def refuse(q: bytes) -> list[bytes]:
        return [q[:2] + b"\x81\x05" + b"\x00" * 8]  # QR, RD, RA, REFUSED; no question

    with udp_server(refuse) as (port, _):
        (ans,) = ask(port, ["r.example.test"])
    assert ans.status is DnsStatus.REFUSED, ans


def test_a_lost_socket_is_replaced_for_the_next_query() -> None:
    with udp_server(lambda q: [answer(q).to_wire()]) as (port, _):
        options = build_options(nameservers=[f"127.0.0.1:{port}"], timeout=1.0)
        registry = load_registry(autoload=False)

        async def main() -> tuple[DnsAnswer, DnsAnswer]:
            store = FactStore(dict(registry.probes), options)
            try:
                first = await store.get(DnsQuery("one.example.test", "A"))
                (channel_future,) = store.context.cache["dns.channels"].values()
                channel_future.result().transport.abort()  # the socket dies under the audit
                await asyncio.sleep(0.05)
                second = await store.get(DnsQuery("two.example.test", "A"))
                return first, second
            finally:
                store.close()

        first, second = asyncio.run(main())
    assert first.status is DnsStatus.OK and second.status is DnsStatus.OK, (first, second)


def test_silence_is_a_timeout_and_the_socket_is_closed_with_the_audit() -> None:
    before = _udp_sockets()
    with udp_server(lambda q: []) as (port, _):
        (ans,) = ask(port, ["silent.example.test"], timeout=0.3)
    assert ans.status is DnsStatus.TIMEOUT, ans
    assert ans.reason == f"127.0.0.1:{port}: no answer within 0.3 s"
    assert _udp_sockets() == before


def _udp_sockets() -> int:
    """UDP sockets of this process (our responder's included while it runs)."""
    inodes = set()
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = str(fd.readlink())
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    lines = Path("/proc/self/net/udp").read_text().splitlines()[1:]
    return sum(1 for line in lines if line.split()[9] in inodes)


def test_record_types_beyond_the_codec_are_read_by_dnspython() -> None:
    def txt(q: bytes) -> list[bytes]:
        query = dns.message.from_wire(q)
        r = dns.message.make_response(query)
        r.answer.append(dns.rrset.from_text(query.question[0].name, 60, "IN", "TXT", '"v=lync" "x"'))
        return [r.to_wire()]

    with udp_server(txt) as (port, _):
        options = build_options(nameservers=[f"127.0.0.1:{port}"], timeout=1.0)
        registry = load_registry(autoload=False)

        async def main() -> DnsAnswer:
            store = FactStore(dict(registry.probes), options)
            try:
                return await store.get(DnsQuery("t.example.test", "TXT"))
            finally:
                store.close()

        ans = asyncio.run(main())
    assert ans.status is DnsStatus.OK, ans
    assert ans.records == ('"v=lync" "x"',) and ans.ttl == 60


def test_a_name_the_codec_does_not_build_is_asked_through_dnspython() -> None:
    seen: list[str] = []

    def record(q: bytes) -> list[bytes]:
        seen.append(dns.message.from_wire(q).question[0].name.to_text())
        return [answer(q).to_wire()]

    with udp_server(record) as (port, _):
        (ans,) = ask(port, ["bücher.example.test"])
    assert ans.status is DnsStatus.OK, ans
    assert seen == ["xn--bcher-kva.example.test."]
