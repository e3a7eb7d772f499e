"""The HTML report: one self-contained page (inline CSS and a few lines of inline JS, nothing fetched).

Jinja2 runs with autoescape on, so names and evidence from the network are always text. The page also
carries a Content-Security-Policy that allows no network access at all and only the one inline script
whose hash it names: an injection that slipped past escaping still could not run or phone home.
jinja2 is imported only when a page is rendered.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..model import CheckMeta, Report, Result, Status, Target, TargetKind
from .text import summary_line, visible

if TYPE_CHECKING:
    import jinja2

__all__ = ["render_html"]

_KIND_ORDER = {k: i for i, k in enumerate(TargetKind)}
_NEEDS_DETAIL = {Status.WARN, Status.FAIL, Status.ERROR}


def _visible_block(text: str) -> str:
    """:func:`visible` for multi-line text: keeps line breaks, escapes every other control."""
    return "\n".join(visible(line) for line in text.split("\n"))


def _pretty(value: Any) -> str:
    text = json.dumps(value, indent=2, ensure_ascii=False, default=str, allow_nan=True)
    return _visible_block(text)


def _csp_hash(script: str) -> str:
    digest = hashlib.sha256(str(script).encode("utf-8")).digest()
    return "sha256-" + base64.b64encode(digest).decode("ascii")


@functools.cache
def _environment() -> jinja2.Environment:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("lyncready.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["visible"] = visible
    env.filters["visible_block"] = _visible_block
    env.filters["pretty"] = _pretty
    env.filters["csp_hash"] = _csp_hash
    return env


def _result_view(r: Result, check: CheckMeta | None) -> dict[str, Any]:
    return {
        "status": r.status.value,
        "check_id": r.check_id,
        "title": check.title if check else r.check_id,
        "target": r.target,
        "summary": r.summary,
        "findings": r.findings,
        "remediation": r.remediation or (check.remediation if check else ""),
        "fix": r.fix,
        "evidence": dict(r.evidence),
        "origins": r.origins,
        "domains": r.domains,
        "duration": r.duration,
        "plugin": r.plugin,
        "references": check.references if check else (),
        "detailed": r.status in _NEEDS_DETAIL,
    }


def _groups(report: Report, checks: Mapping[str, CheckMeta]) -> list[dict[str, Any]]:
    order = {cid: i for i, cid in enumerate(checks)}
    results = sorted(
        report.results,
        key=lambda r: (_KIND_ORDER.get(r.target_kind, 99), order.get(r.check_id, len(order)), r.check_id),
    )
    groups: list[dict[str, Any]] = []
    for r in results:
        if not groups or groups[-1]["kind"] != r.target_kind.value:
            groups.append({"kind": r.target_kind.value, "results": []})
        groups[-1]["results"].append(_result_view(r, checks.get(r.check_id)))
    return groups


def _str_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return [str(value)]


def _target_view(t: Target) -> dict[str, Any]:
    return {"kind": t.kind.value, "label": t.label, "origins": t.origins, "domains": t.domains}


def render_html(report: Report) -> str:
    """The report as one self-contained HTML page."""
    checks = {c.id: c for c in report.checks}
    s = report.summary
    args = report.arguments
    context = {
        "report": report,
        "summary": {
            "pass": s.passed,
            "warn": s.warned,
            "fail": s.failed,
            "error": s.errors,
            "skip": s.skipped,
            "total": s.total,
        },
        "summary_line": summary_line(report),
        "exit_code": int(report.exit_code),
        "exit_name": report.exit_code.name,
        "domains": _str_list(args.get("domains")),
        "nameservers": _str_list(args.get("nameservers")),
        "arguments": dict(args),
        "groups": _groups(report, checks),
        "targets": [_target_view(t) for t in report.targets],
        "statuses": [st.value for st in Status],
    }
    return _environment().get_template("report.html.j2").render(context)
