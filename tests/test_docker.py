"""The docker sandbox and its images: cells in containers, no network, no host files, hard timeouts.

The tests marked ``slow`` need a running dockerd and the images ``scripts/docker-setup.sh``
builds (cab/base, cab/pi).  In CI (``CI=true``) a missing daemon or image FAILS them;
elsewhere they are skipped with the reason.  The others check the container
specification without a daemon.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import attrs
import pytest

from cab_core import AgentPlugin, hookimpl, images
from cab_core.plugins import get_plugin_manager
from cab_core.registry import Registry
from cab_core.runner import RunOptions, Runner, agent_env
from cab_core.sandbox import docker as dsb
from cab_core.sandbox import dockerpool
from cab_core.sandbox.limits import DEFAULT_DISK, DEFAULT_FILES
from cab_core.tasks import TaskCatalog

from conftest import ROOT, run_cab

RUST = "polyglot/rust-error-handling"
PYTHON_TASK = "polyglot/python-slugify"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _need(reason: str):
    if IN_CI:
        pytest.fail(f"CI runs the docker tests: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def dc():
    """A docker client; fails in CI, skips elsewhere, when dockerd is not running."""
    reason = images.unavailable_reason()
    if reason:
        _need(reason)
    client = images.client()
    yield client
    client.close()


def _need_image(client, ref: str) -> None:
    try:
        client.images.get(ref)
    except Exception:
        _need(f"image {ref} is not built (scripts/docker-setup.sh, or cab images build)")


@pytest.fixture
def make_runner():
    runners = []

    def make(*plugins, tasks_dirs=()):
        registry = Registry(get_plugin_manager(plugins=plugins))
        runner = Runner(registry, TaskCatalog(registry, tasks_dirs=tasks_dirs))
        runners.append(runner)
        return runner

    yield make
    for runner in runners:
        runner.close()


def run(runner, tmp_path, **kw):
    kw.setdefault("adapter", "command")
    kw.setdefault("sandbox", "docker")
    kw.setdefault("results", tmp_path / "results")
    return runner.run_cell(RunOptions(**kw))


def cab_containers(client) -> list:
    """cab's containers once background removals are done, but those prepared for a next cell."""
    dsb.settle()
    waiting = dockerpool.waiting_ids()
    return [c for c in client.containers.list(all=True, filters={"label": dsb.LABEL_CELL}) if c.id not in waiting]


# --------------------------------------------------------------------------- without a daemon


class FakeImages:
    def get(self, ref):
        if ref == "missing:1":
            from docker.errors import ImageNotFound

            raise ImageNotFound("no such image")
        return type("Image", (), {"id": "sha256:" + "ab" * 32,
                                  "attrs": {"Config": {"Env": ["PATH=/usr/local/bin:/usr/bin:/bin"]}}})()


class FakeClient:
    images = FakeImages()


def session(**kw) -> dsb.DockerSession:
    return dsb.DockerSession(docker_client=FakeClient(), **kw)


