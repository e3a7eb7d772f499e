"""The plugin host: builds a plugin manager and collects what plugins register.

Built-in plugins are ordinary plugins listed in :data:`DEFAULT_PLUGINS`; they use only the
public API. Third-party plugins come from the ``lyncready`` entry-point group (unless
``LYNCREADY_DISABLE_PLUGIN_AUTOLOAD`` is set), from ``--plugins-dir`` (every ``*.py`` file there
is loaded as a one-off plugin), or as objects passed by a Python caller.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import traceback
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy

from . import hookspecs
from ._version import __version__
from .checks import Check, TargetSource, validate_meta
from .facts import FactKey, Probe
from .model import PluginInfo

ENTRY_POINT_GROUP = "lyncready"
DISABLE_AUTOLOAD_ENV = "LYNCREADY_DISABLE_PLUGIN_AUTOLOAD"

DEFAULT_PLUGINS: tuple[str, ...] = (
    "lyncready.plugins.probes",
    "lyncready.plugins.targets",
    "lyncready.plugins.dhcp",
    "lyncready.plugins.dns_srv",
    "lyncready.plugins.ntp",
    "lyncready.plugins.web",
    "lyncready.plugins.tls",
)

HOOKS = ("register_checks", "register_probes", "register_target_sources")


class PluginLoadError(Exception):
    pass


@dataclass
class PluginProblem:
    """A plugin that could not be loaded or whose registration failed: reported, never fatal."""

    plugin: str
    message: str
    detail: str = ""


def make_plugin_manager(
    *,
    plugins_dir: str | os.PathLike[str] | None = None,
    extra_plugins: Sequence[Any] = (),
    autoload: bool | None = None,
    builtins: bool = True,
) -> tuple[pluggy.PluginManager, list[PluginProblem]]:
    """A new plugin manager (no global state: each audit may have its own set of plugins)."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    problems: list[PluginProblem] = []
    if builtins:
        for name in DEFAULT_PLUGINS:
            try:
                pm.register(importlib.import_module(name), name)
            except Exception as exc:  # a broken install must still run the rest and say what is missing
                problems.append(
                    PluginProblem(
                        name, f"cannot load built-in plugin: {type(exc).__name__}: {exc}", traceback.format_exc()
                    )
                )
    if autoload is None:
        autoload = not os.environ.get(DISABLE_AUTOLOAD_ENV)
    if autoload:
        try:
            pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
        except Exception as exc:
            problems.append(
                PluginProblem(
                    "entry points",
                    f"loading '{ENTRY_POINT_GROUP}' entry points failed: {exc}",
                    traceback.format_exc(),
                )
            )
    if plugins_dir is not None:
        problems.extend(load_plugins_dir(pm, Path(plugins_dir)))
    for obj in extra_plugins:
        name = getattr(obj, "__name__", None) or type(obj).__name__
        if pm.is_registered(obj):
            continue
        try:
            pm.register(obj, name if pm.get_plugin(name) is None else None)
        except Exception as exc:
            problems.append(PluginProblem(str(name), f"cannot register plugin: {exc}"))
    return pm, problems


def load_plugins_dir(pm: pluggy.PluginManager, directory: Path) -> list[PluginProblem]:
    if not directory.is_dir():
        raise PluginLoadError(f"--plugins-dir {directory}: not a directory")
    problems = []
    for path in sorted(directory.glob("*.py")):
        modname = f"lyncready_plugins_dir.{path.stem}"
        try:
            spec = importlib.util.spec_from_file_location(modname, path)
            if spec is None or spec.loader is None:
                raise PluginLoadError("not importable")
            mod = importlib.util.module_from_spec(spec)
            sys.modules[modname] = mod
            spec.loader.exec_module(mod)
            pm.register(mod, f"{path.name}")
        except Exception as exc:
            sys.modules.pop(modname, None)
            problems.append(
                PluginProblem(
                    path.name,
                    f"cannot load plugin {path}: {type(exc).__name__}: {exc}",
                    traceback.format_exc(),
                )
            )
    return problems


