"""A Prometheus textfile for node_exporter's textfile collector (text exposition format 0.0.4).

Write it with :func:`lyncready.report.write_report` (atomic, as the collector requires) into the
``--collector.textfile.directory``, e.g. ``lyncready audit ... --output /var/lib/node_exporter/lyncready.prom``.

Metrics (all gauges; the ``site`` label appears only when a site is known: the result's own, else the
``site`` argument, else the report's ``arguments["site"]``)::

    lyncready_check_status{check="...",target="...",kind="...",site="..."}            0..4
    lyncready_check_muted{check="...",target="...",kind="...",site="..."}             1 muted, 0 not
    lyncready_check_duration_seconds{check="...",target="...",kind="...",site="..."}  seconds
    lyncready_results{status="pass|warn|fail|error|skip",site="..."}                   count, per site
    lyncready_audit_exit_code{site="..."}                                               0..3
    lyncready_audit_duration_seconds{site="..."}                                        seconds
    lyncready_audit_timestamp_seconds{site="..."}                                       Unix time

``lyncready_check_status``: 0 pass, 1 warn, 2 fail, 3 error (the check could not run), 4 skip (did not
apply). Alert on ``lyncready_check_status == 2`` for failures, ``lyncready_check_status == 1`` or
``== 3`` for what needs a look; the values are codes, not a scale. A muted result (a finding the site
accepted) keeps its status; leave it out with
``lyncready_check_status == 2 unless on(check, target, kind, site) lyncready_check_muted == 1``.

``lyncready_audit_exit_code`` is the monitoring-plugins code the CLI exits with (0 OK, 1 WARNING,
2 CRITICAL, 3 UNKNOWN; muted results do not count). The audit metrics carry the report's site only.
``lyncready_audit_timestamp_seconds`` is when the audit finished, so
``time() - lyncready_audit_timestamp_seconds > 86400`` catches a scheduled audit that stopped running;
it is left out when the report's ``finished_at`` is not an ISO 8601 time.

Label values are escaped as the format requires (backslash, double quote and line feed); a lone
surrogate, which UTF-8 cannot carry, is written as its Python escape. If one (check, target) pair
appears twice for one site, its worst result is kept, because the collector rejects a file with
duplicate series.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping

from ..model import Report, Result, Status, Summary

__all__ = ["STATUS_VALUES", "escape_label_value", "render_prometheus"]

STATUS_VALUES: Mapping[Status, int] = {
    Status.PASS: 0,
    Status.WARN: 1,
    Status.FAIL: 2,
    Status.ERROR: 3,
    Status.SKIP: 4,
}
"""The value of ``lyncready_check_status`` for each status."""

_WORST_FIRST = {Status.FAIL: 0, Status.ERROR: 1, Status.WARN: 2, Status.PASS: 3, Status.SKIP: 4}


def escape_label_value(value: str) -> str:
    """``value`` ready to stand between the double quotes of a label: ``\\`` ``"`` and line feed escaped."""
    # UTF-8 cannot encode a lone surrogate: write what it was (then escaped like any backslash).
    value = value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{escape_label_value(v)}"' for k, v in labels.items()) + "}"


def _number(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _unix_time(iso: str) -> float | None:
    try:
        when = _dt.datetime.fromisoformat(iso)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=_dt.UTC)  # the report writes UTC
    return when.timestamp()


class _Family:
    def __init__(self, name: str, help_text: str) -> None:
        self.lines = [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
        self.name = name

    def add(self, labels: Mapping[str, str], value: float) -> None:
        self.lines.append(f"{self.name}{_labels(labels)} {_number(value)}")


def _site(report: Report, site: str | None) -> str | None:
    if site is None:
        value = report.arguments.get("site")
        site = value if isinstance(value, str) else None
    return site or None


def render_prometheus(report: Report, site: str | None = None) -> str:
    """The report as node_exporter textfile metrics (see the module docstring for names and values).

    ``site``: the ``site`` label of results that do not name their own site and of the audit metrics;
    ``None`` takes the report's ``arguments["site"]`` when it is a string; no label when there is none.
    """

    def labels_of(site_name: str) -> dict[str, str]:
        return {"site": site_name} if site_name else {}

    default_site = _site(report, site) or ""
    site_label = labels_of(default_site)

    chosen: dict[tuple[str, str, str], Result] = {}
    per_site: dict[str, list[Result]] = {default_site: []} if not report.results else {}
    for r in report.results:
        site_name = r.site or default_site
        per_site.setdefault(site_name, []).append(r)
        key = (site_name, r.check_id, r.target)
        if key not in chosen or _WORST_FIRST[r.status] < _WORST_FIRST[chosen[key].status]:
            chosen[key] = r

    status = _Family(
        "lyncready_check_status",
        "Outcome of one check on one target: 0 pass, 1 warn, 2 fail, 3 error (could not run), 4 skip.",
    )
    muted = _Family("lyncready_check_muted", "1 when the result is muted (a finding the site accepted), else 0.")
    duration = _Family("lyncready_check_duration_seconds", "Time one check took on one target.")
    for (site_name, _, _), r in chosen.items():
        labels = {"check": r.check_id, "target": r.target, "kind": r.target_kind.value, **labels_of(site_name)}
        status.add(labels, STATUS_VALUES[r.status])
        muted.add(labels, 1 if r.muted else 0)
        duration.add(labels, r.duration)

    counts = _Family("lyncready_results", "Number of results of the last audit by status (and site).")
    for site_name, results in per_site.items():
        by_status = Summary.of(results).as_dict()
        for st in Status:
            counts.add({"status": st.value, **labels_of(site_name)}, by_status[st.value])

    exit_code = _Family(
        "lyncready_audit_exit_code", "Exit code of the last audit: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN."
    )
    exit_code.add(site_label, int(report.exit_code))
    audit_duration = _Family("lyncready_audit_duration_seconds", "Wall-clock time the last audit took.")
    audit_duration.add(site_label, report.duration)
    families = [status, muted, duration, counts, exit_code, audit_duration]

    finished = _unix_time(report.finished_at)
    if finished is not None:
        stamp = _Family("lyncready_audit_timestamp_seconds", "Unix time the last audit finished.")
        stamp.add(site_label, finished)
        families.append(stamp)

    return "\n".join(line for family in families for line in family.lines) + "\n"
