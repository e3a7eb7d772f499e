"""DNS probes: ask the audit's nameservers directly, so every rcode is seen as the phone would see it.

We send our own queries instead of using a stub resolver, because a resolver folds SERVFAIL,
REFUSED and timeouts into one exception, while an admin needs to know which one happened and from
which server. UDP first (one connected socket per nameserver, queries built and read by
:mod:`lyncready.codecs.dnswire`, dnspython for what it leaves), TCP through dnspython when the answer
is truncated; CNAME chains are followed; each nameserver is tried in turn, like a phone's resolver does.
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
import socket
from collections.abc import Callable
from typing import Any, cast

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.resolver

from ..codecs import dnswire
from ..codecs.dnswire import Response
from ..facts import Addresses, DnsAnswer, DnsQuery, DnsStatus, ProbeContext, SrvRecord, consume_future
from ..options import Nameserver

MAX_CNAME_HOPS = 8


def _nameservers(ctx: ProbeContext) -> tuple[Nameserver, ...]:
    if ctx.options.nameservers:
        return ctx.options.nameservers
    cached = ctx.cache.get("dns.system_nameservers")
    if cached is None:
        # No --nameserver: the machine's own resolver configuration (what an admin's laptop uses).
        try:
            system = dns.resolver.Resolver(configure=True)
            cached = tuple(Nameserver(str(a), system.port) for a in system.nameservers)
        except dns.resolver.NoResolverConfiguration:
            cached = ()
        ctx.cache["dns.system_nameservers"] = cached
    return tuple(cached)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _norm(name: dns.name.Name | str) -> str:
    return str(name).rstrip(".").lower()


def _form_error(text: str) -> dns.exception.DNSException:
    return dns.exception.FormError(text)  # type: ignore[no-untyped-call]


class _Foreign(Exception):
    """A well-formed answer to another question (a late reply to a query whose ID is now reused)."""


class _Question:
    """One query in flight: its wire form, and how to read its answer."""

    __slots__ = ("foreign", "fut", "message", "name", "rdtype", "wire")

    def __init__(self, name: str, rdtype: int, qid: int) -> None:
        self.name = name
        self.rdtype = rdtype
        self.foreign = ""  # set when only answers to another question came with this ID
        self.fut: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        wire = dnswire.build_query(qid, name, rdtype)
        self.message: dns.message.Message | None = None
        if wire is None:  # a name our codec leaves to dnspython (non-ASCII labels, escapes)
            self.message = _dnspython_query(name, rdtype, qid)
            wire = self.message.to_wire()
        self.wire = wire

    def answer(self, data: bytes, qid: int) -> Response:
        """The answer read from data; raises DNSException (malformed, truncated) as dnspython would."""
        if self.message is None:
            parsed = dnswire.parse_response(data, qid, self.name, self.rdtype)
            if isinstance(parsed, dnswire.Malformed):
                if parsed.foreign:
                    raise _Foreign(parsed.reason)
                raise _form_error(parsed.reason)
            if parsed is not None:
                if parsed.truncated:
                    raise dns.message.Truncated()  # type: ignore[no-untyped-call]
                return parsed
            self.message = _dnspython_query(self.name, self.rdtype, qid)
        try:
            response = dns.message.from_wire(data, raise_on_truncation=True)
        except dns.exception.DNSException:
            raise
        except Exception as exc:  # garbage that dnspython's parser did not expect: still a malformed answer
            raise _form_error(f"{type(exc).__name__}: {exc}") from None
        if not self.message.is_response(response):
            raise _Foreign("the answer does not respond to the question asked")
        return from_message(response)


def _dnspython_query(name: str, rdtype: int, qid: int) -> dns.message.Message:
    query = dns.message.make_query(name, dns.rdatatype.RdataType(rdtype))
    query.flags |= dns.flags.RD
    query.id = qid
    return query


def from_message(message: dns.message.Message) -> Response:
    """dnspython's reading of an answer, as the codec's plain records."""
    records: list[dnswire.Record] = []
    for rrset in message.answer:
        if rrset.rdclass != dns.rdataclass.IN:
            continue
        owner = _norm(rrset.name)
        for r in rrset:
            kind = int(rrset.rdtype)
            if kind in (dnswire.A, dnswire.AAAA):
                rec = dnswire.Record(owner, kind, rrset.ttl, r.to_text(), address=r.address)
            elif kind == dnswire.CNAME:
                rec = dnswire.Record(owner, kind, rrset.ttl, r.to_text(), target=_norm(r.target))
            elif kind == dnswire.SRV:
                rec = dnswire.Record(
                    owner,
                    kind,
                    rrset.ttl,
                    r.to_text(),
                    target=_norm(r.target),
                    priority=r.priority,
                    weight=r.weight,
                    port=r.port,
                )
            else:
                rec = dnswire.Record(owner, kind, rrset.ttl, r.to_text())
            records.append(rec)
    return Response(message.rcode(), bool(message.flags & dns.flags.TC), tuple(records))


class _UdpChannel(asyncio.DatagramProtocol):
    """One *connected* UDP socket per nameserver, its queries told apart by their 16-bit ID.

    Connected, so the ICMP port-unreachable of a closed port comes back at once as
    ConnectionRefusedError instead of a timeout; shared, so a thousand queries cost one socket
    instead of a thousand. A datagram whose ID no waiting query has (a late answer to a query that
    timed out) is dropped, and so is a well-formed answer to another question (a late answer whose ID
    was reused): the query waits on, and if nothing else comes it fails as answered for another question.
    A datagram with a waiting query's ID that is not a well-formed answer is that query's (malformed) answer.
    """

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self._waiting: dict[int, _Question] = {}
        self._closed: BaseException | None = None
        self.on_lost: Callable[[], None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)  # not a subclass of it on Python 3.11

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if len(data) < 2:
            return
        qid = int.from_bytes(data[:2], "big")
        question = self._waiting.get(qid)
        if question is None or question.fut.done():
            return
        try:
            question.fut.set_result(question.answer(data, qid))
        except _Foreign as exc:
            question.foreign = str(exc)
        except dns.exception.DNSException as exc:
            question.fut.set_exception(exc)

    def error_received(self, exc: Exception) -> None:
        # the kernel cannot say which query an ICMP error belongs to: a refused port refuses them all
        for question in self._waiting.values():
            if not question.fut.done():
                question.fut.set_exception(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = exc or ConnectionAbortedError("the DNS socket was closed")
        self.error_received(self._closed)
        if self.on_lost is not None:
            self.on_lost()  # the next query opens a new socket

    async def ask(self, name: str, rdtype: int, seconds: float) -> Response:
        """Send and wait for the answer. dns.exception.Timeout when none comes within seconds,
        dns.message.Truncated when the answer must be asked again over TCP."""
        if self._closed is not None or self.transport is None:
            raise ConnectionAbortedError("the DNS socket was closed")
        qid = random.getrandbits(16)
        while qid in self._waiting:
            qid = random.getrandbits(16)
        question = _Question(name, rdtype, qid)
        self._waiting[qid] = question
        try:
            self.transport.sendto(question.wire)
            try:
                async with asyncio.timeout(seconds):
                    return await question.fut
            except TimeoutError:
                if question.foreign:
                    raise _form_error(f"only answers to another question came back: {question.foreign}") from None
                raise dns.exception.Timeout(timeout=seconds) from None  # type: ignore[no-untyped-call]
        finally:
            self._waiting.pop(qid, None)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def _channel(ns: Nameserver, ctx: ProbeContext) -> _UdpChannel:
    """The audit's socket to this nameserver, opened on first use and closed with the audit."""
    channels: dict[tuple[str, int], asyncio.Future[_UdpChannel]] = ctx.cache.setdefault("dns.channels", {})
    key = (ns.host, ns.port)
    fut = channels.get(key)
    if fut is None:
        loop = asyncio.get_running_loop()
        fut = channels[key] = loop.create_future()
        try:
            family = socket.AF_INET6 if ":" in ns.host else socket.AF_INET
            _transport, channel = await loop.create_datagram_endpoint(
                _UdpChannel, remote_addr=(ns.host, ns.port), family=family
            )
        except BaseException as exc:
            del channels[key]  # the next query tries again
            fut.set_exception(exc)
            consume_future(fut)
            raise
        fut.set_result(channel)
        ctx.on_close(channel.close)

        def forget() -> None:
            if channels.get(key) is fut:
                del channels[key]

        channel.on_lost = forget
        return channel
    return await asyncio.shield(fut)


