"""CSV: one row per result, for spreadsheets and ad-hoc filtering (RFC 4180: comma, CRLF, quotes as needed).

Columns: ``site, check_id, target, target_kind, status, muted, summary, tags, findings, remediation, fix,
duration, origins, domains, plugin``. ``site`` is the result's site, else the report's ``arguments["site"]``
(empty without one); ``muted`` is the reason a finding was accepted (empty when it was not); ``tags`` are
the findings' tags separated by spaces; ``findings`` are ``level: message [tag]`` lines; ``origins`` and
``domains`` are separated by ``; ``. The text is UTF-8 without a byte-order mark.

Formula injection: a spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` (and tab or
carriage return, which some strip first) as a formula, and a DNS name or a server banner can start with
anything. Such a text cell gets a leading ``'`` (OWASP's advice), which spreadsheets show as text.
Numbers (``duration``) are written as numbers.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable

from ..model import Report, Result

__all__ = ["COLUMNS", "render_csv", "safe_cell"]

COLUMNS = (
    "site",
    "check_id",
    "target",
    "target_kind",
    "status",
    "muted",
    "summary",
    "tags",
    "findings",
    "remediation",
    "fix",
    "duration",
    "origins",
    "domains",
    "plugin",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(text: str) -> str:
    """``text``, with a leading ``'`` when a spreadsheet would read it as a formula."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def _row(r: Result, site: str) -> list[str]:
    cells = [
        site,
        r.check_id,
        r.target,
        r.target_kind.value,
        r.status.value,
        r.muted,
        r.summary,
        " ".join(f.tag for f in r.findings),
        "\n".join(f"{f.level.value}: {f.message} [{f.tag}]" for f in r.findings),
        r.remediation,
        r.fix.rstrip("\n"),
    ]
    duration = f"{r.duration:.3f}" if math.isfinite(r.duration) else ""
    tail = ["; ".join(r.origins), "; ".join(r.domains), r.plugin]
    return [*(safe_cell(c) for c in cells), duration, *(safe_cell(c) for c in tail)]


def _rows(report: Report) -> Iterable[list[str]]:
    value = report.arguments.get("site")
    site = value if isinstance(value, str) else ""
    for r in report.results:
        yield _row(r, r.site or site)


def render_csv(report: Report) -> str:
    """The results as CSV with a header row (see the module docstring for the columns)."""
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    writer.writerows(_rows(report))
    return buf.getvalue()
