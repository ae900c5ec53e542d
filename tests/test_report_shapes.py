"""``cab report`` renders every valid cell record: a property test over generated ``CellResult``s.

Every optional field of a record present or absent, every axis value null, breakdowns of any
JSON shape (a scorer plugin's breakdown is its own), and strings that are huge or hostile (HTML
and JS injection, control characters, 1 MB lines).  Each generated record is written as a
``cell.json`` and the real ``build_site`` renders it; the page must exist, show nulls as "–",
and carry no markup of the record's.  A sample opens in headless Chromium (Debian's, driven
by Playwright as in ``test_report.py``) and must load without console errors or running
anything of the record's.

A field added to ``CellResult`` later is generated from its type when Hypothesis can, else
left at its default: the test keeps running on records from the future.
"""

from __future__ import annotations

import datetime as _dt
import html
import json
import re
import string
import typing
from pathlib import Path

import attrs
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from cab_core import serialization
from cab_core.models import AxisScore, CellId, CellResult, ModelCall, Mount, Span, ToolCall
from cab_core.report import build_site

import test_report as tr

#: Payloads that would run if the report put a record's text into the page as markup.
INJECTIONS = (
    "<script>window.__pwned=1</script>",
    '"><img src=x onerror="window.__pwned=2">',
    "</script><script>window.__pwned=3</script><!--",
    "javascript:window.__pwned=4",
    "'\"}]};window.__pwned=5;//",
    "{{ 7*7 }}{% raw %}",
    "<svg onload=window.__pwned=6>",
    "\u2028\u2029</textarea><style>*{display:none}</style>",
)
CONTROL = "".join(map(chr, range(0, 32))) + "\x7f\x1b[31mred\x1b[0m\x1b]0;title\x07\ufeff\ufffe"


class Big(str):
    """A huge string that prints short (Hypothesis shows failing examples: not a megabyte of them)."""

    def __repr__(self) -> str:
        return f"Big({len(self)} chars: {str.__repr__(self[:16])}…)"

    def _repr_pretty_(self, p, cycle) -> None:
        p.text(repr(self))


HUGE = (Big("A" * (1 << 20)), Big("<b>x</b>" * (1 << 17)), Big("é\x00\u2028" * (1 << 18)),
        Big(("<script>window.__pwned=7</script>\n" * 2) + "x" * (1 << 20)))

_small_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
text = st.one_of(_small_text, st.sampled_from(INJECTIONS), st.just(CONTROL), st.just(""))
#: Where a record may hold a megabyte: the agent's and the tests' words, a model's answer, the command.
long_text = st.one_of(text, st.sampled_from(HUGE))
# Identity strings: short but hostile (they become titles, crumbs and folder names).
name = st.one_of(st.sampled_from(["pi", "aider", "x/y", "..", ".", "a b", "über"]), st.sampled_from(INJECTIONS),
                 st.text(alphabet=string.printable, min_size=1, max_size=20))
number = st.one_of(st.none(), st.integers(-2**63, 2**63), st.floats(allow_nan=False, allow_infinity=False),
                   st.sampled_from([0, 1, 0.5, 1e300, -1e-300]))
json_value = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**63), st.floats(allow_nan=False, allow_infinity=False),
              text),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_small_text, inner, max_size=4)),
    max_leaves=8,
)
#: Breakdown keys the report reads (so their odd values are exercised), plus any others.
BREAKDOWN_KEYS = ("pass", "partial_score", "timed_out", "prompt_tokens", "completion_tokens", "total_tokens",
                  "model_calls", "container_active_ms", "model_call_ms", "unexpected_changes", "total_changes",
                  "findings", "refusal_produced", "normalisation", "weights", "components", "note", "stdout_tail")
breakdown = st.one_of(st.dictionaries(st.sampled_from(BREAKDOWN_KEYS), json_value, max_size=len(BREAKDOWN_KEYS)),
                      st.dictionaries(_small_text, json_value, max_size=4))
when = st.datetimes(min_value=_dt.datetime(1970, 1, 2), max_value=_dt.datetime(2200, 1, 1),
                    timezones=st.just(_dt.timezone.utc))
AXES = ("pass_rate", "tokens", "latency", "blast_radius", "refusal", "integrity", "composite")


@st.composite
def axis_scores(draw) -> dict:
    names = draw(st.lists(st.sampled_from(AXES), unique=True)) + draw(st.lists(_small_text.filter(bool), max_size=2))
    return {n: AxisScore(axis=n, value=draw(number), breakdown=draw(breakdown), not_applicable=draw(st.booleans()),
                         scorer=draw(name), error=draw(st.one_of(st.none(), text))) for n in names}


spans = st.lists(st.builds(
    Span, span_id=_small_text, kind=st.one_of(st.sampled_from(["task_setup", "container", "verify", "model"]), name),
    name=text, start=when, duration_ms=st.floats(-1e3, 1e12), parent_id=st.one_of(st.none(), _small_text),
    attrs=st.dictionaries(_small_text, json_value, max_size=5), error=st.one_of(st.none(), text)), max_size=6)
