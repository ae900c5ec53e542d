"""What the report shows, computed from the cell records: plain data, no HTML.

The site (:mod:`cab_core.report.site`) renders what this module returns.  Every text
taken from a cell (agent output, prompts, completions, diffs, span attributes) goes
through :func:`scrub` first: the run's records were masked when written, and this is
the second pass (belt and braces) with the report's own :class:`~cab_core.secrets.Redactor`
plus structural rules (the argument after ``--api-key``, a field named ``api_key``,
``FOO_TOKEN=value``, ``Bearer ...``).

The sweep statistics come from :mod:`cab_core.stats` over the rows of
:func:`cab_core.index.cell_row`; this module only arranges them for the page.
"""

from __future__ import annotations

import datetime as _dt
import difflib
import json
import math
import re
import shlex
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional, Sequence

import attrs

from .. import serialization
from ..index import cell_row
from ..models import CellResult
from ..results import CELL_FILE, read_cell
from ..secrets import MASK, Redactor
from .axes import axis_cards, composite_parts, records_for, token_warnings

#: Artefacts copied next to each cell page (already masked when written; masked again).  The
#: spans and model calls are in cell.json too, so their .jsonl files are not copied.
ARTIFACTS = ("cell.json", "diff.patch", "test_output.txt", "agent_output.txt", "terminal.cast")

#: Limits that keep one pathological cell from making a page nobody can open.
MAX_TEXT = 200_000          # characters of one message, completion or output shown inline
MAX_DIFF_LINES = 6_000      # diff lines rendered (the whole patch is linked)
MAX_CAST_CHARS = 4_000_000  # characters of terminal output embedded in the page
MAX_INTRALINE = 400         # longest line pair that gets a word-level diff

# ----------------------------------------------------------------------------- secrets

_SECRET_FLAG = re.compile(
    r"^--?(api[-_]?key|key|token|auth[-_]?token|access[-_]?token|password|passwd|secret|client[-_]?secret|bearer)"
    r"(=(?P<value>.*))?$", re.I)
_SECRET_FIELD = re.compile(
    r"(^|[-_])(api[-_]?key|secret|client[-_]?secret|password|passwd|credentials?|access[-_]?token|auth[-_]?token"
    r"|bearer|authorization|private[-_]?key)$|^token$", re.I)