async def _ask(qname: str, rdtype: int, ctx: ProbeContext) -> tuple[Response | None, str, str, bool]:
    """Ask each nameserver in turn. Returns (response or None, server, reasons, used_tcp)."""
    servers = _nameservers(ctx)
    if not servers:
        return None, "", "no nameserver: give --nameserver or configure /etc/resolv.conf", False
    errors: list[str] = []
    last: tuple[Response | None, str, bool] = (None, "", False)
    for ns in servers:
        try:
            async with ctx.slot(ns.host, ns.port, "udp", gate=False) as contact:
                if contact.silent:
                    errors.append(f"{ns}: {contact.silent}")
                    continue
                channel = await _channel(ns, ctx)
                try:
                    response = await channel.ask(qname, rdtype, ctx.timeout)
                    used_tcp = False
                except dns.message.Truncated:
                    # the retry over TCP has its own failures: told apart, since the UDP port did answer
                    retried = await _tcp_after_truncation(qname, rdtype, ns, ctx)
                    if isinstance(retried, str):
                        errors.append(retried)
                        continue
                    response, used_tcp = retried, True
                except dns.exception.Timeout:
                    contact.no_answer(f"no answer within {ctx.timeout:g} s (to earlier queries; not asked again)")
                    raise
        except dns.exception.Timeout:
            errors.append(f"{ns}: no answer within {ctx.timeout:g} s")
            continue
        except ConnectionRefusedError:
            errors.append(f"{ns}: connection refused (nothing listens on that port)")
            continue
        except OSError as exc:
            errors.append(f"{ns}: {exc.strerror or exc}")
            continue
        except dns.exception.DNSException as exc:
            errors.append(f"{ns}: malformed answer ({exc})")
            continue
        rcode = response.rcode
        if rcode in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            return response, str(ns), "; ".join(errors), used_tcp
        errors.append(f"{ns}: {dns.rcode.to_text(rcode)}")  # type: ignore[arg-type]
        last = (response, str(ns), used_tcp)
    return last[0], last[1], "; ".join(errors), last[2]


