"""Building the plugin manager: specs first, then entry points one by one, then defaults.

A plugin that fails to import or to register is recorded with a one-line reason and
skipped; every other plugin still loads (``CAB_STRICT_PLUGINS=1`` re-raises instead).
``CAB_LOAD_PLUGINS`` (comma-separated names, allow-list) and ``CAB_DISABLE_PLUGINS``
(block-list) choose which entry points load; ``CAB_TRACE_HOOKS=1`` prints every hook call.
"""

from __future__ import annotations

import os
import sys
import traceback
from importlib import metadata
from typing import Iterable, Optional

import attrs
import pluggy

from . import hookspecs

ENTRY_POINT_GROUP = "cab"
hookimpl = pluggy.HookimplMarker("cab")


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

    def plugin_infos(self) -> list[PluginInfo]:
        """Every plugin known: loaded ones with their hooks, failed ones with their reason."""
        infos = dict(self.load_report)
        for name, plugin in self.list_name_plugin():
            if plugin is None:
                continue
            info = infos.setdefault(name, PluginInfo(name=name, module=getattr(plugin, "__name__", None)))
            info.hooks = sorted(h.name for h in self.get_hookcallers(plugin) or [])
        return sorted(infos.values(), key=lambda i: i.name)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _names(var: str) -> Optional[set[str]]:
    value = os.environ.get(var)
    if value is None:
        return None
    return {n.strip() for n in value.split(",") if n.strip()}


def iter_entry_points() -> Iterable[metadata.EntryPoint]:
    """Entry points of the ``cab`` group, one per distribution/name."""
    seen = set()
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in seen:
            continue
        seen.add(ep.name)
        yield ep


def load_entry_points(pm: PluginManager, *, strict: Optional[bool] = None) -> None:
    """Load every ``cab`` entry point on its own, recording failures instead of dying."""
    if strict is None:
        strict = os.environ.get("CAB_STRICT_PLUGINS") == "1"
    allow = _names("CAB_LOAD_PLUGINS")
    block = _names("CAB_DISABLE_PLUGINS") or set()
    for ep in iter_entry_points():
        dist = getattr(ep, "dist", None)
        info = PluginInfo(
            name=ep.name,
            distribution=dist.metadata["Name"] if dist else None,
            version=dist.version if dist else None,
            module=ep.value,
        )
        pm.load_report[ep.name] = info
        if (allow is not None and ep.name not in allow) or ep.name in block:
            info.status = "disabled"
            continue
        try:
            plugin = ep.load()
            pm.register(plugin, name=ep.name)
        except Exception as exc:  # a broken plugin must not take the CLI down
            if strict:
                raise
            info.status = "failed"
            info.error = _one_line(exc)
            info.traceback = traceback.format_exc()
            print(f"cab: warning: plugin {ep.name!r} failed to load: {info.error}", file=sys.stderr)
    pm.check_pending()


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
    from .sandbox import docker, local  # the core's own default plugins

    for name, plugin in (("cab.sandbox.local", local), ("cab.sandbox.docker", docker)):
        if not pm.is_registered(plugin):
            pm.register(plugin, name=name)
    pm.check_pending()
    return pm
