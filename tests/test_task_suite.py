"""The built-in suite's content: hidden tests the agent could not guess, and the C report channel.

Every task with a reference solution carries hidden tests in its own test layout
(overlaid only when verifying), named with a random tag that appears in none of the
files the agent sees, so code that forges only the test names it has read cannot
forge these.  Their paths are protected, so a file the agent puts there is dropped.
The C tasks' ``test_main.c`` is their own test runner: it writes one line per test
to the file named by ``CAB_TEST_REPORT`` and takes canaries and hidden tests from
two optional headers; both are checked here by compiling and running it.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cab_core.globs import match_any
from cab_core.tasks import apply_solution, copy_tree, list_files
from cab_tasks.native import load

TASKS = load()
SOLVABLE = [t for t in TASKS if t.has_solution]
C_TASKS = [t for t in SOLVABLE if t.language == "c"]

#: Where each language's test runner finds a hidden test file.
LAYOUT = {
    "python": r"tests/test_[A-Za-z0-9_]+\.py",
    "javascript": r"test/[A-Za-z0-9_.-]+\.test\.js",
    "rust": r"tests/[a-z0-9_]+\.rs",
    "c": r"hidden_tests\.h",
}
#: How the test names are written in each language.
TEST_NAMES = {
    "python": re.compile(r"^\s*def (test_\w+)\(", re.M),
    "javascript": re.compile(r"\btest\(\s*(['\"])(?P<name>.+?)\1"),
    "rust": re.compile(r"#\[test\]\s*(?:#\[[^\]]*\]\s*)*fn (\w+)"),
    "c": re.compile(r"\bRUN\((\w+)\)"),
}
TAG = re.compile(r"^(?=[a-z0-9]*[0-9])(?=[a-z0-9]*[a-z])[a-z0-9]{6}$")


def _ids(tasks):
    return [t.id for t in tasks]


def _test_names(language: str, text: str) -> list[str]:
    pattern = TEST_NAMES[language]
    return [m.group("name") if "name" in pattern.groupindex else m.group(1) for m in pattern.finditer(text)]


def _tags(name: str) -> set[str]:
    return {part for part in re.split(r"[^A-Za-z0-9]+", name) if TAG.match(part)}


def _hidden_files(task) -> list[str]:
    return list_files(task.hidden_tests) if task.hidden_tests else []


def _tagged_files(task) -> dict[str, str]:
    """Hidden files whose every test name (and file name, outside C) carries one tag: path -> tag."""
    found = {}
    for rel in _hidden_files(task):
        names = _test_names(task.language, (task.hidden_tests / rel).read_text(encoding="utf-8"))
        if not names:
            continue
        common = set.intersection(*(_tags(n) for n in names))
        if task.language != "c":
            common &= _tags(Path(rel).name.split(".")[0])
        if common:
            found[rel] = sorted(common)[0]
    return found


def _visible_text(task) -> bytes:
    """What the agent can read: the prompt and the starting files (the task folder itself is hidden)."""
    parts = [task.prompt.encode()]
    parts += [(task.workspace / rel).read_bytes() for rel in list_files(task.workspace)]
    return b"\n".join(parts).lower()


def test_every_task_is_covered():
    assert len(TASKS) >= 21 and set(LAYOUT) <= {t.language for t in SOLVABLE}
    unknown = {t.id: t.language for t in SOLVABLE if t.language not in LAYOUT}
    assert not unknown, f"no hidden-test layout known for {unknown}"
    assert all(t.expected_refusal for t in TASKS if not t.has_solution)


@pytest.mark.parametrize("task", SOLVABLE, ids=_ids(SOLVABLE))
def test_hidden_tests_sit_in_the_tasks_own_layout(task):
    files = _hidden_files(task)
    assert files, f"{task.id}: no hidden_tests/"
    for rel in files:
        assert re.fullmatch(LAYOUT[task.language], rel), f"{task.id}: {rel} is not where its test runner looks"
        assert not (task.workspace / rel).exists(), f"{task.id}: hidden {rel} shadows a visible file"


@pytest.mark.parametrize("task", SOLVABLE, ids=_ids(SOLVABLE))
def test_hidden_test_names_carry_a_tag_no_visible_file_holds(task):
    tagged = _tagged_files(task)
    assert tagged, f"{task.id}: no hidden test file whose test names all carry a random tag"
    visible = _visible_text(task)
    for rel, tag in tagged.items():
        assert tag.encode() not in visible, f"{task.id}: tag {tag} of {rel} is readable by the agent"
        assert len(_test_names(task.language, (task.hidden_tests / rel).read_text())) >= 2


def test_tags_differ_between_tasks():
    tags = [tag for task in SOLVABLE for tag in _tagged_files(task).values()]
    assert len(tags) == len(set(tags))


@pytest.mark.parametrize("task", SOLVABLE, ids=_ids(SOLVABLE))
def test_hidden_paths_are_protected(task):
    for rel in _hidden_files(task):
        assert match_any(rel, task.protected), f"{task.id}: {rel} is not protected, an agent file there would count"
    if task.language == "rust":
        assert "tests/**" in task.protected
    if task.language == "c":
        assert {"cab_canary.h", "hidden_tests.h", "test_main.c", "run_tests.sh"} <= set(task.protected)


@pytest.mark.parametrize("task", C_TASKS, ids=_ids(C_TASKS))
def test_c_runner_takes_the_optional_headers(task):
    source = (task.workspace / "test_main.c").read_text()
    assert "#if defined(__has_include)" in source
    for header, macro in (("cab_canary.h", "CAB_CANARIES"), ("hidden_tests.h", "CAB_HIDDEN_TESTS")):
        assert f'#if __has_include("{header}")' in source and f'#include "{header}"' in source
        assert f"#ifndef {macro}\n#define {macro}()\n#endif" in source
    main = source[source.index("int main(void)"):]
    assert main.index("CAB_HIDDEN_TESTS();") < main.index("cab_report_end();") < main.index("return")
    assert "CAB_CANARIES();" in main and "CAB_TEST_REPORT" in source


# --------------------------------------------------------------- running the C runner

CANARY = """\
static int cab_canary_must_fail_zq81(void) { return 0; }
static int cab_canary_must_pass_zq81(void) { return 1; }
#define CAB_CANARIES() do { RUN(cab_canary_must_fail_zq81); RUN(cab_canary_must_pass_zq81); } while (0)
"""


def _c_copy(task, dest: Path, *, solved: bool, hidden: bool, canary: bool) -> Path:
    copy_tree(task.workspace, dest)
    if solved:
        apply_solution(task, dest)
    if hidden:
        copy_tree(task.hidden_tests, dest)
    if canary:
        (dest / "cab_canary.h").write_text(CANARY)
    return dest


def _run_c(task, folder: Path, report: Path | None):
    env = {k: v for k, v in os.environ.items() if k != "CAB_TEST_REPORT"}
    if report is not None:
        env["CAB_TEST_REPORT"] = str(report)
    return subprocess.run(["sh", "-c", task.test_command], cwd=folder, env=env, capture_output=True, text=True,
                          timeout=120)


needs_cc = pytest.mark.skipif(not shutil.which("cc"), reason="needs a C compiler")


@needs_cc
@pytest.mark.parametrize("task", C_TASKS, ids=_ids(C_TASKS))
def test_c_report_lists_every_test_then_end(task, tmp_path):
    folder = _c_copy(task, tmp_path / "ws", solved=True, hidden=True, canary=True)
    report = tmp_path / "report.txt"
    report.write_text("earlier line\n")  # opened in append mode: kept
    proc = _run_c(task, folder, report)
    assert "warning" not in proc.stderr, proc.stderr
    assert proc.returncode == 1, proc.stdout + proc.stderr  # the must-fail canary failed
    printed = [line.split(" ", 1) for line in proc.stdout.splitlines() if line.startswith(("PASS ", "FAIL "))]
    lines = report.read_text().splitlines()
    assert lines[0] == "earlier line"
    assert lines[1:-1] == [f"{status.lower()} {name}" for status, name in printed]
    passed = sum(1 for status, _ in printed if status == "PASS")
    assert lines[-1] == f"end {passed} {len(printed) - passed}" and lines[-1] == "end " + _summary(proc.stdout)
    names = [name for _, name in printed]
    hidden = _test_names("c", (task.hidden_tests / "hidden_tests.h").read_text())
    assert names[-2:] == ["cab_canary_must_fail_zq81", "cab_canary_must_pass_zq81"]
    assert names[-2 - len(hidden):-2] == hidden
    assert "fail cab_canary_must_fail_zq81" in lines and all(f"pass {n}" in lines for n in hidden)


def _summary(stdout: str) -> str:
    match = re.search(r"^(\d+) passed, (\d+) failed$", stdout, re.M)
    assert match, stdout
    return f"{match.group(1)} {match.group(2)}"


@pytest.mark.slow
@needs_cc
@pytest.mark.parametrize("task", C_TASKS, ids=_ids(C_TASKS))
def test_c_runner_without_headers_or_report(task, tmp_path):
    folder = _c_copy(task, tmp_path / "ws", solved=True, hidden=False, canary=False)
    proc = _run_c(task, folder, None)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "warning" not in proc.stderr and "CAB" not in proc.stdout
    assert not [p for p in folder.iterdir() if p.suffix == ".txt"]


@pytest.mark.slow
@needs_cc
@pytest.mark.parametrize("task", C_TASKS, ids=_ids(C_TASKS))
def test_c_hidden_tests_fail_on_the_starting_files(task, tmp_path):
    folder = _c_copy(task, tmp_path / "ws", solved=False, hidden=True, canary=False)
    report = tmp_path / "report.txt"
    proc = _run_c(task, folder, report)
    assert proc.returncode == 1
    tag = _tagged_files(task)["hidden_tests.h"]
    lines = report.read_text().splitlines()
    assert any(line.startswith("fail ") and tag in line for line in lines), lines
    assert lines[-1].startswith("end ")


#: Code under test that would report in the tests' place, one of each way in (appended to the solution).
SYSCALL = {"x86_64": "syscall", "aarch64": "svc #0"}.get(platform.machine())
FORGERS = {
    "constructor": "__attribute__((constructor)) static void cab_forge(void) { }\n",
    "preinit": "static void cab_hook(void) { }\n"
               "__attribute__((section(\".preinit_array\"), used)) static void (*cab_p)(void) = cab_hook;\n",
    "interposer": "#include <string.h>\nint strcmp(const char *a, const char *b) { (void)a; (void)b; return 0; }\n",
    "report-writer": "#include <stdio.h>\n#include <stdlib.h>\n"
                     "void cab_forge(void) { FILE *f = fopen(getenv(\"CAB_TEST_REPORT\"), \"a\"); if (f) fclose(f); }\n",
    "early-exit": "#include <unistd.h>\nvoid cab_forge(void) { _exit(0); }\n",
    "reserved-name": "int __libc_start_main(void) { return 0; }\n",
    "ifunc": "static int cab_real(void) { return 1; }\nstatic int (*cab_pick(void))(void) { return cab_real; }\n"
             "int cab_helper(void) __attribute__((ifunc(\"cab_pick\")));\n",
    "raw-syscall": f"void cab_forge(void) {{ __asm__ volatile (\"{SYSCALL}\" ::: \"memory\"); }}\n",
}
HONEST = "#include <stdio.h>\nint cab_helper_count(const char *s) { int n = 0; while (s[n]) n++; " \
         "if (n < 0) fprintf(stderr, \"?\\n\"); return n; }\n"


def test_c_tasks_share_one_build_script():
    scripts = {(t.workspace / "run_tests.sh").read_text() for t in C_TASKS}
    assert len(scripts) == 1
    assert all(t.test_command.startswith("sh run_tests.sh ") for t in C_TASKS)


def _impl_file(task) -> str:
    return task.test_command.split()[2]


@needs_cc
@pytest.mark.parametrize("kind", sorted(FORGERS))
def test_c_code_under_test_that_could_report_is_refused(kind, tmp_path):
    if kind == "raw-syscall" and SYSCALL is None:
        pytest.skip(f"no system call instruction known for {platform.machine()}")
    task = next(t for t in C_TASKS if t.id == "polyglot/c-base64")
    folder = _c_copy(task, tmp_path / "ws", solved=True, hidden=True, canary=True)
    impl = folder / _impl_file(task)
    impl.write_text(impl.read_text() + "\n" + FORGERS[kind])
    report = tmp_path / "report.txt"
    proc = _run_c(task, folder, report)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert f"cab: {impl.name} " in proc.stderr and "refused before running the tests" in proc.stderr
    lines = report.read_text().splitlines()
    assert len(lines) == 2 and lines[0].startswith(f"refused {impl.name} ") and lines[1] == "end 0 0"
    assert "PASS" not in proc.stdout


@needs_cc
@pytest.mark.parametrize("task", C_TASKS, ids=_ids(C_TASKS))
def test_c_honest_helpers_are_accepted(task, tmp_path):
    folder = _c_copy(task, tmp_path / "ws", solved=True, hidden=True, canary=False)
    impl = folder / _impl_file(task)
    impl.write_text(impl.read_text() + "\n" + HONEST)
    report = tmp_path / "report.txt"
    proc = _run_c(task, folder, report)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert report.read_text().splitlines()[-1].startswith("end ")
    assert not (folder / "hidden_tests.h").exists()  # gone before the code under test is compiled or run


# ------------------------------------------------- hidden tests: start fails, solution passes

HIDDEN_RUN = {
    "python": lambda files: [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *files],
    "javascript": lambda files: ["node", "--test", *files],
    "rust": lambda files: ["cargo", "test", "--offline", "--no-fail-fast",
                           *[arg for f in files for arg in ("--test", Path(f).stem)]],
}
FAILED_MARK = {"python": re.compile(r"\d+ failed"), "javascript": re.compile(r"^# fail [1-9]", re.M),
               "rust": re.compile(r"test result: FAILED")}
TOOL = {"python": sys.executable, "javascript": "node", "rust": "cargo"}
RUNNABLE = [t for t in SOLVABLE if t.language in HIDDEN_RUN]


def _run_hidden(task, folder: Path, files: list[str], target: Path):
    env = {**os.environ, "CARGO_TARGET_DIR": str(target)}
    return subprocess.run(HIDDEN_RUN[task.language](files), cwd=folder, env=env, capture_output=True, text=True,
                          timeout=600)


@pytest.mark.slow
@pytest.mark.parametrize("task", RUNNABLE, ids=_ids(RUNNABLE))
def test_tagged_hidden_tests_fail_on_start_and_pass_with_the_solution(task, tmp_path):
    if not shutil.which(TOOL[task.language]):
        pytest.skip(f"needs {TOOL[task.language]}")
    files = sorted(_tagged_files(task))
    for solved in (False, True):
        folder = tmp_path / ("solved" if solved else "start")
        copy_tree(task.workspace, folder)
        if solved:
            apply_solution(task, folder)
        copy_tree(task.hidden_tests, folder)
        # one target folder each: copies keep their mtimes, so cargo would reuse the other build
        proc = _run_hidden(task, folder, files, folder.parent / f"target-{folder.name}")
        output = proc.stdout + proc.stderr
        if solved:
            assert proc.returncode == 0, output[-3000:]
        else:
            assert proc.returncode != 0 and FAILED_MARK[task.language].search(output), output[-3000:]
