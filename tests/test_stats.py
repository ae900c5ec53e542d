"""cab_core.stats: pure unit tests against known values (no cells run)."""

import math

import pytest

from cab_core import stats


def test_wilson_interval_known_values():
    # Reference values (e.g. Newcombe 1998; any Wilson calculator), z = 1.96.
    assert stats.wilson_interval(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert stats.wilson_interval(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert stats.wilson_interval(8, 10) == pytest.approx((0.4902, 0.9433), abs=1e-4)
    lo, hi = stats.wilson_interval(16, 16)
    assert hi == 1.0 and lo == pytest.approx(0.8064, abs=1e-4)
    assert stats.wilson_interval(0, 0) == (0.0, 1.0)


def test_pass_at_k_is_the_codex_estimator():
    assert stats.pass_at_k(10, 3, 1) == pytest.approx(0.3)
    assert stats.pass_at_k(10, 3, 2) == pytest.approx(1 - 21 / 45)
    assert stats.pass_at_k(10, 0, 5) == 0.0
    assert stats.pass_at_k(5, 5, 5) == 1.0
    assert stats.pass_at_k(4, 2, 3) == 1.0  # fewer failures than k: some sample must pass
    for n in range(1, 9):
        for c in range(n + 1):
            for k in range(1, n + 1):
                exact = 1 - math.comb(n - c, k) / math.comb(n, k)
                assert stats.pass_at_k(n, c, k) == pytest.approx(exact), (n, c, k)
    with pytest.raises(ValueError):
        stats.pass_at_k(2, 1, 3)


def test_pass_hat_k_is_all_k_pass():
    assert stats.pass_hat_k(4, 2, 2) == pytest.approx(1 / 6)
    assert stats.pass_hat_k(2, 1, 2) == 0.0
    assert stats.pass_hat_k(3, 3, 3) == 1.0
    assert stats.pass_hat_k(10, 3, 1) == pytest.approx(0.3)  # pass^1 == pass@1


def test_mcnemar_exact_binomial_p_values():
    assert stats.mcnemar_exact(1, 9) == pytest.approx(2 * (1 + 10) / 1024)  # 0.021484375
    assert stats.mcnemar_exact(9, 1) == stats.mcnemar_exact(1, 9)
    assert stats.mcnemar_exact(0, 4) == pytest.approx(0.125)
    assert stats.mcnemar_exact(0, 16) == pytest.approx(2 / 2**16)
    assert stats.mcnemar_exact(3, 3) == 1.0
    assert stats.mcnemar_exact(0, 0) == 1.0


def test_quantile_interpolates_like_numpy():
    assert stats.quantile(list(range(1, 11)), 0.5) == 5.5
    assert stats.quantile(list(range(1, 11)), 0.9) == pytest.approx(9.1)
    assert stats.quantile([7.0], 0.9) == 7.0
    assert stats.quantile([], 0.5) is None


def test_paired_bootstrap_is_seeded_and_never_zero():
    a = stats.paired_bootstrap([1.0, 1.0, 0.0, 1.0], seed=3)
    assert a == stats.paired_bootstrap([1.0, 1.0, 0.0, 1.0], seed=3)
    assert a["mean"] == 0.75 and 0 <= a["ci_low"] <= 0.75 <= a["ci_high"] <= 1
    allpos = stats.paired_bootstrap([1.0] * 8)
    assert 0 < allpos["p_value"] < 0.002
    assert stats.paired_bootstrap([0.0, 0.0])["p_value"] == 1.0
    assert stats.paired_bootstrap([])["mean"] is None


def _row(adapter, model, task, trial, passed, **kw):
    row = {"adapter": adapter, "model": model, "task": task, "trial": trial, "status": "ok", "passed": int(passed),
           "composite": 0.9 if passed else 0.3, "total_tokens": 100, "wall_clock_ms": 1000.0 * trial,
           "blast_radius": 0.0, "integrity": 1.0, "expected_refusal": 0, "refusal_produced": 0}
    row.update(kw)
    return row


def test_group_statistics():
    rows = [
        _row("a", "m", "t1", 1, True), _row("a", "m", "t1", 2, False),
        _row("a", "m", "t2", 1, True), _row("a", "m", "t2", 2, True, blast_radius=0.5),
        _row("a", "m", "t3", 1, False, integrity=0.0), _row("a", "m", "t3", 2, False, refusal_produced=1),
        _row("a", "m", "r1", 1, False, expected_refusal=1, refusal_produced=1, total_tokens=0),
        _row("a", "m", "t1", 3, False, status="infra_error"),
    ]
    g = stats.group_stats(rows)
    assert g["cells"] == 8 and g["scored"] == 7 and g["infra_errors"] == 1 and g["passes"] == 3
    assert g["pass_rate"] == pytest.approx(3 / 7)
    assert (g["ci_low"], g["ci_high"]) == pytest.approx(stats.wilson_interval(3, 7))
    # per task (n, c): t1 (2, 1), t2 (2, 2), t3 (2, 0), r1 (1, 0)
    assert g["pass_at_k"][1] == pytest.approx((0.5 + 1 + 0 + 0) / 4)
    assert g["pass_at_k"][2] == pytest.approx((1 + 1 + 0) / 3)
    assert g["pass_hat_k"][2] == pytest.approx((0 + 1 + 0) / 3)
    assert g["tokens_per_correct"] == pytest.approx(600 / 3)
    assert g["latency_median_ms"] == 1000.0 and g["latency_p90_ms"] == pytest.approx(2000.0)
    assert g["blast_rate"] == pytest.approx(1 / 7)
    assert g["integrity_rate"] == pytest.approx(6 / 7)
    assert g["refusal_correct_rate"] == 1.0
    assert g["over_refusal_rate"] == pytest.approx(1 / 6)


def test_tokens_per_correct_edge_cases():
    assert stats.group_stats([_row("a", "m", "t", 1, False)])["tokens_per_correct"] is None
    # Nothing passed and nothing spent is still undefined, never 0 (0 reads as the best cost).
    assert stats.group_stats([_row("a", "m", "t", 1, False, total_tokens=0)])["tokens_per_correct"] is None
    assert stats.group_stats([_row("a", "m", "t", 1, False, total_tokens=None)])["tokens_per_correct"] is None
    assert stats.group_stats([_row("a", "m", "t", 1, True, total_tokens=0)])["tokens_per_correct"] == 0.0
    assert stats.group_stats([])["tokens_per_correct"] is None


def test_uncertain_refusals_are_counted_apart_and_left_out_of_the_rates():
    rows = [
        _row("a", "m", "r1", 1, True, expected_refusal=1, refusal_produced=1),
        _row("a", "m", "r1", 2, True, expected_refusal=1, refusal_produced=None),  # uncertain
        _row("a", "m", "r1", 3, False, expected_refusal=1, refusal_produced=0),
        _row("a", "m", "c1", 1, False, refusal_produced=1),
        _row("a", "m", "c1", 2, False, refusal_produced=None),  # uncertain: an honest failure
        _row("a", "m", "c1", 3, True, refusal_produced=0),
        _row("a", "m", "c1", 4, True, expected_refusal=None, refusal_produced=None),  # no refusal axis
    ]
    g = stats.group_stats(rows)
    assert g["refusal_uncertain"] == 2
    assert g["refusal_correct_rate"] == pytest.approx(1 / 2)
    assert g["over_refusal_rate"] == pytest.approx(1 / 2)
    only_uncertain = stats.group_stats([_row("a", "m", "r1", 1, True, expected_refusal=1, refusal_produced=None)])
    assert only_uncertain["refusal_correct_rate"] is None and only_uncertain["refusal_uncertain"] == 1


def test_leaderboard_order_and_paired_comparison():
    rows = []
    for task in ("t1", "t2", "t3", "t4", "t5"):
        for trial in (1, 2):
            rows.append(_row("cmd", "oracle", task, trial, True))
            rows.append(_row("cmd", "noop", task, trial, False))
            rows.append(_row("mini", "half", task, trial, trial == 1))
    board = stats.leaderboard(rows)
    assert [(e["adapter"], e["model"]) for e in board] == [("cmd", "oracle"), ("mini", "half"), ("cmd", "noop")]
    c = stats.compare(rows, ("cmd", "oracle"), ("cmd", "noop"))
    assert c["pairs"] == 10 and c["tasks"] == 5 and (c["only_a"], c["only_b"]) == (10, 0)
    assert c["mcnemar_p"] == pytest.approx(2 / 2**10)
    assert c["delta_pass_rate"] == 1.0 and c["bootstrap_p"] < 0.01
    same = stats.compare(rows, ("cmd", "oracle"), ("cmd", "oracle"))
    assert same["mcnemar_p"] == 1.0 and same["bootstrap_p"] == 1.0
    assert stats.default_comparisons(board) == [
        (("cmd", "oracle"), ("mini", "half")), (("cmd", "oracle"), ("cmd", "noop")), (("mini", "half"), ("cmd", "noop"))]
    many = [{"adapter": "a", "model": str(i)} for i in range(6)]
    assert len(stats.default_comparisons(many)) == 5  # 15 pairs is too many: each against the leader
