"""The record of one cell, everything its page shows."""

from __future__ import annotations

import datetime as _dt
from typing import Any, Mapping, Optional

import attrs

from .axis import AxisScore
from .base import SCHEMA_VERSION, STATUS_OK, Mount, _dict, _tuple, to_mounts
from .record import CellId, ModelCall, Span


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
    #: The price table the cell's costs come from: ``{"database", "models": {name: price or None}}``.
    prices: Mapping[str, Any] = attrs.field(factory=dict, converter=_dict)
    #: The budgets the cell ran under (``max_tokens``, ``max_cost``, ``max_model_calls``; empty: none).
    budgets: Mapping[str, Any] = attrs.field(factory=dict, converter=_dict)
    #: Set when the proxy refused a call past a budget: ``{"budget", "limit", "spent", "refused_calls"}``.
    budget_exceeded: Optional[Mapping[str, Any]] = None
    #: Where the cell's image can be pulled by digest (``REGISTRY/REPO@sha256:...``), once ``cab images push`` put it there.
    image_ref: Optional[str] = None

    @property
    def passed(self) -> Optional[bool]:
        score = self.scores.get("pass_rate")
        return None if score is None or score.value is None else score.value >= 1.0

    @property
    def composite(self) -> Optional[float]:
        score = self.scores.get("composite")
        return None if score is None else score.value
