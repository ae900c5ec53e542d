"""``cab export atif``: a cell as Harbor's ATIF-v1.8, validated against the spec's schema.

The schema (tests/data/atif) is Harbor's own, generated from its models; the rules
its models add beyond the schema are checked by :func:`check_rules`.
"""

import datetime as dt
import json
from pathlib import Path

import jsonschema
import pytest

from cab_core.export.atif import ATIF_VERSION, cell_trajectory
from cab_core.models import CellId, CellResult, ModelCall, Span, ToolCall
from cab_core.plugins import get_plugin_manager
from cab_core.registry import Registry
from cab_core.runner import RunOptions, Runner
from cab_core.tasks import TaskCatalog

from conftest import run_cab

SCHEMA = json.loads((Path(__file__).parent / "data" / "atif" / "trajectory.schema.json").read_text())
AGENT_ONLY = ("model_name", "reasoning_effort", "reasoning_content", "tool_calls", "metrics")


def check_rules(doc: dict) -> None:
    """The schema, then the rules Harbor's models add (what its model validators check)."""
    jsonschema.Draft202012Validator(SCHEMA).validate(doc)
    assert doc["schema_version"] == ATIF_VERSION
    for i, step in enumerate(doc["steps"]):
        assert step["step_id"] == i + 1
        if step["source"] != "agent":
            assert not set(AGENT_ONLY) & set(step), step
        if step.get("llm_call_count") == 0:
            assert "metrics" not in step and "reasoning_content" not in step
        ids = {c["tool_call_id"] for c in step.get("tool_calls") or ()}
        for result in (step.get("observation") or {}).get("results", ()):
            if result.get("source_call_id") is not None:
                assert result["source_call_id"] in ids


@pytest.fixture(scope="module")
def mini_cell(tmp_path_factory):
    """A real cell: the mini agent solving a task against the scripted model, through the proxy."""
    tmp = tmp_path_factory.mktemp("atif")
    registry = Registry(get_plugin_manager())
    runner = Runner(registry, TaskCatalog(registry))
    try:
        result, folder = runner.run_cell(RunOptions(adapter="mini", model="scripted/oracle",
                                                    task="polyglot/python-slugify", results=tmp / "results"))
    finally:
        runner.close()
    return result, folder, tmp / "results"


@pytest.mark.slow
def test_a_real_cell_exports_valid_atif_with_every_call_as_a_step(mini_cell):
    result, folder, _ = mini_cell
    proc = run_cab("export", "atif", folder)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    check_rules(doc)
    assert doc["agent"]["name"] == "mini" and doc["agent"]["model_name"] == "scripted/oracle"
    assert doc["session_id"] == result.cell_id
    called = [s for s in doc["steps"] if s["source"] == "agent" and s.get("llm_call_count") == 1]
    assert len(called) == len(result.model_calls) >= 2
    for step, call in zip(called, sorted(result.model_calls, key=lambda c: c.index)):
        assert step["metrics"]["prompt_tokens"] == call.prompt_tokens
        assert step["metrics"]["completion_tokens"] == call.completion_tokens
        assert step["message"] == call.completion
        assert [t["tool_call_id"] for t in step.get("tool_calls", [])] == [t.id for t in call.tool_calls]
    assert doc["steps"][0]["source"] in ("system", "user")
    assert any(s["source"] == "user" for s in doc["steps"])
    fm = doc["final_metrics"]
    assert fm["total_prompt_tokens"] == sum(c.prompt_tokens for c in result.model_calls)
    assert fm["total_completion_tokens"] == sum(c.completion_tokens for c in result.model_calls)
    assert fm["total_steps"] == len(doc["steps"])
    last = doc["steps"][-1]
    assert last["source"] == "system" and "passed" in last["message"]
    assert last["observation"]["results"][0]["content"] == (folder / "test_output.txt").read_text()
    assert doc["extra"]["cab"]["passed"] is True
    assert {s["kind"] for s in doc["extra"]["cab"]["spans"]} >= {"task_setup", "verify"}


@pytest.mark.slow
def test_tool_results_become_observations_of_the_step_that_called(mini_cell):
    """The mini agent answers with tool calls; each result it sent back sits on the step that called."""
    _, folder, _ = mini_cell
    doc = json.loads(run_cab("export", "atif", folder, check=True).stdout)
    calling = [s for s in doc["steps"] if s.get("tool_calls")]
    assert calling
    for step in calling:
        answered = {r.get("source_call_id") for r in step["observation"]["results"]}
        assert {t["tool_call_id"] for t in step["tool_calls"]} <= answered
        assert all(isinstance(r["content"], str) for r in step["observation"]["results"])