def test_container_spec_has_no_network_and_only_the_cells_folders(tmp_path, monkeypatch):
    for var in ("CAB_LIMIT_MEMORY", "CAB_LIMIT_PIDS", "CAB_LIMIT_DISK", "CAB_DOCKER_CPUS"):
        monkeypatch.delenv(var, raising=False)
    sock = tmp_path / "proxy.sock"
    sock.touch()
    work, home = tmp_path / "work", tmp_path / "home"
    s = session(image="cab/base:bookworm", proxy_socket=sock, proxy_port=4321)
    env = {**agent_env(home, "m1"), "RUSTUP_HOME": "/root/.rustup", "CARGO_HOME": "/root/.cargo"}
    spec = s.container_spec(["/bin/sh", "-c", "true"], cwd=work, env=env, timeout=60, writable=[home, work / "sub"],
                            marker="m1")
    assert spec["network_mode"] == "none" and spec["read_only"] and spec["cap_drop"] == ["ALL"]
    assert spec["tty"] is True and spec["stdin_open"] is False and spec["init"] is True
    assert spec["labels"][dsb.LABEL_CELL] == "m1" and spec["labels"][dsb.LABEL_SESSION] == s.session_id
    binds = {(m["Target"], m["Source"], m["ReadOnly"]) for m in spec["mounts"]}
    # The forwarder and the proxy's socket come with the container's own /run/cab (sandbox/standby.py).
    assert binds == {(str(work), str(work), False), (str(home), str(home), False)}
    assert spec["command"][:4] == ["timeout", "-s", "KILL", str(60 + dsb.BACKSTOP_GRACE)]
    assert spec["command"][4:10] == ["python3", "-I", "-S", "/run/cab/forwarder.py", "4321", "/run/cab/proxy.sock"]
    assert spec["command"][-4:] == ["--", "/bin/sh", "-c", "true"]
    assert spec["environment"]["PATH"] == "/usr/local/bin:/usr/bin:/bin"  # the image's, not the host's
    assert "RUSTUP_HOME" not in spec["environment"] and "CARGO_HOME" not in spec["environment"]
    assert spec["environment"]["HOME"] == str(home)
    assert spec["mem_limit"] == dsb.DEFAULT_MEMORY and spec["pids_limit"] == 1024
    sock.unlink()  # the proxy has stopped (the verify step): no forwarder, no socket
    spec = s.container_spec(["/bin/sh", "-c", "true"], cwd=work, env=env, timeout=60)
    assert spec["command"][4:] == ["/bin/sh", "-c", "true"] and len(spec["mounts"]) == 1
    assert s.describe()["container_image"] == "cab/base:bookworm"
    assert s.describe()["image_digest"] == "sha256:" + "ab" * 32


def test_limits_are_configurable_but_never_above_the_host(monkeypatch):
    # the local sandbox's limit settings (CAB_LIMIT_*, -o limit.*) hold in containers too
    monkeypatch.setenv("CAB_LIMIT_MEMORY", "512M")
    monkeypatch.setenv("CAB_LIMIT_PIDS", "64")
    monkeypatch.setenv("CAB_DOCKER_CPUS", "999")
    s = session()
    assert (s.memory, s.pids, s.cpus) == (512 * 2**20, 64, dsb._host_cpus())
    s = session(limits={"memory": "256M", "pids": "none", "disk": "1G"})
    assert (s.memory, s.pids, s.limits.disk) == (256 * 2**20, None, 2**30)
    assert s.container_spec(["true"], cwd=Path("/tmp/w"), env={}, timeout=5)["pids_limit"] == -1
    monkeypatch.delenv("CAB_LIMIT_DISK", raising=False)
    limits = session(memory="1G", cpus=0.5, pids=10).describe()["limits"]
    assert limits == {"pids": 10, "disk": DEFAULT_DISK, "memory": 2**30, "cpus": 0.5, "files": DEFAULT_FILES}
    assert session().image == images.DEFAULT_IMAGE


def test_host_paths_in_a_launch_are_translated(tmp_path, monkeypatch):
    monkeypatch.setenv("CAB_AGENTS_DIR", str(tmp_path / "agents"))
    s = session(image="cab/pi:1")
    pi = tmp_path / "agents" / "pi" / "1" / "node_modules" / ".bin" / "pi"
    argv = [sys.executable, "-I", "-m", "cab_adapters.pi", "relay", "--", str(pi), "--print", "hi"]
    env = {"PATH": f"{tmp_path}/agents/pi/1/bin:/host/only", "X": str(pi)}
    spec = s.container_spec(argv, cwd=tmp_path / "work", env=env, timeout=10)
    command = spec["command"][spec["command"].index("python3"):]
    assert command[:3] == ["python3", "-I", "-c"] and "runpy.run_module('cab_adapters.pi'" in command[3]
    assert command[4:] == ["relay", "--", "/opt/cab/agents/pi/1/node_modules/.bin/pi", "--print", "hi"]
    python = {m["Target"]: m["Source"] for m in spec["mounts"] if m["Target"].startswith(dsb.PYTHON_DIR)}
    assert {f"{dsb.PYTHON_DIR}/cab_adapters", f"{dsb.PYTHON_DIR}/cab_core"} <= set(python)
    assert python[f"{dsb.PYTHON_DIR}/cab_core"] == str(ROOT / "cab_core")
    assert all(m["ReadOnly"] for m in spec["mounts"] if m["Target"].startswith(dsb.PYTHON_DIR))
    assert spec["environment"]["PATH"] == "/opt/cab/agents/pi/1/bin:/usr/local/bin:/usr/bin:/bin"
    assert spec["environment"]["X"] == "/opt/cab/agents/pi/1/node_modules/.bin/pi"


