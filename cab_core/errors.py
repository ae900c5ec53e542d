"""Errors a user can cause, each rendered as one line naming what is wrong."""

from __future__ import annotations

from typing import Iterable


class CabError(Exception):
    """An error the user can fix; the CLI prints ``Error: <message>`` and exits 2."""

    exit_code = 2


class UnknownNameError(CabError):
    """A name (adapter, scorer, task, sandbox, ...) that nothing registered."""

    #: Past this many names the list is cut (``... and N more``): a task suite can be long.
    MAX_SHOWN = 20

    def __init__(self, kind: str, name: str, available: Iterable[str]):
        names = sorted(available)
        self.kind, self.name, self.available = kind, name, names
        self.suggestions = close_matches(name, names)
        hint = f", did you mean {' or '.join(repr(s) for s in self.suggestions)}?" if self.suggestions else ""
        shown = ", ".join(names[: self.MAX_SHOWN]) if names else "none"
        if len(names) > self.MAX_SHOWN:
            shown += f", ... and {len(names) - self.MAX_SHOWN} more"
        super().__init__(f"unknown {kind} {name!r}{hint} (available: {shown})")


def close_matches(name: str, names: Iterable[str], n: int = 3) -> list[str]:
    """The names most like ``name`` (a typo, a missing prefix), best first: what "did you mean" offers.

    ``difflib`` ratios on the whole name and, for ids with a ``/`` (tasks, models), on
    the last part, so ``rust-error-handlin`` finds ``polyglot/rust-error-handling``.
    """
    import difflib

    def ratio(a: str, b: str) -> float:
        return difflib.SequenceMatcher(None, a, b).ratio()

    tail = name.rsplit("/", 1)[-1]
    scored = sorted(((max(ratio(name, full), ratio(tail, full.rsplit("/", 1)[-1])), full) for full in names),
                    key=lambda pair: (-pair[0], pair[1]))
    if not scored or scored[0][0] < 0.75:
        return []
    best = scored[0][0]
    return [full for score, full in scored[:n] if score >= 0.75 and score >= best - 0.05]


class DuplicateNameError(CabError):
    """Two plugins registered a record under the same name."""


class TaskError(CabError):
    """A task folder or manifest is malformed."""


class PluginError(CabError):
    """A plugin raised inside a hook; the message names the plugin."""


class ConfigError(CabError):
    """The run is configured wrong (a plugin said so before anything started): no cell is written."""


class InfraError(Exception):
    """The harness or an endpoint failed, not the agent: the cell is an infrastructure error."""


def os_error_line(exc: OSError) -> str:
    """``<path>: <reason>`` for an operating-system error on a path (``<path> -> <other>`` for a rename)."""
    where = str(exc.filename)
    if getattr(exc, "filename2", None) is not None:
        where = f"{where} -> {exc.filename2}"
    reason = exc.strerror or one_line(exc, bare=True)
    return f"{where}: {reason}"


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
