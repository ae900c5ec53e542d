"""What the recording proxy does with cassettes: listing their models, explaining a miss, adding an exchange.

A replayed cell must be explainable when it diverges: a miss names the nearest recorded
request and the fields that differ, so "the agent asked something else" is told apart
from "the cassette is stale".  What goes into a cassette is scrubbed of the key and has
this cell's folders and dates replaced by placeholders (:mod:`.placeholders`), so one
recording replays in another folder on another day.
"""

from __future__ import annotations

import json
from typing import Any, Callable

from ..cassette import Cassette
from .exchange import Exchange
from .placeholders import Placeholders


def cassette_models(replay: Cassette) -> dict:
    """A ``GET /models`` answer listing the models the cassette's requests name."""
    models = sorted({str(e.request.get("model")) for e in replay if isinstance(e.request, dict) and e.request.get("model")})
    return {"object": "list", "data": [{"id": m, "object": "model", "created": 0, "owned_by": "cassette"} for m in models]}


def miss_reason(replay: Cassette, ex: Exchange, entry: Any, substitutions: dict) -> str:
    """Why the replay cassette cannot answer ``ex``: the nearest recorded request and what differs."""
    head = f"cassette miss for request {ex.request_hash} (request #{ex.index}, model {ex.info.get('model')!r})"
    if entry is not None:
        return f"{head}: the cassette holds this request but not its response (over the record cap when recorded)"
    near = replay.nearest(ex.request, ex.index, substitutions) if ex.request is not None else None
    if near is None:
        return f"{head}: the cassette holds no request to compare with; record it first"
    number, fields = near
    shown = ", ".join(fields[:6]) + (f" and {len(fields) - 6} more" if len(fields) > 6 else "")
    return f"{head}: nearest recorded request #{number} differs in {shown or 'nothing but volatile fields'}"


def record_exchange(record: Cassette, ex: Exchange, scrub: Callable[[str], str], placeholders: Placeholders,
                    substitutions: dict) -> None:
    """Add one finished exchange to ``record`` (a body over the record caps is kept as its hash and size)."""
    omitted: dict = {}
    if not ex.info.get("kept", True) or ex.request is None:
        request: Any = {"omitted": {"sha256": ex.info.get("sha256"), "bytes": ex.info.get("bytes")}}
        omitted["request"] = request["omitted"]
    else:
        request = json.loads(scrub(json.dumps(ex.request, ensure_ascii=False)))
    data = ex.capture.kept
    if data is None:
        omitted["response"] = ex.capture.summary()
        text = ""
    else:
        text = placeholders.record(scrub(data.decode("utf-8", "replace")), ex.content_type)
    record.add(ex.request_hash, request, ex.status, ex.content_type, text, omitted=omitted, substitutions=substitutions)
