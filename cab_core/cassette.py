"""Record model traffic once, replay it offline: a cassette of chat-completion exchanges.

A cassette is a JSON Lines file, one exchange a line::

    {"request_hash": "…", "request": {…body…}, "status": 200,
     "content_type": "text/event-stream", "response": "data: {…}\\n\\ndata: [DONE]\\n\\n"}

``response`` is the raw upstream body as text (for a stream, the whole event stream
exactly as it arrived).  Cassettes hold request bodies and response bodies only,
never headers, so no API key can end up in one; the recording proxy additionally
scrubs its key from any text before adding it.

Requests are matched by :func:`request_hash`.  Identical requests (an agent that
retries after a 429, say) are answered in the order they were recorded: the
cassette keeps a FIFO per hash.  Each entry also keeps the substitutions its hash
was made with (``substitutions``: the recording cell's folder -> ``$CELL``) and which
bodies were too large to keep (``omitted``), so a request the cassette does not hold
can be explained: :meth:`Cassette.nearest` names the recorded request closest to it
and the fields where they differ.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import tempfile
import threading
from collections import defaultdict, deque
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional, Union

import attrs

from .errors import CabError

#: A time of day written next to a date the substitutions hid (``2026-11-30T03:55:18Z`` becomes
#: ``$DATET03:55:18Z``): agents stamp each message with the time (Kilo's ``Message time:``), which
#: differs between recording and replay as the date does.
_TIME_AFTER_DATE = re.compile(r"(\$DATE[T ])\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:\s?(?:Z|UTC|GMT)?[+-]\d{2}:?\d{2}|Z)?")

#: A substitution key starting with this is a regular expression, not a literal: what an
#: adapter declares volatile in its requests (:attr:`cab_core.models.Adapter.replay_volatile`).
#: Literal keys are the cell's folders and dates, which never start with it.
PATTERN_PREFIX = "re:"

#: Body fields left out of the request hash: they identify the caller or carry
#: bookkeeping that differs between otherwise identical runs, not what is asked
#: (Codex sends per-session ids in ``client_metadata`` and ``prompt_cache_key``).
VOLATILE_FIELDS = frozenset({"user", "metadata", "client_metadata", "prompt_cache_key", "safety_identifier"})


def stable_body(body: Any) -> Any:
    """``body`` without its volatile fields, and without the ids a client gives its own Responses ``input`` items.

    Codex names each message it sends ``msg_<random uuid>``; the item's content is what is asked.
    """
    if not isinstance(body, Mapping):
        return body
    body = {k: v for k, v in body.items() if k not in VOLATILE_FIELDS}
    if isinstance(body.get("input"), list):
        body["input"] = [{k: v for k, v in item.items() if k != "id"} if isinstance(item, Mapping) else item
                         for item in body["input"]]
    return body


def canonical_json(body: Any) -> str:
    """The JSON text a request is hashed on: keys sorted, no whitespace, volatile fields and item ids dropped."""
    return json.dumps(stable_body(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def request_hash(body: Any, substitutions: Optional[Mapping[str, str]] = None) -> str:
    """First 16 hex digits of the sha256 of :func:`canonical_json` of a request body.

    ``body`` is the parsed JSON; raw bytes that are not JSON hash as they are.
    ``substitutions`` (e.g. this cell's work directory -> ``$WORK``) are applied to the
    text first, longest first, so per-cell paths in prompts do not change the hash; a time
    of day right after a hidden date (``$DATE``) becomes ``$TIME``.
    """
    if isinstance(body, (bytes, bytearray)):
        text = bytes(body).decode("utf-8", errors="surrogateescape")
    else:
        text = canonical_json(body)
    text = _substitute(text, substitutions)
    if "$DATE" in text:
        text = _TIME_AFTER_DATE.sub(r"\1$TIME", text)
    data = text.encode("utf-8", errors="surrogateescape")
    return hashlib.sha256(data).hexdigest()[:16]


def _substitute(text: str, substitutions: Optional[Mapping[str, str]]) -> str:
    """``text`` with each literal key replaced (longest first), then each ``re:PATTERN`` key."""
    subs = substitutions or {}
    for old in sorted((k for k in subs if k and not k.startswith(PATTERN_PREFIX)), key=len, reverse=True):
        text = text.replace(old, subs[old])
    for key in (k for k in subs if k.startswith(PATTERN_PREFIX)):
        text = _pattern(key[len(PATTERN_PREFIX):]).sub(subs[key], text)
    return text


@functools.lru_cache(maxsize=64)
def _pattern(source: str) -> "re.Pattern[str]":
    return re.compile(source)


class CassetteError(CabError, ValueError):
    """A cassette file that is missing or not a cassette."""


@attrs.frozen(kw_only=True)
class CassetteEntry:
    """One recorded exchange."""

    request_hash: str
    request: Any
    status: int
    content_type: str
    response: str
    omitted: dict = attrs.field(factory=dict)
    substitutions: dict = attrs.field(factory=dict)

    def to_json(self) -> dict:
        data = attrs.asdict(self)
        for key in ("omitted", "substitutions"):
            if not data[key]:
                del data[key]
        return data


class Cassette:
    """An ordered list of recorded exchanges, looked up by request hash (FIFO per hash).

    Thread-safe: the proxy adds and looks up from its own event-loop thread while the
    caller may save from another.
    """

    def __init__(self, path: Union[str, Path, None] = None, entries: Optional[list] = None):
        #: Where :meth:`save` writes by default (the proxy saves a recording cassette here on stop).
        self.path: Optional[Path] = Path(path) if path is not None else None
        self._lock = threading.Lock()
        self._entries: list[CassetteEntry] = []
        self._queues: dict[str, deque] = defaultdict(deque)
        for entry in entries or ():
            self._append(entry)

    # ------------------------------------------------------------------ building

    @classmethod
    def load(cls, path: Union[str, Path]) -> "Cassette":
        """Read a cassette file; a missing file or a line that is not an entry raises :class:`CassetteError`."""
        path = Path(path)
        entries = []
        if not path.is_file():
            raise CassetteError(f"cassette {path} does not exist (record one first with a recording proxy)")
        with path.open(encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    data = json.loads(line)
                    entries.append(
                        CassetteEntry(
                            request_hash=str(data["request_hash"]),
                            request=data.get("request"),
                            status=int(data["status"]),
                            content_type=str(data.get("content_type") or "application/json"),
                            response=str(data["response"]),
                            omitted=dict(data.get("omitted") or {}),
                            substitutions={str(k): str(v) for k, v in (data.get("substitutions") or {}).items()},
                        )
                    )
                except (ValueError, KeyError, TypeError) as exc:
                    raise CassetteError(f"cassette {path}:{lineno}: not a valid entry ({exc})") from None
        return cls(path, entries)

    def add(self, request_hash: str, request: Any, status: int, content_type: str, response: str,
            omitted: Optional[dict] = None, substitutions: Optional[dict] = None) -> CassetteEntry:
        """Append one exchange and return it."""
        entry = CassetteEntry(
            request_hash=request_hash, request=request, status=int(status), content_type=content_type, response=response,
            omitted=dict(omitted or {}), substitutions=dict(substitutions or {}),
        )
        with self._lock:
            self._append(entry)
        return entry

    def _append(self, entry: CassetteEntry) -> None:
        self._entries.append(entry)
        self._queues[entry.request_hash].append(entry)

    def save(self, path: Union[str, Path, None] = None) -> Path:
        """Write the cassette atomically (temporary file, then ``os.replace``) and return the path."""
        target = Path(path) if path is not None else self.path
        if target is None:
            raise ValueError("cassette has no path: pass one to save()")
        target.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            lines = [json.dumps(e.to_json(), ensure_ascii=False, sort_keys=True) + "\n" for e in self._entries]
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.writelines(lines)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target

    # ------------------------------------------------------------------ replaying

    def lookup(self, request_hash: str) -> Optional[CassetteEntry]:
        """The next unplayed exchange recorded for ``request_hash``, or ``None`` when there is none left."""
        with self._lock:
            queue = self._queues.get(request_hash)
            return queue.popleft() if queue else None

    def rewind(self) -> None:
        """Make every entry playable again (for replaying one cassette more than once)."""
        with self._lock:
            self._queues = defaultdict(deque)
            for entry in self._entries:
                self._queues[entry.request_hash].append(entry)

    def nearest(self, request: Any, index: int, substitutions: Optional[Mapping[str, str]] = None
                ) -> Optional[tuple[int, list[str]]]:
        """The recorded request closest to ``request`` (the call numbered ``index``): ``(entry number, differing fields)``.

        Closest means fewest differing fields (JSON paths such as ``messages[3].content``),
        then nearest in order; each side is compared with its own substitutions applied,
        so cell folders do not count as differences.  ``None`` for an empty cassette.
        """
        mine = _normalised(stable_body(request), substitutions)
        best: Optional[tuple[int, int, int, list[str]]] = None
        for number, entry in enumerate(self.entries):
            fields = sorted(diff_fields(_normalised(stable_body(entry.request), entry.substitutions), mine))
            key = (len(fields), abs(number - index))
            if best is None or key < best[:2]:
                best = (*key, number, fields)
        return None if best is None else (best[2], best[3])

    @property
    def entries(self) -> tuple[CassetteEntry, ...]:
        with self._lock:
            return tuple(self._entries)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __iter__(self) -> Iterator[CassetteEntry]:
        return iter(self.entries)

    def __repr__(self) -> str:
        return f"Cassette(path={str(self.path) if self.path else None!r}, entries={len(self)})"


def _normalised(value: Any, substitutions: Optional[Mapping[str, str]]) -> Any:
    """``value`` with ``substitutions`` applied to every string in it."""
    if not substitutions:
        return value

    def walk(item: Any) -> Any:
        if isinstance(item, str):
            return _substitute(item, substitutions)
        if isinstance(item, list):
            return [walk(v) for v in item]
        if isinstance(item, Mapping):
            return {k: walk(v) for k, v in item.items()}
        return item

    return walk(value)


def diff_fields(recorded: Any, seen: Any, path: str = "", limit: int = 1000) -> Iterator[str]:
    """The JSON paths where two requests differ (volatile fields ignored at the top), at most ``limit``."""
    count = 0
    stack = [(path, recorded, seen)]
    while stack and count < limit:
        where, a, b = stack.pop()
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            keys = sorted(set(a) | set(b), reverse=True)
            for key in keys:
                if not where and key in VOLATILE_FIELDS:
                    continue
                sub = f"{where}.{key}" if where else str(key)
                if key not in a or key not in b:
                    count += 1
                    yield sub
                else:
                    stack.append((sub, a[key], b[key]))
        elif isinstance(a, list) and isinstance(b, list):
            if len(a) != len(b):
                count += 1
                yield f"{where}[{len(a)} recorded, {len(b)} now]"
            for i in reversed(range(min(len(a), len(b)))):
                stack.append((f"{where}[{i}]", a[i], b[i]))
        elif a != b or type(a) is not type(b):
            count += 1
            yield where or "(the whole request)"
