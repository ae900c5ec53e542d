"""SWE-bench-style instances, checked out from a local clone.

A ``.json`` (a list, or ``{"instances": [...]}``) or ``.jsonl`` file of instances, or a
folder holding ``instances.jsonl``/``instances.json``.  Each instance has SWE-bench's
fields::

    instance_id, repo, base_commit, problem_statement, patch (the gold fix),
    test_patch, FAIL_TO_PASS, PASS_TO_PASS   (lists of pytest node ids, or JSON text of one)

plus, optionally, ``repo_path``: the local clone (relative to the instances file).
Without it the clone is looked for at ``repos/<owner>__<name>`` and then
``repos/<name>`` next to the instances file.

How it maps onto a cab task (id ``swebench/<instance_id>``):

* **prompt** — the problem statement.
* **workspace** — ``git archive`` of ``base_commit`` from the clone, materialised once
  in the cache (nothing is fetched; the clone is only read).  It carries no future:
  the agent gets those files in a fresh repository with one commit, and the clone
  and the cached build are the task's ``private_paths``, hidden from the sandbox like
  the solution (the local sandbox shows neither anyway: its root is an allow-list).
* **hidden tests** — the files the test patch touches, as they are after applying it
  (so the tests the agent sees are the base commit's); those files are protected.
* **oracle** — the gold ``patch`` as ``solution.patch``.
* **test command** — ``.cab-verify/run.py`` runs pytest with ``-rA`` on the files of the
  FAIL_TO_PASS and PASS_TO_PASS ids, prints pytest's output behind ``| ``, then each id
  that did not pass and ``N passed, M failed`` over those ids; it exits 0 — resolved —
  only when every FAIL_TO_PASS id passes and every PASS_TO_PASS id still passes
  (``PASSED`` or ``XFAIL``; an id pytest never reports counts as failed).  Tests run
  with the ``python`` first on the sandbox's PATH, so the repository's own
  dependencies must be importable there.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Optional

from cab_core import Task, TaskSource, hookimpl
from cab_core.errors import TaskError

from . import _convert

FORMAT = "swebench"
VERIFY_DIR = ".cab-verify"
INSTANCE_FILES = ("instances.jsonl", "instances.json")
TEST_COMMAND = f"python {VERIFY_DIR}/run.py"
DEFAULT_TIMEOUT = 900.0
_DIFF_HEADER = re.compile(r"^diff --git a/(\S+) b/(\S+)$", re.M)


# --------------------------------------------------------------------------- finding instances


def _instance_files(path: Path) -> list[Path]:
    path = Path(path)
    if path.is_file():
        return [path]
    return [path / name for name in INSTANCE_FILES if (path / name).is_file()]


def _first_instance(path: Path) -> Optional[dict]:
    try:
        if path.suffix == ".jsonl":
            with path.open(encoding="utf-8") as f:
                for line in f:
                    if line.strip():
                        return json.loads(line)
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if isinstance(data, dict) and isinstance(data.get("instances"), list):
        data = data["instances"]
    if isinstance(data, list):
        return data[0] if data else None
    return data


def detect(path: Path) -> bool:
    """A .json/.jsonl file of instances, or a folder holding instances.jsonl / instances.json."""
    path = Path(path)
    if path.is_dir():
        return any((path / name).is_file() for name in INSTANCE_FILES)
    if path.suffix not in (".json", ".jsonl"):
        return False
    first = _first_instance(path)
    return isinstance(first, dict) and "instance_id" in first and "base_commit" in first


def load(paths=()) -> list[Task]:
    """The instances in each of ``paths`` (no built-in suite)."""
    tasks = []
    for root in paths:
        files = _instance_files(Path(root))
        if not files:
            raise TaskError(f"{root}: no instances file (expected a .json/.jsonl file or {' or '.join(INSTANCE_FILES)})")
        for file in files:
            file = file.resolve()
            tasks += [load_instance(file, number, data) for number, data in _read(file)]
    return tasks


def _read(file: Path) -> list[tuple[int, object]]:
    """``(line or position, instance)`` for every instance in ``file``."""
    text = _convert.read_text(file, "instances file")
    if file.suffix == ".jsonl":
        out = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                out.append((number, json.loads(line)))
            except ValueError as exc:
                raise TaskError(f"{file}: line {number}: not valid JSON: {exc}") from None
        return out
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise TaskError(f"{file}: not valid JSON: {exc}") from None
    if isinstance(data, dict) and isinstance(data.get("instances"), list):
        data = data["instances"]
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise TaskError(f"{file}: expected a list of instances")
    return list(enumerate(data, start=1))


# --------------------------------------------------------------------------- one instance


def _ids(value, where: str) -> list[str]:
    if isinstance(value, str):  # the Hugging Face dataset stores these lists as JSON text
        try:
            value = json.loads(value)
        except ValueError:
            raise TaskError(f"{where}: expected a list of test ids or JSON text of one") from None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TaskError(f"{where}: expected a list of test ids")
    return value


def _patch_files(patch: str) -> list[str]:
    return sorted({b for _, b in _DIFF_HEADER.findall(patch)})


def _clone(file: Path, instance: dict, label: str) -> Path:
    repo = instance.get("repo")
    if instance.get("repo_path") is not None:
        if not isinstance(instance["repo_path"], str):
            raise TaskError(f"{file}: {label}: field repo_path: expected a string")
        candidates = [file.parent / Path(instance["repo_path"]).expanduser()]
    elif isinstance(repo, str) and repo:
        owner, _, name = repo.rpartition("/")
        candidates = [file.parent / "repos" / f"{owner}__{name}", file.parent / "repos" / name]
    else:
        raise TaskError(f"{file}: {label}: field repo_path: missing (and no repo to look for)")
    for candidate in candidates:
        if (candidate / ".git").exists() or (candidate / "HEAD").is_file():
            return candidate.resolve()
    looked = ", ".join(str(c) for c in candidates)
    raise TaskError(f"{file}: {label}: field repo_path: no local git clone (looked in {looked})")


def load_instance(file: Path, number: int, instance) -> Task:
    """One instance of ``file`` as a task (raises TaskError: one line naming file, instance and field)."""
    if not isinstance(instance, dict):
        raise TaskError(f"{file}: instance #{number}: expected a JSON object")
    iid = instance.get("instance_id")
    label = f"instance {iid!r}" if isinstance(iid, str) and iid else f"instance #{number}"

    def text(key: str, required: bool = True) -> Optional[str]:
        value = instance.get(key)
        if value is None and not required:
            return None
        if not isinstance(value, str) or (required and not value.strip()):
            raise TaskError(f"{file}: {label}: field {key}: {'missing' if value is None else 'expected a non-empty string'}")
        return value

    iid = text("instance_id")
    base_commit = text("base_commit")
    problem = text("problem_statement")
    test_patch = text("test_patch")
    gold = text("patch", required=False)
    fail_to_pass = _ids(instance.get("FAIL_TO_PASS"), f"{file}: {label}: field FAIL_TO_PASS")
    pass_to_pass = _ids(instance.get("PASS_TO_PASS", []), f"{file}: {label}: field PASS_TO_PASS")
    if not fail_to_pass:
        raise TaskError(f"{file}: {label}: field FAIL_TO_PASS: must name at least one test")
    timeout = _convert.field(instance, "test_timeout", (int, float), file, DEFAULT_TIMEOUT)
    clone = _clone(file, instance, label)
    test_files = _patch_files(test_patch)
    if not test_files:
        raise TaskError(f"{file}: {label}: field test_patch: not a git diff (no 'diff --git' header)")
    tests_spec = {"instance_id": iid, "FAIL_TO_PASS": fail_to_pass, "PASS_TO_PASS": pass_to_pass}

    def build(dest: Path) -> None:
        workspace = dest / "workspace"
        workspace.mkdir()
        _archive(clone, base_commit, workspace, f"{file}: {label}: field base_commit")
        stage = dest / "stage"
        for rel in test_files:
            if (workspace / rel).is_file():
                (stage / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(workspace / rel, stage / rel)
        stage.mkdir(exist_ok=True)
        (dest / "test.patch").write_text(test_patch, encoding="utf-8")
        env = {**os.environ, "GIT_CEILING_DIRECTORIES": str(dest)}  # apply as a plain patch, never in an enclosing repo
        proc = subprocess.run(["git", "apply", "--whitespace=nowarn", str(dest / "test.patch")], cwd=stage,
                              env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise TaskError(f"{file}: {label}: field test_patch: does not apply to {base_commit[:12]}: "
                            f"{_convert.first_line(proc.stderr) or 'git apply failed'}")
        hidden = dest / "hidden_tests"
        shutil.copytree(stage, hidden, symlinks=True)
        shutil.rmtree(stage)
        (dest / "test.patch").unlink()  # applied: the hidden tests hold it; no copy lies about
        (hidden / VERIFY_DIR).mkdir()
        (hidden / VERIFY_DIR / "run.py").write_text(RUNNER)
        (hidden / VERIFY_DIR / "tests.json").write_text(json.dumps(tests_spec, indent=2) + "\n")
        if gold:
            (dest / "solution.patch").write_text(gold, encoding="utf-8")

    key = _convert.fingerprint(FORMAT, str(clone), base_commit, test_patch, gold, tests_spec, RUNNER)
    built = _convert.materialise(FORMAT, key, build)
    expected = _patch_files(gold) if gold else ["**"]
    return Task(
        id=_convert.task_id(FORMAT, iid), prompt=problem, language="python", test_command=TEST_COMMAND,
        test_timeout=float(timeout), expected_changes=expected, protected=[*test_files, f"{VERIFY_DIR}/**"],
        toolchain=["python3", "git"], tags=["swebench"], workspace=built / "workspace",
        solution_patch=built / "solution.patch" if gold else None, hidden_tests=built / "hidden_tests",
        source_path=file, format=FORMAT, private_paths=[clone, built],
    )


def _archive(clone: Path, commit: str, dest: Path, where: str) -> None:
    """Extract ``commit`` of ``clone`` into ``dest`` (``git archive``, streamed)."""
    check = subprocess.run(["git", "-C", str(clone), "cat-file", "-e", f"{commit}^{{commit}}"], capture_output=True)
    if check.returncode != 0:
        raise TaskError(f"{where}: {commit} is not a commit of {clone}")
    import tarfile  # here, not at the top: every cab command loads the task plugin

    proc = subprocess.Popen(["git", "-C", str(clone), "archive", "--format=tar", commit],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        with tarfile.open(fileobj=proc.stdout, mode="r|") as archive:
            if hasattr(tarfile, "data_filter"):
                archive.extractall(dest, filter="data")
            else:  # pragma: no cover - Python before 3.11.4
                archive.extractall(dest)
    finally:
        proc.stdout.close()
        err = proc.stderr.read().decode(errors="replace")
        code = proc.wait()
    if code != 0:
        raise TaskError(f"{where}: git archive of {commit} failed: {_convert.first_line(err)}")


@hookimpl
def cab_task_sources():
    return [TaskSource(name=FORMAT, load=load, detect=detect,
                       description="SWE-bench-style instances (.json/.jsonl) checked out from a local clone")]


# --------------------------------------------------------------------------- the runner
# Written into each instance's hidden tests as .cab-verify/run.py (stdlib only).

RUNNER = r'''"""cab's test run for one SWE-bench instance (written by cab_tasks.swebench).

