"""Facts: one answer from the network, keyed by the question asked, fetched once per audit.

A *fact key* is a frozen dataclass naming the question (``DnsQuery("_ntp._udp.contoso.com", "SRV")``);
its value is a frozen dataclass describing the answer, failures included (a timeout is data, not an
exception). A :class:`FactStore` keeps one future per key, so when five checks ask for the same TLS
handshake one handshake happens and all five await it. Probes (``lyncready.probes``) produce values.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import enum
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

if TYPE_CHECKING:
    from .options import AuditOptions

V = TypeVar("V")
K = TypeVar("K", bound="FactKey[Any]")


class FactKey(Generic[V]):
    """Base of every fact key. Subclasses are frozen dataclasses, so keys hash by value."""

    __slots__ = ()

    def describe(self) -> str:
        return repr(self)


# --- DNS -------------------------------------------------------------------------------------------


class DnsStatus(enum.StrEnum):
    OK = "ok"
    NXDOMAIN = "nxdomain"  # the name does not exist
    NODATA = "nodata"  # the name exists, but has no record of this type
    TIMEOUT = "timeout"
    SERVFAIL = "servfail"
    REFUSED = "refused"
    ERROR = "error"  # anything else: malformed answer, network error, unexpected rcode


@dataclass(frozen=True, slots=True)
class SrvRecord:
    priority: int
    weight: int
    port: int
    target: str  # lower case, no trailing dot; "" for the "." no-service target


@dataclass(frozen=True, slots=True)
class DnsAnswer:
    name: str
    rdtype: str
    status: DnsStatus
    records: tuple[str, ...] = ()  # presentation form of the final RRset
    srv: tuple[SrvRecord, ...] = ()
    addresses: tuple[str, ...] = ()
    cname_chain: tuple[str, ...] = ()  # aliases followed from the name asked to the final owner
    server: str = ""  # the nameserver that gave this answer
    reason: str = ""  # for failures: every underlying error, one per server tried
    ttl: int | None = None
    used_tcp: bool = False

    @property
    def ok(self) -> bool:
        return self.status is DnsStatus.OK


@dataclass(frozen=True, slots=True)
class DnsQuery(FactKey[DnsAnswer]):
    name: str
    rdtype: str  # "SRV", "A", "AAAA", "CNAME", "TXT"...

    def describe(self) -> str:
        return f"DNS {self.rdtype} {self.name}"


@dataclass(frozen=True, slots=True)
class Addresses(FactKey[DnsAnswer]):
    """The IPv4 addresses of a name through the audit's resolver (an IP literal answers itself)."""

    name: str

    def describe(self) -> str:
        return f"addresses of {self.name}"


# --- NTP -------------------------------------------------------------------------------------------


class NtpStatus(enum.StrEnum):
    OK = "ok"  # a valid, synchronised server reply
    INVALID = "invalid"  # a reply came, but it must not be used (see problems)
    REFUSED = "refused"  # ICMP port unreachable: nothing listens on the port
    TIMEOUT = "timeout"  # silence
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class NtpReply:
    address: str
    port: int
    status: NtpStatus
    reason: str = ""
    problems: tuple[str, ...] = ()  # stable tags: short, mode, version, origin, stratum16, leap3, kod...
    stratum: int | None = None
    leap: int | None = None
    version: int | None = None
    mode: int | None = None
    refid: str = ""
    kod_code: str = ""
    offset: float | None = None  # seconds, server minus us
    delay: float | None = None  # round trip, seconds
    root_delay: float | None = None
    root_dispersion: float | None = None
    raw: str = ""  # the reply as hex, for the evidence
    elapsed: float = 0.0


@dataclass(frozen=True, slots=True)
class NtpQuery(FactKey[NtpReply]):
    address: str
    port: int = 123

    def describe(self) -> str:
        return f"NTP {self.address}:{self.port}"


# --- HTTP ------------------------------------------------------------------------------------------


