"""How much the proxy holds and records, so no agent can flood the harness through it.

* ``max_request_bytes``: a request body larger than this is refused (HTTP 413 in the
  protocol's error shape) after being read through in constant memory, hashed and
  counted; it is never relayed or held whole.
* ``record_call_bytes``: a request or response body larger than this is relayed but
  not kept: the record holds its sha256 and size (``ModelCall.omitted``).
* ``record_cell_bytes``: all kept bodies of a cell together; once spent, later bodies
  are kept as sha256 and size only.
* ``inflight_request_bytes``: request bodies held at once, all calls together (a
  body whose ``Content-Length`` is over the limit is never held at all); a request
  that would pass it is refused with a 429 naming the limit.

Set them with ``-o proxy.max_request_bytes=16M`` (and so on) on ``cab run``.
"""

from __future__ import annotations

import hashlib
import threading
from typing import TYPE_CHECKING, Any, Mapping, Optional

import attrs

from ..errors import CabError
from ..sandbox.limits import parse_size

if TYPE_CHECKING:  # aiohttp is imported when a proxy starts, not with the limits (issue 16)
    from aiohttp import StreamReader

MIB = 1 << 20
_READ_CHUNK = 1 << 16


def _positive(instance: Any, attribute: attrs.Attribute, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise CabError(f"proxy limit {attribute.name} must be a positive number of bytes, not {value!r}")


@attrs.frozen(kw_only=True)
class ProxyLimits:
    """The proxy's byte limits (see the module docstring)."""

    max_request_bytes: int = attrs.field(default=32 * MIB, validator=_positive)
    record_call_bytes: int = attrs.field(default=4 * MIB, validator=_positive)
    record_cell_bytes: int = attrs.field(default=64 * MIB, validator=_positive)
    inflight_request_bytes: int = attrs.field(default=64 * MIB, validator=_positive)

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> "ProxyLimits":
        """Limits from ``-o proxy.NAME=BYTES`` options (names without the prefix); bad ones are one-line errors."""
        known = {a.name for a in attrs.fields(cls)}
        values = {}
        for key, value in options.items():
            if key not in known:
                raise CabError(f"unknown proxy limit {key!r} (available: {', '.join(sorted(known))})")
            size = parse_size(value, f"proxy.{key}")
            if size is None:
                raise CabError(f"proxy limit {key} cannot be turned off (give a size, e.g. 32M)")
            values[key] = size
        return cls(**values)


class ByteBudget:
    """Bytes still available from a fixed total (thread-safe)."""

    def __init__(self, total: int):
        self.total = total
        self._left = total
        self._lock = threading.Lock()

    def take(self, n: int) -> bool:
        """Reserve ``n`` bytes; False (nothing taken) when the budget cannot hold them."""
        with self._lock:
            if n > self._left:
                return False
            self._left -= n
            return True

    def give_back(self, n: int) -> None:
        with self._lock:
            self._left = min(self.total, self._left + n)


class BodyCapture:
    """A body seen chunk by chunk: kept while it fits ``cap`` and the ``budget``,
    after that only hashed and counted (memory stays bounded whatever arrives).
    Without a budget nothing is kept."""

    def __init__(self, budget: Optional[ByteBudget], cap: int = 0):
        self._budget = budget
        #: The per-body cap (0: keep nothing).
        self.cap = cap if budget is not None else 0
        self._sha = hashlib.sha256()
        self._chunks: Optional[list[bytes]] = [] if budget is not None else None
        self._kept = 0
        self.size = 0

    def feed(self, chunk: bytes) -> None:
        if not chunk:
            return
        self._sha.update(chunk)
        self.size += len(chunk)
        if self._chunks is None:
            return
        if self.size <= self.cap and self._budget.take(len(chunk)):
            self._chunks.append(chunk)
            self._kept += len(chunk)
        else:
            self.drop()

    def drop(self) -> None:
        """Stop keeping the body (what was kept goes back to the budget)."""
        if self._chunks is not None:
            self._chunks = None
            if self._budget is not None:
                self._budget.give_back(self._kept)
            self._kept = 0

    @property
    def kept(self) -> Optional[bytes]:
        """The whole body, or ``None`` when it was too large to keep."""
        if self._chunks is None:
            return None
        if len(self._chunks) > 1:
            self._chunks = [b"".join(self._chunks)]
        return self._chunks[0] if self._chunks else b""

    def summary(self) -> dict:
        """``{"sha256", "bytes"}`` of the whole body."""
        return {"sha256": self._sha.hexdigest(), "bytes": self.size}


async def read_request(content: StreamReader, declared: Optional[int], limits: ProxyLimits,
                       inflight: ByteBudget) -> tuple[Optional[bytes], BodyCapture, int, str]:
    """Read a request body: ``(body, counter, bytes held from inflight, why refused)``.

    The body is ``None`` when it is over ``max_request_bytes`` (by its declared
    length, or as it arrives) or would pass the in-flight limit; it is then read to
    the end only to be hashed and counted, in constant memory.  The caller gives the
    held bytes back to ``inflight`` when it is done with the body.
    """
    counter = BodyCapture(None)
    chunks: Optional[list[bytes]] = []
    held, refused = 0, ""
    if declared is not None and declared > limits.max_request_bytes:
        chunks, refused = None, "too_large"
    async for chunk in content.iter_chunked(_READ_CHUNK):
        counter.feed(chunk)
        if chunks is None:
            continue
        if counter.size > limits.max_request_bytes:
            chunks, refused = None, "too_large"
        elif not inflight.take(len(chunk)):
            chunks, refused = None, "busy"
        else:
            held += len(chunk)
            chunks.append(chunk)
    if counter.size > limits.max_request_bytes:
        refused = "too_large"  # the reason that holds whatever else was in flight
    return (b"".join(chunks) if chunks is not None else None), counter, held, refused


def refusal(refused: str, size: int, limits: ProxyLimits) -> tuple[int, str, str]:
    """``(status, error kind, message)`` for a request body the proxy did not hold (``refused`` says why)."""
    if refused == "not_json":
        return (400, "invalid_request_error",
                "cab proxy: the request body must be one JSON object (strict JSON: no comments, trailing commas or NaN)")
    if refused == "encoded":
        return (415, "unsupported_content_encoding",
                "cab proxy: send the request body uncompressed (Content-Encoding is not supported)")
    if refused == "too_large":
        return (413, "request_too_large", f"cab proxy: request body of {size} bytes is over the limit of "
                f"{limits.max_request_bytes} bytes (-o proxy.max_request_bytes=N raises it)")
    return (429, "too_many_request_bytes", f"cab proxy: too many request bytes in flight at once (limit "
            f"{limits.inflight_request_bytes}, -o proxy.inflight_request_bytes=N raises it); retry")