Runs pytest -rA on the files of the FAIL_TO_PASS and PASS_TO_PASS ids and prints
"N passed, M failed" over those ids; exit 0 (resolved) only when all of them pass.
"""
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PREFIX = "| "  # keeps pytest's own summary (over whole files) from being counted as cab's
STATUS = re.compile(r"^(PASSED|FAILED|ERROR|XFAIL|XPASS|SKIPPED)\s+(.+)$")
GOOD = ("PASSED", "XFAIL")


def main():
    with open(os.path.join(HERE, "tests.json"), encoding="utf-8") as f:
        spec = json.load(f)
    groups = (("FAIL_TO_PASS", spec["FAIL_TO_PASS"]), ("PASS_TO_PASS", spec["PASS_TO_PASS"]))
    files = []
    for _, ids in groups:
        for test_id in ids:
            name = test_id.split("::")[0]
            if name not in files:
                files.append(name)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-rA", "-p", "no:cacheprovider", *files],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    output = proc.stdout.decode("utf-8", "replace")
    status = {}
    for line in output.splitlines():
        print(PREFIX + line)
        match = STATUS.match(line)
        if match:
            status.setdefault(match.group(2).strip(), match.group(1))

    def result(test_id):
        if test_id in status:
            return status[test_id]
        for reported, word in status.items():
            if reported.startswith(test_id + " - "):
                return word
        return "NOT RUN"

    passed = failed = 0
    for kind, ids in groups:
        for test_id in ids:
            outcome = result(test_id)
            if outcome in GOOD:
                passed += 1
            else:
                failed += 1
                print("%s %s: %s" % (kind, outcome.lower(), test_id))
    print("%d passed, %d failed" % (passed, failed))
    print("resolved" if failed == 0 else "not resolved")
    return 0 if failed == 0 and passed else 1


if __name__ == "__main__":
    sys.exit(main())
'''
