"""The test_focus axis: alone (score_context), in a real cell (cab_runner), and in the composite."""

import pytest

import cab_scorer_test_focus as test_focus


def test_share_of_changed_files_on_target(score_context):
    ctx = score_context(changes={"modified": ("calc.py", "tests/test_calc.py"), "added": ("notes/todo.py",)})
    score = test_focus.score(ctx)
    assert score.value == pytest.approx(1 / 3)
    assert score.breakdown["tests_touched"] == ["tests/test_calc.py"]
    assert score.breakdown["outside_expected"] == ["notes/todo.py"]
    assert test_focus.note(score) == "off target: tests/test_calc.py, notes/todo.py"


def test_a_test_inside_the_expected_globs_is_still_a_test(score_context):
    ctx = score_context(task={"expected_changes": ("**",), "protected": ()},
                        changes={"modified": ("src/app.py", "src/app.test.js", "pkg/x_test.go")})
    assert test_focus.score(ctx).value == pytest.approx(1 / 3)


def test_nothing_changed_is_not_applicable(score_context):
    score = test_focus.score(score_context(changes={}))
    assert score.value is None and score.not_applicable and test_focus.note(score) == "nothing changed"


def test_the_record_declares_how_cab_shows_it():
    (record,) = test_focus.cab_scorers()
    assert (record.name, record.title, record.direction, record.format, record.aggregation) == (
        "test_focus", "test focus", "higher", "ratio", "mean")


@pytest.mark.slow
def test_a_real_cell_scores_the_axis(cab_runner, make_task):
    tasks = make_task("demo/add")
    runner = cab_runner("command", "native", "pass_rate", "composite", plugins=[test_focus], tasks_dirs=[tasks])
    result, folder = runner.run(task="demo/add", adapter="command", model="oracle")
    assert result.status == "ok" and result.passed
    assert result.scores["test_focus"].value == 1.0  # the oracle changes calc.py only
    assert (folder / "cell.json").is_file()
