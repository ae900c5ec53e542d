"""Third-party axes are first-class: the example test_focus axis in cab run, cab summary (text, JSON, CSV,
--axis), the index, and the open composite (--weights, a sweep file's weights) as computed by hand."""

from __future__ import annotations

import csv
import io
import json
import sqlite3

import sys

import pytest
from click.testing import CliRunner

from cab_core import AxisScore
from cab_core.cli import make_cli
from cab_core.index import INDEX_FILE

from conftest import run_cab

PY = "polyglot/python-slugify"
DEFAULT = {"pass_rate": 0.4, "integrity": 0.2, "tokens": 0.15, "latency": 0.15, "blast_radius": 0.1}

pytest.importorskip("cab_scorer_test_focus", reason="scripts/setup.sh installs examples/cab-scorer-test-focus")


def cab(*args):
    result = CliRunner().invoke(make_cli(), [str(a) for a in args])
    return result


@pytest.fixture(scope="module")
def weighted_sweep(tmp_path_factory):
    """command × (oracle, noop) on one task, weighted with test_focus=0.2: two real cells."""
    results = tmp_path_factory.mktemp("open") / "results"
    res = cab("sweep", "--adapters", "command", "--models", "oracle,noop", "--tasks", PY, "--sweep-id", "w",
              "--results", results, "--weights", "test_focus=0.2")
    assert res.exit_code == 0, res.output
    return results


@pytest.mark.slow
def test_the_weighted_composite_is_as_computed_by_hand(weighted_sweep):
    cells = {m: json.loads(next((weighted_sweep / "w" / "command" / m).rglob("cell.json")).read_text())
             for m in ("oracle", "noop")}
    noop = cells["noop"]["scores"]
    # noop fails and changes nothing: a failure that did not attempt the task earns nothing (not even its clean
    # integrity and blast radius, which once ranked it above honest failures).  Weights over 1.2:
    assert noop["test_focus"]["value"] is None
    assert noop["composite"]["value"] == 0.0
    assert noop["composite"]["breakdown"]["weights"] == pytest.approx({**{k: v / 1.2 for k, v in DEFAULT.items()},
                                                                      "test_focus": 0.2 / 1.2})
    # The oracle passes, changes the expected file only, and is its task's fastest and cheapest cell: 1.
    oracle = cells["oracle"]["scores"]
    assert oracle["test_focus"]["value"] == 1.0 and oracle["composite"]["value"] == pytest.approx(1.0)
    assert oracle["composite"]["breakdown"]["unit_values"]["test_focus"] == 1.0
    assert cells["noop"]["command"].endswith("--weights test_focus=0.2")  # the cell says how to reproduce it


@pytest.mark.slow
def test_without_weights_the_default_composite_is_unchanged(tmp_path):
    res = cab("run", "-a", "command", "-m", "noop", "-t", PY, "--results", tmp_path, "--json")
    cell = json.loads(res.stdout)
    assert cell["scores"]["composite"]["value"] == 0.0  # noop: nothing attempted, nothing earned
    assert cell["scores"]["composite"]["breakdown"]["weights"] == DEFAULT


def test_weights_by_hand_on_a_context(score_context):
    from cab_core.registry import Registry
    from cab_core.plugins import get_plugin_manager
    from cab_core.scoring import score_all

    registry = Registry(get_plugin_manager())
    ctx = score_context(options={"composite_weights": {"test_focus": 1.0, "blast_radius": 0.0}},
                        changes={"modified": ("calc.py", "README.md", "tests/test_calc.py")})
    scores = score_all(registry, ctx)
    # pass 1, integrity 1 (no protected hashes given), tokens 0 per correct (lone curve: 1), latency 1000 ms
    # (lone curve 1 / (1 + log10(1.1))), blast weight 0, test_focus 1/3; weights over 0.4+0.2+0.15+0.15+1 = 1.9.
    import math

    latency = 1 / (1 + math.log10(1 + 1000 / 10_000))
    expected = (0.4 * 1 + 0.2 * 1 + 0.15 * 1 + 0.15 * latency + 1.0 * (1 / 3)) / 1.9
    assert scores["test_focus"].value == pytest.approx(1 / 3)
    assert scores["composite"].value == pytest.approx(expected, abs=1e-12)