@pytest.mark.parametrize("agent", ["pi", "aider", "opencode"])
def test_agents_launch_from_their_image_without_the_host_install(tmp_path, monkeypatch, agent):
    """Under a sandbox that supplies the agent, a launch names the cache's layout; nothing on the host is read."""
    from cab_core.models import LaunchContext
    from cab_core.errors import CabError
    from cab_core.tasks import TaskCatalog

    monkeypatch.setenv("CAB_AGENTS_DIR", str(tmp_path / "empty"))
    registry = Registry(get_plugin_manager())
    adapter = registry.adapters.get(agent)
    assert not adapter.is_installed()
    task = TaskCatalog(registry).get(PYTHON_TASK)
    ctx = dict(task=task, model="scripted/oracle", workdir=tmp_path / "w", home=tmp_path / "h",
               base_url="http://127.0.0.1:1/v1", api_key="k")
    (tmp_path / "w").mkdir()
    with pytest.raises(CabError, match="is not installed"):
        adapter.build_launch(LaunchContext(**ctx))
    spec = adapter.build_launch(LaunchContext(**ctx, agent_from_image=True))
    cache = str(tmp_path / "empty" / agent)
    assert any(a.startswith(cache) for a in spec.argv), spec.argv
    assert registry.sandboxes.get("docker").provides_agent and not registry.sandboxes.get("local").provides_agent


def test_interactive_mode_is_refused():
    from cab_core.errors import CabError

    with pytest.raises(CabError, match="local sandbox"):
        session().run(["true"], cwd=Path("/tmp"), env={}, timeout=5, interact=lambda child, cast: None)


def test_recipes_are_found_beside_the_adapters():
    registry = Registry(get_plugin_manager())
    recipes = images.find_recipes(registry.adapters)
    assert list(recipes)[0] == "base" and recipes["base"].tag == images.DEFAULT_IMAGE
    assert recipes["base"].base == images.ROOTFS_IMAGE
    assert "pi" in recipes and recipes["pi"].base == images.DEFAULT_IMAGE
    pi = registry.adapters.get("pi")
    assert recipes["pi"].version == pi.version and recipes["pi"].tag == images.adapter_image(pi)
    assert [r.name for r in images.build_plan(recipes, ["pi"])] == ["base", "pi"]
    with pytest.raises(Exception, match="no image recipe for 'nope'"):
        images.build_plan(recipes, ["nope"])


def test_build_context_carries_the_recipe_and_the_hosts_cas(tmp_path):
    import tarfile

    (tmp_path / "recipe").mkdir()
    (tmp_path / "recipe" / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "ca").mkdir()
    (tmp_path / "ca" / "mine.crt").write_text("-----BEGIN CERTIFICATE-----\n")
    names = tarfile.open(fileobj=images.build_context(tmp_path / "recipe", ca_dir=tmp_path / "ca")).getnames()
    assert names == ["Dockerfile", "cab-host-ca", "cab-host-ca/mine.crt"]
    names = tarfile.open(fileobj=images.build_context(tmp_path / "recipe", ca_dir=tmp_path / "none")).getnames()
    assert names == ["Dockerfile", "cab-host-ca"]


def test_docker_timestamps_parse():
    started = images.parse_time("2026-11-27T10:59:57.307136305Z")
    finished = images.parse_time("2026-11-27T10:59:57.340828154Z")
    assert round((finished - started).total_seconds() * 1000, 3) == 33.692
    assert images.parse_time("0001-01-01T00:00:00Z") is None


# --------------------------------------------------------------------------- with dockerd


