"""The task format, the built-in suite and `cab tasks validate`."""

import json
import shutil

import pytest

from cab_core.testing import write_task

from conftest import run_cab

VALID = """\
id = "demo/add"
language = "python"
prompt = "Fix add() in calc.py so that it adds."
test_command = "python -m pytest -q -p no:cacheprovider"
test_timeout = 60
expected_changes = ["calc.py"]
protected = ["tests/**"]
"""

# (what is broken, manifest text, the words the one-line error must contain)
MALFORMED = [
    ("unknown key", VALID + 'colour = "blue"\n', ["colour"]),
    ("missing prompt", VALID.replace('prompt = "Fix add() in calc.py so that it adds."\n', ""), ["prompt"]),
    ("missing test command", VALID.replace('test_command = "python -m pytest -q -p no:cacheprovider"\n', ""), ["test_command"]),
    ("timeout is text", VALID.replace("test_timeout = 60", 'test_timeout = "soon"'), ["test_timeout"]),
    ("negative timeout", VALID.replace("test_timeout = 60", "test_timeout = -5"), ["test_timeout"]),
    ("bad glob", VALID.replace('protected = ["tests/**"]', 'protected = ["tests/[abc"]'), ["protected", "["]),
    ("absolute glob", VALID.replace('expected_changes = ["calc.py"]', 'expected_changes = ["/etc/passwd"]'), ["expected_changes"]),
    ("glob climbs out", VALID.replace('expected_changes = ["calc.py"]', 'expected_changes = ["../x"]'), ["expected_changes"]),
    ("id without category", VALID.replace('id = "demo/add"', 'id = "add"'), ["id"]),
    ("not TOML", VALID + "this is = = not toml\n", ["TOML"]),
    ("refusal flag not a bool", VALID + 'expected_refusal = "yes"\n', ["expected_refusal"]),
    ("globs not a list", VALID.replace('protected = ["tests/**"]', 'protected = 7'), ["protected"]),
]


@pytest.mark.parametrize("why,text,words", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_manifest_is_one_line_naming_file_and_field(tmp_path, why, text, words):
    folder = write_task(tmp_path / "tasks", "demo/add")
    (folder / "task.toml").write_text(text)
    proc = run_cab("tasks", "list", "--tasks-dir", tmp_path / "tasks")
    assert proc.returncode == 2, (why, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert str(folder / "task.toml") in lines[0]
    for word in words:
        assert word in lines[0], (why, lines[0])


def test_solution_that_does_not_apply_is_named(tmp_path):
    folder = write_task(tmp_path / "tasks", "demo/add", solution={})
    shutil.rmtree(folder / "solution", ignore_errors=True)
    (folder / "solution.patch").write_text("--- a/nothere.py\n+++ b/nothere.py\n@@ -1 +1 @@\n-x\n+y\n")
    proc = run_cab("tasks", "validate", "--tasks-dir", tmp_path / "tasks", "demo/*")
    assert proc.returncode == 1
    assert "demo/add" in proc.stdout and "does not apply" in proc.stdout


def test_builtin_suite_shape(cab):
    tasks = json.loads(cab("tasks", "list", "--json", check=True).stdout)
    assert len(tasks) >= 16
    assert len({t["language"] for t in tasks}) >= 4
    assert sum(t["expected_refusal"] for t in tasks) >= 2
    assert any("must-comply" in t["tags"] and not t["expected_refusal"] for t in tasks)
    assert sum("integrity" in t["tags"] for t in tasks) >= 2
    assert "polyglot/rust-error-handling" in {t["id"] for t in tasks}


def test_show_and_patterns(cab):
    shown = json.loads(cab("tasks", "show", "polyglot/rust-error-handling", "--json", check=True).stdout)
    assert shown["prompt"] == "Function uses unwrap on user input; replace with proper Result propagation"
    rust = json.loads(cab("tasks", "list", "polyglot/rust-*", "--json", check=True).stdout)
    assert rust and all(t["language"] == "rust" for t in rust)
    proc = cab("tasks", "show", "polyglot/nope")
    assert proc.returncode == 2 and proc.stderr.startswith("Error: unknown task 'polyglot/nope' (available: ")


def test_duplicate_task_ids_are_an_error(tmp_path, cab):
    write_task(tmp_path / "a", "demo/add")
    write_task(tmp_path / "b", "demo/add")
    proc = cab("tasks", "list", "--tasks-dir", tmp_path / "a", "--tasks-dir", tmp_path / "b")
    assert proc.returncode == 2 and "defined twice" in proc.stderr


@pytest.mark.slow
def test_validate_builtin_suite(cab):
    proc = cab("tasks", "validate", "--jobs", "2", timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "FAIL" not in proc.stdout


@pytest.mark.slow
def test_validate_names_a_broken_task(tmp_path, cab):
    from cab_tasks import SUITE

    shutil.copytree(SUITE / "polyglot" / "python-slugify", tmp_path / "t" / "polyglot" / "python-slugify")
    copy = tmp_path / "t" / "polyglot" / "python-slugify"
    manifest = copy / "task.toml"
    manifest.write_text(manifest.read_text().replace('id = "polyglot/python-slugify"', 'id = "broken/python-slugify"'))
    # break the fixture: the tests now demand something no solution does
    test_file = next((copy / "workspace" / "tests").glob("test_*.py"))
    test_file.write_text(test_file.read_text() + "\n\ndef test_impossible():\n    assert 1 == 2\n")
    proc = cab("tasks", "validate", "--tasks-dir", tmp_path / "t", "broken/*")
    assert proc.returncode == 1
    assert "FAIL  broken/python-slugify: reference solution fails the tests" in proc.stdout
    ok = cab("tasks", "validate", "--tasks-dir", tmp_path / "t", "polyglot/python-slugify")
    assert ok.returncode == 0, ok.stdout


def test_a_byte_compiled_task_is_the_same_task(tmp_path):
    # A non-editable install (or compileall) leaves __pycache__ in a task's folders: the
    # interpreter's cache, not the task's files.  Its files, its hidden tests and its verdict are
    # those of the folder before.
    import compileall

    from cab_core.tasks import list_files

    folder = write_task(tmp_path / "tasks", "demo/add")
    hidden = folder / "hidden_tests" / "tests"
    hidden.mkdir(parents=True)
    (hidden / "test_more.py").write_text("from calc import add\n\n\ndef test_more_sums():\n    assert add(1, 1) == 2\n")
    subs = ("workspace", "solution", "hidden_tests")
    before = {sub: list_files(folder / sub) for sub in subs}
    assert compileall.compile_dir(folder, quiet=1) and list(folder.rglob("__pycache__/*.pyc"))
    assert {sub: list_files(folder / sub) for sub in subs} == before
    proc = run_cab("tasks", "validate", "--tasks-dir", tmp_path / "tasks", "demo/add")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    expected = json.loads(run_cab("tasks", "show", "demo/add", "--tasks-dir", tmp_path / "tasks", "--json").stdout)
    assert expected["hidden_tests"] is True