class ConnStatus(enum.StrEnum):
    OK = "ok"
    REFUSED = "refused"
    TIMEOUT = "timeout"  # connect or answer did not come in time
    RESET = "reset"
    TLS_ERROR = "tls_error"
    PROTOCOL_ERROR = "protocol_error"  # the server spoke, but not HTTP
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class HttpResponse:
    url: str
    address: str
    status: ConnStatus
    code: int | None = None
    reason_phrase: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    reason: str = ""  # for failures
    elapsed: float = 0.0

    def header(self, name: str) -> str | None:
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None


@dataclass(frozen=True, slots=True)
class HttpQuery(FactKey[HttpResponse]):
    scheme: str  # "http" or "https" (certificate not verified here: the TLS checks judge it)
    address: str
    port: int
    host: str  # Host header and SNI
    path: str

    @property
    def url(self) -> str:
        default = 80 if self.scheme == "http" else 443
        hostport = self.host if self.port == default else f"{self.host}:{self.port}"
        return f"{self.scheme}://{hostport}{self.path}"

    def describe(self) -> str:
        return f"GET {self.url} via {self.address}"


# --- TLS -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TlsHandshake:
    address: str
    port: int
    sni: str
    status: ConnStatus
    reason: str = ""
    version: str = ""  # negotiated, e.g. "TLSv1.3"
    cipher: str = ""
    chain: tuple[bytes, ...] = ()  # DER, as the server presented it, leaf first
    verified: bool | None = None  # chain verified against the trust anchors (hostname not checked)
    verify_code: int | None = None  # OpenSSL X509 verify code when not verified
    verify_message: str = ""
    trust_source: str = ""  # the CA bundle path, or "system store"
    elapsed: float = 0.0
    # the bootstrap GETs sent on this same connection (HTTP/1.1 pipelined): path -> HttpResponse
    responses: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class TlsQuery(FactKey[TlsHandshake]):
    address: str
    port: int
    sni: str

    def describe(self) -> str:
        return f"TLS handshake {self.address}:{self.port} (SNI {self.sni})"


@dataclass(frozen=True, slots=True)
class TlsVersionResult:
    version: str
    accepted: bool | None  # None: could not be tested (our OpenSSL lacks it, network failure)
    reason: str = ""
    cipher: str = ""


@dataclass(frozen=True, slots=True, eq=False)
class TlsVersionQuery(FactKey[TlsVersionResult]):
    """Does address:port accept this TLS version?

    Which versions a listener accepts is a property of the address and port, so the question is asked
    once per address:port: ``sni`` is the name of whoever asked first (a name the server serves, since
    some servers answer no handshake without SNI) and is not part of the question. With ``per_name``
    (``--tls-versions-per-name``: a load balancer that picks its TLS settings by SNI) it is.
    """

    address: str
    port: int
    sni: str
    version: str  # "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"
    per_name: bool = False

    def _identity(self) -> tuple[str, int, str, str | None]:
        return (self.address, self.port, self.version, self.sni if self.per_name else None)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TlsVersionQuery) and self._identity() == other._identity()

    def __hash__(self) -> int:
        return hash(self._identity())

    def describe(self) -> str:
        name = f" (SNI {self.sni})" if self.per_name else ""
        return f"{self.version} handshake {self.address}:{self.port}{name}"


# --- DHCP ------------------------------------------------------------------------------------------


class DhcpStatus(enum.StrEnum):
    OK = "ok"  # at least one reply
    NO_ANSWER = "no_answer"  # nothing within the window
    NO_PRIVILEGE = "no_privilege"  # raw sockets / port 68 need root or CAP_NET_RAW + CAP_NET_BIND_SERVICE
    ERROR = "error"  # no such interface, interface without IPv4 address (INFORM), socket errors


@dataclass(frozen=True, slots=True)
class DhcpReply:
    """One reply as it came off the wire. Options are every instance in wire order (RFC 3396 not joined)."""

    message_type: int  # 2 OFFER, 5 ACK, 6 NAK (option 53); 0 when missing
    server_id: str  # option 54, "" when missing
    source: str  # IP source address of the packet
    source_mac: str
    yiaddr: str
    giaddr: str
    options: tuple[tuple[int, bytes], ...]
    elapsed: float  # seconds from our request to this reply
    raw: bytes = b""  # the BOOTP/DHCP payload (UDP data), for evidence and offline decoding

    def option(self, code: int) -> bytes | None:
        """The value of an option, instances concatenated as RFC 3396 says; None when absent."""
        parts = [v for c, v in self.options if c == code]
        return b"".join(parts) if parts else None


