"""The report renderers: JSON (against the committed schema), text and HTML, and the atomic writer."""

from __future__ import annotations

import base64
import copy
import dataclasses
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from lyncready.model import (
    SCHEMA_VERSION,
    CheckMeta,
    Finding,
    Level,
    PluginInfo,
    Report,
    Result,
    Severity,
    Status,
    Target,
    TargetKind,
)
from lyncready.report import (
    FORMATS,
    load_schema,
    render,
    render_json,
    render_text,
    report_from_dict,
    report_to_dict,
    schema_path,
    write_report,
)
from lyncready.report.html import render_html
from lyncready.report.text import visible

SCRIPT = "<script>alert(1)</script>"
ESCAPED_SCRIPT = "&lt;script&gt;alert(1)&lt;/script&gt;"
HOSTILE_TARGET = f"evil\x1b[31m.contoso.test{SCRIPT}"

CHECKS = (
    CheckMeta(
        id="dns_sipinternaltls",
        title="SRV _sipinternaltls._tcp points inside the SIP domain",
        target_kind=TargetKind.DOMAIN,
        severity=Severity.FAIL,
        description="Phones find their Registrar pool through this SRV record.",
        remediation="Publish the SRV record with a target inside the SIP domain.",
        fix="_sipinternaltls._tcp.{domain}. 3600 IN SRV 0 0 5061 {pool}.",
        references=("https://learn.microsoft.com/lync/phones", "RFC 2782"),
        tags=("dns", "strict-naming"),
    ),
    CheckMeta(
        id="ntp_answers",
        title="NTP server answers on UDP 123",
        target_kind=TargetKind.NTP,
        severity=Severity.FAIL,
        description="Phones sync their clock before any TLS handshake.",
        remediation="Make the server answer NTP on UDP 123.",
    ),
    CheckMeta(
        id="web_http80",
        title="Certificate provisioning answers over plain HTTP",
        target_kind=TargetKind.WEB,
        severity=Severity.FAIL,
        description="The phone downloads the root chain anonymously over HTTP 80.",
        remediation="Open TCP 80 on the load balancer to the web services.",
    ),
)

RESULTS = (
    Result(
        check_id="dns_sipinternaltls",
        target="contoso.test",
        target_kind=TargetKind.DOMAIN,
        status=Status.PASS,
        summary="SRV points to pool.contoso.test:5061",
        evidence={"records": [{"priority": 0, "weight": 0, "port": 5061, "target": "pool.contoso.test"}]},
        duration=0.012,
        origins=("--domain",),
        domains=("contoso.test",),
        plugin="lyncready.plugins.dns_srv",
    ),
    Result(
        check_id="dns_sipinternaltls",
        target=HOSTILE_TARGET,
        target_kind=TargetKind.DOMAIN,
        status=Status.FAIL,
        summary="SRV target pool.fabrikam.test sits outside the SIP domain: strict DNS naming rejects it",
        findings=(
            Finding(
                "srv_target_outside_domain",
                Level.FAIL,
                f"pool.fabrikam.test is not inside {SCRIPT}",
                {"target": "pool.fabrikam.test", "domain": SCRIPT},
            ),
            Finding("srv_record_count", Level.INFO, "1 record", {"count": 1}),
        ),
        evidence={
            "records": [{"priority": 0, "port": 5061, "target": SCRIPT, "ttl": None, "ok": False}],
            "nested": {"deeper": {"list": [1, 2.5, "três", {"x": []}]}},
            "raw": "bell\x07 and esc \x1b]0;title\x07",
        },
        remediation="Point the SRV record at a pool FQDN inside the SIP domain.",
        fix="_sipinternaltls._tcp.contoso.test. 3600 IN SRV 0 0 5061 pool.contoso.test.",
        duration=0.2,
        origins=("--domain",),
        domains=("contoso.test",),
        plugin="lyncready.plugins.dns_srv",
    ),
    Result(
        check_id="ntp_answers",
        target="time.contoso.test:123",
        target_kind=TargetKind.NTP,
        status=Status.WARN,
        summary="Offset 2.5 s from the local clock — Zeitabweichung 2,5 s",
        findings=(Finding("ntp_offset_high", Level.WARN, "Offset 2.5 s is over 1 s", {"offset": 2.5}),),
        remediation="Sync the server to a stratum 1-3 source.",
        origins=("SRV _ntp._udp.contoso.test target",),
        domains=("contoso.test",),
    ),
    Result(
        check_id="ntp_answers",
        target="ntp.contoso.test:123",
        target_kind=TargetKind.NTP,
        status=Status.ERROR,
        summary="The probe crashed: ValueError: bad packet",
        evidence={"error": "ValueError: bad packet"},
    ),
    Result(
        check_id="web_http80",
        target="(none)",
        target_kind=TargetKind.WEB,
        status=Status.SKIP,
        summary="Not run: no web target was found or given",
    ),
    Result(
        check_id="web_http80",
        target="pool.contoso.test:80",
        target_kind=TargetKind.WEB,
        status=Status.PASS,
        summary="HTTP 200 for /CertProv/CertProvisioningService.svc",
    ),
)

