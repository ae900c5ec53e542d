"""Calling hooks and collecting the records plugins provide, tagging each with its plugin, rejecting duplicates.

:func:`call_each` is the one way the core calls a hook (through pluggy, one plugin
at a time); :class:`Registry` builds a :class:`Collection` per record kind from the
provider hooks; :func:`call_plugin` calls a record's function and names the plugin
when it raises.
"""

from __future__ import annotations

from typing import Any, Generic, Iterator, Optional, TypeVar

import attrs

from .errors import CabError, DuplicateNameError, PluginError, UnknownNameError, one_line
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


@attrs.frozen(kw_only=True)
class HookCall:
    """What one plugin's implementation of a hook returned, or the one line it raised.

    ``error`` is ``Type: message``; ``culprit`` the plugin that raised (a wrapper may);
    :attr:`problem` the full line naming both.
    """

    hook: str
    plugin: str
    value: Any = None
    error: Optional[str] = None
    culprit: Optional[str] = None

    @property
    def problem(self) -> Optional[str]:
        return None if self.error is None else f"plugin {self.culprit or self.plugin!r} raised in {self.hook}: {self.error}"


def _culprit(exc: BaseException, impls, default: str, pm: PluginManager) -> str:
    """The plugin whose implementation raised: the innermost hook function in the traceback."""
    codes = {getattr(i.function, "__code__", None): i.plugin for i in impls}
    culprit = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code in codes:
            culprit = codes[tb.tb_frame.f_code]
        tb = tb.tb_next
    return default if culprit is None else (pm.get_name(culprit) or repr(culprit))


def call_each(pm: PluginManager, hook_name: str, **kwargs) -> list[HookCall]:
    """Call ``hook_name`` through the manager once per implementing plugin, isolating failures.

    The one way the core calls a hook.  Each call is a pluggy subset call holding one
    implementation and every wrapper, so tracing (``CAB_TRACE_HOOKS=1``) sees it,
    ``@hookimpl(wrapper=True)`` and ``hookwrapper=True`` implementations wrap it, and an
    exception (or ``SystemExit``) in one plugin becomes that plugin's :class:`HookCall`
    ``error`` (naming the wrapper when the wrapper raised) while the others still run.
    Results come in pluggy's call order (last registered first).
    """
    hook = getattr(pm.hook, hook_name)
    impls = hook.get_hookimpls()
    wrappers = [i for i in impls if i.hookwrapper or i.wrapper]
    calls = []
    if len(wrappers) == len(impls):  # nobody implements it: still one traced call, so CAB_TRACE_HOOKS shows it
        try:
            hook(**kwargs)
        except (Exception, SystemExit) as exc:
            culprit = _culprit(exc, impls, "?", pm)
            calls.append(HookCall(hook=hook_name, plugin=culprit, error=one_line(exc), culprit=culprit))
    for name, caller in _callers(pm, hook_name, impls, wrappers):
        try:
            results = caller(**kwargs)
        except (Exception, SystemExit) as exc:  # one plugin must not stop the others (or the run)
            calls.append(HookCall(hook=hook_name, plugin=name, error=one_line(exc),
                                  culprit=_culprit(exc, impls, name, pm)))
            continue
        calls.append(HookCall(hook=hook_name, plugin=name, value=results[0] if results else None))
    return calls


def _callers(pm: PluginManager, hook_name: str, impls: list, wrappers: list) -> list[tuple[str, Any]]:
    """(plugin name, subset caller holding that one implementation and every wrapper), in pluggy's call
    order; made once per set of implementations (a span's hook is called ~10 times a cell)."""
    cache = pm.__dict__.setdefault("_cab_callers", {})
    key = (hook_name, tuple(impls))
    callers = cache.get(key)
    if callers is None:
        callers = []
        for impl in reversed(impls):
            if impl in wrappers:
                continue
            others = [i.plugin for i in impls if i is not impl and i not in wrappers]
            callers.append((pm.get_name(impl.plugin) or repr(impl.plugin),
                            pm.subset_hook_caller(hook_name, remove_plugins=others)))
        cache[key] = callers
    return callers