@dataclass(frozen=True, slots=True)
class DhcpReplies:
    status: DhcpStatus
    reason: str = ""
    replies: tuple[DhcpReply, ...] = ()
    request: bytes = b""  # what we sent (UDP data)
    xid: int = 0
    mac: str = ""
    elapsed: float = 0.0


@dataclass(frozen=True, slots=True)
class DhcpProbe(FactKey[DhcpReplies]):
    """Ask for what a phone gets: DHCPINFORM (or DISCOVER, never followed by REQUEST) as MS-UC-Client."""

    interface: str
    mode: str = "inform"  # "inform" | "discover"
    server: str | None = None  # unicast to this server; None: broadcast
    giaddr: str | None = None  # relay agent address (audit a remote VLAN's scope); replies come to giaddr:67
    vendor_class: str | None = "MS-UC-Client"  # option 60; None: send none (to prove 43 is not sent then)
    window: float = 5.0  # seconds to collect replies (servers that ping before offering need about 3 s)
    netns: str | None = None  # probe from inside this network namespace (`ip netns` name or a path)

    def describe(self) -> str:
        how = f"to {self.server}" if self.server else "broadcast"
        relay = f" via giaddr {self.giaddr}" if self.giaddr else ""
        where = f" in netns {self.netns}" if self.netns else ""
        return f"DHCP{self.mode.upper()} {how}{relay} on {self.interface}{where} (option 60 {self.vendor_class!r})"


# --- the store -------------------------------------------------------------------------------------


class ProbeCrash(Exception):
    """A probe raised instead of returning a failure value: a bug, reported as the check's error."""


Probe = Callable[[Any, "ProbeContext"], Awaitable[Any]]


class Contact:
    """What a probe learns when it takes a slot: whether its (address, port) is known to be silent."""

    __slots__ = ("_key", "_limiter", "_silenced", "silent")

    def __init__(self, silent: str | None, limiter: Limiter | None, key: tuple[str, int, str] | None) -> None:
        self.silent = silent  # the reason, when earlier probes got no answer at all from (address, port)
        self._limiter = limiter
        self._key = key
        self._silenced = False

    def no_answer(self, reason: str) -> None:
        """This probe got no answer within its timeout. Unless (address, port) answered anything earlier in
        the audit, the other probes to it are told at once instead of waiting for their own timeouts."""
        self._silenced = True
        if self._limiter is not None and self._key is not None:
            self._limiter.silenced(self._key, reason)

    def done(self) -> None:
        if self._limiter is not None and self._key is not None and not self._silenced:
            self._limiter.answered(self._key)


