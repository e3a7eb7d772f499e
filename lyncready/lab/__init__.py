"""The built-in lab: DNS, NTP, HTTP and HTTPS servers on loopback, in-process, no root needed.

``lyncready demo`` and the tests audit it. It holds two SIP domains:

* ``contoso.test`` (healthy): ``_sipinternaltls._tcp`` SRV to ``pool.contoso.test`` (127.0.0.1),
  ``_ntp._udp`` SRV to ``time.contoso.test`` (127.0.0.1, the lab's NTP port), HTTP and HTTPS on
  127.0.0.1 with a certificate for ``pool.contoso.test`` issued by an intermediate CA.
* ``fabrikam.test`` (broken, the classic mistakes): its ``_sipinternaltls._tcp`` SRV names
  ``lyncpool.corp.fabrikam.local`` (outside the SIP domain: strict DNS naming), which resolves to
  127.0.0.2, where port 80 is closed (refused) and HTTPS presents a certificate for
  ``sip.fabrikam.test`` only; and there is no ``_ntp._udp.fabrikam.test`` (NXDOMAIN).

Usage::

    async with Lab() as lab:
        report = await lyncready.audit_async(**lab.audit_kwargs())

    with running_lab() as lab:       # from synchronous code: the lab runs in its own thread and loop
        report = lyncready.audit(**lab.audit_kwargs())

Every port is chosen free at start; the HTTPS port is the same number on 127.0.0.1 and 127.0.0.2, and
the HTTP port number is held closed on 127.0.0.2 (a socket bound there that never listens, so the
connection is refused and nothing else can take the port). ``stop()`` closes every socket and
removes the temporary directory holding ``ca_bundle``.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import trustme

from ..options import normalise_domain
from .dhcp import DhcpLab, unavailable_reason
from .dns import DnsServer, RecordMap
from .ntp import NtpServer
from .web import PHONE_PATHS, StreamServer, WebServer, tls_server_context

__all__ = [
    "PHONE_PATHS",
    "DnsServer",
    "Lab",
    "NtpServer",
    "RecordMap",
    "StreamServer",
    "WebServer",
    "broken_records",
    "healthy_records",
    "running_lab",
    "tls_server_context",
]

PORT_ATTEMPTS = 20


def healthy_records(domain: str, *, address: str, ntp_port: int, sip_port: int = 5061) -> RecordMap:
    """A well-configured SIP domain's records (relative to the zone ``domain``)."""
    return {
        "_sipinternaltls._tcp": {"SRV": [f"0 0 {sip_port} pool.{domain}."]},
        "_ntp._udp": {"SRV": [f"0 0 {ntp_port} time.{domain}."]},
        "pool": {"A": [address]},
        "time": {"A": [address]},
    }


def broken_records(domain: str, *, pool: str, sip_port: int = 5061) -> RecordMap:
    """A SIP domain whose registrar SRV points outside it and which has no ``_ntp._udp`` record."""
    return {
        "_sipinternaltls._tcp": {"SRV": [f"0 0 {sip_port} {pool}."]},
        "sip": {"A": ["127.0.0.2"]},
    }


