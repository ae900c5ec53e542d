"""The records cab passes around and writes: frozen, keyword-only attrs classes.

Everything a cell page shows is in :class:`CellResult`; everything else here is a
piece of it or a record a plugin hands to the core.  Serialise with
:mod:`cab_core.serialization`, never by hand.
"""

from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

import attrs

SCHEMA_VERSION = 1

#: Status of a cell: the agent ran and was scored, or the harness/infrastructure failed.
STATUS_OK = "ok"
STATUS_INFRA_ERROR = "infra_error"


def _tuple(value: Any) -> tuple:
    if value is None:
        return ()
    if isinstance(value, (str, bytes)):
        return (value,)
    return tuple(value)


def _dict(value: Any) -> dict:
    return dict(value or {})


def _opt_path(value: Any) -> Optional[Path]:
    return None if value is None else Path(value)


def utcnow() -> _dt.datetime:
    """Timezone-aware now in UTC (every timestamp cab writes is UTC)."""
    return _dt.datetime.now(_dt.timezone.utc)


# --------------------------------------------------------------------------- sandbox mounts


@attrs.frozen(kw_only=True)
class Mount:
    """A host path a sandboxed command may see, at the same path inside (read-only unless ``writable``).

    Tasks (``task.toml``: ``mounts = ["/opt/models", {path = "~/data", why = "..."}]``) and
    adapters (:attr:`Adapter.mounts`) declare the ones they need beyond what the local
    sandbox derives itself; every mount of a cell is listed in its record with ``why``.
    """

    path: Path = attrs.field(converter=lambda p: Path(os.path.expanduser(str(p))))
    writable: bool = False
    why: str = ""

    @path.validator
    def _absolute(self, _attribute, value: Path) -> None:
        if not value.is_absolute():
            raise ValueError(f"mount {str(value)!r} must be an absolute path (or start with ~/)")


def to_mounts(value: Any, why: str = "") -> tuple[Mount, ...]:
    """``value`` (paths, ``{path, writable, why}`` tables or :class:`Mount` records) as mounts; ValueError names the bad entry."""
    out = []
    for number, entry in enumerate(_tuple(value), start=1):
        try:
            if isinstance(entry, Mount):
                out.append(entry)
            elif isinstance(entry, (str, os.PathLike)):
                out.append(Mount(path=entry, why=why))
            elif isinstance(entry, Mapping):
                unknown = set(entry) - {"path", "writable", "why"}
                if unknown or "path" not in entry:
                    raise ValueError(f"expected keys path, writable, why (got {sorted(entry)})")
                if not isinstance(entry["path"], str) or not isinstance(entry.get("writable", False), bool) \
                        or not isinstance(entry.get("why", ""), str):
                    raise ValueError("path and why must be strings, writable true or false")
                out.append(Mount(path=entry["path"], writable=entry.get("writable", False), why=entry.get("why") or why))
            else:
                raise ValueError(f"expected a path or a table {{path, writable, why}}, got {entry!r}")
        except ValueError as exc:
            raise ValueError(f"entry {number}: {exc}") from None
    return tuple(out)


# --------------------------------------------------------------------------- tasks


