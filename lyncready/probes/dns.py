"""DNS probes: ask the audit's nameservers directly, so every rcode is seen as the phone would see it.

We send our own queries (dnspython ``asyncquery``) instead of using a stub resolver, because a
resolver folds SERVFAIL, REFUSED and timeouts into one exception, while an admin needs to know
which one happened and from which server. UDP first, TCP when the answer is truncated; CNAME
chains are followed; each nameserver is tried in turn, like a phone's resolver does.
"""

from __future__ import annotations

import ipaddress
import socket

import dns.asyncbackend
import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.resolver

from ..facts import Addresses, DnsAnswer, DnsQuery, DnsStatus, ProbeContext, SrvRecord
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
                # a *connected* UDP socket receives the ICMP port-unreachable of a closed port as
                # ConnectionRefusedError at once; dnspython's own unconnected socket would wait the timeout
                family = socket.AF_INET6 if ":" in ns.host else socket.AF_INET
                udp = await dns.asyncbackend.get_default_backend().make_socket(  # type: ignore[no-untyped-call]
                    family, socket.SOCK_DGRAM, 0, None, (ns.host, ns.port)
                )
                try:
                    response = await dns.asyncquery.udp(
                        query, ns.host, timeout=ctx.timeout, port=ns.port, raise_on_truncation=True, sock=udp
                    )
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
                finally:
                    await udp.close()
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
