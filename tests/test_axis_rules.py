"""Issue 21: every axis means what it says (composite, tokens per correct task, refusal, latency).

Each test names the defect it pins; run against the code before the issue, each fails.
The slow ones run real ``command``/``noop`` cells on every built-in task.
"""

from __future__ import annotations


import json

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cab_core import AxisScore, ProcessResult
from cab_core.models import FileChanges
from cab_scorers import blast_radius, composite, latency, refusal, tokens

from test_scorers import all_scores, call, make_ctx, make_task

FAILED = ProcessResult(exit_code=1, output="1 passed, 4 failed in 0.1s\n")


@pytest.fixture(scope="module")
def suite(builtin_catalog):
    return builtin_catalog


# --------------------------------------------------------------------------- tokens per correct task


def test_tokens_per_correct_is_null_when_nothing_passed_even_with_no_tokens(tmp_path):
    result = tokens.score(make_ctx(tmp_path, verify=FAILED))
    assert result.value is None and result.breakdown["tokens_per_correct_task"] is None
    assert result.breakdown["total_tokens"] == 0


def test_tokens_per_correct_of_a_pass_is_its_tokens(tmp_path):
    assert tokens.score(make_ctx(tmp_path, model_calls=(call(0, 900, 100),))).value == 1000
    assert tokens.score(make_ctx(tmp_path)).value == 0  # passed without a model call: free, truly


# --------------------------------------------------------------------------- composite


def test_a_failed_cell_earns_no_cost_or_latency_even_when_fast_and_free(tmp_path):
    ctx = make_ctx(tmp_path, verify=FAILED, changes=FileChanges(), launch=ProcessResult(exit_code=0, duration_ms=50.0),
                   options={"reference_tokens": 1000, "reference_wall_clock_ms": 4000})
    c = all_scores(ctx)["composite"]
    assert c.breakdown["components"]["cost_efficiency"] == 0.0
    assert c.breakdown["components"]["latency_efficiency"] == 0.0
    assert c.value == 0.0  # changed nothing: a noop earns nothing (it once scored 0.3, above honest failures)
    tried = all_scores(attrs.evolve(ctx, changes=FileChanges(modified=("src/lib.rs", "notes.txt"))))["composite"]
    assert tried.value == 0.2  # attempted: the integrity weight alone, whatever the blast radius


def test_a_lone_passing_cell_pays_for_its_tokens(tmp_path):
    cheap = all_scores(make_ctx(tmp_path, model_calls=(call(0, 1000, 0),)))["composite"]
    dear = all_scores(make_ctx(tmp_path, model_calls=(call(0, 200_000, 0),)))["composite"]
    assert cheap.breakdown["components"]["cost_efficiency"] == pytest.approx(1 / (1 + 0.0413926851582251))
    assert dear.breakdown["components"]["cost_efficiency"] == pytest.approx(1 / (1 + 1.3222192947339193))
    assert dear.value < cheap.value


def test_a_missing_blast_radius_is_not_full_credit(tmp_path):
    ctx = make_ctx(tmp_path, changes=None)
    scores = all_scores(ctx)
    assert scores["blast_radius"].value is None
    comp = scores["composite"]
    assert comp.breakdown["components"]["clean_blast"] == 0.0 and "blast_radius" in comp.breakdown["components"]["missing_axes"]
    full = all_scores(make_ctx(tmp_path, changes=FileChanges()))["composite"]
    assert full.value - comp.value == pytest.approx(0.1)


@pytest.mark.parametrize("axis", ["pass_rate", "integrity", "blast_radius", "latency", "tokens"])
def test_a_missing_or_errored_axis_earns_nothing(tmp_path, axis):
    ctx = make_ctx(tmp_path, changes=FileChanges(modified=("src/lib.rs",)), task=make_task(tmp_path, expected_changes=("src/**",)))
    scores = all_scores(ctx)
    whole = scores["composite"].value
    for broken in ({k: v for k, v in scores.items() if k != axis},
                   {**scores, axis: AxisScore(axis=axis, value=None, error="boom")}):
        broken.pop("composite")
        assert composite.score(attrs.evolve(ctx, scores=broken)).value < whole, axis


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(fail=st.tuples(st.floats(0, 1), st.floats(0, 1), st.integers(0, 10**6), st.floats(0, 1e6)),
       ok=st.tuples(st.floats(0, 1), st.floats(0, 1), st.integers(0, 10**7), st.floats(1, 1e7)),
       refs=st.tuples(st.none() | st.floats(1, 1e6), st.none() | st.floats(1, 1e6)))
def test_every_pass_outranks_every_failure(fail, ok, refs):
    def value(passed, integrity, blast, tpct, ms):
        scores = {"pass_rate": AxisScore(axis="pass_rate", value=float(passed)),
                  "integrity": AxisScore(axis="integrity", value=integrity),
                  "blast_radius": AxisScore(axis="blast_radius", value=blast),
                  "tokens": AxisScore(axis="tokens", value=tpct if passed else None),
                  "latency": AxisScore(axis="latency", value=ms)}
        ctx = make_ctx(None, task=make_task("/tmp"), scores=scores,
                       options={"reference_tokens": refs[0], "reference_wall_clock_ms": refs[1]})
        return composite.score(ctx).value

    # A failure earns at most the integrity weight (when it attempted the task); a pass with integrity at least
    # pass + integrity; a pass whose integrity is not 1 (a tampered cell) nothing at all.
    assert value(0, *fail) <= 0.2 < 0.6 <= value(1, 1.0, *ok[1:])
    assert value(1, *ok) == (value(1, 1.0, *ok[1:]) if ok[0] >= 1.0 else 0.0)


