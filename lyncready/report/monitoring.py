"""Monitoring-plugins output (Nagios, Icinga, Naemon, Checkmk's classic checks, Zabbix via a wrapper).

::

    LYNCREADY CRITICAL - 3 failed, 1 warning | passed=12 warned=1 failed=3 errors=0 skipped=2 duration=1.23s
    FAIL dns_sipinternaltls_srv contoso.com: SRV target pool.fabrikam.com sits outside the SIP domain
    WARN ntp_time_sane time.contoso.com:123: Offset 2.5 s from the local clock

The state word follows the report's exit code (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN), which is also
the code the CLI exits with, so the plugin's state and its text agree. The first line names what needs
work (failed, warnings, errors), or the number passed when nothing does. Performance data follows the
monitoring-plugins guidelines (``'label'=value[UOM];[warn];[crit];[min];[max]``, trailing empty fields
left out): five counts without a unit and ``duration`` in seconds (``s``).

Muted results (findings a site accepted) do not set the exit code, so they are counted apart: the first
line says ``N muted`` and the performance data gains ``muted=N`` (only when there are some), and the
other counts leave them out.

The long output (the lines after the first) has one line per result that did not pass, failures first,
then errors, warnings, skips and muted results (``FAIL (muted: reason) ...``), with ``[site]`` before the
check when the result names a site; ``max_lines`` caps it (Nagios keeps only the first 8 KiB of output).

Strings from the network are made safe for a line-based protocol: control characters are written as
their Python escape (as in the terminal report) and ``|``, which would start performance data, becomes ``¦``.
"""

from __future__ import annotations

import math

from ..model import ExitCode, Report, Result, Status, Summary
from .text import visible

__all__ = ["render_monitoring"]

_ORDER = {Status.FAIL: 0, Status.ERROR: 1, Status.WARN: 2, Status.SKIP: 3}


def _safe(text: str) -> str:
    return visible(text).replace("|", "\u00a6")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _counts(report: Report) -> tuple[Summary, int]:
    """The summary of the results that are not muted, and how many are muted."""
    muted = [r for r in report.results if r.muted and r.status != Status.PASS]
    return Summary.of([r for r in report.results if not (r.muted and r.status != Status.PASS)]), len(muted)


def _headline(s: Summary, muted: int) -> str:
    parts = []
    if s.failed:
        parts.append(f"{s.failed} failed")
    if s.warned:
        parts.append(_plural(s.warned, "warning"))
    if s.errors:
        parts.append(_plural(s.errors, "error") + " (could not run)")
    if not parts:
        if s.passed:
            parts.append(f"{s.passed} passed")
        elif s.skipped:
            parts.append(f"no check ran ({s.skipped} skipped)")
        else:
            parts.append("no check ran")
    if muted:
        parts.append(f"{muted} muted")
    return ", ".join(parts)


def _perfdata(report: Report, s: Summary, muted: int) -> str:
    duration = report.duration if math.isfinite(report.duration) and report.duration >= 0 else 0.0
    return (
        f"passed={s.passed} warned={s.warned} failed={s.failed} errors={s.errors} skipped={s.skipped} "
        + (f"muted={muted} " if muted else "")
        + f"duration={duration:.2f}s"
    )


def _line(r: Result) -> str:
    status = r.status.value.upper() + (f" (muted: {_safe(r.muted)})" if r.muted else "")
    site = f"[{_safe(r.site)}] " if r.site else ""
    return f"{status} {site}{_safe(r.check_id)} {_safe(r.target)}: {_safe(r.summary)}"


def render_monitoring(report: Report, *, long_output: bool = True, max_lines: int | None = 50) -> str:
    """The plugin output: ``LYNCREADY <STATE> - <what> | <perfdata>``, then one line per result that did not pass.

    ``long_output``: False gives the first line only. ``max_lines``: at most this many result lines, then
    ``... and N more``; ``None`` for no limit.
    """
    state = ExitCode(report.exit_code).name
    summary, muted = _counts(report)
    out = [f"LYNCREADY {state} - {_headline(summary, muted)} | {_perfdata(report, summary, muted)}"]
    if long_output:
        rest = sorted(
            (r for r in report.results if r.status != Status.PASS), key=lambda r: (bool(r.muted), _ORDER[r.status])
        )
        shown = rest if max_lines is None else rest[: max(max_lines, 0)]
        out.extend(_line(r) for r in shown)
        if len(rest) > len(shown):
            out.append(f"... and {len(rest) - len(shown)} more")
    return "\n".join(out) + "\n"
