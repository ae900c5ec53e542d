"""Servers that listen at once and start aiohttp for their first client (issue 16: the fixed cost).

Every cell has a recording proxy and most sweeps a scripted model server; a cell whose
agent never calls a model must not pay for aiohttp's imports and an event loop.  What
must hold: the address is usable the moment ``start()`` returns (a client that
connects before the application exists is served, not refused), every call is
recorded as before, a server that fails for its first client is the environment's
failure, and a server never reached leaves no thread, socket or file behind.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
import threading
import urllib.request

import pytest

from cab_core.aioserver import BackgroundServer
from cab_core.modelserver import ScriptContext, ScriptedModelServer
from cab_core.proxy import RecordingProxy


def _fresh(code: str) -> str:
    """Run ``code`` in a fresh interpreter; its stdout."""
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _chat(base_url: str) -> dict:
    body = json.dumps({"model": "oracle", "messages": [{"role": "user", "content": "hi"}]}).encode()
    req = urllib.request.Request(base_url + "/chat/completions", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def test_a_started_proxy_and_model_server_import_no_aiohttp_until_a_client_comes(tmp_path):
    out = _fresh(f"""
        import json, sys, urllib.request
        from cab_core.modelserver import ScriptContext, ScriptedModelServer
        from cab_core.proxy import RecordingProxy
        server = ScriptedModelServer().start()
        proxy = RecordingProxy(server.register(ScriptContext(task_id="t"), model="oracle"),
                               unix_socket={str(tmp_path / "p.sock")!r}).start()
        print("before", "aiohttp" in sys.modules, "asyncio" in sys.modules, proxy.serving)
        body = json.dumps({{"model": "oracle", "messages": [{{"role": "user", "content": "hi"}}]}}).encode()
        req = urllib.request.Request(proxy.base_url + "/chat/completions", data=body,
                                     headers={{"Content-Type": "application/json"}})
        urllib.request.urlopen(req, timeout=30).read()
        proxy.stop()
        print("after", "aiohttp" in sys.modules, len(proxy.calls), proxy.calls[0].status)
        server.stop()
    """)
    assert "before False False False" in out
    assert "after True 1 200" in out


def test_a_client_that_connects_before_the_application_exists_is_served(tmp_path):
    server = ScriptedModelServer().start()
    proxy = RecordingProxy(server.register(ScriptContext(task_id="t"), model="oracle"),
                           unix_socket=tmp_path / "p.sock").start()
    try:
        # Both at once, on both sockets: the kernel holds them until the loop accepts.
        unix = socket.socket(socket.AF_UNIX)
        unix.connect(str(tmp_path / "p.sock"))
        answers: list = []
        thread = threading.Thread(target=lambda: answers.append(_chat(proxy.base_url)))
        thread.start()
        unix.sendall(b"GET /v1/models HTTP/1.0\r\n\r\n")
        head = unix.recv(64)
        thread.join(30)
        unix.close()
        assert head.startswith(b"HTTP/1.0 200") or head.startswith(b"HTTP/1.1 200")
        assert answers and answers[0]["choices"]
    finally:
        proxy.stop()
        server.stop()
    assert [c.status for c in proxy.calls] == [200]


def test_a_server_never_reached_leaves_nothing_behind(tmp_path):
    threads = {t.name for t in threading.enumerate()}
    servers = []
    for i in range(50):
        server = RecordingProxy("http://127.0.0.1:9/v1", unix_socket=tmp_path / f"{i}.sock").start()
        servers.append((server, server.port))
        server.stop()
        server.stop()  # idempotent
        assert not server.running and not (tmp_path / f"{i}.sock").exists()
    # At most the one shared doorbell thread is new; no thread per server.
    assert {t.name for t in threading.enumerate()} - threads <= {"cab-doorbell"}
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", servers[-1][1]), timeout=2)
    assert servers[-1][0].calls == [] and servers[-1][0].infra_failure() is None


class _Broken(BackgroundServer):
    async def _build_app(self):
        raise RuntimeError("no application today")


def test_a_server_that_fails_its_first_client_closes_the_connection_and_keeps_the_failure():
    server = _Broken().start()
    try:
        try:  # closed, or reset when the listening socket goes with the connection still queued
            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as client:
                client.sendall(b"GET / HTTP/1.0\r\n\r\n")
                assert client.recv(10) == b""
        except ConnectionError:  # (even before connect() returns, on a loaded machine)
            pass
        server._started.wait(10)
        assert isinstance(server.failure, RuntimeError)
    finally:
        server.stop()  # does not raise
    assert not server.running


def test_a_proxy_that_could_not_start_is_the_environment_not_the_agent(monkeypatch):
    async def broken(self):
        raise OSError("the loop could not be made")

    monkeypatch.setattr(RecordingProxy, "_build_app", broken)
    proxy = RecordingProxy("http://127.0.0.1:9/v1", api_key="sk-secret-123").start()
    try:
        with pytest.raises(OSError):
            _chat(proxy.base_url)
        proxy._started.wait(10)
    finally:
        proxy.stop()
    reason = proxy.infra_failure()
    assert reason.startswith("environment: the recording proxy could not start") and "could not be made" in reason


def test_a_bind_that_fails_still_raises_at_start():
    taken = socket.create_server(("127.0.0.1", 0))
    try:
        with pytest.raises(OSError):
            ScriptedModelServer(port=taken.getsockname()[1]).start()
    finally:
        taken.close()


def test_a_server_can_be_used_as_a_context_manager_after_start():
    server = ScriptedModelServer().start()
    with server:
        assert _chat(server.base_url)["choices"]
    assert not server.running


def test_the_last_screen_of_plain_output_needs_no_terminal_emulator(tmp_path):
    cast = tmp_path / "terminal.cast"
    cast.write_text(json.dumps({"version": 2, "width": 20, "height": 5}) + "\n"
                    + "".join(json.dumps([0.1 * i, "o", f"line {i}\r\n"]) + "\n" for i in range(9)))
    out = _fresh(f"""
        import sys
        from cab_core.sandbox.pty import final_screen
        print(repr(final_screen({str(cast)!r})), "pyte" in sys.modules, "wcwidth" in sys.modules)
    """)
    assert out.strip() == repr("line 5\nline 6\nline 7\nline 8") + " False False"
    from cab_core.sandbox.pty import final_screen  # escape sequences still go through pyte
    cast.write_text(json.dumps({"version": 2, "width": 20, "height": 5}) + "\n"
                    + json.dumps([0.1, "o", "\x1b[1mbold\x1b[0m\r\nplain\r\n"]) + "\n")
    assert final_screen(cast) == "bold\nplain"


def test_the_proxys_limits_are_read_without_importing_the_proxy():
    out = _fresh("""
        import sys
        from cab_core.proxy import ProxyLimits
        print("proxy" if "cab_core.endpoint.proxy" in sys.modules else "light")
        import cab_core.proxy as p
        print(all(getattr(p, name) is not None for name in p.__all__) and set(p.__all__) <= set(dir(p)))
    """)
    assert out.split() == ["light", "True"]


def test_a_server_can_be_started_at_once_when_a_client_is_sure_to_come():
    server = ScriptedModelServer().start().serve_now()
    try:
        assert server.serving and server.failure is None
        assert _chat(server.base_url)["choices"]
    finally:
        server.stop()
    assert not server.running


@pytest.mark.parametrize("adapter, serving", [("mini", True), ("pi", True), ("command", False)])
def test_an_agent_that_calls_the_model_finds_the_proxy_serving_before_it_starts(builtin_registry, builtin_catalog,
                                                                                 tmp_path, adapter, serving):
    # the harness's own start (aiohttp's imports, the loop) is never on the agent's clock (its latency)
    from cab_core.runner import RunOptions, Runner
    from cab_core.secrets import Redactor
    from cab_core.workspace import CellWorkspace

    runner = Runner(builtin_registry, builtin_catalog)
    task = builtin_catalog.get("polyglot/python-slugify")
    ws = CellWorkspace(task, scratch_root=tmp_path)
    ws.prepare()
    opts = RunOptions(adapter=adapter, model="scripted/oracle", task=task.id, results=tmp_path / "r")
    proxy, token, _ = runner._start_proxy(opts, task, ws, "", Redactor([]))
    try:
        assert proxy.serving == serving
        assert runner.model_server().serving == serving
    finally:
        proxy.stop()
        runner.close()
        ws.close()
