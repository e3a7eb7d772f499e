"""Report renderers: JSON (with its JSON Schema), plain text for terminals, and one self-contained HTML page.

::

    from lyncready.report import render, write_report
    print(render(report, "text"))
    write_report(report, "out/audit.html", "html")

Importing this package is cheap: jinja2 loads only when HTML is rendered, and jsonschema is never needed
at run time (the schema ships as package data for tests and for whoever reads the reports).
"""

from __future__ import annotations

import contextlib
import json as _json
import os
import tempfile
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Final, Literal

from ..model import Report
from .json import render_json, report_from_dict, report_to_dict
from .text import render_text

__all__ = [
    "FORMATS",
    "Format",
    "load_schema",
    "render",
    "render_html",
    "render_json",
    "render_text",
    "report_from_dict",
    "report_to_dict",
    "schema_path",
    "write_report",
]

Format = Literal["json", "html", "text"]
FORMATS: Final[tuple[str, ...]] = ("json", "html", "text")
_SUFFIXES: Final[dict[str, str]] = {".json": "json", ".html": "html", ".htm": "html", ".txt": "text"}


def render_html(report: Report) -> str:
    """The report as one self-contained HTML page (imports jinja2 on first use)."""
    from .html import render_html as _render_html

    return _render_html(report)


def schema_path() -> Traversable:
    """Where the report's JSON Schema ships (a :class:`pathlib.Path` on an ordinary install)."""
    return resources.files(__name__).joinpath("schema", "report.schema.json")


def load_schema() -> dict[str, Any]:
    """The report's JSON Schema (draft 2020-12), freshly parsed."""
    schema: dict[str, Any] = _json.loads(schema_path().read_text(encoding="utf-8"))
    return schema


def render(report: Report, fmt: str) -> str:
    """The report in one of :data:`FORMATS`."""
    if fmt == "json":
        return render_json(report)
    if fmt == "html":
        return render_html(report)
    if fmt == "text":
        return render_text(report, color=False)
    raise ValueError(f"unknown report format {fmt!r} (choose from {', '.join(FORMATS)})")


def format_for_path(path: str | os.PathLike[str]) -> str:
    """The format a file name asks for by its suffix (``.json``, ``.html``/``.htm``, ``.txt``)."""
    suffix = Path(path).suffix.lower()
    try:
        return _SUFFIXES[suffix]
    except KeyError:
        raise ValueError(
            f"cannot tell the report format from {os.fspath(path)!r}: give one of {', '.join(FORMATS)}"
        ) from None


def _umask() -> int:
    try:
        with Path("/proc/self/status").open(encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # no way to read it without setting it
    os.umask(mask)
    return mask


def write_report(report: Report, path: str | os.PathLike[str], fmt: str | None = None) -> Path:
    """Write the report to ``path`` atomically and return the path.

    ``fmt`` is one of :data:`FORMATS`; ``None`` takes it from the file's suffix. Parent directories are
    created. The text goes to a temporary file in the same directory, which then replaces ``path`` in one
    step (:func:`os.replace`): a reader sees the old report or the new one, never half of one.
    The file gets the mode of the file it replaces, or the default for new files (0666 minus the umask).
    """
    target = Path(path)
    fmt = format_for_path(target) if fmt is None else fmt
    data = render(report, fmt).encode("utf-8")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = target.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = 0o666 & ~_umask()
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.chmod(mode)
        tmp.replace(target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return target