async def _tcp_after_truncation(qname: str, rdtype: int, ns: Nameserver, ctx: ProbeContext) -> Response | str:
    """The answer over TCP after a truncated UDP answer, or why there is none."""
    why = f"{ns}: the UDP answer was truncated (TC) and the retry over TCP"
    query = _dnspython_query(qname, rdtype, random.getrandbits(16))
    try:
        return from_message(await dns.asyncquery.tcp(query, ns.host, timeout=ctx.timeout, port=ns.port))
    except dns.exception.Timeout:
        return f"{why} got no answer within {ctx.timeout:g} s"
    except ConnectionRefusedError:
        return f"{why} was refused: a firewall blocks DNS over TCP (or the server does not serve it)"
    except OSError as exc:
        return f"{why} failed: {exc.strerror or exc}"
    except dns.exception.DNSException as exc:
        return f"{why} got a malformed answer ({exc})"


def _failure_status(response: Response | None, reasons: str) -> DnsStatus:
    if response is None:
        return (
            DnsStatus.TIMEOUT
            if reasons and all("no answer within" in r for r in reasons.split("; "))
            else (DnsStatus.ERROR)
        )
    if response.rcode == dns.rcode.SERVFAIL:
        return DnsStatus.SERVFAIL
    if response.rcode == dns.rcode.REFUSED:
        return DnsStatus.REFUSED
    return DnsStatus.ERROR


