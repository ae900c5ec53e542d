"""A sweep's matrix: the spec (from a sweep file, a manifest and flags), its checks, and its cells.

See :mod:`cab_core.sweep` for the sweep file's keys; everything a user can get wrong
is a one-line :class:`~cab_core.errors.CabError` naming the file and the field.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence

import attrs

from .. import serialization
from ..endpoint.budget import Budget
from ..errors import CabError
from ..models import CellId
from ..pricing import parse_price
from ..registry import check_options
from ..runoptions import RunOptions
from ..scoring import OPTION_WEIGHTS, check_weights

WORKER_RESULTS = ("shared", "return")
# --------------------------------------------------------------------------- the matrix


@attrs.frozen(kw_only=True)
class SweepSpec:
    """What a sweep runs and how; built from a sweep file, a manifest and CLI flags."""

    sweep_id: str
    adapters: tuple[str, ...] = attrs.field(converter=tuple)
    #: Models for every adapter without an entry in ``adapter_models``.
    models: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    adapter_models: Mapping[str, tuple[str, ...]] = attrs.field(
        factory=dict, converter=lambda d: {k: tuple(v) for k, v in (d or {}).items()})
    tasks: tuple[str, ...] = attrs.field(converter=tuple)
    trials: int = 1
    jobs: int = 1
    sandbox: str = "local"
    timeout: float = 600.0
    retries: int = 2
    options: Mapping[str, str] = attrs.field(factory=dict, converter=dict)
    plugins: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    endpoint: Optional[str] = None
    api_key_env: Optional[str] = None
    executor: str = "local"
    scheduler: Optional[str] = None
    worker_results: str = "shared"
    results: Path = attrs.field(default=Path("results"), converter=Path)
    tasks_dirs: tuple[Path, ...] = attrs.field(default=(), converter=lambda v: tuple(Path(p) for p in v))
    task_format: str = "auto"
    #: The sweep file this came from (recorded in the manifest; resume finds sweeps by it).
    source: Optional[str] = None
    #: The composite's weights, axis name -> weight (``--weights``, or ``[weights]`` in the file); empty: the defaults.
    weights: Mapping[str, float] = attrs.field(factory=dict, converter=dict)
    #: ``MODEL -> "INPUT,OUTPUT[,CACHED_INPUT]"`` dollars per million tokens (``--price``, the file's ``[prices]``).
    prices: Mapping[str, str] = attrs.field(factory=dict, converter=dict)
    #: Per-cell budgets the recording proxy enforces (``None``: no limit).
    max_tokens: Optional[int] = None
    max_cost: Optional[float] = None
    max_model_calls: Optional[int] = None

    def models_for(self, adapter: str) -> tuple[str, ...]:
        """The models ``adapter`` runs: its own list, else the common one."""
        return tuple(self.adapter_models.get(adapter, self.models))

    def pairs(self) -> list[tuple[str, str]]:
        """Every (adapter, model) of the matrix, in order."""
        return [(a, m) for a in self.adapters for m in self.models_for(a)]

    @property
    def root(self) -> Path:
        """The sweep's folder below the results root."""
        return self.results / self.sweep_id

    def matrix(self) -> dict:
        """The JSON form recorded in ``sweep.json`` (no secret: only the key's variable name)."""
        data = serialization.unstructure(attrs.asdict(self, recurse=False))
        data["adapter_models"] = {k: list(v) for k, v in self.adapter_models.items()}
        return data


#: Fields a sweep file may set (everything of SweepSpec but ``source``).
FILE_FIELDS = {f.name for f in attrs.fields(SweepSpec)} - {"source"}


@attrs.frozen(kw_only=True)
class _SweepFile:
    """The shape of a sweep file (unknown keys are an error); ``models`` is checked by hand."""

    sweep_id: Optional[str] = None
    adapters: Optional[list[str]] = None
    models: Any = None
    tasks: Optional[list[str]] = None
    trials: Optional[int] = None
    jobs: Optional[int] = None
    sandbox: Optional[str] = None
    timeout: Optional[float] = None
    retries: Optional[int] = None
    options: Optional[dict[str, str]] = None
    plugins: Optional[list[str]] = None
    endpoint: Optional[str] = None
    api_key_env: Optional[str] = None
    executor: Optional[str] = None
    scheduler: Optional[str] = None
    worker_results: Optional[str] = None
    results: Optional[str] = None
    tasks_dirs: Optional[list[str]] = None
    task_format: Optional[str] = None
    weights: Optional[dict[str, float]] = None
    prices: Optional[dict[str, Any]] = None
    max_tokens: Optional[int] = None
    max_cost: Optional[float] = None
    max_model_calls: Optional[int] = None


