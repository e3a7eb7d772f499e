"""What ``lyncready dhcp decode`` and ``lyncready dhcp probe`` print: decoded options, for people or as JSON."""

from __future__ import annotations

import json
from typing import Any

from .codecs import Decoded, Diagnostic, HexInputError, decode_option, parse_hex_input
from .codecs.dhcp import SUBOPTION_NAMES
from .facts import DhcpProbe, DhcpReplies, DhcpStatus

EXIT_OK, EXIT_INVALID, EXIT_UNKNOWN = 0, 2, 3
OPTION_NAMES = {
    1: "Subnet mask",
    3: "Router",
    4: "Time server",
    6: "DNS servers",
    15: "Domain name",
    42: "NTP servers",
    43: "Vendor-specific (MS-UC-Client)",
    53: "Message type",
    54: "Server identifier",
    55: "Parameter request list",
    60: "Vendor class",
    119: "DNS search list",
    120: "SIP server",
}
SHOWN = (1, 3, 6, 15, 4, 42, 119, 120, 43)
MESSAGE_TYPES = {1: "DISCOVER", 2: "OFFER", 3: "REQUEST", 4: "DECLINE", 5: "ACK", 6: "NAK", 7: "RELEASE", 8: "INFORM"}


def choose(
    pasted_option: int | None, parts: tuple[tuple[int, bytes], ...], data: bytes, wanted: int | None, guess: int | None
) -> tuple[int, bytes] | None:
    """Which option to decode from a paste: the one asked for, else the one named, else a guess."""
    joined: dict[int, bytes] = {}
    for code, value in parts:
        joined[code] = joined.get(code, b"") + value
    if wanted is not None:
        if wanted in joined:
            return wanted, joined[wanted]
        return (wanted, data) if data else None
    if pasted_option is not None:
        return pasted_option, data
    if joined:
        code = 43 if 43 in joined else next(iter(joined))
        return code, joined[code]
    if data:
        return (guess or 0), data
    return None


def decode_and_describe(text: str, option: int | None, device: str, as_json: bool) -> tuple[int, str]:
    """(exit code, output). Exit 0 valid, 2 invalid, 3 not hex at all (output is then the one-line reason)."""
    try:
        pasted = parse_hex_input(text)
    except HexInputError as exc:
        return EXIT_UNKNOWN, str(exc)
    picked = choose(pasted.option, pasted.parts, pasted.data, option, pasted.option_guess)
    if picked is None:
        named = ", ".join(str(c) for c, _ in pasted.parts) or "none"
        return EXIT_UNKNOWN, f"option {option} is not in the pasted text (it names: {named})"
    code, data = picked
    decoded = decode_option(code, data, device=device)
    if pasted.diagnostics:
        decoded = Decoded.make(code, (*pasted.diagnostics, *decoded.diagnostics), decoded.value)
    exit_code = EXIT_OK if decoded.valid else EXIT_INVALID
    if as_json:
        return exit_code, json.dumps(decoded.to_json(), indent=2, ensure_ascii=False) + "\n"
    others = [c for c, _ in pasted.parts if c != code]
    out = describe_option(decoded, data)
    if others:
        out.append(
            f"(the paste also holds option(s) {', '.join(map(str, sorted(set(others))))}: decode them with --option N)"
        )
    return exit_code, "\n".join(out) + "\n"


def describe_option(decoded: Decoded, data: bytes, indent: str = "") -> list[str]:
    name = OPTION_NAMES.get(decoded.option, "unknown option")
    verdict = "valid" if decoded.valid else "INVALID"
    lines = [f"{indent}Option {decoded.option} ({name}), {len(data)} bytes: {verdict}"]
    v = decoded.value
    sub = indent + "  "
    if "encoding" in v:
        lines.append(f"{sub}encoding: {v['encoding']}")
    for key in ("names", "addresses", "codes"):
        if v.get(key):
            lines.append(f"{sub}{key}: {', '.join(str(x) for x in v[key])}")
    if "text" in v and v.get("text") is not None:
        lines.append(f"{sub}text: {v['text']}")
    if v.get("form"):
        lines.append(f"{sub}form: {v['form']}")
    for s in v.get("suboptions", []) or []:
        label = SUBOPTION_NAMES.get(s.get("code"), "unknown")
        lines.append(f"{sub}sub-option {s.get('code')} <{label}>: {s.get('text')}  ({s.get('hex')})")
    if v.get("url"):
        lines.append(f"{sub}Certificate Provisioning URL: {v['url']}")
    for d in decoded.diagnostics:
        lines.append(f"{sub}{_level(d)} {d.message} [{d.tag}]")
    return lines


