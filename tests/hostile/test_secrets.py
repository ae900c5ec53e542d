"""Secrets: the endpoint key reaches only the proxy's upstream request, never a file cab writes.

The key is given the way a user gives it (``--api-key-env``, or an ``-o`` option with a
secret-looking name); the agent does everything it can to print it; then every file
under the results folder, the cassette and the HTML report are searched for it.
"""

import base64
import json
import shutil
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from cab_core.cli import make_cli
from cab_core.modelserver import ScriptedModelServer
from cab_core.plugins import get_plugin_manager
from cab_core.secrets import MASK, Redactor

from conftest import run_cab

from .conftest import TASK, needs_bwrap

SECRET = "sk-live-" + "Q7x" * 14
OPTION_SECRET = "tok-" + "Zr8" * 10  # not key-shaped: known only because its option name looks secret
GREEDY_AGENT = (
    "env; set; cat /proc/self/environ | tr '\\0' '\\n'; "
    "for p in /proc/[0-9]*; do cat $p/environ 2>/dev/null | tr '\\0' '\\n'; cat $p/cmdline 2>/dev/null; echo; done; "
    "echo key=$OPENAI_API_KEY; cat $HOME/.* 2>/dev/null; "
    "echo my own key-shaped string: sk-agent-made-0123456789abcdef; "
    "python3 -c \"import os, base64; print(base64.b64encode(repr(dict(os.environ)).encode()).decode())\"; "
    "curl -s $OPENAI_BASE_URL/models 2>/dev/null; echo done"
)


def every_file(*roots: Path) -> list:
    return [p for root in roots if root.exists() for p in root.rglob("*") if p.is_file()]


@pytest.fixture
def upstream():
    """The scripted server as a real --endpoint: the proxy sends it the key, like any provider."""
    server = ScriptedModelServer().start()
    yield server
    server.stop()