messages = st.lists(st.one_of(
    st.fixed_dictionaries({"role": st.sampled_from(["system", "user", "assistant", "tool"]), "content": text}),
    st.dictionaries(_small_text, json_value, max_size=4), json_value), max_size=4)
calls = st.lists(st.builds(
    ModelCall, index=st.integers(-5, 10**6), timestamp=when, request_hash=_small_text, model=name,
    stream=st.booleans(), messages=messages, completion=long_text,
    tool_calls=st.lists(st.builds(ToolCall, id=_small_text, name=name, arguments=st.one_of(text, json_value.map(json.dumps))),
                        max_size=3),
    finish_reason=st.one_of(st.none(), name), prompt_tokens=st.integers(0, 10**12),
    completion_tokens=st.integers(0, 10**12), total_tokens=st.integers(0, 10**12),
    latency_ms=st.floats(0, 1e9), ttft_ms=st.one_of(st.none(), st.floats(0, 1e9)), status=st.integers(0, 999),
    error=st.one_of(st.none(), text), error_kind=st.one_of(st.none(), name)), max_size=4)
agent_tokens = st.one_of(
    st.just({}),
    st.fixed_dictionaries({"reported": st.dictionaries(st.sampled_from(["prompt_tokens", "total_tokens"]), number),
                           "proxy": st.dictionaries(st.sampled_from(["prompt_tokens", "total_tokens"]), number),
                           "agrees": st.one_of(st.booleans(), st.none())}),
    st.dictionaries(_small_text, json_value, max_size=3),
)

FIELDS = {
    "cell_id": text, "status": st.one_of(st.sampled_from(["ok", "infra_error"]), name), "error": st.one_of(st.none(), long_text),
    "started_at": when, "ended_at": when, "duration_s": st.floats(0, 1e9), "exit_code": st.one_of(st.none(), st.integers()),
    "timed_out": st.booleans(), "sandbox": name, "isolation": st.one_of(st.sampled_from(["none", "bwrap"]), name),
    "container_image": st.one_of(st.none(), name), "image_digest": st.one_of(st.none(), name),
    "agent_version": name, "model_build_id": name, "plugin_stack": st.lists(name, max_size=3),
    "scores": axis_scores(), "spans": spans, "model_calls": calls, "final_output": long_text, "final_screen": long_text,
    "files": st.dictionaries(st.sampled_from(["terminal", "diff", "agent_output", "x"]), _small_text, max_size=3),
    "command": long_text, "agent_tokens": agent_tokens, "host": st.dictionaries(_small_text, json_value, max_size=3),
    "mounts": st.lists(st.builds(Mount, path=st.from_regex(r"\A/[a-z0-9_./-]{0,40}\Z"), writable=st.booleans(),
                                 why=_small_text), max_size=3),
    # Cost and budgets (issue 18), and the pushed image's reference.
    "prices": st.one_of(st.just({}), st.fixed_dictionaries({
        "database": name, "models": st.dictionaries(name, st.one_of(st.none(), st.dictionaries(_small_text, number,
                                                                                               max_size=3)), max_size=3)}),
                        st.dictionaries(_small_text, json_value, max_size=3)),
    "budgets": st.dictionaries(st.sampled_from(["max_tokens", "max_cost", "max_model_calls", "x"]), number, max_size=3),
    "budget_exceeded": st.one_of(st.none(), st.fixed_dictionaries({
        "budget": name, "limit": number, "spent": number, "refused_calls": st.integers(0, 100)}),
        st.dictionaries(_small_text, json_value, max_size=3)),
    "image_ref": st.one_of(st.none(), name),
}


def _from_type(field: attrs.Attribute):
    try:
        hint = typing.get_type_hints(CellResult)[field.name]
        return st.from_type(hint)
    except Exception:
        return None


@st.composite
def cell_results(draw, trial: int = 1) -> CellResult:
    """A ``CellResult`` with each optional field present or absent, of any valid shape."""
    ident = CellId(sweep=draw(name), adapter=draw(name), model=draw(name), task=draw(name), trial=trial)
    kwargs = {"identity": ident}
    for field in attrs.fields(CellResult):
        if field.name in ("identity", "schema_version"):
            continue
        required = field.default is attrs.NOTHING
        if not required and not draw(st.booleans()):
            continue  # absent: the default
        strategy = FIELDS[field.name] if field.name in FIELDS else _from_type(field)
        if strategy is None:
            continue
        kwargs[field.name] = draw(strategy)
    kwargs.setdefault("cell_id", ident.cell_id)
    kwargs.setdefault("started_at", _dt.datetime(2026, 1, 1, tzinfo=_dt.timezone.utc))
    kwargs.setdefault("ended_at", kwargs["started_at"])
    kwargs.setdefault("duration_s", 0.0)
    return CellResult(**kwargs)