_strict = serialization.strict_converter()


def _split(values: Iterable[str]) -> list[str]:
    return [part.strip() for value in values for part in str(value).split(",") if part.strip()]


def parse_models(values: Iterable[str]) -> tuple[list[str], dict[str, list[str]]]:
    """``--models`` values: ``M1,M2`` (every adapter) or ``ADAPTER=M1,M2`` (that adapter)."""
    common: list[str] = []
    per: dict[str, list[str]] = {}
    for value in values:
        if "=" in value:
            adapter, _, models = value.partition("=")
            per.setdefault(adapter.strip(), []).extend(_split([models]))
        else:
            common.extend(_split([value]))
    return common, per


def _models_field(value: Any, where: str) -> tuple[list[str], dict[str, list[str]]]:
    if isinstance(value, list) and all(isinstance(m, str) for m in value):
        return list(value), {}
    if isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, list) and all(isinstance(m, str) for m in v)
                                       for k, v in value.items()):
        return [], {k: list(v) for k, v in value.items()}
    raise CabError(f"{where}: field models: expected a list of model ids or a table ADAPTER = [model ids], got {value!r}")


def load_sweep_file(path: Path) -> dict:
    """Read a sweep file into the overrides it sets (relative paths resolved against its folder).

    Raises :class:`CabError` with one line naming the file and the field.
    """
    path = Path(path)
    parsed = serialization.load_toml_record(path, _SweepFile, _strict, error=CabError, missing="sweep file not found")
    out = {k: v for k, v in attrs.asdict(parsed).items() if v is not None}
    if "models" in out:
        out["models"], out["adapter_models"] = _models_field(out["models"], str(path))
    for name in ("results",):
        if name in out:
            out[name] = _relative_to(path, out[name])
    if "tasks_dirs" in out:
        out["tasks_dirs"] = [_relative_to(path, p) for p in out["tasks_dirs"]]
    if "prices" in out:
        out["prices"] = {m: ",".join(str(v) for v in p) if isinstance(p, list) else str(p) for m, p in out["prices"].items()}
    try:
        _check(out)
    except CabError as exc:
        raise CabError(f"{path}: {exc}") from None
    out["source"] = str(path.resolve())
    return out


def _relative_to(sweep_file: Path, value: str) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else (sweep_file.resolve().parent / p)


def _check(values: Mapping[str, Any]) -> None:
    """Range checks shared by sweep files and flags; the message names the field."""
    for name in ("trials", "jobs"):
        if name in values and values[name] is not None and values[name] < 1:
            raise CabError(f"field {name}: must be at least 1, got {values[name]}")
    if values.get("retries") is not None and values["retries"] < 0:
        raise CabError(f"field retries: must be 0 or more, got {values['retries']}")
    if values.get("timeout") is not None and values["timeout"] <= 0:
        raise CabError(f"field timeout: must be positive, got {values['timeout']}")
    if values.get("worker_results") is not None and values["worker_results"] not in WORKER_RESULTS:
        raise CabError(f"field worker_results: must be one of {', '.join(WORKER_RESULTS)}, got {values['worker_results']!r}")
    sid = values.get("sweep_id")
    if sid is not None and (not re.fullmatch(r"[A-Za-z0-9_.-]+", sid) or sid in (".", "..")):
        raise CabError(f"field sweep_id: {sid!r} must be one folder name (letters, digits, '_', '.', '-')")
    _check_cost(values)


