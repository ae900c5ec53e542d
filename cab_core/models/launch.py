"""Launching an agent: what adapters, agent plugins, sandboxes and executors hand to the core."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping, Optional

import attrs

from .base import _dict, _tuple
from .task import Task


@attrs.frozen(kw_only=True)
class LaunchSpec:
    """What to run for one cell, as the adapter built it and agent plugins amended it.

    ``files`` are written before launch: keys starting with ``~/`` go into the
    cell's private HOME, other keys are relative to the work directory.
    ``secret_env`` names environment variables whose values must never be recorded.
    """

    argv: tuple[str, ...] = attrs.field(converter=_tuple)
    env: Mapping[str, str] = attrs.field(factory=dict, converter=_dict)
    files: Mapping[str, str] = attrs.field(factory=dict, converter=_dict)
    image: Optional[str] = None
    pty: bool = True
    expected_changes: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    secret_env: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    applied_plugins: tuple[str, ...] = attrs.field(default=(), converter=_tuple)


@attrs.frozen(kw_only=True)
class Adapter:
    """An agent cab can drive, returned by ``cab_adapters``.

    ``build_launch(ctx)`` returns a :class:`LaunchSpec` for a :class:`LaunchContext`.
    ``final_output(stdout)`` extracts the agent's final answer from its output
    (default: the tail of the output).  ``install(version, prefix)`` installs the agent.
    """

    name: str
    build_launch: Callable[..., LaunchSpec]
    version: str = ""
    description: str = ""
    image: Optional[str] = None
    final_output: Optional[Callable[[str], str]] = None
    install: Optional[Callable[..., Any]] = None
    is_installed: Optional[Callable[..., bool]] = None
    #: ``interactive(child, cast, ctx)`` drives the agent's TUI in ``--mode interactive``:
    #: ``child`` is the pexpect child, ``cast`` the asciicast writer (record typed input with ``cast.input``).
    interactive: Optional[Callable[..., None]] = None
    #: ``agent_tokens(output) -> dict | None``: the agent's own token count, cross-checked against the proxy's.
    agent_tokens: Optional[Callable[[str], Optional[dict]]] = None
    plugin: str = ""
    #: ``mounts(ctx) -> [Mount | path]``: what the agent needs to see inside the sandbox beyond the
    #: system and the task's toolchains, e.g. its own install folder (read-only unless a Mount says so).
    mounts: Optional[Callable[..., Any]] = None
    #: The ``-o KEY=VALUE`` options the adapter reads (:class:`AdapterOption`); an unknown key is
    #: an error listing these.  ``None``: the adapter declares none and takes any key (old plugins).
    options: Optional[tuple["AdapterOption", ...]] = attrs.field(default=None, converter=lambda v: None if v is None else tuple(v))
    #: A shared image recipe (a folder with a Dockerfile) and the build arguments that make it this
    #: adapter's image, used when there is no ``images/<name>/`` recipe beside the adapter's module.
    image_recipe: Optional[Path] = None
    image_args: Mapping[str, str] = attrs.field(factory=dict, converter=_dict)
    #: ``wiring(ctx) -> dict``: the agent's own launch for ``ctx`` before cab's wrappers, with keys
    #: ``argv``, ``env``, ``files`` ({"~/path": text}), ``links`` and ``copies`` ([(from, to)]) and
    #: ``key_env`` (the variable its client reads the key from); ``cab agents wiring`` prints it.
    wiring: Optional[Callable[..., dict]] = None
    #: Regular expressions matching what differs in the agent's requests from one run of the
    #: same cell to the next (Codex's tool outputs carry a random ``Chunk ID`` and the ``Wall
    #: time``): replaced by ``$VOLATILE`` in the request hash, so a cassette replays.
    replay_volatile: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    #: Whether the agent calls the model as a rule: then the recording proxy is serving before the
    #: agent starts, so its first call never waits on the harness's own start (its latency is the
    #: agent's).  False (a shell command as the agent): the proxy starts when a call comes.
    calls_model: bool = True


@attrs.frozen(kw_only=True)
class AdapterOption:
    """One ``-o NAME=VALUE`` option an adapter reads: its type (``str``, ``int``, ``float``, ``bool``), default and help."""

    name: str
    type: str = attrs.field(default="str", validator=attrs.validators.in_(("str", "int", "float", "bool")))
    default: Any = None
    help: str = ""


@attrs.frozen(kw_only=True)
class Executor:
    """A way to spread a sweep's cells out, returned by ``cab_executors`` (``--executor NAME``).

    ``open(spec=, registry=, catalog=, runner=)`` returns an object with ``name``,
    ``slots`` (cells it takes at once), ``submit(opts) -> handle``,
    ``wait(handles, timeout) -> done handles``, ``result(handle) -> summary dict`` and
    ``close(wait=True)``; see :mod:`cab_core.executors`.  ``available()`` returns
    ``None`` when usable, else a one-line reason (e.g. the extra to install).
    """

    name: str
    open: Callable[..., Any]
    description: str = ""
    available: Optional[Callable[[], Optional[str]]] = None
    plugin: str = ""


@attrs.frozen(kw_only=True)
class LaunchContext:
    """Everything an adapter may use to build its launch spec."""

    task: Task
    model: str
    workdir: Path
    home: Path
    base_url: Optional[str]
    api_key: str
    options: Mapping[str, str] = attrs.field(factory=dict, converter=_dict)
    mode: str = "headless"
    #: True when the sandbox supplies the agent (its image): build paths into the agent cache's
    #: layout without requiring the host's install (the sandbox maps them into the image).
    agent_from_image: bool = False
    #: Seconds the agent has (the cell's --timeout); also in the launch env as ``CAB_TIME_LIMIT_S``.
    time_limit_s: Optional[float] = None


@attrs.frozen(kw_only=True)
class AgentPlugin:
    """A launch modifier (one layer of the plugin stack), returned by ``cab_agent_plugins``.

    ``apply(spec, ctx, options)`` returns an amended :class:`LaunchSpec`.
    """

    name: str
    apply: Callable[..., LaunchSpec]
    description: str = ""
    plugin: str = ""


@attrs.frozen(kw_only=True)
class ProcessResult:
    """How a process run by a sandbox ended."""

    exit_code: Optional[int]
    timed_out: bool = False
    output: str = ""
    output_truncated: bool = False
    duration_ms: float = 0.0
    active_ms: Optional[float] = None
    killed_processes: int = 0
    error: Optional[str] = None
    #: Interactive mode: the agent's final answer as its TUI showed it, taken the moment it was
    #: given (before the driver quit the TUI); None when the driver saw no answer.
    answer: Optional[str] = None


@attrs.frozen(kw_only=True)
class Sandbox:
    """An environment that runs commands for a cell, returned by ``cab_sandboxes``.

    ``open(**kw)`` returns a session object with ``run(...) -> ProcessResult``,
    ``describe() -> dict`` and ``close()``; see :mod:`cab_core.sandbox`.
    ``available()`` returns ``None`` when usable, else the reason it is not.
    """

    name: str
    open: Callable[..., Any]
    description: str = ""
    available: Optional[Callable[[], Optional[str]]] = None
    plugin: str = ""
    #: The sandbox runs the adapter's own image, which holds the agent: the host's agent
    #: cache is not needed (the runner skips ``is_installed``; see ``LaunchContext.agent_from_image``).
    provides_agent: bool = False
