"""What an audit is asked to do: the typed form of the CLI arguments and of ``lyncready.audit(...)``."""

from __future__ import annotations

import dataclasses
import enum
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .model import Mute, Severity


class Device(enum.StrEnum):
    """The phone family whose needs set the severity of device-dependent checks."""

    LPE = "lpe"  # Lync Phone Edition (Polycom CX, Aastra 672x, HP 4110/4120): TLS 1.0, no TLS 1.2
    TPIP = "3pip"  # third-party IP phones (Polycom VVX, Yealink, AudioCodes): want TLS 1.2


class OptionError(ValueError):
    """An argument that cannot be used; the CLI prints it as one line and exits 3."""


@dataclass(frozen=True, slots=True)
class Nameserver:
    host: str
    port: int = 53

    @classmethod
    def parse(cls, text: str) -> Nameserver:
        """``10.0.0.5``, ``10.0.0.5:5353``, ``::1``, ``[::1]:5353``."""
        text = text.strip()
        host, port = text, 53
        if text.startswith("["):
            end = text.find("]")
            if end < 0:
                raise OptionError(f"nameserver {text!r}: missing ']'")
            host, rest = text[1:end], text[end + 1 :]
            if rest:
                if not rest.startswith(":"):
                    raise OptionError(f"nameserver {text!r}: expected ':PORT' after ']'")
                port = _port(rest[1:], text)
        elif text.count(":") == 1:
            host, _, p = text.partition(":")
            port = _port(p, text)
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise OptionError(f"nameserver {text!r}: give an IP address (optionally with :PORT)") from None
        return cls(host, port)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == 53 else f"{host}:{self.port}"