TARGETS = (
    Target(TargetKind.DOMAIN, "contoso.test", origins=("--domain",), domains=("contoso.test",)),
    Target(
        TargetKind.NTP,
        "time.contoso.test",
        123,
        origins=("SRV _ntp._udp.contoso.test target", "DHCP option 42"),
        domains=("contoso.test",),
    ),
    Target(
        TargetKind.WEB,
        "pool.contoso.test",
        443,
        origins=("SRV _sipinternaltls._tcp.contoso.test target",),
        domains=("contoso.test",),
    ),
    Target(TargetKind.WEB, SCRIPT, None, origins=(f"DHCP option 43 {SCRIPT}",)),
)


def make_report(**changes: Any) -> Report:
    report = Report(
        tool_version="0.1.0",
        started_at="2024-05-01T10:00:00+00:00",
        finished_at="2024-05-01T10:00:03+00:00",
        duration=3.25,
        arguments={
            "domains": ["contoso.test"],
            "nameservers": ["10.0.0.5:53"],
            "timeouts": {"total": 60.0},
            "extra": {},
        },
        plugins=(
            PluginInfo("lyncready.plugins.dns_srv", "0.1.0", ("register_checks",), "builtin"),
            PluginInfo("acme", "2.0", ("register_checks", "register_probes"), "plugins-dir"),
        ),
        checks=CHECKS,
        targets=TARGETS,
        results=RESULTS,
        notes=("acme: register_probes raised KeyError", f"hostile note {SCRIPT}"),
    )
    return dataclasses.replace(report, **changes)


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    schema = load_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def errors(validator: Draft202012Validator, doc: Any) -> list[str]:
    return [e.message for e in validator.iter_errors(doc)]


# -- JSON and schema ---------------------------------------------------------------------------


def test_json_validates_against_schema(validator: Draft202012Validator) -> None:
    doc = json.loads(render_json(make_report()))
    assert errors(validator, doc) == []


def test_json_root_keys_and_values() -> None:
    text = render_json(make_report())
    doc = json.loads(text)
    assert list(doc) == [
        "schema_version",
        "tool",
        "started_at",
        "finished_at",
        "duration",
        "exit_code",
        "summary",
        "arguments",
        "plugins",
        "checks",
        "targets",
        "results",
        "notes",
    ]
    assert doc["schema_version"] == SCHEMA_VERSION
    assert doc["tool"] == {"name": "lyncready", "version": "0.1.0"}
    assert doc["exit_code"] == 2
    assert doc["summary"] == {"pass": 2, "warn": 1, "fail": 1, "error": 1, "skip": 1, "total": 6}
    assert doc["targets"][1] == {
        "kind": "ntp",
        "name": "time.contoso.test",
        "port": 123,
        "origins": ["SRV _ntp._udp.contoso.test target", "DHCP option 42"],
        "domains": ["contoso.test"],
    }
    fail = doc["results"][1]
    assert fail["status"] == "fail"
    assert fail["findings"][0] == {
        "tag": "srv_target_outside_domain",
        "level": "fail",
        "message": f"pool.fabrikam.test is not inside {SCRIPT}",
        "args": {"target": "pool.fabrikam.test", "domain": SCRIPT},
    }
    # indent=2, unicode kept as is (ensure_ascii=False), control characters escaped by json itself
    assert text.startswith('{\n  "schema_version": 1,')
    assert "três" in text and "—" in text
    assert "\x1b" not in text


