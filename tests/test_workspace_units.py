"""Units of the work-tree reading: safe reads, the snapshot, globs over odd names, the test command read."""

import os
import time

import pytest

from cab_core.globs import glob_match, match_any
from cab_core.workspace import snapshot
from cab_core.workspace.safefs import read_capped
from cab_core.workspace.testrun import read_test_command


def test_safe_reads_never_follow_block_or_overread(tmp_path):
    (tmp_path / "f").write_bytes(b"x" * 100)
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "zero").symlink_to("/dev/zero")
    (tmp_path / "link").symlink_to(tmp_path / "f")
    (tmp_path / "dirlink").symlink_to(tmp_path)
    t0 = time.monotonic()
    assert read_capped(tmp_path / "f", 10) == b"x" * 10
    for name in ("fifo", "zero", "link", "dirlink/f", "missing"):
        assert read_capped(tmp_path / name) is None, name
    assert time.monotonic() - t0 < 2


def test_a_snapshot_skips_and_reports_special_files_and_copies_the_rest(tmp_path):
    work, copy = tmp_path / "work", tmp_path / "copy"
    (work / "sub" / ".git").mkdir(parents=True)
    (work / "sub" / "a.py").write_text("x = 1\n")
    (work / "run.sh").write_text("#!/bin/sh\n")
    (work / "run.sh").chmod(0o755)
    os.mkfifo(work / "fifo")
    (work / "link").symlink_to("/etc/passwd")
    (work / "node_modules").mkdir()
    (work / "node_modules" / "x.js").write_text("1")
    snap = snapshot.take(work, copy_to=copy)
    assert sorted(snap.files) == ["link", "run.sh", "sub/a.py"]
    assert snap.files["run.sh"].mode == "100755" and snap.files["link"].mode == "120000"
    assert snap.nested_git == ["sub"] and snap.report.special == ["fifo"]
    assert (copy / "sub" / "a.py").read_text() == "x = 1\n" and os.readlink(copy / "link") == "/etc/passwd"
    assert not (copy / "fifo").exists() and not (copy / "node_modules").exists()


def test_globs_match_names_holding_newlines_and_backslashes_as_they_are():
    assert glob_match("a\nb/conftest.py", "**/conftest.py")
    assert glob_match("a\nb.py", "*.py")
    assert not glob_match("src\\merge.js", "src/merge.js") and glob_match("src\\merge.js", "src\\merge.js")
    assert not match_any("src\\merge.js", ["src/**"])


@pytest.mark.parametrize("command, runners, extra", [
    ("python -m pytest -q", {"python"}, {}),
    ("node --test", {"node"}, {}),
    ("cc -o t_run test_main.c x.c && ./t_run", {"c"}, {"produced": frozenset({"t_run"}), "runs": frozenset()}),
    ("PATH=./bin:$PATH pytest", {"python"}, {"path_dirs": ("bin",)}),
    ("set -a && . ./.env && pytest", {"python"}, {"loads_env": True, "runs": frozenset({".env"})}),
    ("sh -c 'cd . && cargo test'", {"cargo"}, {}),
    ("make test", None, {"make_targets": ("test",)}),
    ("./run_tests.sh", None, {"runs": frozenset({"run_tests.sh"})}),
    ("frobnicate --all", None, {}),
])
def test_the_test_command_is_read_for_what_it_reaches(command, runners, extra):
    run = read_test_command(command)
    if runners is None:
        assert {"python", "node", "cargo", "make"} <= run.runners  # unknown or generic: every runner counts
    else:
        assert run.runners == frozenset(runners)
    for key, value in extra.items():
        assert getattr(run, key) == value, key


def test_build_outputs_the_agent_left_are_not_verified(tmp_path):
    from cab_core.plugins import get_plugin_manager
    from cab_core.registry import Registry
    from cab_core.tasks import TaskCatalog
    from cab_core.testing import write_task
    from cab_core.workspace import CellWorkspace

    write_task(tmp_path, "demo/c", files={"x.c": "int x;\n", "test_main.c": "int main(void){return 0;}\n"},
               solution={"x.c": "int x = 1;\n"}, test_command="make test", expected_changes=("x.c",),
               protected=("test_main.c",))
    task = TaskCatalog(Registry(get_plugin_manager()), tasks_dirs=[tmp_path]).get("demo/c")
    ws = CellWorkspace(task)
    try:
        ws.prepare()
        (ws.work / "t_run").write_bytes(b"\x7fELF fake binary")
        (ws.work / "x.o").write_bytes(b"obj")
        (ws.work / "notes.txt").write_text("kept")
        changes = ws.changes()
        ws.prepare_verify(ws.hook_files(changes))
        assert not (ws.verify_dir / "t_run").exists() and not (ws.verify_dir / "x.o").exists()
        assert (ws.verify_dir / "notes.txt").exists() and ws.build_outputs == ["t_run", "x.o"]
    finally:
        ws.close()
