"""Every hook cab calls, grouped by the phase in which it is called; both markers live here.

Plugins implement them with ``from cab_core import hookimpl`` (the marker is defined
here, beside the specs, so a core module that implements a hook never imports the
plugin loader).  An implementation may accept fewer arguments than its
specification, so specifications only ever gain arguments; none is ever renamed.
All hooks take keyword arguments only.

Every hook is called through the plugin manager, one plugin at a time
(:func:`cab_core.registry.call_each`), so ``CAB_TRACE_HOOKS=1`` shows every call,
``@hookimpl(wrapper=True)`` wrappers wrap each call, and one plugin raising is
reported with its name without stopping the others.

Provider hooks (``cab_adapters`` and friends) are called once when a command first
needs the registry; each returns a list of records, and the registry tags every
record with the plugin that supplied it.  Lifecycle hooks are notifications: their
return values are ignored, and an exception in one is reported with the plugin's
name without stopping the cell.  No hook is ``firstresult``: no hook asks "who
handles this?" (names choose the record instead).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import pluggy

if TYPE_CHECKING:  # the records, for the annotations only (models imports nothing of ours)
    import click

    from .models import (Adapter, AgentPlugin, CellId, CellResult, Executor, Sandbox, Scorer, Span, Task,
                         TaskSource)

hookspec = pluggy.HookspecMarker("cab")
hookimpl = pluggy.HookimplMarker("cab")

# --------------------------------------------------------------------------- providers


@hookspec
def cab_adapters() -> "Optional[list[Adapter]]":
    """Return the agents this plugin can drive.

    :return: a list of :class:`cab_core.models.Adapter`.
    """


@hookspec
def cab_scorers() -> "Optional[list[Scorer]]":
    """Return the scoring axes this plugin provides.

    :return: a list of :class:`cab_core.models.Scorer`; one per axis.
    """


@hookspec
def cab_task_sources() -> "Optional[list[TaskSource]]":
    """Return the task sources (suites and task formats) this plugin provides.

    :return: a list of :class:`cab_core.models.TaskSource`.
    """


@hookspec
def cab_sandboxes() -> "Optional[list[Sandbox]]":
    """Return the sandboxes this plugin provides (where a cell's commands run).

    :return: a list of :class:`cab_core.models.Sandbox`.
    """


@hookspec
def cab_agent_plugins() -> "Optional[list[AgentPlugin]]":
    """Return launch modifiers that can be stacked on any adapter (``--plugin NAME``).

    :return: a list of :class:`cab_core.models.AgentPlugin`.
    """


@hookspec
def cab_executors() -> "Optional[list[Executor]]":
    """Return the sweep executors this plugin provides (how a sweep's cells are spread out).

    :return: a list of :class:`cab_core.models.Executor`; ``cab sweep --executor NAME`` picks one.
    """


# --------------------------------------------------------------------------- command line


@hookspec
def cab_register_commands(cli: "click.Group") -> None:
    """Add commands to the ``cab`` command line (called once, when the CLI is built).

    :param cli: the ``cab`` :class:`click.Group`; call ``cli.command()`` or ``cli.add_command``.
        A name already taken by a built-in command is left to the built-in.
    """


# --------------------------------------------------------------------------- cell lifecycle


@hookspec
def cab_cell_started(cell: "CellId", task: "Task") -> None:
    """Called when a cell starts, before its work directory is prepared.

    :param cell: the :class:`cab_core.models.CellId` being run.
    :param task: the :class:`cab_core.models.Task`.
    """


@hookspec
def cab_span_finished(cell: "CellId", span: "Span") -> None:
    """Called each time a step of a cell finishes (task_setup, launch, verify, ...).

    :param cell: the :class:`cab_core.models.CellId`.
    :param span: the finished :class:`cab_core.models.Span`, secrets already masked.
    """


@hookspec
def cab_cell_finished(result: "CellResult", path: Path) -> None:
    """Called after a cell's record is written, so results can be exported elsewhere.

    :param result: the :class:`cab_core.models.CellResult`, secrets already masked.
    :param path: the folder the cell was written to.
    """


#: Every hook name, in the order above (the meta-tests read it).
HOOK_NAMES: tuple[str, ...] = tuple(n for n, v in dict(globals()).items() if n.startswith("cab_") and callable(v))

__all__: list[Any] = ["hookspec", "hookimpl", "HOOK_NAMES", *HOOK_NAMES]