def _check_cost(values: Mapping[str, Any]) -> None:
    """Prices and budgets: each price parses, each budget is positive (the message names the field)."""
    for model, price in (values.get("prices") or {}).items():
        try:
            parse_price(f"{model}={price}")
        except CabError:
            raise CabError(f"field prices: {model} = {price!r} is not INPUT,OUTPUT[,CACHED_INPUT] "
                           "(non-negative dollars per million tokens), e.g. \"my-model\" = [0.5, 1.5]") from None
    try:
        Budget(**{k: values.get(k) for k in ("max_tokens", "max_cost", "max_model_calls")})
    except CabError as exc:
        raise CabError(f"field {str(exc).lstrip('-').split()[0].replace('-', '_')}: {exc}") from None


def build_spec(*layers: Mapping[str, Any], default_id: Optional[str] = None) -> SweepSpec:
    """Merge override layers (later wins; ``None`` values are skipped) into a checked spec."""
    merged: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            if value is None:
                continue
            if key in ("adapter_models", "options", "weights", "prices") and key in merged:
                merged[key] = {**merged[key], **value}  # per adapter / per option: the later layer wins
            else:
                merged[key] = value
    _check(merged)
    if not merged.get("sweep_id"):
        merged["sweep_id"] = default_id or time.strftime("sweep-%Y%m%d-%H%M%S")
    per = merged.get("adapter_models") or {}
    if not merged.get("adapters"):
        merged["adapters"] = list(per)
    if not merged.get("adapters"):
        raise CabError("no adapters: pass --adapters A,B (or set adapters in the sweep file)")
    if not merged.get("tasks"):
        raise CabError("no tasks: pass --tasks PATTERN (e.g. 'polyglot/*'), or set tasks in the sweep file")
    spec = SweepSpec(**{k: v for k, v in merged.items() if k in FILE_FIELDS or k == "source"})
    for adapter in spec.adapters:
        if not spec.models_for(adapter):
            raise CabError(f"adapter {adapter!r} has no models (pass --models M1,M2 or --models {adapter}=M1,M2)")
    return spec


def resolve_tasks(spec: SweepSpec, catalog) -> list[str]:
    """Task ids matching the spec's patterns, sorted, each once."""
    ids: set[str] = set()
    for pattern in spec.tasks:
        ids.update(t.id for t in catalog.select(pattern))
    return sorted(ids)


def plan_cells(spec: SweepSpec, task_ids: Sequence[str]) -> list[RunOptions]:
    """Every cell of the matrix: trial-major, so a partial sweep is balanced across pairs."""
    results = spec.results.resolve()
    return [
        RunOptions(adapter=adapter, model=model, task=task, sweep_id=spec.sweep_id, trial=trial,
                   endpoint=spec.endpoint, api_key_env=spec.api_key_env, sandbox=spec.sandbox,
                   plugins=spec.plugins, options=dict(spec.options), timeout=spec.timeout, results=results,
                   score_options={OPTION_WEIGHTS: dict(spec.weights)} if spec.weights else {},
                   prices=tuple(f"{m}={p}" for m, p in spec.prices.items()), max_tokens=spec.max_tokens,
                   max_cost=spec.max_cost, max_model_calls=spec.max_model_calls)
        for trial in range(1, spec.trials + 1)
        for task in task_ids
        for adapter, model in spec.pairs()
    ]


def cell_id_of(opts: RunOptions) -> CellId:
    """Where the cell of ``opts`` sits (its id and folder)."""
    return CellId(sweep=opts.sweep_id, adapter=opts.adapter, model=opts.model, task=opts.task, trial=opts.trial)


def validate(spec: SweepSpec, registry) -> None:
    """Names and settings a user can get wrong, checked before any cell runs."""
    for adapter in spec.adapters:
        check_options(registry.adapters.get(adapter), dict(spec.options))
    sandbox = registry.sandboxes.get(spec.sandbox)
    if sandbox.available is not None:
        why = sandbox.available()
        if why:
            raise CabError(f"sandbox {spec.sandbox!r} is not available: {why}")
    for name in spec.plugins:
        registry.agent_plugins.get(name)
    check_weights(spec.weights, registry)
    if spec.api_key_env and spec.api_key_env not in os.environ:
        raise CabError(f"environment variable {spec.api_key_env} is not set (--api-key-env names the variable holding the key)")
    executor = registry.executors.get(spec.executor)
    why = executor.available() if executor.available is not None else None
    if why:
        raise CabError(f"executor {spec.executor!r} is not available: {why}")
