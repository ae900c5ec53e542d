"""cab's records as OpenTelemetry span attributes (GenAI semantic conventions, plus ``cab.*``).

Pure functions over cab's records, importing nothing from OpenTelemetry, so the
mapping is tested without a collector.  OpenTelemetry attribute values are strings,
booleans, numbers or homogeneous lists of them: anything else is written as JSON
text.  A value cab does not know (a call whose tokens nothing counted, an unknown
price) is left out, never written as 0.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Iterable, Mapping, Optional

#: gen_ai.operation.name, gen_ai.system / gen_ai.provider.name per wire protocol.
_PROTOCOLS = {
    "chat.completions": ("chat", "openai"),
    "completions": ("text_completion", "openai"),
    "responses": ("chat", "openai"),
    "messages": ("chat", "anthropic"),
    "anthropic.messages": ("chat", "anthropic"),
    "gemini": ("generate_content", "gcp.gemini"),
    "generateContent": ("generate_content", "gcp.gemini"),
}


def otel_value(value: Any) -> Any:
    """``value`` as an attribute value (``None`` stays ``None``: the caller drops it)."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
        return list(value)
    return json.dumps(value, default=str, sort_keys=True)


def clean(attributes: Mapping[str, Any]) -> dict:
    """Attributes with unknown values dropped and the rest made valid."""
    return {k: otel_value(v) for k, v in attributes.items() if v is not None}


def span_id_of(cab_id: str) -> int:
    """A stable 64-bit OpenTelemetry span id for a cab span id (never 0)."""
    try:
        value = int(cab_id[:16], 16)
    except ValueError:
        value = 0
    if not value:
        value = int.from_bytes(hashlib.sha256(cab_id.encode()).digest()[:8], "big") or 1
    return value


def protocol_names(protocol: str) -> tuple[str, str]:
    """``(gen_ai.operation.name, provider)`` of a wire protocol (unknown ones: chat via openai's shape)."""
    for key, names in _PROTOCOLS.items():
        if protocol == key or protocol.endswith("." + key) or key in protocol:
            return names
    return ("chat", "openai")


def model_call_attributes(call, cell_id: str, cell_model: str) -> dict:
    """GenAI attributes of one :class:`cab_core.models.ModelCall`."""
    operation, provider = protocol_names(call.protocol or "")
    counted = call.usage_source != "none"
    return clean({
        "gen_ai.operation.name": operation,
        "gen_ai.system": provider,
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": call.model or cell_model,
        "gen_ai.conversation.id": cell_id,
        "gen_ai.response.finish_reasons": [call.finish_reason] if call.finish_reason else None,
        "gen_ai.usage.input_tokens": call.prompt_tokens if counted else None,
        "gen_ai.usage.output_tokens": call.completion_tokens if counted else None,
        "gen_ai.usage.cache_read.input_tokens": getattr(call, "cached_tokens", None),
        "error.type": (call.error_kind or "error") if call.error else None,
        "cab.model_call.index": call.index,
        "cab.protocol": call.protocol,
        "cab.stream": call.stream,
        "cab.usage_source": call.usage_source,
        "cab.latency_ms": call.latency_ms,
        "cab.ttft_ms": call.ttft_ms,
        "cab.http.status_code": call.status,
        "cab.error": call.error,
        "cab.cost_usd": getattr(call, "cost_usd", None),
        "cab.request_hash": call.request_hash,
        "cab.tool_calls": [tc.name for tc in call.tool_calls] or None,
    })


def cell_start_attributes(cell) -> dict:
    """Attributes of the cell span known when it starts (a :class:`cab_core.models.CellId`)."""
    return clean({
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": cell.adapter,
        "gen_ai.request.model": cell.model,
        "gen_ai.conversation.id": cell.cell_id,
        "cab.cell_id": cell.cell_id,
        "cab.sweep": cell.sweep,
        "cab.adapter": cell.adapter,
        "cab.model": cell.model,
        "cab.task": cell.task,
        "cab.trial": cell.trial,
    })


def cell_end_attributes(result) -> dict:
    """Attributes of the cell span known when it ends (a :class:`cab_core.models.CellResult`)."""
    calls = result.model_calls
    counted = [c for c in calls if c.usage_source != "none"]
    costs = [getattr(c, "cost_usd", None) for c in calls]
    attributes = {
        "gen_ai.usage.input_tokens": sum(c.prompt_tokens for c in counted),
        "gen_ai.usage.output_tokens": sum(c.completion_tokens for c in counted),
        "cab.status": result.status,
        "cab.error": result.error,
        "cab.passed": result.passed,
        "cab.composite": result.composite,
        "cab.model_calls": len(calls),
        "cab.uncounted_calls": len(calls) - len(counted),
        "cab.cost_usd": float(sum(costs)) if costs and all(c is not None for c in costs) else None,
        "cab.exit_code": result.exit_code,
        "cab.timed_out": result.timed_out,
        "cab.agent_version": result.agent_version or None,
        "cab.sandbox": result.sandbox,
    }
    for axis, score in result.scores.items():
        attributes[f"cab.score.{axis}"] = score.value
    return clean(attributes)


def step_attributes(span) -> dict:
    """Attributes of one cab step (a :class:`cab_core.models.Span`)."""
    attributes = {"cab.span.id": span.span_id, "cab.span.kind": span.kind, "cab.span.error": span.error}
    for key, value in span.attrs.items():
        attributes[f"cab.span.{key}"] = value
    return clean(attributes)


def enclosing(spans: Iterable, when) -> Optional[str]:
    """The cab span id of the innermost span running at ``when``."""
    best = None
    for span in spans:
        start = span.start.timestamp()
        if start <= when.timestamp() <= start + span.duration_ms / 1000 and (best is None or span.duration_ms < best.duration_ms):
            best = span
    return best.span_id if best else None
