"""Shared test configuration: exports the real-server fixtures.

Fixtures (see ``tests/realservers.py``): ``realservers`` (a per-test pool of real servers),
``realservers_module`` (a per-module pool) and ``lab_pki`` (a session-wide CA chain).

pytest puts this folder (not the repository root) on ``sys.path``, so helper modules import by
their own name and the flat ``lyncready/`` folder never shadows the installed package, whose
``lyncready.plugins`` is mapped from ``plugins/``.
"""

from __future__ import annotations

from realservers import lab_pki, realservers, realservers_module

__all__ = ["lab_pki", "realservers", "realservers_module"]
