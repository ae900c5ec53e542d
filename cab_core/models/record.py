"""What a cell records while it runs: its identity, spans, model calls and their tool calls."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any, Mapping, Optional

import attrs

from .base import _dict, _tuple


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
    #: Prompt tokens the upstream served from its cache (``None``: it did not say).
    cached_tokens: Optional[int] = None
    #: What the call cost in dollars (``None``: its price is unknown, never 0); see cab_core.pricing.
    cost_usd: Optional[float] = None
    #: The model name whose price was used (the call's, or the cell's when the call's is unknown).
    priced_as: str = ""
    #: Where that price came from: the database and its version, ``--price``, or ``free (scripted)``.
    price_source: str = ""
    #: Why the tokens are estimated (``usage_source: "estimated"``): no usage came back, or the
    #: upstream's usage was not believable (a field not a count, zero for a non-empty answer).
    usage_note: Optional[str] = None
