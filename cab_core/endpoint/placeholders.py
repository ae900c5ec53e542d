"""What differs between recording a cell and replaying it, replaced by placeholders.

A cell's requests name its own folder (``/tmp/cab-cell-xyz/work`` in a system prompt,
in tool-call paths, in tool results) and agents put today's date in their prompts
(pi's ``Current date: 2026-11-30``, opencode's ``Today's date: Mon Nov 30 2026``).
For the request hash these become ``$CELL`` and ``$DATE``, so a cassette recorded in
one folder on one day replays in another folder on another day; the raw request is
still what the cassette keeps.

Responses hold the recording cell's paths too (a model writing
``/tmp/cab-cell-xyz/work/src/lib.rs``), often split across stream events
(``"/tmp/cab-c"`` + ``"ell-xyz/wo"`` ...).  :meth:`Placeholders.record` joins
fragments of one field that together hold a path into the first of them, then
writes the placeholder; :meth:`Placeholders.replay` writes this cell's path back.
Events untouched by either are kept byte for byte.
"""

from __future__ import annotations

import datetime as _dt
import json
from typing import Any, Callable, Iterable, Mapping, Optional

from .sse import SSESplitter, event_data, is_sse

DATE = "$DATE"


def date_strings(moments: Iterable[_dt.datetime]) -> set[str]:
    """The ways agents write the dates of ``moments`` (ISO, JavaScript's ``toDateString``, prose)."""
    found = set()
    for moment in moments:
        for day in {moment.date(), moment.astimezone(_dt.timezone.utc).date()}:
            month, weekday = day.strftime("%B"), day.strftime("%A")
            found.update({
                day.isoformat(), day.strftime("%a %b %d %Y"), day.strftime("%Y/%m/%d"),
                f"{month} {day.day}, {day.year}", f"{weekday}, {month} {day.day}, {day.year}",
                f"{day.day} {month} {day.year}", f"{day.strftime('%b')} {day.day}, {day.year}",
            })
    return found


def _walk(value: Any, fn: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, list):
        return [_walk(v, fn) for v in value]
    if isinstance(value, dict):
        return {k: _walk(v, fn) for k, v in value.items()}
    return value


def _leaves(value: Any, path: tuple = ()) -> Iterable[tuple[tuple, list, Any]]:
    """``(fragment key, container, key)`` of every string leaf; list items keyed by their ``index`` field."""
    if isinstance(value, dict):
        scope = path + (("index", value["index"]),) if isinstance(value.get("index"), int) else path
        for key, item in value.items():
            if isinstance(item, str):
                yield scope + (key,), value, key
            elif key != "index":
                yield from _leaves(item, scope + (key,))
    elif isinstance(value, list):
        for position, item in enumerate(value):
            key = ("index", item["index"]) if isinstance(item, dict) and isinstance(item.get("index"), int) else position
            if isinstance(item, str):
                yield path + (key,), value, position
            else:
                yield from _leaves(item, path + (key,) if not isinstance(key, tuple) else path)


class Placeholders:
    """Cell-specific strings and their placeholders (``literal -> placeholder``) plus the dates to hide."""

    def __init__(self, paths: Optional[Mapping[str, str]] = None, dates: Iterable[str] = ()):
        self.paths = {k: v for k, v in (paths or {}).items() if k}
        self.dates = {d: DATE for d in dates if d}
        self._literals = sorted(self.paths, key=len, reverse=True)
        self._back: dict[str, str] = {}
        for literal, placeholder in self.paths.items():
            self._back.setdefault(placeholder, literal)

    @property
    def for_hash(self) -> dict[str, str]:
        """Every substitution the request hash applies."""
        return {**self.dates, **self.paths}

    def to_placeholders(self, text: str) -> str:
        for literal in self._literals:
            if literal in text:
                text = text.replace(literal, self.paths[literal])
        return text

    def from_placeholders(self, text: str) -> str:
        for placeholder, literal in self._back.items():
            if placeholder in text:
                text = text.replace(placeholder, literal)
        return text

    # ------------------------------------------------------------------ responses

    def record(self, body: str, content_type: str) -> str:
        """A response as the cassette keeps it: this cell's paths as placeholders."""
        if not self._literals:
            return body
        if is_sse(content_type):
            return self._rewrite_stream(body, self.to_placeholders, merge=True)
        return _rewrite_json(body, self.to_placeholders)

    def replay(self, body: str, content_type: str) -> str:
        """A recorded response with placeholders turned into this cell's paths."""
        if not self._back or not any(p in body for p in self._back):
            return body
        if is_sse(content_type):
            return self._rewrite_stream(body, self.from_placeholders, merge=False)
        return _rewrite_json(body, self.from_placeholders)

    def _rewrite_stream(self, body: str, fn: Callable[[str], str], merge: bool) -> str:
        splitter = SSESplitter()
        raws = splitter.feed(body.encode("utf-8"))
        tail = splitter.flush()
        if tail:
            raws.append(tail)
        parsed: list[Any] = []
        for raw in raws:
            data = event_data(raw)
            try:
                parsed.append(json.loads(data) if data and data != b"[DONE]" else None)
            except (ValueError, RecursionError):
                parsed.append(None)
        changed = self._merge_split_literals(parsed) if merge else set()
        out = []
        for position, (raw, obj) in enumerate(zip(raws, parsed)):
            if obj is not None:
                new = _walk(obj, fn)
                if new != obj or position in changed:
                    out.append(_with_data(raw, json.dumps(new, ensure_ascii=False).encode("utf-8")))
                    continue
            out.append(raw)
        return b"".join(out).decode("utf-8", "replace")

    def _merge_split_literals(self, events: list[Any]) -> set[int]:
        """Join fragments of a field whose pieces together (not alone) hold a path; return the events changed."""
        fragments: dict[tuple, list[tuple[int, Any, Any]]] = {}
        for position, obj in enumerate(events):
            if obj is not None:
                for key, container, leaf in _leaves(obj):
                    fragments.setdefault(key, []).append((position, container, leaf))
        changed: set[int] = set()
        for pieces in fragments.values():
            if len(pieces) < 2:
                continue
            joined = "".join(container[leaf] for _, container, leaf in pieces)
            if not any(lit in joined and not any(lit in c[k] for _, c, k in pieces) for lit in self._literals):
                continue
            first_pos, first_container, first_leaf = pieces[0]
            first_container[first_leaf] = joined
            changed.add(first_pos)
            for position, container, leaf in pieces[1:]:
                container[leaf] = ""
                changed.add(position)
        return changed


def _with_data(raw: bytes, data: bytes) -> bytes:
    """SSE event ``raw`` with new data, its other fields kept (Anthropic's SDK types events by ``event:``)."""
    kept = [line for line in raw.splitlines() if line.strip() and not line.startswith(b"data:")]
    return b"\n".join([*kept, b"data: " + data]) + b"\n\n"


def _rewrite_json(body: str, fn: Callable[[str], str]) -> str:
    try:
        obj = json.loads(body)
    except (ValueError, RecursionError):
        return fn(body)
    new = _walk(obj, fn)
    return body if new == obj else json.dumps(new, ensure_ascii=False)
