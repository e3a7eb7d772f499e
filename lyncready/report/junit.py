"""JUnit XML, the test-report format every CI system reads (Jenkins ``junit``, GitLab ``artifacts:reports:junit``).

Layout::

    <testsuites name="lyncready" tests= failures= errors= skipped= time= timestamp=>
      <testsuite name="domain" tests= failures= errors= skipped= time= timestamp=>   one per target kind
        <properties><property name="site" value="..."/></properties>                 only with a site
        <testcase classname="<check_id>" name="<target>" time="0.012">             one per result

A result maps to a test case like this (a *muted* result, an accepted finding, is ``<skipped message="muted:
<reason>: <summary>">`` whatever its status, so CI stays green on what the site has accepted):

* ``pass``: a passing case, no child element;
* ``warn``: a *passing* case (CI should not go red on a warning) whose ``<system-out>`` carries
  ``WARN: <summary>``, the findings and the fix line, so the warning is still visible in the CI's test view;
* ``fail``: ``<failure message="<summary>" type="<tag of the first failing finding>">`` with the findings,
  remediation and fix line as text;
* ``error`` (the check could not run): ``<error message="<summary>" type="<tag or 'error'>">``, same text;
* ``skip``: ``<skipped message="<summary>"/>``.

With sites (a result's own ``site``, else ``site=``, else the report's ``arguments["site"]``), there is one
suite per site and target kind, named ``<site>.<kind>``, and classnames are ``<site>.<check_id>``: Jenkins
splits a classname at its last dot into package and class, so the results of several sites group by site
instead of colliding.

Times are seconds with millisecond precision; ``timestamp`` is the audit's start in UTC without offset
(``2024-05-01T10:00:00``), the form the Ant JUnit schema (and so Jenkins) expects.

Every string from the network goes through :func:`xml_text`: characters XML 1.0 forbids (C0 controls
other than tab, newline and carriage return, lone surrogates, U+FFFE/U+FFFF) are written as their Python
escape (``\\x1b``); ElementTree escapes the markup characters.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable

from ..model import Level, Report, Result, Status, TargetKind

__all__ = ["render_junit", "xml_text"]

# Everything outside XML 1.0's Char production: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_KIND_ORDER = {k: i for i, k in enumerate(TargetKind)}


def xml_text(text: str) -> str:
    """``text`` with every character XML 1.0 cannot carry written as its Python escape (``\\x1b``, ``\\ud800``)."""
    return _NOT_XML_CHAR.sub(lambda m: repr(m.group())[1:-1], text)


def _seconds(value: float) -> str:
    return f"{value:.3f}" if math.isfinite(value) and value >= 0 else "0.000"


def _timestamp(iso: str) -> str | None:
    try:
        when = _dt.datetime.fromisoformat(iso)
    except ValueError:
        return None
    if when.tzinfo is not None:
        when = when.astimezone(_dt.UTC).replace(tzinfo=None)
    return when.replace(microsecond=0).isoformat()


def _site(report: Report, site: str | None) -> str | None:
    if site is None:
        value = report.arguments.get("site")
        site = value if isinstance(value, str) else None
    return site or None


def _details(r: Result) -> str:
    """The findings, remediation and fix line of a result, as plain text lines."""
    lines = [f"{f.level.value}: {f.message} [{f.tag}]" for f in r.findings]
    if r.remediation:
        lines.append(f"remediation: {r.remediation}")
    if r.fix:
        lines.append("fix: " + r.fix.rstrip("\n"))
    return xml_text("\n".join(lines))


def _type(r: Result, default: str) -> str:
    """The tag of the most serious finding (the first at that level): the stable thing CI can group on."""
    for level in (Level.FAIL, Level.WARN, Level.INFO):
        for f in r.findings:
            if f.level == level:
                return xml_text(f.tag)
    return default


def _testcase(parent: ET.Element, r: Result, site: str) -> None:
    classname = f"{site}.{r.check_id}" if site else r.check_id
    case = ET.SubElement(
        parent,
        "testcase",
        {"classname": xml_text(classname), "name": xml_text(r.target), "time": _seconds(r.duration)},
    )
    summary = xml_text(r.summary)
    if r.muted and r.status != Status.PASS:
        ET.SubElement(case, "skipped", {"message": xml_text(f"muted: {r.muted}: {r.summary}")})
    elif r.status == Status.FAIL:
        el = ET.SubElement(case, "failure", {"message": summary, "type": _type(r, "fail")})
        el.text = _details(r) or summary
    elif r.status == Status.ERROR:
        el = ET.SubElement(case, "error", {"message": summary, "type": _type(r, "error")})
        el.text = _details(r) or summary
    elif r.status == Status.SKIP:
        ET.SubElement(case, "skipped", {"message": summary})
    elif r.status == Status.WARN:
        out = ET.SubElement(case, "system-out")
        details = _details(r)
        out.text = f"WARN: {summary}" + (f"\n{details}" if details else "")


def _shown(r: Result) -> Status:
    """The status the test case shows: a muted result is skipped."""
    return Status.SKIP if r.muted and r.status != Status.PASS else r.status


def _counts(element: ET.Element, results: Iterable[Result], time: float, timestamp: str | None) -> None:
    shown = [_shown(r) for r in results]
    element.set("tests", str(len(shown)))
    element.set("failures", str(shown.count(Status.FAIL)))
    element.set("errors", str(shown.count(Status.ERROR)))
    element.set("skipped", str(shown.count(Status.SKIP)))
    element.set("time", _seconds(time))
    if timestamp:
        element.set("timestamp", timestamp)


def render_junit(report: Report, site: str | None = None) -> str:
    """The report as a JUnit XML document (UTF-8, with an XML declaration), one suite per target kind.

    ``site``: the site of results that do not name their own; ``None`` takes the report's
    ``arguments["site"]`` when it is a string.
    """
    default_site = _site(report, site) or ""
    timestamp = _timestamp(report.started_at)
    root = ET.Element("testsuites", {"name": "lyncready"})
    _counts(root, report.results, report.duration, timestamp)

    groups: dict[tuple[str, TargetKind], list[Result]] = {}
    for r in report.results:
        groups.setdefault((r.site or default_site, r.target_kind), []).append(r)
    site_order = {s: i for i, s in enumerate(dict.fromkeys(s for s, _ in groups))}
    for site_name, kind in sorted(groups, key=lambda g: (site_order[g[0]], _KIND_ORDER.get(g[1], 99))):
        results = groups[(site_name, kind)]
        name = f"{site_name}.{kind.value}" if site_name else kind.value
        suite = ET.SubElement(root, "testsuite", {"name": xml_text(name)})
        total = sum(r.duration for r in results if math.isfinite(r.duration) and r.duration >= 0)
        _counts(suite, results, total, timestamp)
        if site_name:
            props = ET.SubElement(suite, "properties")
            ET.SubElement(props, "property", {"name": "site", "value": xml_text(site_name)})
        for r in results:
            _testcase(suite, r, site_name)

    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
