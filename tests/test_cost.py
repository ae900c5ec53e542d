"""Cost in dollars: the price database, --price, cost per call, per cell and per sweep.

The cell test runs the real mini agent through the real recording proxy against the
scripted server used as an ordinary endpoint (so it is not free), and recomputes the
cell's cost by hand from nothing but the price table the cell recorded.
"""

import json
from pathlib import Path

import pytest

from cab_core.errors import CabError
from cab_core.models import ModelCall, utcnow
from cab_core.pricing import FREE_SCRIPTED, Price, PriceTable, cached_input_tokens, database, parse_price, total_cost
from cab_core.stats import group_stats

from conftest import run_cab


def call(model="m", prompt=1000, completion=200, cached=None, cost=None, index=0):
    return ModelCall(index=index, timestamp=utcnow(), request_hash="h", model=model, prompt_tokens=prompt,
                     completion_tokens=completion, total_tokens=prompt + completion, cached_tokens=cached, cost_usd=cost)


def test_parse_price():
    assert parse_price("my/model=0.5,1.5") == ("my/model", Price(input=0.5, output=1.5, source="--price"))
    assert parse_price("m=1,2,0.25")[1].cached_input == 0.25


@pytest.mark.parametrize("bad", ["m", "m=1", "m=1,2,3,4", "=1,2", "m=a,b", "m=-1,2", "m=nan,1"])
def test_parse_price_rejects_bad_values_in_one_line(bad):
    with pytest.raises(CabError) as info:
        parse_price(bad)
    assert "\n" not in str(info.value) and "MODEL=INPUT,OUTPUT" in str(info.value)


def test_price_cost_with_cached_input_and_tiers():
    price = Price(input=3.0, output=15.0, cached_input=0.3, input_tiers=((200_000, 6.0),), output_tiers=((200_000, 22.5),))
    assert price.cost(1000, 200, cached=400) == pytest.approx((600 * 3 + 400 * 0.3 + 200 * 15) / 1e6)
    # A prompt past the tier's start pays the tier's price on every token (cliff pricing, as the database defines).
    assert price.cost(300_000, 10) == pytest.approx((300_000 * 6 + 10 * 22.5) / 1e6)
    # Without a cached-input price, cached tokens are plain input.
    assert Price(input=2, output=4).cost(100, 0, cached=50) == pytest.approx(200 / 1e6)


def test_database_prices_known_models_offline_and_says_which_version():
    assert database().startswith("genai-prices ")
    table = PriceTable()
    gpt = table.price("gpt-4o-2024-08-06")
    assert gpt is not None and gpt.source == database() and gpt.input > 0 and gpt.output > gpt.input
    assert table.price("openai/gpt-4o") == gpt  # provider/model names the provider
    claude = table.price("claude-sonnet-4-5")
    assert claude is not None and claude.input_tiers  # tiered prices are carried, not flattened
    assert table.price("my-local-qwen") is None
    record = table.to_record()
    assert record["database"] == database() and record["models"]["my-local-qwen"] is None


def test_user_price_overrides_database_and_matches_the_name_without_prefix():
    table = PriceTable(overrides=dict([parse_price("openai/gpt-4o=1,2")]))
    assert table.price("gpt-4o").source == "--price" and table.price("gpt-4o").input == 1


def test_unknown_price_is_unknown_never_zero():
    table = PriceTable()
    cost, name, source = table.price_call(call(model="my-local-qwen"), "my-local-qwen")
    assert (cost, name, source) == (None, "", "")
    assert total_cost([call(cost=0.5), call(cost=None)]) is None


def test_scripted_server_calls_are_free_by_definition():
    price = PriceTable(scripted=True).price("oracle")
    assert price.source == FREE_SCRIPTED and price.cost(10**6, 10**6) == 0


def test_an_agent_cannot_price_its_calls_free_by_naming_a_scripted_model():
    # Against a real endpoint, "scripted/x" is just a name: priced as the cell's model.
    table = PriceTable(overrides=dict([parse_price("acme/big=10,20")]))
    cost, name, source = table.price_call(call(model="scripted/oracle", prompt=1000, completion=0), "acme/big")
    assert (name, source) == ("acme/big", "--price") and cost == pytest.approx(0.01)


def test_cached_tokens_in_each_protocols_spelling():
    assert cached_input_tokens({"prompt_tokens_details": {"cached_tokens": 7}}) == 7
    assert cached_input_tokens({"input_tokens_details": {"cached_tokens": 5}}) == 5
    assert cached_input_tokens({"cache_read_input_tokens": 3}) == 3
    assert cached_input_tokens({"prompt_tokens": 3}) is None


def test_group_usd_per_correct_is_null_when_unknown_or_nothing_passed():
    row = {"task": "t", "status": "ok", "total_tokens": 10}
    assert group_stats([{**row, "passed": 1, "cost_usd": 0.2}, {**row, "passed": 0, "cost_usd": 0.1}])["usd_per_correct"] == \
        pytest.approx(0.3)
    assert group_stats([{**row, "passed": 0, "cost_usd": 0.1}])["usd_per_correct"] is None
    assert group_stats([{**row, "passed": 1, "cost_usd": 0.2}, {**row, "passed": 1, "cost_usd": None}])["usd_per_correct"] is None


