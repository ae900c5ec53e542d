"""Collecting the records plugins provide, tagging each with its plugin, rejecting duplicates."""

from __future__ import annotations

import functools
from typing import Generic, Iterator, Optional, TypeVar

import attrs

from .errors import DuplicateNameError, PluginError, UnknownNameError
from .plugins import PluginManager

R = TypeVar("R")


class Collection(Generic[R]):
    """The records of one kind (adapters, scorers, ...), by name."""

    def __init__(self, kind: str, records: dict[str, R], failures: dict[str, str]):
        self.kind = kind
        self._records = records
        #: plugin name -> one-line reason its provider hook raised
        self.failures = failures

    def __iter__(self) -> Iterator[R]:
        return iter(self._records[name] for name in sorted(self._records))

    def __len__(self) -> int:
        return len(self._records)

    def __contains__(self, name: str) -> bool:
        return name in self._records

    def names(self) -> list[str]:
        return sorted(self._records)

    def get(self, name: str) -> R:
        """The record called ``name``, or an error listing the available names."""
        try:
            return self._records[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, self._records) from None

    def find(self, name: str) -> Optional[R]:
        return self._records.get(name)


class Registry:
    """Lazily calls each provider hook once and keeps the records by name."""

    def __init__(self, pm: PluginManager):
        self.pm = pm

    def _collect(self, hook_name: str, kind: str) -> Collection:
        records: dict = {}
        owners: dict[str, str] = {}
        failures: dict[str, str] = {}
        hook = getattr(self.pm.hook, hook_name)
        for impl in hook.get_hookimpls():
            plugin_name = self.pm.get_name(impl.plugin) or repr(impl.plugin)
            try:
                provided = impl.function() or []
            except Exception as exc:
                failures[plugin_name] = f"{type(exc).__name__}: {exc}".splitlines()[0]
                continue
            for record in provided:
                name = record.name
                if name in records:
                    raise DuplicateNameError(
                        f"{kind} {name!r} is registered by both {owners[name]!r} and {plugin_name!r}"
                    )
                if hasattr(record, "plugin") and not record.plugin:
                    record = attrs.evolve(record, plugin=plugin_name)
                records[name] = record
                owners[name] = plugin_name
        return Collection(kind, records, failures)

    @functools.cached_property
    def adapters(self) -> Collection:
        return self._collect("cab_adapters", "adapter")

    @functools.cached_property
    def scorers(self) -> Collection:
        return self._collect("cab_scorers", "scorer")

    @functools.cached_property
    def task_sources(self) -> Collection:
        return self._collect("cab_task_sources", "task format")

    @functools.cached_property
    def sandboxes(self) -> Collection:
        return self._collect("cab_sandboxes", "sandbox")

    @functools.cached_property
    def agent_plugins(self) -> Collection:
        return self._collect("cab_agent_plugins", "agent plugin")

    def notify(self, hook_name: str, **kwargs) -> list[str]:
        """Call a lifecycle hook on every plugin; return one line per plugin that raised."""
        problems = []
        hook = getattr(self.pm.hook, hook_name)
        for impl in reversed(hook.get_hookimpls()):
            try:
                impl.function(**{k: v for k, v in kwargs.items() if k in impl.argnames})
            except (Exception, SystemExit) as exc:  # an observer must not end the run
                name = self.pm.get_name(impl.plugin)
                problems.append(f"plugin {name!r} raised in {hook_name}: {type(exc).__name__}: {exc}".splitlines()[0])
        return problems


def call_plugin(record, func_name: str, *args, **kwargs):
    """Call ``record.<func_name>`` and turn any exception into a PluginError naming the plugin."""
    func = getattr(record, func_name)
    try:
        return func(*args, **kwargs)
    except PluginError:
        raise
    except Exception as exc:
        raise PluginError(
            f"plugin {record.plugin or '?'!r} ({record.name}) raised in {func_name}: {type(exc).__name__}: {exc}".splitlines()[0]
        ) from exc