def _wire_text(name: str) -> str:
    """A name as the answer's owner names are compared: lower case, IDNA for non-ASCII labels."""
    return _norm(name if name.isascii() else dns.name.from_text(name).to_text())


def _rrset(response: Response, owner: str, rdtype: int) -> list[dnswire.Record]:
    """The records of one owner and type in the answer section (one of each, as an RRset has)."""
    seen: dict[str, dnswire.Record] = {}
    for r in response.answer:
        if r.rdtype == rdtype and r.owner == owner:
            seen.setdefault(r.text, r)
    return list(seen.values())


async def probe_dns(key: DnsQuery, ctx: ProbeContext) -> DnsAnswer:
    rdtype = int(dns.rdatatype.from_text(key.rdtype))
    qname = key.name.rstrip(".")
    chain: list[str] = []
    tcp = False
    for _hop in range(MAX_CNAME_HOPS + 1):
        response, server, reasons, used_tcp = await _ask(qname, rdtype, ctx)
        tcp = tcp or used_tcp
        if response is None or response.rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            return DnsAnswer(
                key.name,
                key.rdtype,
                _failure_status(response, reasons),
                cname_chain=tuple(chain),
                server=server,
                reason=reasons,
                used_tcp=tcp,
            )
        # Walk the answer section from the name asked, through any CNAMEs, to the final RRset.
        owner = _wire_text(qname)
        final: list[dnswire.Record] = []
        for _ in range(MAX_CNAME_HOPS + 1):
            final = _rrset(response, owner, rdtype)
            if final:
                break
            alias = _rrset(response, owner, dnswire.CNAME)
            if not alias:
                break
            owner = alias[0].target
            chain.append(owner)
        if final:
            srv: tuple[SrvRecord, ...] = ()
            addrs: tuple[str, ...] = ()
            if rdtype == dnswire.SRV:
                srv = tuple(
                    sorted(
                        (SrvRecord(r.priority, r.weight, r.port, r.target) for r in final),
                        key=lambda s: (s.priority, -s.weight, s.target),
                    )
                )
            elif rdtype in (dnswire.A, dnswire.AAAA):
                addrs = tuple(sorted(r.address for r in final))
            return DnsAnswer(
                key.name,
                key.rdtype,
                DnsStatus.OK,
                records=tuple(sorted(r.text for r in final)),
                srv=srv,
                addresses=addrs,
                cname_chain=tuple(chain),
                server=server,
                ttl=min(r.ttl for r in final),
                used_tcp=tcp,
            )
        if response.rcode == dns.rcode.NXDOMAIN:
            return DnsAnswer(
                key.name,
                key.rdtype,
                DnsStatus.NXDOMAIN,
                cname_chain=tuple(chain),
                server=server,
                reason=f"{server}: NXDOMAIN" + (f" for {chain[-1]}" if chain else ""),
                used_tcp=tcp,
            )
        if chain and owner != _wire_text(qname):
            qname = owner  # the server gave the alias but not its target: ask for the target
            continue
        return DnsAnswer(
            key.name,
            key.rdtype,
            DnsStatus.NODATA,
            cname_chain=tuple(chain),
            server=server,
            reason=f"{server}: the name exists but has no {key.rdtype} record",
            used_tcp=tcp,
        )
    return DnsAnswer(
        key.name,
        key.rdtype,
        DnsStatus.ERROR,
        cname_chain=tuple(chain),
        reason=f"more than {MAX_CNAME_HOPS} CNAME hops (a loop?)",
        used_tcp=tcp,
    )


async def probe_addresses(key: Addresses, ctx: ProbeContext) -> DnsAnswer:
    """IPv4 addresses, as the phones use. An IP literal needs no lookup."""
    name = key.name.strip().rstrip(".")
    if _is_ip(name):
        return DnsAnswer(name, "A", DnsStatus.OK, records=(name,), addresses=(name,), reason="an address literal")
    return await ctx.fact(DnsQuery(name.lower(), "A"))