@pytest.mark.slow
def test_oracle_passes_and_noop_fails_in_a_container(dc, tmp_path):
    _need_image(dc, images.DEFAULT_IMAGE)
    results = tmp_path / "results"
    proc = run_cab("run", "--sandbox", "docker", "--adapter", "command", "--model", "oracle", "--task", RUST,
                   "--results", results, "--json")
    assert proc.returncode == 0, proc.stderr
    cell = json.loads(proc.stdout)
    assert cell["status"] == "ok" and cell["scores"]["pass_rate"]["breakdown"]["pass"] == 1
    assert (cell["sandbox"], cell["isolation"], cell["container_image"]) == ("docker", "docker", images.DEFAULT_IMAGE)
    assert cell["image_digest"] == dc.images.get(images.DEFAULT_IMAGE).id
    assert cell["exit_code"] == 0
    latency = cell["scores"]["latency"]["breakdown"]
    assert 0 < latency["container_active_ms"] < latency["wall_clock_ms"]
    assert cell["command"].endswith("--sandbox docker")
    folder = results / "default" / "command" / "oracle" / "polyglot" / "rust-error-handling" / "trial-1"
    assert "oracle: applied the reference solution" in (folder / "terminal.cast").read_text()
    # Each test binary also runs the cell's canaries, one failing by design: cargo says FAILED, the verdict passes.
    assert "test result:" in (folder / "test_output.txt").read_text()
    assert cell["scores"]["pass_rate"]["breakdown"]["canary"]["outcome"] == "ok"

    proc = run_cab("run", "--sandbox", "docker", "--adapter", "command", "--model", "noop", "--task", RUST,
                   "--results", results, "--json")
    cell = json.loads(proc.stdout)
    assert cell["status"] == "ok" and cell["container_image"] == images.DEFAULT_IMAGE
    assert cell["scores"]["pass_rate"]["breakdown"]["pass"] == 0
    assert cell["scores"]["pass_rate"]["breakdown"]["partial_score"] < 1


@pytest.mark.slow
def test_verify_runs_in_the_image_on_a_clean_copy(dc, make_runner, tmp_path, make_task):
    _need_image(dc, images.DEFAULT_IMAGE)
    # The test command only passes inside a container of cab/base (hostname "cab", the image's python).
    make_task("demo/add", test_command="test -f /.dockerenv && test $(cat /etc/hostname) = cab && "
                                       "readlink -f $(command -v python) && python -m pytest -q -p no:cacheprovider")
    runner = make_runner(tasks_dirs=[tmp_path / "tasks"])
    result, folder = run(runner, tmp_path, model="oracle", task="demo/add")
    assert result.passed, (folder / "test_output.txt").read_text()
    assert "/usr/bin/python" in (folder / "test_output.txt").read_text()
    # Rewriting the protected test is caught, and the verify copy has the original test back.
    cmd = "printf 'def test_add():\\n    assert True\\n' > tests/test_calc.py"
    result, folder = run(runner, tmp_path, model="custom", task="demo/add", options={"command": cmd}, trial=2)
    assert result.scores["integrity"].value == 0 and result.passed is False