def test_json_has_no_nan() -> None:
    r = dataclasses.replace(RESULTS[0], evidence={"offset": float("nan"), "limits": [float("inf")]})
    doc = json.loads(render_json(make_report(results=(r,))))
    assert doc["results"][0]["evidence"] == {"offset": "NaN", "limits": ["Infinity"]}


def test_schema_version_matches_model() -> None:
    assert load_schema()["properties"]["schema_version"]["const"] == SCHEMA_VERSION
    assert json.loads(schema_path().read_text(encoding="utf-8")) == load_schema()


def _without(d: dict[str, Any], *path: str | int) -> dict[str, Any]:
    doc = copy.deepcopy(d)
    node: Any = doc
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return doc


def _with(d: dict[str, Any], value: Any, *path: str | int) -> dict[str, Any]:
    doc = copy.deepcopy(d)
    node: Any = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return doc


@pytest.mark.parametrize(
    "path",
    [
        ("schema_version",),
        ("results",),
        ("summary",),
        ("results", 0, "status"),
        ("results", 0, "check_id"),
        ("results", 1, "findings", 0, "level"),
        ("targets", 0, "kind"),
        ("checks", 0, "severity"),
        ("summary", "total"),
    ],
)
def test_schema_rejects_missing_required_key(validator: Draft202012Validator, path: tuple[str | int]) -> None:
    doc = report_to_dict(make_report())
    assert errors(validator, _without(doc, *path)), f"removing {path} should be rejected"


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ("ok", ("results", 0, "status")),
        ("PASS", ("results", 0, "status")),
        ("error", ("results", 1, "findings", 0, "level")),
        ("sip", ("results", 0, "target_kind")),
        ("host", ("targets", 0, "kind")),
        (70000, ("targets", 1, "port")),
        ("critical", ("checks", 0, "severity")),
        (4, ("exit_code",)),
        (2, ("schema_version",)),
        ("yesterday", ("started_at",)),
        (-1, ("summary", "fail")),
        ("1.0", ("duration",)),
        ("not an object", ("results", 0, "evidence")),
        (["list"], ("results", 1, "findings", 0, "args")),
        ("lyncready-fork", ("tool", "name")),
    ],
)
def test_schema_rejects_bad_values(validator: Draft202012Validator, value: Any, path: tuple[str | int]) -> None:
    doc = report_to_dict(make_report())
    assert errors(validator, _with(doc, value, *path)), f"{path} = {value!r} should be rejected"


@pytest.mark.parametrize(
    "path", [(), ("results", 0), ("results", 1, "findings", 0), ("targets", 0), ("checks", 0), ("summary",)]
)
def test_schema_rejects_unknown_keys(validator: Draft202012Validator, path: tuple[str | int]) -> None:
    doc = report_to_dict(make_report())
    node: Any = doc
    for key in path:
        node = node[key]
    node["surprise"] = 1
    assert errors(validator, doc)


def test_schema_allows_free_form_evidence_and_args(validator: Draft202012Validator) -> None:
    doc = report_to_dict(make_report())
    doc["results"][0]["evidence"] = {"anything": {"goes": [1, None, True, {"deep": "x"}]}}
    doc["results"][1]["findings"][0]["args"] = {"any": ["thing"]}
    doc["arguments"]["plugin.acme"] = {"k": 1}
    assert errors(validator, doc) == []


def test_round_trip() -> None:
    report = make_report()
    assert report_from_dict(report_to_dict(report)) == report
    assert report_from_dict(json.loads(render_json(report))) == report


def test_round_trip_empty_report(validator: Draft202012Validator) -> None:
    report = make_report(plugins=(), checks=(), targets=(), results=(), notes=(), arguments={})
    doc = report_to_dict(report)
    assert errors(validator, doc) == []
    assert doc["exit_code"] == 3
    assert report_from_dict(doc) == report


@given(
    st.text(max_size=20),
    st.dictionaries(
        st.text(max_size=5),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=10),
            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
            max_leaves=8,
        ),
        max_size=4,
    ),
)
def test_round_trip_any_strings_and_evidence(name: str, evidence: dict[str, Any]) -> None:
    r = dataclasses.replace(RESULTS[1], target=name or "x", summary=name, evidence=evidence)
    report = make_report(results=(r,))
    assert report_from_dict(json.loads(render_json(report))) == report


