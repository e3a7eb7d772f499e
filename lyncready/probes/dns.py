"""DNS probes: ask the audit's nameservers directly, so every rcode is seen as the phone would see it.

We send our own queries (dnspython ``asyncquery``) instead of using a stub resolver, because a
resolver folds SERVFAIL, REFUSED and timeouts into one exception, while an admin needs to know
which one happened and from which server. UDP first, TCP when the answer is truncated; CNAME
chains are followed; each nameserver is tried in turn, like a phone's resolver does.
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
import socket
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


class _UdpChannel(asyncio.DatagramProtocol):
    """One *connected* UDP socket per nameserver, its queries told apart by their 16-bit ID.

    Connected, so the ICMP port-unreachable of a closed port comes back at once as
    ConnectionRefusedError instead of a timeout; shared, so a thousand queries cost one socket
    instead of a thousand. A datagram whose ID no waiting query has (a late answer to a query that
    timed out) is dropped; one whose ID matches is that query's answer, malformed or not.
    """

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self._waiting: dict[int, tuple[dns.message.Message, asyncio.Future[dns.message.Message]]] = {}
        self._closed: BaseException | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)  # not a subclass of it on Python 3.11

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if len(data) < 2:
            return
        entry = self._waiting.get(int.from_bytes(data[:2], "big"))
        if entry is None:
            return
        query, fut = entry
        if fut.done():
            return
        try:
            response = dns.message.from_wire(data, raise_on_truncation=True)
        except dns.exception.DNSException as exc:
            fut.set_exception(exc)
            return
        except Exception as exc:  # garbage that dnspython's parser did not expect: still a malformed answer
            fut.set_exception(_form_error(f"{type(exc).__name__}: {exc}"))
            return
        if query.is_response(response):
            fut.set_result(response)
        else:
            fut.set_exception(_form_error("the answer does not respond to the question asked"))

    def error_received(self, exc: Exception) -> None:
        # the kernel cannot say which query an ICMP error belongs to: a refused port refuses them all
        for _query, fut in self._waiting.values():
            if not fut.done():
                fut.set_exception(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = exc or ConnectionAbortedError("the DNS socket was closed")
        self.error_received(self._closed)

    async def ask(self, query: dns.message.Message, seconds: float) -> dns.message.Message:
        """Send and wait for the answer; dns.exception.Timeout when none comes within seconds."""
        if self._closed is not None or self.transport is None:
            raise ConnectionAbortedError("the DNS socket was closed")
        while query.id in self._waiting:
            query.id = random.getrandbits(16)
        fut: asyncio.Future[dns.message.Message] = asyncio.get_running_loop().create_future()
        self._waiting[query.id] = (query, fut)
        try:
            self.transport.sendto(query.to_wire())
            try:
                async with asyncio.timeout(seconds):
                    return await fut
            except TimeoutError:
                raise dns.exception.Timeout(timeout=seconds) from None  # type: ignore[no-untyped-call]
        finally:
            self._waiting.pop(query.id, None)

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
        return channel
    return await asyncio.shield(fut)


async def _ask(qname: str, rdtype: str, ctx: ProbeContext) -> tuple[dns.message.Message | None, str, str, bool]:
    """Ask each nameserver in turn. Returns (response or None, server, reasons, used_tcp)."""
    servers = _nameservers(ctx)
    if not servers:
        return None, "", "no nameserver: give --nameserver or configure /etc/resolv.conf", False
    errors: list[str] = []
    last: tuple[dns.message.Message | None, str, bool] = (None, "", False)
    for ns in servers:
        query = dns.message.make_query(qname, rdtype)
        query.flags |= dns.flags.RD
        try:
            async with ctx.slot(ns.host, ns.port, "udp", gate=False) as contact:
                if contact.silent:
                    errors.append(f"{ns}: {contact.silent}")
                    continue
                channel = await _channel(ns, ctx)
                try:
                    response = await channel.ask(query, ctx.timeout)
                    used_tcp = False
                except dns.message.Truncated:
                    # the retry over TCP has its own failures: told apart, since the UDP port did answer
                    retried = await _tcp_after_truncation(query, ns, ctx)
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
        rcode = response.rcode()
        if rcode in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            return response, str(ns), "; ".join(errors), used_tcp
        errors.append(f"{ns}: {dns.rcode.to_text(rcode)}")
        last = (response, str(ns), used_tcp)
    return last[0], last[1], "; ".join(errors), last[2]


async def _tcp_after_truncation(
    query: dns.message.Message, ns: Nameserver, ctx: ProbeContext
) -> dns.message.Message | str:
    """The answer over TCP after a truncated UDP answer, or why there is none."""
    why = f"{ns}: the UDP answer was truncated (TC) and the retry over TCP"
    try:
        return await dns.asyncquery.tcp(query, ns.host, timeout=ctx.timeout, port=ns.port)
    except dns.exception.Timeout:
        return f"{why} got no answer within {ctx.timeout:g} s"
    except ConnectionRefusedError:
        return f"{why} was refused: a firewall blocks DNS over TCP (or the server does not serve it)"
    except OSError as exc:
        return f"{why} failed: {exc.strerror or exc}"
    except dns.exception.DNSException as exc:
        return f"{why} got a malformed answer ({exc})"


def _failure_status(response: dns.message.Message | None, reasons: str) -> DnsStatus:
    if response is None:
        return (
            DnsStatus.TIMEOUT
            if reasons and all("no answer within" in r for r in reasons.split("; "))
            else (DnsStatus.ERROR)
        )
    rcode = response.rcode()
    if rcode == dns.rcode.SERVFAIL:
        return DnsStatus.SERVFAIL
    if rcode == dns.rcode.REFUSED:
        return DnsStatus.REFUSED
    return DnsStatus.ERROR


async def probe_dns(key: DnsQuery, ctx: ProbeContext) -> DnsAnswer:
    rdtype = dns.rdatatype.from_text(key.rdtype)
    qname = key.name.rstrip(".")
    chain: list[str] = []
    tcp = False
    for _hop in range(MAX_CNAME_HOPS + 1):
        response, server, reasons, used_tcp = await _ask(qname, key.rdtype, ctx)
        tcp = tcp or used_tcp
        if response is None or response.rcode() not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
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
        owner = dns.name.from_text(qname)
        final = None
        for _ in range(MAX_CNAME_HOPS + 1):
            final = response.get_rrset(response.answer, owner, dns.rdataclass.IN, rdtype)
            if final is not None:
                break
            alias = response.get_rrset(response.answer, owner, dns.rdataclass.IN, dns.rdatatype.CNAME)
            if alias is None:
                break
            owner = alias[0].target
            chain.append(_norm(owner))
        if final is not None:
            srv: tuple[SrvRecord, ...] = ()
            addrs: tuple[str, ...] = ()
            if rdtype == dns.rdatatype.SRV:
                srv = tuple(
                    sorted(
                        (SrvRecord(r.priority, r.weight, r.port, _norm(r.target)) for r in final),
                        key=lambda s: (s.priority, -s.weight, s.target),
                    )
                )
            elif rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
                addrs = tuple(sorted(r.address for r in final))
            return DnsAnswer(
                key.name,
                key.rdtype,
                DnsStatus.OK,
                records=tuple(sorted(r.to_text() for r in final)),
                srv=srv,
                addresses=addrs,
                cname_chain=tuple(chain),
                server=server,
                ttl=final.ttl,
                used_tcp=tcp,
            )
        if response.rcode() == dns.rcode.NXDOMAIN:
            return DnsAnswer(
                key.name,
                key.rdtype,
                DnsStatus.NXDOMAIN,
                cname_chain=tuple(chain),
                server=server,
                reason=f"{server}: NXDOMAIN" + (f" for {chain[-1]}" if chain else ""),
                used_tcp=tcp,
            )
        if chain and _norm(owner) != _norm(qname):
            qname = _norm(owner)  # the server gave the alias but not its target: ask for the target
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
