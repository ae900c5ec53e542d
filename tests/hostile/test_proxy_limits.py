"""Proxy limits: no request or response body can flood the harness's memory or its records.

The body flood from the issue (five 100 MB requests at once) once took the harness to
4.7 GB: the proxy read each body whole and kept it until the cell ended.  Here the
proxy runs in a child process so its peak resident memory (``VmHWM``) can be read.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import subprocess
import sys
import textwrap
import threading
from urllib.parse import urlsplit

import openai
import pytest
from aiohttp import web

from cab_core.cassette import Cassette
from cab_core.proxy import BackgroundServer, ProxyLimits, RecordingProxy

MIB = 1 << 20
MESSAGES = [{"role": "user", "content": "hello"}]

#: Runs a RecordingProxy with default limits in front of argv[1]; prints its port, then,
#: when stdin closes, its peak and current resident memory in kB.
PROXY_CHILD = textwrap.dedent("""
    import sys
    from cab_core.proxy import RecordingProxy

    def kb(field):
        for line in open("/proc/self/status"):
            if line.startswith(field + ":"):
                return int(line.split()[1])

    px = RecordingProxy(sys.argv[1]).start()
    print(px.port, kb("VmHWM"), flush=True)
    sys.stdin.read()
    calls = px.calls
    print(kb("VmHWM"), kb("VmRSS"), len(calls), ",".join(str(c.status) for c in calls), flush=True)
    px.stop()