@pytest.mark.parametrize(
    ("doc", "match"),
    [
        ([], "expected an object"),
        ({}, "schema_version"),
        ({"schema_version": SCHEMA_VERSION + 1}, "newer"),
        ({"schema_version": 1, "started_at": "x"}, "finished_at"),
    ],
)
def test_report_from_dict_rejects_non_reports(doc: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        report_from_dict(doc)


def test_report_from_dict_names_the_bad_item() -> None:
    doc = _with(report_to_dict(make_report()), "maybe", "results", 2, "status")
    with pytest.raises(ValueError, match=r"results\[2\].*maybe"):
        report_from_dict(doc)


# -- text --------------------------------------------------------------------------------------


def test_text_lists_every_result_and_the_summary_line() -> None:
    text = render_text(make_report(), color=False, width=120)
    lines = text.splitlines()
    for r in RESULTS:
        label = r.status.value.upper()
        assert any(line.startswith(label) and r.check_id in line and visible(r.target) in line for line in lines), r
    assert lines[-1] == "2 passed, 1 warning, 1 failed, 1 error, 1 skipped — exit 2"
    header = next(line for line in lines if line.startswith("STATUS"))
    assert header.split() == ["STATUS", "CHECK", "TARGET", "SUMMARY"]
    # grouped by target kind, in TargetKind order
    kinds = [line for line in lines if line.endswith("TARGETS")]
    assert kinds == ["DOMAIN TARGETS", "NTP TARGETS", "WEB TARGETS"]
    # findings and the fix line only under what needs work
    assert "Offset 2.5 s is over 1 s [ntp_offset_high]" in text
    assert "fix: _sipinternaltls._tcp.contoso.test. 3600 IN SRV 0 0 5061 pool.contoso.test." in text
    assert text.count("fix:") == 1


def test_text_summary_line_plurals() -> None:
    report = make_report(results=(RESULTS[0],))
    assert render_text(report, color=False).splitlines()[-1] == (
        "1 passed, 0 warnings, 0 failed, 0 errors, 0 skipped — exit 0"
    )


def test_text_escapes_control_characters() -> None:
    text = render_text(make_report(), color=False, width=100)
    assert "\x1b" not in text
    assert "\x07" not in text
    assert r"evil\x1b[31m.contoso.test" in text


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("plain.contoso.test", "plain.contoso.test"),
        ("a\x1b[2Jb", r"a\x1b[2Jb"),
        ("line\nbreak\r", r"line\nbreak\r"),
        ("csi\x9b31m", r"csi\x9b31m"),
        ("bidi\u202eevil", r"bidi\u202eevil"),
        ("tab\there", r"tab\there"),
        ("DOMAIN\\user ünïcødé 日本", "DOMAIN\\user ünïcødé 日本"),
    ],
)
def test_visible(raw: str, shown: str) -> None:
    assert visible(raw) == shown


@given(st.text())
def test_visible_leaves_nothing_a_terminal_would_act_on(text: str) -> None:
    assert visible(text).isprintable()


def test_text_colour_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    report = make_report()
    coloured = render_text(report, color=True)
    assert "\x1b[" in coloured
    assert "\x1b[31;1mFAIL" in coloured
    assert "\x1b" not in render_text(report, color=False)
    assert "\x1b" not in render(report, "text")
    # auto: not a terminal under pytest's capture, and NO_COLOR always wins
    assert "\x1b" not in render_text(report)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert "\x1b[" in render_text(report)
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b" not in render_text(report)


def test_text_wraps_to_width() -> None:
    long = "word " * 60
    r = dataclasses.replace(RESULTS[0], summary=long)
    text = render_text(make_report(results=(r,)), color=False, width=80)
    body = [line for line in text.splitlines() if "word" in line]
    assert len(body) > 3
    assert all(len(line) <= 80 for line in body)


def test_text_without_results() -> None:
    text = render_text(make_report(results=()), color=False)
    assert "No results" in text
    assert text.splitlines()[-1].endswith("— exit 3")


# -- HTML --------------------------------------------------------------------------------------

HOSTILE_SITE = "Branch <b>2</b>"
MUTE_REASON = "port 80 opens with the new load balancer (CHG-42)"


