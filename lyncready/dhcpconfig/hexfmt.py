"""``hex``: exactly the values DHCPUtil.exe prints (option 120 and the MS-UC-Client sub-options 1 to 5, upper-case
hex), in its layout, plus what DHCPUtil leaves out (the full option 43, its length, 119, 4 and 42) and the
``DHCPConfigScript.bat Configure`` arguments. Reading it back goes through ``lyncready.codecs.parse_hex_input``,
so DHCPUtil's own output, its Configure line and pasted ``Option NN: <hex>`` lines all lint."""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..codecs import CISCO_HEX_LIMIT, SUBOPTION_NAMES, HexInputError, dhcputil_values, parse_hex_input
from .base import UC_CLASS_DATA, Dialect, Where, hex_upper, o43, o119, o120, o_ips
from .model import Parsed, ScopeSpec, Value


class Hex(Dialect):
    name = "hex"
    title = "DHCPUtil values, hex"
    comment = "#"
    judges_time = False

    def lines_120(self, names: Sequence[str], where: Where) -> list[str]:
        return [f"Option 120: {hex_upper(o120(names))}"]

    def lines_43(self, web: str, port: int, where: Where) -> list[str]:
        values = dhcputil_values(web, web, port)
        full = hex_upper(o43(web, port))
        return [
            f"Vendor Class Identifier: {UC_CLASS_DATA}",
            f"Option 43 (for vendor={UC_CLASS_DATA}):",
            *(f"        sub-option {i} <{SUBOPTION_NAMES[i]}>: {values[f'43.{i}']}" for i in range(1, 6)),
            f"Full Option 43 value (Length: {len(full)}): {full}",
        ]

    def lines_119(self, names: Sequence[str], where: Where) -> list[str]:
        return [f"Option 119: {hex_upper(o119(names))}"]

    def lines_time(self, code: int, addresses: Sequence[str], where: Where) -> list[str]:
        return [f"Option {code}: {hex_upper(o_ips(addresses))}"]

    def lines_class(self) -> list[str]:
        return [f"Vendor Class Identifier: {UC_CLASS_DATA}"]

    def generate(self, spec: ScopeSpec) -> str:
        v = dhcputil_values(spec.sip_server, spec.web, spec.port)
        full = v["43"]
        lines = [
            f"SIP Server FQDN : {spec.sip_server}",
            f"Certificate Provisioning Service URL : {v['url']}",
            "",
            f"Option 120: {v['120']}",
            "",
            f"Vendor Class Identifier: {UC_CLASS_DATA}",
            f"Option 43 (for vendor={UC_CLASS_DATA}):",
            *(f"        sub-option {i} <{SUBOPTION_NAMES[i]}>: {v[f'43.{i}']}" for i in range(1, 6)),
            "",
            "Not printed by DHCPUtil:",
            f"Full Option 43 value (Length: {len(full)}): {full}",
            f"  (Length counts hex characters: {len(full) // 2} bytes"
            + (
                f"; more than {CISCO_HEX_LIMIT}, so Cisco IOS 'option 43 hex' would cut it: use --format ios)"
                if len(full) > CISCO_HEX_LIMIT
                else ")"
            ),
        ]
        if spec.scope:
            lines.append(f"  (for scope {spec.network})")
        if spec.search_list:
            lines.append(f"Option 119: {hex_upper(spec.o119())}")
        if spec.ntp:
            lines.append(f"Option 4: {hex_upper(spec.o_time())}")
            lines.append(f"Option 42: {hex_upper(spec.o_time())}")
        lines += ["", "DHCPConfigScript.bat arguments:", v["configure"]]
        return "\n".join(lines) + "\n"

    def parse(self, text: str) -> Parsed:
        out = Parsed("hex")
        try:
            pasted = parse_hex_input(text)
        except HexInputError as exc:
            out.bad(0, str(exc))
            return out
        lines = text.splitlines()
        for d in pasted.diagnostics:
            out.finding(0, d.tag, d.level, d.message)
        for code, data in _joined(pasted.parts):
            line = _line_of(lines, code)
            out.values.append(Value(code, data, line, None, code == 43))
        if not pasted.parts:
            out.bad(0, "bare hex names no option: paste DHCPUtil's output or 'Option NN: <hex>' lines")
        return out


def _joined(parts: tuple[tuple[int, bytes], ...]) -> list[tuple[int, bytes]]:
    joined: dict[int, bytes] = {}
    for code, value in parts:
        joined[code] = joined.get(code, b"") + value
    return list(joined.items())


def _line_of(lines: list[str], code: int) -> int:
    patterns = [rf"^\s*Option\s*{code}\b"]
    if code == 43:
        patterns = [r"Full\s+Option\s+43", r"^\s*sub-?option\s+1\b", r"^\s*Option\s*43\b", r"\bConfigure\b"]
    if code == 120:
        patterns.append(r"\bConfigure\b")
    for pattern in patterns:
        for number, line in enumerate(lines, start=1):
            if re.search(pattern, line, re.I):
                return number
    return 0


DIALECT = Hex()
