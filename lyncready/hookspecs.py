"""The hook reference: every hook a lyncready plugin may implement.

Hooks are synchronous and only *register* things; the runner owns all network I/O and
concurrency (pluggy has no async support). Each hook receives a ``register`` callback; call it
once per object. The host validates what you register and stamps it with your plugin's name.

A plugin is any module or object with functions decorated by :data:`lyncready.hookimpl`, found
in the ``lyncready`` entry-point group, given with ``--plugins-dir``, or passed to
``lyncready.audit(plugins=[...])``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from .checks import Check, TargetSource
    from .facts import FactKey, Probe

PROJECT = "lyncready"
hookspec = pluggy.HookspecMarker(PROJECT)


# ---------------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------------


@hookspec
def register_checks(register: Callable[[Check], None]) -> None:
    """Register checks.

    :param register: call with each :class:`lyncready.Check` (made with the :func:`lyncready.check`
        decorator). The check's id must be unique across all plugins; a duplicate is refused and
        reported in the audit as an ``error`` result for your plugin.
    """


# ---------------------------------------------------------------------------------------------------
# Facts and probes
# ---------------------------------------------------------------------------------------------------


@hookspec
def register_probes(register: Callable[[type[FactKey[Any]], Probe], None]) -> None:
    """Register probes: the functions that answer one kind of network question.

    :param register: call as ``register(KeyType, probe)`` where ``KeyType`` is a frozen dataclass
        subclassing :class:`lyncready.facts.FactKey` and ``probe`` is ``async def probe(key, ctx) ->
        value``. ``ctx`` is a :class:`lyncready.facts.ProbeContext`: use ``async with ctx.slot(host)``
        around network I/O (it enforces the audit's concurrency limits) and ``ctx.timeout`` as the
        time budget of one exchange. A probe returns failures as values; an exception becomes an
        ``error`` result for every check that needed the fact.
    """


# ---------------------------------------------------------------------------------------------------
# Targets
# ---------------------------------------------------------------------------------------------------


@hookspec
def register_target_sources(register: Callable[[TargetSource], None]) -> None:
    """Register target sources: where the targets of a kind come from.

    :param register: call with each :class:`lyncready.TargetSource` (made with the
        :func:`lyncready.target_source` decorator). Its function awaits facts through a
        :class:`lyncready.CheckContext` and returns a :class:`lyncready.Discovery`. Targets of the same kind,
        name and port found by several sources are merged, keeping every origin.
    """