def site_report() -> Report:
    """A network audit: RESULTS at "HQ", three results at a second site with a hostile name, one of them muted."""
    hq = tuple(dataclasses.replace(r, site="HQ") for r in RESULTS)
    branch = (
        dataclasses.replace(RESULTS[0], site=HOSTILE_SITE, status=Status.FAIL, summary="no SRV record"),
        dataclasses.replace(RESULTS[2], site=HOSTILE_SITE),
        dataclasses.replace(RESULTS[5], site=HOSTILE_SITE, status=Status.FAIL, muted=MUTE_REASON),
    )
    return make_report(results=hq + branch)


def site_changes(report: Report) -> dict[Any, Any]:
    """The HQ results of the previous run: contoso.test failed, time.contoso.test passed, (none) passed;
    nothing at the second site. So: 1 fixed, 1 regressed, 1 changed (pass -> skip), 3 new."""
    from lyncready.history import mark_changes

    before = {0: Status.FAIL, 2: Status.PASS, 4: Status.PASS}
    previous = tuple(
        dataclasses.replace(r, status=before.get(i, r.status)) for i, r in enumerate(report.results) if r.site == "HQ"
    )
    return dict(mark_changes(report, dataclasses.replace(report, results=previous)))


@pytest.fixture(scope="module")
def page() -> str:
    return render_html(make_report())


@pytest.fixture(scope="module")
def site_page() -> str:
    report = site_report()
    return render_html(report, site_changes(report))


def tbody(page: str, anchor: str) -> str:
    m = re.search(rf'<tbody id="{anchor}"[^>]*>.*?</tbody>', page, re.S)
    assert m is not None, anchor
    return m.group(0)


def section(page: str, html_id: str) -> str:
    m = re.search(rf'<section id="{html_id}">.*?</section>', page, re.S)
    assert m is not None, html_id
    return m.group(0)


def matrix(page: str) -> dict[str, list[str]]:
    """The site x check matrix as {check_id: [cell per site]}, each cell "status[ hollow]|counts|muted|anchor"."""
    m = re.search(r'<table class="matrix">.*?</table>', page, re.S)
    assert m is not None
    rows: dict[str, list[str]] = {}
    for row in re.findall(r'<tr>\n<td class="check">.*?</tr>', m.group(0), re.S):
        cid = re.search(r"<small>(.*?)</small>", row)
        assert cid is not None
        cells = []
        for cell in re.findall(r"<td class=\"(?:cell|none)\".*?</td>", row, re.S):
            if 'class="none"' in cell:
                cells.append("-")
                continue
            badge = re.search(r'<span class="badge (\w+)( hollow)?">', cell)
            anchor = re.search(r'href="#(r\d+)"', cell)
            assert badge is not None and anchor is not None
            smalls = re.findall(r"<small>(.*?)</small>", cell)
            counts = next((t for t in smalls if "muted" not in t), "")
            muted = next((t for t in smalls if "muted" in t), "")
            cells.append(f"{badge.group(1)}{badge.group(2) or ''}|{counts}|{muted}|{anchor.group(1)}")
        rows[cid.group(1)] = cells
    return rows


def test_html_escapes_hostile_strings(page: str, site_page: str) -> None:
    for p in (page, site_page):
        assert SCRIPT not in p
        assert ESCAPED_SCRIPT in p
        assert "\x1b" not in p
        assert "\x07" not in p
        # evidence, target names, origins, notes and finding messages are all text
        assert p.count("<script") == 1  # only the page's own filter script
    assert HOSTILE_SITE not in site_page
    assert "Branch &lt;b&gt;2&lt;/b&gt;" in site_page


def test_html_content(page: str) -> None:
    assert page.startswith("<!DOCTYPE html>")
    assert "lyncready 0.1.0" in page
    assert "2024-05-01T10:00:00+00:00" in page and "2024-05-01T10:00:03+00:00" in page
    assert "contoso.test" in page and "10.0.0.5:53" in page
    for c in CHECKS:
        assert c.title in page
    for status in Status:
        assert f'data-status="{status.value}"' in page
    assert "pool.contoso.test:443" in page
    assert "← SRV _sipinternaltls._tcp.contoso.test target" in page
    assert "srv_target_outside_domain" in page
    assert "Point the SRV record at a pool FQDN inside the SIP domain." in page
    assert "<code>_sipinternaltls._tcp.contoso.test. 3600 IN SRV 0 0 5061 pool.contoso.test.</code>" in page
    assert '<pre class="evidence">' in page and "&#34;três&#34;" in page
    assert "acme" in page and "register_probes" in page
    assert "2 passed, 1 warning, 1 failed, 1 error, 1 skipped — exit 2" in page


