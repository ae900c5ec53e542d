"""Is the endpoint down, or did the agent fail?  Decided from the harness's own evidence.

Nothing an agent sends may make its cell an environment error: it can name any model
in its requests, send one call and quit before the answer, flood or hang up.  So when
none of a cell's calls succeeded, the proxy asks the upstream itself, with the cell's
own model and a request of its own (:func:`probe`).  Only if that probe fails too is
the endpoint to blame; if it answers, the failed calls were the agent's doing.
"""

from __future__ import annotations

import json
import time
from typing import Callable, Mapping, Optional, Sequence

from ..lazy import LazyModule
from ..models import ModelCall
from .protocol import WireProtocol

# A probe runs only when a cell's calls failed: http.client (and ssl with it) is imported then (issue 16).
http_client = LazyModule("http.client")
urllib_error = LazyModule("urllib.error")
urllib_request = LazyModule("urllib.request")

#: ``error_kind`` values that may mean the endpoint (not the agent) failed a call.
INFRA_ERROR_KINDS = frozenset({"connection", "timeout", "rate_limit", "server", "bad_response", "cassette_miss"})

#: Statuses that mean the endpoint is up and judged the probe itself (not the endpoint's fault).
_ANSWERED = frozenset({400, 422})
#: The longest a probe waits for a rate limit to pass before trying once more.
MAX_RETRY_AFTER_S = 10.0


def _one_line(text: str, limit: int = 200) -> str:
    line = " ".join(text.split())
    return line[:limit]


def _request(url: str, body: Optional[dict], api_key: Optional[str], timeout: float,
             protocol: Optional[WireProtocol] = None) -> tuple[int, bytes, float]:
    """``(status, body, retry_after)``; transport failures raise ``OSError``."""
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if api_key:
        headers.update(protocol.auth_headers(api_key) if protocol else {"Authorization": f"Bearer {api_key}"})
    if protocol is not None and protocol.key_header.lower() == "x-api-key":
        headers["anthropic-version"] = "2023-06-01"
    data = None if body is None else json.dumps(body).encode()
    request = urllib_request.Request(url, data=data, headers=headers, method="GET" if body is None else "POST")
    try:
        with urllib_request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (the cell's own endpoint)
            return response.status, response.read(1 << 20), 0.0
    except urllib_error.HTTPError as exc:
        try:
            retry = float(exc.headers.get("Retry-After") or 1)
        except (ValueError, RecursionError):
            retry = 1.0
        return exc.code, exc.read(1 << 16), retry


def probe(upstream: str, protocol: WireProtocol, model: Optional[str], api_key: Optional[str] = None,
          timeout: float = 15.0) -> Optional[str]:
    """``None`` when ``upstream`` answers a probe of its own properly, else one line saying how it failed.

    With a ``model``, the probe is the protocol's smallest request for that model;
    without one, a ``GET /models``.  A rate limit is waited out once (up to
    :data:`MAX_RETRY_AFTER_S`).  The key never appears in the answer.
    """
    base = upstream.rstrip("/")
    url, body = (base + protocol.probe_path(model), protocol.probe_body(model)) if model else (base + "/models", None)
    deadline = time.monotonic() + timeout
    for attempt in (1, 2):
        try:
            status, data, retry_after = _request(url, body, api_key, max(0.5, deadline - time.monotonic()), protocol)
        except (OSError, ValueError, http_client.HTTPException) as exc:  # refused, reset, cut, timed out
            reason = getattr(exc, "reason", None) or exc
            return f"probe of {base}: {type(exc).__name__}: {_one_line(str(reason))}"
        if status == 429 and attempt == 1 and retry_after <= min(MAX_RETRY_AFTER_S, deadline - time.monotonic()):
            time.sleep(retry_after)
            continue
        break
    if status in _ANSWERED:
        return None
    if status >= 300:
        return f"probe of {base}: HTTP {status}: {_one_line(data.decode('utf-8', 'replace'))}"
    try:
        obj = json.loads(data)
    except (ValueError, RecursionError):
        return f"probe of {base}: not JSON: {_one_line(data.decode('utf-8', 'replace'))}"
    if body is not None and not protocol.probe_ok(obj):
        return f"probe of {base}: not a {protocol.name} answer: {_one_line(data.decode('utf-8', 'replace'))}"
    return None


def environment_failure(calls: Sequence[ModelCall], misses: Mapping[int, str], upstream: Optional[str],
                        probe_upstream: Callable[[], Optional[str]]) -> Optional[str]:
    """Why the harness's side failed the cell (a line starting ``environment:``), or ``None``.

    * A replay miss (``misses``: call index -> why) whose call did not succeed upstream
      instead is always the environment: the cassette cannot reproduce the cell.
    * Otherwise, only when calls were made and none succeeded: with an upstream, if
      ``probe_upstream()`` (the harness's own request) fails too; replaying without
      one, if every replayed call was a recorded endpoint failure.
    """
    by_index = {c.index: c for c in calls}
    for index, miss in sorted(misses.items()):
        call = by_index.get(index)
        if call is not None and call.error_kind is not None:
            return f"environment: replay {miss}"
    if not calls or any(c.error_kind is None for c in calls):
        return None
    counts: dict[str, int] = {}
    for call in calls:
        counts[call.error_kind] = counts.get(call.error_kind, 0) + 1
    summary = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items(), key=lambda kv: -kv[1]))
    last = (calls[-1].error or "").splitlines()
    detail = f"; last: {last[0][:200]}" if last else ""
    if upstream is None:
        if all(c.error_kind in INFRA_ERROR_KINDS for c in calls):
            return f"environment: model endpoint failed: all {len(calls)} replayed model call(s) failed ({summary}){detail}"
        return None
    found = probe_upstream()
    if found is None:
        return None
    return (f"environment: model endpoint failed: all {len(calls)} model call(s) to {upstream} failed "
            f"({summary}){detail}; the harness's own {found}")
