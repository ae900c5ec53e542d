"""A cell as Harbor's Agent Trajectory Interchange Format, ATIF-v1.8.

ATIF (Harbor's RFC 0001, the models in ``harbor.models.trajectories``) is one JSON
document per agent run: the agent, a list of steps (``system``, ``user``, ``agent``)
and aggregate metrics.  Tools that read Harbor trajectories (viewers, SFT and RL
pipelines) read a cab cell through it.

How a cell maps:

- ``agent``: the adapter (name, version), the cell's model; the plugin stack, the
  command, the sandbox and the image under ``agent.extra``.
- ``session_id`` and ``trajectory_id``: the cell id.
- Steps come from the recording proxy's model calls, in order.  Each call's request
  carries the whole conversation; a message seen for the first time becomes a step
  (``system``/``developer`` → ``system``, ``user`` → ``user``), stamped with the time
  of the request that first carried it.  Tool results (``role: tool`` messages, or
  ``tool_result`` blocks) become observation results of the agent step whose tool
  call they answer (``source_call_id``).  Each model call is one ``agent`` step
  (``llm_call_count`` 1): its completion as ``message``, its tool calls (arguments
  parsed from JSON), and ``metrics`` (prompt, completion and cached tokens, cost).
  An assistant message in a request that no recorded call produced (a prefilled or
  rewritten history) is an agent step with ``llm_call_count`` 0.
- A cell without model calls (the ``command`` adapter) gets one agent step with
  ``llm_call_count`` 0 holding the agent's final output.
- The harness's verification is a last ``system`` step: the verdict as message, the
  test output (``test_output.txt``) as its observation.
- ``final_metrics``: token totals, the total cost (absent when any call's price is
  unknown: never 0 for unknown), the number of steps.

What has no ATIF field goes under ``extra.cab`` (the root's, a step's, a metric's):
the cell's status, error, scores and verdict, timing, the agent's own token report,
every span (ATIF has no timeline of harness steps), each call's latency, time to first
token, HTTP status, error kind, finish reason, wire protocol, request hash, where its
token counts come from (``usage_source``: reported, estimated or none) and omitted
bodies.  Token counts a call never had (``usage_source`` none) are left out, not 0.
Not recorded by cab and so absent: tool definitions (``agent.tool_definitions``),
reasoning content, token ids and logprobs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional

from .. import __version__, serialization
from ..models import CellResult, ModelCall, Span

ATIF_VERSION = "ATIF-v1.8"
TEST_OUTPUT = "test_output.txt"


def _iso(value) -> str:
    return serialization.unstructure(value)


#: Values copied as they are: the agent's own data (tool arguments) and cab's records.
_VERBATIM = frozenset({"arguments", "attrs", "spans", "agent_tokens", "budget_exceeded", "omitted"})


def _prune(value: Any) -> Any:
    """Drop ``None`` members (Harbor writes trajectories with ``exclude_none``), except in verbatim data."""
    if isinstance(value, dict):
        return {k: (v if k in _VERBATIM else _prune(v)) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value


def _text(content: Any) -> str:
    """The text of a message's content: a string, or the text of its parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if isinstance(part, Mapping) and part.get("type") not in ("tool_use", "tool_result", "function_call"):
                text = part.get("text")
                if isinstance(text, str):
                    texts.append(text)
        return "\n".join(texts)
    return ""


def _arguments(raw: Any) -> tuple[dict, Optional[dict]]:
    """Tool-call arguments as ATIF's object, and ``extra`` keeping what was not a JSON object."""
    if isinstance(raw, Mapping):
        return dict(raw), None
    try:
        parsed = json.loads(raw) if isinstance(raw, str) and raw.strip() else {}
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        return parsed, None
    return {}, {"cab": {"arguments_raw": raw, "arguments_error": "not a JSON object"}}


def _tool_call(call_id: str, name: str, raw_arguments: Any) -> dict:
    arguments, extra = _arguments(raw_arguments)
    return {"tool_call_id": call_id, "function_name": name, "arguments": arguments, "extra": extra}


def _history_tool_calls(message: Mapping[str, Any]) -> list[dict]:
    """Tool calls an assistant message carries (OpenAI ``tool_calls`` or ``tool_use`` blocks)."""
    calls = []
    for call in message.get("tool_calls") or ():
        if isinstance(call, Mapping):
            function = call.get("function") or {}
            calls.append(_tool_call(str(call.get("id") or ""), str(function.get("name") or ""), function.get("arguments")))
    content = message.get("content")
    for part in content if isinstance(content, list) else ():
        if isinstance(part, Mapping) and part.get("type") == "tool_use":
            calls.append(_tool_call(str(part.get("id") or ""), str(part.get("name") or ""), part.get("input")))
    return calls


