"""SARIF 2.1.0 (OASIS Static Analysis Results Interchange Format), for tools that collect findings.

One run. ``tool.driver.rules`` holds every check of the report (id, title as ``name`` and
``shortDescription``, description as ``fullDescription``, remediation as ``help``, the first reference
that is a URL as ``helpUri``, the default level from the check's severity, its tags). ``results`` holds
every ``warn`` (level ``warning``) and ``fail`` (level ``error``) result: message = the result's summary,
a logical location naming the target, and ``properties`` with ``target``, ``targetKind``, ``site``,
``fix``, ``remediation`` and the findings (tag, level, message). A muted result (a finding the site
accepted) carries ``suppressions: [{"kind": "external", "justification": <reason>}]``, which SARIF
viewers hide by default. Checks that could not run (``error``) are
``toolExecutionNotifications`` of the invocation, which then has ``executionSuccessful: false``;
passes and skips are not listed.

There is no source file to point at, so results carry no physical location: viewers that require one
(GitHub code scanning) are not the audience; SARIF viewers and aggregators (the VS Code SARIF viewer,
DefectDojo) are.
"""

from __future__ import annotations

import json
from typing import Any

from ..model import CheckMeta, Report, Result, Severity, Status

__all__ = ["SARIF_SCHEMA", "SARIF_VERSION", "render_sarif"]

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
_LEVEL = {Status.WARN: "warning", Status.FAIL: "error"}


def _rule(check: CheckMeta) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "id": check.id,
        "name": check.title,
        "shortDescription": {"text": check.title},
        "fullDescription": {"text": check.description or check.title},
        "help": {"text": check.remediation or check.description or check.title},
        "defaultConfiguration": {"level": "error" if check.severity == Severity.FAIL else "warning"},
        "properties": {"targetKind": check.target_kind.value, "tags": list(check.tags)},
    }
    uri = next((ref for ref in check.references if ref.startswith(("https://", "http://"))), None)
    if uri:
        rule["helpUri"] = uri
    return rule


def _result(r: Result, rule_index: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ruleId": r.check_id,
        "ruleIndex": rule_index,
        "level": _LEVEL[r.status],
        "message": {"text": r.summary or r.status.value},
        "locations": [{"logicalLocations": [{"name": r.target, "kind": "resource"}]}],
        "partialFingerprints": {"lyncready/target/v1": f"{r.check_id}:{r.site}:{r.target}"},
        "properties": {
            "target": r.target,
            "targetKind": r.target_kind.value,
            "site": r.site,
            "status": r.status.value,
            "fix": r.fix,
            "remediation": r.remediation,
            "findings": [{"tag": f.tag, "level": f.level.value, "message": f.message} for f in r.findings],
        },
    }
    if r.muted:
        out["suppressions"] = [{"kind": "external", "justification": r.muted}]
    return out


def render_sarif(report: Report) -> str:
    """The report as a SARIF 2.1.0 log (JSON, 2-space indent, ending with a newline)."""
    rules = [_rule(c) for c in report.checks]
    index = {c.id: i for i, c in enumerate(report.checks)}
    for r in report.results:  # a result whose check the report does not describe still gets a rule
        if r.check_id not in index:
            index[r.check_id] = len(rules)
            rules.append({"id": r.check_id, "name": r.check_id, "shortDescription": {"text": r.check_id}})

    results = [_result(r, index[r.check_id]) for r in report.results if r.status in _LEVEL]
    notifications = [
        {
            "level": "error",
            "message": {"text": f"{r.check_id} could not run on {r.target}: {r.summary}"},
            "associatedRule": {"id": r.check_id, "index": index[r.check_id]},
        }
        for r in report.results
        if r.status == Status.ERROR
    ]
    invocation: dict[str, Any] = {
        "executionSuccessful": not notifications,
        "exitCode": int(report.exit_code),
    }
    if report.started_at:
        invocation["startTimeUtc"] = report.started_at
    if report.finished_at:
        invocation["endTimeUtc"] = report.finished_at
    if notifications:
        invocation["toolExecutionNotifications"] = notifications
    log = {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "lyncready",
                        "version": report.tool_version,
                        "rules": rules,
                    }
                },
                "invocations": [invocation],
                "results": results,
                "properties": {"summary": report.summary.as_dict()},
            }
        ],
    }
    return json.dumps(log, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
