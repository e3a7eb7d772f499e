"""Built-in probes: DNS, NTP, HTTP, TLS and DHCP facts (see :mod:`lyncready.facts`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lyncready import hookimpl
from lyncready.facts import (
    Addresses,
    DhcpProbe,
    DnsQuery,
    FactKey,
    HttpQuery,
    NtpQuery,
    Probe,
    TlsQuery,
    TlsVersionQuery,
)


@hookimpl
def register_probes(register: Callable[[type[FactKey[Any]], Probe], None]) -> None:
    from lyncready.probes import dhcp, dns, http, ntp, tls

    register(DnsQuery, dns.probe_dns)
    register(Addresses, dns.probe_addresses)
    register(NtpQuery, ntp.probe_ntp)
    register(HttpQuery, http.probe_http)
    register(TlsQuery, tls.probe_tls)
    register(TlsVersionQuery, tls.probe_tls_version)
    register(DhcpProbe, dhcp.probe_dhcp)