class Registry:
    """Lazily calls each provider hook once (through :func:`call_each`) and keeps the records by name."""

    def __init__(self, pm: PluginManager):
        self.pm = pm

    def _collect(self, hook_name: str, kind: str) -> Collection:
        records: dict = {}
        owners: dict[str, str] = {}
        failures: dict[str, str] = {}
        for call in call_each(self.pm, hook_name):
            provided = call.value or []
            if call.error is None and not all(hasattr(r, "name") for r in _as_list(provided)):
                call = attrs.evolve(call, error=f"returned something that is not a list of records: {provided!r}"[:200])
            if call.error is not None:
                failures[call.plugin] = call.error if call.culprit in (None, call.plugin) else call.problem
                continue
            for record in _as_list(provided):
                name = record.name
                if name in records:
                    raise DuplicateNameError(
                        f"{kind} {name!r} is registered by both {owners[name]!r} and {call.plugin!r}"
                    )
                if hasattr(record, "plugin") and not record.plugin:
                    record = attrs.evolve(record, plugin=call.plugin)
                records[name] = record
                owners[name] = call.plugin
        return Collection(kind, records, failures)

    #: attribute -> (provider hook, what one record is called in messages)
    KINDS = {"adapters": ("cab_adapters", "adapter"), "scorers": ("cab_scorers", "scorer"),
             "task_sources": ("cab_task_sources", "task format"), "sandboxes": ("cab_sandboxes", "sandbox"),
             "agent_plugins": ("cab_agent_plugins", "agent plugin"), "executors": ("cab_executors", "executor")}

    adapters: Collection
    scorers: Collection
    task_sources: Collection
    sandboxes: Collection
    agent_plugins: Collection
    executors: Collection

    def __getattr__(self, attribute: str) -> Collection:
        """A provider hook's :class:`Collection`, collected on first use and kept (see :data:`KINDS`)."""
        if attribute not in Registry.KINDS:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {attribute!r}")
        collection = self._collect(*Registry.KINDS[attribute])
        setattr(self, attribute, collection)
        return collection

    def scorers_in_order(self) -> list:
        """The scorers as every view shows them: by ``order``, then name (aggregates last at equal order)."""
        return sorted(self.scorers, key=lambda s: (s.order, s.aggregate, s.name))

    def notify(self, hook_name: str, **kwargs) -> list[str]:
        """Call a lifecycle hook on every plugin; return one line per plugin that raised."""
        return [call.problem for call in call_each(self.pm, hook_name, **kwargs) if call.error]


def _as_list(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def check_options(adapter, options: dict) -> None:
    """``-o KEY=VALUE`` options against the adapter's declared :class:`AdapterOption` list.

    An unknown key is an error listing the known ones; a value that does not parse as
    the option's type is an error naming it.  Keys with a dot (``PLUGIN.KEY``) belong
    to agent plugins and are left to them; an adapter that declares nothing takes any key.
    """
    declared = getattr(adapter, "options", None)
    if declared is None:
        return
    known = {o.name: o for o in declared}
    for key, value in options.items():
        if "." in key:
            continue
        if key not in known:
            raise UnknownNameError(f"option of adapter {adapter.name!r}", key, known)
        kind = known[key].type
        try:
            if kind == "int":
                int(value)
            elif kind == "float":
                float(value)
            elif kind == "bool" and str(value).lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                raise ValueError(value)
        except ValueError:
            raise CabError(f"option {key!r} of adapter {adapter.name!r} must be {kind}, got {value!r}") from None


def call_plugin(record, func_name: str, *args, **kwargs):
    """Call ``record.<func_name>`` and turn any exception into a PluginError naming the plugin."""
    func = getattr(record, func_name)
    try:
        return func(*args, **kwargs)
    except PluginError:
        raise
    except Exception as exc:
        raise PluginError(one_line(exc, prefix=f"plugin {record.plugin or '?'!r} ({record.name}) raised in {func_name}: ")) from exc