def _hand_cost(cell: dict, calls: list[dict]) -> float:
    """The cost from the recorded price table alone (flat prices, per million tokens)."""
    total = 0.0
    for c in calls:
        p = cell["prices"]["models"][c["priced_as"]]
        cached = min(c["cached_tokens"] or 0, c["prompt_tokens"]) if p["cached_input"] is not None else 0
        total += ((c["prompt_tokens"] - cached) * p["input"] + cached * (p["cached_input"] or 0)
                  + c["completion_tokens"] * p["output"]) / 1e6
    return total


@pytest.mark.slow
def test_cell_cost_equals_hand_computation_from_recorded_prices(tmp_path, scripted_model_server):
    results = tmp_path / "r"
    proc = run_cab("run", "-a", "mini", "-m", "acme/loop", "-t", "polyglot/python-slugify", "--endpoint",
                   scripted_model_server.base_url, "--price", "acme/loop=3,15,0.3", "-o", "max_turns=4",
                   "--results", str(results), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    folder = next(results.rglob("cell.json")).parent
    cell = json.loads((folder / "cell.json").read_text())
    calls = [json.loads(line) for line in (folder / "model_calls.jsonl").read_text().splitlines()]
    assert len(calls) == 4 and all(c["prompt_tokens"] > 0 for c in calls)
    assert cell["prices"]["models"]["acme/loop"] == {"input": 3.0, "output": 15.0, "cached_input": 0.3, "source": "--price"}
    assert cell["prices"]["database"] == database()
    expected = _hand_cost(cell, calls)
    assert expected > 0
    assert sum(c["cost_usd"] for c in calls) == pytest.approx(expected, rel=1e-9)
    block = cell["scores"]["tokens"]["breakdown"]["cost"]
    assert block["total_usd"] == pytest.approx(expected, rel=1e-9) and block["unknown_price_calls"] == 0
    assert list(cell["scores"]["tokens"]["breakdown"])[:3] == ["prompt_tokens", "completion_tokens", "total_tokens"]
    assert f"${expected:.4g}" in proc.stdout
    assert "--price acme/loop=3,15,0.3" in cell["command"]


@pytest.mark.slow
def test_cell_without_a_price_shows_unknown_and_summary_shows_dash(tmp_path, scripted_model_server):
    results = tmp_path / "r"
    proc = run_cab("sweep", "--adapters", "mini", "--models", "acme/noop", "--tasks", "polyglot/python-slugify",
                   "--endpoint", scripted_model_server.base_url, "--sweep-id", "s", "--results", str(results), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    cell = json.loads(next(results.rglob("cell.json")).read_text())
    block = cell["scores"]["tokens"]["breakdown"]["cost"]
    assert block["total_usd"] is None and block["shown"] == "unknown" and cell["prices"]["models"]["acme/noop"] is None
    summary = run_cab("summary", "s", "--results", str(results), "--json", cwd=tmp_path)
    board = json.loads(summary.stdout)["leaderboard"]
    assert board[0]["usd_per_correct"] is None and board[0]["total_usd"] is None
    text = run_cab("summary", "s", "--results", str(results), cwd=tmp_path).stdout
    head, row = [line for line in text.splitlines() if "$/correct" in line or "acme/noop" in line][:2]
    assert "$/correct" in head and " unknown " in row  # unknown, never $0
    csv = run_cab("summary", "s", "--results", str(results), "--csv", cwd=tmp_path).stdout.splitlines()
    columns = csv[0].split(",")
    assert "usd_per_correct" in columns and csv[1].split(",")[columns.index("usd_per_correct")] == ""


@pytest.mark.slow
def test_scripted_cell_is_free_and_said_so(tmp_path):
    proc = run_cab("run", "-a", "mini", "-m", "scripted/noop", "-t", "polyglot/python-slugify", "--results",
                   str(tmp_path / "r"), "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    cell = json.loads(proc.stdout)
    assert cell["model_calls"] and all(c["cost_usd"] == 0 and c["price_source"] == FREE_SCRIPTED for c in cell["model_calls"])
    assert cell["scores"]["tokens"]["breakdown"]["cost"]["shown"] == FREE_SCRIPTED
    from cab_core.cli.cost import cost_lines
    from cab_core.serialization import loads
    from cab_core.models import CellResult

    assert FREE_SCRIPTED in cost_lines(loads(proc.stdout, CellResult))[0]


def test_sweep_file_prices_table_and_bad_price_is_one_line(tmp_path):
    good = tmp_path / "good.toml"
    good.write_text('adapters = ["mini"]\nmodels = ["acme/noop"]\ntasks = ["polyglot/python-slugify"]\n'
                    'max_model_calls = 2\n[prices]\n"acme/noop" = [1, 2]\n')
    from cab_core.sweep import build_spec, load_sweep_file, plan_cells

    spec = build_spec(load_sweep_file(good), {"prices": {"x": "1,1"}})
    cells = plan_cells(spec, ["polyglot/python-slugify"])
    assert set(cells[0].prices) == {"acme/noop=1,2", "x=1,1"} and cells[0].max_model_calls == 2
    bad = tmp_path / "bad.toml"
    bad.write_text('adapters = ["mini"]\ntasks = ["t/x"]\n[prices]\nm = [1]\n')
    with pytest.raises(CabError) as info:
        load_sweep_file(bad)
    assert str(bad) in str(info.value) and "\n" not in str(info.value)
