"""cab (CodingAgentBench): run terminal coding agents on coding tasks and score them.

Plugins import :data:`hookimpl` and every record they build or read from here;
the helpers scorers share are in :mod:`cab_core.scoring`, the pytest fixtures for
plugin authors in :mod:`cab_core.testing`.
"""

from .lazy import lazy_exports

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

# hookimpl and the records are imported on first use: ``cab --help`` and ``cab --version``
# need neither pluggy nor the hundred attrs classes of :mod:`.models` (issue 16: start-up).
__getattr__, __dir__ = lazy_exports(__name__, {name: ".hookspecs" if name == "hookimpl" else ".models"
                                               for name in __all__}, globals())
