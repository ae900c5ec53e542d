"""cab (CodingAgentBench): run terminal coding agents on coding tasks and score them.

Plugins import :data:`hookimpl` and every record they build or read from here;
the helpers scorers share are in :mod:`cab_core.scoring`, the pytest fixtures for
plugin authors in :mod:`cab_core.testing`.
"""

import importlib

__version__ = "0.1.0"

# hookimpl and the records are imported on first use (PEP 562): ``cab --help`` and
# ``cab --version`` need neither pluggy nor the hundred attrs classes of :mod:`.models`
# (issue 16: start-up); ``from cab_core import hookimpl, Task`` works as before.
_FROM_HOOKSPECS = ("hookimpl",)


def __getattr__(name: str):
    if name in _FROM_HOOKSPECS:
        module = importlib.import_module(".hookspecs", __name__)
    elif name in __all__:
        module = importlib.import_module(".models", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list:
    return sorted(set(globals()) | set(__all__))


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