def _tool_results(message: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(tool_call_id, content)`` of the tool results a message carries."""
    if message.get("role") == "tool":
        return [(str(message.get("tool_call_id") or ""), _text(message.get("content")))]
    content = message.get("content")
    out = []
    for part in content if isinstance(content, list) else ():
        if isinstance(part, Mapping) and part.get("type") == "tool_result":
            out.append((str(part.get("tool_use_id") or ""), _text(part.get("content"))))
    return out


def _enclosing_span(spans: Iterable[Span], when) -> Optional[str]:
    """The innermost span running at ``when`` (the launch span, for a model call)."""
    best = None
    for span in spans:
        end = span.start.timestamp() + span.duration_ms / 1000
        if span.start.timestamp() <= when.timestamp() <= end and (best is None or span.duration_ms < best.duration_ms):
            best = span
    return best.span_id if best else None


class _Steps:
    """Builds the step list: numbering, tool-call lookup, observations."""

    def __init__(self):
        self.steps: list[dict] = []
        self.by_tool_id: dict[str, dict] = {}
        self.last_agent: Optional[dict] = None

    def add(self, source: str, message: str, **fields) -> dict:
        step = {"step_id": len(self.steps) + 1, "source": source, "message": message, **fields}
        self.steps.append(step)
        if source == "agent":
            self.last_agent = step
            for call in step.get("tool_calls") or ():
                self.by_tool_id.setdefault(call["tool_call_id"], step)
        return step

    def observe(self, call_id: str, content: str, timestamp: str) -> None:
        step = self.by_tool_id.get(call_id)
        result: dict = {"source_call_id": call_id, "content": content}
        if step is None:  # a result for a call no step holds: kept, without a dangling reference
            step = self.last_agent or self.add("system", "tool result", timestamp=timestamp)
            result = {"content": content, "extra": {"cab": {"tool_call_id": call_id}}}
        step.setdefault("observation", {"results": []})["results"].append(result)


def _metrics(call: ModelCall) -> dict:
    extra = {"total_tokens": call.total_tokens, "usage_source": call.usage_source, "latency_ms": call.latency_ms,
             "ttft_ms": call.ttft_ms, "priced_as": getattr(call, "priced_as", None) or None,
             "price_source": getattr(call, "price_source", None) or None}
    counted = call.usage_source != "none"
    return {
        "prompt_tokens": call.prompt_tokens if counted else None,
        "completion_tokens": call.completion_tokens if counted else None,
        "cached_tokens": getattr(call, "cached_tokens", None),
        "cost_usd": getattr(call, "cost_usd", None),
        "extra": {"cab": extra},
    }


def _call_step(steps: _Steps, call: ModelCall, spans) -> None:
    tool_calls = [_tool_call(tc.id, tc.name, tc.arguments) for tc in call.tool_calls]
    extra = {"index": call.index, "protocol": call.protocol, "stream": call.stream, "status": call.status,
             "error": call.error, "error_kind": call.error_kind, "finish_reason": call.finish_reason,
             "request_hash": call.request_hash, "omitted": dict(call.omitted) or None,
             "span_id": _enclosing_span(spans, call.timestamp)}
    steps.add("agent", call.completion, timestamp=_iso(call.timestamp), model_name=call.model or None,
              tool_calls=tool_calls or None, metrics=_metrics(call), llm_call_count=1, extra={"cab": extra})


def _conversation(steps: _Steps, calls: list[ModelCall], spans) -> None:
    recorded_ids = {tc.id for c in calls for tc in c.tool_calls}
    completions = {c.completion.strip() for c in calls if c.completion.strip()}
    seen: set[str] = set()
    for call in calls:
        when = _iso(call.timestamp)
        for message in call.messages:
            if not isinstance(message, Mapping):
                continue
            key = json.dumps(message, sort_keys=True, default=str)
            if key in seen:
                continue
            seen.add(key)
            _message_step(steps, message, when, recorded_ids, completions)
        _call_step(steps, call, spans)


def _message_step(steps: _Steps, message: Mapping[str, Any], when: str, recorded_ids: set, completions: set) -> None:
    role = message.get("role")
    text = _text(message.get("content"))
    results = _tool_results(message)
    if role == "assistant":
        calls = _history_tool_calls(message)
        if {c["tool_call_id"] for c in calls} & recorded_ids or (text.strip() and text.strip() in completions):
            return  # a recorded call's own reply, already an agent step
        steps.add("agent", text, timestamp=when, tool_calls=calls or None, llm_call_count=0,
                  extra={"cab": {"origin": "request history: no recorded call produced this message"}})
        return
    if role in ("system", "developer") or (role != "user" and role != "tool"):
        steps.add("system", text, timestamp=when, extra={"cab": {"role": role}} if role != "system" else None)
    elif role == "user" and (text or not results):
        steps.add("user", text, timestamp=when)
    for call_id, content in results:
        steps.observe(call_id, content, when)


def _verify_step(steps: _Steps, result: CellResult, folder: Optional[Path]) -> None:
    span = next((s for s in result.spans if s.kind == "verify"), None)
    if span is None:
        return
    output = None
    if folder is not None and (Path(folder) / TEST_OUTPUT).is_file():
        output = (Path(folder) / TEST_OUTPUT).read_text(encoding="utf-8", errors="replace")
    verdict = span.attrs.get("verdict") or ("verification failed: " + span.error if span.error else "tests ran")
    passed = {True: "passed", False: "failed", None: "not scored"}[result.passed]
    steps.add("system", f"cab verified the work ({passed}): {verdict}", timestamp=_iso(span.start),
              observation={"results": [{"content": output if output is not None else json.dumps(dict(span.attrs))}]},
              extra={"cab": {"span_id": span.span_id, "attrs": dict(span.attrs)}})


def _final_metrics(result: CellResult, total_steps: int) -> dict:
    calls = result.model_calls
    counted = [c for c in calls if c.usage_source != "none"]
    cached = [getattr(c, "cached_tokens", None) for c in calls]
    costs = [getattr(c, "cost_usd", None) for c in calls]
    return {
        "total_prompt_tokens": sum(c.prompt_tokens for c in counted),
        "total_completion_tokens": sum(c.completion_tokens for c in counted),
        "total_cached_tokens": sum(cached) if cached and all(v is not None for v in cached) else None,
        "total_cost_usd": float(sum(costs)) if costs and all(v is not None for v in costs) else None,
        "total_steps": total_steps,
        "extra": {"cab": {"model_calls": len(calls), "total_tokens": sum(c.total_tokens for c in counted),
                          "uncounted_calls": len(calls) - len(counted),
                          "estimated_calls": sum(1 for c in calls if c.usage_source == "estimated")}},
    }


def _cell_extra(result: CellResult) -> dict:
    return {
        "cell_id": result.cell_id, "identity": serialization.unstructure(result.identity), "status": result.status,
        "error": result.error, "passed": result.passed, "composite": result.composite,
        "scores": {axis: s.value for axis, s in result.scores.items()},
        "started_at": _iso(result.started_at), "ended_at": _iso(result.ended_at), "duration_s": result.duration_s,
        "exit_code": result.exit_code, "timed_out": result.timed_out, "final_output": result.final_output,
        "agent_tokens": dict(result.agent_tokens) or None,
        "budget_exceeded": getattr(result, "budget_exceeded", None),
        "spans": [serialization.unstructure(s) for s in result.spans],
        "cell_schema_version": result.schema_version,
    }


def cell_trajectory(result: CellResult, folder: Optional[Path] = None) -> dict:
    """The ATIF document of one cell (``folder``: the cell's folder, for its test output)."""
    steps = _Steps()
    calls = sorted(result.model_calls, key=lambda c: c.index)
    _conversation(steps, calls, result.spans)
    if not calls:
        steps.add("agent", result.final_output, timestamp=_iso(result.started_at), llm_call_count=0,
                  extra={"cab": {"origin": "final output: no model call was recorded"}})
    _verify_step(steps, result, folder)
    ident = result.identity
    agent_extra = {"plugin_stack": list(result.plugin_stack) or None, "command": result.command or None,
                   "sandbox": result.sandbox, "isolation": result.isolation, "container_image": result.container_image,
                   "image_digest": result.image_digest, "model_build_id": result.model_build_id or None}
    doc = {
        "schema_version": ATIF_VERSION,
        "session_id": result.cell_id,
        "trajectory_id": result.cell_id,
        "agent": {"name": ident.adapter, "version": result.agent_version or "unknown", "model_name": ident.model,
                  "extra": {"cab": agent_extra}},
        "steps": steps.steps,
        "notes": (f"Exported by cab {__version__} from cell {result.cell_id}: steps from the recording proxy's model "
                  "calls; what ATIF has no field for is under extra.cab."),
        "final_metrics": _final_metrics(result, len(steps.steps)),
        "extra": {"cab": _cell_extra(result)},
    }
    return _prune(doc)


def dumps(doc: Mapping[str, Any]) -> str:
    """The document as JSON text (UTF-8, indented, newline-terminated)."""
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


__all__ = ["ATIF_VERSION", "cell_trajectory", "dumps"]
