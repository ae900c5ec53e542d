"""Tests of the exercise-file task source: loading, errors, detection, and a real cell."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import cab_tasks_exercise_file as source
from cab_core.errors import TaskError
from cab_core.testing import write_task

SAMPLE = Path(__file__).resolve().parent.parent / "sample"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def test_loads_the_sample_yaml_and_json():
    tasks = {task.id: task for task in source.load([SAMPLE])}
    assert sorted(tasks) == ["sample/add", "sample/greet"]
    add = tasks["sample/add"]
    assert (add.workspace / "calc.py").read_text().endswith("return a - b\n")
    assert (add.solution_dir / "calc.py").read_text().endswith("return a + b\n")
    assert add.expected_changes == ("calc.py",) and add.format == "exercise-file"
    assert SAMPLE.resolve() / "add.exercise.yaml" in add.private_paths


def test_detects_only_its_own_folders(tmp_path):
    assert source.detect(SAMPLE)
    native = write_task(tmp_path / "tasks")
    assert not source.detect(native) and not source.detect(native.parent)


@pytest.mark.parametrize("text, message", [
    ("prompt: x\nlanguage: python\n", "field test_command: required"),
    ("prompt: x\nlanguage: python\ntest_command: t\nfiles: [a]\n", "field files: expected a mapping"),
    ("prompt: x\nlanguage: python\ntest_command: t\nfiles: {../evil: x}\n", "must be a relative path"),
    ("prompt: x\nlanguage: python\ntest_command: t\nsolutoin: {}\n", "unknown key 'solutoin'"),
    ("prompt: [\n", "not valid YAML"),
])
def test_bad_files_are_one_line_naming_the_field(tmp_path, text, message):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "broken.exercise.yaml").write_text(text)
    with pytest.raises(TaskError) as info:
        source.load([folder])
    assert message in str(info.value) and "broken.exercise.yaml" in str(info.value)
    assert "\n" not in str(info.value)


def test_listed_through_the_cli(cab_register, cab_cli):
    with cab_register(source, name="exercise-file"):
        result = cab_cli("tasks", "list", "--tasks-dir", str(SAMPLE), "--json")
    ids = [row["id"] for row in json.loads(result.output)]
    assert "sample/add" in ids and "sample/greet" in ids


def _cab():
    found = Path(sys.executable).with_name("cab")
    return str(found) if found.exists() else shutil.which("cab")


@pytest.mark.slow
@pytest.mark.skipif(_cab() is None, reason="the cab console script is not installed")
def test_the_reference_solution_passes_in_a_real_cell(tmp_path):
    proc = subprocess.run(
        [_cab(), "run", "--adapter", "command", "--model", "oracle", "--task", "sample/add",
         "--tasks-dir", str(SAMPLE), "--results", str(tmp_path / "results"), "--json"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    cell = json.loads(proc.stdout)
    assert cell["status"] == "ok" and cell["scores"]["pass_rate"]["value"] == 1.0
