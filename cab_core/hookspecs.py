"""Every hook cab calls, grouped by the phase in which it is called.

Plugins implement them with ``from cab_core import hookimpl``.  An implementation
may accept fewer arguments than its specification, so specifications only ever gain
arguments; none is ever renamed.  All hooks take keyword arguments only.

Provider hooks (``cab_adapters`` and friends) are called once when a command first
needs the registry; each returns a list of records, and the registry tags every
record with the plugin that supplied it.  Lifecycle hooks are notifications: their
return values are ignored, and an exception in one is reported with the plugin's
name without stopping the cell.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("cab")

# --------------------------------------------------------------------------- providers


@hookspec
def cab_adapters():
    """Return the agents this plugin can drive.

    :return: a list of :class:`cab_core.models.Adapter`.
    """


@hookspec
def cab_scorers():
    """Return the scoring axes this plugin provides.

    :return: a list of :class:`cab_core.models.Scorer`; one per axis.
    """


@hookspec
def cab_task_sources():
    """Return the task sources (suites and task formats) this plugin provides.

    :return: a list of :class:`cab_core.models.TaskSource`.
    """


@hookspec
def cab_sandboxes():
    """Return the sandboxes this plugin provides (where a cell's commands run).

    :return: a list of :class:`cab_core.models.Sandbox`.
    """


@hookspec
def cab_agent_plugins():
    """Return launch modifiers that can be stacked on any adapter (``--plugin NAME``).

    :return: a list of :class:`cab_core.models.AgentPlugin`.
    """


# --------------------------------------------------------------------------- cell lifecycle


@hookspec
def cab_cell_started(cell, task):
    """Called when a cell starts, before its work directory is prepared.

    :param cell: the :class:`cab_core.models.CellId` being run.
    :param task: the :class:`cab_core.models.Task`.
    """


@hookspec
def cab_span_finished(cell, span):
    """Called each time a step of a cell finishes (task_setup, launch, verify, ...).

    :param cell: the :class:`cab_core.models.CellId`.
    :param span: the finished :class:`cab_core.models.Span`, secrets already masked.
    """


@hookspec
def cab_cell_finished(result, path):
    """Called after a cell's record is written, so results can be exported elsewhere.

    :param result: the :class:`cab_core.models.CellResult`, secrets already masked.
    :param path: the folder the cell was written to.
    """
