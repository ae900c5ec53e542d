"""The records cab passes around and writes: frozen, keyword-only attrs classes.

Everything a cell page shows is in :class:`CellResult`; everything else here is a
piece of it or a record a plugin hands to the core.  Serialise with
:mod:`cab_core.serialization`, never by hand.

The records live in one module per concern (:mod:`.base`, :mod:`.task`,
:mod:`.launch`, :mod:`.record`, :mod:`.axis`, :mod:`.cell`); import them from here.
"""

from __future__ import annotations

from .base import Mount, SCHEMA_VERSION, STATUS_INFRA_ERROR, STATUS_OK, to_mounts, utcnow
from .task import Task, TaskSource
from .launch import Adapter, AdapterOption, AgentPlugin, Executor, LaunchContext, LaunchSpec, ProcessResult, Sandbox
from .record import CellId, ModelCall, Span, ToolCall
from .axis import AGGREGATIONS, CARDS, AxisScore, DIRECTIONS, FORMATS, FileChanges, ScoreContext, Scorer
from .cell import CellResult

__all__ = [
    "Mount",
    "SCHEMA_VERSION",
    "STATUS_INFRA_ERROR",
    "STATUS_OK",
    "to_mounts",
    "utcnow",
    "Task",
    "TaskSource",
    "Adapter",
    "AdapterOption",
    "AgentPlugin",
    "Executor",
    "LaunchContext",
    "LaunchSpec",
    "ProcessResult",
    "Sandbox",
    "CellId",
    "ModelCall",
    "Span",
    "ToolCall",
    "AGGREGATIONS",
    "CARDS",
    "AxisScore",
    "DIRECTIONS",
    "FORMATS",
    "FileChanges",
    "ScoreContext",
    "Scorer",
    "CellResult",
]