""")


class BigUpstream(BackgroundServer):
    """Answers chat completions with a body of ``size`` bytes of content, and no usage."""

    def __init__(self, size: int = 0):
        super().__init__()
        self.size = size
        self.seen: list[int] = []

    async def _build_app(self):
        app = web.Application(client_max_size=64 * MIB)
        app.router.add_post("/v1/chat/completions", self._chat)
        return app

    async def _chat(self, request):
        data = await request.read()
        self.seen.append(len(data))
        content = "x" * self.size if self.size else "ok"
        return web.json_response({"choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                                               "finish_reason": "stop"}]})


def _flood_body(total: int):
    """A JSON chat request of ``total`` bytes, produced 1 MB at a time (never whole in this process)."""
    head = b'{"model": "m", "messages": [{"role": "user", "content": "'
    tail = b'"}]}'
    yield head
    left = total - len(head) - len(tail)
    block = b"A" * MIB
    while left > 0:
        yield block[: min(left, MIB)]
        left -= MIB
    yield tail


def _post_stream(port: int, total: int, out: list, chunked: bool = False) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        headers = {"Content-Type": "application/json"}
        if not chunked:
            headers["Content-Length"] = str(total)
        conn.request("POST", "/v1/chat/completions", body=_flood_body(total), headers=headers, encode_chunked=chunked)
        resp = conn.getresponse()
        data = resp.read()
        try:
            out.append((resp.status, json.loads(data)))
        except ValueError:
            out.append((resp.status, data[:200]))
    except (OSError, http.client.HTTPException) as exc:
        out.append((None, repr(exc)))
    finally:
        conn.close()


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_flood_of_huge_bodies_keeps_the_proxy_in_constant_memory(chunked):
    with BigUpstream() as upstream:
        child = subprocess.Popen([sys.executable, "-c", PROXY_CHILD, upstream.url + "/v1"], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True)
        try:
            port, start_kb = map(int, child.stdout.readline().split())
            answers: list = []
            threads = [threading.Thread(target=_post_stream, args=(port, 100 * MIB, answers, chunked)) for _ in range(5)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(180)
            child.stdin.close()
            peak_kb, rss_kb, n_calls, statuses = child.stdout.readline().split()
        finally:
            child.kill()
            child.wait()
    # Each is refused: over the size limit, or (chunked, size unknown) over the in-flight limit first.
    assert sorted(a[0] for a in answers) in ([413] * 5, *([413] * k + [429] * (5 - k) for k in range(5))), answers
    error = next(a[1]["error"] for a in answers if a[0] == 413)
    assert error["code"] == 413 and "over the limit" in error["message"] and "proxy.max_request_bytes" in error["message"]
    assert upstream.seen == [], "a refused body is never relayed"
    assert int(n_calls) == 5 and sorted(statuses.split(",")) == sorted(str(a[0]) for a in answers)
    grown_mb = (int(peak_kb) - start_kb) / 1024
    print(f"\nproxy peak RSS grew {grown_mb:.0f} MB over 5 x 100 MB requests (start {start_kb // 1024} MB)")
    assert grown_mb < 150, f"the proxy grew {grown_mb:.0f} MB for bodies it refused"


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_an_oversize_request_is_refused_in_the_protocols_shape_and_recorded_by_hash(chunked):
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "B" * 3000}]}).encode()
    with BigUpstream() as upstream, RecordingProxy(upstream.url + "/v1", limits=ProxyLimits(max_request_bytes=2000)) as px:
        with pytest.raises(openai.APIStatusError) as info:
            openai.OpenAI(base_url=px.base_url, api_key="x", max_retries=0).chat.completions.create(
                model="m", messages=[{"role": "user", "content": "B" * 3000}])
        assert info.value.status_code == 413 and "over the limit of 2000 bytes" in info.value.message
        parts = urlsplit(px.base_url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        headers = {} if chunked else {"Content-Length": str(len(body))}
        conn.request("POST", "/v1/chat/completions", body=iter([body[:1000], body[1000:]]), headers=headers,
                     encode_chunked=chunked)
        assert conn.getresponse().status == 413
        conn.close()
        first, second = px.calls
    assert upstream.seen == []
    assert first.status == 413 and first.error_kind == "client" and first.usage_source == "none"
    assert first.messages == () and first.omitted["request"]["bytes"] > 2000
    # The whole body is hashed and counted, though never held.
    assert second.omitted["request"] == {"sha256": hashlib.sha256(body).hexdigest(), "bytes": len(body)}


def test_bodies_over_the_record_cap_are_relayed_and_kept_as_hash_and_size(tmp_path):
    limits = ProxyLimits(record_call_bytes=64 * 1024)
    big = "C" * (200 * 1024)
    cassette = Cassette(tmp_path / "c.jsonl")
    with BigUpstream(size=300 * 1024) as upstream, RecordingProxy(upstream.url + "/v1", limits=limits, record=cassette) as px:
        reply = openai.OpenAI(base_url=px.base_url, api_key="x", max_retries=0).chat.completions.create(
            model="m", messages=[{"role": "user", "content": big}])
        assert len(reply.choices[0].message.content) == 300 * 1024, "the agent gets the whole answer"
        (call,) = px.calls
    assert upstream.seen and upstream.seen[0] > 200 * 1024, "the upstream gets the whole request"
    assert set(call.omitted) == {"request", "response"}
    assert call.omitted["request"]["bytes"] > 200 * 1024 and call.omitted["response"]["bytes"] > 300 * 1024
    assert call.messages == () and call.completion == ""
    assert call.usage_source == "estimated" and call.prompt_tokens > 200 * 1024 // 8 and call.completion_tokens > 0
    (entry,) = Cassette.load(tmp_path / "c.jsonl").entries
    assert entry.response == "" and entry.request == {"omitted": call.omitted["request"]}
    # Replaying that entry cannot answer: an environment error that says why.
    with RecordingProxy(None, replay=Cassette.load(tmp_path / "c.jsonl")) as px:
        openai_client = openai.OpenAI(base_url=px.base_url, api_key="x", max_retries=0)
        with pytest.raises(openai.InternalServerError):
            openai_client.chat.completions.create(model="m", messages=[{"role": "user", "content": big}])
        reason = px.infra_failure()
    assert reason.startswith("environment: replay cassette miss") and "not its response" in reason


def test_the_cell_budget_caps_what_all_calls_keep():
    limits = ProxyLimits(record_cell_bytes=10_000)
    text = "D" * 2500
    with BigUpstream() as upstream, RecordingProxy(upstream.url + "/v1", limits=limits) as px:
        api = openai.OpenAI(base_url=px.base_url, api_key="x", max_retries=0)
        for _ in range(6):
            api.chat.completions.create(model="m", messages=[{"role": "user", "content": text}])
        calls = px.calls
    kept = [bool(c.messages) for c in calls]
    assert kept[:3] == [True] * 3 and kept[-2:] == [False, False], kept
    assert all(c.total_tokens > 0 for c in calls)


def test_bad_proxy_limits_are_one_line_errors():
    from cab_core.errors import CabError

    with pytest.raises(CabError, match="unknown proxy limit 'max_bytes'"):
        ProxyLimits.from_options({"max_bytes": "1"})
    with pytest.raises(CabError, match="is not a size"):
        ProxyLimits.from_options({"max_request_bytes": "lots"})
    with pytest.raises(CabError, match="cannot be turned off"):
        ProxyLimits.from_options({"record_cell_bytes": "0"})
    with pytest.raises(CabError, match="positive"):
        ProxyLimits(record_call_bytes=-1)
    assert ProxyLimits.from_options({"max_request_bytes": "64K"}).max_request_bytes == 65536