def test_a_greedy_agent_never_gets_the_key_into_any_file(tmp_path, task_root, upstream):
    results, cassette, report = tmp_path / "r", tmp_path / "rec.jsonl", tmp_path / "report"
    env = {"MY_CAB_KEY": SECRET, "CAB_TASKS_PATH": str(task_root)}
    proc = run_cab("run", "-a", "command", "-m", "custom", "-o", f"command={GREEDY_AGENT}", "-t", TASK,
                   "--endpoint", upstream.base_url, "--api-key-env", "MY_CAB_KEY", "--results", results,
                   "-o", f"env.SERVICE_TOKEN={OPTION_SECRET}", "--plugin", "env",
                   "--record-cassette", cassette, "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    assert SECRET not in proc.stdout + proc.stderr and OPTION_SECRET not in proc.stdout + proc.stderr
    spans = json.loads(proc.stdout)["spans"]
    env_keys = next(s["attrs"]["env_keys"] for s in spans if s["kind"] == "container")
    assert "SERVICE_TOKEN" in env_keys  # the names of the agent's variables, never their values
    proc = run_cab("run", "-a", "mini", "-m", "scripted/oracle", "-t", TASK, "--endpoint", upstream.base_url,
                   "--api-key-env", "MY_CAB_KEY", "--results", results, "--sweep-id", "mini",
                   "--record-cassette", cassette, env=env)
    assert proc.returncode == 0, proc.stderr
    assert cassette.is_file() and cassette.stat().st_size > 0
    files = every_file(results, cassette.parent)
    assert len(files) >= 12
    rep = run_cab("report", results, "-o", report, env=env)
    assert rep.returncode == 0, rep.stderr
    files += every_file(report)
    assert any(p.suffix == ".html" for p in files)
    for secret in (SECRET, OPTION_SECRET):
        for path in files:
            assert secret.encode() not in path.read_bytes(), f"{secret} found in {path}"
    agent_output = (results / "default" / "command" / "custom" / "demo" / "add" / "trial-1" / "agent_output.txt").read_text()
    assert "sk-agent-made" not in agent_output and MASK in agent_output  # key-shaped output is masked
    assert "cab-dummy-key" in agent_output  # what the agent was given instead


@needs_bwrap
def test_the_key_cannot_be_read_from_inside_the_sandbox_even_encoded(tmp_path, task_root, monkeypatch):
    # Masking catches the key verbatim; isolation must keep the agent from ever seeing it,
    # or it could print it reversed or encoded.
    monkeypatch.setenv("MY_CAB_KEY", SECRET)
    monkeypatch.setenv("CAB_TASKS_PATH", str(task_root))
    cmd = "cat /proc/*/environ | base64 -w0; echo; env | rev; echo done"
    result = CliRunner().invoke(make_cli(get_plugin_manager), [
        "run", "-a", "command", "-m", "custom", "-o", f"command={cmd}", "-t", TASK, "--api-key-env", "MY_CAB_KEY",
        "--results", str(tmp_path / "r")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = next((tmp_path / "r").rglob("agent_output.txt")).read_text()
    assert "done" in out
    assert SECRET[::-1] not in out
    assert base64.b64encode(f"MY_CAB_KEY={SECRET}".encode())[8:40].decode() not in out.replace("\n", "")


@needs_bwrap
def test_the_harness_users_credential_files_are_hidden(hostile, monkeypatch):
    home = Path(tempfile.mkdtemp(prefix="cab-home-", dir="/var/tmp" if Path("/var/tmp").is_dir() else None))
    try:
        (home / ".ssh").mkdir()
        (home / ".ssh" / "id_ed25519").write_text("PRIVATE-KEY-MATERIAL\n")
        (home / ".npmrc").write_text("//registry.npmjs.org/:_authToken=NPM-TOKEN-VALUE\n")
        (home / ".config" / "gh").mkdir(parents=True)
        (home / ".config" / "gh" / "hosts.yml").write_text("oauth_token: GH-TOKEN-VALUE\n")
        (home / "notes.txt").write_text("not secret\n")
        monkeypatch.setenv("HOME", str(home))
        result, folder = hostile(f"cat {home}/.ssh/* {home}/.npmrc {home}/.config/gh/hosts.yml {home}/notes.txt; echo done")
        out = (folder / "agent_output.txt").read_text()
        assert "done" in out
        assert "not secret" not in out  # the allow-list root shows nothing of HOME, not only its credentials
        for value in ("PRIVATE-KEY-MATERIAL", "NPM-TOKEN-VALUE", "GH-TOKEN-VALUE"):
            assert value not in out
    finally:
        shutil.rmtree(home, ignore_errors=True)


def test_key_shapes_are_masked_and_ordinary_words_are_not():
    redact = Redactor(["my-very-own-secret"], include_environment=False)
    keys = ["sk-proj-" + "a1" * 12, "sk-ant-api03-" + "b2" * 12, "AKIA" + "ABCDEFGHIJKLMNOP", "ghp_" + "c3" * 18,
            "github_pat_" + "d4" * 21, "hf_" + "e5" * 17, "glpat-" + "f6" * 11, "xoxb-1234567890-abc",
            "AIza" + "g7" * 17 + "h", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlc2lnbmF0dXJl",
            "my-very-own-secret"]
    for key in keys:
        assert redact(f"x {key} y") == f"x {MASK} y", key
    assert redact("Authorization: Bearer " + "t0k" * 10) == f"Authorization: Bearer {MASK}"
    for text in ("disk-usage-calculator-module", "task-list-items-abcdefghijkl", "risk-assessment-framework-v2",
                 "cab-dummy-key", "ask-the-user-before-deleting-files"):
        assert redact(text) == text, text


def test_secret_looking_environment_values_of_the_harness_are_masked(monkeypatch):
    monkeypatch.setenv("SOME_SERVICE_PASSWORD", "hunter2-but-longer")
    assert Redactor()("pw is hunter2-but-longer") == f"pw is {MASK}"


def test_the_proxy_lends_the_key_to_chat_completions_and_model_listing_only():
    import http.client

    from aiohttp import web

    from cab_core.proxy import BackgroundServer, RecordingProxy

    seen = []

    class Upstream(BackgroundServer):
        async def _build_app(self):
            async def handle(request):
                seen.append((request.method, request.rel_url.raw_path, request.headers.get("Authorization")))
                return web.json_response({})

            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", handle)
            return app

    with Upstream() as upstream, RecordingProxy(upstream.url + "/v1", SECRET) as proxy:
        for method, path in (("GET", "/v1/../admin/keys"), ("DELETE", "/v1/files/file-1"), ("POST", "/v1/fine_tuning/jobs")):
            conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
            conn.request(method, path, body=b"{}")
            conn.getresponse().read()
    assert [s for s in seen if s[2]] == []


# --------------------------------------------------------------------------- masking: linear, and only the secret

ADVERSARIAL = ["-----BEGIN PRIVATE KEY----- ", "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n", "eyJ",
               "eyJaaaaaaaaaaaaa.eyJbbbbbbbbbbbbbbbb ", "sk-aaaaaaaaaaaa ", "Bearer ", " sk-" + "a" * 24,
               "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo", "my-very-own-secret "]


@pytest.mark.parametrize("unit", ADVERSARIAL)
def test_masking_adversarial_text_takes_linear_time(unit):
    import time

    redact = Redactor(["my-very-own-secret"], include_environment=False)
    small, large = ((unit * (n // len(unit) + 1))[:n] for n in (1 << 18, 1 << 21))
    t0 = time.perf_counter()
    redact(small)
    t1 = time.perf_counter()
    redact(large)
    t2 = time.perf_counter()
    # 8x the text: a quadratic masker takes 64x (the old one: 135 s for 256 KB of the first unit).
    assert t2 - t1 < 3.0 and t2 - t1 < 30 * max(t1 - t0, 0.05), (t1 - t0, t2 - t1)  # a floor for timer noise


PEM_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\nVJTUt9Us8cKjMzEfYyjiWA4R4/M2bS1GB4t7NXp98C3S\n"


def test_only_a_real_key_body_is_masked_and_the_text_around_it_stays():
    redact = Redactor(include_environment=False)
    key = f"-----BEGIN PRIVATE KEY-----\n{PEM_BODY}-----END PRIVATE KEY-----"
    assert redact(f"before\n{key}\nafter") == f"before\n{MASK}\nafter"
    legacy = f"-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,ABC\n\n{PEM_BODY}-----END RSA PRIVATE KEY-----"
    assert redact(f"x {legacy} y") == f"x {MASK} y"
    wrapped = ("+# -----BEGIN PRIVATE KEY-----\n+def slugify(text):\n+    return text.lower().replace(' ', '-')\n"
               "+# -----END PRIVATE KEY-----\n")
    assert redact(wrapped) == wrapped  # code between markers is not a key: the diff keeps it
    assert redact("a sk-" + "x" * 30 + ", b") == f"a {MASK}, b"
    assert redact("Authorization: Bearer " + "t0k" * 10 + "\nnext") == f"Authorization: Bearer {MASK}\nnext"


def test_a_masking_bomb_and_a_wrapped_solution_in_a_real_cell(hostile):
    bomb = "python3 -c \"import sys; sys.stdout.write('-----BEGIN PRIVATE KEY----- ' * 40000)\""
    wrapped = ("printf '# -----BEGIN PRIVATE KEY-----\\ndef add(a, b):\\n    return a + b\\n"
               "# -----END PRIVATE KEY-----\\n' > calc.py")
    import time

    t0 = time.monotonic()
    result, folder = hostile(f"{bomb}; {wrapped}")
    assert time.monotonic() - t0 < 60
    assert result.status == "ok" and result.scores["pass_rate"].breakdown["pass"] == 1
    patch = (folder / "diff.patch").read_text()
    assert "+    return a + b" in patch and "+# -----BEGIN PRIVATE KEY-----" in patch
