"""The OpenTelemetry exporter plugin (exporters/otel) against a collector started here.

No collector binary can be installed on this machine, so the collector is a small
OTLP/HTTP receiver on 127.0.0.1 that decodes each export request with
opentelemetry-proto, exactly as a collector's OTLP receiver would.
"""

import datetime as dt
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (  # noqa: E402
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

import cab_exporter_otel  # noqa: E402
from cab_exporter_otel import attributes as A  # noqa: E402
from cab_core.models import CellId, ModelCall  # noqa: E402

from conftest import run_cab, run_cab_process  # noqa: E402


def _value(any_value):
    kind = any_value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in any_value.array_value.values]
    return getattr(any_value, kind) if kind else None


class Collector:
    """An OTLP/HTTP traces receiver on 127.0.0.1: every span it was sent, decoded."""

    def __init__(self):
        self.spans, self.requests, self.paths = [], 0, []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                collector.paths.append(self.path)
                collector.requests += 1
                for rs in request.resource_spans:
                    resource = {kv.key: _value(kv.value) for kv in rs.resource.attributes}
                    for ss in rs.scope_spans:
                        for s in ss.spans:
                            collector.spans.append({
                                "name": s.name, "trace_id": s.trace_id.hex(), "span_id": s.span_id.hex(),
                                "parent": s.parent_span_id.hex() or None, "kind": s.kind,
                                "start": s.start_time_unix_nano, "end": s.end_time_unix_nano,
                                "status": s.status.code, "resource": resource,
                                "attrs": {kv.key: _value(kv.value) for kv in s.attributes}})
                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def collector():
    c = Collector()
    try:
        yield c
    finally:
        c.stop()


@pytest.mark.slow
def test_a_cell_reaches_the_collector_as_genai_spans(collector, tmp_path):
    results = tmp_path / "results"
    proc = run_cab_process("run", "--adapter", "mini", "--model", "scripted/oracle", "--task", "polyglot/python-slugify",
                           "--results", results, "--json", env={"CAB_OTEL_ENDPOINT": collector.url})
    assert proc.returncode == 0, proc.stderr
    cell = json.loads(proc.stdout)
    assert collector.paths and set(collector.paths) == {"/v1/traces"}
    spans = collector.spans
    cells = [s for s in spans if s["name"] == "invoke_agent mini"]
    assert len(cells) == 1
    root = cells[0]
    assert root["parent"] is None and root["resource"]["service.name"] == "cab"
    assert root["attrs"]["gen_ai.operation.name"] == "invoke_agent"
    assert root["attrs"]["gen_ai.agent.name"] == "mini" and root["attrs"]["gen_ai.request.model"] == "scripted/oracle"
    assert root["attrs"]["cab.cell_id"] == cell["cell_id"] and root["attrs"]["cab.passed"] is True
    calls = cell["model_calls"]
    assert root["attrs"]["gen_ai.usage.input_tokens"] == sum(c["prompt_tokens"] for c in calls)
    # every span is in the cell's trace and hangs under the cell span
    by_id = {s["span_id"]: s for s in spans}
    assert {s["trace_id"] for s in spans} == {root["trace_id"]}
    for s in spans:
        node = s
        while node["parent"] is not None:
            node = by_id[node["parent"]]
        assert node is root, s["name"]
    # one span per cell step, cab's nesting kept
    steps = {s["attrs"]["cab.span.kind"]: s for s in spans if "cab.span.kind" in s["attrs"]}
    assert set(steps) >= {"task_setup", "adapter_run", "verify", "score", "cleanup"}
    assert len([s for s in spans if "cab.span.kind" in s["attrs"]]) == len(cell["spans"])
    assert steps["verify"]["parent"] == root["span_id"]
    launch = [s for s in spans if s["attrs"].get("cab.span.kind") == "container"] or [steps["adapter_run"]]
    # one GenAI client span per model call, under the step it ran in, tokens as the proxy recorded
    chats = sorted((s for s in spans if s["attrs"].get("gen_ai.operation.name") == "chat"),
                   key=lambda s: s["attrs"]["cab.model_call.index"])
    assert len(chats) == len(calls) >= 2
    for span, call in zip(chats, calls):
        assert span["name"] == "chat scripted/oracle" and span["kind"] == 3  # SPAN_KIND_CLIENT
        assert span["attrs"]["gen_ai.system"] == "openai" and span["attrs"]["gen_ai.provider.name"] == "openai"
        assert span["attrs"]["gen_ai.request.model"] == "scripted/oracle"
        assert span["attrs"]["gen_ai.usage.input_tokens"] == call["prompt_tokens"]
        assert span["attrs"]["gen_ai.usage.output_tokens"] == call["completion_tokens"]
        assert span["parent"] in {s["span_id"] for s in launch} | {steps["adapter_run"]["span_id"]}
        assert span["end"] - span["start"] == pytest.approx(call["latency_ms"] * 1e6, abs=1e3)


@pytest.mark.slow
def test_an_unreachable_collector_costs_the_cell_nothing(tmp_path):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.monotonic()
    proc = run_cab("run", "--adapter", "command", "--model", "oracle", "--task", "polyglot/python-slugify",
                   "--results", tmp_path / "r", "--json",
                   env={"CAB_OTEL_ENDPOINT": f"http://127.0.0.1:{port}", "CAB_OTEL_TIMEOUT": "1"})
    elapsed = time.monotonic() - t0
    assert proc.returncode == 0, proc.stderr
    cell = json.loads(proc.stdout)
    assert cell["status"] == "ok" and cell["scores"]["pass_rate"]["value"] == 1
    assert elapsed < 30
    said = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(said) <= 1 and all(line.startswith("cab-exporter-otel: warning: spans may not reach") for line in said), said


def test_without_an_endpoint_the_plugin_does_nothing(monkeypatch):
    monkeypatch.delenv("CAB_OTEL_ENDPOINT", raising=False)
    before = dict(cab_exporter_otel._exporters)
    cell = CellId(sweep="s", adapter="a", model="m", task="t/x")
    cab_exporter_otel.cab_cell_started(cell=cell, task=None)
    assert cab_exporter_otel._exporters == before and cell.cell_id not in cab_exporter_otel._cells


def test_attributes_never_turn_unknown_into_zero():
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    call = ModelCall(index=0, timestamp=t0, request_hash="h", model="", usage_source="none", protocol="completions",
                     error="refused", error_kind="rate_limit", status=429)
    attrs = A.model_call_attributes(call, "cell", "cell-model")
    assert "gen_ai.usage.input_tokens" not in attrs and "gen_ai.usage.output_tokens" not in attrs
    assert attrs["gen_ai.operation.name"] == "text_completion" and attrs["gen_ai.request.model"] == "cell-model"
    assert attrs["error.type"] == "rate_limit" and "cab.cost_usd" not in attrs
    assert A.span_id_of("0" * 32) != 0 and A.span_id_of("abc") == A.span_id_of("abc")
    assert A.span_id_of("00112233445566778899aabbccddeeff") == 0x0011223344556677
    assert cab_exporter_otel.traces_url("http://h:4318/") == "http://h:4318/v1/traces"
    assert cab_exporter_otel.traces_url("http://h:4318/v1/traces") == "http://h:4318/v1/traces"
    assert A.otel_value({"a": 1}) == '{"a": 1}' and A.otel_value([1, "x"]) == '[1, "x"]'
