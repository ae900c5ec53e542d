"""Bad input, fuzzed with Hypothesis: task manifests, sweep files, cassettes and CLI options.

Whatever the input, cab answers with exit code 2 and one ``Error: ...`` line (or
accepts it), never a traceback and never a hang.  The CLI runs in-process with
click's CliRunner; every invocation has a watchdog.  Examples are bounded
(``max_examples``, ``deadline``) so the suite stays fast.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import shutil
import tempfile
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cab_core.cassette import Cassette
from cab_core.cli import make_cli
from cab_core.errors import CabError
from cab_core.plugins import get_plugin_manager
from cab_core.registry import Registry
from cab_core.testing import write_task

FUZZ = settings(max_examples=40, deadline=dt.timedelta(seconds=10), derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
TASK = "demo/add"
_PM = get_plugin_manager()
CLI = make_cli(lambda: _PM)
KNOWN_ADAPTERS = set(Registry(_PM).adapters.names())


def invoke(args, timeout: float = 60.0):
    """Run the CLI in-process; fail if it raises (other than exiting) or does not finish in time."""
    box = {}

    def target():
        box["result"] = CliRunner().invoke(CLI, [str(a) for a in args])

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), f"cab {' '.join(map(str, args))[:200]} hung"
    result = box["result"]
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"cab {' '.join(map(str, args))[:200]} raised {result.exception!r}") from result.exception
    return result


def assert_user_error(result) -> None:
    """Exit 2 with one ``Error:`` line and no traceback."""
    assert result.exit_code == 2, (result.exit_code, result.output[-500:])
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    assert "Traceback" not in result.output


def assert_clean(result) -> None:
    """Either it worked (0) or it is a one-line user error (2)."""
    if result.exit_code != 0:
        assert_user_error(result)


@pytest.fixture(scope="module")
def scratch():
    folder = Path(tempfile.mkdtemp(prefix="cab-fuzz-"))
    write_task(folder / "tasks", TASK)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


# --------------------------------------------------------------------------- a tiny TOML writer for structured fuzzing

scalars = st.one_of(st.text(max_size=30), st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_infinity=True),
                    st.booleans())
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                        st.dictionaries(st.text(min_size=1, max_size=8), inner, max_size=3)),
                      max_leaves=8)


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


def toml_doc(fields: dict) -> str:
    return "".join(f"{json.dumps(k)} = {toml_value(v)}\n" for k, v in fields.items())


MANIFEST_KEYS = ["id", "prompt", "language", "test_command", "test_timeout", "expected_changes", "protected",
                 "expected_refusal", "refusal_keywords", "toolchain", "tags", "solution", "solution_command", "bogus"]
manifests = st.one_of(
    st.text(max_size=300),
    st.dictionaries(st.sampled_from(MANIFEST_KEYS), values, max_size=10).map(toml_doc),
    st.builds(lambda base, extra: base + toml_doc(extra),
              st.just('id = "fz/x"\nprompt = "p"\nlanguage = "python"\ntest_command = "true"\n'),
              st.dictionaries(st.sampled_from(MANIFEST_KEYS[4:]), values, max_size=4)),
)


@pytest.mark.slow
@FUZZ
@given(text=manifests, with_solution=st.booleans())
def test_fuzzed_task_manifests_are_one_line_errors(scratch, text, with_solution):
    root = Path(tempfile.mkdtemp(dir=scratch))
    task = root / "fz" / "x"
    (task / "workspace").mkdir(parents=True)
    if with_solution:
        (task / "solution").mkdir()
    (task / "task.toml").write_text(text, encoding="utf-8", errors="surrogatepass")
    for command in (["tasks", "list", "--tasks-dir", root], ["tasks", "show", "fz/x", "--tasks-dir", root]):
        assert_clean(invoke(command))


@pytest.mark.slow
@FUZZ
@given(data=st.binary(max_size=200))
def test_manifests_that_are_not_text_are_one_line_errors(scratch, data):
    root = Path(tempfile.mkdtemp(dir=scratch))
    (root / "fz" / "x" / "workspace").mkdir(parents=True)
    (root / "fz" / "x" / "task.toml").write_bytes(data)
    assert_clean(invoke(["tasks", "list", "--tasks-dir", root]))


# --------------------------------------------------------------------------- sweep files

SWEEP_KEYS = ["sweep_id", "adapters", "models", "tasks", "trials", "jobs", "sandbox", "timeout", "retries", "options",
              "plugins", "endpoint", "api_key_env", "executor", "scheduler", "worker_results", "results", "tasks_dirs",
              "task_format", "unknown_key"]
sweep_files = st.one_of(st.text(max_size=300), st.dictionaries(st.sampled_from(SWEEP_KEYS), values, max_size=8).map(toml_doc))


@pytest.mark.slow
@FUZZ
@given(text=sweep_files)
def test_fuzzed_sweep_files_are_one_line_errors(scratch, text):
    from cab_core.sweep import load_sweep_file

    path = Path(tempfile.mkdtemp(dir=scratch)) / "sweep.toml"
    path.write_text(text, encoding="utf-8")
    try:
        load_sweep_file(path)
    except CabError as exc:
        assert len(str(exc).splitlines()) == 1
    else:
        return  # a valid sweep file would run cells: the CLI is exercised with the invalid ones only
    assert_user_error(invoke(["sweep", path, "--results", scratch / "sweeps"]))


# --------------------------------------------------------------------------- cassettes

cassette_lines = st.one_of(
    st.text(max_size=120),
    st.dictionaries(st.sampled_from(["request_hash", "request", "status", "content_type", "response", "x"]), values,
                    max_size=6).map(json.dumps),
    st.builds(lambda h, s, r: json.dumps({"request_hash": h, "status": s, "response": r}),
              st.one_of(st.text(max_size=20), st.integers()), st.one_of(st.integers(), st.text(max_size=5), st.none()),
              st.one_of(st.text(max_size=20), st.none(), st.integers())),
)


@pytest.mark.slow
@FUZZ
@given(lines=st.lists(cassette_lines, min_size=1, max_size=5), raw=st.binary(max_size=50))
def test_fuzzed_cassettes_are_one_line_errors_before_any_cell(scratch, lines, raw):
    path = Path(tempfile.mkdtemp(dir=scratch)) / "c.jsonl"
    path.write_bytes("\n".join(lines).encode("utf-8", "surrogatepass") + b"\n" + raw)
    try:
        cassette = Cassette.load(path)
    except ValueError as exc:  # the documented failure (UnicodeDecodeError is one too)
        assert str(exc)
    else:
        for entry in cassette:
            cassette.lookup(entry.request_hash)
        return  # a loadable cassette would run a cell
    result = invoke(["run", "-a", "command", "-m", "noop", "-t", TASK, "--tasks-dir", scratch / "tasks",
                     "--replay-cassette", path, "--results", scratch / "results"])
    assert_user_error(result)
    assert result.stderr.startswith("Error: cannot replay")
    assert not (scratch / "results").exists()  # no cell was started


# --------------------------------------------------------------------------- CLI options

#: What a shell can pass: any text but NUL (argv entries are C strings) and lone surrogates.
names = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40)
RUN_OPTIONS = {
    "--endpoint": names, "--api-key-env": names, "--sandbox": names, "--plugin": names, "-o": names,
    "--timeout": st.one_of(names, st.floats(allow_nan=True).map(repr)), "--sweep-id": names,
    "--trial": st.one_of(names, st.integers().map(str)), "--mode": names, "--task-format": names,
    "--record-cassette": names, "--replay-cassette": names, "--bogus-flag": names,
}


@FUZZ
@given(adapter=names.filter(lambda a: a.strip() not in KNOWN_ADAPTERS),
       extra=st.lists(st.sampled_from(sorted(RUN_OPTIONS)).flatmap(lambda o: st.tuples(st.just(o), RUN_OPTIONS[o])),
                      max_size=4))
def test_fuzzed_run_options_are_one_line_errors(scratch, adapter, extra):
    args = ["run", "-a", adapter, "-m", "m", "-t", TASK, "--tasks-dir", scratch / "tasks", "--results", scratch / "r"]
    for option, value in extra:
        args += [option, value]
    assert_user_error(invoke(args))
    assert not (scratch / "r").exists()


bad_timeouts = st.one_of(st.sampled_from(["nan", "inf", "-inf", "0", "-1", "1e400", "abc", ""]),
                         st.floats(max_value=0).map(repr))
bad_limits = st.one_of(
    st.tuples(st.sampled_from(["limit.disk", "limit.memory"]), st.text(max_size=10).filter(
        lambda v: v.strip().lower() not in ("none", "off", "0", "unlimited") and not v.strip()[:1].isdigit())),
    st.tuples(st.sampled_from(["limit.pids"]), st.sampled_from(["-5", "3", "lots", "1.5", ""])),
    st.tuples(st.text(min_size=1, max_size=8).map(lambda k: f"limit.{k}").filter(
        lambda k: k not in ("limit.disk", "limit.memory", "limit.pids") and "=" not in k), st.just("1G")),
)


@FUZZ
@given(timeout=bad_timeouts)
def test_bad_timeouts_are_refused_before_the_cell(scratch, timeout):
    result = invoke(["run", "-a", "command", "-m", "noop", "-t", TASK, "--tasks-dir", scratch / "tasks",
                     "--results", scratch / "r2", "--timeout", timeout])
    assert_user_error(result)
    assert not (scratch / "r2").exists()


@pytest.mark.slow
@FUZZ
@given(limit=bad_limits)
def test_bad_limits_are_refused_before_the_cell(scratch, limit):
    key, value = limit
    result = invoke(["run", "-a", "command", "-m", "noop", "-t", TASK, "--tasks-dir", scratch / "tasks",
                     "--results", scratch / "r3", "-o", f"{key}={value}"])
    assert_user_error(result)
    assert not (scratch / "r3").exists()


OTHER_COMMANDS = [["tasks", "show", "{}"], ["tasks", "list", "{}"], ["replay", "{}", "--results", "{results}"],
                  ["summary", "{}", "--results", "{results}"], ["model", "serve", "-t", "{}", "--port", "1"]]


@FUZZ
@given(template=st.sampled_from(OTHER_COMMANDS), arg=names)
def test_other_commands_with_fuzzed_arguments(scratch, template, arg):
    args = [part.format(arg, results=scratch / "r4") for part in template]
    assert_clean(invoke(args))
