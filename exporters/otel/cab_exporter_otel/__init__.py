"""cab → OpenTelemetry: every cell as a trace, sent over OTLP/HTTP (see README.md).

Built on cab's lifecycle hooks only, like any third-party plugin:

- ``cab_cell_started`` opens the cell span (``invoke_agent <adapter>``), left open;
- ``cab_span_finished`` sends each cell step as it ends, under its cab parent (or the
  cell span).  cab's parents end after their children, so each step's OpenTelemetry
  span id is derived from its cab span id: a child names its parent before the parent
  exists, and the parent is then created with that id (:class:`_Ids`);
- ``cab_cell_finished`` adds one GenAI span per model call (the proxy's record, known
  only then) under the step it ran in, and ends the cell span with the outcome.

Nothing happens unless ``CAB_OTEL_ENDPOINT`` names a collector; OpenTelemetry is
imported only then, so loading the plugin costs nothing.  Spans go out in a background
batch; an unreachable collector costs a cell nothing (export is bounded by
``CAB_OTEL_TIMEOUT`` and happens off the cell's thread), and what is left is sent when
the process exits.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from typing import Optional

from cab_core import __version__ as cab_version
from cab_core import hookimpl

from . import attributes as A

ENDPOINT_ENV = "CAB_OTEL_ENDPOINT"
TIMEOUT_ENV = "CAB_OTEL_TIMEOUT"
TRACES_PATH = "/v1/traces"

_lock = threading.Lock()
_exporters: dict = {}  # endpoint -> _Exporter
_cells: dict = {}  # cell id -> (exporter, cell span)


def traces_url(endpoint: str) -> str:
    """The OTLP/HTTP traces URL for a collector's base URL (or the URL itself when it names the path)."""
    endpoint = endpoint.strip().rstrip("/")
    return endpoint if endpoint.endswith(TRACES_PATH) else endpoint + TRACES_PATH


def _ns(when) -> int:
    return int(when.timestamp() * 1_000_000_000)


class _Exporter:
    """One TracerProvider (never the global one) with a batch processor sending to one collector."""

    def __init__(self, endpoint: str):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        timeout = float(os.environ.get(TIMEOUT_ENV) or 5)
        self.ids = _make_ids()
        self.provider = TracerProvider(resource=Resource.create({"service.name": "cab", "service.version": cab_version}),
                                       id_generator=self.ids)
        exporter = OTLPSpanExporter(endpoint=traces_url(endpoint), timeout=timeout)
        self.provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=500,
                                                            export_timeout_millis=int(timeout * 1000)))
        self.tracer = self.provider.get_tracer("cab_exporter_otel", cab_version)
        _quiet_sdk_logs(traces_url(endpoint))

    def start(self, name: str, *, parent_ctx=None, span_id: Optional[int] = None, kind=None, start=None, attributes=None):
        """Start a span, with ``span_id`` when given (the id its children already name)."""
        from opentelemetry.trace import SpanKind

        self.ids.force(span_id)
        try:
            return self.tracer.start_span(name, context=parent_ctx, kind=kind or SpanKind.INTERNAL,
                                          start_time=start, attributes=attributes)
        finally:
            self.ids.force(None)

    def flush(self, timeout_s: float = 5.0) -> bool:
        return self.provider.force_flush(int(timeout_s * 1000))


class _OneLine(logging.Handler):
    """The SDK's export warnings (one per retry, with tracebacks) as one line per process."""

    def __init__(self, url: str):
        super().__init__(logging.WARNING)
        self.url, self.said = url, False

    def emit(self, record: logging.LogRecord) -> None:
        if not self.said:
            self.said = True
            first = (record.getMessage().splitlines() or [""])[0][:200]
            sys.stderr.write(f"cab-exporter-otel: warning: spans may not reach {self.url}: {first}\n")


def _quiet_sdk_logs(url: str) -> None:
    logger = logging.getLogger("opentelemetry")
    if not any(isinstance(h, _OneLine) for h in logger.handlers):
        logger.addHandler(_OneLine(url))
        logger.propagate = False