@pytest.mark.slow
def test_no_network_and_no_host_files_inside(dc, make_runner, tmp_path, make_task):
    _need_image(dc, images.DEFAULT_IMAGE)
    task = make_task("demo/add")
    secret = tmp_path / "host-secret.txt"
    secret.write_text("HOST-SECRET\n")
    # A server on the host's loopback and one on all of the host's addresses: neither may be reached.
    server = socket.socket()
    server.bind(("0.0.0.0", 0))
    server.listen(8)
    port = server.getsockname()[1]
    accepted = []

    def accept():
        try:
            accepted.append(server.accept())
        except OSError:  # closed at the end of the test
            pass

    threading.Thread(target=accept, daemon=True).start()
    host_ip = _host_address()
    probe = (f"import socket\n"
             f"for host in ('127.0.0.1', '{host_ip}'):\n"
             f"    try:\n"
             f"        socket.create_connection((host, {port}), timeout=3); print('REACHED', host)\n"
             f"    except OSError as exc:\n"
             f"        print('unreachable', host, exc)\n"
             f"try:\n"
             f"    socket.getaddrinfo('deb.debian.org', 80); print('RESOLVED')\n"
             f"except OSError as exc:\n"
             f"    print('no dns', exc)\n")
    cmd = (f"tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | sed 's/^/iface:/'; "
           f"tail -n +2 /proc/net/route | sed 's/^/route:/'; "
           f"cat > /tmp/probe.py <<'EOF'\n{probe}EOF\npython3 /tmp/probe.py; "
           f"cat {secret} || echo no-secret; ls {task}/demo/add/solution || echo no-solution; "
           f"ls {ROOT}/cab_core || echo no-repo; ls /work >/dev/null 2>&1 || echo no-work; "
           f"echo x > {tmp_path}/escape.txt; echo x > /etc/escape || echo etc-read-only; "
           f"echo x > /tmp/cab-escape-{os.getpid()} && echo tmp-private; echo finished")
    runner = make_runner(tasks_dirs=[tmp_path / "tasks"])
    try:
        result, folder = run(runner, tmp_path, model="custom", task="demo/add", options={"command": cmd})
    finally:
        server.close()
    out = (folder / "agent_output.txt").read_text().replace("\r\n", "\n")
    assert "finished" in out, out
    assert [line[6:] for line in out.splitlines() if line.startswith("iface:")] == ["lo"], out
    assert [line for line in out.splitlines() if line.startswith("route:")] == [], out
    assert "REACHED" not in out and "RESOLVED" not in out and accepted == [], out
    assert "unreachable 127.0.0.1" in out and f"unreachable {host_ip}" in out and "no dns" in out
    assert "HOST-SECRET" not in out and "no-secret" in out and "no-solution" in out and "no-repo" in out
    assert "no-work" in out and "etc-read-only" in out and "tmp-private" in out
    assert not (tmp_path / "escape.txt").exists() and not Path(f"/tmp/cab-escape-{os.getpid()}").exists()
    assert "return a + b" not in (folder / "diff.patch").read_text()


