"""ISC dhcpd 4.x: ``option space`` + ``vendor-option-space`` under a class that matches option 60, option 120 as
raw bytes; and reading a dhcpd.conf back."""

from __future__ import annotations

from collections.abc import Sequence

from .base import UC_CLASS_DATA, UC_CLASS_NAME, Dialect, Where, hex_colons, o43_values, o120
from .model import Parsed, ScopeSpec

SPACE = UC_CLASS_NAME
SUB_NAMES = {1: "uc-identifier", 2: "url-scheme", 3: "web-server-fqdn", 4: "web-server-port", 5: "cert-prov-path"}
SIP_OPTION = "lync-sip-server"
MATCH = f'option vendor-class-identifier = "{UC_CLASS_DATA}"'


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Isc(Dialect):
    name = "isc"
    title = "ISC dhcpd 4.x, dhcpd.conf"
    comment = "#"

    def definitions(self) -> list[str]:
        return [
            self.note(
                "Option 120 (SIP servers, RFC 3361) has no definition in dhcpd: raw bytes, encoding byte 0 first"
            ),
            f"option {SIP_OPTION} code 120 = string;",
            self.note('The MS-UC-Client sub-options of option 43, as text ("443" stays the three characters 443)'),
            f"option space {SPACE};",
            *(f"option {SPACE}.{n} code {code} = text;" for code, n in SUB_NAMES.items()),
        ]

    def _subs(self, web: str, port: int, indent: str) -> list[str]:
        values = o43_values(web, port)
        return [f"{indent}vendor-option-space {SPACE};"] + [
            f"{indent}option {SPACE}.{SUB_NAMES[code]} {_q(v)};" for code, v in enumerate(values, start=1)
        ]

    def _open(self, where: Where) -> list[str]:
        if where.server_level or where.network is None:
            return []
        return [f"subnet {where.network.network_address} netmask {where.network.netmask} {{"]

    def _wrap(self, body: list[str], where: Where) -> list[str]:
        if where.server_level or where.network is None:
            return body
        return [*self._open(where), *("    " + b for b in body), "}"]

    def lines_120(self, names: Sequence[str], where: Where) -> list[str]:
        return [
            f"option {SIP_OPTION} code 120 = string;",
            *self._wrap([f"option {SIP_OPTION} {hex_colons(o120(names))};"], where),
        ]

    def lines_43(self, web: str, port: int, where: Where) -> list[str]:
        defs = [f"option space {SPACE};", *(f"option {SPACE}.{n} code {c} = text;" for c, n in SUB_NAMES.items())]
        if where.server_level:
            return [
                *defs,
                f"class {_q(UC_CLASS_DATA)} {{",
                f"    match if {MATCH};",
                *self._subs(web, port, "    "),
                "}",
            ]
        return [*defs, *self._wrap([f"if {MATCH} {{", *self._subs(web, port, "    "), "}"], where)]

    def lines_119(self, names: Sequence[str], where: Where) -> list[str]:
        return self._wrap([f"option domain-search {', '.join(_q(n) for n in names)};"], where)

    def lines_time(self, code: int, addresses: Sequence[str], where: Where) -> list[str]:
        name = "time-servers" if code == 4 else "ntp-servers"
        return self._wrap([f"option {name} {', '.join(addresses)};"], where)

    def lines_class(self) -> list[str]:
        return [f"class {_q(UC_CLASS_DATA)} {{", f"    match if {MATCH};", "    ...", "}"]

    def generate(self, spec: ScopeSpec) -> str:
        where = Where.of(spec)
        lines = [*self.header(spec), *self.definitions(), ""]
        body = [f"option {SIP_OPTION} {hex_colons(spec.o120())};"]
        if spec.search_list:
            body.append(f"option domain-search {', '.join(_q(n) for n in spec.search_list)};")
        if spec.ntp:
            body.append(f"option time-servers {', '.join(spec.ntp)};")
            body.append(f"option ntp-servers {', '.join(spec.ntp)};")
        if where.server_level:
            lines += [
                self.note(
                    "dhcpd answers DHCPINFORM (how phones ask for 43 and 120) only where it is authoritative: "
                    "set 'authoritative;' globally or in the phones' subnet"
                ),
                self.note("Option 43 only for clients whose option 60 is MS-UC-Client:"),
                f"class {_q(UC_CLASS_DATA)} {{",
                f"    match if {MATCH};",
                *self._subs(spec.web, spec.port, "    "),
                "}",
                "",
                *body,
            ]
        else:
            assert where.network is not None
            lines += [
                self.note(f"Merge into your subnet declaration for {where.network}:"),
                *self._open(where),
                "    " + self.note("dhcpd answers DHCPINFORM (how phones ask for 43 and 120) only when authoritative"),
                "    authoritative;",
                *("    " + b for b in body),
                "    " + self.note("option 43 only for clients whose option 60 is MS-UC-Client:"),
                f"    if {MATCH} {{",
                *self._subs(spec.web, spec.port, "        "),
                "    }",
                "}",
            ]
        return "\n".join(lines) + "\n"

    def parse(self, text: str) -> Parsed:
        from .isc_reader import read

        return read(text)


DIALECT = Isc()
