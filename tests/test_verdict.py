"""The one judge and the structured channels, without a sandbox: every rule has a case."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys

import pytest

from cab_core.models import Task
from cab_core.verdict import Canaries, TestReport, judge
from cab_core.verdict.channels import CHANNELS, channel_for
from cab_core.verdict.expected import fingerprint, load_expected, record_expected
from cab_core.verdict.report import read_signed_lines
from cab_core.verdict.run import place_canaries
from cab_core.verdict.runtime import missing_tools, preflight

EXPECTED = ("t.py::test_a", "t.py::test_b")
CANARIES = Canaries(pass_names=["test_c1_a"], fail_names=["test_c1_b"], files=["t.py"])


def report(outcomes, complete=True, problem=None, runner_exit=None):
    return TestReport(channel="pytest", outcomes=outcomes, complete=complete, problem=problem, runner_exit=runner_exit)


def clean(**extra):
    return {"t.py::test_a": "passed", "t.py::test_b": "passed", "t.py::test_c1_a": "passed", "t.py::test_c1_b": "failed", **extra}


def j(outcomes, exit_code=1, canaries=CANARIES, expected=EXPECTED, **kw):
    return judge(exit_code=exit_code, timed_out=False, output="", report=report(outcomes, **kw), expected=expected,
                 canaries=canaries, channel="pytest")


def test_a_clean_run_passes_with_every_expected_test_by_name():
    v = j(clean())
    assert v.passed and v.forged is None and v.partial == 1.0
    assert v.passed_tests == EXPECTED and v.canary["outcome"] == "ok"


def test_exit_zero_although_the_must_fail_canary_failed_is_forged():
    v = j(clean(), exit_code=0)
    assert not v.passed and "exit status forced" in v.forged


@pytest.mark.parametrize("outcomes, why", [
    ({"t.py::test_a": "passed", "t.py::test_b": "passed", "t.py::test_c1_a": "passed"}, "missing"),
    (clean(**{"t.py::test_c1_b": "passed"}), "must-fail canary"),
])
def test_canaries_catch_forgery(outcomes, why):
    v = j(outcomes)
    assert not v.passed and why in v.forged


def test_a_skipped_expected_test_is_forged_not_passed():
    v = j(clean(**{"t.py::test_b": "skipped"}))
    assert not v.passed and "skipped" in v.forged and v.skipped_tests == ("t.py::test_b",)


def test_missing_expected_tests_while_nothing_failed_is_forged():
    outcomes = clean()
    del outcomes["t.py::test_b"]
    v = j(outcomes)
    assert not v.passed and "did not run" in v.forged and v.missing_tests == ("t.py::test_b",)


def test_an_honest_failure_is_a_fail_with_partial_score():
    v = j(clean(**{"t.py::test_b": "failed"}))
    assert not v.passed and v.forged is None and v.partial == 0.5


def test_a_collection_error_with_missing_tests_is_an_honest_fail():
    v = j({"t.py": "error"})
    assert not v.passed and v.forged is None or "canary" in (v.forged or "")


def test_an_incomplete_report_is_forged_only_when_the_run_claims_success():
    assert j(clean(), complete=False, exit_code=0).forged
    v = j(clean(), complete=False, exit_code=1)
    assert not v.passed and v.forged is None and "did not complete" in v.reason


def test_an_altered_report_is_forged():
    assert "altered" in j(clean(), problem="the report was altered (lines after its end)").forged


def test_a_must_pass_canary_failing_is_a_broken_run_not_a_forgery():
    v = j(clean(**{"t.py::test_c1_a": "failed"}))
    assert not v.passed and v.forged is None and "broken" in v.reason


def test_without_canaries_exit_status_and_report_must_agree():
    none = Canaries(why_not="x")
    outcomes = {"t.py::test_a": "passed", "t.py::test_b": "passed"}
    assert j(outcomes, exit_code=0, canaries=none).passed
    assert not j(outcomes, exit_code=3, canaries=none).passed


def test_without_a_structured_channel_summary_lines_and_exit_status_decide():
    ok = judge(exit_code=0, timed_out=False, output="3 passed in 0.1s\n", report=None, expected=None)
    assert ok.passed and ok.channel == "summary"
    assert not judge(exit_code=0, timed_out=False, output="hello\n", report=None, expected=None).passed


def test_a_signed_report_verifies_and_a_tampered_one_does_not(tmp_path):
    key = b"k" * 32
    body = json.dumps({"id": "a", "outcome": "passed"}).encode() + b"\n"
    mac = hmac.new(key, body, hashlib.sha256).hexdigest()
    path = tmp_path / "r.jsonl"
    path.write_bytes(body + json.dumps({"end": True, "mac": mac}).encode() + b"\n")
    good = read_signed_lines(path, key, "pytest")
    assert good.complete and good.problem is None and good.outcomes == {"a": "passed"}
    path.write_bytes(body + b'{"id": "b", "outcome": "passed"}\n' + json.dumps({"end": True, "mac": mac}).encode() + b"\n")
    assert "altered" in read_signed_lines(path, key, "pytest").problem
    os.unlink(path)
    os.mkfifo(path)  # a FIFO where the report should be never blocks the harness
    assert read_signed_lines(path, key, "pytest").problem == "no report was written"


def make(tmp_path, **kw):
    ws = tmp_path / "ws"
    ws.mkdir(exist_ok=True)
    fields = dict(id="x/y", prompt="p", language="python", test_command="python -m pytest -q", workspace=ws)
    fields.update(kw)
    return Task(**fields)


@pytest.mark.parametrize("command, channel", [
    ("python -m pytest -q -p no:cacheprovider", "pytest"), ("pytest", "pytest"), ("node --test", "node"),
    ("cargo test --offline", "cargo"), ("go test ./...", "go"), ("ctest --output-on-failure", "summary"),
])
def test_the_channel_follows_the_test_command(tmp_path, command, channel):
    assert channel_for(make(tmp_path, test_command=command)).name == channel


def test_a_declared_reporter_wins_and_an_unknown_one_is_named(tmp_path):
    assert channel_for(make(tmp_path, reporter="lines")).name == "lines"
    with pytest.raises(ValueError, match="unknown reporter 'junit'"):
        channel_for(make(tmp_path, reporter="junit"))


def test_canaries_go_into_the_tasks_own_test_files_under_fresh_names(tmp_path):
    task = make(tmp_path, protected=("tests/**",))
    tests = task.workspace / "tests"
    tests.mkdir()
    (tests / "test_x.py").write_text("def test_real():\n    assert True\n")
    first = place_canaries(CHANNELS["pytest"], task, task.workspace)
    assert first.files == ("tests/test_x.py",)
    text = (tests / "test_x.py").read_text()
    assert first.pass_names[0] in text and first.fail_names[0] in text and "def test_real" in text
    (tests / "test_x.py").write_text("def test_real():\n    assert True\n")
    assert place_canaries(CHANNELS["pytest"], task, task.workspace).pass_names != first.pass_names


@pytest.mark.slow
def test_the_python_canaries_pass_and_fail_as_designed(tmp_path):
    pytest_bin = subprocess.run([sys.executable, "-c", "import pytest"], capture_output=True)
    if pytest_bin.returncode:
        pytest.skip("pytest is not importable here")
    task = make(tmp_path, protected=("test_x.py",))
    (task.workspace / "test_x.py").write_text("def test_real():\n    assert True\n")
    placed = place_canaries(CHANNELS["pytest"], task, task.workspace)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA"], cwd=task.workspace,
                          capture_output=True, text=True)
    assert f"PASSED test_x.py::{placed.pass_names[0]}" in proc.stdout
    assert f"FAILED test_x.py::{placed.fail_names[0]}" in proc.stdout


def test_expected_identities_are_kept_per_task_content(tmp_path, monkeypatch):
    monkeypatch.setenv("CAB_CACHE_DIR", str(tmp_path / "cache"))
    task = make(tmp_path)
    (task.workspace / "a.py").write_text("x = 1\n")
    assert load_expected(task) is None
    record_expected(task, ["t::a", "t::b"], "pytest")
    assert load_expected(task) == ("t::a", "t::b")
    before = fingerprint(task)
    (task.workspace / "a.py").write_text("x = 2\n")  # an edited task is validated again
    assert fingerprint(task) != before and load_expected(task) is None


def test_a_missing_toolchain_is_an_environment_error_naming_it(tmp_path):
    from cab_core.errors import InfraError

    task = make(tmp_path, language="rust", test_command="cargo test", toolchain=("cargo", "no-such-tool-xyz"))
    assert missing_tools(task, os.environ["PATH"]) == ["no-such-tool-xyz"] or "cargo" in missing_tools(task, "/nonexistent")
    with pytest.raises(InfraError, match=r"^environment: task x/y needs .*no-such-tool-xyz"):
        preflight(task, os.environ["PATH"])


def test_a_skipped_canary_is_forged():
    v = j(clean(**{"t.py::test_c1_a": "skipped", "t.py::test_c1_b": "skipped"}))
    assert not v.passed and "skipped" in v.forged


def test_task_toml_names_its_reporter_and_test_requirements(tmp_path):
    from cab_core.errors import TaskError
    from cab_core.testing import write_task
    from cab_tasks.native import load_task

    folder = write_task(tmp_path, "demo/add", extra='reporter = "pytest"\ntest_requires = ["pytest", "hypothesis"]\n')
    task = load_task(folder)
    assert task.reporter == "pytest" and task.test_requires == ("pytest", "hypothesis")
    bad = write_task(tmp_path, "demo/bad", extra='reporter = "junit"\n')
    with pytest.raises(TaskError, match="field reporter: 'junit' is not one of pytest"):
        load_task(bad)


@pytest.mark.slow
def test_the_pytest_reporter_signs_with_the_real_standard_library(tmp_path):
    """A ``hmac.py`` beside the tests (first on sys.path) cannot stand in for the reporter's signing."""
    from cab_core.verdict.channels import PytestChannel

    work = tmp_path / "work"
    work.mkdir()
    (work / "test_x.py").write_text("def test_ok():\n    assert True\n")
    (work / "hmac.py").write_text("raise ImportError('shadowed')\n")
    report_dir = tmp_path / "report"
    report_dir.mkdir()
    key = "k" * 64
    (report_dir / "nonce").write_text(key)
    command, env = PytestChannel().prepare("python -m pytest -q -p no:cacheprovider", report_dir, report_dir / "nonce", "t1")
    env = {**os.environ, **env, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=work, env=env, capture_output=True)
    report = PytestChannel().read(report_dir, key.encode())
    assert report.complete and report.problem is None
    assert report.outcomes == {"test_x.py::test_ok": "passed"}
    assert not (report_dir / "nonce").exists()  # taken before any test module was imported
