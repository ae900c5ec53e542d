"""``cab compare A B`` and :mod:`cab_core.compare`: two cells or two groups side by side."""

import json

import pytest

from cab_core import compare, stats
from cab_core.errors import CabError

from conftest import run_cab


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    results = tmp_path_factory.mktemp("compare") / "results"
    run_cab("sweep", "--adapters", "command", "--models", "oracle,noop", "--tasks",
            "polyglot/python-slugify,polyglot/js-deep-merge", "--results", results, "--sweep-id", "s1", "-j", "2", check=True)
    return results


@pytest.mark.slow
def test_two_groups_side_by_side_with_the_paired_test(sweep):
    proc = run_cab("compare", "--sweep", "s1", "command:oracle", "command:noop", "--results", sweep, "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["kind"] == "groups"
    assert [(t["task"], t["outcome"]) for t in data["tasks"]] == [
        ("polyglot/js-deep-merge", "only_a"), ("polyglot/python-slugify", "only_a")]
    assert data["counts"]["only_a"] == 2 and data["counts"]["only_b"] == 0
    assert data["paired"]["mcnemar_p"] == stats.mcnemar_exact(2, 0) == 0.5
    assert data["a"]["passes"] == 2 and data["b"]["passes"] == 0
    assert data["delta"]["pass_rate"] == -1.0 and data["delta"]["pairs"] == 2
    text = run_cab("compare", "--sweep", "s1", "command:oracle", "command:noop", "--results", sweep, check=True).stdout
    assert "McNemar exact p = 0.5" in text and "← A only" in text and "polyglot/js-deep-merge" in text


@pytest.mark.slow
def test_two_cells_by_id_and_by_folder_with_both_diffs(sweep):
    a = "s1/command/oracle/polyglot/python-slugify"
    b_folder = sweep / "s1/command/noop/polyglot/python-slugify/trial-1"
    proc = run_cab("compare", a, b_folder, "--results", sweep, "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["kind"] == "cells" and data["tasks"][0]["outcome"] == "only_a"
    assert data["a"]["changed_files"] == ["slugify.py"] and data["b"]["changed_files"] == []
    assert data["a"]["diff"].startswith("diff --git a/slugify.py")
    assert "paired" not in data
    text = run_cab("compare", a, b_folder, "--results", sweep, "--diffs", check=True).stdout
    assert "--- diff of A" in text and "--- diff of B" in text and "+import unicodedata" in text
    assert "files changed" in text and "slugify.py" in text


@pytest.mark.slow
def test_user_errors_are_one_line(sweep):
    cases = [
        (("compare", "--sweep", "s1", "command:oracle", "pi:gpt", "--results", sweep), "no cells of pi:gpt in this sweep"),
        (("compare", "--sweep", "s1", "command:oracle", "command:oracle", "--results", sweep), "compare two different groups"),
        (("compare", "--sweep", "nope", "a:b", "c:d", "--results", sweep), "no sweep 'nope'"),
        (("compare", "s1", "s1/command/noop/polyglot/python-slugify", "--results", sweep), "names 4 cells"),
        (("compare", "ghost", "s1/command/noop/polyglot/python-slugify", "--results", sweep), "no cell or sweep 'ghost'"),
    ]
    for args, message in cases:
        proc = run_cab(*args)
        assert proc.returncode == 2, (args, proc.stdout)
        assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    proc = run_cab("compare", "--sweep", "s1", "oracle", "command:noop", "--results", sweep)
    assert proc.returncode == 2 and "is not ADAPTER:MODEL" in proc.stderr


def _row(task, trial, passed, *, status="ok", tokens=100, cost=0.5, wall=1000.0, adapter="x", model="m"):
    return {"adapter": adapter, "model": model, "task": task, "trial": trial, "status": status, "passed": passed,
            "total_tokens": tokens, "cost_usd": cost, "wall_clock_ms": wall, "cell_id": f"{adapter}/{task}#{trial}"}


def test_deltas_by_hand_infrastructure_errors_unpaired_unknown_cost_unknown():
    a = [_row("t1", 1, 1, tokens=100, cost=0.5, wall=1000), _row("t2", 1, 0, tokens=300, cost=1.0, wall=3000),
         _row("t3", 1, 1, status="infra_error")]
    b = [_row("t1", 1, 0, tokens=50, cost=0.25, wall=500, adapter="y"), _row("t2", 1, 1, tokens=500, cost=None, adapter="y"),
         _row("t3", 1, 1, adapter="y"), _row("t4", 1, 1, adapter="y")]
    data = compare.compare_rows(a, b, "A", "B")
    outcomes = {t["task"]: t["outcome"] for t in data["tasks"]}
    assert outcomes == {"t1": "only_a", "t2": "only_b", "t3": "unpaired", "t4": "unpaired"}
    d = data["delta"]
    assert d["pairs"] == 2 and d["pass_rate"] == 0.0
    assert d["tokens"] == ((50 - 100) + (500 - 300)) / 2
    assert d["wall_clock_ms"] == ((500 - 1000) + (1000 - 3000)) / 2
    assert d["cost_usd"] is None  # one price unknown: the difference is unknown, never a number
    assert data["a"]["infra_errors"] == 1 and data["a"]["scored"] == 2 and data["a"]["total_cost_usd"] == 1.5
    assert data["b"]["total_cost_usd"] is None
    rows = a + b
    groups = compare.compare_groups(rows, ("x", "m"), ("y", "m"))
    assert groups["paired"]["only_a"] == 1 and groups["paired"]["only_b"] == 1 and groups["paired"]["mcnemar_p"] == 1.0
    with pytest.raises(CabError, match="groups: x:m, y:m"):
        compare.compare_groups(rows, ("x", "m"), ("z", "m"))


def test_changed_files_reads_git_patch_headers():
    patch = "diff --git a/x.py b/x.py\n--- a/x.py\n+++ b/x.py\ndiff --git a/d/y z.txt b/d/y z.txt\n"
    assert compare.changed_files(patch) == ["x.py", "d/y z.txt"]