def _host_address() -> str:
    """This machine's own non-loopback address (a UDP socket's connect sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))
            return s.getsockname()[0]
        except OSError:
            return "127.0.0.2"


@pytest.mark.slow
def test_a_container_past_its_timeout_is_killed_and_removed(dc, make_runner, tmp_path):
    _need_image(dc, images.DEFAULT_IMAGE)
    runner = make_runner()
    nap = f"sleep {300 + uuid.uuid4().int % 10**6 / 10**7:.7f}"  # unique: other runs on this machine don't count
    cmd = f"trap '' TERM HUP; {nap} & (setsid {nap} &); {nap}"
    t0 = time.monotonic()
    result, folder = run(runner, tmp_path, model="custom", task=PYTHON_TASK, options={"command": cmd}, timeout=3)
    assert time.monotonic() - t0 < 60
    assert result.timed_out and result.exit_code is None
    span = next(s for s in result.spans if s.kind == "container")
    assert span.attrs["timed_out"] is True
    left = cab_containers(dc)
    assert left == [], [(c.attrs["Config"]["Labels"], c.attrs["Config"]["Cmd"], c.status, c.attrs["Mounts"]) for c in left]
    assert subprocess.run(["pgrep", "-f", nap], capture_output=True).stdout == b""

    # The same through a session: every process in the container is counted as killed.
    s = dsb.DockerSession(docker_client=images.client())
    try:
        work = tmp_path / "w"
        work.mkdir()
        res = s.run(["/bin/sh", "-c", cmd], cwd=work, env={"HOME": str(work)}, timeout=2, marker="timeout-test")
        assert res.timed_out and res.killed_processes >= 3 and 1500 < res.duration_ms < 20000
        # killed, and removed before run() returned
        assert dc.containers.list(all=True, filters={"label": f"{dsb.LABEL_SESSION}={s.session_id}"}) == []
        assert s.run(["true"], cwd=work, env={}, timeout=30).exit_code == 0
    finally:
        s.close()
    dsb.settle()
    assert dc.containers.list(all=True, filters={"label": f"{dsb.LABEL_SESSION}={s.session_id}"}) == []


@pytest.mark.slow
def test_memory_and_pids_limits_hold(dc, tmp_path):
    _need_image(dc, images.DEFAULT_IMAGE)
    s = dsb.DockerSession(docker_client=images.client(), memory="64M", pids=40, limits={"disk": "8M"})
    env = {"HOME": str(tmp_path)}
    try:
        res = s.run(["python3", "-c", "x = bytearray(400 * 2**20); print('ALLOCATED')"], cwd=tmp_path, env=env, timeout=60)
        assert "ALLOCATED" not in res.output and res.error.startswith("limit exceeded: memory"), res
        t0 = time.monotonic()
        forks = ("import os, time\n"
                 "for i in range(100):\n"
                 "    try:\n"
                 "        if os.fork() == 0:\n"
                 "            time.sleep(30)\n"
                 "            os._exit(0)\n"
                 "    except OSError as exc:\n"
                 "        print('fork failed:', exc)\n"
                 "        break\n"
                 "time.sleep(30)\n")
        res = s.run(["python3", "-c", forks], cwd=tmp_path, env=env, timeout=60)
        assert res.error.startswith("limit exceeded: processes") and time.monotonic() - t0 < 20, res
        res = s.run(["/bin/sh", "-c", "head -c 20000000 /dev/zero > big; sleep 30"], cwd=tmp_path, env=env, timeout=60)
        assert res.error.startswith("limit exceeded: disk") and res.duration_ms < 20000, res
        res = s.run(["/bin/sh", "-c", "rm big; echo fine"], cwd=tmp_path, env=env, timeout=60)
        assert res.error is None and res.exit_code == 0 and "fine" in res.output
    finally:
        s.close()


class DockerImagePlugin:
    """Runs the adapter in the image its recipe builds (when the adapter record does not name one)."""

    @hookimpl
    def cab_agent_plugins(self):
        def apply(spec, ctx, options):
            return spec if spec.image else attrs.evolve(spec, image=options.get("image"))

        return [AgentPlugin(name="test-image", apply=apply)]


@pytest.mark.slow
def test_pi_solves_a_python_task_in_its_container(dc, make_runner, tmp_path, monkeypatch):
    registry = Registry(get_plugin_manager())
    pi = registry.adapters.get("pi")
    image = images.adapter_image(pi)
    _need_image(dc, image)
    # The host's agent cache moved away (an empty one): the container runs the image's pi.
    cache = tmp_path / "agents"
    cache.mkdir()
    monkeypatch.setenv("CAB_AGENTS_DIR", str(cache))
    assert not pi.is_installed()
    runner = make_runner(DockerImagePlugin())
    result, folder = run(runner, tmp_path, adapter="pi", model="scripted/oracle", task=PYTHON_TASK, timeout=300,
                         plugins=("test-image",), options={"test-image.image": image})
    output = (folder / "agent_output.txt").read_text()
    assert result.status == "ok", result.error
    assert result.passed, output[-3000:] + (folder / "test_output.txt").read_text()[-2000:]
    assert result.container_image == image and result.image_digest == dc.images.get(image).id
    # every model call went through the proxy, reached through its socket from inside the container
    assert len(result.model_calls) >= 1 and all(c.status == 200 for c in result.model_calls)
    assert result.scores["tokens"].breakdown["total_tokens"] > 0
    assert result.agent_tokens.get("agrees") is True, result.agent_tokens
    assert result.scores["latency"].breakdown["container_active_ms"] > 0
    assert list(cache.iterdir()) == []


@pytest.mark.slow
def test_images_list_shows_what_exists_with_digests(dc):
    proc = run_cab("images", "list", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = {row["image"]: row for row in json.loads(proc.stdout)}
    base = rows[images.DEFAULT_IMAGE]
    assert base["status"] == "built" and base["recipe"] == "base" and base["id"] == dc.images.get(images.DEFAULT_IMAGE).id
    assert base["id"].startswith("sha256:")
    text = run_cab("images", "list").stdout
    assert images.DEFAULT_IMAGE in text and base["id"] in text


@pytest.mark.slow
def test_no_container_is_left_behind(dc):
    # Runs last in this module: every cell above removed its containers.
    left = cab_containers(dc)
    assert left == [], [(c.short_id, c.status, c.labels) for c in left]
    dockerpool.discard_all()  # those prepared for a next cell that will not come (the process's exit does it)
    assert dsb.remove_containers(docker_client=dc) == 0
