"""Kea DHCPv4: option definitions, the MS-UC-Client client class, option data; and reading a Kea config back.

Kea 2.2 has no DHCPv4 definition for option 120: it is defined here as a record ``uint8, fqdn`` (encoding byte
0, then the name). Option 43 is redefined inside the client class (Kea allows that for 43 only) as an empty
option encapsulating the space ``ms-uc-client``, so other vendors' option 43 stays untouched. Kea sends the
sub-options in configuration order, without an end byte, and option 119 uncompressed.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Sequence
from typing import Any

from ..codecs import encode_name
from .base import UC_CLASS_DATA, Dialect, Where, o43_values, tag_for
from .jsonc import JArr, JObj, JsonError, parse_jsonc
from .model import Parsed, ScopeDecl, ScopeSpec, Value

SPACE = "ms-uc-client"
SUB_NAMES = {1: "uc-identifier", 2: "url-scheme", 3: "web-server-fqdn", 4: "web-server-port", 5: "cert-prov-path"}
SIP_DEF: dict[str, Any] = {
    "name": "sip-server",
    "code": 120,
    "space": "dhcp4",
    "type": "record",
    "record-types": "uint8, fqdn",
}
CLASS_43_DEF: dict[str, Any] = {
    "name": "vendor-encapsulated-options",
    "code": 43,
    "type": "empty",
    "encapsulate": SPACE,
}
TEST = f"option[60].text == '{UC_CLASS_DATA}'"
# Kea's own DHCPv4 definitions lyncready needs: name -> (code, type)
STANDARD: dict[str, tuple[int, str]] = {
    "routers": (3, "ipv4-address"),
    "time-servers": (4, "ipv4-address"),
    "domain-name-servers": (6, "ipv4-address"),
    "domain-name": (15, "fqdn"),
    "ntp-servers": (42, "ipv4-address"),
    "vendor-encapsulated-options": (43, "empty"),
    "vendor-class-identifier": (60, "string"),
    "domain-search": (119, "fqdn"),
}
ARRAYS = {3, 4, 6, 42, 119}


def dumps(value: Any, indent: str = "") -> str:
    """JSON with every object or list that fits on one line (110 columns) kept on one line."""
    flat = json.dumps(value)
    if len(indent) + len(flat) <= 110 or not isinstance(value, dict | list) or not value:
        return flat
    inner = indent + "  "
    if isinstance(value, dict):
        items = [f"{inner}{json.dumps(k)}: {dumps(v, inner).lstrip()}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    items = [inner + dumps(v, inner).lstrip() for v in value]
    return "[\n" + ",\n".join(items) + "\n" + indent + "]"


def _class_name(where: Where) -> str:
    return UC_CLASS_DATA if where.server_level else f"{UC_CLASS_DATA}-{tag_for(where.network)[5:]}"


class Kea(Dialect):
    name = "kea"
    title = "Kea DHCPv4, JSON to merge into the Dhcp4 object"
    comment = "//"

    # --- snippets (JSON objects, rendered one per line) --------------------------------------------------

    def data_120(self, names: Sequence[str]) -> dict[str, Any]:
        return {"name": "sip-server", "data": f"0, {names[0]}"}

    def class_obj(self, web: str, port: int, where: Where) -> dict[str, Any]:
        values = o43_values(web, port)
        obj: dict[str, Any] = {"name": _class_name(where), "test": TEST}
        if not where.server_level:
            obj["only-if-required"] = True
        obj["option-def"] = [CLASS_43_DEF]
        obj["option-data"] = [
            {"name": "vendor-encapsulated-options"},
            *({"name": SUB_NAMES[code], "space": SPACE, "data": v} for code, v in enumerate(values, start=1)),
        ]
        return obj

    def sub_defs(self) -> list[dict[str, Any]]:
        return [{"name": n, "code": code, "space": SPACE, "type": "string"} for code, n in SUB_NAMES.items()]

    def lines_120(self, names: Sequence[str], where: Where) -> list[str]:
        return [
            self.note("option-def (once, in Dhcp4):"),
            json.dumps(SIP_DEF),
            self.note(f"option-data ({where.label}):"),
            json.dumps(self.data_120(names)),
        ]

    def lines_43(self, web: str, port: int, where: Where) -> list[str]:
        out = [self.note("option-def (once, in Dhcp4):"), *(json.dumps(d) for d in self.sub_defs())]
        out += [self.note("client-classes entry:"), json.dumps(self.class_obj(web, port, where))]
        if not where.server_level:
            out.append(
                self.note(f'in the subnet4 entry of {where.label}: "require-client-classes": ["{_class_name(where)}"]')
            )
        return out

    def lines_119(self, names: Sequence[str], where: Where) -> list[str]:
        return [
            self.note(f"option-data ({where.label}):"),
            json.dumps({"name": "domain-search", "data": ", ".join(names)}),
        ]

    def lines_time(self, code: int, addresses: Sequence[str], where: Where) -> list[str]:
        name = "time-servers" if code == 4 else "ntp-servers"
        return [self.note(f"option-data ({where.label}):"), json.dumps({"name": name, "data": ", ".join(addresses)})]

    def lines_class(self) -> list[str]:
        return [self.note("client class test:"), json.dumps({"test": TEST})]

    def generate(self, spec: ScopeSpec) -> str:
        where = Where.of(spec)
        data: list[dict[str, Any]] = [self.data_120([spec.sip_server])]
        if spec.search_list:
            data.append({"name": "domain-search", "data": ", ".join(spec.search_list)})
        if spec.ntp:
            data.append({"name": "time-servers", "data": ", ".join(spec.ntp)})
            data.append({"name": "ntp-servers", "data": ", ".join(spec.ntp)})
        dhcp4: dict[str, Any] = {
            "option-def": [SIP_DEF, *self.sub_defs()],
            "client-classes": [self.class_obj(spec.web, spec.port, where)],
        }
        if where.server_level:
            dhcp4["option-data"] = data
        else:
            assert where.network is not None
            dhcp4["subnet4"] = [
                {
                    "subnet": str(where.network),
                    "require-client-classes": [_class_name(where)],
                    "option-data": data,
                }
            ]
        lines = [
            *self.header(spec),
            self.note("Kea 2.2 lacks a DHCPv4 definition of option 120: 'sip-server' is defined here (drop that"),
            self.note("option-def if your Kea version defines 120). Option 43 is redefined only inside the class."),
        ]
        if not where.server_level:
            lines.append(self.note(f"Merge the subnet4 entry into your existing one for {where.network}."))
        lines.append(dumps({"Dhcp4": dhcp4}))
        return "\n".join(lines) + "\n"

    def parse(self, text: str) -> Parsed:
        return _read(text)


# --- reading -------------------------------------------------------------------------------------------


class _Defs:
    """Option definitions visible in one place: (space, name) and (space, code) -> definition."""

    def __init__(self) -> None:
        self.by_name: dict[tuple[str, str], dict[str, Any]] = {}
        self.by_code: dict[tuple[str, int], dict[str, Any]] = {}
        for name, (code, kind) in STANDARD.items():
            d: dict[str, Any] = {"name": name, "code": code, "type": kind, "array": code in ARRAYS}
            if code == 43:
                d["encapsulate"] = "vendor-encapsulated-options-space"
            self._add("dhcp4", d)

    def _add(self, space: str, d: dict[str, Any]) -> None:
        self.by_name[(space, str(d.get("name", "")))] = d
        if isinstance(d.get("code"), int):
            self.by_code[(space, int(d["code"]))] = d

    def copy(self) -> _Defs:
        other = _Defs.__new__(_Defs)
        other.by_name = dict(self.by_name)
        other.by_code = dict(self.by_code)
        return other

    def add_all(self, defs: Any, out: Parsed) -> None:
        if not isinstance(defs, list):
            return
        for d in defs:
            if not isinstance(d, dict):
                continue
            space = str(d.get("space", "dhcp4"))
            if not isinstance(d.get("code"), int):
                out.bad(getattr(d, "line", 0), f"option-def {d.get('name')!r}: no numeric code")
                continue
            self._add(space, dict(d))

    def find(self, entry: dict[str, Any]) -> dict[str, Any] | None:
        space = str(entry.get("space", "dhcp4"))
        if "code" in entry and isinstance(entry["code"], int):
            return self.by_code.get((space, int(entry["code"])))
        if "name" in entry:
            return self.by_name.get((space, str(entry["name"])))
        return None


def _csv(text: str) -> list[str]:
    return [p.strip() for p in text.split(",")] if text.strip() else []


def _encode(entry: dict[str, Any], d: dict[str, Any] | None) -> tuple[bytes | None, str]:
    """The bytes Kea sends for one option-data entry, or (None, reason)."""
    data = entry.get("data", "")
    if not isinstance(data, str):
        return None, "'data' is not a string"
    if entry.get("csv-format") is False or (d is not None and d.get("type") == "binary"):
        digits = re.sub(r"[\s:]", "", data)
        if digits.lower().startswith("0x"):
            digits = digits[2:]
        if len(digits) % 2 or not re.fullmatch(r"[0-9A-Fa-f]*", digits):
            return None, f"csv-format false: {data!r} is not hex"
        return bytes.fromhex(digits), ""
    if d is None:
        return None, "no definition for this option (add an option-def)"
    kind = str(d.get("type", ""))
    is_array = bool(d.get("array"))
    items = _csv(data) if is_array or kind == "record" else [data.strip()]
    try:
        if kind == "record":
            types = [t.strip() for t in str(d.get("record-types", "")).split(",") if t.strip()]
            if len(items) < len(types):
                return None, f"record {d.get('record-types')!r} needs {len(types)} values, got {len(items)}"
            out = b""
            for i, value in enumerate(items):
                out += _field(types[min(i, len(types) - 1)], value)
            return out, ""
        return b"".join(_field(kind, item) for item in items), ""
    except ValueError as exc:
        return None, str(exc)


def _field(kind: str, value: str) -> bytes:
    if kind == "string":
        return value.encode("utf-8")
    if kind == "fqdn":
        return encode_name(value)
    if kind == "ipv4-address":
        return ipaddress.IPv4Address(value).packed
    if kind in ("uint8", "int8", "uint16", "int16", "uint32", "int32"):
        size = {"8": 1, "16": 2, "32": 4}[kind.lstrip("uint")]
        number = int(value, 0)
        return number.to_bytes(size, "big", signed=kind.startswith("int"))
    if kind == "boolean":
        return b"\x01" if value.lower() in ("true", "1") else b"\x00"
    if kind == "empty":
        return b""
    raise ValueError(f"type {kind!r} is not supported by lyncready's reader")


_TEST_STR = re.compile(
    r"""option\s*\[\s*(?:60|vendor-class-identifier)\s*\]\s*\.\s*(?:text|hex)[^'"]*['"]([^'"]*)['"]"""
)


