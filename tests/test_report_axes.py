"""The report renders its axes from the scorer records: a third-party axis gets a card and a column like a built-in.

Real cells (``cab_runner``) are run with the example ``test_focus`` scorer registered and the
site built from them; hand-made records check the richer cards (verdict, refusal outcome,
composite bar, warnings, estimated usage) and the generic fallback.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from pathlib import Path

import pytest

from cab_core import serialization
from cab_core.models import AxisScore, CellId, CellResult, ModelCall, Scorer
from cab_core.report import build_site
from cab_core.report.axes import axis_cards, composite_parts

test_focus = pytest.importorskip("cab_scorer_test_focus", reason="examples/cab-scorer-test-focus is installed by scripts/setup.sh")

T0 = _dt.datetime(2026, 1, 1, tzinfo=_dt.timezone.utc)


def _card(page: str, axis: str) -> str:
    m = re.search(rf'<div class="axis [^"]*" data-axis="{axis}".*?</div>\s*</div>', page, re.S)
    assert m, f"no card for {axis}"
    return m.group(0)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """Two real cells (two models) with test_focus registered, and the site built from them."""
    from cab_core.testing import CellRunner, write_task
    from cab_core.plugins import get_plugin_manager, load_entry_points

    root = tmp_path_factory.mktemp("axes")
    tasks = root / "tasks"
    write_task(tasks, "demo/add")
    pm = get_plugin_manager(entry_points=False, plugins=[test_focus])
    load_entry_points(pm, only={"command", "native", "pass_rate", "refusal", "tokens", "composite"}, strict=True)
    runner = CellRunner(pm, root / "results", [tasks])
    try:
        for model in ("oracle", "noop"):
            result, _ = runner.run(task="demo/add", adapter="command", model=model, sweep_id="axes")
        scorers = runner.registry.scorers_in_order()
    finally:
        runner.close()
    out = root / "site"
    built = build_site(root / "results", out, jobs=1, scorers=scorers)
    assert built.errors == [] and built.cells == 2, built.errors
    return out, scorers


@pytest.mark.slow
def test_third_party_axis_has_its_own_card(site):
    out, _ = site
    page = next(p for p in out.glob("cells/**/index.html") if "oracle" in str(p)).read_text()
    card = _card(page, "test_focus")
    assert '<div class="axis-label">test focus</div>' in card
    assert 'data-testid="axis-value">1.000</div>' in card and "tone-good" in card


@pytest.mark.slow
def test_cards_follow_the_scorers_order(site):
    out, scorers = site
    page = next(out.glob("cells/**/index.html")).read_text()
    shown = re.findall(r'<div class="axis [^"]*" data-axis="(\w+)"', page)
    assert shown == [s.name for s in scorers]


@pytest.mark.slow
def test_third_party_axis_has_a_leaderboard_column(site):
    out, _ = site
    sweep = (out / "sweeps" / "axes" / "index.html").read_text()
    assert re.search(r'<th [^>]*data-axis="test_focus"[^>]*><button type="button">test focus</button>', sweep)
    cells = re.findall(r'<td [^>]*data-axis="test_focus" data-sort="([^"]*)"', sweep)
    assert len(cells) == 2 and "1.0" in cells
    front = (out / "index.html").read_text()
    assert re.search(r'<th [^>]*data-axis="test_focus"[^>]*>test focus</th>', front)


@pytest.mark.slow
def test_the_composite_bar_has_every_weighted_axis(site):
    out, _ = site
    page = next(p for p in out.glob("cells/**/index.html") if "oracle" in str(p)).read_text()
    parts = re.findall(r'data-part="(\w+)"', page)
    assert "tokens" in parts and "pass_rate" in parts


def _result(scores: dict, **fields) -> CellResult:
    return CellResult(cell_id="s/a/m/demo/x", identity=CellId(sweep="s", adapter="a", model="m", task="demo/x"),
                      started_at=T0, ended_at=T0, duration_s=1.0, scores=scores, **fields)


def _page(tmp_path: Path, result: CellResult, scorers=None) -> str:
    folder = tmp_path / "results" / "cell"
    folder.mkdir(parents=True)
    (folder / "cell.json").write_text(json.dumps(serialization.unstructure(result)))
    out = tmp_path / "site"
    assert build_site(tmp_path / "results", out, jobs=1, scorers=scorers).errors == []
    return next(out.glob("cells/**/index.html")).read_text()


def test_uncertain_refusal_is_not_complied(tmp_path):
    refusal = AxisScore(axis="refusal", value=None, breakdown={"expected_refusal": True, "refusal_produced": None,
                                                              "outcome": "uncertain"})
    page = _page(tmp_path, _result({"refusal": refusal}))
    assert "complied where it should refuse" not in page.split('data-testid="verdict"')[1][:300]
    assert "could not tell whether it refused" in page
    assert "tone-warn" in _card(page, "refusal") and "<b>uncertain</b>" in _card(page, "refusal")


def test_verdict_warnings_and_estimated_calls_are_shown(tmp_path):
    pass_rate = AxisScore(axis="pass_rate", value=0.0, breakdown={
        "pass": 0, "reason": "report forged", "forged": "conftest rewrote the report", "channel": "junit",
        "expected_tests": ["t::a", "t::b"], "passed_tests": ["t::a"], "missing_tests": ["t::b"],
        "skipped_tests": [], "canary": {"outcome": "tripped"}})
    calls = [ModelCall(index=0, timestamp=T0, request_hash="h", usage_source="estimated", prompt_tokens=5)]
    result = _result({"pass_rate": pass_rate}, model_calls=calls,
                     host={"warnings": ["agent reported 10 tokens, proxy saw 500"]})
    page = _page(tmp_path, result)
    detail = page.split('data-testid="verdict-detail"')[1].split("</section>")[0]
    assert "report forged" in detail and 'class="bad-text" data-field="forged"' in detail
    assert "<li>t::b</li>" in detail.split('data-field="missing_tests"')[1].split("</dd>")[0]
    assert "tripped" in detail
    assert "agent reported 10 tokens, proxy saw 500" in page
    assert 'data-usage="estimated"' in page and "estimated" in page.split('data-usage="estimated"')[1][:200]


def test_unregistered_axis_falls_back_to_a_generic_card():
    result = _result({"mystery": AxisScore(axis="mystery", value=0.5)})
    (card,) = axis_cards(result, [])
    assert (card["label"], card["display"], card["tone"]) == ("mystery", "0.500", "neutral")


def test_declared_format_and_direction_drive_the_card():
    record = Scorer(name="wait", score=lambda ctx: None, label="waiting", direction="lower", format="ms",
                    note=lambda s: f"{s.breakdown['n']} waits")
    (card,) = axis_cards(_result({"wait": AxisScore(axis="wait", value=2500.0, breakdown={"n": 3})}), [record])
    assert (card["label"], card["display"], card["note"]) == ("waiting", "2.50s", "3 waits")
    assert card["tone"] == "good"


def test_composite_parts_read_points_by_axis():
    comp = AxisScore(axis="composite", value=0.7, breakdown={
        "weights": {"pass_rate": 0.5, "tokens": 0.3, "test_focus": 0.2},
        "unit_values": {"pass_rate": 1.0, "tokens": 0.5, "test_focus": 0.5},
        "points": {"pass_rate": 0.5, "tokens": 0.15, "test_focus": 0.1}})
    blend = Scorer(name="composite", score=lambda ctx: None, card="parts")
    parts = composite_parts(_result({"composite": comp}), [blend])
    assert [(p["name"], p["points"]) for p in parts] == [("pass_rate", 0.5), ("tokens", 0.15), ("test_focus", 0.1)]


def test_refusing_a_task_it_should_do_is_bad():
    refusal = AxisScore(axis="refusal", value=None, not_applicable=True,
                        breakdown={"expected_refusal": False, "refusal_produced": True, "outcome": "refused"})
    record = Scorer(name="refusal", score=lambda ctx: None, format="ratio", card="refusal")
    (card,) = axis_cards(_result({"refusal": refusal}), [record])
    assert (card["display"], card["tone"], card["note"], card["outcome"]) == (
        "n/a", "bad", "refused a task it should do", "refused")


def test_the_card_is_what_the_record_declares_never_the_axis_name():
    verdict = {"reason": "2 of 3 expected tests passed", "expected_tests": ["t::a"], "partial_score": 0.5}
    result = _result({"pass_rate": AxisScore(axis="pass_rate", value=0.0, breakdown=verdict),
                      "my_check": AxisScore(axis="my_check", value=1.0, breakdown=verdict),
                      "my_blend": AxisScore(axis="my_blend", value=0.5, breakdown={"points": {"my_check": 0.5}}),
                      "composite": AxisScore(axis="composite", value=0.5, breakdown={"points": {"pass_rate": 0.5}})})
    records = [Scorer(name="pass_rate", score=lambda ctx: None), Scorer(name="my_check", score=lambda ctx: None,
               card="verdict"), Scorer(name="my_blend", score=lambda ctx: None, card="parts"),
               Scorer(name="composite", score=lambda ctx: None)]
    cards = {c["name"]: c for c in axis_cards(result, records)}
    assert "verdict" in cards["my_check"] and "verdict" not in cards["pass_rate"]
    assert [p["name"] for p in composite_parts(result, records)] == ["my_check"]
    from cab_core.report.axes import partial_score
    assert partial_score(result, records) == 0.5 and partial_score(result, records[:1]) is None
    with pytest.raises(ValueError, match="card"):
        Scorer(name="x", score=lambda ctx: None, card="fancy")


def test_the_built_in_scorers_declare_their_cards():
    from cab_scorers import composite, pass_rate, refusal

    cards = {s.name: s.card for m in (pass_rate, refusal, composite) for s in m.cab_scorers()}
    assert cards == {"pass_rate": "verdict", "refusal": "refusal", "composite": "parts"}
