"""Errors a user can cause, each rendered as one line naming what is wrong."""

from __future__ import annotations

from typing import Iterable


class CabError(Exception):
    """An error the user can fix; the CLI prints ``Error: <message>`` and exits 2."""

    exit_code = 2


class UnknownNameError(CabError):
    """A name (adapter, scorer, task, sandbox, ...) that nothing registered."""

    def __init__(self, kind: str, name: str, available: Iterable[str]):
        names = sorted(available)
        shown = ", ".join(names) if names else "none"
        super().__init__(f"unknown {kind} {name!r} (available: {shown})")
        self.kind, self.name, self.available = kind, name, names


class DuplicateNameError(CabError):
    """Two plugins registered a record under the same name."""


class TaskError(CabError):
    """A task folder or manifest is malformed."""


class PluginError(CabError):
    """A plugin raised inside a hook; the message names the plugin."""


class InfraError(Exception):
    """The harness or an endpoint failed, not the agent: the cell is an infrastructure error."""


def one_line(exc: BaseException, *, prefix: str = "", bare: bool = False) -> str:
    """``TypeName: first line of the message`` (just the type name when the message is empty).

    The one exception-line helper: every place that reports an exception in one line
    (a plugin that failed to load, a scorer or hook that raised, an executor failure) uses it.
    ``bare``: the first line of the message alone (still the type name when it is empty),
    for errors whose message already says what went wrong (a user's file that does not parse).
    """
    text = str(exc).strip().splitlines()
    if bare:
        line = text[0] if text else type(exc).__name__
    else:
        line = f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
    return f"{prefix}{line}"