def _make_ids():
    from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator

    class _Ids(IdGenerator):
        """Random ids, except a span id forced for the next span started on this thread."""

        def __init__(self):
            self.random = RandomIdGenerator()
            self.local = threading.local()

        def force(self, span_id: Optional[int]) -> None:
            self.local.span_id = span_id

        def generate_span_id(self) -> int:
            forced = getattr(self.local, "span_id", None)
            return forced if forced else self.random.generate_span_id()

        def generate_trace_id(self) -> int:
            return self.random.generate_trace_id()

    return _Ids()


def _exporter() -> Optional[_Exporter]:
    endpoint = os.environ.get(ENDPOINT_ENV, "").strip()
    if not endpoint:
        return None
    with _lock:
        if endpoint not in _exporters:
            _exporters[endpoint] = _Exporter(endpoint)
        return _exporters[endpoint]


def _context_of(span_context, span_id: Optional[int] = None):
    """A parent context: the cell span's trace, and ``span_id`` (default: the cell span itself)."""
    from opentelemetry import trace

    ctx = trace.SpanContext(span_context.trace_id, span_id or span_context.span_id, is_remote=False,
                            trace_flags=span_context.trace_flags)
    return trace.set_span_in_context(trace.NonRecordingSpan(ctx))


def _cell_span(cell, start=None):
    """The open cell span of ``cell`` (opened here when the cell started before the plugin saw it)."""
    exporter = _exporter()
    if exporter is None:
        return None, None
    with _lock:
        found = _cells.get(cell.cell_id)
    if found is None:
        span = exporter.start(f"invoke_agent {cell.adapter}", start=start, attributes=A.cell_start_attributes(cell))
        found = (exporter, span)
        with _lock:
            _cells[cell.cell_id] = found
    return found


@hookimpl
def cab_cell_started(cell, task):
    """Open the cell span."""
    _cell_span(cell)


@hookimpl
def cab_span_finished(cell, span):
    """Send one cell step, under its cab parent (by derived id) or the cell span."""
    exporter, cell_span = _cell_span(cell)
    if exporter is None:
        return
    parent = _context_of(cell_span.get_span_context(), A.span_id_of(span.parent_id) if span.parent_id else None)
    start = _ns(span.start)
    otel = exporter.start(span.name, parent_ctx=parent, span_id=A.span_id_of(span.span_id), start=start,
                          attributes=A.step_attributes(span))
    if span.error:
        from opentelemetry.trace import Status, StatusCode

        otel.set_status(Status(StatusCode.ERROR, span.error))
    otel.end(end_time=start + int(span.duration_ms * 1_000_000))


@hookimpl
def cab_cell_finished(result, path):
    """Send one GenAI span per model call, then end the cell span with the outcome."""
    exporter, cell_span = _cell_span(result.identity, start=_ns(result.started_at))
    if exporter is None:
        return
    from opentelemetry.trace import SpanKind, Status, StatusCode

    context = cell_span.get_span_context()
    for call in sorted(result.model_calls, key=lambda c: c.index):
        inside = A.enclosing(result.spans, call.timestamp)
        attributes = A.model_call_attributes(call, result.cell_id, result.identity.model)
        name = f"{attributes['gen_ai.operation.name']} {attributes['gen_ai.request.model']}"
        start = _ns(call.timestamp)
        otel = exporter.start(name, parent_ctx=_context_of(context, A.span_id_of(inside) if inside else None),
                              kind=SpanKind.CLIENT, start=start, attributes=attributes)
        if call.error:
            otel.set_status(Status(StatusCode.ERROR, call.error))
        otel.end(end_time=start + int(call.latency_ms * 1_000_000))
    cell_span.set_attributes(A.cell_end_attributes(result))
    cell_span.set_attribute("cab.path", str(path))
    if result.status != "ok":
        cell_span.set_status(Status(StatusCode.ERROR, result.error or result.status))
    cell_span.end(end_time=max(_ns(result.ended_at), _ns(result.started_at)))
    with _lock:
        _cells.pop(result.cell_id, None)


def flush(timeout_s: float = 5.0) -> bool:
    """Send what is queued now (tests; the process's exit does it otherwise)."""
    return all(e.flush(timeout_s) for e in list(_exporters.values()))