def test_html_failures_first_with_reason_fix_and_collapsed_evidence(page: str) -> None:
    assert '<h3 id="attention">Needs attention (3)</h3>' in page
    assert '<h3 id="ok">Passed and skipped (3)</h3>' in page
    assert 'id="muted"' not in page  # no empty section
    # open problems first, worst first: fail (r1), error (r3), warn (r2); then pass (r0, r5), skip (r4)
    order = [m.group(1) for m in re.finditer(r'<tbody id="(r\d+)"', page)]
    assert order == ["r1", "r3", "r2", "r0", "r5", "r4"]
    fail = tbody(page, "r1")
    assert fail.index("Findings") < fail.index("Remediation") < fail.index("Fix") < fail.index("Evidence")
    assert "<details>\n<summary>Evidence</summary>" in fail
    assert "<details open" not in page
    # one-site audit: no site column, matrix or changes; no change badge
    assert "<th>Site</th>" not in page and 'class="matrix"' not in page
    assert 'id="changes"' not in page and 'data-change="' not in page and 'value="regressed"' not in page


def test_html_filters(page: str, site_page: str) -> None:
    for value in [*(s.value for s in Status), "muted"]:
        assert f'<input type="checkbox" data-filter value="{value}" checked>' in page
    assert '<input type="checkbox" data-filter value="regressed">' in site_page  # off: "only regressed"
    assert '<span id="shown"' in page


def test_html_sites_summary(site_page: str) -> None:
    sites = section(site_page, "sites")
    rows = re.findall(r'<tr>\n<td class="site"><b>(.*?)</b></td>\n(.*?)</tr>', sites, re.S)
    assert [name for name, _ in rows] == ["HQ", "Branch &lt;b&gt;2&lt;/b&gt;"]

    def cells(row: str) -> list[str]:
        worst = re.search(r'<span class="badge (\w+)">', row)
        assert worst is not None
        return [worst.group(1), *re.findall(r'<td class="num[^"]*">(\d+)</td>', row), row.rsplit("<td>", 1)[1]]

    # worst, fail, error, warn, pass, skip, muted, total, regressed, fixed, exit
    assert cells(rows[0][1]) == ["fail", "1", "1", "1", "2", "1", "0", "6", "1", "1", "2 (CRITICAL)</td>\n"]
    assert cells(rows[1][1]) == ["fail", "2", "0", "1", "0", "0", "1", "3", "0", "0", "2 (CRITICAL)</td>\n"]
    assert "<dt>Sites</dt><dd>HQ, Branch &lt;b&gt;2&lt;/b&gt;</dd>" in site_page
    assert '<li class="accepted"><b>1</b> muted (accepted)</li>' in site_page


def test_html_site_check_matrix(site_page: str) -> None:
    # rows in catalogue order, columns in site order; the link goes to the cell's worst result
    assert matrix(site_page) == {
        "dns_sipinternaltls": ["fail|1 fail · 1 pass||r1", "fail|||r6"],
        "ntp_answers": ["error|1 error · 1 warn||r3", "warn|||r7"],
        "web_http80": ["pass|1 pass · 1 skip||r5", "fail hollow||1 muted|r8"],
    }
    head = re.search(r'<table class="matrix">\n<thead><tr>(.*?)</tr>', site_page)
    assert head is not None
    assert re.findall(r'<th class="site">(.*?)</th>', head.group(1)) == ["HQ", "Branch &lt;b&gt;2&lt;/b&gt;"]


def test_html_matrix_marks_muted_next_to_open_results() -> None:
    report = site_report()
    extra = dataclasses.replace(RESULTS[5], target="pool2.contoso.test:80", site=HOSTILE_SITE)
    cells = matrix(render_html(dataclasses.replace(report, results=(*report.results, extra))))
    assert cells["web_http80"][1] == "pass|1 pass|1 muted|r8"  # the open result's status, the muted one beside it