@dataclass
class Registry:
    """Everything the plugins registered, validated and stamped with the plugin's name."""

    checks: dict[str, Check] = field(default_factory=dict)
    probes: dict[type[FactKey[Any]], Probe] = field(default_factory=dict)
    sources: list[TargetSource] = field(default_factory=list)
    plugins: list[PluginInfo] = field(default_factory=list)
    problems: list[PluginProblem] = field(default_factory=list)

    @classmethod
    def collect(cls, pm: pluggy.PluginManager, problems: Iterable[PluginProblem] = ()) -> Registry:
        reg = cls(problems=list(problems))
        for hook in HOOKS:
            for impl in getattr(pm.hook, hook).get_hookimpls():  # registration order
                reg._call(hook, impl.plugin_name, impl.function)
        reg.plugins = describe_plugins(pm)
        return reg

    def _call(self, hook: str, plugin: str, function: Any) -> None:
        def register_check(obj: Check) -> None:
            if not isinstance(obj, Check):
                raise TypeError(f"register() takes a lyncready.Check, not {type(obj).__name__}")
            problems = validate_meta(obj.meta)
            if problems:
                raise ValueError(f"check {obj.meta.id!r}: " + "; ".join(problems))
            if obj.id in self.checks:
                raise ValueError(f"check id {obj.id!r} is already registered by {self.checks[obj.id].plugin}")
            self.checks[obj.id] = Check(obj.meta, obj.func, plugin)

        def register_probe(key_type: type[FactKey[Any]], probe: Probe) -> None:
            if not (isinstance(key_type, type) and issubclass(key_type, FactKey)):
                raise TypeError(f"register() takes a FactKey subclass, not {key_type!r}")
            if not callable(probe):
                raise TypeError(f"probe for {key_type.__name__} is not callable")
            self.probes[key_type] = probe  # a later plugin may replace a probe (e.g. a vendor's DHCP)

        def register_source(obj: TargetSource) -> None:
            if not isinstance(obj, TargetSource):
                raise TypeError(f"register() takes a lyncready.TargetSource, not {type(obj).__name__}")
            self.sources.append(TargetSource(obj.kind, obj.name, obj.func, obj.fallback, plugin))

        register = {
            "register_checks": register_check,
            "register_probes": register_probe,
            "register_target_sources": register_source,
        }[hook]
        try:
            function(register=register)
        except Exception as exc:
            self.problems.append(
                PluginProblem(plugin, f"{hook} failed: {type(exc).__name__}: {exc}", traceback.format_exc())
            )


def describe_plugins(pm: pluggy.PluginManager) -> list[PluginInfo]:
    dists = {id(plugin): dist for plugin, dist in pm.list_plugin_distinfo()}
    out = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:
            continue
        hooks = tuple(sorted(h.name for h in (pm.get_hookcallers(plugin) or [])))
        dist = dists.get(id(plugin))
        if name in DEFAULT_PLUGINS:
            version, source = __version__, "builtin"
        elif dist is not None:
            version, source = str(dist.version), "entrypoint"
        elif name.endswith(".py"):
            version, source = "", "plugins-dir"
        else:
            version = str(getattr(plugin, "__version__", "")) if isinstance(plugin, ModuleType) else ""
            source = "explicit"
        out.append(PluginInfo(name=name, version=version, hooks=hooks, source=source))
    return out


def load_registry(
    *,
    plugins_dir: str | os.PathLike[str] | None = None,
    extra_plugins: Sequence[Any] = (),
    autoload: bool | None = None,
) -> Registry:
    pm, problems = make_plugin_manager(plugins_dir=plugins_dir, extra_plugins=extra_plugins, autoload=autoload)
    return Registry.collect(pm, problems)
