"""The terminal report: one table per target kind, findings and fix lines under what needs work.

Every string that may come from the network (names, summaries, messages, fix lines) goes through
:func:`visible` first, so a hostile DNS name cannot move the cursor, recolour or retitle the terminal.
"""

from __future__ import annotations

import os
import shutil
import sys
import textwrap
from collections.abc import Iterable, Iterator

from ..model import Report, Status, TargetKind
from ..resultlog import ResultMeta
from ..resultlog import metas as result_metas

__all__ = ["iter_text", "render_text", "use_color", "visible"]

_STATUS_COLOR = {
    Status.PASS: "32",  # green
    Status.WARN: "33",  # yellow
    Status.FAIL: "31;1",  # bold red
    Status.ERROR: "35",  # magenta
    Status.SKIP: "2",  # dim
}
_LEVEL_COLOR = {"info": "2", "warn": "33", "fail": "31"}
_KIND_ORDER = {k: i for i, k in enumerate(TargetKind)}
_NEEDS_DETAIL = {Status.WARN, Status.FAIL, Status.ERROR}
_GAP = "  "
_MIN_SUMMARY = 24
_CHECK_MAX = 36
_TARGET_MAX = 40


def visible(text: str) -> str:
    """``text`` with every non-printable character (C0/C1 controls such as ESC, bidi and other format
    characters, line separators) written as its Python escape (``\\x1b``, ``\\n``, ``\\u202e``)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def use_color(color: bool | None = None) -> bool:
    """``color`` when given; otherwise colour only on a terminal, without ``NO_COLOR`` or ``TERM=dumb``."""
    if color is not None:
        return color
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(sys.stdout, "isatty", None)
    return bool(isatty and isatty())


class _Painter:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.enabled and text else text


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def summary_line(report: Report, color: bool = False) -> str:
    """``3 passed, 1 warning, 2 failed, 0 errors, 1 skipped — exit 2``."""
    s = report.summary
    paint = _Painter(color)
    parts = [
        (f"{s.passed} passed", "32" if s.passed else ""),
        (_plural(s.warned, "warning"), "33" if s.warned else ""),
        (f"{s.failed} failed", "31;1" if s.failed else ""),
        (_plural(s.errors, "error"), "35" if s.errors else ""),
        (f"{s.skipped} skipped", ""),
    ]
    text = ", ".join(paint(t, c) if c else t for t, c in parts)
    return f"{text} — exit {int(report.exit_code)}"


def _order(report: Report, metas: list[ResultMeta]) -> list[int]:
    """Indexes of the results grouped by target kind, then by check in catalogue order; stable within a check."""
    check_order = {c.id: i for i, c in enumerate(report.checks)}
    unknown = len(check_order)
    return sorted(
        range(len(metas)),
        key=lambda i: (
            _KIND_ORDER.get(metas[i].target_kind, 99),
            check_order.get(metas[i].check_id, unknown),
            metas[i].check_id,
        ),
    )


def _fit(lengths: list[int], cap: int, floor: int) -> int:
    """The widest length that fits under ``cap`` (at least ``floor``)."""
    return max([floor, *(n for n in lengths if n <= cap)])


def _wrap(text: str, width: int) -> list[str]:
    lines = textwrap.wrap(text, max(width, 10), break_long_words=False, break_on_hyphens=False)
    return lines or [""]


def _indented(text: str, first: str, rest: str, width: int) -> Iterable[str]:
    lines = _wrap(text, width - len(first))
    yield first + lines[0]
    for line in lines[1:]:
        yield rest + line


def render_text(report: Report, color: bool | None = None, *, width: int | None = None) -> str:
    """The readable report: a STATUS / CHECK / TARGET / SUMMARY table per target kind, the findings
    and ``fix:`` line under each warn, fail and error, then the summary line with the exit code.

    ``color``: ANSI colours when true; ``None`` decides with :func:`use_color`.
    ``width``: the line width to wrap to (default: the terminal's).
    """
    return "".join(iter_text(report, color, width=width))


def iter_text(report: Report, color: bool | None = None, *, width: int | None = None) -> Iterator[str]:
    """:func:`render_text` in pieces of about a thousand lines, reading one result at a time."""
    paint = _Painter(use_color(color))
    if width is None:
        width = shutil.get_terminal_size((100, 24)).columns
    width = max(width, 60)

    metas = result_metas(report.results)
    order = _order(report, metas)
    sw = max(len("STATUS"), *(len(s.value) for s in Status))
    # Name columns fit most names; an outlier gets a line to itself instead of squeezing the summary.
    avail = width - sw - 3 * len(_GAP) - _MIN_SUMMARY
    cw = _fit(sorted({len(visible(m.check_id)) for m in metas}), min(_CHECK_MAX, max(12, avail // 2)), len("CHECK"))
    tw = _fit(sorted({len(visible(m.target)) for m in metas}), min(_TARGET_MAX, max(12, avail - cw)), len("TARGET"))
    del metas
    lead = sw + len(_GAP) + cw + len(_GAP) + tw + len(_GAP)
    summary_width = max(width - lead, _MIN_SUMMARY)
    pad = " " * lead
    detail = " " * (sw + len(_GAP))

    out: list[str] = []
    head = f"lyncready {visible(report.tool_version)}"
    if report.started_at:
        head += f" — {visible(report.started_at)}"
    head += f" ({report.duration:.1f} s)"
    out.append(head)

    results = report.results
    current_kind: TargetKind | None = None
    for i in order:
        if len(out) >= 1000:
            yield "\n".join(out) + "\n"
            out = []
        r = results[i]
        check_id, target = visible(r.check_id), visible(r.target)
        if r.target_kind != current_kind:
            current_kind = r.target_kind
            out.append("")
            out.append(paint(f"{visible(str(r.target_kind.value)).upper()} TARGETS", "1"))
            out.append(f"{'STATUS':<{sw}}{_GAP}{'CHECK':<{cw}}{_GAP}{'TARGET':<{tw}}{_GAP}SUMMARY")
        status = paint(f"{r.status.value.upper():<{sw}}", _STATUS_COLOR.get(r.status, ""))
        summary_lines = _wrap(visible(r.summary), summary_width)
        if len(check_id) > cw or len(target) > tw:
            # A name too long for its column gets the line to itself; the summary follows aligned.
            out.append(f"{status}{_GAP}{check_id:<{cw}}{_GAP}{target}".rstrip())
            out.extend(pad + line for line in summary_lines)
        else:
            first = f"{status}{_GAP}{check_id:<{cw}}{_GAP}{target:<{tw}}{_GAP}"
            out.append((first + summary_lines[0]).rstrip())
            out.extend(pad + line for line in summary_lines[1:])
        if r.status not in _NEEDS_DETAIL:
            continue
        for f in r.findings:
            level = paint(f"{f.level.value:<4}", _LEVEL_COLOR.get(f.level.value, ""))
            text = f"{visible(f.message)} [{visible(f.tag)}]"
            out.extend(_indented(text, f"{detail}{level}  ", detail + " " * 6, width))
        if r.fix:
            fix_lines = [visible(line) for line in r.fix.rstrip("\n").split("\n")]
            out.append(f"{detail}{paint('fix:', '1')} {fix_lines[0]}")
            out.extend(f"{detail}     {line}" for line in fix_lines[1:])

    if not order:
        out.append("")
        out.append("No results: no check ran.")
    if report.notes:
        out.append("")
        for note in report.notes:
            out.extend(_indented(visible(note), "note: ", "      ", width))
    out.append("")
    out.append(summary_line(report, color=paint.enabled))
    yield "\n".join(out) + "\n"
