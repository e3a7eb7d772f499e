"""Report renderers: JSON (with its JSON Schema), plain text for terminals, one self-contained HTML page,
and the formats other systems read: JUnit XML (CI), a Prometheus textfile (node_exporter), monitoring-plugins
output (Nagios/Icinga), SARIF 2.1.0 and CSV.

::

    from lyncready.report import render, write_report
    print(render(report, "text"))
    write_report(report, "out/audit.html", "html")

Importing this package is cheap: jinja2 loads only when HTML is rendered, the modules of the other formats
(and ``xml.etree``, ``csv``) only when theirs is, and jsonschema is never needed at run time (the schema
ships as package data for tests and for whoever reads the reports).
"""

from __future__ import annotations

import contextlib
import json as _json
import os
import tempfile
from collections.abc import Iterator, Mapping
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from ..model import Report
from .json import iter_json, render_json, report_from_dict, report_to_dict
from .text import iter_text, render_text

if TYPE_CHECKING:
    from ..history import ChangeKind, ResultKey

    Changes = Mapping[ResultKey, ChangeKind]

__all__ = [
    "FORMATS",
    "Format",
    "iter_json",
    "iter_render",
    "iter_text",
    "load_schema",
    "render",
    "render_csv",
    "render_html",
    "render_json",
    "render_junit",
    "render_monitoring",
    "render_prometheus",
    "render_sarif",
    "render_text",
    "report_from_dict",
    "report_to_dict",
    "schema_path",
    "write_report",
]

Format = Literal["json", "html", "text", "junit", "prometheus", "monitoring", "sarif", "csv"]
FORMATS: Final[tuple[str, ...]] = ("json", "html", "text", "junit", "prometheus", "monitoring", "sarif", "csv")
_SUFFIXES: Final[dict[str, str]] = {
    ".json": "json",
    ".html": "html",
    ".htm": "html",
    ".txt": "text",
    ".xml": "junit",
    ".prom": "prometheus",
    ".sarif": "sarif",
    ".csv": "csv",
}


def render_html(report: Report, changes: Changes | None = None) -> str:
    """The report as one self-contained HTML page (imports jinja2 on first use); ``changes`` marks what
    changed since the previous run (see :func:`lyncready.history.mark_changes`)."""
    from .html import render_html as _render_html

    return _render_html(report, changes)


def render_junit(report: Report, site: str | None = None) -> str:
    """JUnit XML, one suite per target kind (see :mod:`lyncready.report.junit`)."""
    from .junit import render_junit as _render_junit

    return _render_junit(report, site)


def render_prometheus(report: Report, site: str | None = None) -> str:
    """A node_exporter textfile (see :mod:`lyncready.report.prometheus` for metrics and status values)."""
    from .prometheus import render_prometheus as _render_prometheus

    return _render_prometheus(report, site)


def render_monitoring(report: Report, *, long_output: bool = True, max_lines: int | None = 50) -> str:
    """Monitoring-plugins output with performance data (see :mod:`lyncready.report.monitoring`)."""
    from .monitoring import render_monitoring as _render_monitoring

    return _render_monitoring(report, long_output=long_output, max_lines=max_lines)


def render_sarif(report: Report) -> str:
    """A SARIF 2.1.0 log of the warnings and failures (see :mod:`lyncready.report.sarif`)."""
    from .sarif import render_sarif as _render_sarif

    return _render_sarif(report)


def render_csv(report: Report) -> str:
    """One CSV row per result, safe from formula injection (see :mod:`lyncready.report.csv`)."""
    from .csv import render_csv as _render_csv

    return _render_csv(report)


def schema_path() -> Traversable:
    """Where the report's JSON Schema ships (a :class:`pathlib.Path` on an ordinary install)."""
    return resources.files(__name__).joinpath("schema", "report.schema.json")


def load_schema() -> dict[str, Any]:
    """The report's JSON Schema (draft 2020-12), freshly parsed."""
    schema: dict[str, Any] = _json.loads(schema_path().read_text(encoding="utf-8"))
    return schema


def render(report: Report, fmt: str, *, changes: Changes | None = None) -> str:
    """The report in one of :data:`FORMATS` (``changes``: marks since the previous run, used by HTML)."""
    if fmt == "json":
        return render_json(report)
    if fmt == "html":
        return render_html(report, changes)
    if fmt == "text":
        return render_text(report, color=False)
    if fmt == "junit":
        return render_junit(report)
    if fmt == "prometheus":
        return render_prometheus(report)
    if fmt == "monitoring":
        return render_monitoring(report)
    if fmt == "sarif":
        return render_sarif(report)
    if fmt == "csv":
        return render_csv(report)
    raise ValueError(f"unknown report format {fmt!r} (choose from {', '.join(FORMATS)})")


def iter_render(report: Report, fmt: str, *, changes: Changes | None = None) -> Iterator[str]:
    """:func:`render` in pieces: JSON and text are produced one result at a time (an audit of 10,000 SIP
    domains has 110,000 results); the other formats come as one piece. The format is checked at once."""
    if fmt == "json":
        return iter_json(report)
    if fmt == "text":
        return iter_text(report, color=False)
    if fmt not in FORMATS:
        raise ValueError(f"unknown report format {fmt!r} (choose from {', '.join(FORMATS)})")
    return iter((render(report, fmt, changes=changes),))


def format_for_path(path: str | os.PathLike[str]) -> str:
    """The format a file name asks for by its suffix (``.json``, ``.html``/``.htm``, ``.txt``, ``.xml`` for
    JUnit, ``.prom`` for Prometheus, ``.sarif``, ``.csv``; monitoring output has no suffix of its own)."""
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


def write_report(
    report: Report, path: str | os.PathLike[str], fmt: str | None = None, *, changes: Changes | None = None
) -> Path:
    """Write the report to ``path`` atomically and return the path.

    ``fmt`` is one of :data:`FORMATS`; ``None`` takes it from the file's suffix. Parent directories are
    created. The text goes to a temporary file in the same directory, which then replaces ``path`` in one
    step (:func:`os.replace`): a reader sees the old report or the new one, never half of one.
    The file gets the mode of the file it replaces, or the default for new files (0666 minus the umask).
    """
    target = Path(path)
    fmt = format_for_path(target) if fmt is None else fmt
    pieces = iter_render(report, fmt, changes=changes)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = target.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = 0o666 & ~_umask()
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            for piece in pieces:
                fh.write(piece.encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())
        tmp.chmod(mode)
        tmp.replace(target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return target