@dataclass
class Limiter:
    """A global limit on network operations in flight, and one per remote host.

    Black holes cost one timeout, not one per operation: once an (address, port, protocol) that never
    answered in this audit lets an operation time out, the operations after it are told at once. With
    ``gate`` (TCP, NTP: silence is a property of the address and port) the first operation goes alone and
    the others wait for its verdict outside the limits. DNS is not gated: a server may be silent for one zone
    (a dead forwarder) and answer the others, so it is judged silent only while it has answered nothing.
    """

    total: int
    per_host: int
    _global: asyncio.Semaphore = field(init=False)
    _hosts: dict[str, asyncio.Semaphore] = field(init=False, default_factory=dict)
    _first: dict[tuple[str, int, str], asyncio.Future[None]] = field(init=False, default_factory=dict)
    _silent: dict[tuple[str, int, str], str] = field(init=False, default_factory=dict)
    _alive: set[tuple[str, int, str]] = field(init=False, default_factory=set)
    in_flight: int = field(init=False, default=0)
    peak: int = field(init=False, default=0)  # the most operations seen in flight at once

    def __post_init__(self) -> None:
        self._global = asyncio.Semaphore(self.total)

    def silenced(self, key: tuple[str, int, str], reason: str) -> None:
        if key not in self._alive:
            self._silent.setdefault(key, reason)

    def answered(self, key: tuple[str, int, str]) -> None:
        self._alive.add(key)
        self._silent.pop(key, None)

    @contextlib.asynccontextmanager
    async def slot(
        self, host: str, port: int | None = None, proto: str = "tcp", *, gate: bool = True
    ) -> AsyncIterator[Contact]:
        key = None if port is None else (host, port, proto)
        mine: asyncio.Future[None] | None = None
        if key is not None and gate:
            first = self._first.get(key)
            if first is None:
                mine = self._first[key] = asyncio.get_running_loop().create_future()
            else:
                await asyncio.shield(first)
        if key is not None and key in self._silent:
            if mine is not None and not mine.done():
                mine.set_result(None)
            yield Contact(self._silent[key], None, None)
            return
        contact = Contact(None, self, key)
        sem = self._hosts.get(host)
        if sem is None:
            sem = self._hosts[host] = asyncio.Semaphore(self.per_host)
        try:
            async with sem, self._global:
                if key is not None and key in self._silent:  # judged silent while we waited for the slot
                    contact.no_answer(self._silent[key])
                    yield Contact(self._silent[key], None, None)
                    return
                self.in_flight += 1
                self.peak = max(self.peak, self.in_flight)
                try:
                    yield contact
                finally:
                    self.in_flight -= 1
        finally:
            contact.done()
            if mine is not None and not mine.done():
                mine.set_result(None)  # the first operation is over: the others may go (or are told)


class ProbeContext:
    """What a probe may use: the options, the limiter, and the store (to ask for other facts)."""

    def __init__(self, options: AuditOptions, store: FactStore) -> None:
        self.options = options
        self.store = store
        self.limiter = Limiter(options.limits.concurrency, options.limits.per_host)
        self.cache: dict[str, Any] = {}  # probe-private per-audit state (resolver config, SSL contexts)
        self._closers: list[Callable[[], None]] = []

    def on_close(self, fn: Callable[[], None]) -> None:
        """Call fn when the audit's store closes (sockets a probe keeps open for the whole audit)."""
        self._closers.append(fn)

    def close(self) -> None:
        closers, self._closers = self._closers, []
        for fn in closers:
            with contextlib.suppress(Exception):
                fn()

    @property
    def timeout(self) -> float:
        return self.options.timeouts.probe

    def slot(
        self, host: str, port: int | None = None, proto: str = "tcp", *, gate: bool = True
    ) -> contextlib.AbstractAsyncContextManager[Contact]:
        return self.limiter.slot(host, port, proto, gate=gate)

    async def fact(self, key: FactKey[V]) -> V:
        return await self.store.get(key, nested=True)


