"""The local sandbox's allow-list root: what a command sees of the host, declared mounts, the record."""

import os
import sys
from pathlib import Path

import pytest

from cab_core import Mount
from cab_core.errors import CabError
from cab_core.models import CellResult, to_mounts
from cab_core.runner import agent_env
from cab_core.sandbox import mounts as allow
from cab_core.sandbox.local import LocalSession, bwrap_path

needs_bwrap = pytest.mark.skipif(not bwrap_path(), reason="needs bubblewrap (installed by scripts/setup.sh)")


@pytest.fixture
def cell(tmp_path):
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    home.mkdir()
    return work, home


def sh(session, script, cell, **kw):
    work, home = cell
    env = {**agent_env(home, "test-marker"), **kw.pop("env", {})}
    return session.run(["/bin/sh", "-c", script], cwd=work, env=env, timeout=60, writable=[home], **kw)


@pytest.fixture
def planted():
    """A secret in the harness user's HOME, outside every well-known credential path."""
    folder = Path.home() / f"cab-planted-{os.getpid()}"
    folder.mkdir(exist_ok=True)
    (folder / "notes.txt").write_text("PLANTED-SECRET\n")
    yield folder / "notes.txt"
    (folder / "notes.txt").unlink()
    folder.rmdir()


@needs_bwrap
def test_the_root_holds_only_the_system_and_the_cell(cell):
    result = sh(LocalSession(), "ls -A /", cell)
    top = set(result.output.split())
    assert top <= {"usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc", "dev", "proc", "tmp", "var", "run",
                   "root", "home", "work"} | {Path(p).parts[1] for p in (Path.home(), sys.prefix, cell[0])}, top
    assert "farm" not in top and "srv" not in top and "mnt" not in top


@needs_bwrap
def test_a_file_planted_in_home_is_not_there(cell, planted):
    result = sh(LocalSession(), f"cat {planted}; ls -A {Path.home()}; echo done", cell)
    assert "done" in result.output
    assert "PLANTED-SECRET" not in result.output and "No such file" in result.output
    assert planted.parent.name not in result.output.split()


@needs_bwrap
def test_the_harness_checkout_is_not_there(cell):
    root = allow.harness_root()
    if root is None:
        pytest.skip("cab is installed as a package here")
    result = sh(LocalSession(), f"ls -A {root}; cat {root}/pyproject.toml; echo done", cell)
    assert "done" in result.output and "[project]" not in result.output
    assert ".git" not in result.output.split()


@needs_bwrap
def test_etc_secrets_are_covered(cell):
    if not Path("/etc/shadow").exists():
        pytest.skip("no /etc/shadow here")
    result = sh(LocalSession(), "cat /etc/shadow /etc/gshadow; cat /etc/hostname >/dev/null && echo etc-ok", cell)
    assert "etc-ok" in result.output
    assert "root:" not in result.output


@needs_bwrap
def test_the_root_is_read_only_and_tmp_private(cell):
    result = sh(LocalSession(), "echo x > /planted && echo WROTE; echo y > /tmp/t && cat /tmp/t; echo done", cell)
    assert "WROTE" not in result.output and "y" in result.output.split()


@needs_bwrap
def test_a_venv_on_path_under_tmp_is_shown(cell, tmp_path):
    # A checkout under /tmp (as CI's may be): its tools stay visible inside the sandbox's fresh /tmp.
    tool = tmp_path / "venv" / "bin" / "cab-tool"
    tool.parent.mkdir(parents=True)
    tool.write_text("#!/bin/sh\necho tool-ran\n")
    tool.chmod(0o755)
    env = {"PATH": f"{tool.parent}:/usr/bin:/bin"}
    result = sh(LocalSession(), "cab-tool", cell, env=env)
    assert "tool-ran" in result.output


