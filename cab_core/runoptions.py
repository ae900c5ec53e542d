"""What one cell is asked to do: :class:`RunOptions`, and reading its options.

``cab run``'s flags and a sweep's matrix both become a ``RunOptions``; it never holds
a secret (only the name of the variable holding the key), so it can be recorded and
shipped to a sweep's workers, and :meth:`RunOptions.reproduce_command` prints the
``cab run`` line that reruns the cell.  Options for agent plugins travel in the
adapter's options as ``PLUGIN.KEY=VALUE`` (:func:`plugin_options`).
"""

from __future__ import annotations

import shlex
import time
from pathlib import Path
from typing import Optional

import attrs

from .errors import CabError

@attrs.frozen(kw_only=True)
class RunOptions:
    """What ``cab run`` was asked to do (everything but secrets: those stay in the environment)."""

    adapter: str
    model: str
    task: str
    sweep_id: str = "default"
    trial: int = 1
    endpoint: Optional[str] = None
    api_key_env: Optional[str] = None
    sandbox: str = "local"
    plugins: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    options: dict = attrs.field(factory=dict)
    timeout: float = 600.0
    results: Path = attrs.field(default=Path("results"), converter=Path)
    record_cassette: Optional[Path] = None
    replay_cassette: Optional[Path] = None
    mode: str = "headless"
    score_options: dict = attrs.field(factory=dict)
    #: ``--price MODEL=INPUT,OUTPUT[,CACHED_INPUT]`` values (dollars per million tokens), over the price database.
    prices: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    #: Per-cell budgets the recording proxy enforces (``None``: no limit).
    max_tokens: Optional[int] = None
    max_cost: Optional[float] = None
    max_model_calls: Optional[int] = None

    def reproduce_command(self) -> str:
        """The ``cab run`` command line that reproduces this cell (never a key)."""
        parts = ["cab", "run", "--adapter", self.adapter, "--model", self.model, "--task", self.task]
        if self.endpoint:
            parts += ["--endpoint", self.endpoint]
        if self.api_key_env:
            parts += ["--api-key-env", self.api_key_env]
        if self.sandbox != "local":
            parts += ["--sandbox", self.sandbox]
        for name in self.plugins:
            parts += ["--plugin", name]
        for key, value in self.options.items():
            parts += ["-o", f"{key}={value}"]
        if self.timeout != 600.0:
            parts += ["--timeout", f"{self.timeout:g}"]
        if self.sweep_id != "default":
            parts += ["--sweep-id", self.sweep_id]
        weights = self.score_options.get("composite_weights") or {}
        if weights:
            parts += ["--weights", ",".join(f"{k}={v:g}" for k, v in weights.items())]
        for price in self.prices:
            parts += ["--price", price]
        for flag, value in (("--max-tokens", self.max_tokens), ("--max-cost", self.max_cost),
                            ("--max-model-calls", self.max_model_calls)):
            if value is not None:
                parts += [flag, f"{value:g}"]
        return shlex.join(parts)


def plain_options(options: dict) -> dict:
    """Adapter options: the ones without a ``plugin.`` prefix."""
    return {k: v for k, v in options.items() if "." not in k}


def plugin_options(options: dict, plugin: str) -> dict:
    """The options of agent plugin ``plugin`` (``-o PLUGIN.KEY=VALUE``), without the prefix."""
    prefix = plugin + "."
    return {k[len(prefix):]: v for k, v in options.items() if k.startswith(prefix)}


def proxy_limits(opts: RunOptions):
    """The recording proxy's byte limits from ``-o proxy.NAME=SIZE`` (bad ones raise a one-line error)."""
    from .proxy import ProxyLimits

    return ProxyLimits.from_options(plugin_options(opts.options, "proxy"))


def deadline_env(timeout: float) -> dict[str, str]:
    """What the agent is told of its time: ``CAB_TIME_LIMIT_S`` and ``CAB_DEADLINE`` (epoch seconds)."""
    return {"CAB_TIME_LIMIT_S": f"{timeout:g}", "CAB_DEADLINE": f"{time.time() + timeout:.0f}"}


def load_replay(path: Optional[Path]):
    """The replay cassette, read before the cell starts: a bad file is the user's error."""
    if path is None:
        return None
    from .cassette import Cassette

    try:
        return Cassette.load(path)
    except (OSError, ValueError) as exc:  # UnicodeDecodeError is a ValueError
        raise CabError(f"cannot replay {path}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
