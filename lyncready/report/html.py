"""The HTML report: one self-contained page (inline CSS and a few lines of inline JS, nothing fetched).

Jinja2 runs with autoescape on, so names and evidence from the network are always text. The page also
carries a Content-Security-Policy that allows no network access at all and only the one inline script
and style whose hashes it names: an injection that slipped past escaping still could not run or phone home.
jinja2 is imported only when a page is rendered.

Read top to bottom, the page answers in a minute: the counts; what changed since the last run (when the
caller passes :func:`lyncready.history.mark_changes`); for a network audit, a summary per site and a
site x check matrix; then the results, open problems first, each with its reason (the findings), the fix line
and the evidence (collapsed); then muted results with their reason, then what passed or was skipped.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..model import CheckMeta, Report, Result, Status, Target, exit_code_for
from .text import summary_line, visible

if TYPE_CHECKING:
    import jinja2

    from ..history import ChangeKind, ResultKey

__all__ = ["render_html"]

_NEEDS_DETAIL = {Status.WARN, Status.FAIL, Status.ERROR}
_WORST_FIRST = (Status.FAIL, Status.ERROR, Status.WARN, Status.PASS, Status.SKIP)
_WORST = {st: i for i, st in enumerate(_WORST_FIRST)}
# display order: open problems, then muted (accepted) results, then what passed or did not apply
_RANK = {Status.FAIL: 0, Status.ERROR: 1, Status.WARN: 2, Status.PASS: 4, Status.SKIP: 5}
_MUTED_RANK = 3
_SHOWN_CHANGES = ("regressed", "fixed", "new", "changed")  # "unchanged" gets no badge
_SECTIONS = (
    ("attention", "Needs attention"),
    ("muted", "Muted (accepted findings)"),
    ("ok", "Passed and skipped"),
)
NO_SITE = "(no site)"


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


def _rank(r: Result) -> int:
    return _MUTED_RANK if r.muted else _RANK[r.status]


def _section(r: Result) -> str:
    if r.muted:
        return "muted"
    return "attention" if r.status in _NEEDS_DETAIL else "ok"


def _result_view(r: Result, check: CheckMeta | None, anchor: str, change: str) -> dict[str, Any]:
    return {
        "anchor": anchor,
        "status": r.status.value,
        "check_id": r.check_id,
        "title": check.title if check else r.check_id,
        "target": r.target,
        "site": r.site or NO_SITE,
        "muted": r.muted,
        "change": change,
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


def _change_kinds(report: Report, changes: Mapping[ResultKey, ChangeKind] | None) -> list[str]:
    """Per result of the report: the badge to show ("" for none)."""
    if changes is None:
        return [""] * len(report.results)
    from ..history import result_key

    kinds = []
    for r in report.results:
        kind = changes.get(result_key(r))
        kinds.append(str(kind) if kind is not None and str(kind) in _SHOWN_CHANGES else "")
    return kinds


def _counts(results: Sequence[Result]) -> dict[str, int]:
    counts = {st.value: 0 for st in Status}
    for r in results:
        counts[r.status.value] += 1
    return counts


def _worst(results: Sequence[Result]) -> Status:
    return min((r.status for r in results), key=_WORST.__getitem__)


def _site_views(
    results: Sequence[Result], sites: Sequence[str], kinds: Sequence[str], with_changes: bool
) -> list[dict[str, Any]]:
    views = []
    for site in sites:
        here = [i for i, r in enumerate(results) if r.site == site]
        mine = [results[i] for i in here]
        effective = [Status.PASS if r.muted else r.status for r in mine]
        exit_code = exit_code_for(mine)
        views.append(
            {
                "name": site or NO_SITE,
                "counts": _counts(mine),
                "muted": sum(1 for r in mine if r.muted),
                "total": len(mine),
                "worst": min(effective, key=_WORST.__getitem__).value,
                "exit": int(exit_code),
                "exit_name": exit_code.name,
                "regressed": sum(1 for i in here if kinds[i] == "regressed") if with_changes else None,
                "fixed": sum(1 for i in here if kinds[i] == "fixed") if with_changes else None,
            }
        )
    return views


def _matrix(
    ordered: Sequence[tuple[Result, dict[str, Any]]], sites: Sequence[str], checks: Mapping[str, CheckMeta]
) -> list[dict[str, Any]]:
    """One row per check (catalogue order, then unknown ids), one cell per site (``None``: not run there)."""
    cells: dict[tuple[str, str], list[tuple[Result, dict[str, Any]]]] = {}
    for r, view in ordered:  # display order: a cell's first result is its most interesting one
        cells.setdefault((r.check_id, r.site), []).append((r, view))
    seen = {r.check_id for r, _ in ordered}
    row_ids = [cid for cid in checks if cid in seen]
    row_ids += sorted(seen - set(row_ids))
    rows = []
    for cid in row_ids:
        row_cells: list[dict[str, Any] | None] = []
        for site in sites:
            items = cells.get((cid, site))
            if not items:
                row_cells.append(None)
                continue
            open_ = [r for r, _ in items if not r.muted]
            muted = [r for r, _ in items if r.muted]
            counts = _counts(open_)
            shown = [(st.value, counts[st.value]) for st in _WORST_FIRST if counts[st.value]]
            worst = _worst(open_ or muted)
            text = ", ".join(f"{n} {st}" for st, n in shown)
            if muted:
                text += (", " if text else "") + f"{len(muted)} muted ({_worst(muted).value})"
            row_cells.append(
                {
                    "status": worst.value,
                    "all_muted": not open_,
                    "counts": shown if len(items) > 1 else [],
                    "muted": len(muted),
                    "anchor": items[0][1]["anchor"],
                    "title": f"{site or NO_SITE} · {cid}: {text}",
                }
            )
        check = checks.get(cid)
        rows.append({"check_id": cid, "title": check.title if check else cid, "cells": row_cells})
    return rows


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


def render_html(report: Report, changes: Mapping[ResultKey, ChangeKind] | None = None) -> str:
    """The report as one self-contained HTML page.

    ``changes``: how each result moved since the last run, as :func:`lyncready.history.mark_changes` gives
    it; each result then carries a "new", "regressed", "fixed" or "changed" badge, and the page lists the
    regressions and fixes first. ``None`` (no earlier run to compare with): no change is shown.
    """
    checks = {c.id: c for c in report.checks}
    check_order = {cid: i for i, cid in enumerate(checks)}
    results = list(report.results)  # once: a spilled report reads each result back from disk on access
    has_sites = any(r.site for r in results)
    sites = list(dict.fromkeys(r.site for r in results)) if has_sites else []
    site_order = {s: i for i, s in enumerate(sites)}
    kinds = _change_kinds(report, changes)
    views = [_result_view(r, checks.get(r.check_id), f"r{i}", kinds[i]) for i, r in enumerate(results)]
    order = sorted(
        range(len(results)),
        key=lambda i: (
            _rank(results[i]),
            site_order.get(results[i].site, 0),
            check_order.get(results[i].check_id, len(check_order)),
            results[i].check_id,
            i,
        ),
    )
    ordered = [(results[i], views[i]) for i in order]
    sections = [
        {"key": key, "title": title, "results": [v for r, v in ordered if _section(r) == key]}
        for key, title in _SECTIONS
    ]
    change_lists = {kind: [v for _, v in ordered if v["change"] == kind] for kind in _SHOWN_CHANGES}
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
        "muted_count": sum(1 for r in results if r.muted),
        "summary_line": summary_line(report),
        "exit_code": int(report.exit_code),
        "exit_name": report.exit_code.name,
        "domains": _str_list(args.get("domains")),
        "nameservers": _str_list(args.get("nameservers")),
        "arguments": dict(args),
        "sections": [sec for sec in sections if sec["results"]],
        "has_sites": has_sites,
        "sites": _site_views(results, sites, kinds, changes is not None),
        "matrix": _matrix(ordered, sites, checks) if has_sites else [],
        "site_names": [site or NO_SITE for site in sites],
        "with_changes": changes is not None,
        "changes": change_lists,
        "targets": [_target_view(t) for t in report.targets],
        "statuses": [st.value for st in Status],
    }
    return _environment().get_template("report.html.j2").render(context)