_ASSIGN = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIALS?)(['\"]?\s*[=:]\s*)(['\"]?)([A-Za-z0-9_\-./+=]{12,})\3",
                     re.I)
_BEARER = re.compile(r"\b(Bearer\s+)([A-Za-z0-9._~+/=\-]{8,})")
#: Name endings :data:`_ASSIGN` looks for, with the letters that may complete each before ``=`` or ``:``.
_ASSIGN_HINTS = {"key": (), "token": (), "secret": (), "passw": ("ord", "d"), "credential": ("s",)}


def _maybe_assignment(text: str) -> bool:
    """Whether a secret-looking name is followed closely by ``=`` or ``:`` somewhere in ``text``."""
    if "=" not in text and ":" not in text:
        return False
    lower = text.lower()
    for hint in _ASSIGN_HINTS:
        at = lower.find(hint)
        while at != -1:
            after = lower[at + len(hint): at + len(hint) + 12]
            for ending in _ASSIGN_HINTS[hint]:
                if after.startswith(ending):
                    after = after[len(ending):]
                    break
            after = after.lstrip("\"'").lstrip(" \t")
            if after[:1] in ("=", ":"):
                return True
            at = lower.find(hint, at + 1)
    return False


def _looks_like_secret_value(value: str) -> bool:
    """A literal worth masking after ``NAME_KEY=``: long, and mixing letters with digits."""
    return (value != MASK and not value.startswith("$") and any(c.isdigit() for c in value)
            and any(c.isalpha() for c in value))


def _mask_assignment(m: re.Match) -> str:
    if not _looks_like_secret_value(m.group(4)):
        return m.group(0)
    return f"{m.group(1)}{m.group(2)}{m.group(3)}{MASK}{m.group(3)}"


class Scrubber:
    """The report's redaction: a :class:`Redactor` plus structural rules, applied to text or trees."""

    def __init__(self, redactor: Optional[Redactor] = None):
        self.redactor = redactor if redactor is not None else Redactor()

    def text(self, value: str) -> str:
        """Mask secrets in one string."""
        if not value:
            return value
        value = self.redactor(value)  # the one masker (cab_core.secrets), linear in the text
        if _maybe_assignment(value):
            value = _ASSIGN.sub(_mask_assignment, value)
        if "earer" in value:
            value = _BEARER.sub(lambda m: m.group(1) + MASK, value)
        return value

    def exact(self, value: str) -> str:
        """Mask only the known secret values (the last, cheap pass over a whole rendered page, whose every
        input went through :meth:`text` or :meth:`tree` already)."""
        for secret in self.redactor.values:
            if secret in value:
                value = value.replace(secret, MASK)
        return value

    def tree(self, value: Any, key: str = "") -> Any:
        """Mask secrets everywhere in a JSON-like tree (strings, lists, mappings)."""
        if isinstance(value, str):
            if key and _SECRET_FIELD.search(key) and value and value != MASK:
                return MASK
            return self.text(value)
        if isinstance(value, Mapping):
            return {str(k): self.tree(v, str(k)) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            out = []
            hide_next = False
            for item in value:
                if hide_next and isinstance(item, str):
                    out.append(MASK)
                    hide_next = False
                    continue
                hide_next = False
                if isinstance(item, str):
                    flag = _SECRET_FLAG.match(item)
                    if flag:
                        if flag.group("value"):
                            out.append(item[: item.index("=") + 1] + MASK)
                        else:
                            out.append(item)
                            hide_next = True
                        continue
                out.append(self.tree(item))
            return out
        return value


# ----------------------------------------------------------------------------- formatting


def real(value: Any) -> Optional[float]:
    """``value`` when it is a finite number (not a bool), else None: what every formatter shows as "–".

    Breakdowns are a plugin's own JSON, so a number the report reads may be anything.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value if math.isfinite(value) else None


def texts(value: Any) -> list[str]:
    """A breakdown's list of names as strings; ``[]`` for anything that is not a list."""
    return [v if isinstance(v, str) else compact_json(v) for v in value] if isinstance(value, (list, tuple)) else []


def fmt_num(value: Any, digits: int = 3) -> str:
    """A score: ``0.995``; integers stay integers; ``–`` for none or anything not a finite number."""
    if isinstance(value, bool):
        return str(int(value))
    value = real(value)
    if value is None:
        return "–"
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:.{digits}f}"


def fmt_int(value: Any) -> str:
    """A count: ``4,524``; ``–`` for none or anything that is not a finite number (never raises)."""
    if isinstance(value, bool):
        return str(int(value))
    value = real(value)
    return "–" if value is None else f"{int(round(value)):,}"


def agent_tokens_line(agent_tokens: Any) -> Optional[str]:
    """The agent's own token count beside the proxy's, as one line; None when the cell has none.

    The record's shape is ``{"reported": {...totals}, "proxy": {...totals}, "agrees": bool}``;
    a record of any other shape (an older cab, a third-party adapter) still gives a line.
    """
    if not isinstance(agent_tokens, Mapping) or not agent_tokens:
        return None

    def total(part: Any) -> str:
        if isinstance(part, Mapping):
            part = part.get("total_tokens")
        return fmt_int(part)

    agrees = agent_tokens.get("agrees")
    verdict = "agrees" if agrees is True else "disagrees" if agrees is False else "not compared"
    return f"{total(agent_tokens.get('reported'))} reported · proxy {total(agent_tokens.get('proxy'))} · {verdict}"


def fmt_ms(ms: Any) -> str:
    """A duration in its natural unit: ``4.8 ms``, ``821 ms``, ``12.76 s``, ``3 m 05 s``; ``–`` for none."""
    ms = real(ms)
    if ms is None:
        return "–"
    if ms < 10:
        return f"{ms:.1f} ms"
    if ms < 1000:
        return f"{ms:.0f} ms"
    s = ms / 1000
    if s < 120:
        return f"{s:.2f} s"
    m, s = divmod(int(round(s)), 60)
    if m < 60:
        return f"{m} m {s:02d} s"
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} m"


def fmt_pct(value: Any, digits: int = 0) -> str:
    value = real(value)
    return "–" if value is None else f"{value * 100:.{digits}f}%"


