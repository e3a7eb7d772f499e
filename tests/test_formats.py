"""The formats other systems read: JUnit XML, Prometheus textfile, monitoring-plugins output, SARIF and CSV."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from prometheus_client.parser import text_string_to_metric_families
from test_report import CHECKS, HOSTILE_TARGET, RESULTS, SCRIPT, make_report

from lyncready.model import Finding, Level, Report, Result, Status, TargetKind
from lyncready.report import (
    FORMATS,
    render,
    render_csv,
    render_junit,
    render_monitoring,
    render_prometheus,
    render_sarif,
    write_report,
)
from lyncready.report import format_for_path as _format_for_path
from lyncready.report.csv import COLUMNS, safe_cell
from lyncready.report.junit import xml_text
from lyncready.report.prometheus import STATUS_VALUES

CONTROL = "a\x00b\x1b[2J\x0bc\x7f\x85\u202e\ud800d\ufffe\uffffe"


def result(status: Status, target: str = "t.contoso.test", check_id: str = "ntp_answers", **kw: Any) -> Result:
    return Result(
        check_id=check_id,
        target=target,
        target_kind=kw.pop("target_kind", TargetKind.NTP),
        status=status,
        summary=kw.pop("summary", f"{status.value} summary"),
        **kw,
    )


def only(*results: Result, **changes: Any) -> Report:
    return make_report(results=results, **changes)


# -- registration ------------------------------------------------------------------------------


def test_formats_are_registered() -> None:
    report = make_report()
    for fmt in ("junit", "prometheus", "monitoring", "sarif", "csv"):
        assert fmt in FORMATS
        assert render(report, fmt)
    assert render(report, "junit") == render_junit(report)
    assert render(report, "prometheus") == render_prometheus(report)
    assert render(report, "monitoring") == render_monitoring(report)
    assert render(report, "sarif") == render_sarif(report)
    assert render(report, "csv") == render_csv(report)
    assert render(report, "json").startswith("{")  # the old formats are still there
    with pytest.raises(ValueError, match="unknown report format"):
        render(report, "pdf")


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("a.xml", "junit"),
        ("a.prom", "prometheus"),
        ("a.sarif", "sarif"),
        ("A.CSV", "csv"),
        ("a.json", "json"),
        ("a.htm", "html"),
        ("a.txt", "text"),
    ],
)
def test_format_for_path(name: str, fmt: str) -> None:
    assert _format_for_path(name) == fmt


@pytest.mark.parametrize("suffix", [".xml", ".prom", ".sarif", ".csv"])
def test_write_report_infers_new_formats(tmp_path: Path, suffix: str) -> None:
    report = make_report()
    target = write_report(report, tmp_path / f"audit{suffix}")
    assert target.read_bytes() == render(report, _format_for_path(target)).encode("utf-8")


def test_import_stays_cheap() -> None:
    code = (
        "import sys, lyncready.report;"
        "bad = [m for m in ('xml.etree.ElementTree', 'csv', 'sqlite3', 'lyncready.report.junit',"
        " 'lyncready.report.prometheus', 'lyncready.report.monitoring', 'lyncready.report.sarif',"
        " 'lyncready.report.csv', 'lyncready.history') if m in sys.modules];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# -- JUnit -------------------------------------------------------------------------------------

_SUITE_ATTRS = {"name", "tests", "failures", "errors", "skipped", "time", "timestamp"}
_CASE_CHILDREN = {"failure", "error", "skipped", "system-out", "system-err"}


def parse_junit(text: str) -> ET.Element:
    """Parse, and check the structure against what Jenkins' and GitLab's JUnit readers accept
    (the Ant JUnit schema's elements and attributes, counts consistent with the cases)."""
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n')
    root = ET.fromstring(text.encode("utf-8"))
    assert root.tag == "testsuites"
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for suite in root:
        assert suite.tag == "testsuite"
        assert set(suite.attrib) <= _SUITE_ATTRS and {"name", "tests"} <= set(suite.attrib)
        children = [c.tag for c in suite]
        assert set(children) <= {"properties", "testcase", "system-out", "system-err"}
        if "properties" in children:
            assert children.index("properties") == 0
            assert all(p.tag == "property" and set(p.attrib) == {"name", "value"} for p in suite[0])
        cases = suite.findall("testcase")
        counts = {
            "tests": len(cases),
            "failures": sum(c.find("failure") is not None for c in cases),
            "errors": sum(c.find("error") is not None for c in cases),
            "skipped": sum(c.find("skipped") is not None for c in cases),
        }
        for key, n in counts.items():
            assert int(suite.attrib[key]) == n, (suite.attrib["name"], key)
            totals[key] += n
        assert float(suite.attrib["time"]) == pytest.approx(sum(float(c.attrib["time"]) for c in cases), abs=0.01)
        for case in cases:
            assert {"name", "classname", "time"} <= set(case.attrib)
            float(case.attrib["time"])
            kinds = [c.tag for c in case]
            assert set(kinds) <= _CASE_CHILDREN
            assert sum(k in {"failure", "error", "skipped"} for k in kinds) <= 1
    for key, n in totals.items():
        assert int(root.attrib[key]) == n
    return root


def test_junit_counts_and_suites() -> None:
    root = parse_junit(render_junit(make_report()))
    assert root.attrib["tests"] == "6"
    assert (root.attrib["failures"], root.attrib["errors"], root.attrib["skipped"]) == ("1", "1", "1")
    assert root.attrib["time"] == "3.250"
    assert root.attrib["timestamp"] == "2024-05-01T10:00:00"
    assert [s.attrib["name"] for s in root] == ["domain", "ntp", "web"]
    assert [s.attrib["tests"] for s in root] == ["2", "2", "2"]
    assert root[0].attrib["time"] == "0.212"
    case = root[0][0]
    assert case.attrib == {"classname": "dns_sipinternaltls", "name": "contoso.test", "time": "0.012"}
    assert list(case) == []


def test_junit_case_per_status() -> None:
    root = parse_junit(render_junit(make_report()))
    cases = {(c.attrib["classname"], c.attrib["name"]): c for c in root.iter("testcase")}

    fail = cases[("dns_sipinternaltls", xml_text(HOSTILE_TARGET))]
    (failure,) = list(fail)
    assert failure.tag == "failure"
    assert failure.attrib["message"] == RESULTS[1].summary
    assert failure.attrib["type"] == "srv_target_outside_domain"
    assert failure.text is not None
    assert f"fail: pool.fabrikam.test is not inside {SCRIPT} [srv_target_outside_domain]" in failure.text
    assert "fix: _sipinternaltls._tcp.contoso.test. 3600 IN SRV 0 0 5061 pool.contoso.test." in failure.text

    warn = cases[("ntp_answers", "time.contoso.test:123")]
    assert [c.tag for c in warn] == ["system-out"]  # a warning passes, and says so in its output
    out = warn.find("system-out")
    assert out is not None and out.text is not None
    assert out.text.startswith("WARN: Offset 2.5 s")
    assert "warn: Offset 2.5 s is over 1 s [ntp_offset_high]" in out.text

    err = cases[("ntp_answers", "ntp.contoso.test:123")]
    assert [c.tag for c in err] == ["error"]
    assert err[0].attrib == {"message": "The probe crashed: ValueError: bad packet", "type": "error"}

    skip = cases[("web_http80", "(none)")]
    assert [c.tag for c in skip] == ["skipped"]
    assert skip[0].attrib["message"] == "Not run: no web target was found or given"


def test_junit_site_groups_suites_and_classnames() -> None:
    root = parse_junit(render_junit(make_report(arguments={"site": "berlin.hq"})))
    assert [s.attrib["name"] for s in root] == ["berlin.hq.domain", "berlin.hq.ntp", "berlin.hq.web"]
    assert {c.attrib["classname"].rsplit(".", 1)[0] for c in root.iter("testcase")} == {"berlin.hq"}
    prop = root[0].find("properties/property")
    assert prop is not None and prop.attrib == {"name": "site", "value": "berlin.hq"}
    # an explicit site wins over the report's
    root = parse_junit(render_junit(make_report(arguments={"site": "berlin"}), site="paris"))
    assert root[0].attrib["name"] == "paris.domain"


@pytest.mark.parametrize(
    ("raw", "written"),
    [
        ("plain <&> \"quotes\" 'x' ünï 日本 \U0001f600", "plain <&> \"quotes\" 'x' ünï 日本 \U0001f600"),
        ("tab\tline\ncr\r", "tab\tline\ncr\r"),
        (CONTROL, "a\\x00b\\x1b[2J\\x0bc\x7f\x85\u202e\\ud800d\\ufffe\\uffffe"),
    ],
)
def test_xml_text(raw: str, written: str) -> None:
    assert xml_text(raw) == written


def test_junit_hostile_strings_parse() -> None:
    r = result(
        Status.FAIL,
        target=CONTROL + SCRIPT,
        summary=f"sum\x07mary ]]> {SCRIPT} \"'&",
        findings=(Finding("tag\x01", Level.FAIL, "msg\x1b]0;title\x07", {}),),
        fix="fix\x00line",
    )
    root = parse_junit(render_junit(only(r)))
    case = next(root.iter("testcase"))
    assert case.attrib["name"] == xml_text(CONTROL + SCRIPT)
    failure = case.find("failure")
    assert failure is not None
    assert failure.attrib["message"] == "sum\\x07mary ]]> <script>alert(1)</script> \"'&"
    assert failure.attrib["type"] == "tag\\x01"
    assert failure.text is not None and "msg\\x1b]0;title\\x07" in failure.text and "fix\\x00line" in failure.text


@given(st.text(), st.text())
def test_junit_any_text_is_well_formed(target: str, summary: str) -> None:
    root = parse_junit(render_junit(only(result(Status.FAIL, target=target, summary=summary))))
    case = next(root.iter("testcase"))
    assert case.attrib["name"] == xml_text(target)  # attributes keep even \t \n \r (written as references)
    failure = case.find("failure")
    assert failure is not None and failure.attrib["message"] == xml_text(summary)


def test_junit_attribute_whitespace_survives() -> None:
    # XML normalises raw tabs and newlines in attributes to spaces; ElementTree writes them as references
    root = parse_junit(render_junit(only(result(Status.SKIP, target="a\tb\nc\rd", summary="x\ny"))))
    case = next(root.iter("testcase"))
    assert case.attrib["name"] == "a\tb\nc\rd"
    skipped = case.find("skipped")
    assert skipped is not None and skipped.attrib["message"] == "x\ny"


def test_junit_empty_report_and_odd_values() -> None:
    root = parse_junit(render_junit(make_report(results=(), started_at="not a time")))
    assert root.attrib["tests"] == "0" and len(root) == 0
    assert "timestamp" not in root.attrib
    r = result(Status.PASS, duration=float("nan"))
    root = parse_junit(render_junit(only(r, duration=float("inf"))))
    assert root.attrib["time"] == "0.000"
    assert next(root.iter("testcase")).attrib["time"] == "0.000"


# -- Prometheus --------------------------------------------------------------------------------


# The exposition format's grammar, as strict as node_exporter's (Go expfmt) parser: a label value may
# hold only the escapes \\ \" and \n, and no raw line feed.
_LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
_SAMPLE_LINE = re.compile(rf"^[a-zA-Z_:][a-zA-Z0-9_:]*(?:\{{{_LABEL}(?:,{_LABEL})*\}})? (?:NaN|[+-]Inf|-?[0-9.e+-]+)$")
_COMMENT_LINE = re.compile(r"^# (?:HELP [a-zA-Z_:][a-zA-Z0-9_:]* .+|TYPE [a-zA-Z_:][a-zA-Z0-9_:]* gauge)$")


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample as {(name, sorted labels): value}; asserts the strict line grammar, that no series
    appears twice and that every family has HELP and TYPE gauge."""
    assert text.endswith("\n")
    for line in text[:-1].split("\n"):
        assert _SAMPLE_LINE.match(line) or _COMMENT_LINE.match(line), line
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        assert family.type == "gauge", family.name
        assert family.documentation, family.name
        for s in family.samples:
            key = (s.name, tuple(sorted(s.labels.items())))
            assert key not in out, key
            out[key] = s.value
    return out


def test_prometheus_values() -> None:
    text = render_prometheus(make_report())
    assert text.endswith("\n")
    got = samples(text)
    for r in RESULTS:
        labels = tuple(sorted({"check": r.check_id, "target": r.target, "kind": r.target_kind.value}.items()))
        assert got[("lyncready_check_status", labels)] == STATUS_VALUES[r.status]
        assert got[("lyncready_check_duration_seconds", labels)] == pytest.approx(r.duration)
    assert {k[1][0][1]: v for k, v in got.items() if k[0] == "lyncready_results"} == {
        "pass": 2,
        "warn": 1,
        "fail": 1,
        "error": 1,
        "skip": 1,
    }
    assert got[("lyncready_audit_exit_code", ())] == 2
    assert got[("lyncready_audit_duration_seconds", ())] == 3.25
    assert got[("lyncready_audit_timestamp_seconds", ())] == 1714557603.0  # 2024-05-01T10:00:03Z
    for name in (
        "lyncready_check_status",
        "lyncready_check_duration_seconds",
        "lyncready_results",
        "lyncready_audit_exit_code",
        "lyncready_audit_duration_seconds",
        "lyncready_audit_timestamp_seconds",
    ):
        assert f"# HELP {name} " in text and f"# TYPE {name} gauge\n" in text


def test_prometheus_status_codes_are_documented() -> None:
    assert {s.value: v for s, v in STATUS_VALUES.items()} == {"pass": 0, "warn": 1, "fail": 2, "error": 3, "skip": 4}
    assert "0 pass, 1 warn, 2 fail, 3 error (could not run), 4 skip" in render_prometheus(make_report())


def test_prometheus_site_label() -> None:
    got = samples(render_prometheus(make_report(), site="berlin"))
    assert all(dict(labels).get("site") == "berlin" for _, labels in got)
    got = samples(render_prometheus(make_report(arguments={"site": "paris"})))
    assert all(dict(labels).get("site") == "paris" for _, labels in got)
    got = samples(render_prometheus(make_report(arguments={"site": 3})))
    assert all("site" not in dict(labels) for _, labels in got)


HOSTILE_LABELS = [
    'quote"d',
    "back\\slash",
    "new\nline",
    "\\n literal",
    'end\\"',
    '"} 1\nlyncready_audit_exit_code 0\n# ',
    "esc\x1b[31m\x07 cr\r tab\t",
    "ünïcødé 日本 \U0001f600 \u202e",
    "\\",
    "",
]


@pytest.mark.parametrize("target", HOSTILE_LABELS)
def test_prometheus_hostile_label_values(target: str) -> None:
    r = result(Status.FAIL, target=target)
    got = samples(render_prometheus(only(r), site=f"si{target}te"))
    labels = tuple(sorted({"check": r.check_id, "target": target, "kind": "ntp", "site": f"si{target}te"}.items()))
    assert got[("lyncready_check_status", labels)] == 2
    assert got[("lyncready_audit_exit_code", (("site", f"si{target}te"),))] == 2
    assert len([k for k in got if k[0] == "lyncready_audit_exit_code"]) == 1


@given(st.text(alphabet=st.characters(exclude_categories=("Cs",))))
def test_prometheus_any_label_value_round_trips(target: str) -> None:
    got = samples(render_prometheus(only(result(Status.WARN, target=target))))
    labels = tuple(sorted({"check": "ntp_answers", "target": target, "kind": "ntp"}.items()))
    assert got[("lyncready_check_status", labels)] == 1


def test_prometheus_lone_surrogate_is_still_utf8() -> None:
    text = render_prometheus(only(result(Status.PASS, target="a\ud800b")))
    text.encode("utf-8")
    assert 'target="a\\\\ud800b"' in text


def test_prometheus_duplicate_pair_keeps_the_worst() -> None:
    got = samples(render_prometheus(only(result(Status.PASS), result(Status.FAIL), result(Status.SKIP))))
    assert [v for k, v in got.items() if k[0] == "lyncready_check_status"] == [2]


def test_prometheus_odd_numbers_and_times() -> None:
    report = only(result(Status.PASS, duration=float("nan")), duration=float("inf"), finished_at="")
    text = render_prometheus(report)
    got = samples(text)
    assert got[("lyncready_audit_duration_seconds", ())] == float("inf")
    assert "lyncready_audit_timestamp_seconds" not in text
    assert [v != v for k, v in got.items() if k[0] == "lyncready_check_duration_seconds"] == [True]
    naive = only(result(Status.PASS), finished_at="2024-05-01T10:00:03")
    assert samples(render_prometheus(naive))[("lyncready_audit_timestamp_seconds", ())] == 1714557603.0


# -- monitoring-plugins ------------------------------------------------------------------------

# 'label'=value[UOM];[warn];[crit];[min];[max], per the monitoring-plugins development guidelines
PERFDATA = re.compile(r"^(?:'[^'=]+'|[^'= ]+)=-?[0-9.]+(?:us|ms|s|%|B|KB|MB|TB|c)?(?:;[^; ]*){0,4}$")


def test_monitoring_first_line() -> None:
    text = render_monitoring(make_report())
    first = text.splitlines()[0]
    assert first == (
        "LYNCREADY CRITICAL - 1 failed, 1 warning, 1 error (could not run) | "
        "passed=2 warned=1 failed=1 errors=1 skipped=1 duration=3.25s"
    )
    head, perf = first.split(" | ")
    assert "|" not in head
    for item in perf.split(" "):
        assert PERFDATA.match(item), item


@pytest.mark.parametrize(
    ("results", "line"),
    [
        ((Status.PASS, Status.PASS), "LYNCREADY OK - 2 passed | passed=2 warned=0 failed=0 errors=0 skipped=0"),
        ((Status.PASS, Status.WARN), "LYNCREADY WARNING - 1 warning | passed=1 warned=1 failed=0"),
        ((Status.PASS, Status.ERROR), "LYNCREADY WARNING - 1 error (could not run) | passed=1"),
        ((Status.FAIL,) * 3 + (Status.WARN,) * 2, "LYNCREADY CRITICAL - 3 failed, 2 warnings | passed=0 warned=2"),
        ((Status.SKIP, Status.SKIP), "LYNCREADY UNKNOWN - no check ran (2 skipped) | "),
        ((Status.ERROR, Status.ERROR), "LYNCREADY UNKNOWN - 2 errors (could not run) | "),
        ((), "LYNCREADY UNKNOWN - no check ran | passed=0 warned=0 failed=0 errors=0 skipped=0 duration=3.25s"),
    ],
)
def test_monitoring_state_follows_exit_code(results: tuple[Status, ...], line: str) -> None:
    report = only(*(result(s, target=f"t{i}") for i, s in enumerate(results)))
    first = render_monitoring(report).splitlines()[0]
    assert first.startswith(line)
    assert first.split()[1] == ("OK", "WARNING", "CRITICAL", "UNKNOWN")[report.exit_code]


def test_monitoring_long_output() -> None:
    lines = render_monitoring(make_report()).splitlines()
    assert lines[1:] == [
        f"FAIL dns_sipinternaltls {HOSTILE_TARGET.replace(chr(27), chr(92) + 'x1b')}: {RESULTS[1].summary}",
        "ERROR ntp_answers ntp.contoso.test:123: The probe crashed: ValueError: bad packet",
        f"WARN ntp_answers time.contoso.test:123: {RESULTS[2].summary}",
        "SKIP web_http80 (none): Not run: no web target was found or given",
    ]
    assert render_monitoring(make_report(), long_output=False).count("\n") == 1


def test_monitoring_hostile_strings_cannot_add_lines_or_perfdata() -> None:
    r = result(Status.FAIL, target="evil|x=1\n", summary="sum | y=2\nLYNCREADY OK - fake\r\x1b[2J")
    text = render_monitoring(only(r))
    lines = text.splitlines()
    assert len(lines) == 2
    assert text.count("|") == 1
    assert lines[1] == "FAIL ntp_answers evil¦x=1\\n: sum ¦ y=2\\nLYNCREADY OK - fake\\r\\x1b[2J"
    assert all(line.isprintable() for line in lines)


def test_monitoring_max_lines() -> None:
    report = only(*(result(Status.FAIL, target=f"t{i}") for i in range(60)))
    lines = render_monitoring(report).splitlines()
    assert len(lines) == 1 + 50 + 1 and lines[-1] == "... and 10 more"
    assert len(render_monitoring(report, max_lines=None).splitlines()) == 61
    assert render_monitoring(report, max_lines=0).splitlines()[1:] == ["... and 60 more"]


# -- SARIF -------------------------------------------------------------------------------------

# The parts of the SARIF 2.1.0 schema (OASIS, sarif-schema-2.1.0.json) that this log uses, with the same
# required properties and enums: enough to catch a structural mistake without fetching the schema.
_MESSAGE = {
    "type": "object",
    "anyOf": [{"required": ["text"]}, {"required": ["id"]}],
    "properties": {"text": {"type": "string"}},
}
_MULTIFORMAT = {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}}
_LEVEL = {"enum": ["none", "note", "warning", "error"]}
SARIF_SUBSET: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["version", "runs"],
    "properties": {
        "$schema": {"type": "string", "format": "uri"},
        "version": {"const": "2.1.0"},
        "runs": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["tool"],
                "properties": {
                    "tool": {
                        "type": "object",
                        "required": ["driver"],
                        "properties": {
                            "driver": {
                                "type": "object",
                                "required": ["name"],
                                "properties": {
                                    "name": {"type": "string"},
                                    "version": {"type": "string"},
                                    "rules": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "required": ["id"],
                                            "properties": {
                                                "id": {"type": "string"},
                                                "name": {"type": "string"},
                                                "shortDescription": _MULTIFORMAT,
                                                "fullDescription": _MULTIFORMAT,
                                                "help": _MULTIFORMAT,
                                                "helpUri": {"type": "string", "format": "uri"},
                                                "defaultConfiguration": {
                                                    "type": "object",
                                                    "properties": {"level": _LEVEL},
                                                },
                                                "properties": {"type": "object"},
                                            },
                                            "additionalProperties": False,
                                        },
                                    },
                                },
                            }
                        },
                    },
                    "invocations": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["executionSuccessful"],
                            "properties": {
                                "executionSuccessful": {"type": "boolean"},
                                "exitCode": {"type": "integer"},
                                "startTimeUtc": {"type": "string", "format": "date-time"},
                                "endTimeUtc": {"type": "string", "format": "date-time"},
                                "toolExecutionNotifications": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "required": ["message"],
                                        "properties": {"message": _MESSAGE, "level": _LEVEL},
                                    },
                                },
                            },
                        },
                    },
                    "results": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["message"],
                            "properties": {
                                "ruleId": {"type": "string"},
                                "ruleIndex": {"type": "integer", "minimum": -1},
                                "level": _LEVEL,
                                "message": _MESSAGE,
                                "locations": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "properties": {
                                            "logicalLocations": {
                                                "type": "array",
                                                "items": {"type": "object", "properties": {"name": {"type": "string"}}},
                                            }
                                        },
                                    },
                                },
                                "partialFingerprints": {"type": "object", "additionalProperties": {"type": "string"}},
                                "suppressions": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "required": ["kind"],
                                        "properties": {
                                            "kind": {"enum": ["inSource", "external"]},
                                            "justification": {"type": "string"},
                                        },
                                        "additionalProperties": False,
                                    },
                                },
                                "properties": {"type": "object"},
                            },
                            "additionalProperties": False,
                        },
                    },
                },
            },
            "minItems": 1,
        },
    },
}


def sarif(report: Report) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(render_sarif(report))
    validator = Draft202012Validator(SARIF_SUBSET, format_checker=Draft202012Validator.FORMAT_CHECKER)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(doc)]
    assert not errors, errors
    return doc


def test_sarif_rules_and_results() -> None:
    doc = sarif(make_report())
    assert doc["version"] == "2.1.0"
    (run,) = doc["runs"]
    driver = run["tool"]["driver"]
    assert (driver["name"], driver["version"]) == ("lyncready", "0.1.0")
    rules = driver["rules"]
    assert [r["id"] for r in rules] == [c.id for c in CHECKS]
    assert rules[0]["shortDescription"]["text"] == CHECKS[0].title
    assert rules[0]["help"]["text"] == CHECKS[0].remediation
    assert rules[0]["helpUri"] == "https://learn.microsoft.com/lync/phones"
    assert rules[0]["defaultConfiguration"]["level"] == "error"

    results = run["results"]
    assert [(r["ruleId"], r["level"]) for r in results] == [("dns_sipinternaltls", "error"), ("ntp_answers", "warning")]
    for r in results:
        assert rules[r["ruleIndex"]]["id"] == r["ruleId"]
    fail = results[0]
    assert fail["message"]["text"] == RESULTS[1].summary
    assert fail["properties"]["target"] == HOSTILE_TARGET
    assert fail["properties"]["fix"] == RESULTS[1].fix
    assert fail["properties"]["findings"][0]["tag"] == "srv_target_outside_domain"
    assert fail["locations"][0]["logicalLocations"][0]["name"] == HOSTILE_TARGET

    (invocation,) = run["invocations"]
    assert invocation["executionSuccessful"] is False
    assert invocation["exitCode"] == 2
    (note,) = invocation["toolExecutionNotifications"]
    assert "ntp_answers could not run on ntp.contoso.test:123" in note["message"]["text"]


def test_sarif_unknown_check_and_clean_run() -> None:
    doc = sarif(only(result(Status.WARN, check_id="acme_thing"), result(Status.PASS), started_at=""))
    run = doc["runs"][0]
    ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert "acme_thing" in ids
    assert run["results"][0]["ruleIndex"] == ids.index("acme_thing")
    assert run["invocations"][0]["executionSuccessful"] is True
    assert "startTimeUtc" not in run["invocations"][0]


# -- CSV ---------------------------------------------------------------------------------------


def rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def test_csv_rows() -> None:
    text = render_csv(make_report(arguments={"site": "berlin"}))
    assert text.endswith("\r\n")
    table = rows(text)
    assert table[0] == list(COLUMNS)
    assert len(table) == 1 + len(RESULTS)
    body = [dict(zip(COLUMNS, row, strict=True)) for row in table[1:]]
    for row, r in zip(body, RESULTS, strict=True):
        assert row["site"] == "berlin"
        assert (row["check_id"], row["target"], row["status"], row["summary"]) == (
            r.check_id,
            r.target,
            r.status.value,
            r.summary,
        )
        assert float(row["duration"]) == pytest.approx(r.duration, abs=0.001)
    assert body[1]["tags"] == "srv_target_outside_domain srv_record_count"
    assert body[1]["findings"].splitlines()[1] == "info: 1 record [srv_record_count]"
    assert body[0]["origins"] == "'--domain"  # starts with '-': a spreadsheet would compute it


@pytest.mark.parametrize(
    ("raw", "cell"),
    [
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("+1+1", "'+1+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("a=b", "a=b"),
        ("plain.contoso.test", "plain.contoso.test"),
        ("", ""),
    ],
)
def test_csv_formula_injection(raw: str, cell: str) -> None:
    assert safe_cell(raw) == cell
    r = result(Status.FAIL, target=raw, summary=raw, fix=raw, findings=(Finding(raw, Level.FAIL, "m", {}),))
    row = dict(zip(COLUMNS, rows(render_csv(only(r)))[1], strict=True))
    assert row["target"] == cell and row["summary"] == cell and row["fix"] == cell
    assert row["tags"] == cell


def test_csv_quotes_and_newlines_round_trip() -> None:
    r = dataclasses.replace(RESULTS[0], summary='say "hi",\nthen\r\nbye', target="a,b")
    row = dict(zip(COLUMNS, rows(render_csv(only(r)))[1], strict=True))
    assert row["target"] == "a,b"
    assert row["summary"] == 'say "hi",\nthen\r\nbye'


# -- sites and muted results (network audit files) ---------------------------------------------


def network_report() -> Report:
    """One audit of two sites: the same domain from both, berlin's failure accepted by a mute."""
    return only(
        result(Status.PASS, target="contoso.test", check_id="dns_srv", target_kind=TargetKind.DOMAIN, site="berlin"),
        result(Status.FAIL, target="contoso.test", check_id="dns_srv", target_kind=TargetKind.DOMAIN, site="paris"),
        result(Status.FAIL, target="ntp.contoso.test:123", site="berlin", muted="old NTP box, ticket 42"),
        result(Status.WARN, target="ntp.contoso.test:123", site="paris"),
    )


def test_network_report_exit_code_ignores_the_muted_failure() -> None:
    report = only(result(Status.PASS), result(Status.FAIL, target="x", muted="accepted"))
    assert report.exit_code == 0


def test_junit_sites_and_muted() -> None:
    root = parse_junit(render_junit(network_report()))
    assert [s.attrib["name"] for s in root] == ["berlin.domain", "berlin.ntp", "paris.domain", "paris.ntp"]
    assert (root.attrib["failures"], root.attrib["skipped"]) == ("1", "1")
    muted = root[1][1]
    assert muted.attrib["classname"] == "berlin.ntp_answers"
    assert [c.tag for c in muted] == ["skipped"]
    assert muted[0].attrib["message"] == "muted: old NTP box, ticket 42: fail summary"
    assert root[2].find("testcase/failure") is not None


def test_prometheus_sites_and_muted() -> None:
    got = samples(render_prometheus(network_report(), site="hq"))

    def labels(check: str, target: str, kind: str, site: str) -> tuple[tuple[str, str], ...]:
        return tuple(sorted({"check": check, "target": target, "kind": kind, "site": site}.items()))

    assert got[("lyncready_check_status", labels("dns_srv", "contoso.test", "domain", "berlin"))] == 0
    assert got[("lyncready_check_status", labels("dns_srv", "contoso.test", "domain", "paris"))] == 2
    ntp_berlin = labels("ntp_answers", "ntp.contoso.test:123", "ntp", "berlin")
    assert got[("lyncready_check_status", ntp_berlin)] == 2
    assert got[("lyncready_check_muted", ntp_berlin)] == 1
    assert got[("lyncready_check_muted", labels("dns_srv", "contoso.test", "domain", "paris"))] == 0
    assert got[("lyncready_results", (("site", "berlin"), ("status", "fail")))] == 1
    assert got[("lyncready_results", (("site", "paris"), ("status", "warn")))] == 1
    assert ("lyncready_results", (("site", "hq"), ("status", "fail"))) not in got  # every result names its site
    assert got[("lyncready_audit_exit_code", (("site", "hq"),))] == 2


def test_monitoring_sites_and_muted() -> None:
    lines = render_monitoring(network_report()).splitlines()
    assert lines[0] == (
        "LYNCREADY CRITICAL - 1 failed, 1 warning, 1 muted | "
        "passed=1 warned=1 failed=1 errors=0 skipped=0 muted=1 duration=3.25s"
    )
    assert lines[1:] == [
        "FAIL [paris] dns_srv contoso.test: fail summary",
        "WARN [paris] ntp_answers ntp.contoso.test:123: warn summary",
        "FAIL (muted: old NTP box, ticket 42) [berlin] ntp_answers ntp.contoso.test:123: fail summary",
    ]
    accepted = only(result(Status.PASS), result(Status.FAIL, target="x", muted="accepted"))
    assert render_monitoring(accepted).splitlines()[0] == (
        "LYNCREADY OK - 1 passed, 1 muted | passed=1 warned=0 failed=0 errors=0 skipped=0 muted=1 duration=3.25s"
    )


def test_sarif_sites_and_muted() -> None:
    results = sarif(network_report())["runs"][0]["results"]
    assert [(r["properties"]["site"], r["level"]) for r in results] == [
        ("paris", "error"),
        ("berlin", "error"),
        ("paris", "warning"),
    ]
    assert "suppressions" not in results[0]
    assert results[1]["suppressions"] == [{"kind": "external", "justification": "old NTP box, ticket 42"}]
    fingerprints = {r["partialFingerprints"]["lyncready/target/v1"] for r in results}
    assert len(fingerprints) == 3


def test_csv_sites_and_muted() -> None:
    table = [dict(zip(COLUMNS, row, strict=True)) for row in rows(render_csv(network_report()))[1:]]
    assert [(r["site"], r["status"], r["muted"]) for r in table] == [
        ("berlin", "pass", ""),
        ("paris", "fail", ""),
        ("berlin", "fail", "old NTP box, ticket 42"),
        ("paris", "warn", ""),
    ]