class FactStore:
    """A memo of facts keyed by the question: each question is asked once per audit. A question in flight is
    a future (its waiters share it), an answered one its value."""

    def __init__(self, probes: Mapping[type[FactKey[Any]], Probe], options: AuditOptions) -> None:
        self._probes = dict(probes)
        self._memo: dict[FactKey[Any], asyncio.Future[Any]] = {}  # asked and not answered yet, or failed
        # answered: the value alone (a done future costs ~150 bytes more, times 100,000 facts at 10,000 domains)
        self._values: dict[FactKey[Any], Any] = {}
        self.context = ProbeContext(options, self)
        self.counts: Counter[str] = Counter()  # probes actually run, by key type
        self.seconds: dict[str, float] = {}
        self._tasks: set[asyncio.Future[None]] = set()
        # Probes run as tasks up to this many at once; the questions past it wait as (probe, key, future)
        # in a queue, not as suspended coroutines: 20,000 SRV questions asked at once by target discovery
        # cost a few MB instead of a few hundred. A probe's own questions (a TLS version handshake asks for
        # the main handshake) start at once, so a running probe never waits for a queued one.
        self.max_running = max(64, 2 * options.limits.concurrency)
        self._running = 0
        self._queued: collections.deque[FactKey[Any]] = collections.deque()
        self._waiting: dict[FactKey[Any], tuple[Probe, asyncio.Future[Any]]] = {}  # queued, not started

    def close(self) -> None:
        """Cancel probes still running (the audit's deadline passed): nothing outlives the audit."""
        self._queued.clear()
        waiting, self._waiting = self._waiting, {}
        for key, (_probe, fut) in waiting.items():
            if not fut.done():
                fut.set_exception(ProbeCrash(f"{key.describe()}: cancelled"))
        for task in list(self._tasks):
            task.cancel()
        self.context.close()

    def __len__(self) -> int:
        """Questions asked so far (answered or not)."""
        return len(self._memo) + len(self._values)

    def _future(self, key: FactKey[Any], nested: bool) -> asyncio.Future[Any]:
        """The memo's future for key, its probe started (or queued) when it is new."""
        fut = self._memo.get(key)
        if fut is None:
            probe = self._probes.get(type(key))
            if probe is None:
                raise ProbeCrash(f"no probe is registered for {type(key).__name__}")
            fut = asyncio.get_running_loop().create_future()
            fut.add_done_callback(consume_future)
            self._memo[key] = fut
            if nested or self._running < self.max_running:
                self._start(probe, key, fut)
            else:
                self._waiting[key] = (probe, fut)
                self._queued.append(key)
        elif nested and key in self._waiting:
            # a running probe needs a question a check queued: start it now, or the probe could wait for a
            # queue that only moves when probes (this one among them) finish
            probe, fut = self._waiting.pop(key)
            self._start(probe, key, fut)
        return fut

    def _start(self, probe: Probe, key: FactKey[Any], fut: asyncio.Future[Any]) -> None:
        self._running += 1
        task = asyncio.ensure_future(self._run(probe, key, fut))
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Future[None]) -> None:
        self._tasks.discard(task)
        _consume(task)
        self._running -= 1
        while self._queued and self._running < self.max_running:
            key = self._queued.popleft()
            entry = self._waiting.pop(key, None)
            if entry is None:
                continue  # started early by a probe that needed it
            probe, fut = entry
            if not fut.done():
                self._start(probe, key, fut)

    async def get(self, key: FactKey[V], *, nested: bool = False) -> V:
        values = self._values
        if key in values:
            return cast(V, values[key])  # answered already (most asks in a large audit)
        fut = self._future(key, nested)
        if fut.done():
            return cast(V, fut.result())
        # shield: a check that times out must not cancel a fact other checks are waiting for
        return cast(V, await asyncio.shield(fut))

    async def get_many(self, keys: Sequence[FactKey[Any]]) -> list[Any]:
        """The answers to several questions, in order: one waiter for all of them, no task per question."""
        values = self._values
        answers: list[Any] = [values[k] if k in values else self._future(k, False) for k in keys]
        pending = {a for a in answers if isinstance(a, asyncio.Future) and not a.done()}
        if pending:
            # asyncio.wait never cancels what it waits for: a cancelled check leaves the facts running
            await asyncio.wait(pending)
        return [a.result() if isinstance(a, asyncio.Future) else a for a in answers]

    async def _run(self, probe: Probe, key: FactKey[Any], fut: asyncio.Future[Any]) -> None:
        name = type(key).__name__
        self.counts[name] += 1
        start = time.perf_counter()
        try:
            value = await probe(key, self.context)
        except asyncio.CancelledError:
            if not fut.done():
                fut.set_exception(ProbeCrash(f"{key.describe()}: cancelled"))
            raise
        except Exception as exc:
            if not fut.done():
                fut.set_exception(ProbeCrash(f"{key.describe()}: probe crashed: {type(exc).__name__}: {exc}"))
        else:
            if not fut.done():
                fut.set_result(value)
                self._values[key] = value
                del self._memo[key]  # the waiters hold the future; later asks read the value
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start


def _consume(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()


def consume_future(fut: asyncio.Future[Any]) -> None:
    """Mark a future's exception as retrieved (so nothing logs 'exception was never retrieved')."""
    if fut.done() and not fut.cancelled():
        fut.exception()
