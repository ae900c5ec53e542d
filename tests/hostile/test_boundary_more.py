"""More of the sandbox boundary, tried as a hostile agent (issue 22, cases the first round did not try).

- **Many tiny files.** A million empty files cost nothing against the disk limit
  (512 bytes each), but every step of the harness after the agent is paid per file:
  the judgement of what can hook the test run was quadratic in the number of files
  (a cell with ``--timeout 60`` ran past ten minutes).  Now the number of entries the
  agent may leave is a limit of its own (``limit.files``), enforced by the same watch
  as the disk, and every judgement over the work tree is linear in its size.
- **The harness's own install.** For a task without a Python test runtime the agent's
  PATH leads to the harness's virtual environment, and the allow-list mounted it
  whole (its site-packages and the editable finders naming the checkout).  Nothing at
  or inside the harness's environment or checkout is derived as a mount now.
- **A git ref naming a host path.** ``.git/HEAD`` holding ``ref: /etc/...`` made the
  harness read that host file while judging whether the agent committed.

- **The kernel's knobs and keyrings.** Bubblewrap keeps the harness's uid: a root
  harness's agent could write ``/proc/sys`` (the host's ``kernel.core_pattern``) and
  read the harness user's keyring.  ``/proc``'s knobs are read-only now and the
  keyring calls refused by a seccomp filter.
- **Eating memory** was unlimited in the local sandbox: 4 GiB by default now, as in docker.
- **Credentials below /etc** (apt, container registries, npm, pip) are covered.

Each scenario ends within the cell's limits, is the agent's failure (never an
infrastructure error) and leaves no ``cab-cell-*`` folder behind.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import pytest

from cab_core.plugins import get_plugin_manager
from cab_core.registry import Registry
from cab_core.sandbox import mounts
from cab_core.sandbox import limits
from cab_core.sandbox.limits import DiskWatch, Limits
from cab_core.tasks import TaskCatalog
from cab_core.testing import write_task
from cab_core.workspace import forgery, hooks
from cab_core.workspace.snapshot import FileRecord, Snapshot

from .conftest import FIXED, TASK, assert_contained, needs_bwrap, passed, span


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    """The folder cells are made in (tempfile's), to check that each cell leaves nothing behind."""
    folder = tmp_path / "scratch"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


SHELL_TEST = ('if grep -qx 42 answer.txt; then echo "Results: 1 passed, 0 failed"; '
              'else echo "Results: 0 passed, 1 failed"; exit 1; fi\n')


def _record(rel: str, data: bytes = b"x = 1\n", mode: str = "100644") -> FileRecord:
    return FileRecord(rel=rel.encode(), mode=mode, data=data, digest=str(hash((rel, data))), size=len(data))


def _snapshot(paths) -> Snapshot:
    return Snapshot(files={p: _record(p) for p in paths})


# --------------------------------------------------------------------------- many tiny files


def test_judging_a_tree_of_many_files_takes_linear_time(task_root):
    task = TaskCatalog(Registry(get_plugin_manager()), tasks_dirs=[task_root]).get(TASK)
    before = _snapshot(["calc.py", "test_calc.py"])

    def judging(n: int) -> float:  # the best of two (CPU time: other load on the machine does not count)
        # n new modules in folders without __init__: each was compared with every other path.
        after = _snapshot([*before.files, *(f"pkg{i // 100}/mod{i}.py" for i in range(n))])
        best = float("inf")
        for _ in range(2):
            t0 = time.process_time()
            hooks.find_hooks(task, before, after)
            hooks.extra_tests(task, before, after)
            hooks.build_outputs(task, before, after)
            forgery.scan(task, before, after)
            best = min(best, time.process_time() - t0)
        return best

    # Five times the files: about five times the work when linear, twenty-five when quadratic.
    small, large = judging(4_000), judging(20_000)
    assert large < 12 * max(small, 0.01), f"4,000 files: {small:.2f} s, 20,000 files: {large:.2f} s"


def test_a_package_folder_still_shadows_and_a_plain_folder_does_not(task_root):
    task = TaskCatalog(Registry(get_plugin_manager()), tasks_dirs=[task_root]).get(TASK)
    before = _snapshot(["calc.py", "test_calc.py"])
    after = _snapshot([*before.files, "json/__init__.py", "json/x.py", "plain/json.py", "os/sub/y.py"])
    found = hooks.find_hooks(task, before, after)
    assert "json/__init__.py" in found and "json/x.py" in found
    assert "plain/json.py" not in found and "os/sub/y.py" not in found


def test_the_file_limit_is_a_limit_like_the_others(tmp_path):
    assert Limits().files == limits.DEFAULT_FILES
    assert Limits.from_options({"files": "5000"}).files == 5000
    assert Limits.from_options({"files": "none"}).files is None
    assert Limits.from_options({}, env={"CAB_LIMIT_FILES": "900"}).files == 900
    for i in range(30):
        (tmp_path / f"f{i}").touch()
    assert DiskWatch([tmp_path], None, files=20).check(force=True).startswith("limit exceeded: files")
    assert DiskWatch([tmp_path], None, files=100).check(force=True) is None


def _docker_missing() -> str:
    from cab_core import images

    try:
        return images.unavailable_reason() or ""
    except Exception as exc:  # no daemon, no SDK
        return str(exc)


SANDBOXES = [pytest.param("local", marks=needs_bwrap),
             pytest.param("docker", marks=pytest.mark.skipif(bool(_docker_missing()), reason="needs dockerd"))]


@pytest.mark.parametrize("sandbox", SANDBOXES)
@pytest.mark.slow
def test_a_flood_of_tiny_files_stops_the_agent_and_the_cell_ends_in_time(hostile, scratch, sandbox):
    flood = (f"{FIXED}; python3 -c \"import os\nfor d in range(10**6):\n os.mkdir(f'd{{d}}')\n"
             f" for i in range(1000): os.close(os.open(f'd{{d}}/{{i}}', os.O_CREAT | os.O_WRONLY))\"")
    t0 = time.monotonic()
    result, folder = hostile(flood, options={"limit.files": "20000"}, timeout=60, sandbox=sandbox)
    assert time.monotonic() - t0 < 60 + 30, "the cell outlived its time limit: the harness took minutes after the agent"
    assert_contained(result, folder)
    error = span(result, "container").attrs["error"]
    assert error and error.startswith("limit exceeded: files"), error
    assert passed(result) == 0
    # The docker sandbox may have prepared the next cell's folders (empty; removed at exit): not this cell's.
    from cab_core.sandbox import dockerpool

    prepared = dockerpool.prepared_roots()
    assert all(not any((root / name).iterdir()) for root in prepared for name in ("work", "home", "verify"))
    assert [p.name for p in scratch.iterdir() if p.name.startswith("cab-cell-") and p not in prepared] == []


# --------------------------------------------------------------------------- the harness's own install


def test_the_harness_environment_is_never_derived_as_a_mount():
    # The runner puts the harness interpreter's folder on PATH; without a test runtime before it,
    # its python3 is the harness's virtual environment's.
    if sys.prefix == sys.base_prefix:
        pytest.skip("the harness does not run from a virtual environment")
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin"}
    view = mounts.build_view(["/bin/sh", "-c", "true"], env, protected=mounts.protected_roots())
    shown = [str(m.path) for m in view.mounts]
    for private in mounts.private_roots():
        assert not [p for p in shown if mounts._under(p, str(private))], (private, shown)
    assert any("harness's own install" in why for _, why in view.skipped), view.skipped


@needs_bwrap
@pytest.mark.slow
def test_the_harness_site_packages_are_unreachable_for_a_task_without_a_python_runtime(hostile, task_root):
    if sys.prefix == sys.base_prefix:
        pytest.skip("the harness does not run from a virtual environment")
    write_task(task_root, "demo/shell", files={"test.sh": SHELL_TEST, "answer.txt": "0\n"},
               solution={"answer.txt": "42\n"}, test_command="sh test.sh", expected_changes=("answer.txt",),
               protected=("test.sh",))
    site = next(p for p in sys.path if p.startswith(sys.prefix) and p.endswith("site-packages"))
    cmd = (f"echo 42 > answer.txt; ls {site} > seen.txt 2>&1; ls {sys.prefix} >> seen.txt 2>&1; "
           f"python3 -c 'import pluggy' >> seen.txt 2>&1")
    result, folder = hostile(cmd, task="demo/shell")
    assert_contained(result, folder)
    assert passed(result) == 1  # the honest part still works without the harness's environment
    patch = (folder / "diff.patch").read_text()
    assert "seen.txt" in patch
    assert "dist-info" not in patch and "pyvenv.cfg" not in patch, patch[:2000]


# --------------------------------------------------------------------------- git refs


def test_a_git_ref_naming_a_host_path_is_never_read(tmp_path, task_root, monkeypatch):
    from cab_core.workspace import cell as cell_module
    from cab_core.workspace.cell import CellWorkspace

    task = TaskCatalog(Registry(get_plugin_manager()), tasks_dirs=[task_root]).get(TASK)
    ws = CellWorkspace(task, scratch_root=tmp_path)
    try:
        ws.prepare()
        secret = tmp_path / "host-secret"
        secret.write_text("x" * 40 + "\n")
        read = []
        real = cell_module.read_text
        monkeypatch.setattr(cell_module, "read_text", lambda path, *a: read.append(str(path)) or real(path, *a))
        for ref in (f"ref: {secret}", "ref: refs/heads/../../../host-secret", "ref: /proc/self/environ"):
            (ws.work / ".git" / "HEAD").write_text(ref + "\n")
            ws.after = None
            ws.changes()
        outside = [p for p in read if not mounts._under(p, str(ws.work))]
        assert outside == [], outside
    finally:
        ws.close()


# --------------------------------------------------------------------------- the kernel's knobs


@needs_bwrap
@pytest.mark.slow
def test_the_kernels_settings_cannot_be_written_from_the_sandbox(hostile):
    # The harness runs as root and bubblewrap as that uid without a user namespace: a writable
    # /proc/sys is the host's (kernel.core_pattern runs a program of the agent's as host root).
    # Writing a setting's own value back changes nothing on the host, and shows whether it could.
    probe = ("for k in kernel/printk_ratelimit vm/stat_interval; do v=$(cat /proc/sys/$k) && "
             "(echo \"$v\" > /proc/sys/$k) 2>/dev/null && echo \"$k\" >> wrote.txt; done; "
             "[ -e /proc/sysrq-trigger ] && (: > /proc/sysrq-trigger) 2>/dev/null && echo sysrq >> wrote.txt; "
             "cat /proc/kcore > /dev/null 2>&1 && echo kcore >> wrote.txt; " + FIXED)
    result, folder = hostile(probe)
    assert_contained(result, folder)
    assert "wrote.txt" not in (folder / "diff.patch").read_text(), (folder / "diff.patch").read_text()[:1500]
    assert passed(result) == 1


KEYRING_PROBE = ("python3 -c 'import ctypes; libc = ctypes.CDLL(None, use_errno=True); "
                 "print(libc.syscall({nr}, 0, -4, 0, 0, 0))' > keyring.txt; " + FIXED)


@needs_bwrap
@pytest.mark.slow
def test_the_harness_users_keyring_is_unreachable(hostile):
    import ctypes
    import platform

    from cab_core.sandbox import kernel as seccomp

    if seccomp.program() is None:
        pytest.skip(f"no seccomp filter for {platform.machine()}")
    nr = {"x86_64": 250, "aarch64": 219}[platform.machine()]
    libc = ctypes.CDLL(None, use_errno=True)
    mine = libc.syscall(nr, 0, -4, 0, 0, 0)  # KEYCTL_GET_KEYRING_ID of the user keyring
    result, folder = hostile(KEYRING_PROBE.format(nr=nr))
    assert_contained(result, folder)
    patch = (folder / "diff.patch").read_text()
    assert "+-1" in patch and (mine == -1 or f"+{mine}\n" not in patch), patch[:1500]
    assert passed(result) == 1


# --------------------------------------------------------------------------- memory


def test_both_sandboxes_limit_memory_by_default():
    assert Limits().memory == limits.DEFAULT_MEMORY
    assert Limits.from_options({"memory": "none"}).memory is None


@pytest.mark.skipif(limits.cgroup_mode() == "none", reason="needs a writable memory cgroup (root)")
@needs_bwrap
@pytest.mark.slow
def test_eating_memory_is_the_agents_failure(hostile):
    result, folder = hostile(f"{FIXED}; python3 -c 'x = bytearray(512 * 1024 * 1024)'",
                             options={"limit.memory": "128M"})
    assert_contained(result, folder)
    error = span(result, "container").attrs["error"]
    assert error and error.startswith("limit exceeded: memory"), error
    assert passed(result) == 0


def test_registry_and_package_credentials_below_etc_are_covered(tmp_path):
    etc = tmp_path / "etc"
    for rel in ("apt/auth.conf", "apt/auth.conf.d/mirror.conf", "containers/auth.json", "npmrc", "pip.conf",
                "ssl/host.key", "hostname"):
        (etc / rel).parent.mkdir(parents=True, exist_ok=True)
        (etc / rel).write_text("machine x login y password z\n")
    covered = {str(p.relative_to(etc)) for p in mounts.etc_secrets(str(etc))}
    assert {"apt/auth.conf", "apt/auth.conf.d", "containers/auth.json", "npmrc", "pip.conf", "ssl/host.key"} <= covered
    assert "hostname" not in covered