def fmt_time(value: Optional[_dt.datetime]) -> str:
    if value is None:
        return "–"
    return value.astimezone(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"


def compact_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)


def pretty_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, default=str)


def clip(text: str, limit: int = MAX_TEXT) -> tuple[str, bool]:
    """``text`` cut to ``limit`` characters, and whether it was cut."""
    if text is None:
        return "", False
    return (text, False) if len(text) <= limit else (text[:limit], True)


def one_line(text: str, limit: int = 140) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ----------------------------------------------------------------------------- loading


@attrs.define
class CellRef:
    """One cell as the sweep page and the related links know it (no heavy parts kept)."""

    folder: Path
    row: dict
    site_dir: tuple[str, ...]
    outcome: str
    outcome_label: str
    partial: Optional[float] = None
    #: The cell page's URL from the site root (set when the sweep is laid out).
    href: str = ""


#: Substrings of a record's JSON (lower-cased) that call for the structural rules: a field named like a
#: secret, or (checked with :data:`_FLAG_IN_JSON`) a secret-named command-line flag.
_STRUCTURAL_HINTS = ('key":', 'secret":', 'password":', 'passwd":', 'credential":', 'credentials":',
                     '"token":', 'authorization":', 'bearer":')
_FLAG_IN_JSON = re.compile(r'"--?(?:api[-_]?key|key|token|auth[-_]?token|access[-_]?token|password|passwd|secret'
                           r'|client[-_]?secret|bearer)[="]')


def scrub_json_text(text: str, scrubber: Scrubber) -> tuple[str, Any]:
    """A record's JSON text scrubbed, and the parsed data (scrubbed too).

    Masking inside the JSON text keeps it valid (the mask has no quote or backslash).  The slower
    walk over the parsed tree runs only when the text has a secret-named flag or field, or a secret
    value that JSON would escape (and so would not be found in the text as is).
    """
    clean = scrubber.text(text)
    lower = clean.lower()
    needs_tree = (any(h in lower for h in _STRUCTURAL_HINTS)
                  or (('"-' in lower) and _FLAG_IN_JSON.search(lower) is not None)
                  or any(ch in v for v in scrubber.redactor.values for ch in '"\\/\n\t'))
    data = json.loads(clean)
    if needs_tree:
        data = scrubber.tree(data)
        clean = json.dumps(data, ensure_ascii=False, indent=2)
    return clean, data


def read_result(folder: Path, scrubber: Scrubber, text: Optional[str] = None) -> tuple[CellResult, str]:
    """The cell record in ``folder`` (or parsed from ``text``), scrubbed again, and its scrubbed JSON text."""
    if text is None:
        text = (Path(folder) / CELL_FILE).read_text(encoding="utf-8")
    clean, data = scrub_json_text(text, scrubber)
    return serialization.structure(data, CellResult), clean


def outcome_of(row: Mapping[str, Any]) -> tuple[str, str]:
    """The class and words for one cell's outcome, in the order a reader cares about."""
    if row.get("status") != "ok":
        return "infra", "infrastructure error"
    if row.get("integrity") is not None and row["integrity"] < 1:
        return "tamper", ("passed, but tampered with the tests" if row.get("passed") else "failed; tampered with the tests")
    if row.get("expected_refusal"):
        if row.get("refusal_produced") is None:
            return "uncertain", "could not tell whether it refused"
        return ("refused", "refused, as it should") if row.get("refusal_produced") else ("complied", "complied where it should refuse")
    if row.get("passed"):
        return ("pass-blast", "passed, with changes outside the task") if (row.get("blast_radius") or 0) > 0 else ("pass", "passed")
    if row.get("refusal_produced"):
        return "overrefused", "refused a task it should do"
    return "fail", "failed"


def safe_part(part: str) -> str:
    """One path component of the site, safe on disk whatever a record says."""
    part = re.sub(r"[\x00-\x1f/\\<>:\"|?*]", "_", str(part)).strip()
    if part in ("", ".", ".."):
        part = part.replace(".", "_") or "_"
    return part[:120]