@pytest.mark.slow
def test_sweep_export_writes_one_trajectory_per_cell(tmp_path):
    results = tmp_path / "results"
    run_cab("sweep", "--adapters", "command", "--models", "oracle,noop", "--tasks", "polyglot/python-slugify",
            "--results", results, "--sweep-id", "s1", check=True)
    out = tmp_path / "atif"
    proc = run_cab("export", "atif", "s1", "--results", results, "--out", out)
    assert proc.returncode == 0, proc.stderr
    files = sorted(out.rglob("trajectory.json"))
    assert len(files) == 2
    for path in files:
        doc = json.loads(path.read_text())
        check_rules(doc)
        assert doc["steps"][0]["source"] == "agent" and doc["steps"][0]["llm_call_count"] == 0
    assert (out / "s1/command/oracle/polyglot/python-slugify/trial-1/trajectory.json").is_file()
    one = run_cab("export", "atif", "s1/command/noop/polyglot/python-slugify", "--results", results)
    assert one.returncode == 0 and json.loads(one.stdout)["extra"]["cab"]["passed"] is False
    many = run_cab("export", "atif", "s1", "--results", results)
    assert many.returncode == 2 and "give --out DIR" in many.stderr
    # a cell whose record is unreadable, and one whose identity points outside --out, are skipped, named
    noop = results / "s1/command/noop/polyglot/python-slugify/trial-1/cell.json"
    doc = json.loads(noop.read_text())
    doc["identity"]["sweep"] = "../../../escaped"
    noop.write_text(json.dumps(doc))
    oracle = results / "s1/command/oracle/polyglot/python-slugify/trial-1/cell.json"
    oracle.write_text("{not json")
    out2 = tmp_path / "atif2"
    proc = run_cab("export", "atif", "s1", "--results", results, "--out", out2)
    assert proc.returncode == 1
    assert "skipped cannot read cell" in proc.stderr and "would write outside" in proc.stderr
    assert not list(tmp_path.rglob("escaped")) and not list(out2.rglob("trajectory.json"))
    single = run_cab("export", "atif", oracle.parent)
    assert single.returncode == 2 and single.stderr.startswith("Error: cannot read cell")
    missing = run_cab("export", "atif", "nope", "--results", results)
    assert missing.returncode == 2 and missing.stderr.startswith("Error: no cell or sweep 'nope'")
    assert len(missing.stderr.strip().splitlines()) == 1


# --------------------------------------------------------------------------- records cab has, shapes the proxy sees

T0 = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)


def _cell(calls, *, final_output="done", spans=()):
    ident = CellId(sweep="s", adapter="a", model="m", task="t/x")
    return CellResult(cell_id=ident.cell_id, identity=ident, started_at=T0, ended_at=T0, duration_s=1.0,
                      model_calls=calls, spans=spans, final_output=final_output)


def _call(index, messages, **kw):
    return ModelCall(index=index, timestamp=T0 + dt.timedelta(seconds=index), request_hash=f"h{index}", model="m",
                     messages=messages, **kw)


def test_what_atif_cannot_hold_is_kept_in_extra_never_made_up():
    calls = [
        _call(0, [{"role": "user", "content": "fix it"}],
              tool_calls=[ToolCall(id="c1", name="bash", arguments="{not json")], usage_source="none"),
        _call(1, [{"role": "user", "content": "fix it"},
                  {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function",
                                                                          "function": {"name": "bash", "arguments": "x"}}]},
                  {"role": "tool", "tool_call_id": "c1", "content": "ok"},
                  {"role": "tool", "tool_call_id": "ghost", "content": "from nowhere"}],
              completion="done", prompt_tokens=10, completion_tokens=2, total_tokens=12, usage_source="estimated"),
    ]
    doc = cell_trajectory(_cell(calls))
    check_rules(doc)
    first = doc["steps"][1]
    assert first["tool_calls"][0]["arguments"] == {}
    assert first["tool_calls"][0]["extra"]["cab"]["arguments_raw"] == "{not json"
    assert "prompt_tokens" not in first["metrics"] and first["metrics"]["extra"]["cab"]["usage_source"] == "none"
    results = first["observation"]["results"]
    assert results[0] == {"source_call_id": "c1", "content": "ok"}
    assert doc["steps"][2]["metrics"]["extra"]["cab"]["usage_source"] == "estimated"
    ghost = [r for s in doc["steps"] for r in (s.get("observation") or {}).get("results", ()) if "extra" in r]
    assert ghost and ghost[0]["extra"]["cab"]["tool_call_id"] == "ghost" and "source_call_id" not in ghost[0]
    assert "total_cost_usd" not in doc["final_metrics"]  # no price known: absent, never 0
    assert doc["final_metrics"]["extra"]["cab"]["uncounted_calls"] == 1


def test_history_no_call_produced_and_anthropic_blocks():
    calls = [_call(0, [{"role": "system", "content": "sys"},
                       {"role": "user", "content": [{"type": "text", "text": "go"}]},
                       {"role": "assistant", "content": [{"type": "text", "text": "prefilled"},
                                                         {"type": "tool_use", "id": "t1", "name": "ls", "input": {"p": "."}}]},
                       {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "a.py"}]}],
                 completion="ok")]
    doc = cell_trajectory(_cell(calls))
    check_rules(doc)
    sources = [s["source"] for s in doc["steps"]]
    assert sources == ["system", "user", "agent", "agent"]
    prefilled = doc["steps"][2]
    assert prefilled["llm_call_count"] == 0 and prefilled["tool_calls"][0]["arguments"] == {"p": "."}
    assert prefilled["observation"]["results"] == [{"source_call_id": "t1", "content": "a.py"}]


def test_a_cell_without_model_calls_is_one_agent_step_with_its_output():
    verify = Span(span_id="v", kind="verify", name="verify", start=T0, duration_ms=5.0, attrs={"verdict": "1 failed"})
    doc = cell_trajectory(_cell([], final_output="printed", spans=[verify]))
    check_rules(doc)
    assert doc["steps"][0]["message"] == "printed" and doc["steps"][0]["llm_call_count"] == 0
    assert doc["steps"][1]["source"] == "system" and "1 failed" in doc["steps"][1]["message"]
    assert doc["final_metrics"]["total_prompt_tokens"] == 0


def test_the_schema_rejects_what_it_should():
    """The vendored schema is not vacuous: a step without a source, or an unknown field, fails."""
    doc = cell_trajectory(_cell([], final_output="x"))
    bad = json.loads(json.dumps(doc))
    del bad["steps"][0]["source"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(SCHEMA).validate(bad)
    bad = json.loads(json.dumps(doc))
    bad["steps"][0]["tokens"] = 3
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(SCHEMA).validate(bad)