def test_html_muted_results(site_page: str) -> None:
    muted = tbody(site_page, "r8")
    assert muted.startswith('<tbody id="r8" data-status="fail" data-change="new" data-muted class="is-muted">')
    assert '<span class="badge accepted">muted</span>' in muted
    assert f"<b>Muted:</b> {MUTE_REASON}" in muted
    assert '<h3 id="muted">Muted (accepted findings) (1)</h3>' in site_page
    # after the open problems, before what passed
    assert site_page.index('id="attention"') < site_page.index('id="muted"') < site_page.index('id="ok"')
    assert '<td class="site">Branch &lt;b&gt;2&lt;/b&gt;</td>' in muted


def test_html_change_badges_and_section(site_page: str) -> None:
    badges = {
        m.group(1): m.group(2)
        for m in re.finditer(r'<tbody id="(r\d+)" data-status="\w+" data-change="(\w+)"', site_page)
    }
    # r0 fixed (fail -> pass), r2 regressed (pass -> warn), r4 changed (pass -> skip), the second site is new;
    # unchanged results (r1, r3, r5) carry no badge
    assert badges == {"r0": "fixed", "r2": "regressed", "r4": "changed", "r6": "new", "r7": "new", "r8": "new"}
    assert '<span class="badge chg regressed">regressed</span>' in tbody(site_page, "r2")
    changes = section(site_page, "changes")
    assert "<h2>Changes since the last run</h2>" in changes
    assert changes.index("Regressed (1)") < changes.index("Fixed (1)") < changes.index("3 new, 1 changed")
    regressed = changes[changes.index("Regressed (1)") : changes.index("Fixed (1)")]
    assert '<a href="#r2"><span class="badge warn">warn</span> <b>HQ</b> · NTP server answers' in regressed
    # the changes come right after the summary, before the sites and the results
    assert site_page.index('id="summary"') < site_page.index('id="changes"') < site_page.index('id="sites"')
    assert site_page.index('id="sites"') < site_page.index('id="results"')


def test_html_changes_without_regression_or_fix() -> None:
    report = make_report()
    from lyncready.history import mark_changes

    page = render_html(report, mark_changes(report, report))
    assert "No regression and no fix since the last run." in page
    assert 'data-change="' not in page
    # plain tuples work as keys too, and a change of a result not in the report is ignored
    page = render_html(report, {("ntp_answers", "time.contoso.test:123", ""): "regressed", ("x", "y", ""): "new"})
    assert re.findall(r'data-change="(\w+)"', page) == ["regressed"]


def test_html_without_changes_is_unchanged() -> None:
    report = site_report()
    assert render_html(report) == render_html(report, None) == render(report, "html")
    assert 'id="changes"' not in render_html(report)


@pytest.mark.parametrize("which", ["page", "site_page"])
def test_html_is_self_contained(which: str, request: pytest.FixtureRequest) -> None:
    page: str = request.getfixturevalue(which)
    assert not re.search(r"""\b(?:src|href|action|srcset|poster|data)\s*=\s*["']?\s*(?:https?:)?//""", page, re.I)
    assert not re.search(r"""\bsrc\s*=""", page, re.I)
    # the only links are fragments of this page, each to an element that exists
    ids = set(re.findall(r'\bid="([^"]+)"', page))
    for m in re.finditer(r"""\bhref\s*=\s*(["']?)([^"' >]*)""", page, re.I):
        assert m.group(1) == '"' and m.group(2).startswith("#"), m.group(0)
        assert m.group(2)[1:] in ids, m.group(0)
    assert "url(" not in page and "@import" not in page
    assert "<link" not in page and "<img" not in page and "<iframe" not in page
    assert " style=" not in page  # the CSP allows no style attribute
    # URLs appear only as text (a check's references)
    for m in re.finditer(r"https?://", page):
        before = page[max(0, m.start() - 60) : m.start()]
        assert before.endswith("<li>"), before


@pytest.mark.parametrize("which", ["page", "site_page"])
def test_html_csp_allows_only_its_own_script_and_style(which: str, request: pytest.FixtureRequest) -> None:
    page: str = request.getfixturevalue(which)
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page)
    assert csp is not None
    policy = csp.group(1)
    assert "default-src 'none'" in policy
    for tag in ("script", "style"):
        m = re.search(rf"<{tag}>(.*?)</{tag}>", page, re.S)
        assert m is not None
        digest = base64.b64encode(hashlib.sha256(m.group(1).encode()).digest()).decode()
        assert f"{tag}-src 'sha256-{digest}'" in policy