def _level(d: Diagnostic) -> str:
    return {"info": "info ", "warning": "WARN ", "error": "ERROR"}.get(d.level, d.level)


def replies_to_json(replies: DhcpReplies, device: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "status": replies.status.value,
        "reason": replies.reason,
        "xid": f"{replies.xid:08x}",
        "mac": replies.mac,
        "replies": [],
    }
    for r in replies.replies:
        codes = sorted({c for c, _ in r.options})
        options = {}
        for code in codes:
            data = r.option(code)
            if data is not None:
                options[str(code)] = {"hex": data.hex(), **decode_option(code, data, device=device).to_json()}
        out["replies"].append(
            {
                "server": r.server_id or r.source,
                "source": r.source,
                "source_mac": r.source_mac,
                "type": MESSAGE_TYPES.get(r.message_type, str(r.message_type)),
                "yiaddr": r.yiaddr,
                "elapsed_ms": round(r.elapsed * 1000, 1),
                "options": options,
            }
        )
    return out


def describe_replies(replies: DhcpReplies, key: DhcpProbe, device: str) -> tuple[int, list[str]]:
    head = key.describe()
    if replies.status in (DhcpStatus.NO_PRIVILEGE, DhcpStatus.ERROR):
        return EXIT_UNKNOWN, [f"{head}: {replies.reason}"]
    if replies.status is DhcpStatus.NO_ANSWER or not replies.replies:
        return EXIT_INVALID, [f"{head}: no answer ({replies.reason})"]
    lines = [head, f"{len(replies.replies)} reply(ies):"]
    code = EXIT_OK
    servers = {r.server_id or r.source for r in replies.replies}
    if len(servers) > 1:
        lines.append(f"WARNING: {len(servers)} servers answered: {', '.join(sorted(servers))}")
        code = EXIT_INVALID
    for r in replies.replies:
        kind = MESSAGE_TYPES.get(r.message_type, str(r.message_type))
        lines.append(f"- DHCP{kind} from {r.server_id or r.source} ({r.source_mac}) in {r.elapsed * 1000:.1f} ms")
        present = {c for c, _ in r.options}
        for opt in SHOWN:
            data = r.option(opt)
            if data is None:
                if opt in (43, 120, 42):
                    lines.append(f"  Option {opt} ({OPTION_NAMES[opt]}): not sent")
                continue
            decoded = decode_option(opt, data, device=device)
            if not decoded.valid:
                code = EXIT_INVALID
            lines.extend(describe_option(decoded, data, indent="  "))
        extra = sorted(present - set(SHOWN) - {53, 54, 51, 58, 59, 255})
        if extra:
            lines.append(f"  other options: {', '.join(map(str, extra))}")
    return code, lines


async def probe_and_describe(
    *,
    interface: str,
    mode: str,
    server: str | None,
    giaddr: str | None,
    window: float,
    vendor_class: str | None,
    device: str,
    as_json: bool,
    netns: str | None = None,
) -> tuple[int, str]:
    from .probes.dhcp import run_dhcp_probe

    key = DhcpProbe(
        interface=interface,
        mode=mode,
        server=server,
        giaddr=giaddr,
        vendor_class=vendor_class,
        window=window,
        netns=netns,
    )
    replies = await run_dhcp_probe(key)
    code, lines = describe_replies(replies, key, device)
    if as_json:
        return code, json.dumps(replies_to_json(replies, device), indent=2, ensure_ascii=False) + "\n"
    return code, "\n".join(lines) + "\n"
