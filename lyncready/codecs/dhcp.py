"""DHCP option codecs for Lync / Skype for Business phones: pure functions, no I/O.

Decoders never raise on any byte string: every problem becomes a :class:`Diagnostic` in the :class:`Decoded`
result. Encoders raise ``ValueError`` on values that cannot be encoded.

Compression pointers (RFC 1035 4.1.4) in option 120 are offsets from the first byte *after* the encoding byte,
as Wireshark decodes them (RFC 3361 refers to RFC 1035 and leaves the base implicit; the data after ``enc`` is
the name list). In option 119 they are offsets from the start of the joined option data (RFC 3397 section 2,
RFC 3396 for split options).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .base import Decoded, Diagnostic, Diags, clip, hexu, is_text, printable
from .names import decode_names, encode_name, encode_names, hostname_problem, split_name

UC_CLIENT = "MS-UC-Client"
CERT_PROV_PATH = "/CertProv/CertProvisioningService.svc"
SUBOPTION_NAMES = {
    1: "UC Identifier",
    2: "URL Scheme",
    3: "Web Server FQDN",
    4: "Port",
    5: "Relative Path for Cert Prov",
}
CISCO_HEX_LIMIT = 180  # IOS 15.1(3)S+ keeps at most 180 hex characters of "option NN hex"
OPTION_NAMES = {
    3: "Router",
    4: "Time Server",
    6: "DNS Servers",
    15: "Domain Name",
    42: "NTP Servers",
    43: "Vendor-Specific Information",
    52: "Option Overload",
    53: "DHCP Message Type",
    54: "Server Identifier",
    55: "Parameter Request List",
    60: "Vendor Class Identifier",
    119: "Domain Search",
    120: "SIP Servers",
}
_DEVICES = {"lpe", "3pip"}


# --- option 120 ----------------------------------------------------------------------------------------


def decode_120(data: bytes, *, device: str = "lpe") -> Decoded:
    """Option 120 (RFC 3361). value: ``{"encoding": 0|1|None, "names": [...]}`` or ``{"encoding": 1, "addresses"}``."""
    d = Diags("o120")
    lpe = str(device).lower() != "3pip"
    if not data:
        d.error("empty", "Option 120 is empty: set it to 00 followed by the Registrar pool FQDN in DNS label format")
        return Decoded.make(120, d.items, {"encoding": None, "names": []})
    enc = data[0]
    if enc == 0:
        return _decode_120_names(data, d)
    if enc == 1:
        return _decode_120_addresses(data, d, lpe)
    # no valid encoding byte: text, labels without the encoding byte, or garbage
    plain = decode_names(data, "o120", "option 120")
    if plain.names and not any(x.level == "error" for x in plain.diagnostics):
        d.error(
            "no_encoding_byte",
            f"Option 120 starts with a label length (0x{enc:02X}), not with the encoding byte: the leading 00 "
            f"is missing. Use {_encode_hint_120(plain.names)} (00 + the same bytes)",
        )
        return Decoded.make(120, d.items, {"encoding": None, "names": plain.names})
    if is_text(data):
        text = data.rstrip(b"\x00").decode("ascii")
        names = [t for t in re.split(r"[\s;,]+", text) if t]
        fix = _encode_hint_120(names)
        d.error(
            "no_encoding_byte",
            f"Option 120 holds the plain text {clip(text)!r}: no encoding byte and no DNS labels (RFC 3361). "
            "The option was defined as a String; define it as Binary/Byte and enter "
            + (
                f"{fix} (00 = encoding byte, then the name as length-prefixed labels)"
                if fix
                else "00 + the Registrar pool FQDN as length-prefixed labels (DHCPUtil.exe -SipServer <pool FQDN>)"
            ),
        )
        return Decoded.make(120, d.items, {"encoding": None, "names": names})
    d.error(
        "unknown_encoding",
        f"Option 120 encoding byte is {enc} (0x{enc:02X}); RFC 3361 defines only 0 (DNS names, what Lync phones "
        "need) and 1 (IPv4 addresses). Set 00 + the Registrar pool FQDN in label format",
    )
    return Decoded.make(120, d.items, {"encoding": None, "names": []})


def _encode_hint_120(names: Sequence[str]) -> str:
    """The option 120 hex for these names, or "" when they are IP addresses or cannot be encoded."""
    if not names or any(_is_ip(name) for name in names):
        return ""
    try:
        return hexu(encode_120(names))
    except ValueError:
        return ""


_HOST_TEXT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.\-_;, \t]*$")


def _host_text(data: bytes) -> bool:
    """Printable text that reads like host or domain names (not label bytes that happen to be printable)."""
    return is_text(data) and bool(_HOST_TEXT.match(data.rstrip(b"\x00").decode("ascii")))


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _decode_120_names(data: bytes, d: Diags) -> Decoded:
    body = data[1:]
    if not body.strip(b"\x00"):
        d.error(
            "empty",
            "Option 120 has the encoding byte 00 but no name after it: add the Registrar pool FQDN as "
            "length-prefixed labels (DHCPUtil.exe -SipServer <pool FQDN> prints the value)",
        )
        return Decoded.make(120, d.items, {"encoding": 0, "names": []})
    result = decode_names(body, "o120", "option 120", base=1)
    if _host_text(body) and any(x.level == "error" for x in result.diagnostics):
        text = body.rstrip(b"\x00").decode("ascii")
        names = [t for t in re.split(r"[\s;,]+", text) if t]
        d.error(
            "text_names",
            f"Option 120 has the encoding byte 00 followed by the text {clip(text)!r} instead of DNS labels: each "
            "label needs its length byte and the name a final 00. Use "
            + (_encode_hint_120(names) or "00 + the Registrar pool FQDN as labels"),
        )
        return Decoded.make(120, d.items, {"encoding": 0, "names": names})
    d.extend(result.diagnostics)
    for name in result.names:
        if "." not in name:
            d.warning(
                "single_label",
                f"Option 120 names {name!r}, a single label: give the fully qualified Registrar pool name "
                "(the name on its certificate)",
            )
    return Decoded.make(120, d.items, {"encoding": 0, "names": result.names})


def _decode_120_addresses(data: bytes, d: Diags, lpe: bool) -> Decoded:
    body = data[1:]
    whole = len(body) - len(body) % 4
    addresses = [str(ipaddress.IPv4Address(body[i : i + 4])) for i in range(0, whole, 4)]
    if not body:
        d.error("empty", "Option 120 has encoding 1 (IPv4) but no address after it")
    elif len(body) % 4:
        d.error(
            "address_length",
            f"Option 120 encoding 1 carries {len(body)} address bytes, not a multiple of 4: "
            f"{len(body) % 4} byte(s) left over. The value was cut or mistyped",
        )
    shown = ", ".join(addresses) or "no address"
    message = (
        f"Option 120 uses encoding 1 (IPv4: {shown}). Lync Phone Edition needs encoding 0 with the Registrar "
        "pool FQDN (it checks the name against the certificate): set 00 + the FQDN in label format "
        "(DHCPUtil.exe -SipServer <pool FQDN> prints it)"
    )
    if lpe:
        d.error("ipv4_encoding", message)
    else:
        d.warning("ipv4_encoding", message.replace("Lync Phone Edition needs", "third-party phones prefer"))
    return Decoded.make(120, d.items, {"encoding": 1, "addresses": addresses})


def encode_120(names: Sequence[str]) -> bytes:
    """Option 120 with encoding 0, each name in label format without compression, exactly as DHCPUtil does."""
    if isinstance(names, str):
        names = [names]
    if not names:
        raise ValueError("option 120 needs at least one name")
    return b"\x00" + b"".join(encode_name(n) for n in names)


def encode_120_addresses(addresses: Sequence[str]) -> bytes:
    """Option 120 with encoding 1 (IPv4 addresses)."""
    if isinstance(addresses, str):
        addresses = [addresses]
    if not addresses:
        raise ValueError("option 120 needs at least one address")
    return b"\x01" + encode_ipv4_list(addresses)


# --- option 43 -----------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Tlv:
    subs: list[tuple[int, bytes]] = field(default_factory=list)
    cut: tuple[int, int, int, bytes] | None = None  # (code, declared length, bytes present, partial value)
    cut_at: int = -1  # offset of the cut sub-option
    pads: int = 0
    end_at: int = -1  # offset of a 0xFF end byte
    after_end: bytes = b""


def _parse_tlv(data: bytes) -> _Tlv:
    t = _Tlv()
    pos, n = 0, len(data)
    while pos < n:
        code = data[pos]
        if code == 0:
            t.pads += 1
            pos += 1
            continue
        if code == 255:
            t.end_at = pos
            t.after_end = data[pos + 1 :]
            break
        if pos + 1 >= n:
            t.cut, t.cut_at = (code, -1, 0, b""), pos
            break
        length = data[pos + 1]
        if pos + 2 + length > n:
            t.cut, t.cut_at = (code, length, n - pos - 2, data[pos + 2 :]), pos
            break
        t.subs.append((code, data[pos + 2 : pos + 2 + length]))
        pos += 2 + length
    return t


def _tlv_clean(data: bytes) -> bool:
    t = _parse_tlv(data)
    return bool(t.subs) and t.cut is None and not t.after_end.strip(b"\x00")


def decode_43(data: bytes) -> Decoded:
    """Option 43 for vendor class MS-UC-Client. value: ``{"suboptions": [{"code", "text", "hex"}], "url"}``."""
    d = Diags("o43")
    value: dict[str, Any] = {"suboptions": [], "url": None}
    if not data:
        d.error("empty", "Option 43 is empty: it must carry the MS-UC-Client sub-options 1 to 5")
        return Decoded.make(43, d.items, value)
    if is_text(data) and not _tlv_clean(data):
        _text_43(data, d)
        return Decoded.make(43, d.items, value)
    t = _parse_tlv(data)
    values: dict[int, bytes] = {}
    for code, raw in t.subs:
        value["suboptions"].append({"code": code, "text": printable(raw), "hex": hexu(raw)})
        if code in values:
            d.warning(
                "duplicate_suboption",
                f"Sub-option {code} appears more than once ({printable(values[code])!r} and {printable(raw)!r}); "
                "phones use one of them: keep only the right one",
            )
            continue
        values[code] = raw
        if code not in SUBOPTION_NAMES:
            d.info(
                "unknown_suboption",
                f"Sub-option {code} ({len(raw)} bytes, {clip(printable(raw), 40)!r}) is not an MS-UC-Client "
                "sub-option; phones ignore it",
            )
    if t.pads:
        d.info("pad", f"{t.pads} pad byte(s) 0x00 between sub-options: legal padding, ignored")
    if t.end_at >= 0:
        if t.after_end.strip(b"\x00"):
            d.warning(
                "data_after_end",
                f"{len(t.after_end)} byte(s) follow the end byte 0xFF at byte {t.end_at}; phones stop at the end "
                "byte, so they are lost: remove the stray 0xFF or move the bytes before it",
            )
        else:
            d.info("end_byte", "Option 43 ends with an end byte 0xFF (dnsmasq adds one): legal, not corruption")
    lost: set[int] = set()
    if t.cut is not None:
        lost = _cut_43(data, t, values, d)
    elif len(data) * 2 == CISCO_HEX_LIMIT and 5 not in values:
        lost = {c for c in range(1, 6) if c not in values}
        d.error(
            "truncated_cisco_180",
            "Option 43 is exactly 90 bytes (180 hex characters) and sub-option 5 is missing: Cisco IOS "
            "15.1(3)S and later silently keep only the first 180 hex characters of 'option 43 hex'. " + _CISCO_FIX,
        )
    for code in range(1, 6):
        if code not in values and code not in lost:
            d.error("missing_suboption", _missing_message(code))
    _check_suboptions(values, d)
    if all(c in values for c in (2, 3, 4, 5)):
        v = {c: printable(values[c].rstrip(b"\x00")) for c in (2, 3, 4, 5)}
        value["url"] = f"{v[2]}://{v[3]}:{v[4]}{v[5]}"
    return Decoded.make(43, d.items, value)


_CISCO_FIX = (
    "Enter the value with the long-option form ('option ext 43 hex ...', IOS XE 3.2.1S and later), serve "
    "option 43 from another DHCP server, or shorten the web services FQDN to 23 characters or fewer. "
    "(DHCPUtil's 'Length: 180' counts hex characters, i.e. 90 bytes.)"
)


def _missing_message(code: int) -> str:
    example = {
        1: "01 0C 4D532D55432D436C69656E74 (MS-UC-Client)",
        2: "02 05 6874747073 (https)",
        3: "03 <length> <web services FQDN in ASCII>",
        4: "04 03 343433 (443)",
        5: f"05 25 {hexu(CERT_PROV_PATH.encode())}",
    }[code]
    return (
        f"Sub-option {code} ({SUBOPTION_NAMES[code]}) is missing; phones cannot build the Certificate "
        f"Provisioning URL without it. Add {example}"
    )


def _cut_43(data: bytes, t: _Tlv, values: dict[int, bytes], d: Diags) -> set[int]:
    assert t.cut is not None
    code, declared, present, partial = t.cut
    lost = {code} | {c for c in range(code + 1, 6) if c not in values} if code in SUBOPTION_NAMES else set()
    if declared < 0:
        what = f"sub-option {code} at byte {t.cut_at} has no length byte: the data ends right after its code"
    else:
        what = (
            f"sub-option {code} at byte {t.cut_at} says {declared} bytes but only {present} remain "
            f"({clip(printable(partial), 50)!r})"
        )
    if len(data) * 2 == CISCO_HEX_LIMIT:
        d.error(
            "truncated_cisco_180",
            f"Option 43 is exactly 90 bytes (180 hex characters) and {what}: Cisco IOS 15.1(3)S and later "
            "silently keep only the first 180 hex characters of 'option 43 hex'. " + _CISCO_FIX,
        )
    else:
        d.error(
            "truncated",
            f"Option 43 is cut: {what}. The value was shortened (a DHCP server length limit, a relay, "
            "a copy/paste) or a length byte is wrong; re-enter the full value (DHCPUtil.exe prints it)",
        )
    return lost


def _text_43(data: bytes, d: Diags) -> None:
    text = data.rstrip(b"\x00").decode("ascii")
    m = re.match(r"^\s*(https?)://([^/:\s]+)(?::(\d+))?(/\S*)?\s*$", text, re.I)
    hint = ""
    if m:
        try:
            port = int(m.group(3) or 443)
            hint = " Enter these bytes instead: " + hexu(
                encode_43(m.group(2), port, m.group(4) or CERT_PROV_PATH, m.group(1).lower())
            )
        except ValueError:
            hint = ""
    d.error(
        "text_form",
        f"Option 43 holds the text {clip(text)!r} instead of MS-UC-Client sub-options (code, length, value): "
        "the option was defined as a String. Define 43 for vendor class MS-UC-Client as binary sub-options "
        "1 to 5 (DHCPUtil.exe computes them)." + hint,
    )


def _check_suboptions(values: dict[int, bytes], d: Diags) -> None:
    for code in range(1, 6):
        raw = values.get(code)
        if raw is not None and raw.endswith(b"\x00") and raw.strip(b"\x00") and (code != 3 or _host_text(raw)):
            d.warning(
                "trailing_nul",
                f"Sub-option {code} ends with a NUL byte (a String-typed definition adds it); phones may read it "
                "as part of the value: store it as binary without the 00",
            )
    uc = values.get(1)
    if uc is not None:
        text = uc.rstrip(b"\x00")
        if text == b"MS-US-Client":
            d.error(
                "uc_identifier_typo",
                "Sub-option 1 is 'MS-US-Client' (a typo copied from Microsoft documentation): it must be "
                "'MS-UC-Client', hex 4D532D55432D436C69656E74",
            )
        elif text.lower() == b"msucclient":
            d.error(
                "uc_identifier_class_name",
                "Sub-option 1 is 'MSUCClient', the Windows vendor class *name*; on the wire it must be the "
                "class data 'MS-UC-Client', hex 4D532D55432D436C69656E74",
            )
        elif text != UC_CLIENT.encode():
            extra = " (the value is case-sensitive)" if text.lower() == UC_CLIENT.lower().encode() else ""
            d.error(
                "bad_uc_identifier",
                f"Sub-option 1 is {clip(printable(uc), 40)!r}; it must be 'MS-UC-Client'{extra}, "
                "hex 4D532D55432D436C69656E74",
            )
    scheme = values.get(2)
    if scheme is not None:
        text = scheme.rstrip(b"\x00")
        if text.lower() != b"https":
            d.error(
                "bad_scheme",
                f"Sub-option 2 (URL scheme) is {clip(printable(scheme), 40)!r}; phones need 'https' "
                "(hex 6874747073) for the Certificate Provisioning service",
            )
        elif text != b"https":
            d.info("scheme_case", f"Sub-option 2 is {printable(text)!r}; 'https' in lower case is the usual form")
    fqdn = values.get(3)
    if fqdn is not None:
        _check_web_fqdn(fqdn, d)
    port = values.get(4)
    if port is not None:
        _check_port(port.rstrip(b"\x00") or port, d)
    path = values.get(5)
    if path is not None:
        text = path.rstrip(b"\x00")
        want = CERT_PROV_PATH.encode()
        if text.lower() == want.lower():
            if text != want:
                d.info(
                    "cert_prov_path_case",
                    f"Sub-option 5 is {printable(text)!r}; the path is case-insensitive on IIS, so this works "
                    f"(the usual spelling is {CERT_PROV_PATH})",
                )
        elif text.lower() == want.lower()[1:]:
            d.error(
                "bad_cert_prov_path",
                f"Sub-option 5 lacks the leading slash: it must be {CERT_PROV_PATH}, hex {hexu(want)}",
            )
        else:
            d.error(
                "bad_cert_prov_path",
                f"Sub-option 5 is {clip(printable(path), 60)!r}; it must be the relative path "
                f"{CERT_PROV_PATH}, hex {hexu(want)}",
            )


def _check_web_fqdn(value: bytes, d: Diags) -> None:
    if value and value[0] < 0x40 and not _host_text(value):
        wire = decode_names(value, "x", "x")
        if wire.names and not any(x.level == "error" for x in wire.diagnostics):
            d.error(
                "web_fqdn_wire_format",
                f"Sub-option 3 holds DNS labels ({wire.names[0]!r} with length bytes), not plain ASCII: write "
                f"the FQDN as text, hex {hexu(wire.names[0].encode('ascii', 'replace'))}",
            )
            return
    raw = value.rstrip(b"\x00")
    if not raw:
        d.error("bad_web_fqdn", "Sub-option 3 (web services FQDN) is empty: set the internal web services FQDN")
        return
    text = printable(raw)
    try:
        ipaddress.ip_address(text)
        d.error(
            "web_fqdn_is_ip",
            f"Sub-option 3 is the IP address {text}; the phone validates the web services certificate "
            "against this name, so give the internal web services FQDN on the certificate",
        )
        return
    except ValueError:
        pass
    problem = hostname_problem(text)
    if problem:
        d.error("bad_web_fqdn", f"Sub-option 3 {clip(text, 60)!r} is not a valid FQDN: {problem}")
    elif "." not in text.rstrip("."):
        d.warning(
            "web_fqdn_single_label",
            f"Sub-option 3 is {text!r}, a single label: give the fully qualified web services name on the certificate",
        )
    elif text.endswith("."):
        d.warning(
            "web_fqdn_trailing_dot",
            f"Sub-option 3 {text!r} ends with a dot; the certificate name has none: remove the final dot",
        )


def _check_port(raw: bytes, d: Diags) -> None:
    if raw and all(0x30 <= b <= 0x39 for b in raw):
        port = int(raw)
        if not 0 < port < 65536:
            d.error("bad_port", f"Sub-option 4 is port {port}, outside 1-65535: use 443 (hex 343433)")
        elif port != 443:
            d.info(
                "port_not_443",
                f"Sub-option 4 is port {port}; internal web services listen on 443 in a standard deployment "
                "(4443 is the external side): check that the phone VLAN reaches this port",
            )
        return
    if 0 < len(raw) <= 4 and not is_text(raw):
        number = int.from_bytes(raw, "big")
        d.error(
            "binary_port",
            f"Sub-option 4 holds the port as the binary number 0x{hexu(raw)} (= {number}); it must be the "
            f"port written as ASCII digits: '{number}', hex {hexu(str(number).encode())}",
        )
        return
    d.error(
        "bad_port",
        f"Sub-option 4 is {clip(printable(raw), 40)!r}; it must be the port as ASCII digits, e.g. '443' = hex 343433",
    )


def encode_43(
    web_fqdn: str,
    port: int = 443,
    path: str = CERT_PROV_PATH,
    scheme: str = "https",
    uc_id: str = UC_CLIENT,
) -> bytes:
    """Option 43 for MS-UC-Client: sub-options 1 to 5 in order (code, length, ASCII value)."""
    if not 0 < port < 65536:
        raise ValueError(f"port {port}: must be 1-65535")
    fqdn = web_fqdn.strip()
    split_name(fqdn)  # validates
    parts = [uc_id, scheme, fqdn, str(port), path]
    return b"".join(_tlv(code, text.encode("ascii")) for code, text in enumerate(parts, start=1))


def _tlv(code: int, value: bytes) -> bytes:
    if len(value) > 255:
        raise ValueError(f"sub-option {code}: {len(value)} bytes, at most 255 fit")
    return bytes([code, len(value)]) + value


def suboptions_to_43(values: Iterable[tuple[int, bytes]]) -> bytes:
    """Sub-option values (as DHCPUtil prints them one per line) reassembled into the TLV bytes of option 43."""
    return b"".join(_tlv(code, value[:255]) for code, value in values)


# --- option 119 ----------------------------------------------------------------------------------------


def decode_119(data: bytes) -> Decoded:
    """Option 119 (RFC 3397). value: ``{"names": [...], "form": "rfc3397"|"text"}``."""
    d = Diags("o119")
    if not data:
        d.warning("empty", "Option 119 is empty: list the DNS search domains in RFC 3397 format, or remove it")
        return Decoded.make(119, d.items, {"names": [], "form": "rfc3397"})
    if _host_text(data):
        wire = decode_names(data, "o119", "option 119")
        if not wire.names or any(x.level == "error" for x in wire.diagnostics):
            text = data.rstrip(b"\x00").decode("ascii")
            names = [t.strip(".") for t in re.split(r"[\s;,]+", text) if t.strip(".")]
            try:
                fix = hexu(encode_119(names)) if names else ""
            except ValueError:
                fix = ""
            d.error(
                "text_form",
                f"Option 119 carries the text {clip(text)!r} instead of RFC 3397 DNS labels: the option was "
                "defined with the String data type (a Windows DHCP classic). Delete that definition, define "
                "119 with data type Byte (Array ticked) and enter the RFC 3397 encoding"
                + (f": hex {fix}" if fix else ""),
            )
            return Decoded.make(119, d.items, {"names": names, "form": "text"})
    result = decode_names(data, "o119", "option 119")
    d.extend(result.diagnostics)
    if not result.names and not d.errors:
        d.warning("empty", "Option 119 holds no domain name (only zero bytes)")
    return Decoded.make(119, d.items, {"names": result.names, "form": "rfc3397"})


def encode_119(names: Sequence[str], compress: bool = True) -> bytes:
    """Option 119 (RFC 3397): names in label format, repeated suffixes as compression pointers by default."""
    if isinstance(names, str):
        names = [names]
    if not names:
        raise ValueError("option 119 needs at least one domain")
    return encode_names(names, compress=compress)


# --- simple options ------------------------------------------------------------------------------------


def decode_ipv4_list(data: bytes, *, option: int = 6) -> Decoded:
    """Options 3, 4, 6, 42 (and any list of IPv4 addresses). value: ``{"addresses": [...]}``."""
    d = Diags(f"o{option}")
    name = OPTION_NAMES.get(option, f"Option {option}")
    whole = len(data) - len(data) % 4
    addresses = [str(ipaddress.IPv4Address(data[i : i + 4])) for i in range(0, whole, 4)]
    if not data:
        d.error("empty", f"Option {option} ({name}) is empty: it needs at least one IPv4 address")
    elif len(data) % 4:
        d.error(
            "bad_length",
            f"Option {option} ({name}) is {len(data)} bytes, not a multiple of 4: {len(data) % 4} byte(s) "
            "do not form an IPv4 address. The value was cut or mistyped",
        )
    for text in addresses:
        ip = ipaddress.IPv4Address(text)
        if ip.is_unspecified or ip.is_loopback or ip.is_multicast or text == "255.255.255.255":
            d.warning(
                "unusable_address",
                f"Option {option} ({name}) lists {text}, which a phone cannot use as a server: replace it",
            )
    return Decoded.make(option, d.items, {"addresses": addresses})


def encode_ipv4_list(addresses: Sequence[str]) -> bytes:
    if isinstance(addresses, str):
        addresses = [addresses]
    return b"".join(ipaddress.IPv4Address(a.strip()).packed for a in addresses)


def decode_text(data: bytes, *, option: int = 15) -> Decoded:
    """Options 60, 15 (and other NVT ASCII options). value: ``{"text": ...}`` (non-printables escaped)."""
    d = Diags(f"o{option}")
    name = OPTION_NAMES.get(option, f"Option {option}")
    body = data.rstrip(b"\x00")
    text = printable(body)
    if not body:
        d.warning("empty", f"Option {option} ({name}) is empty")
        return Decoded.make(option, d.items, {"text": text})
    if len(body) != len(data):
        d.info(
            "trailing_nul",
            f"Option {option} ({name}) ends with {len(data) - len(body)} NUL byte(s); RFC 2132 says not to "
            "terminate strings, most clients cope",
        )
    if not is_text(body):
        d.warning("non_printable", f"Option {option} ({name}) contains non-printable bytes: {clip(text)!r}")
    if option == 60:
        if body.lower() == b"msucclient":
            d.error(
                "class_name",
                "Option 60 is 'MSUCClient', the Windows vendor class *name*; phones send the class data 'MS-UC-Client'",
            )
        elif body != UC_CLIENT.encode() and body.lower() == UC_CLIENT.lower().encode():
            d.warning("case", f"Option 60 is {text!r}; the vendor class 'MS-UC-Client' is case-sensitive")
    elif option == 15:
        problem = hostname_problem(text)
        if problem:
            d.warning("bad_name", f"Option 15 (domain name) {clip(text)!r} is not a valid domain name: {problem}")
    return Decoded.make(option, d.items, {"text": text})


def decode_param_list(data: bytes, *, option: int = 55) -> Decoded:
    """Option 55 (Parameter Request List). value: ``{"codes": [...]}``."""
    d = Diags(f"o{option}")
    codes = list(data)
    if not codes:
        d.warning("empty", "Option 55 (Parameter Request List) is empty: the client asks for no option")
    dupes = sorted({c for c in codes if codes.count(c) > 1}) if len(codes) < 512 else []
    if dupes:
        d.info("duplicates", f"Option 55 asks for {', '.join(map(str, dupes))} more than once")
    return Decoded.make(option, d.items, {"codes": codes})


def decode_hex(data: bytes, *, option: int = 0) -> Decoded:
    """Any other option: the bytes as hex."""
    return Decoded.make(option, [], {"hex": hexu(data)})


_DECODERS: dict[int, Callable[[bytes], Decoded]] = {
    43: decode_43,
    119: decode_119,
    3: lambda b: decode_ipv4_list(b, option=3),
    4: lambda b: decode_ipv4_list(b, option=4),
    6: lambda b: decode_ipv4_list(b, option=6),
    42: lambda b: decode_ipv4_list(b, option=42),
    15: lambda b: decode_text(b, option=15),
    60: lambda b: decode_text(b, option=60),
    55: lambda b: decode_param_list(b, option=55),
}


def decode_option(code: int, data: bytes, *, device: str = "lpe") -> Decoded:
    """Decode one option (instances already joined, RFC 3396). Never raises."""
    try:
        data = bytes(data)
        if code == 120:
            return decode_120(data, device=device)
        decoder = _DECODERS.get(code)
        if decoder is None:
            return decode_hex(data, option=code)
        return decoder(data)
    except Exception as exc:  # a bug: report it rather than crash the audit
        return Decoded.make(
            code if isinstance(code, int) else -1,
            [Diagnostic("codec.bug", "error", f"internal decoder error ({type(exc).__name__}: {exc}); please report")],
            {"hex": hexu(data) if isinstance(data, bytes | bytearray) else ""},
        )


# --- guessing the option of pasted bytes ---------------------------------------------------------------


def guess_option(data: bytes) -> int:
    """The most likely option for bare bytes (``--option auto``); 0 when nothing fits (decode shows hex only).

    43 if it reads as MS-UC-Client TLV, 120 if the first byte is an encoding byte (0, or 1 with IPv4s),
    119 if it reads as RFC 3397 names or as text with dots (the String mistake), 60 for MS-UC-Client text.
    """
    try:
        return _guess(bytes(data))
    except Exception:
        return 0


def _guess(data: bytes) -> int:
    if not data:
        return 0
    if data.startswith(b"\x01\x0cMS-") or data.startswith(b"\x01\x0cMSUC"):
        return 43
    t = _parse_tlv(data)
    codes = {c for c, _ in t.subs}
    if data[0] == 1 and t.cut is None and 1 in codes and codes & {2, 3, 4, 5}:
        return 43
    if data[0] == 0:
        return 120
    if data[0] == 1 and (len(data) - 1) % 4 == 0 and len(data) >= 5:
        return 120
    if is_text(data):
        text = data.rstrip(b"\x00").decode("ascii").strip()
        low = text.lower()
        if "://" in low:
            return 43
        if low in ("ms-uc-client", "msucclient", "ms-us-client"):
            return 60
        if "." in text:
            return 119
        return 0
    names = decode_names(data, "g", "g")
    if names.names and not any(x.level == "error" for x in names.diagnostics):
        return 119
    if t.subs and t.cut is None and codes <= {1, 2, 3, 4, 5} and len(codes) >= 2:
        return 43
    return 0


# --- the options field, RFC 3396, BOOTP ----------------------------------------------------------------


def join_rfc3396(options: Iterable[tuple[int, bytes]]) -> dict[int, bytes]:
    """Concatenate every instance of each option code in order (RFC 3396); keys in order of first appearance."""
    out: dict[int, bytes] = {}
    for code, value in options:
        out[code] = out.get(code, b"") + bytes(value)
    return out


def parse_options(field: bytes, *, where: str = "options") -> tuple[list[tuple[int, bytes]], list[Diagnostic]]:
    """The options of a BOOTP/DHCP field (after the magic cookie): (code, value) in wire order. Never raises."""
    d = Diags("options")
    out: list[tuple[int, bytes]] = []
    try:
        data = bytes(field)
        pos, n = 0, len(data)
        ended = False
        while pos < n:
            code = data[pos]
            if code == 0:
                pos += 1
                continue
            if code == 255:
                ended = True
                break
            if pos + 1 >= n:
                d.error("truncated", f"{where}: option {code} at byte {pos} has no length byte: the packet was cut")
                return out, d.items
            length = data[pos + 1]
            if pos + 2 + length > n:
                d.error(
                    "truncated",
                    f"{where}: option {code} at byte {pos} says {length} bytes but only {n - pos - 2} remain: "
                    "the packet was cut or the length is wrong",
                )
                return out, d.items
            out.append((code, data[pos + 2 : pos + 2 + length]))
            pos += 2 + length
        if not ended and where == "options":
            d.warning("no_end", f"{where}: no end option (255); RFC 2131 requires one")
    except Exception as exc:  # pragma: no cover - safety net
        d.error("bug", f"{where}: internal error {type(exc).__name__}: {exc}")
    return out, d.items


MAGIC_COOKIE = b"\x63\x82\x53\x63"
BOOTP_HEADER = 236


@dataclass(frozen=True, slots=True)
class BootpPacket:
    """A parsed BOOTP/DHCP packet (UDP payload). ``options`` holds every instance in wire order."""

    op: int = 0
    htype: int = 0
    hlen: int = 0
    hops: int = 0
    xid: int = 0
    secs: int = 0
    flags: int = 0
    ciaddr: str = "0.0.0.0"
    yiaddr: str = "0.0.0.0"
    siaddr: str = "0.0.0.0"
    giaddr: str = "0.0.0.0"
    chaddr: str = ""
    sname: str = ""
    file: str = ""
    options: tuple[tuple[int, bytes], ...] = ()
    diagnostics: tuple[Diagnostic, ...] = ()

    @property
    def valid(self) -> bool:
        return not any(d.level == "error" for d in self.diagnostics)

    def option(self, code: int) -> bytes | None:
        """The value of an option, instances joined (RFC 3396); None when absent."""
        parts = [v for c, v in self.options if c == code]
        return b"".join(parts) if parts else None

    @property
    def message_type(self) -> int:
        value = self.option(53)
        return value[0] if value else 0


def _cstr(raw: bytes) -> str:
    return printable(raw.split(b"\x00", 1)[0])


def parse_bootp(payload: bytes) -> BootpPacket:
    """Parse a BOOTP/DHCP packet; option overload (52) is followed into ``file`` and ``sname``. Never raises."""
    d = Diags("bootp")
    try:
        data = bytes(payload)
    except Exception:
        d.error("truncated", "not a byte string")
        return BootpPacket(diagnostics=tuple(d.items))
    if len(data) < BOOTP_HEADER:
        d.error(
            "truncated",
            f"{len(data)} bytes: a BOOTP/DHCP packet has a {BOOTP_HEADER}-byte header before the options",
        )
        return BootpPacket(diagnostics=tuple(d.items))
    op, htype, hlen, hops = data[0], data[1], data[2], data[3]
    if op not in (1, 2):
        d.warning("bad_op", f"op is {op}; BOOTREQUEST is 1 and BOOTREPLY is 2")
    if hlen > 16:
        d.warning("bad_hlen", f"hlen is {hlen}; chaddr holds at most 16 bytes")
    chaddr = ":".join(f"{b:02x}" for b in data[28 : 28 + min(hlen, 16)])
    ip = [str(ipaddress.IPv4Address(data[i : i + 4])) for i in (12, 16, 20, 24)]
    sname_raw, file_raw = data[44:108], data[108:236]
    options: list[tuple[int, bytes]] = []
    if data[236:240] != MAGIC_COOKIE:
        if len(data) > BOOTP_HEADER:
            d.error(
                "no_magic_cookie",
                "the options field does not start with the DHCP magic cookie 63825363: not a DHCP packet "
                "(plain BOOTP or garbage); options not read",
            )
        else:
            d.warning("no_options", "the packet ends after the BOOTP header: no DHCP options")
    else:
        opts, diags = parse_options(data[240:])
        options.extend(opts)
        d.extend(diags)
    sname, file = _cstr(sname_raw), _cstr(file_raw)
    overload = join_rfc3396(options).get(52)
    if overload is not None:
        if len(overload) != 1 or overload[0] not in (1, 2, 3):
            d.error(
                "bad_overload",
                f"option 52 (overload) is {hexu(overload) or 'empty'}; it must be one byte 1 (file), 2 (sname) "
                "or 3 (both): file and sname read as plain fields",
            )
        else:
            which = overload[0]
            d.info("overload", "option 52: options continue in " + {1: "file", 2: "sname", 3: "file and sname"}[which])
            if which & 1:
                more, diags = parse_options(file_raw, where="file")
                options.extend(more)
                d.extend(diags)
                file = ""
            if which & 2:
                more, diags = parse_options(sname_raw, where="sname")
                options.extend(more)
                d.extend(diags)
                sname = ""
    return BootpPacket(
        op=op,
        htype=htype,
        hlen=hlen,
        hops=hops,
        xid=int.from_bytes(data[4:8], "big"),
        secs=int.from_bytes(data[8:10], "big"),
        flags=int.from_bytes(data[10:12], "big"),
        ciaddr=ip[0],
        yiaddr=ip[1],
        siaddr=ip[2],
        giaddr=ip[3],
        chaddr=chaddr,
        sname=sname,
        file=file,
        options=tuple(options),
        diagnostics=tuple(d.items),
    )


def encode_option(code: int, value: bytes) -> bytes:
    """One option on the wire; values over 255 bytes split into several instances (RFC 3396)."""
    if not 0 < code < 255:
        raise ValueError(f"option code {code}: must be 1-254")
    if not value:
        return bytes([code, 0])
    return b"".join(bytes([code, len(value[i : i + 255])]) + value[i : i + 255] for i in range(0, len(value), 255))


# --- DHCPUtil ------------------------------------------------------------------------------------------


def dhcputil_values(sip_server: str, web_server: str | None = None, port: int = 443) -> dict[str, str]:
    """The values DHCPUtil.exe prints for ``-SipServer`` (and ``-WebServer``), upper-case hex.

    Keys: ``120``, ``43.1`` to ``43.5``, ``43`` (the full option, DHCPUtil's "Full Option 43 value"),
    ``url`` (the Certificate Provisioning Service URL) and ``configure`` (the DHCPConfigScript.bat arguments:
    ``Configure MS-UC-Client <120> <43.1> ... <43.5>``).
    """
    web = (web_server or sip_server).strip()
    sip = sip_server.strip()
    o43 = encode_43(web, port)
    subs = [hexu(UC_CLIENT.encode()), hexu(b"https"), hexu(web.encode("ascii")), hexu(str(port).encode())]
    subs.append(hexu(CERT_PROV_PATH.encode()))
    out = {"120": hexu(encode_120([sip]))}
    out.update({f"43.{i}": h for i, h in enumerate(subs, start=1)})
    out["43"] = hexu(o43)
    out["url"] = f"https://{web}:{port}{CERT_PROV_PATH}"
    out["configure"] = " ".join(["Configure", UC_CLIENT, out["120"], *subs])
    return out


__all__ = [
    "CERT_PROV_PATH",
    "CISCO_HEX_LIMIT",
    "SUBOPTION_NAMES",
    "UC_CLIENT",
    "BootpPacket",
    "decode_43",
    "decode_119",
    "decode_120",
    "decode_hex",
    "decode_ipv4_list",
    "decode_option",
    "decode_param_list",
    "decode_text",
    "dhcputil_values",
    "encode_43",
    "encode_119",
    "encode_120",
    "encode_120_addresses",
    "encode_ipv4_list",
    "encode_option",
    "guess_option",
    "join_rfc3396",
    "parse_bootp",
    "parse_options",
    "suboptions_to_43",
]
