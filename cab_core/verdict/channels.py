"""Structured result channels: how each test runner tells the harness what happened.

Each channel arranges, for one test run, that the runner writes every test's outcome
into a folder the harness names (``report_dir``), never read back from stdout, and
places the run's canaries in the task's own test files.  Summary lines on stdout are
only a cross-check (:mod:`cab_core.verdict.summary`).

=========  ==========================================================================
channel    how
=========  ==========================================================================
pytest     a reporter plugin loaded with ``-p`` under a module name fresh per run; the
           report is signed with a nonce the plugin takes before any test imports
node       a ``--test-reporter`` module in node's parent process (test files run in
           children), signed the same way
cargo      every test binary run through a runner script with libtest's ``--logfile``
go         every package's test binary run through a runner script (``go test -exec``)
           that keeps its verbose output; a test's worst ``--- PASS/FAIL/SKIP`` line counts
lines      the test program appends ``pass NAME`` / ``fail NAME`` lines and a final
           ``end P F`` to ``$CAB_TEST_REPORT`` (the built-in C tasks' ``test_main.c``)
summary    none: the runner's summary lines and exit status (tasks in formats cab has
           no reporter for; the verdict says ``channel: summary``)
=========  ==========================================================================

The runner's own per-test lines on stdout (pytest's ``FAILED id``, libtest's ``test
path ... FAILED``, the C tests' ``FAIL name``) are read back too: output already written
cannot be taken back, so a test the output lists as failed while the report says it
passed is a report rewritten after the fact (:meth:`.channel.Channel.contradicted`), whatever
rewrote it.

A task may name its channel (``reporter`` in task.toml); otherwise it is chosen from
the test command.
"""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path
from typing import Optional

from .channel import HERE, Channel, _mentions, _numbers
from .compiled import CargoChannel, GoChannel, LinesChannel, host_triple
from .report import read_signed_lines


class PytestChannel(Channel):
    name = "pytest"
    structured = True
    signed = True

    def prepare(self, command, report_dir, nonce_file, run_id):
        module = f"cab_verdict_{run_id}"
        shutil.copyfile(HERE / "_pytest_plugin.py", report_dir / f"{module}.py")
        # -rfE: pytest lists every failed and erroring test by id at the end (the cross-check).
        env = {"PYTHONPATH": str(report_dir), "PYTEST_ADDOPTS": f"-p {module} -rfE",
               "CAB_VERDICT_REPORT": str(report_dir / "pytest.jsonl"), "CAB_VERDICT_NONCE": str(nonce_file)}
        return command, env

    def test_files(self, root, candidates):
        return [rel for rel in candidates if re.fullmatch(r"(?:.*/)?(?:test_[^/]*|[^/]*_test)\.py", rel)]

    def canary_source(self, rel, text, pass_name, fail_name):
        # The must-fail canary fails only when every check it makes fails as it should: a test
        # framework patched to let one kind of check through makes it pass, and that is seen.
        a, b = _numbers(pass_name)
        return (text.rstrip("\n") + "\n\n\n"
                f"def {pass_name}():\n    assert {a} + {b} == {a + b}\n\n\n"
                f"def {fail_name}():\n"
                f"    import pytest\n"
                f"    caught = 0\n"
                f"    try:\n        with pytest.raises(ValueError):\n            pass\n"
                f"    except BaseException:\n        caught += 1\n"
                f"    try:\n        assert {a} == pytest.approx({a + 1})\n"
                f"    except AssertionError:\n        caught += 1\n"
                f"    try:\n        assert {a} * {b} == {a * b + 1}\n"
                f"    except AssertionError:\n        caught += 1\n"
                f"    assert caught != 3\n")

    def test_names(self, text):
        return re.findall(r"^[ \t]*(?:async[ \t]+)?def (test_\w+)\(", text, re.M)

    def read(self, report_dir, key):
        return read_signed_lines(report_dir / "pytest.jsonl", key, self.name)

    failed_line = re.compile(r"^(?:FAILED|ERROR) (\S.*?)\s*$")

    def listed_failed(self, lines):
        # "FAILED tests/t.py::test_x - AssertionError: ..." (the id itself may hold " - ").
        out = []
        for rest in super().listed_failed(lines):
            parts = rest.split(" - ")
            out += [" - ".join(parts[:n]) for n in range(1, len(parts) + 1)]
        return out


