"""What one cell's page shows, as plain data: scores, trace, model calls, terminal, identity.

Every text taken from the record has been scrubbed already (:func:`.load.read_result`);
the diff is laid out by :mod:`.diff`.  The site (:mod:`cab_core.report.site`) renders
what these functions return.
"""

from __future__ import annotations

import json
import re
import shlex
from collections import defaultdict
from typing import Any, Mapping, Optional, Sequence

from ..models import CellResult
from ..secrets import Scrubber
from ..wiring import cell_wiring
from .axes import records_for
from .format import clip, compact_json, fmt_ms, fmt_num, fmt_time, one_line, pretty_json

MAX_CAST_CHARS = 4_000_000  # characters of terminal output embedded in the page


def breakdown_rows(result: CellResult, scorers: Sequence[Any] = ()) -> list[dict]:
    """The scorer breakdown table: one row per axis (in the scorers' order), one entry per key."""
    rows = []
    order = [s.name for s in records_for(scorers, result.scores) if s.name in result.scores]
    for name in order:
        s = result.scores[name]
        entries = []
        for key, value in s.breakdown.items():
            if isinstance(value, str):
                long = len(value) > 80 or "\n" in value
                entries.append({"key": key, "text": value, "long": long, "kind": "str"})
            elif isinstance(value, (dict, list)):
                text = compact_json(value)
                long = len(text) > 80
                entries.append({"key": key, "text": pretty_json(value) if long else text, "long": long, "kind": "json"})
            else:
                entries.append({"key": key, "text": compact_json(value) if not isinstance(value, float) else repr(value),
                                "long": False, "kind": type(value).__name__ if value is not None else "null"})
        rows.append({"axis": name, "value": s.value, "display": fmt_num(s.value, 4) if s.value is not None else "–",
                     "scorer": s.scorer, "not_applicable": s.not_applicable, "error": s.error,
                     "keys": ", ".join(s.breakdown), "entries": entries})
    return rows


def _span_tree_order(spans) -> list:
    by_parent: dict[Optional[str], list] = defaultdict(list)
    ids = {s.span_id for s in spans}
    for s in spans:
        by_parent[s.parent_id if s.parent_id in ids else None].append(s)
    for children in by_parent.values():
        children.sort(key=lambda s: s.start)
    out: list[tuple[Any, int]] = []

    def walk(parent: Optional[str], depth: int) -> None:
        for s in by_parent.get(parent, []):
            out.append((s, depth))
            if depth < 20:
                walk(s.span_id, depth + 1)

    walk(None, 0)
    return out


def trace_view(result: CellResult) -> dict:
    """Spans as timeline rows (offsets from the cell's start), plus model-call ticks."""
    t0 = result.started_at
    ordered = _span_tree_order(result.spans)
    starts = [(s.start - t0).total_seconds() * 1000 for s in result.spans]
    ends = [st + s.duration_ms for st, s in zip(starts, result.spans)]
    call_ends = [(c.timestamp - t0).total_seconds() * 1000 + c.latency_ms for c in result.model_calls]
    total = max([result.duration_s * 1000, *ends, *call_ends, 1.0])
    origin = min([0.0, *starts])
    total -= origin
    rows = []
    launch_offset = None
    for index, (s, depth) in enumerate(ordered):
        start = (s.start - t0).total_seconds() * 1000 - origin
        if s.kind == "container" and launch_offset is None:
            launch_offset = start
        rows.append({
            "index": index, "id": s.span_id, "short_id": s.span_id[:8], "kind": s.kind, "name": s.name,
            "depth": depth, "start": start, "duration": s.duration_ms, "error": s.error,
            "left": 100 * start / total, "width": max(100 * s.duration_ms / total, 0.15),
            "bar": f"left: {100 * start / total:.3f}%; width: {max(100 * s.duration_ms / total, 0.15):.3f}%",
            "pad": 8 + depth * 16, "start_text": fmt_ms(start), "dur_text": fmt_ms(s.duration_ms),
            "attrs": [{"key": k, "text": v if isinstance(v, str) else compact_json(v),
                       "long": (len(v) > 100 or "\n" in v) if isinstance(v, str) else len(compact_json(v)) > 100,
                       "pretty": v if isinstance(v, str) else pretty_json(v)} for k, v in s.attrs.items()],
            "parent": s.parent_id,
        })
    ticks = []
    for c in result.model_calls:
        start = (c.timestamp - t0).total_seconds() * 1000 - origin
        ticks.append({"index": c.index, "start": start, "duration": c.latency_ms, "error": bool(c.error),
                      "bar": f"left: {100 * start / total:.3f}%; width: {max(100 * c.latency_ms / total, 0.15):.3f}%",
                      "start_text": fmt_ms(start), "dur_text": fmt_ms(c.latency_ms)})
    # Phase totals for the timing strip: top-level spans only, so nothing is counted twice.
    phases = []
    for row in rows:
        if row["depth"] == 0:
            phases.append({"kind": row["kind"], "name": row["name"], "duration": row["duration"],
                           "share": 100 * row["duration"] / total})
    return {"rows": rows, "ticks": ticks, "total": total, "phases": phases, "launch_offset": launch_offset}


