"""The JSON report: the machine-readable record of one audit, and the way back to a :class:`Report`.

The document is described by ``schema/report.schema.json`` (:func:`lyncready.report.load_schema`).
Model objects go through the one serializer, :func:`lyncready.model.to_jsonable`, so a field added to the
model shows up here, and the schema's ``additionalProperties: false`` makes the tests notice.
"""

from __future__ import annotations

import json
import math
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from ..model import (
    SCHEMA_VERSION,
    CheckMeta,
    Finding,
    JSONValue,
    Level,
    PluginInfo,
    Report,
    Result,
    Severity,
    Status,
    Target,
    TargetKind,
    to_jsonable,
)

__all__ = ["iter_json", "render_json", "report_from_dict", "report_to_dict"]

TOOL_NAME = "lyncready"

T = TypeVar("T")


def _finite(value: JSONValue) -> JSONValue:
    """Strict JSON has no NaN or Infinity: write them as strings rather than emit an invalid document."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def report_to_dict(report: Report, *, results: bool = True) -> dict[str, Any]:
    """The report as plain JSON data, keys in document order (``schema_version`` first); ``results=False``
    leaves the results list empty (:func:`iter_json` streams them)."""
    data: dict[str, Any] = {
        "schema_version": report.schema_version,
        "tool": {"name": TOOL_NAME, "version": report.tool_version},
        "started_at": report.started_at,
        "finished_at": report.finished_at,
        "duration": report.duration,
        "exit_code": int(report.exit_code),
        "summary": report.summary.as_dict(),
        "arguments": to_jsonable(report.arguments),
        "plugins": [to_jsonable(p) for p in report.plugins],
        "checks": [to_jsonable(c) for c in report.checks],
        "targets": [to_jsonable(t) for t in report.targets],
        "results": [to_jsonable(r) for r in report.results] if results else [],
        "notes": list(report.notes),
    }
    result: dict[str, Any] = _finite(data)
    return result


def render_json(report: Report) -> str:
    """The JSON document (2-space indent, UTF-8 text kept as is), ending with a newline."""
    return "".join(iter_json(report))


def iter_json(report: Report) -> Iterator[str]:
    """:func:`render_json` in pieces, one result at a time: the same text, without the whole document (or
    every result) in memory at once."""
    data = report_to_dict(report, results=False)
    if not report.results:
        yield json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
        return
    slot = secrets.token_hex(16)  # unguessable: no string from the network can collide with it
    data["results"] = slot
    head = json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False)
    before, sep, after = head.partition(f'"results": "{slot}"')
    assert sep, "the results key is missing from the report's JSON"
    yield before + '"results": [\n'
    first = True
    for r in report.results:
        item = json.dumps(_finite(to_jsonable(r)), indent=2, ensure_ascii=False, allow_nan=False)
        yield ("    " if first else ",\n    ") + item.replace("\n", "\n    ")
        first = False
    yield "\n  ]" + after + "\n"


# -- reading a report back ---------------------------------------------------------------------


def _strs(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, Sequence) or isinstance(value, (str, bytes)):
        raise ValueError(f"{where}: expected a list of strings, got {type(value).__name__}")
    return tuple(str(v) for v in value)


def _obj(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}: expected an object, got {type(value).__name__}")
    return dict(value)


def _finding(d: Mapping[str, Any], where: str) -> Finding:
    return Finding(
        tag=str(d["tag"]),
        level=Level(d["level"]),
        message=str(d["message"]),
        args=_obj(d.get("args", {}), f"{where}.args"),
    )


def _result(d: Mapping[str, Any], where: str) -> Result:
    return Result(
        check_id=str(d["check_id"]),
        target=str(d["target"]),
        target_kind=TargetKind(d["target_kind"]),
        status=Status(d["status"]),
        summary=str(d["summary"]),
        findings=tuple(
            _finding(_obj(f, f"{where}.findings[{i}]"), f"{where}.findings[{i}]")
            for i, f in enumerate(d.get("findings", ()))
        ),
        evidence=_obj(d.get("evidence", {}), f"{where}.evidence"),
        remediation=str(d.get("remediation", "")),
        fix=str(d.get("fix", "")),
        duration=float(d.get("duration", 0.0)),
        origins=_strs(d.get("origins", ()), f"{where}.origins"),
        domains=_strs(d.get("domains", ()), f"{where}.domains"),
        plugin=str(d.get("plugin", "")),
        site=str(d.get("site", "")),
        muted=str(d.get("muted", "")),
    )


def _check(d: Mapping[str, Any], where: str) -> CheckMeta:
    return CheckMeta(
        id=str(d["id"]),
        title=str(d["title"]),
        target_kind=TargetKind(d["target_kind"]),
        severity=Severity(d["severity"]),
        description=str(d.get("description", "")),
        remediation=str(d.get("remediation", "")),
        fix=str(d.get("fix", "")),
        references=_strs(d.get("references", ()), f"{where}.references"),
        tags=_strs(d.get("tags", ()), f"{where}.tags"),
    )


def _target(d: Mapping[str, Any], where: str) -> Target:
    port = d.get("port")
    return Target(
        kind=TargetKind(d["kind"]),
        name=str(d["name"]),
        port=None if port is None else int(port),
        origins=_strs(d.get("origins", ()), f"{where}.origins"),
        domains=_strs(d.get("domains", ()), f"{where}.domains"),
    )


def _plugin(d: Mapping[str, Any], where: str) -> PluginInfo:
    return PluginInfo(
        name=str(d["name"]),
        version=str(d.get("version", "")),
        hooks=_strs(d.get("hooks", ()), f"{where}.hooks"),
        source=str(d.get("source", "")),
    )


def _each(d: Mapping[str, Any], key: str, build: Callable[[Mapping[str, Any], str], T]) -> tuple[T, ...]:
    """Build every item of the list ``d[key]``, naming the item in any error."""
    value = d.get(key, ())
    if not isinstance(value, Sequence) or isinstance(value, (str, bytes)):
        raise ValueError(f"{key}: expected a list, got {type(value).__name__}")
    out = []
    for i, item in enumerate(value):
        where = f"{key}[{i}]"
        try:
            out.append(build(_obj(item, where), where))
        except KeyError as exc:
            raise ValueError(f"{where}: missing key {exc.args[0]!r}") from exc
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where}: {exc}") from exc
    return tuple(out)


def report_from_dict(d: Mapping[str, Any]) -> Report:
    """Read a report written by :func:`report_to_dict` (e.g. ``json.load`` of an earlier run).

    ``summary`` and ``exit_code`` are derived from the results and not read back. Raises :class:`ValueError`
    for a document that is not a lyncready report or comes from a newer schema version.
    This does not validate against the JSON Schema (``jsonschema`` is a test dependency only).
    """
    if not isinstance(d, Mapping):
        raise ValueError(f"not a lyncready report: expected an object, got {type(d).__name__}")
    version = d.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ValueError("not a lyncready report: no integer schema_version")
    if version > SCHEMA_VERSION:
        raise ValueError(f"report schema_version {version} is newer than this lyncready reads ({SCHEMA_VERSION})")
    try:
        return Report(
            tool_version=str(_obj(d.get("tool", {}), "tool").get("version", "")),
            started_at=str(d["started_at"]),
            finished_at=str(d["finished_at"]),
            duration=float(d.get("duration", 0.0)),
            arguments=_obj(d.get("arguments", {}), "arguments"),
            plugins=_each(d, "plugins", _plugin),
            checks=_each(d, "checks", _check),
            targets=_each(d, "targets", _target),
            results=_each(d, "results", _result),
            notes=_strs(d.get("notes", ()), "notes"),
            schema_version=version,
        )
    except KeyError as exc:
        raise ValueError(f"not a lyncready report: missing key {exc.args[0]!r}") from exc
    except (TypeError, ValueError) as exc:
        raise ValueError(f"not a lyncready report: {exc}") from exc
