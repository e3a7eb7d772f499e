"""``lyncready dhcp lint`` output for people."""

from __future__ import annotations

from ..codecs import decode_option
from ..codecs.base import clip, hexu
from .model import LintReport

NAMES = {120: "SIP server", 43: "MS-UC-Client", 119: "search list", 4: "time servers", 42: "NTP servers"}
LEVELS = {"error": "ERROR", "warning": "WARNING", "info": "info"}


def summary(code: int, data: bytes) -> str:
    dec = decode_option(code, data)
    v = dec.value
    if code in (120, 119):
        text = ", ".join(v.get("names") or v.get("addresses") or [])
    elif code in (4, 42):
        text = ", ".join(v.get("addresses", []))
    elif code == 43:
        text = str(v.get("url") or "")
    else:
        text = ""
    mark = "" if dec.valid else "  [INVALID]"
    return (text or "(undecodable)") + mark


def render_text(report: LintReport, source: str = "-") -> str:
    out = [f"lyncready dhcp lint: {source} (format: {report.format})", ""]
    if report.scopes:
        out.append("What a phone (option 60 MS-UC-Client) gets:")
        for view in report.scopes:
            where = f" (line {view.line})" if view.line else ""
            out.append(f"  {view.name}{where}")
            for code in (120, 43, 119, 4, 42):
                found = view.options.get(code)
                if found is None:
                    out.append(f"    {code:<4} -")
                    continue
                data, line = found
                shown = clip(hexu(data), 34)
                out.append(f"    {code:<4} {shown:<34}  {clip(summary(code, data), 70)}  (line {line})")
            for note in view.notes:
                out.append(f"    note: {note}")
        out.append("")
    if report.findings:
        out.append("Findings:")
        for f in report.findings:
            where = f"line {f.line}" if f.line else "file"
            out.append(f"  {where:<9} {LEVELS[f.level]:<7} {f.tag}")
            out.append(f"            {f.message}")
            if f.fix_lines:
                out.append("            fix:")
                out.extend(f"              {line}" for line in f.fix_lines)
        out.append("")
    if report.unreadable:
        out.append("Unreadable:")
        for u in report.unreadable:
            where = f"{source}:{u.line}" if u.line else source
            out.append(f"  {where}: {u.reason}")
        out.append("")
    info = sum(1 for f in report.findings if f.level == "info")
    out.append(
        f"Summary: {report.errors} error(s), {report.warnings} warning(s), {info} info, "
        f"{len(report.unreadable)} unreadable; exit {report.exit_code}"
    )
    return "\n".join(out) + "\n"