def _read(text: str) -> Parsed:
    out = Parsed("kea")
    out.precedence = (("scope", False), ("scope", True), ("server", True), ("server", False))
    try:
        doc = parse_jsonc(text)
    except JsonError as exc:
        out.bad(exc.line, f"not valid Kea JSON: {exc.reason}")
        return out
    dhcp4 = doc.get("Dhcp4") if isinstance(doc, dict) else None
    if not isinstance(dhcp4, dict):
        if isinstance(doc, dict) and any(k in doc for k in ("option-data", "client-classes", "subnet4")):
            dhcp4 = doc
        else:
            out.bad(getattr(doc, "line", 1), 'no "Dhcp4" object: not a kea-dhcp4 configuration')
            return out
    defs = _Defs()
    defs.add_all(dhcp4.get("option-def"), out)
    classes: dict[str, tuple[JObj, bool]] = {}
    for cls in _list(dhcp4.get("client-classes")):
        name = str(cls.get("name", ""))
        test = str(cls.get("test", ""))
        m = _TEST_STR.search(test)
        uc = False
        if m:
            wanted = m.group(1)
            if wanted == UC_CLASS_DATA:
                uc = True
            elif re.sub(r"[^a-z]", "", wanted.lower()) in ("msucclient", "msusclient"):
                out.finding(
                    cls.line,
                    "cfg.vendor_class_data",
                    "error",
                    f"client class {name!r} tests option 60 against {wanted!r}; phones send 'MS-UC-Client' "
                    "(case-sensitive), so the class never matches and phones get none of its options",
                    [json.dumps({"name": name, "test": TEST})],
                )
        elif UC_CLASS_DATA in test:
            uc = True
        classes[name] = (cls, uc)
        if uc:
            cdefs = defs.copy()
            cdefs.add_all(cls.get("option-def"), out)
            _values(out, _list(cls.get("option-data")), cdefs, None, True, cls.get("only-if-required") is True)
    _values(out, _list(dhcp4.get("option-data")), defs, None, False)
    subnets = list(_list(dhcp4.get("subnet4")))
    for shared in _list(dhcp4.get("shared-networks")):
        subnets += list(_list(shared.get("subnet4")))
    for sub in subnets:
        raw = str(sub.get("subnet", ""))
        try:
            net = ipaddress.IPv4Network(raw, strict=False)
        except ValueError:
            out.bad(sub.line, f"subnet4 entry: {raw!r} is not an IPv4 subnet")
            continue
        key = str(net)
        out.scopes.append(ScopeDecl(key, f"subnet4 {net}", sub.line, net))
        _values(out, _list(sub.get("option-data")), defs, key, False)
        for pool in _list(sub.get("pools")):
            _values(out, _list(pool.get("option-data")), defs, key, False)
        for name in sub.get("require-client-classes") or []:
            found = classes.get(str(name))
            if found and found[1]:
                cdefs = defs.copy()
                cdefs.add_all(found[0].get("option-def"), out)
                _values(out, _list(found[0].get("option-data")), cdefs, key, True)
    return out