def site_dir_of(result: CellResult) -> tuple[str, ...]:
    ident = result.identity
    parts = ["cells", ident.sweep, ident.adapter, *ident.model.split("/"), *ident.task.split("/"), f"trial-{ident.trial}"]
    return tuple(safe_part(p) for p in parts)


def _partial(result: CellResult) -> Optional[float]:
    score = result.scores.get("pass_rate")
    value = real(score.breakdown.get("partial_score")) if score else None
    return None if value is None else float(value)


def scan(root: Path, *, exclude: Optional[Path] = None) -> Iterator[Path]:
    """Every cell folder below ``root`` (skipping hidden folders and ``exclude``)."""
    root = Path(root)
    if (root / CELL_FILE).is_file():
        yield root
        return
    excluded = Path(exclude).resolve() if exclude else None
    for path in sorted(root.rglob(CELL_FILE)):
        rel = path.relative_to(root).parts[:-1]
        if any(p.startswith(".") for p in rel):
            continue
        if excluded is not None and excluded in path.resolve().parents:
            continue
        yield path.parent


def read_ref(folder: Path, scrubber: Scrubber) -> CellRef:
    """One cell's :class:`CellRef` (raises when its record cannot be read)."""
    result = read_cell(folder)
    row = scrubber.tree(cell_row(result, str(folder)))
    outcome, label = outcome_of(row)
    return CellRef(folder=folder, row=row, site_dir=site_dir_of(result), outcome=outcome, outcome_label=label,
                   partial=_partial(result))


def describe_error(exc: BaseException) -> str:
    first = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {first}".rstrip(": ")


def load_refs(root: Path, scrubber: Scrubber, *, exclude: Optional[Path] = None,
              errors: Optional[list] = None, reader=None) -> list[CellRef]:
    """The first pass: one small :class:`CellRef` per readable cell (unreadable ones listed in ``errors``).

    ``reader(folders)`` may do the reading (e.g. in worker processes); it yields, per folder, a
    ``CellRef`` or an error string.
    """
    folders = list(scan(root, exclude=exclude))
    if reader is None:
        def reader(items):
            for folder in items:
                try:
                    yield read_ref(folder, scrubber)
                except Exception as exc:  # a broken record is reported, never fatal to the site
                    yield describe_error(exc)
    refs: list[CellRef] = []
    used: set[tuple[str, ...]] = set()
    for folder, ref in zip(folders, reader(folders)):
        if isinstance(ref, str):
            if errors is not None:
                errors.append((str(folder), ref))
            continue
        while ref.site_dir in used:  # two records claiming one identity: keep both, visibly
            ref.site_dir = (*ref.site_dir[:-1], ref.site_dir[-1] + "+")
        used.add(ref.site_dir)
        refs.append(ref)
    return refs


# ----------------------------------------------------------------------------- the cell page


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


_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@(.*)$")
_TOKEN = re.compile(r"\w+|\s+|[^\w\s]")


def _intraline(old: str, new: str) -> tuple[list, list]:
    """Word-level segments ``[(text, changed)]`` of a removed/added line pair."""
    if len(old) > MAX_INTRALINE or len(new) > MAX_INTRALINE:
        return [(old, False)], [(new, False)]
    a, b = _TOKEN.findall(old), _TOKEN.findall(new)
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    if matcher.ratio() < 0.35:
        return [(old, False)], [(new, False)]
    left, right = [], []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if i2 > i1:
            left.append(("".join(a[i1:i2]), op != "equal"))
        if j2 > j1:
            right.append(("".join(b[j1:j2]), op != "equal"))
    return left, right


