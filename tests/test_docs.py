"""Documentation that cannot drift: the catalogue is generated, every hook is documented."""

from __future__ import annotations

import inspect
from pathlib import Path

from lyncready import hookspecs
from lyncready.catalogue import render_markdown
from lyncready.host import load_registry

ROOT = Path(__file__).resolve().parent.parent


def test_committed_catalogue_matches_the_check_metadata() -> None:
    expected = render_markdown(load_registry(autoload=False))
    committed = (ROOT / "docs" / "checks.md").read_text()
    assert committed == expected, "docs/checks.md is stale: run `lyncready checks --markdown > docs/checks.md`"


def test_every_check_has_a_catalogue_section() -> None:
    text = (ROOT / "docs" / "checks.md").read_text()
    for cid in load_registry(autoload=False).checks:
        assert f"\n## {cid}\n" in text


def test_every_hook_is_documented_in_the_plugin_guide() -> None:
    guide = (ROOT / "docs" / "plugins.md").read_text()
    hooks = [name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("register_")]
    assert hooks, "no hookspecs found"
    for name in hooks:
        assert f"### `{name}(register)`" in guide, f"hook {name} is not documented in docs/plugins.md"
        assert (getattr(hookspecs, name).__doc__ or "").strip(), f"hook {name} has no docstring"
