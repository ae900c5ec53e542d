"""cab (CodingAgentBench): run terminal coding agents on coding tasks and score them.

Plugins import :data:`hookimpl` and the record types they return from here.
"""

from .models import (
    Adapter,
    AgentPlugin,
    AxisScore,
    CellId,
    CellResult,
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
)
from .plugins import hookimpl

__version__ = "0.1.0"

__all__ = [
    "hookimpl",
    "Adapter",
    "AgentPlugin",
    "AxisScore",
    "CellId",
    "CellResult",
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
]