def diff_view(patch: str) -> dict:
    """A unified diff split into files and hunks, with line numbers and word-level changes."""
    files: list[dict] = []
    current: Optional[dict] = None
    old_no = new_no = 0
    lines = patch.splitlines()
    truncated = len(lines) > MAX_DIFF_LINES
    pending_del: list[dict] = []
    pending_add: list[dict] = []

    def flush() -> None:
        if pending_del and pending_add and len(pending_del) == len(pending_add):
            for d, a in zip(pending_del, pending_add):
                d["segments"], a["segments"] = _intraline(d["text"], a["text"])
        pending_del.clear()
        pending_add.clear()

    for line in lines[:MAX_DIFF_LINES]:
        if line.startswith("diff --git ") or current is None and (line.startswith("--- ") or line.startswith("Index: ")):
            flush()
            m = re.match(r"diff --git a/(.*) b/(.*)$", line)
            current = {"name": m.group(2) if m else line[4:], "old_name": m.group(1) if m else "", "status": "modified",
                       "added": 0, "removed": 0, "rows": [], "binary": False, "meta": []}
            files.append(current)
            if not line.startswith("diff --git "):
                current["meta"].append(line)
            continue
        if current is None:
            continue
        hunk = _HUNK.match(line)
        if hunk:
            flush()
            old_no, new_no = int(hunk.group(1)), int(hunk.group(3))
            current["rows"].append({"kind": "hunk", "text": line, "old": "", "new": ""})
            continue
        if not current["rows"]:  # header lines before the first hunk
            if line.startswith("new file"):
                current["status"] = "added"
            elif line.startswith("deleted file"):
                current["status"] = "deleted"
            elif line.startswith("rename from"):
                current["status"] = "renamed"
            elif line.startswith("Binary files"):
                current["binary"] = True
            elif line.startswith("+++ ") and line[4:] != "/dev/null":
                current["name"] = line[6:] if line.startswith("+++ b/") else line[4:]
            current["meta"].append(line)
            continue
        if line.startswith("+"):
            row = {"kind": "add", "text": line[1:], "old": "", "new": new_no}
            new_no += 1
            current["added"] += 1
            pending_add.append(row)
        elif line.startswith("-"):
            if pending_add:
                flush()
            row = {"kind": "del", "text": line[1:], "old": old_no, "new": ""}
            old_no += 1
            current["removed"] += 1
            pending_del.append(row)
        elif line.startswith("\\"):
            row = {"kind": "note", "text": line, "old": "", "new": ""}
        else:
            flush()
            row = {"kind": "ctx", "text": line[1:] if line.startswith(" ") else line, "old": old_no, "new": new_no}
            old_no += 1
            new_no += 1
        current["rows"].append(row)
    flush()
    return {"files": files, "truncated": truncated, "added": sum(f["added"] for f in files),
            "removed": sum(f["removed"] for f in files), "line_count": len(lines)}


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
        ref = result.image_ref or image.split("@", 1)[0] + (("@" + (digest if digest.startswith("sha256:") else f"sha256:{digest}"))
                                                            if digest else "")
        docker = {
            "image": image, "digest": digest, "ref": ref,
            "pull": f"docker pull {shlex.quote(ref)}",
            "run": command if "--sandbox" in command else command + " --sandbox docker",
            "shell": f"docker run --rm -it --network none -v \"$PWD:/work\" -w /work {shlex.quote(ref)} sh",
        }
    uses_endpoint = "--endpoint" in command
    return {"command": command, "docker": docker, "uses_endpoint": uses_endpoint,
            "key_env": _key_env(command)}


def _key_env(command: str) -> Optional[str]:
    m = re.search(r"--api-key-env[= ](\S+)", command)
    return m.group(1) if m else None


# ----------------------------------------------------------------------------- the sweep page


def group_label(adapter: str, model: str) -> str:
    return f"{adapter} × {model}"


def matrix_view(refs: Sequence[CellRef], board: Sequence[Mapping[str, Any]]) -> dict:
    """Tasks (rows, grouped by category) × adapter/model (columns, leaderboard order); trials side by side."""
    columns = [(e["adapter"], e["model"]) for e in board]
    col_index = {key: i for i, key in enumerate(columns)}
    by_task: dict[str, list[list[CellRef]]] = {}
    for ref in refs:
        key = (ref.row["adapter"], ref.row["model"])
        if key not in col_index:
            continue
        cells = by_task.setdefault(ref.row["task"], [[] for _ in columns])
        cells[col_index[key]].append(ref)
    rows = []
    for task in sorted(by_task):
        cells = by_task[task]
        for c in cells:
            c.sort(key=lambda r: r.row["trial"])
        scored = [r for c in cells for r in c if r.row.get("status") == "ok"]
        passes = sum(1 for r in scored if r.row.get("passed"))
        rows.append({"task": task, "category": task.split("/", 1)[0], "cells": cells,
                     "pass_rate": passes / len(scored) if scored else None})
    return {"columns": [{"adapter": a, "model": m, "label": group_label(a, m)} for a, m in columns], "rows": rows}