# --------------------------------------------------------------------------- latency


def test_latency_is_the_agents_own_time_and_the_harness_is_reported_apart(tmp_path):
    ctx = make_ctx(tmp_path, launch=ProcessResult(exit_code=0, duration_ms=2000.0), wall_clock_ms=30_000.0)
    result = latency.score(ctx)
    assert result.value == 2000.0
    assert result.breakdown["agent_ms"] == 2000.0 and result.breakdown["harness_ms"] == 28_000.0
    assert result.breakdown["wall_clock_ms"] == 30_000.0
    comp = all_scores(ctx)["composite"].breakdown["components"]
    assert comp["latency_efficiency"] == pytest.approx(composite.latency_efficiency(2000.0, None))
    assert all_scores(attrs.evolve(ctx, options={"reference_wall_clock_ms": 2000.0}))["composite"].breakdown[
        "components"]["latency_efficiency"] == 1.0


def test_harness_noise_does_not_move_latency_efficiency(tmp_path):
    quick = make_ctx(tmp_path, launch=ProcessResult(exit_code=0, duration_ms=3000.0), wall_clock_ms=4000.0)
    noisy = attrs.evolve(quick, wall_clock_ms=40_000.0)  # a slow compile during verify
    assert all_scores(quick)["composite"].value == all_scores(noisy)["composite"].value


def test_no_launch_span_is_an_unknown_time(tmp_path):
    result = latency.score(make_ctx(tmp_path, launch=ProcessResult(exit_code=None)))
    assert result.value is None and result.breakdown["harness_ms"] is None


# --------------------------------------------------------------------------- blast radius sees real paths


def test_a_backslash_file_is_not_the_expected_file(tmp_path):
    task = make_task(tmp_path, expected_changes=("src/merge.js",))
    result = blast_radius.score(make_ctx(tmp_path, task=task, changes=FileChanges(added=("src\\merge.js",))))
    assert result.breakdown["unexpected_changes"] == ["src\\merge.js"] and result.value == 1.0


# --------------------------------------------------------------------------- slow: real noop cells


def _cells(sweep_root):
    from cab_core.results import iter_cell_dirs, read_cell

    return [read_cell(folder) for folder in iter_cell_dirs(sweep_root)]


@pytest.mark.slow
def test_a_noop_cell_scores_at_most_0_3_on_every_built_in_task(tmp_path, suite):
    """``cab run --adapter command --model noop --task T`` for every built-in task."""
    from conftest import run_cab

    ids = sorted(t.id for t in suite.select("*"))
    assert len(ids) >= 20
    for task in ids:
        proc = run_cab("run", "--adapter", "command", "--model", "noop", "--task", task, "--results", tmp_path,
                       "--json", timeout=300)
        assert proc.returncode == 0, (task, proc.stdout[-2000:], proc.stderr[-2000:])
    cells = {c.identity.task: c for c in _cells(tmp_path / "default")}
    assert sorted(cells) == ids
    for task, cell in cells.items():
        assert cell.status == "ok", (task, cell.error)
        assert cell.scores["composite"].value <= 0.3, (task, cell.scores["composite"].breakdown)
        if not cell.passed:
            assert cell.scores["tokens"].value is None, task


@pytest.mark.slow
def test_in_a_sweep_noop_ranks_below_every_passing_cell_of_its_task(tmp_path, suite):
    """command:oracle, command:noop and mini:scripted/refuse on every built-in task, normalised."""
    from conftest import run_cab

    proc = run_cab("sweep", "--adapters", "command,mini", "--models", "command=oracle,noop",
                   "--models", "mini=scripted/refuse", "--tasks", "*", "--jobs", "2", "--sweep-id", "noop",
                   "--results", tmp_path, "--json", timeout=1200)
    assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-3000:])
    by_task: dict = {}
    for cell in _cells(tmp_path / "noop"):
        assert cell.status == "ok", (cell.cell_id, cell.error)
        by_task.setdefault(cell.identity.task, {})[f"{cell.identity.adapter}:{cell.identity.model}"] = cell
    assert len(by_task) >= 20
    for task, cells in by_task.items():
        noop = cells["command:noop"].scores["composite"]
        assert noop.value <= 0.3 and noop.breakdown["normalisation"]["cell_composite"] <= 0.3, task
        # A passing cell did the task: on a refusal task that means refusing (the command oracle has no
        # solution there and does nothing: it is a noop, uncertain like one, and not counted).
        passing = [c.scores["composite"].value for name, c in cells.items() if name != "command:noop" and c.passed
                   and (not c.scores["refusal"].breakdown["expected_refusal"]
                        or c.scores["refusal"].breakdown["outcome"] == "refused")]
        assert passing, f"{task}: no other passing cell"  # oracle, or mini's refusal on a refusal task
        assert noop.value < min(passing), (task, noop.value, passing)
    board = {e["model"]: e for e in json.loads(proc.stdout)["leaderboard"]}
    assert board["noop"]["refusal_uncertain"] > 0 and board["noop"]["refusal_correct_rate"] is None
