"""The fact store's queue: probes past max_running wait as plain entries, nested questions never wait,
and the TLS version question is one per address:port unless asked per name."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest

from lyncready import build_options
from lyncready.facts import FactKey, FactStore, ProbeContext, ProbeCrash, TlsVersionQuery


@dataclass(frozen=True, slots=True)
class Leaf(FactKey[int]):
    n: int


@dataclass(frozen=True, slots=True)
class Parent(FactKey[int]):
    n: int


def test_probes_past_the_cap_are_queued_not_started() -> None:
    running: list[int] = []
    peak = [0]
    release = asyncio.Event

    async def main() -> None:
        gate = release()

        async def leaf(key: Leaf, ctx: ProbeContext) -> int:
            running.append(key.n)
            peak[0] = max(peak[0], len(running))
            await gate.wait()
            running.remove(key.n)
            return key.n * 2

        store = FactStore({Leaf: leaf}, build_options(concurrency=1))
        store.max_running = 5
        asking = asyncio.ensure_future(store.get_many([Leaf(i) for i in range(100)]))
        await asyncio.sleep(0.01)
        assert len(running) == 5  # the other 95 are entries in the queue, not tasks
        assert len(asyncio.all_tasks()) <= 5 + 2
        gate.set()
        assert await asking == [i * 2 for i in range(100)]
        assert peak[0] == 5
        store.close()

    asyncio.run(main())


def test_a_probe_asking_another_fact_never_waits_behind_the_queue() -> None:
    async def main() -> list[int]:
        async def leaf(key: Leaf, ctx: ProbeContext) -> int:
            await asyncio.sleep(0)
            return key.n

        async def parent(key: Parent, ctx: ProbeContext) -> int:
            return 1 + await ctx.fact(Leaf(key.n))  # would deadlock if nested asks were queued

        store = FactStore({Leaf: leaf, Parent: parent}, build_options())
        store.max_running = 2
        try:
            async with asyncio.timeout(5):
                return await store.get_many([Parent(i) for i in range(50)])
        finally:
            store.close()

    assert asyncio.run(main()) == [i + 1 for i in range(50)]


def test_close_fails_the_queued_questions() -> None:
    async def main() -> list[Any]:
        async def slow(key: Leaf, ctx: ProbeContext) -> int:
            await asyncio.sleep(10)
            return 0

        store = FactStore({Leaf: slow}, build_options())
        store.max_running = 1
        futs = [asyncio.ensure_future(store.get(Leaf(i))) for i in range(3)]
        await asyncio.sleep(0.01)
        store.close()
        return await asyncio.gather(*futs, return_exceptions=True)

    outcomes = asyncio.run(main())
    assert all(isinstance(o, ProbeCrash) and "cancelled" in str(o) for o in outcomes), outcomes


def test_tls_version_question_is_per_address_unless_per_name() -> None:
    a = TlsVersionQuery("192.0.2.1", 443, "one.example.test", "TLSv1")
    b = TlsVersionQuery("192.0.2.1", 443, "two.example.test", "TLSv1")
    assert a == b and hash(a) == hash(b)
    assert a != TlsVersionQuery("192.0.2.1", 443, "one.example.test", "TLSv1.2")
    assert a != TlsVersionQuery("192.0.2.2", 443, "one.example.test", "TLSv1")
    pa = TlsVersionQuery("192.0.2.1", 443, "one.example.test", "TLSv1", per_name=True)
    pb = TlsVersionQuery("192.0.2.1", 443, "two.example.test", "TLSv1", per_name=True)
    assert pa != pb and pa != a
    assert "SNI two.example.test" in pb.describe()


@pytest.mark.parametrize("per_name", [False, True])
def test_version_matrix_handshakes_follow_the_option(per_name: bool) -> None:
    """Through the real check against the built-in lab: two names on one address."""
    import lyncready
    from lyncready.lab import running_lab

    with running_lab(extra_domains=["northwind.test"]) as lab:
        kwargs = lab.audit_kwargs()
        kwargs.update(domains=["contoso.test"], web_fqdns=["pool.contoso.test", "pool.northwind.test"])
        kwargs.update(checks=["tls_protocol_versions"], tls_versions_per_name=per_name)
        counted: dict[str, int] = {}
        real = FactStore._run

        async def counting(self: FactStore, probe: Any, key: Any, fut: Any) -> None:
            if isinstance(key, TlsVersionQuery):
                who = key.sni if per_name else key.address
                counted[who] = counted.get(who, 0) + 1
            await real(self, probe, key, fut)

        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(FactStore, "_run", counting)
            report = lyncready.audit(**kwargs)
    results = report.results_for("tls_protocol_versions")
    assert len(results) == 2 and all(r.status.value == "pass" for r in results), results
    if per_name:
        assert counted == {"pool.contoso.test": 4, "pool.northwind.test": 4}
    else:
        assert sum(counted.values()) == 4  # one matrix for the shared address:port


def test_an_answered_fact_is_kept_as_its_value_and_asked_once() -> None:
    calls: list[int] = []

    async def main() -> None:
        async def leaf(key: Leaf, ctx: ProbeContext) -> int:
            calls.append(key.n)
            return key.n + 100

        store = FactStore({Leaf: leaf}, build_options())
        assert await store.get(Leaf(1)) == 101
        assert store._memo == {} and store._values == {Leaf(1): 101}  # no future kept for an answer
        assert await store.get(Leaf(1)) == 101
        assert await store.get_many([Leaf(1), Leaf(2), Leaf(1)]) == [101, 102, 101]
        assert len(store) == 2
        store.close()

    asyncio.run(main())
    assert calls == [1, 2]


def test_equal_http_headers_are_one_object() -> None:
    from lyncready.probes.http import parse_head

    head = b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 0\r\n\r\n"
    one, two = parse_head(head), parse_head(bytes(head))
    assert one is not None and two is not None
    assert one[2] == (("Server", "nginx"), ("Content-Length", "0"))
    assert one[2] is two[2]


def test_a_probe_needing_a_question_a_check_queued_starts_it() -> None:
    """Checks queue Leaf(n) behind Parent(n); each Parent probe then needs its Leaf: it must start at once."""

    async def main() -> list[int]:
        async def leaf(key: Leaf, ctx: ProbeContext) -> int:
            await asyncio.sleep(0)
            return key.n

        async def parent(key: Parent, ctx: ProbeContext) -> int:
            return 1 + await ctx.fact(Leaf(key.n))

        store = FactStore({Leaf: leaf, Parent: parent}, build_options())
        store.max_running = 2
        keys: list[Any] = [Parent(0), Parent(1), *(Leaf(i) for i in range(10))]
        try:
            async with asyncio.timeout(5):
                return await store.get_many(keys)
        finally:
            store.close()

    assert asyncio.run(main()) == [1, 2, *range(10)]