def write_cells(root: Path, results: list[CellResult]) -> Path:
    base = root / "results"
    for i, result in enumerate(results):
        folder = base / f"c{i}"
        folder.mkdir(parents=True)
        (folder / "cell.json").write_text(serialization.dumps(result, indent=None), encoding="utf-8")
    return base


def render(tmp_path: Path, results: list[CellResult]) -> list[Path]:
    """Build the site of ``results``; every record must give a page (no record is dropped)."""
    out = tmp_path / "site"
    site = build_site(write_cells(tmp_path, results), out, jobs=1)
    assert site.errors == [] and site.cells == len(results), site.errors
    pages = sorted(out.glob("cells/**/index.html"))
    assert len(pages) == len(results)
    for page in pages:
        check_page(page.read_text(encoding="utf-8"))
    return pages


_SCRIPT_TAG = re.compile(r"<script\b([^>]*)>", re.I)


def check_page(text: str) -> None:
    """No markup of the record's in the page; null axes show as "–" (or n/a, error, not scored)."""
    for tag in _SCRIPT_TAG.findall(text):
        assert 'type="application/json"' in tag or re.search(r'src="(\.\./)*static/\w+\.js"', tag), tag
    for raw in ("<img src=x", "<svg onload", "<script>window.__pwned", "<style>*{display"):
        assert raw not in text, raw
    for m in re.finditer(r'data-value="null"[^>]*>\s*<div class="axis-label">[^<]*</div>\s*'
                         r'<div class="axis-value"[^>]*>([^<]*)</div>', text):
        assert m.group(1) in ("–", "n/a", "error"), m.group(1)


def _tmp(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("shape")


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(results=st.lists(cell_results(), min_size=1, max_size=3))
def test_report_renders_every_cell_record(tmp_path_factory, results):
    results = [attrs.evolve(r, identity=attrs.evolve(r.identity, trial=i + 1)) for i, r in enumerate(results)]
    render(_tmp(tmp_path_factory), results)


def test_nulls_show_as_dashes_and_dict_token_counts_render(tmp_path):
    """The issue's crash: an agent's own count is a dict; every axis null; none of it may raise."""
    scores = {n: AxisScore(axis=n, value=None) for n in AXES}
    result = CellResult(
        cell_id="s/pi/scripted/oracle/polyglot/x", identity=CellId(sweep="s", adapter="pi", model="scripted/oracle",
                                                                   task="polyglot/x"),
        started_at=_dt.datetime(2026, 1, 1, tzinfo=_dt.timezone.utc), ended_at=_dt.datetime(2026, 1, 1, tzinfo=_dt.timezone.utc),
        duration_s=1.0, scores=scores,
        agent_tokens={"reported": {"prompt_tokens": 4000, "completion_tokens": 524, "total_tokens": 4524},
                      "proxy": {"prompt_tokens": 4000, "completion_tokens": 524, "total_tokens": 4524}, "agrees": True})
    (page,) = render(tmp_path, [result])
    text = page.read_text()
    assert "4,524 reported · proxy 4,524 · agrees" in text
    shown = re.findall(r'data-axis="(\w+)" data-value="null"[^>]*>\s*<div class="axis-label">[^<]*</div>\s*'
                       r'<div class="axis-value"[^>]*>([^<]*)</div>', text)
    # a null value that does not say it is not applicable is "–" on every axis alike (built-in or not)
    # (a registered axis the cell does not carry has its card too, also "–")
    assert set(dict(shown).values()) == {"–"} and set(AXES) <= set(dict(shown))


# ----------------------------------------------------------------------------- in Chromium


@pytest.mark.slow
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(result=cell_results())
def test_generated_pages_open_in_chromium_without_errors(tmp_path_factory, chromium, result):
    (page_path,) = render(_tmp(tmp_path_factory), [result])
    context = chromium.new_context(viewport={"width": 1200, "height": 900})
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("dialog", lambda d: (errors.append("dialog: " + d.message), d.dismiss()))
        page.goto(page_path.resolve().as_uri())
        page.wait_for_selector("html[data-ready='1']", state="attached", timeout=30000)
        assert page.evaluate("window.__pwned === undefined")
        assert page.locator("section.axes").count() == 1
        assert errors == [], errors
    finally:
        context.close()


def test_artefact_names_never_leave_the_cell_folder(tmp_path):
    """``files`` names the cell's artefacts; a name that is a path out of the folder shows nothing."""
    secret = tmp_path / "outside.txt"
    secret.write_text("OUTSIDE-THE-CELL-0xfeed")
    when_ = _dt.datetime(2026, 1, 1, tzinfo=_dt.timezone.utc)
    files = {"diff": "../../outside.txt", "agent_output": str(secret), "terminal": "..", "test_output": "a\0b"}
    result = CellResult(cell_id="s/a/m/t", identity=CellId(sweep="s", adapter="a", model="m", task="t"),
                        started_at=when_, ended_at=when_, duration_s=0.0, files=files)
    (page,) = render(tmp_path, [result])
    assert "OUTSIDE-THE-CELL" not in page.read_text()
