"""Building the plugin manager: specs first, then entry points one by one, then the core's defaults.

A plugin that fails to import or to register is recorded with a one-line reason and
skipped; every other plugin still loads (``CAB_STRICT_PLUGINS=1`` re-raises instead).
The core's own plugins (:data:`DEFAULT_PLUGINS`: the sandboxes and the executors) load
by module name in the same failure-isolating loop, as datasette's ``DEFAULT_PLUGINS``
and tox's internal plugins do.  ``CAB_LOAD_PLUGINS`` (comma-separated names,
allow-list) and ``CAB_DISABLE_PLUGINS`` (block-list) choose which entry points load;
``CAB_TRACE_HOOKS=1`` prints every hook call (every call goes through the manager,
see :func:`cab_core.registry.call_each`).

An entry-point name claimed by two distributions is an error naming both: neither
loads (a silently dropped second ``pi`` would run the wrong agent under its name).
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
import types
from typing import Iterable, Optional

import attrs
import pluggy

from . import entrypoints, hookspecs
from .entrypoints import EntryPoint
from .errors import DuplicateNameError, UnknownNameError, one_line
from .hookspecs import hookimpl

ENTRY_POINT_GROUP = "cab"
_ABSENT = object()
#: What pluggy can take a hook implementation from (anything else it skips).
_HOOKABLE = (types.FunctionType, types.MethodType, staticmethod, classmethod)

#: The core's own plugins: (plugin name, module), registered after the entry points.
DEFAULT_PLUGINS: tuple[tuple[str, str], ...] = (
    ("cab.sandbox.local", "cab_core.sandbox.local"),
    ("cab.sandbox.docker", "cab_core.sandbox.docker"),
    ("cab.executors", "cab_core.sweep.executors"),
)


@attrs.define
class PluginInfo:
    """What ``cab plugins`` shows for one plugin."""

    name: str
    distribution: Optional[str] = None
    version: Optional[str] = None
    module: Optional[str] = None
    status: str = "loaded"  # loaded | failed | disabled
    error: Optional[str] = None
    hooks: list = attrs.field(factory=list)
    traceback: Optional[str] = None


class PluginManager(pluggy.PluginManager):
    """pluggy's manager plus the load report cab shows in ``cab plugins``."""

    def __init__(self) -> None:
        super().__init__("cab")
        self.add_hookspecs(hookspecs)
        self.load_report: dict[str, PluginInfo] = {}

    def parse_hookimpl_opts(self, plugin, name: str):
        """pluggy's answer, without its descriptor-safe lookup for a module's plain attributes.

        ``register`` asks about every name of a plugin's ``dir()``; for a module most are
        classes, constants and imported modules, and pluggy's ``inspect.getattr_static``
        for each was half of registering the plugins (issue 16).  A module's own attribute
        is its ``__dict__`` entry (no descriptor runs for it): if that is not a function,
        method, staticmethod or classmethod, pluggy would find no hook there either.
        """
        if isinstance(plugin, types.ModuleType) and not name.startswith("__"):
            value = vars(plugin).get(name, _ABSENT)
            if value is not _ABSENT and not isinstance(value, _HOOKABLE):
                return None
        return super().parse_hookimpl_opts(plugin, name)

    def plugin_infos(self) -> list[PluginInfo]:
        """Every plugin known: loaded ones with their hooks, failed ones with their reason."""
        infos = dict(self.load_report)
        for name, plugin in self.list_name_plugin():
            if plugin is None:
                continue
            info = infos.setdefault(name, PluginInfo(name=name, module=getattr(plugin, "__name__", None)))
            info.hooks = sorted(h.name for h in self.get_hookcallers(plugin) or [])
        return sorted(infos.values(), key=lambda i: i.name)


def _names(var: str) -> Optional[set[str]]:
    value = os.environ.get(var)
    if value is None:
        return None
    return {n.strip() for n in value.split(",") if n.strip()}


def _dist_name(ep) -> Optional[str]:
    return ep.distribution


def iter_entry_points() -> Iterable[tuple[EntryPoint, list[str]]]:
    """Entry points of the ``cab`` group, each with every distribution that claims its name.

    The same distribution seen twice on ``sys.path`` counts once; two different
    distributions claiming one name give a list of two (the caller refuses both).
    They are read through :mod:`cab_core.entrypoints` (kept while nothing is installed
    or removed).
    """
    claims: dict[str, list[EntryPoint]] = {}
    for ep in entrypoints.entry_points(ENTRY_POINT_GROUP):
        known = claims.setdefault(ep.name, [])
        if not any(_dist_name(k) == _dist_name(ep) and k.value == ep.value for k in known):
            known.append(ep)
    for name, eps in claims.items():
        yield eps[0], [_dist_name(e) or e.value for e in eps]