class NodeChannel(Channel):
    name = "node"
    structured = True
    signed = True

    def prepare(self, command, report_dir, nonce_file, run_id):
        reporter = report_dir / f"cab-reporter-{run_id}.mjs"
        shutil.copyfile(HERE / "_node_reporter.mjs", reporter)
        options = (f"--test-reporter=spec --test-reporter-destination=stdout "
                   f"--test-reporter={reporter} --test-reporter-destination={report_dir / 'node.jsonl'}")
        return command, {"NODE_OPTIONS": options, "CAB_VERDICT_NONCE": str(nonce_file)}

    def test_files(self, root, candidates):
        return [rel for rel in candidates
                if re.fullmatch(r"(?:.*/)?[^/]*[._-]test\.[cm]?js|(?:.*/)?test/[^/]*\.[cm]?js", rel)]

    def canary_source(self, rel, text, pass_name, fail_name):
        # As for pytest: the must-fail canary passes when any assertion it tries has been neutered.
        a, b = _numbers(pass_name)
        esm = rel.endswith(".mjs") or re.search(r"^\s*import\s", text, re.M) is not None
        ident = "_" + re.sub(r"\W", "_", pass_name)
        t, A = f"{ident}_t", f"{ident}_A"
        head = (f"import {{ test as {t} }} from 'node:test';\nimport {A} from 'node:assert';\n" if esm
                else f"const {{ test: {t} }} = require('node:test');\nconst {A} = require('node:assert');\n")
        tries = ", ".join(f"() => {expr}" for expr in (
            f"{A}.deepEqual({{ k: 1 }}, {{ k: 2 }})", f"{A}.deepStrictEqual({{ k: 1 }}, {{ k: 2 }})",
            f"{A}.equal(1, 2)", f"{A}.strictEqual(1, 2)", f"{A}.notEqual(1, 1)", f"{A}.notStrictEqual(1, 1)",
            f"{A}.notDeepEqual({{ k: 1 }}, {{ k: 1 }})", f"{A}.ok(false)", f"{A}(false)", f"{A}.throws(() => {{}})",
            f"{A}.match('a', /b/)", f"{A}.fail('x')", f"{A}.strict.deepEqual({{ k: 1 }}, {{ k: 2 }})",
            f"{A}.strict.equal(1, 2)", f"{A}.strict.ok(false)", f"{A}.strict.throws(() => {{}})",
            f"{A}.strict({a} * {b} === {a * b + 1})"))
        return (text.rstrip("\n") + "\n\n" + head +
                f"{t}('{pass_name}', () => {{ if ({a} + {b} !== {a + b}) throw new Error('canary'); }});\n"
                f"{t}('{fail_name}', () => {{\n  const tries = [{tries}];\n  let caught = 0;\n"
                f"  for (const f of tries) {{ try {{ f(); }} catch (e) {{ caught += 1; }} }}\n"
                f"  if (caught === tries.length) throw new Error('canary');\n}});\n")

    def test_names(self, text):
        return re.findall(r"""^\s*(?:test|it)(?:\.\w+)?\(\s*['"`]([a-z][a-z0-9 ]{2,60})['"`]""", text, re.M)

    def read(self, report_dir, key):
        return read_signed_lines(report_dir / "node.jsonl", key, self.name)


CHANNELS = {c.name: c for c in (PytestChannel(), NodeChannel(), CargoChannel(), GoChannel(), LinesChannel(), Channel())}


def channel_for(task, root: Optional[Path] = None) -> Channel:
    """The task's declared reporter, else the one its test command implies."""
    declared = getattr(task, "reporter", None)
    if declared:
        if declared not in CHANNELS:
            raise ValueError(f"task {task.id}: unknown reporter {declared!r} (known: {', '.join(CHANNELS)})")
        return CHANNELS[declared]
    words = shlex.split(task.test_command, posix=True) if _splittable(task.test_command) else task.test_command.split()
    text = " ".join(words)
    if "pytest" in words or re.search(r"-m\s+pytest\b", text):
        return CHANNELS["pytest"]
    if re.search(r"\bnode\s+(?:\S+\s+)*--test\b", text):
        return CHANNELS["node"]
    if re.search(r"\bcargo\s+test\b", text):
        return CHANNELS["cargo"]
    if re.search(r"\bgo\s+test\b", text):
        return CHANNELS["go"]
    if root is not None and any(_mentions(p, b"CAB_TEST_REPORT") for p in _top_sources(root)):
        return CHANNELS["lines"]
    return CHANNELS["summary"]


def _splittable(text: str) -> bool:
    try:
        shlex.split(text)
        return True
    except ValueError:
        return False


def _top_sources(root: Path) -> list[Path]:
    try:
        return [p for p in root.iterdir() if p.suffix in (".c", ".h", ".cc", ".cpp") and p.is_file() and not p.is_symlink()]
    except OSError:
        return []


__all__ = ["CHANNELS", "CargoChannel", "Channel", "GoChannel", "LinesChannel", "NodeChannel", "PytestChannel",
           "channel_for", "host_triple"]