@pytest.mark.slow
def test_summary_has_the_axis_in_every_format(weighted_sweep):
    text = cab("summary", "w", "--results", weighted_sweep).output
    head = text.splitlines()[1]
    assert "test focus" in head and head.index("blast radius") < head.index("test focus") < head.index("refusal")
    data = json.loads(cab("summary", "w", "--results", weighted_sweep, "--json").output)
    assert {"name": "test_focus", "label": "test focus", "direction": "higher", "format": "ratio",
            "aggregation": "mean"}.items() <= next(a for a in data["axes"] if a["name"] == "test_focus").items()
    by_model = {e["model"]: e["axes"]["test_focus"] for e in data["leaderboard"]}
    assert by_model["oracle"] == {"value": 1.0, "cells": 1} and by_model["noop"] == {"value": None, "cells": 0}
    rows = list(csv.DictReader(io.StringIO(cab("summary", "w", "--results", weighted_sweep, "--csv").output)))
    assert {r["model"]: r["test_focus_mean"] for r in rows} == {"oracle": "1.0", "noop": ""}
    ranked = cab("summary", "w", "--results", weighted_sweep, "--axis", "test_focus").output.splitlines()
    assert "higher is better" in ranked[0] and ranked[2].split()[1] == "oracle"
    bad = cab("summary", "w", "--results", weighted_sweep, "--axis", "focus")
    assert bad.exit_code == 2 and "unknown axis 'focus' (available: " in bad.output and "test_focus" in bad.output


@pytest.mark.slow
def test_the_index_holds_the_axis(weighted_sweep):
    with sqlite3.connect(weighted_sweep / INDEX_FILE) as conn:
        rows = dict(conn.execute("SELECT model, value FROM axis_values WHERE axis = 'test_focus'").fetchall())
    assert rows == {"oracle": 1.0, "noop": None}


@pytest.mark.slow
def test_cab_run_shows_the_axis_in_order_with_its_note(tmp_path):
    lines = cab("run", "-a", "command", "-m", "oracle", "-t", PY, "--results", tmp_path).output.splitlines()
    labels = [line.split()[0] for line in lines[2:-1]]
    # the axes in order, then the cell's cost (cab_core.cli.cost)
    assert labels == ["pass", "tokens/correct", "agent", "blast", "test", "refusal", "integrity", "composite", "cost"]


@pytest.mark.parametrize("weights, message", [
    ("nope=1", "unknown axis 'nope' (available: blast_radius, integrity, latency, pass_rate, refusal, test_focus, tokens)"),
    ("pass_rate=-1", "'pass_rate=-1' is not AXIS=WEIGHT"),
    ("pass_rate", "'pass_rate' is not AXIS=WEIGHT"),
    ("composite=1", "unknown axis 'composite'"),
])
def test_bad_weights_are_one_line(tmp_path, weights, message):
    res = cab("run", "-a", "command", "-m", "oracle", "-t", PY, "--results", tmp_path, "--weights", weights)
    assert res.exit_code == 2 and message in res.output and len(res.output.strip().splitlines()) == 1, res.output
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_a_sweep_file_sets_weights_and_a_bad_one_names_the_file(tmp_path):
    good = tmp_path / "w.toml"
    good.write_text(f'adapters = ["command"]\nmodels = ["noop"]\ntasks = ["{PY}"]\nresults = "r"\n'
                    "[weights]\ntest_focus = 0.2\n")
    res = cab("sweep", good, "--sweep-id", "f")
    assert res.exit_code == 0, res.output
    cell = json.loads(next((tmp_path / "r" / "f").rglob("cell.json")).read_text())
    assert cell["scores"]["composite"]["value"] == 0.0 and cell["scores"]["composite"]["breakdown"]["weights"][
        "test_focus"] == pytest.approx(0.2 / 1.2)
    bad = tmp_path / "bad.toml"
    bad.write_text('adapters = ["command"]\n[weights]\nspeed = 1\n')
    res = cab("sweep", bad)
    assert res.exit_code == 2 and str(bad) in res.output and "field weights" in res.output and "'speed'" in res.output


@pytest.mark.slow
def test_the_dask_executor_without_its_extra_is_one_line_naming_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # "not installed": importing it raises ImportError
    proc = run_cab("sweep", "--adapters", "command", "--models", "oracle", "--tasks", PY, "--executor", "dask",
                   "--results", tmp_path / "r")
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("Error: executor 'dask' is not available: the dask executor needs the "
                                   "'distributed' package: pip install 'cab-core[dask]'")


def test_a_note_that_raises_is_shown_not_fatal():
    from cab_core import Scorer
    from cab_core.scoring import note_of

    record = Scorer(name="x", score=lambda ctx: None, note=lambda s: 1 / 0)
    assert note_of(record, AxisScore(axis="x", value=1.0)) == "note failed: ZeroDivisionError: division by zero"