@needs_bwrap
def test_declared_mounts_are_shown_read_only_unless_writable(cell, tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    (models / "weights.bin").write_text("W")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    session = LocalSession(mounts=[Mount(path=models, why="a model cache"), Mount(path=scratch, writable=True)])
    result = sh(session, f"cat {models}/weights.bin; echo; echo x > {models}/new || echo RO; echo s > {scratch}/s", cell)
    assert "W" in result.output.split() and "RO" in result.output
    assert not (models / "new").exists() and (scratch / "s").read_text() == "s\n"
    described = {m["path"]: m for m in session.describe()["mounts"]}
    assert described[str(models)] == {"path": str(models), "writable": False, "why": "a model cache"}
    assert described[str(scratch)]["writable"] is True


def test_a_declared_mount_exposing_home_or_the_root_is_refused():
    for path in (Path.home(), Path("/"), Path.home().parent):
        with pytest.raises(CabError, match="would expose"):
            LocalSession(isolate=None, mounts=[Mount(path=path, why="greedy")])


@needs_bwrap
def test_a_mount_inside_a_credential_folder_is_skipped(cell, tmp_path, monkeypatch):
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_ed25519").write_text("KEY")
    monkeypatch.setenv("HOME", str(home))
    session = LocalSession(mounts=[Mount(path=Path.home() / ".ssh")])
    sh(session, "true", cell)
    assert str(Path.home() / ".ssh") in session.describe()["mounts_skipped"]
    assert str(Path.home() / ".ssh") not in {m["path"] for m in session.describe()["mounts"]}


@needs_bwrap
def test_hidden_paths_inside_a_mount_are_covered(cell, tmp_path):
    shared = tmp_path / "shared"
    (shared / "answers").mkdir(parents=True)
    (shared / "answers" / "fix.py").write_text("ANSWER\n")
    (shared / "ok.txt").write_text("OK\n")
    session = LocalSession(mounts=[Mount(path=shared)], hide=[shared / "answers"])
    result = sh(session, f"cat {shared}/ok.txt {shared}/answers/fix.py; echo done", cell)
    assert "OK" in result.output and "ANSWER" not in result.output


@needs_bwrap
def test_the_harness_python_runs_a_module_with_only_its_closure(cell):
    session = LocalSession()
    work, home = cell
    result = session.run([sys.executable, "-I", "-m", "cab_core.errors"], cwd=work, env=agent_env(home, "m"), timeout=60)
    assert result.exit_code == 0, result.output
    placed = {m["why"] for m in session.describe()["mounts"]}
    assert any(w.endswith(f"{allow.PYTHON_DIR}/cab_core") for w in placed)
    result = sh(session, f"{sys.executable} -c 'import cab_tasks' 2>&1 || echo no-tasks", cell)
    assert "no-tasks" in result.output


@needs_bwrap
def test_the_old_full_root_view_is_still_buildable(cell, planted):
    result = sh(LocalSession(full_root=True), f"cat {planted}", cell)
    assert "PLANTED-SECRET" in result.output  # which is why it is no longer the default


def test_mount_entries_are_checked_one_line():
    assert to_mounts(["~/x", {"path": "/opt/m", "why": "models"}]) == (
        Mount(path=Path.home() / "x"), Mount(path=Path("/opt/m"), why="models"))
    with pytest.raises(ValueError, match="entry 2: .*absolute"):
        to_mounts(["/ok", "relative/path"])
    with pytest.raises(ValueError, match="entry 1: expected keys"):
        to_mounts([{"path": "/x", "mode": "rw"}])


def test_task_toml_mounts_key(tmp_path):
    from cab_core.errors import TaskError
    from cab_core.testing import write_task
    from cab_tasks.native import load_task

    folder = write_task(tmp_path, "demo/mounted", extra='mounts = ["/opt/models", {path = "~/d", why = "data"}]')
    task = load_task(folder)
    assert task.mounts == (Mount(path=Path("/opt/models"), why="declared by the task"),
                           Mount(path=Path.home() / "d", why="data"))
    bad = write_task(tmp_path, "demo/badmount", extra='mounts = [3]')
    with pytest.raises(TaskError, match=r"task.toml: field mounts: entry 1: expected a path"):
        load_task(bad)


def test_cell_records_carry_their_mounts():
    from cab_core import serialization

    fields = [a.name for a in CellResult.__attrs_attrs__]
    assert "mounts" in fields[fields.index("host"):]  # added after the older fields (old records still load)
    mount = Mount(path=Path("/opt/m"), why="x")
    assert serialization.structure({"path": "/opt/m", "writable": False, "why": "x"}, Mount) == mount


def test_the_cell_page_lists_every_mount():
    from cab_core.models import CellId, utcnow
    from cab_core.report.data import identity_rows

    ident = CellId(sweep="s", adapter="command", model="oracle", task="demo/add")
    result = CellResult(cell_id=ident.cell_id, identity=ident, started_at=utcnow(), ended_at=utcnow(), duration_s=1.0,
                        mounts=[{"path": "/opt/m", "writable": False, "why": "a model cache"},
                                Mount(path=Path("/tmp/cell/work"), writable=True, why="the cell's own folder")])
    rows = [value for label, value, _ in identity_rows(result) if label == "mount"]
    assert rows == ["/opt/m (ro): a model cache", "/tmp/cell/work (rw): the cell's own folder"]
