"""What every dialect module provides, and the helpers they share."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .model import Parsed, ScopeSpec

HEADER = "lyncready dhcp config"
UC_CLASS_NAME = "MSUCClient"  # the Windows vendor class *name* DHCPUtil creates
UC_CLASS_DATA = "MS-UC-Client"  # the class *data*: what phones send in option 60
TIME_NAMES = {4: "time server (RFC 868)", 42: "NTP servers"}


@dataclass(frozen=True, slots=True)
class Where:
    """Where lines go: the server level (no network, no name) or one scope.

    ``name``: the dialect's own handle for the scope when it has one (an IOS pool name, a dnsmasq tag).
    """

    network: ipaddress.IPv4Network | None = None
    name: str | None = None
    assumed_prefix: bool = False

    @property
    def server_level(self) -> bool:
        return self.network is None and self.name is None

    @property
    def scope_id(self) -> str:
        return str(self.network.network_address) if self.network is not None else (self.name or "")

    @property
    def label(self) -> str:
        if self.network is not None:
            return f"scope {self.network}"
        return f"scope {self.name}" if self.name else "server level"

    @classmethod
    def of(cls, spec: ScopeSpec) -> Where:
        return cls(spec.network, None, spec.assumed_prefix)


class Dialect:
    """A DHCP server's configuration language: generate it, read it, and write corrected lines."""

    name = ""
    title = ""
    comment = "#"
    # why option 43 cannot be bound to the vendor class in this dialect ("" = it can: a plain 43 is an error)
    unbound_advice = ""
    # whether a scope without options 4 and 42 is worth a warning (not for bare DHCPUtil values)
    judges_time = True

    def generate(self, spec: ScopeSpec) -> str:
        raise NotImplementedError

    def parse(self, text: str) -> Parsed:
        raise NotImplementedError

    # snippets: the lines that set one thing, used by generate() and as fix lines
    def lines_120(self, names: Sequence[str], where: Where) -> list[str]:
        raise NotImplementedError

    def lines_43(self, web: str, port: int, where: Where) -> list[str]:
        raise NotImplementedError

    def lines_119(self, names: Sequence[str], where: Where) -> list[str]:
        raise NotImplementedError

    def lines_time(self, code: int, addresses: Sequence[str], where: Where) -> list[str]:
        raise NotImplementedError

    def lines_class(self) -> list[str]:
        """The vendor class definition (phones send MS-UC-Client in option 60)."""
        return []

    def note(self, text: str) -> str:
        return f"{self.comment} {text}"

    def header(self, spec: ScopeSpec) -> list[str]:
        where = Where.of(spec)
        lines = [
            self.note(f"{HEADER} --format {self.name}: Lync / Skype for Business phones ({self.title})"),
            self.note(f"SIP server (option 120): {spec.sip_server}; Certificate Provisioning URL: {spec.url}"),
            self.note(f"Level: {where.label}"),
        ]
        if where.assumed_prefix and where.network is not None:
            lines.append(self.note(f"--scope gave no mask: {where.network} assumed"))
        if not spec.ntp:
            lines.append(
                self.note(
                    "No --ntp: options 4 and 42 are not set; phones then need the _ntp._udp SRV record of the "
                    "SIP domain"
                )
            )
        return lines


# --- encodings shared by the dialects ------------------------------------------------------------------


def hex_upper(data: bytes) -> str:
    return data.hex().upper()


def hex_colons(data: bytes) -> str:
    return ":".join(f"{b:02x}" for b in data)


def hex_dotted(data: bytes) -> str:
    """Cisco IOS style: groups of four hex digits joined by dots (010c.4d53.2d55...)."""
    digits = data.hex()
    return ".".join(digits[i : i + 4] for i in range(0, len(digits), 4))


def o120(names: Sequence[str]) -> bytes:
    from ..codecs import encode_120

    return encode_120(list(names))


def o43(web: str, port: int) -> bytes:
    from ..codecs import encode_43

    return encode_43(web, port)


def o43_values(web: str, port: int) -> list[str]:
    """Sub-options 1-5 of the MS-UC-Client option 43 as text, in order (what :func:`o43` encodes)."""
    from ..codecs import CERT_PROV_PATH

    return [UC_CLASS_DATA, "https", web, str(port), CERT_PROV_PATH]


def o119(names: Sequence[str], compress: bool = True) -> bytes:
    from ..codecs import encode_119

    return encode_119(list(names), compress=compress)


def o_ips(addresses: Sequence[str]) -> bytes:
    from ..codecs import encode_ipv4_list

    return encode_ipv4_list(list(addresses))


def tag_for(network: ipaddress.IPv4Network | None) -> str:
    """A name usable as a dnsmasq tag / IOS pool / Kea class suffix for a scope."""
    if network is None:
        return "lync-phones"
    return "lync-" + str(network.network_address).replace(".", "-")


_DIGITS = re.compile(r"^[0-9]+$")


def all_digits(text: str) -> bool:
    return bool(_DIGITS.match(text))


def parse_ipv4(text: str) -> str | None:
    try:
        return str(ipaddress.IPv4Address(text.strip()))
    except ValueError:
        return None
