"""cab (CodingAgentBench): run terminal coding agents on coding tasks and score them.

Plugins import :data:`hookimpl` and every record they build or read from here;
the helpers scorers share are in :mod:`cab_core.scoring`, the pytest fixtures for
plugin authors in :mod:`cab_core.testing`.
"""

from .hookspecs import hookimpl
from .models import (
    AGGREGATIONS,
    DIRECTIONS,
    FORMATS,
    Adapter,
    AdapterOption,
    AgentPlugin,
    AxisScore,
    CellId,
    CellResult,
    Executor,
    FileChanges,
    LaunchContext,
    LaunchSpec,
    ModelCall,
    Mount,
    ProcessResult,
    Sandbox,
    ScoreContext,
    Scorer,
    Span,
    Task,
    TaskSource,
    ToolCall,
)

__version__ = "0.1.0"

__all__ = [
    "hookimpl",
    "AGGREGATIONS",
    "DIRECTIONS",
    "FORMATS",
    "Adapter",
    "AdapterOption",
    "AgentPlugin",
    "AxisScore",
    "CellId",
    "CellResult",
    "Executor",
    "FileChanges",
    "LaunchContext",
    "LaunchSpec",
    "ModelCall",
    "Mount",
    "ProcessResult",
    "Sandbox",
    "ScoreContext",
    "Scorer",
    "Span",
    "Task",
    "TaskSource",
    "ToolCall",
]
