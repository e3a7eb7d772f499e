"""An authoritative DNS server for the lab: dnspython messages over asyncio UDP and TCP on loopback.

The zone data is a plain dict, so a lab (or a benchmark generating a thousand domains) extends it
with one call::

    server = DnsServer()
    server.add_zone("contoso.test", {
        "_sipinternaltls._tcp": {"SRV": ["0 0 5061 pool"]},   # names relative to the zone...
        "pool.contoso.test.": {"A": ["127.0.0.1"]},           # ...or absolute (trailing dot)
    })
    port = await server.start()

It answers as a real authoritative server does: AA set; NOERROR with the RRset (CNAMEs followed
inside its own data); NXDOMAIN or NODATA with the zone's SOA in the authority section; REFUSED for
names outside its zones; TC over UDP when the answer does not fit (512 bytes, or the EDNS payload),
so the client retries over TCP. A malformed query gets FORMERR when its header can be read and is
ignored otherwise: nothing a client sends stops the server.
"""

from __future__ import annotations

import asyncio
import functools
import struct
from collections.abc import Mapping, Sequence
from typing import cast

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from .web import StreamServer

RecordMap = Mapping[str, Mapping[str, Sequence[str]]]
"""Owner name -> record type -> rdata in presentation form, e.g. ``{"pool": {"A": ["127.0.0.1"]}}``."""

DEFAULT_TTL = 300
MAX_CNAME_HOPS = 8
UDP_PAYLOAD_CAP = 4096  # the largest EDNS payload we honour over UDP
TCP_IDLE_TIMEOUT = 10.0

IN = dns.rdataclass.IN


