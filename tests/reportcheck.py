"""Every report the tests emit is validated against the committed JSON Schema."""

from __future__ import annotations

import json
from typing import Any

import jsonschema

import lyncready
from lyncready.report import load_schema, render_json

_validator: jsonschema.protocols.Validator | None = None


def validated(report: lyncready.Report) -> dict[str, Any]:
    """The report as JSON, after asserting it validates against the schema (returns the document)."""
    global _validator
    if _validator is None:
        schema = load_schema()
        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)
        _validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
    doc: dict[str, Any] = json.loads(render_json(report))
    errors = sorted(_validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    assert not errors, "; ".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5])
    return doc