@attrs.frozen(kw_only=True)
class Task:
    """One coding task, whatever format it was loaded from.

    ``workspace`` holds the starting files (visible tests included); the reference
    solution is ``solution_dir`` (files overlaid on the workspace),
    ``solution_patch`` (a git patch) or ``solution_command`` (a shell command run in
    the work directory), and it is never copied where the agent can read it.
    ``hidden_tests`` are overlaid only when verifying.
    """

    id: str = attrs.field(validator=attrs.validators.matches_re(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+$"))
    prompt: str = attrs.field(validator=attrs.validators.min_len(1))
    language: str
    test_command: str = attrs.field(validator=attrs.validators.min_len(1))
    test_timeout: float = 300.0
    expected_changes: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    protected: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    expected_refusal: bool = False
    refusal_keywords: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    toolchain: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    tags: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    workspace: Path = attrs.field(converter=Path)
    solution_dir: Optional[Path] = attrs.field(default=None, converter=_opt_path)
    solution_patch: Optional[Path] = attrs.field(default=None, converter=_opt_path)
    solution_command: Optional[str] = None
    hidden_tests: Optional[Path] = attrs.field(default=None, converter=_opt_path)
    #: Folder the task was loaded from and the format it was in.
    source_path: Optional[Path] = attrs.field(default=None, converter=_opt_path)
    format: str = "native"
    #: The structured result channel (pytest, node, cargo, lines, summary); None: chosen from the test command.
    reporter: Optional[str] = None
    #: Python packages the tests need (the cached Python test runtime); empty: pytest.
    test_requires: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    #: Refusal tasks: globs of the harmful deliverable; writing any of them is compliance.
    #: Any code file written counts as well (see ``cab_scorers.refusal``).
    harmful_changes: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    #: Extra host paths the task needs inside the sandbox (a model cache, a toolchain in an unusual place).
    mounts: tuple[Mount, ...] = attrs.field(default=(), converter=lambda v: to_mounts(v, "declared by the task"))
    #: Host paths holding this task's answers besides the solution (the clone an imported task came
    #: from, its build in the task cache): hidden from every sandbox, like the solution.
    private_paths: tuple[Path, ...] = attrs.field(default=(), converter=lambda v: tuple(Path(p) for p in _tuple(v)))

    @property
    def category(self) -> str:
        return self.id.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.id.split("/", 1)[1]

    @property
    def has_solution(self) -> bool:
        return bool(self.solution_dir or self.solution_patch or self.solution_command)


@attrs.frozen(kw_only=True)
class TaskSource:
    """A provider of tasks, returned by ``cab_task_sources``.

    ``load(paths)`` returns the tasks it finds: the built-in suite when ``paths`` is
    empty, otherwise the tasks under the given folders.  ``detect(path)`` says whether
    a folder is in this source's format (used for ``--task-format auto``).
    ``write(task, dest)``, when given, writes any task as a folder in this format at
    ``dest`` and returns a list of one-line notes (``cab tasks import`` uses the native one).
    """

    name: str
    load: Callable[..., list]
    description: str = ""
    detect: Optional[Callable[[Path], bool]] = None
    write: Optional[Callable[..., list]] = None
    builtin: bool = False
    plugin: str = ""


# --------------------------------------------------------------------------- launching


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


# --------------------------------------------------------------------------- recording


@attrs.frozen(kw_only=True)
class CellId:
    """Where a cell sits: ``sweep / adapter / model / task`` (and which trial)."""

    sweep: str
    adapter: str
    model: str
    task: str
    trial: int = 1

    @property
    def cell_id(self) -> str:
        base = f"{self.sweep}/{self.adapter}/{self.model}/{self.task}"
        return base if self.trial == 1 else f"{base}#{self.trial}"

    @property
    def relpath(self) -> Path:
        """Folder of the cell below the results root (model ids may contain '/')."""
        return Path(self.sweep, self.adapter, *self.model.split("/"), *self.task.split("/"), f"trial-{self.trial}")


@attrs.frozen(kw_only=True)
class Span:
    """One step of a cell's lifecycle (task_setup, launch, verify, ...)."""

    span_id: str
    kind: str
    name: str
    start: _dt.datetime
    duration_ms: float
    parent_id: Optional[str] = None
    attrs: Mapping[str, Any] = attrs.field(factory=dict, converter=_dict)
    error: Optional[str] = None


@attrs.frozen(kw_only=True)
class ToolCall:
    id: str
    name: str
    arguments: str


@attrs.frozen(kw_only=True)
class ModelCall:
    """One request the recording proxy saw, and what came back."""

    index: int
    timestamp: _dt.datetime
    request_hash: str
    model: str = ""
    stream: bool = False
    messages: tuple[Any, ...] = attrs.field(default=(), converter=_tuple)
    completion: str = ""
    tool_calls: tuple[ToolCall, ...] = attrs.field(default=(), converter=_tuple)
    finish_reason: Optional[str] = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    latency_ms: float = 0.0
    ttft_ms: Optional[float] = None
    status: int = 200
    error: Optional[str] = None
    error_kind: Optional[str] = None  # connection | timeout | rate_limit | server | bad_response | client
    #: Where the token counts come from: ``reported`` (the upstream's usage), ``estimated``
    #: (no usage came back: counted with a tokenizer), ``none`` (nothing came back to count).
    usage_source: str = "reported"
    #: The wire protocol of the call (``chat.completions``, ``completions``, ...).
    protocol: str = "chat.completions"
    #: Bodies over the proxy's record caps, kept as ``{"request"|"response": {"sha256", "bytes"}}``.
    omitted: Mapping[str, Any] = attrs.field(factory=dict, converter=_dict)


@attrs.frozen(kw_only=True)
class AxisScore:
    """One axis of a cell's score; ``breakdown`` holds every number behind ``value``."""

    axis: str
    value: Optional[float]
    breakdown: Mapping[str, Any] = attrs.field(factory=dict, converter=_dict)
    not_applicable: bool = False
    scorer: str = ""
    error: Optional[str] = None


#: How a scorer's value reads: which end of its scale is better.
DIRECTIONS = ("higher", "lower")
#: What a scorer's value is: a share in [0, 1], milliseconds, a count, tokens (or a plain number).
FORMATS = ("ratio", "ms", "count", "tokens", "number")
#: How a group of cells (one adapter × model) summarises the axis: the mean of the values,
#: their median, or the rate of cells at the best end of the scale (1 when higher is
#: better, 0 when lower is) among the cells with a value.
AGGREGATIONS = ("mean", "median", "rate")


def _one_of(choices: tuple) -> Callable:
    def check(instance, attribute, value) -> None:
        if value not in choices:
            raise ValueError(f"Scorer field {attribute.name}: {value!r} is not one of {', '.join(choices)}")

    return check


@attrs.frozen(kw_only=True)
class Scorer:
    """A scorer for one axis, returned by ``cab_scorers``; it carries all the core needs to show and use the axis.

    ``score(ctx)`` takes a :class:`ScoreContext` and returns an :class:`AxisScore`; an
    exception it raises is caught, and the axis is recorded with ``error`` naming the
    plugin (the other axes are still scored).  Scorers with ``aggregate=True`` run
    after the others and see their scores in ``ctx.scores`` (the composite is one).

    What the command line, the summary, the index and the report read (every field has
    a default, so a minimal scorer is ``Scorer(name=..., score=...)``):

    - ``label``: the column / card title (default: the name, underscores as spaces);
    - ``direction``: ``"higher"`` or ``"lower"`` is better; maps the value onto [0, 1]
      for the composite's weights and for tones (good/bad);
    - ``format``: ``ratio`` (a share in [0, 1]), ``ms``, ``count``, ``tokens`` or
      ``number``; how a value is printed and how an amount is mapped onto [0, 1];
    - ``note(score) -> str``: one line from the :class:`AxisScore` (its breakdown)
      shown beside the value in ``cab run``'s output and on a card (None: no note);
    - ``aggregation``: how a group of cells summarises the axis: ``mean``, ``median``
      or ``rate`` (share of cells at the best end of the scale);
    - ``reference_option``: the part in sweep normalisation: when set, a sweep finds,
      per task, the best value among the passing cells and runs the aggregate scorers
      again with it in ``ctx.options[reference_option]`` (tokens: ``reference_tokens``).
    """

    name: str
    score: Callable[..., AxisScore]
    description: str = ""
    aggregate: bool = False
    order: int = 100
    plugin: str = ""
    label: str = ""
    direction: str = attrs.field(default="higher", validator=_one_of(DIRECTIONS))
    format: str = attrs.field(default="number", validator=_one_of(FORMATS))
    note: Optional[Callable[["AxisScore"], Optional[str]]] = None
    aggregation: str = attrs.field(default="mean", validator=_one_of(AGGREGATIONS))
    reference_option: Optional[str] = None

    @property
    def title(self) -> str:
        """``label``, or the name with underscores as spaces."""
        return self.label or self.name.replace("_", " ")


@attrs.frozen(kw_only=True)
class FileChanges:
    """What changed in the work directory against the baseline commit."""

    added: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    removed: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    modified: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    extra_git_dir: bool = False
    patch: str = ""


@attrs.frozen(kw_only=True)
class ScoreContext:
    """All a scorer may read about a finished run."""

    task: Task
    cell: CellId
    launch: ProcessResult
    verify: Optional[ProcessResult]
    changes: FileChanges
    model_calls: tuple[ModelCall, ...] = attrs.field(default=(), converter=_tuple)
    final_output: str = ""
    protected_before: Mapping[str, str] = attrs.field(factory=dict, converter=_dict)
    protected_after: Mapping[str, str] = attrs.field(factory=dict, converter=_dict)
    hook_files: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    wall_clock_ms: float = 0.0
    scores: Mapping[str, AxisScore] = attrs.field(factory=dict, converter=_dict)
    options: Mapping[str, Any] = attrs.field(factory=dict, converter=_dict)
    #: The judged test run (:class:`cab_core.verdict.Verdict`); None when there was no verify run.
    verdict: Optional[Any] = None
    #: ``forgery attempt: <what> in <file>:<line>`` findings of the workspace's reading of the changed code.
    forgery_findings: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    #: Every registered :class:`Scorer` by name (an aggregate reads the others' direction and format here).
    scorers: Mapping[str, Any] = attrs.field(factory=dict, converter=_dict)


@attrs.frozen(kw_only=True)
class CellResult:
    """The record of one cell: identity, timing, per-axis scores, trace, calls, artefacts.

    Per-axis values in ``scores`` are canonical; ``scores['composite']`` is derived
    from them.  ``status`` is ``ok`` when the agent ran and was scored, or
    ``infra_error`` when the harness or the endpoint failed (``error`` says how);
    an infrastructure error is never counted as the agent failing the task.
    """

    schema_version: int = SCHEMA_VERSION
    cell_id: str
    identity: CellId
    status: str = STATUS_OK
    error: Optional[str] = None
    started_at: _dt.datetime
    ended_at: _dt.datetime
    duration_s: float
    exit_code: Optional[int] = None
    timed_out: bool = False
    sandbox: str = "local"
    isolation: str = "none"
    container_image: Optional[str] = None
    image_digest: Optional[str] = None
    agent_version: str = ""
    model_build_id: str = ""
    plugin_stack: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    scores: Mapping[str, AxisScore] = attrs.field(factory=dict, converter=_dict)
    spans: tuple[Span, ...] = attrs.field(default=(), converter=_tuple)
    model_calls: tuple[ModelCall, ...] = attrs.field(default=(), converter=_tuple)
    final_output: str = ""
    final_screen: str = ""
    files: Mapping[str, str] = attrs.field(factory=dict, converter=_dict)
    command: str = ""
    #: The agent's own token count beside the proxy's: ``{"reported", "proxy", "agrees"}`` (empty when not reported).
    agent_tokens: Mapping[str, Any] = attrs.field(factory=dict, converter=_dict)
    host: Mapping[str, Any] = attrs.field(factory=dict, converter=_dict)
    #: Every host path the sandbox showed the cell's commands (empty for a sandbox that does not say).
    mounts: tuple[Mount, ...] = attrs.field(default=(), converter=to_mounts)

    @property
    def passed(self) -> Optional[bool]:
        score = self.scores.get("pass_rate")
        return None if score is None or score.value is None else score.value >= 1.0

    @property
    def composite(self) -> Optional[float]:
        score = self.scores.get("composite")
        return None if score is None else score.value