class DnsServer:
    """An authoritative server for a set of zones, answering from an in-memory table of RRsets.

    Records may be added while the server runs (from the loop's thread). ``queries`` counts every
    well-formed query served, over UDP and TCP.
    """

    def __init__(self, *, ttl: int = DEFAULT_TTL) -> None:
        self.ttl = ttl
        self.queries = 0
        self.tcp_queries = 0
        self.host = ""
        self.port = 0
        self._zones: dict[dns.name.Name, dns.rrset.RRset] = {}  # zone origin -> its SOA
        self._data: dict[dns.name.Name, dict[int, dns.rrset.RRset]] = {}
        self._nodes: set[dns.name.Name] = set()  # names that exist: owners and empty non-terminals
        self._udp: asyncio.DatagramTransport | None = None
        self._udp_closed: asyncio.Future[None] | None = None
        self._tcp = StreamServer(self._serve_tcp)

    # -- zone data -------------------------------------------------------------------------------

    def add_zone(
        self,
        origin: str,
        records: RecordMap | None = None,
        *,
        nameserver_address: str = "127.0.0.1",
    ) -> None:
        """Become authoritative for ``origin`` and load ``records`` into it.

        A SOA (``ns1.<origin> hostmaster.<origin> 1 3600 600 86400 300``), an NS ``ns1.<origin>`` and
        its A record are added unless ``records`` give their own.
        """
        zone = dns.name.from_text(origin)
        records = records or {}
        apex: set[str] = set()
        for owner, types in records.items():
            if dns.name.from_text(owner, origin=zone) == zone:
                apex.update(t.upper() for t in types)
        defaults: dict[str, dict[str, list[str]]] = {}
        if "SOA" not in apex:
            defaults.setdefault("@", {})["SOA"] = ["ns1 hostmaster 1 3600 600 86400 300"]
        if "NS" not in apex:
            defaults.setdefault("@", {})["NS"] = ["ns1"]
            defaults["ns1"] = {"A": [nameserver_address]}
        self._zones[zone] = dns.rrset.RRset(zone, IN, dns.rdatatype.SOA)  # placeholder, set just below
        self._nodes.add(zone)
        for owner, types in (*defaults.items(), *records.items()):
            for rdtype, rdatas in types.items():
                self.add(dns.name.from_text(owner, origin=zone).to_text(), rdtype, *rdatas, origin=zone)
        soa = self._data.get(zone, {}).get(dns.rdatatype.SOA)
        if soa is None:
            del self._zones[zone]
            raise ValueError(f"zone {origin}: no SOA record")
        self._zones[zone] = soa

    def add(
        self,
        name: str,
        rdtype: str,
        *rdatas: str,
        ttl: int | None = None,
        origin: dns.name.Name | None = None,
    ) -> None:
        """Add records to ``name`` (absolute, or relative to ``origin``), inside a zone already added."""
        owner = dns.name.from_text(name, origin=origin)
        zone = self.zone_of(owner)
        if zone is None:
            raise ValueError(f"{owner} is outside every zone of this server (add_zone first)")
        rtype = dns.rdatatype.from_text(rdtype)
        node = self._data.setdefault(owner, {})
        rrset = node.get(rtype)
        if rrset is None:
            rrset = node[rtype] = dns.rrset.RRset(owner, IN, rtype)
        for text in rdatas:
            rdata = dns.rdata.from_text(IN, rtype, text, origin=zone, relativize=False)
            rrset.add(rdata, self.ttl if ttl is None else ttl)
        while owner != zone and owner not in self._nodes:  # every ancestor up to the apex exists
            self._nodes.add(owner)
            owner = owner.parent()

    def remove(self, name: str, rdtype: str | None = None) -> None:
        """Drop one RRset (or every RRset) of an absolute name; a name left empty stops existing."""
        owner = dns.name.from_text(name)
        node = self._data.get(owner, {})
        if rdtype is None:
            node.clear()
        else:
            node.pop(dns.rdatatype.from_text(rdtype), None)
        if not node and owner not in self._zones:
            self._data.pop(owner, None)
            if not any(n != owner and n.is_subdomain(owner) for n in self._nodes):
                self._nodes.discard(owner)  # (its ancestors stay, as empty non-terminals)

    def zone_of(self, name: dns.name.Name) -> dns.name.Name | None:
        """The closest enclosing zone this server is authoritative for."""
        while True:
            if name in self._zones:
                return name
            if name == dns.name.root or len(name) == 0:
                return None
            name = name.parent()

    @property
    def zones(self) -> tuple[str, ...]:
        return tuple(z.to_text(omit_final_dot=True) for z in self._zones)

    # -- answering -------------------------------------------------------------------------------

    def answer(self, query: dns.message.Message) -> dns.message.Message:
        """The response to one parsed query (no I/O: usable without sockets)."""
        response = dns.message.make_response(query)
        if query.opcode() != dns.opcode.QUERY:
            response.set_rcode(dns.rcode.NOTIMP)
            return response
        if len(query.question) != 1:
            response.set_rcode(dns.rcode.FORMERR)
            return response
        question = query.question[0]
        qname, qtype = question.name, question.rdtype
        zone = self.zone_of(qname) if question.rdclass == IN else None
        if zone is None or qtype in (dns.rdatatype.AXFR, dns.rdatatype.IXFR):
            response.set_rcode(dns.rcode.REFUSED)
            return response
        response.flags |= dns.flags.AA
        name = qname
        for _hop in range(MAX_CNAME_HOPS + 1):
            node = self._data.get(name, {})
            if not node and name not in self._nodes:
                response.set_rcode(dns.rcode.NXDOMAIN)
                self._add_soa(response, name)
                break
            if qtype == dns.rdatatype.ANY and node:
                response.answer.extend(node.values())
                break
            rrset = node.get(qtype)
            if rrset is not None:
                response.answer.append(rrset)
                break
            alias = node.get(dns.rdatatype.CNAME)
            if alias is None:  # NODATA
                self._add_soa(response, name)
                break
            response.answer.append(alias)
            name = alias[0].target
            if self.zone_of(name) is None:
                break  # the alias leaves our data: the client follows it elsewhere
        self._add_glue(response)
        return response

    def _add_soa(self, response: dns.message.Message, name: dns.name.Name) -> None:
        zone = self.zone_of(name)
        if zone is None:
            return
        soa = self._zones[zone]
        negative = dns.rrset.RRset(soa.name, IN, dns.rdatatype.SOA)
        negative.add(soa[0], min(soa.ttl, soa[0].minimum))  # RFC 2308: the negative-caching TTL
        response.authority.append(negative)

    def _add_glue(self, response: dns.message.Message) -> None:
        """Addresses of SRV, NS and MX targets we hold, in the additional section."""
        seen: set[dns.name.Name] = set()
        for rrset in list(response.answer):
            for rd in rrset:
                target: dns.name.Name | None = getattr(rd, "target", None)
                if target is None:
                    target = getattr(rd, "exchange", None)
                if target is None or target in seen or rrset.rdtype == dns.rdatatype.CNAME:
                    continue
                seen.add(target)
                node = self._data.get(target, {})
                for rtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
                    if rtype in node:
                        response.additional.append(node[rtype])

    def handle_wire(self, wire: bytes, *, tcp: bool = False) -> bytes | None:
        """Bytes in, bytes out (or None: nothing to send back). Never raises."""
        if len(wire) < 12 or wire[2] & 0x80:  # no full header, or a response: ignore
            return None
        try:
            query = dns.message.from_wire(wire)
        except Exception:
            return _header_only(wire, dns.rcode.FORMERR)
        self.queries += 1
        if tcp:
            self.tcp_queries += 1
        try:
            response = self.answer(query)
            if tcp:
                limit = 65535
            elif query.edns >= 0:
                limit = min(max(512, query.payload), UDP_PAYLOAD_CAP)
            else:
                limit = 512
            try:
                return response.to_wire(max_size=limit)
            except dns.exception.TooBig:
                pass
            response.additional.clear()  # glue is optional: drop it before truncating
            try:
                return response.to_wire(max_size=limit)
            except dns.exception.TooBig:
                pass
            truncated = dns.message.make_response(query)
            truncated.set_rcode(response.rcode())
            truncated.flags |= (response.flags & dns.flags.AA) | dns.flags.TC
            return truncated.to_wire(max_size=limit)
        except Exception:
            return _header_only(wire, dns.rcode.SERVFAIL)

    # -- sockets ---------------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen on UDP and TCP ``host:port`` (0: a free port, the same for both). Returns the port."""
        loop = asyncio.get_running_loop()
        for _attempt in range(20):
            closed: asyncio.Future[None] = loop.create_future()
            transport, _ = await loop.create_datagram_endpoint(
                functools.partial(_UdpProtocol, self, closed), local_addr=(host, port)
            )
            bound = int(transport.get_extra_info("sockname")[1])
            try:
                await self._tcp.start(host, bound)
            except OSError:
                transport.close()
                await closed
                if port:
                    raise
                continue  # the TCP side of that port is taken: try another
            self._udp, self._udp_closed = transport, closed
            self.host, self.port = host, bound
            return bound
        raise OSError(f"no port on {host} free for both UDP and TCP")

    async def stop(self) -> None:
        await self._tcp.stop()
        if self._udp is not None:
            self._udp.close()
            if self._udp_closed is not None:
                await self._udp_closed
            self._udp = self._udp_closed = None

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                async with asyncio.timeout(TCP_IDLE_TIMEOUT):
                    (length,) = struct.unpack("!H", await reader.readexactly(2))
                    wire = await reader.readexactly(length)
            except (asyncio.IncompleteReadError, TimeoutError, OSError):
                return
            reply = self.handle_wire(wire, tcp=True)
            if reply is None:
                return
            writer.write(struct.pack("!H", len(reply)) + reply)
            await writer.drain()


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: DnsServer, closed: asyncio.Future[None]) -> None:
        self.server = server
        self.closed = closed
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Python 3.11's selector transport does not subclass DatagramTransport, but is one
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        reply = self.server.handle_wire(data)
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)

    def error_received(self, exc: Exception) -> None:
        pass  # an ICMP error for a reply we sent: the client went away

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


def _header_only(wire: bytes, rcode: int) -> bytes:
    """A bare response header (no sections) for a query we could not parse or answer."""
    (qid, flags) = struct.unpack("!HH", wire[:4])
    flags = 0x8000 | (flags & 0x7900) | (rcode & 0xF)  # QR, the query's opcode and RD, the rcode
    return struct.pack("!HHHHHH", qid, flags, 0, 0, 0, 0)