def _content_text(content: Any) -> str:
    """The text of a message's content, whether a string or a list of parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        pieces = []
        for part in content:
            if isinstance(part, Mapping) and part.get("type") == "text":
                pieces.append(str(part.get("text", "")))
            elif isinstance(part, str):
                pieces.append(part)
            else:
                pieces.append(compact_json(part))
        return "\n".join(pieces)
    return compact_json(content)


def _message_view(message: Any) -> dict:
    if not isinstance(message, Mapping):
        text, clipped = clip(_content_text(message))
        return {"role": "?", "text": text, "clipped": clipped, "tool_calls": [], "extra": ""}
    text, clipped = clip(_content_text(message.get("content")))
    tool_calls = []
    listed = message.get("tool_calls")
    for tc in listed if isinstance(listed, list) else []:
        fn = tc.get("function") if isinstance(tc, Mapping) else None
        fn = fn if isinstance(fn, Mapping) else {}
        tool_calls.append({"name": str(fn.get("name", "?")), "arguments": _pretty_arguments(fn.get("arguments", ""))})
    extra = message.get("tool_call_id") or message.get("name") or ""
    return {"role": str(message.get("role", "?")), "text": text, "clipped": clipped, "tool_calls": tool_calls,
            "extra": str(extra)}


def _pretty_arguments(arguments: Any) -> dict:
    """A tool call's arguments for reading: ``{"fields": [(name, text, multiline)]}`` for a JSON object
    (so a file's content shows as the file, not as one escaped line), else ``{"text": ...}``."""
    parsed = arguments
    if isinstance(arguments, str):
        try:
            parsed = json.loads(arguments)
        except ValueError:
            return {"text": clip(arguments)[0], "fields": []}
    if isinstance(parsed, Mapping):
        fields = []
        for key, value in parsed.items():
            text = value if isinstance(value, str) else pretty_json(value)
            fields.append((str(key), clip(text)[0], "\n" in text or len(text) > 100))
        return {"text": "", "fields": fields}
    return {"text": clip(pretty_json(parsed))[0], "fields": []}


def _args_summary(arguments: str) -> str:
    try:
        parsed = json.loads(arguments)
    except (ValueError, TypeError):
        return one_line(arguments, 60)
    if isinstance(parsed, Mapping):
        bits = []
        for k, v in list(parsed.items())[:3]:
            bits.append(f"{k}={one_line(v if isinstance(v, str) else compact_json(v), 40)}")
        return ", ".join(bits)
    return one_line(compact_json(parsed), 60)


def calls_view(result: CellResult) -> list[dict]:
    """The model calls table; each call carries only the messages new since the call before it."""
    t0 = result.started_at
    calls = []
    previous: list = []
    for call in result.model_calls:
        messages = list(call.messages)
        shared = 0
        if previous and messages[: len(previous)] == previous:
            shared = len(previous)
        prompt_msg = next((m for m in reversed(messages) if isinstance(m, Mapping) and m.get("role") == "user"),
                          messages[-1] if messages else None)
        completion, clipped = clip(call.completion or "")
        tool_calls = [{"id": tc.id, "name": tc.name, "arguments": _pretty_arguments(tc.arguments),
                       "summary": f"{tc.name}({_args_summary(tc.arguments)})"} for tc in call.tool_calls]
        summary = one_line(call.completion, 120) if call.completion else ""
        if not summary and tool_calls:
            summary = " · ".join("→ " + tc["summary"] for tc in tool_calls)
        calls.append({
            "index": call.index, "timestamp": fmt_time(call.timestamp),
            "offset": (call.timestamp - t0).total_seconds() * 1000,
            "request_hash": call.request_hash, "model": call.model, "stream": call.stream,
            "prompt": one_line(_content_text(prompt_msg.get("content")) if isinstance(prompt_msg, Mapping)
                               else _content_text(prompt_msg), 120),
            "completion_summary": summary or ("error: " + one_line(call.error, 100) if call.error else "(empty)"),
            "completion": completion, "completion_clipped": clipped, "tool_calls": tool_calls,
            "finish": call.finish_reason or "–", "latency_ms": call.latency_ms, "ttft_ms": call.ttft_ms,
            "prompt_tokens": call.prompt_tokens, "completion_tokens": call.completion_tokens,
            "total_tokens": call.total_tokens, "usage_source": call.usage_source,
            "status": call.status, "error": call.error,
            "error_kind": call.error_kind, "shared": shared, "message_count": len(messages),
            "messages": [_message_view(m) for m in messages[shared:]],
        })
        previous = messages
    return calls


def cast_view(text: str, scrubber: Scrubber) -> Optional[dict]:
    """An asciicast v2 recording as the embedded player reads it, or ``None`` when unreadable."""
    if not text.strip():
        return None
    text = scrubber.text(text)
    lines = text.splitlines()
    try:
        header = json.loads(lines[0])
    except ValueError:
        return None
    if not isinstance(header, Mapping) or header.get("version") != 2:
        return None
    events = []
    size = 0
    truncated = False
    duration = 0.0
    for line in lines[1:]:
        if not line.strip():
            continue
        try:
            t, code, data = json.loads(line)
            t = float(t)
        except (ValueError, TypeError):
            continue
        if code not in ("o", "r", "m"):
            continue
        size += len(data)
        if size > MAX_CAST_CHARS:
            truncated = True
            break
        events.append([round(t, 6), code, data])
        duration = max(duration, t)
    return {"width": int(header.get("width") or 80), "height": int(header.get("height") or 24),
            "duration": duration, "events": events, "truncated": truncated,
            "markers": [{"t": e[0], "label": e[2]} for e in events if e[1] == "m"],
            "idle_time_limit": header.get("idle_time_limit")}


def identity_rows(result: CellResult) -> list[tuple[str, str, bool]]:
    """(label, value, monospace) for the run identity block."""
    ident = result.identity
    rows = [
        ("cell id", result.cell_id, True),
        ("sweep", ident.sweep, True),
        ("adapter", ident.adapter, True),
        ("agent version", result.agent_version or "–", True),
        ("model", ident.model, True),
        ("model build", result.model_build_id or "–", True),
        ("task", ident.task, True),
        ("trial", str(ident.trial), False),
        ("status", result.status + (f": {result.error}" if result.error else ""), False),
        ("exit code", "–" if result.exit_code is None else str(result.exit_code), True),
        ("timed out", "yes" if result.timed_out else "no", False),
        ("sandbox", result.sandbox, True),
        ("isolation", result.isolation + (" (the agent ran unisolated)" if result.isolation == "none" else ""), False),
        ("image", result.container_image or "–", True),
        ("image digest", result.image_digest or "–", True),
        ("plugin stack", ", ".join(result.plugin_stack) or "none", True),
    ]
    for key in ("platform", "python"):
        if result.host.get(key):
            rows.append((f"host {key}", str(result.host[key]), True))
    for mount in result.mounts:  # every host path the sandbox showed (the local sandbox's allow-list)
        rows.append(("mount", f"{mount.path} ({'rw' if mount.writable else 'ro'}): {mount.why}", True))
    return rows


def reproduce(result: CellResult) -> dict:
    """The commands that reproduce the cell: ``cab run`` always, docker where the docker sandbox ran it."""
    ident = result.identity
    command = result.command.strip()
    if not command:
        parts = ["cab", "run", "--adapter", ident.adapter, "--model", ident.model, "--task", ident.task]
        if result.sandbox != "local":
            parts += ["--sandbox", result.sandbox]
        if ident.sweep != "default":
            parts += ["--sweep-id", ident.sweep]
        command = shlex.join(parts)
    if ident.trial != 1 and "--trial" not in command:
        command += f" --trial {ident.trial}"
    docker = None
    if result.sandbox == "docker" or (result.container_image and result.image_digest):
        image = result.container_image or ""
        digest = result.image_digest or ""
        ref = image.split("@", 1)[0] + (("@" + (digest if digest.startswith("sha256:") else f"sha256:{digest}"))
                                        if digest else "")
        docker = {
            "image": image, "digest": digest, "ref": ref,
            "pull": f"docker pull {shlex.quote(ref)}",
            "run": command if "--sandbox" in command else command + " --sandbox docker",
            "shell": f"docker run --rm -it --network none -v \"$PWD:/work\" -w /work {shlex.quote(ref)} sh",
        }
    uses_endpoint = "--endpoint" in command
    return {"command": command, "docker": docker, "uses_endpoint": uses_endpoint,
            "key_env": _key_env(command), "wiring": cell_wiring(result)}


def _key_env(command: str) -> Optional[str]:
    m = re.search(r"--api-key-env[= ](\S+)", command)
    return m.group(1) if m else None