def test_html_empty_report() -> None:
    page = render_html(make_report(results=(), targets=(), plugins=(), notes=(), arguments={}))
    assert "No check ran." in page
    assert "No target was found or given." in page


def test_scheduled_run_marks_changes_in_the_html_only(tmp_path: Path) -> None:
    from lyncready.scheduled import scheduled_run

    report = site_report()
    before = {0: Status.FAIL, 2: Status.PASS}
    first = dataclasses.replace(
        report,
        results=tuple(dataclasses.replace(r, status=before.get(i, r.status)) for i, r in enumerate(report.results)),
    )
    out = tmp_path / "reports"
    one = scheduled_run(lambda: first, output_dir=str(out), history=None)
    assert one.changes is None  # the first run: nothing to compare with, no badge
    assert 'id="changes"' not in (out / "latest.html").read_text(encoding="utf-8")
    (out / "latest.html").chmod(0o640)

    two = scheduled_run(lambda: report, output_dir=str(out), history=None)
    assert two.changes is not None
    assert {k: v for k, v in two.changes.items() if v != "unchanged"} == {
        ("dns_sipinternaltls", "contoso.test", "HQ"): "fixed",
        ("ntp_answers", "time.contoso.test:123", "HQ"): "regressed",
    }
    latest = (out / "latest.html").read_text(encoding="utf-8")
    stamped = [p for p in two.written if p.suffix == ".html" and p.name != "latest.html"]
    assert len(stamped) == 1 and stamped[0].read_text(encoding="utf-8") == latest
    assert latest == render_html(two.report, two.changes)  # with the notes the run added
    assert re.findall(r'data-change="(\w+)"', latest) == ["regressed", "fixed"]  # failures first
    assert (out / "latest.html").stat().st_mode & 0o777 == 0o640  # the replaced file's mode is kept
    assert not list(out.glob(".*.tmp"))
    # the other formats are written as before
    assert (out / "latest.json").read_text(encoding="utf-8") == render(two.report, "json")


# -- render / write_report ---------------------------------------------------------------------


def test_render_dispatch() -> None:
    report = make_report()
    assert json.loads(render(report, "json"))["schema_version"] == SCHEMA_VERSION
    assert render(report, "html").startswith("<!DOCTYPE html>")
    assert render(report, "text").rstrip().endswith("exit 2")
    assert set(FORMATS) == {"json", "html", "text", "junit", "prometheus", "monitoring", "sarif", "csv"}
    with pytest.raises(ValueError, match="unknown report format"):
        render(report, "pdf")


@pytest.mark.parametrize("fmt", ["json", "html", "text"])
def test_write_report_is_atomic(tmp_path: Path, fmt: str) -> None:
    report = make_report()
    target = tmp_path / "deep" / "er" / f"report.{fmt}"
    assert write_report(report, target, fmt) == target
    assert target.read_text(encoding="utf-8") == render(report, fmt)
    write_report(make_report(results=RESULTS[:1]), target, fmt)  # replaces, leaves nothing behind
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]


def test_write_report_infers_format_and_keeps_mode(tmp_path: Path) -> None:
    target = tmp_path / "r.json"
    write_report(make_report(), target)
    assert json.loads(target.read_text(encoding="utf-8"))["schema_version"] == SCHEMA_VERSION
    if os.name == "posix":
        target.chmod(0o640)
        write_report(make_report(), target)
        assert target.stat().st_mode & 0o777 == 0o640
    with pytest.raises(ValueError, match="report format"):
        write_report(make_report(), tmp_path / "r.pdf")


def test_write_report_failure_leaves_no_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "r.json"
    target.write_text("old", encoding="utf-8")

    def boom(self: Path, other: Path) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(Path, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        write_report(make_report(), target, "json")
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]
    assert target.read_text(encoding="utf-8") == "old"


def test_import_is_cheap() -> None:
    code = (
        "import sys, lyncready.report, lyncready.report.html;"
        "bad = [m for m in ('jinja2', 'jsonschema') if m in sys.modules];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