def _list(value: Any) -> list[JObj]:
    if isinstance(value, JArr | list):
        return [v for v in value if isinstance(v, JObj)]
    return []


def _values(
    out: Parsed, entries: list[JObj], defs: _Defs, scope: str | None, vendor: bool, required_only: bool = False
) -> None:
    if required_only:
        return  # evaluated only for subnets that require the class: read there
    subs: dict[str, list[tuple[int, bytes, int]]] = {}
    carriers: list[tuple[JObj, str]] = []
    for entry in entries:
        d = defs.find(entry)
        space = str(entry.get("space", "dhcp4"))
        if space != "dhcp4":
            if d is None:
                out.bad(
                    entry.line,
                    f"option-data {entry.get('name', entry.get('code'))!r} in space {space!r}: no option-def",
                )
                continue
            data, why = _encode(entry, d)
            if data is None:
                out.bad(entry.line, f"option-data {d.get('name')!r}: {why}")
                continue
            subs.setdefault(space, []).append((int(d["code"]), data, entry.line))
            continue
        code = int(d["code"]) if d is not None else (int(entry["code"]) if isinstance(entry.get("code"), int) else -1)
        if code not in (3, 4, 6, 15, 42, 43, 60, 119, 120):
            continue
        if code == 43 and d is not None and d.get("encapsulate") and "data" not in entry:
            carriers.append((entry, str(d["encapsulate"])))
            continue
        data, why = _encode(entry, d)
        if data is None:
            out.bad(entry.line, f"option-data {entry.get('name', code)!r}: {why}")
            continue
        out.values.append(Value(code, data, entry.line, scope, vendor))
    for entry, space in carriers:
        items = subs.get(space, [])
        data = b"".join(bytes([c, len(v)]) + v for c, v, _ in items)
        lines = {c: line for c, _, line in items}
        out.values.append(Value(43, data, entry.line, scope, vendor, sub_lines=lines))


DIALECT = Kea()

__all__ = ["DIALECT", "Kea", "dumps"]