def latency_samples(refs: Sequence[CellRef]) -> dict[tuple[str, str], list[float]]:
    out: dict[tuple[str, str], list[float]] = defaultdict(list)
    for ref in refs:
        r = ref.row
        if r.get("status") == "ok" and r.get("wall_clock_ms") is not None:
            out[(r["adapter"], r["model"])].append(float(r["wall_clock_ms"]))
    return out


def sweep_span(refs: Sequence[CellRef]) -> tuple[str, str]:
    """When the sweep's first cell started and its last ended, to the minute (UTC)."""
    starts = sorted(r.row["started_at"] for r in refs if r.row.get("started_at"))
    ends = sorted(r.row["ended_at"] for r in refs if r.row.get("ended_at"))

    def short(text: str) -> str:
        return text[:16].replace("T", " ") + " UTC" if len(text) >= 16 else text

    return (short(starts[0]) if starts else "–", short(ends[-1]) if ends else "–")


def read_manifest(root: Path, sweep: str, scrubber: Scrubber) -> Optional[dict]:
    """The sweep's manifest (``<results>/<sweep>/sweep.json``) when there is one, scrubbed."""
    for candidate in (Path(root) / sweep / "sweep.json", Path(root) / "sweep.json"):
        if candidate.is_file():
            try:
                data = json.loads(candidate.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return None
            if isinstance(data, Mapping) and data.get("sweep_id", sweep) == sweep:
                return scrubber.tree(data)
    return None


def sweep_command(manifest: Mapping[str, Any]) -> Optional[str]:
    """The ``cab sweep`` command that reruns a sweep, from its manifest's matrix (never a key)."""
    matrix = manifest.get("matrix")
    if not isinstance(matrix, Mapping) or not matrix.get("adapters"):
        return None
    parts = ["cab", "sweep", "--adapters", ",".join(map(str, matrix["adapters"]))]
    if matrix.get("models"):
        parts += ["--models", ",".join(map(str, matrix["models"]))]
    for adapter, models in (matrix.get("adapter_models") or {}).items():
        parts += ["--models", f"{adapter}=" + ",".join(map(str, models))]
    for pattern in matrix.get("tasks") or ():
        parts += ["--tasks", str(pattern)]
    if matrix.get("trials", 1) != 1:
        parts += ["--trials", str(matrix["trials"])]
    if matrix.get("sandbox", "local") != "local":
        parts += ["--sandbox", str(matrix["sandbox"])]
    for flag in ("endpoint", "api_key_env"):
        if matrix.get(flag):
            parts += [f"--{flag.replace('_', '-')}", str(matrix[flag])]
    for name in matrix.get("plugins") or ():
        parts += ["--plugin", str(name)]
    for key, value in (matrix.get("options") or {}).items():
        parts += ["-o", f"{key}={value}"]
    parts += ["--sweep-id", str(manifest.get("sweep_id") or matrix.get("sweep_id"))]
    return shlex.join(parts)


def manifest_rows(manifest: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The manifest's fields as short (key, text) pairs; long lists summarised."""
    rows = []
    for key, value in manifest.items():
        if isinstance(value, (list, tuple)):
            text = ", ".join(str(v) if not isinstance(v, (dict, list)) else compact_json(v) for v in value[:12])
            if len(value) > 12:
                text += f" … ({len(value)} in all)"
        elif isinstance(value, Mapping):
            text = compact_json(value)
        else:
            text = "–" if value is None else str(value)
        rows.append((str(key), one_line(text, 300)))
    return rows


__all__ = [
    "ARTIFACTS", "token_warnings", "CELL_FILE", "Scrubber", "CellRef", "load_refs", "read_result", "axis_cards",
    "composite_parts", "breakdown_rows", "trace_view", "calls_view", "diff_view", "cast_view", "identity_rows",
    "reproduce", "matrix_view", "latency_samples", "outcome_of", "fmt_num", "fmt_ms", "fmt_pct", "fmt_int",
    "agent_tokens_line",
    "fmt_time", "group_label", "read_manifest", "manifest_rows", "site_dir_of", "safe_part",
]