def _load_one(pm: PluginManager, info: PluginInfo, load, strict: bool) -> None:
    """Register what ``load()`` returns under ``info.name``; a failure is recorded, never raised (unless strict)."""
    try:
        plugin = load()
        if not pm.is_registered(plugin):  # a test may have registered a default module itself
            pm.register(plugin, name=info.name)
    except Exception as exc:  # a broken plugin must not take the CLI down
        if strict:
            raise
        info.status = "failed"
        info.error = one_line(exc)
        info.traceback = traceback.format_exc()
        print(f"cab: warning: plugin {info.name!r} failed to load: {info.error}", file=sys.stderr)


def _warn_unknown_names(found, lists: dict, strict: bool) -> None:
    """A name in CAB_LOAD_PLUGINS / CAB_DISABLE_PLUGINS that no entry point has is a typo: one warning line each."""
    names = [ep.name for ep, _ in found]
    for variable, chosen in lists.items():
        for name in sorted((chosen or set()) - set(names)):
            error = UnknownNameError("plugin", name, names)
            if strict:
                raise error
            print(f"cab: warning: {variable}: {error}", file=sys.stderr)


def load_entry_points(pm: PluginManager, *, strict: Optional[bool] = None, only: Optional[set[str]] = None) -> None:
    """Load every ``cab`` entry point on its own, recording failures instead of dying.

    ``only`` (tests): load just these names, an unknown one being an error that lists the available.
    """
    strict = _strict(strict)
    allow = _names("CAB_LOAD_PLUGINS") if only is None else set(only)
    block = _names("CAB_DISABLE_PLUGINS") or set()
    found = list(iter_entry_points())
    missing = sorted((allow or set()) - {ep.name for ep, _ in found}) if only is not None else []
    if missing:
        raise UnknownNameError("plugin", missing[0], [ep.name for ep, _ in found])
    if only is None:
        _warn_unknown_names(found, {"CAB_LOAD_PLUGINS": allow, "CAB_DISABLE_PLUGINS": block}, strict)
    for ep, owners in found:
        info = PluginInfo(name=ep.name, distribution=ep.distribution, version=ep.version, module=ep.value)
        pm.load_report[ep.name] = info
        if (allow is not None and ep.name not in allow) or ep.name in block:
            info.status = "disabled"
            continue
        if len(owners) > 1:
            info.status, info.distribution = "failed", ", ".join(owners)
            info.error = f"plugin name {ep.name!r} is claimed by both {owners[0]!r} and {owners[1]!r}; uninstall one"
            if strict:
                raise DuplicateNameError(info.error)
            print(f"cab: warning: {info.error}", file=sys.stderr)
            continue
        _load_one(pm, info, ep.load, strict)


def load_defaults(pm: PluginManager, *, strict: Optional[bool] = None) -> None:
    """Register the core's own plugins by module name, in the same isolated way as entry points."""
    strict = _strict(strict)
    for name, module in DEFAULT_PLUGINS:
        if pm.has_plugin(name):
            continue
        info = PluginInfo(name=name, distribution="cab-core", module=module)
        pm.load_report[name] = info
        _load_one(pm, info, lambda module=module: importlib.import_module(module), strict)


def _strict(strict: Optional[bool]) -> bool:
    return os.environ.get("CAB_STRICT_PLUGINS") == "1" if strict is None else strict


def get_plugin_manager(*, entry_points: bool = True, plugins: Iterable[object] = ()) -> PluginManager:
    """A plugin manager with cab's specs, the entry-point plugins and the core defaults.

    Tests pass ``entry_points=False`` and their own ``plugins`` for an isolated manager.
    """
    pm = PluginManager()
    if os.environ.get("CAB_TRACE_HOOKS") == "1":
        pm.trace.root.setwriter(lambda msg: print(msg, end="", file=sys.stderr))
        pm.enable_tracing()
    if entry_points:
        load_entry_points(pm)
    for plugin in plugins:
        pm.register(plugin)
    load_defaults(pm)
    pm.check_pending()
    return pm


__all__ = ["DEFAULT_PLUGINS", "ENTRY_POINT_GROUP", "PluginInfo", "PluginManager", "get_plugin_manager", "hookimpl",
           "iter_entry_points", "load_defaults", "load_entry_points"]