def _port(text: str, whole: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise OptionError(f"{whole!r}: port must be a number from 1 to 65535")
    return int(text)


@dataclass(frozen=True, slots=True)
class HostPort:
    host: str
    port: int | None = None

    @classmethod
    def parse(cls, text: str) -> HostPort:
        text = text.strip()
        if not text:
            raise OptionError("empty host")
        if text.startswith("["):
            ns = Nameserver.parse(text)
            return cls(ns.host, ns.port if "]:" in text else None)
        if text.count(":") == 1:
            host, _, p = text.partition(":")
            return cls(host, _port(p, text))
        return cls(text)


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Time budgets in seconds (named, with defaults, as httpx does)."""

    probe: float = 3.0  # one network exchange (a DNS query, an NTP packet, a TCP/TLS connect)
    check: float = 20.0  # one check on one target, including the facts it waits for
    total: float = 300.0  # the whole audit


@dataclass(frozen=True, slots=True)
class Limits:
    concurrency: int = 512  # network operations in flight at once (a black hole costs a socket, not CPU)
    per_host: int = 8  # network operations in flight to one address


@dataclass(frozen=True, slots=True)
class Ports:
    """Where services are expected. Defaults are what phones use; labs pin others."""

    http: int = 80
    https: int = 443
    ntp: int = 123
    sip_tls: int = 5061


@dataclass(frozen=True, slots=True)
class Thresholds:
    ntp_offset_warn: float = 1.0
    ntp_offset_fail: float = 60.0
    cert_expiry_warn_days: int = 30


DEFAULT_DHCP_WINDOW = 5.0  # seconds to collect DHCP replies; servers that ping before offering need ~3 s


@dataclass(frozen=True, slots=True)
class DhcpSettings:
    """The DHCP probe of an audit: where and how to ask as a phone would (none without an interface)."""

    interface: str | None = None
    mode: str = "inform"  # "inform" | "discover" (never followed by REQUEST)
    server: str | None = None  # unicast to this server
    giaddr: str | None = None  # relay agent address: audit a remote VLAN's scope
    window: float = DEFAULT_DHCP_WINDOW
    netns: str | None = None  # probe from inside this network namespace


@dataclass(frozen=True, slots=True)
class AuditOptions:
    domains: tuple[str, ...] = ()
    nameservers: tuple[Nameserver, ...] = ()  # empty: the system's resolver configuration
    web_fqdns: tuple[str, ...] = ()
    ntp_servers: tuple[HostPort, ...] = ()
    ca_bundle: str | None = None  # PEM file of trust anchors; None: the system store
    device: Device = Device.LPE
    checks: tuple[str, ...] = ()  # only these check ids (empty: all)
    skip: tuple[str, ...] = ()
    timeouts: Timeouts = field(default_factory=Timeouts)
    limits: Limits = field(default_factory=Limits)
    ports: Ports = field(default_factory=Ports)
    thresholds: Thresholds = field(default_factory=Thresholds)
    dhcp: DhcpSettings = field(default_factory=DhcpSettings)
    expected_registrars: tuple[str, ...] = ()  # the pool FQDNs the SRV record and option 120 should name
    severity: Mapping[str, Severity] = field(default_factory=dict)  # profile: check id -> severity
    mutes: tuple[Mute, ...] = ()
    site: str = ""
    tls_versions_per_name: bool = False  # the TLS version matrix per web FQDN instead of per address:port
    extra: dict[str, Any] = field(default_factory=dict)  # for plugins: namespaced settings

    def as_dict(self) -> dict[str, Any]:
        from .model import to_jsonable

        d: dict[str, Any] = to_jsonable(self)
        d["nameservers"] = [str(n) for n in self.nameservers]
        d["ntp_servers"] = [h.host if h.port is None else f"{h.host}:{h.port}" for h in self.ntp_servers]
        return d


def normalise_domain(name: str) -> str:
    """Lower-case, no trailing dot, IDNA-checked. Raises :class:`OptionError` for an unusable name."""
    n = name.strip().rstrip(".").lower()
    if not n or len(n) > 253 or any(not lbl or len(lbl) > 63 for lbl in n.split(".")):
        raise OptionError(f"{name!r} is not a DNS name")
    if any(c.isspace() or c in "/\\@:" for c in n):
        raise OptionError(f"{name!r} is not a DNS name")
    return n


def build_options(
    *,
    domains: list[str] | tuple[str, ...] = (),
    nameservers: list[str] | tuple[str, ...] = (),
    web_fqdns: list[str] | tuple[str, ...] = (),
    ntp_servers: list[str] | tuple[str, ...] = (),
    ca_bundle: str | None = None,
    device: str | Device = Device.LPE,
    checks: list[str] | tuple[str, ...] = (),
    skip: list[str] | tuple[str, ...] = (),
    timeout: float | None = None,
    check_timeout: float | None = None,
    total_timeout: float | None = None,
    concurrency: int | None = None,
    per_host: int | None = None,
    http_port: int | None = None,
    https_port: int | None = None,
    ntp_port: int | None = None,
    sip_port: int | None = None,
    ntp_offset_warn: float | None = None,
    ntp_offset_fail: float | None = None,
    cert_expiry_warn_days: int | None = None,
    interface: str | None = None,
    dhcp_mode: str = "inform",
    dhcp_server: str | None = None,
    giaddr: str | None = None,
    dhcp_timeout: float | None = None,
    netns: str | None = None,
    tls_versions_per_name: bool = False,
    extra: dict[str, Any] | None = None,
) -> AuditOptions:
    """Validate loose arguments (strings as a user types them) into :class:`AuditOptions`."""
    try:
        dev = Device(device)
    except ValueError:
        raise OptionError(f"device must be one of: {', '.join(d.value for d in Device)}") from None
    t = Timeouts()
    if timeout is not None:
        if timeout <= 0:
            raise OptionError("timeout must be positive")
        t = dataclasses.replace(t, probe=timeout, check=max(t.check, timeout * 6))
    if check_timeout is not None:
        t = dataclasses.replace(t, check=check_timeout)
    if total_timeout is not None:
        t = dataclasses.replace(t, total=total_timeout)
    lim = Limits()
    if concurrency is not None:
        if concurrency < 1:
            raise OptionError("concurrency must be at least 1")
        lim = dataclasses.replace(lim, concurrency=concurrency, per_host=min(lim.per_host, concurrency))
    if per_host is not None:
        if per_host < 1:
            raise OptionError("per-host limit must be at least 1")
        lim = dataclasses.replace(lim, per_host=per_host)
    p = Ports()
    for name, value in (("http", http_port), ("https", https_port), ("ntp", ntp_port), ("sip_tls", sip_port)):
        if value is not None:
            if not 0 < value < 65536:
                raise OptionError(f"{name} port must be from 1 to 65535")
            p = dataclasses.replace(p, **{name: value})
    th = Thresholds()
    if ntp_offset_warn is not None:
        th = dataclasses.replace(th, ntp_offset_warn=ntp_offset_warn)
    if ntp_offset_fail is not None:
        th = dataclasses.replace(th, ntp_offset_fail=ntp_offset_fail)
    if cert_expiry_warn_days is not None:
        th = dataclasses.replace(th, cert_expiry_warn_days=cert_expiry_warn_days)
    if dhcp_mode not in ("inform", "discover"):
        raise OptionError("dhcp mode must be 'inform' or 'discover'")
    for label, addr in (("dhcp server", dhcp_server), ("giaddr", giaddr)):
        if addr is not None:
            try:
                ipaddress.IPv4Address(addr)
            except ValueError:
                raise OptionError(f"{label} {addr!r} is not an IPv4 address") from None
    if (dhcp_server or giaddr or netns or dhcp_timeout is not None or dhcp_mode != "inform") and not interface:
        raise OptionError("the DHCP options need --interface (the interface to probe from)")
    if dhcp_timeout is not None and dhcp_timeout <= 0:
        raise OptionError("dhcp timeout must be positive")
    dhcp = DhcpSettings(
        interface=interface,
        mode=dhcp_mode,
        server=dhcp_server,
        giaddr=giaddr,
        window=dhcp_timeout if dhcp_timeout is not None else DEFAULT_DHCP_WINDOW,
        netns=netns,
    )
    seen = list(dict.fromkeys(normalise_domain(d) for d in domains))  # a list scan was O(N^2): 1 s at 10,000
    return AuditOptions(
        domains=tuple(seen),
        nameservers=tuple(Nameserver.parse(n) for n in nameservers),
        web_fqdns=tuple(normalise_domain(w) for w in web_fqdns),
        ntp_servers=tuple(HostPort.parse(s) for s in ntp_servers),
        ca_bundle=ca_bundle,
        device=dev,
        checks=tuple(checks),
        skip=tuple(skip),
        timeouts=t,
        limits=lim,
        ports=p,
        thresholds=th,
        dhcp=dhcp,
        tls_versions_per_name=bool(tls_versions_per_name),
        extra=dict(extra or {}),
    )
