"""lyncready: audit whether a network is ready for Lync / Skype for Business desk phones.

Public API::

    import lyncready
    report = lyncready.audit(domains=["contoso.com"], nameservers=["10.0.0.5"])
    print(report.exit_code, report.summary)

Import cost is kept small: the network stack (dnspython, ssl, scapy) loads only when an audit runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pluggy

from ._version import __version__
from .checks import Check, CheckContext, Discovery, Findings, TargetSource, check, target_source
from .model import (
    SCHEMA_VERSION,
    CheckMeta,
    ExitCode,
    Finding,
    Level,
    Outcome,
    PluginInfo,
    Report,
    Result,
    Severity,
    Status,
    Summary,
    Target,
    TargetKind,
)
from .options import AuditOptions, Device, OptionError, build_options

hookimpl = pluggy.HookimplMarker("lyncready")
"""Decorate your plugin's hook implementations with this marker."""

__all__ = [
    "SCHEMA_VERSION",
    "AuditOptions",
    "Check",
    "CheckContext",
    "CheckMeta",
    "Device",
    "Discovery",
    "ExitCode",
    "Finding",
    "Findings",
    "Level",
    "OptionError",
    "Outcome",
    "PluginInfo",
    "Report",
    "Result",
    "Severity",
    "Status",
    "Summary",
    "Target",
    "TargetKind",
    "TargetSource",
    "__version__",
    "audit",
    "audit_async",
    "build_options",
    "check",
    "hookimpl",
    "target_source",
]


async def audit_async(
    options: AuditOptions | None = None,
    *,
    plugins: Sequence[Any] = (),
    plugins_dir: str | None = None,
    autoload: bool | None = None,
    **kwargs: Any,
) -> Report:
    """Run an audit and return its :class:`Report`.

    Give either ready :class:`AuditOptions` or the keyword arguments of :func:`build_options`
    (``domains=[...], nameservers=["10.0.0.5:53"], web_fqdns=[...], ntp_servers=[...], ca_bundle=...,
    device="lpe", checks=[...], skip=[...], timeout=3.0, concurrency=64, ...``).
    ``plugins`` are extra plugin objects (modules or instances with ``@hookimpl`` functions).
    """
    from .host import load_registry
    from .runner import run_audit

    if options is None:
        options = build_options(**kwargs)
    elif kwargs:
        raise TypeError("give either options or keyword arguments, not both")
    registry = load_registry(plugins_dir=plugins_dir, extra_plugins=plugins, autoload=autoload)
    return await run_audit(options, registry)


def audit(options: AuditOptions | None = None, **kwargs: Any) -> Report:
    """The synchronous form of :func:`audit_async` (runs its own event loop: uvloop when installed)."""
    from .loop import run

    return run(audit_async(options, **kwargs))