class Lab:
    """The lab servers. Start with ``await lab.start()`` or ``async with Lab() as lab``; runs once."""

    HEALTHY = "contoso.test"
    BROKEN = "fabrikam.test"
    BROKEN_POOL = "lyncpool.corp.fabrikam.local"
    BROKEN_ZONE = "fabrikam.local"
    HEALTHY_ADDRESS = "127.0.0.1"
    BROKEN_ADDRESS = "127.0.0.2"

    def __init__(self, *, extra_domains: Sequence[str] = (), dhcp: bool | None = False) -> None:
        """``extra_domains``: more healthy SIP domains, shaped like ``contoso.test`` (for benchmarks).

        Their ``pool.<domain>`` names are added to the healthy certificate, so they pass as well.
        ``dhcp``: also build a phone VLAN (two network namespaces and a DHCP responder, root only);
        None: when this machine allows it (``dhcp_note`` says why not otherwise).
        """
        self.want_dhcp = dhcp
        self.dhcp_lab: DhcpLab | None = None
        self.dhcp_note = "" if dhcp else "DHCP layer not part of this lab"
        extra = tuple(dict.fromkeys(normalise_domain(d) for d in extra_domains))
        self.domains: tuple[str, ...] = (self.HEALTHY, self.BROKEN, *extra)
        self.extra_domains = extra
        self.dns_port = self.ntp_port = self.http_port = self.https_port = 0
        self.ca_bundle = ""
        # certificates: root CA -> intermediate CA -> leaves (RSA, as Lync servers and LPE phones use)
        rsa = trustme.KeyType.RSA
        self.ca = trustme.CA(organization_name="lyncready lab root", key_type=rsa)
        self.intermediate = self.ca.create_child_ca(key_type=rsa)
        healthy_names = [
            name for d in (self.HEALTHY, *extra) for name in (f"pool.{d}", d)
        ]  # the first SAN is pool.contoso.test
        self.healthy_cert = self.intermediate.issue_cert(*healthy_names, key_type=rsa)
        self.broken_cert = self.intermediate.issue_cert(f"sip.{self.BROKEN}", key_type=rsa)
        self.dns = DnsServer()
        self.ntp = NtpServer()
        self.http = WebServer()
        self.https = WebServer(ssl=tls_server_context(self.healthy_cert))
        self.https_broken = WebServer(ssl=tls_server_context(self.broken_cert))
        self._closed_port: socket.socket | None = None
        self._tmp: str | None = None
        self._started = False

    # -- what an audit needs -----------------------------------------------------------------------

    @property
    def nameserver(self) -> str:
        return f"{self.HEALTHY_ADDRESS}:{self.dns_port}"

    @property
    def queries(self) -> int:
        """DNS queries served so far (UDP and TCP)."""
        return self.dns.queries

    def audit_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``lyncready.build_options`` / ``lyncready.audit`` aimed at this lab.

        (Typed ``dict[str, Any]`` rather than ``dict[str, object]`` so ``audit(**lab.audit_kwargs())``
        type-checks.)
        """
        return {
            "domains": list(self.domains),
            "nameservers": [self.nameserver],
            "ca_bundle": self.ca_bundle,
            "http_port": self.http_port,
            "https_port": self.https_port,
            "ntp_port": self.ntp_port,
            "device": "lpe",
            **(
                {"interface": self.dhcp_lab.interface, "netns": self.dhcp_lab.client_ns, "dhcp_timeout": 1.0}
                if self.dhcp_lab is not None
                else {}
            ),
        }

    def zone_data(self) -> dict[str, RecordMap]:
        """The zones served, by origin (SOA, NS and ns1 A records are added by the DNS server)."""
        zones: dict[str, RecordMap] = {}
        for domain in (self.HEALTHY, *self.extra_domains):
            zones[domain] = healthy_records(domain, address=self.HEALTHY_ADDRESS, ntp_port=self.ntp_port)
        zones[self.BROKEN] = broken_records(self.BROKEN, pool=self.BROKEN_POOL)
        zones[self.BROKEN_ZONE] = {
            self.BROKEN_POOL + ".": {"A": [self.BROKEN_ADDRESS]},
        }
        return zones

    def describe(self) -> str:
        """A few lines saying what runs where (for ``lyncready demo``)."""
        h, b = self.HEALTHY_ADDRESS, self.BROKEN_ADDRESS
        return "\n".join(
            (
                f"DNS    {self.nameserver} (UDP+TCP), zones: {', '.join(self.dns.zones)}",
                f"NTP    {h}:{self.ntp_port}/udp",
                f"HTTP   {h}:{self.http_port} (closed on {b}:{self.http_port})",
                f"HTTPS  {h}:{self.https_port} (pool.{self.HEALTHY}), {b}:{self.https_port} (sip.{self.BROKEN} only)",
                f"CA     {self.ca_bundle}",
                self.dhcp_note,
            )
        )

    # -- life cycle --------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._started:
            raise RuntimeError("a Lab starts once; make a new one")
        self._started = True
        try:
            self._tmp = tempfile.mkdtemp(prefix="lyncready-lab-")
            bundle = Path(self._tmp) / "lab-root-ca.pem"
            self.ca.cert_pem.write_to_path(str(bundle))
            self.ca_bundle = str(bundle)
            self.ntp_port = await self.ntp.start(self.HEALTHY_ADDRESS)
            await self._start_web()
            for origin, records in self.zone_data().items():
                self.dns.add_zone(origin, records, nameserver_address=self.HEALTHY_ADDRESS)
            self.dns_port = await self.dns.start(self.HEALTHY_ADDRESS)
            if self.want_dhcp is not False:
                await self._start_dhcp()
        except BaseException:
            await self.stop()
            raise

    async def _start_web(self) -> None:
        web = (self.http, self.https, self.https_broken)
        for _attempt in range(PORT_ATTEMPTS):
            try:
                http_port = await self.http.start(self.HEALTHY_ADDRESS)
                https_port = await self.https.start(self.HEALTHY_ADDRESS)
                await self.https_broken.start(self.BROKEN_ADDRESS, https_port)
                self._closed_port = _hold_closed(self.BROKEN_ADDRESS, http_port)
            except OSError:
                for server in web:
                    await server.stop()
                continue
            self.http_port, self.https_port = http_port, https_port
            return
        raise OSError(f"found no HTTPS port free on both {self.HEALTHY_ADDRESS} and {self.BROKEN_ADDRESS}")

    async def _start_dhcp(self) -> None:
        why = unavailable_reason()
        if why is not None:
            if self.want_dhcp:
                raise OSError(why)
            self.dhcp_note = why
            return
        lab = DhcpLab((self.HEALTHY, self.BROKEN), f"pool.{self.HEALTHY}")
        await asyncio.to_thread(lab.start)
        self.dhcp_lab = lab
        self.dhcp_note = (
            f"DHCP   responder in netns {lab.server_ns}, phone VLAN {lab.interface} in netns {lab.client_ns} "
            "(option 119 sent as a String, on purpose)"
        )

    async def stop(self) -> None:
        """Close every socket and remove the temporary directory. Safe to call more than once."""
        if self.dhcp_lab is not None:
            await asyncio.to_thread(self.dhcp_lab.stop)
            self.dhcp_lab = None
        for server in (self.dns, self.ntp, self.http, self.https, self.https_broken):
            with contextlib.suppress(Exception):
                await server.stop()
        if self._closed_port is not None:
            self._closed_port.close()
            self._closed_port = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
            self.ca_bundle = ""

    async def __aenter__(self) -> Lab:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()


def _hold_closed(host: str, port: int) -> socket.socket:
    """Bind ``host:port`` without listening: connections there are refused, and no one else can listen.

    Raises OSError when the port is in use there, or when something answers on it anyway.
    """
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        holder.bind((host, port))  # no SO_REUSEADDR: a listener elsewhere on this port makes it fail
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.settimeout(1.0)
            try:
                probe.connect((host, port))
            except ConnectionRefusedError:
                return holder
        raise OSError(f"something answers on {host}:{port}")
    except BaseException:
        holder.close()
        raise


@contextlib.contextmanager
def running_lab(**kwargs: Any) -> Iterator[Lab]:
    """Run a :class:`Lab` in a background thread with its own event loop, for synchronous callers.

    The caller may then use ``asyncio.run`` (or ``lyncready.audit``) in its own thread. On exit the
    lab stops, the loop closes and the thread is joined: nothing is left behind. The lab's objects
    belong to the lab's loop: read them freely, but change them (``lab.dns.add``) only between
    queries.
    """
    lab = Lab(**kwargs)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="lyncready-lab", daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(lab.start(), loop).result()
        yield lab
    finally:
        try:
            asyncio.run_coroutine_threadsafe(lab.stop(), loop).result()
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
