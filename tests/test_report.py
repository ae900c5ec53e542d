"""The static report (``cab report``, ``cab view``, ``cab badge``): content, safety, and the pages in a browser.

A small sweep is run once per module with the real ``cab run`` (offline: scripted models
and the command adapter).  The browser tests drive Debian's chromium through Playwright
(``executable_path``, nothing downloaded) and save screenshots under ``test-artifacts/report``;
they fail, not skip, when ``CI`` is set and chromium is missing.
"""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from cab_core.secrets import MASK, Redactor

from conftest import CAB, ROOT, require_browser, run_cab

SWEEP = "rep"
SLUGIFY = "polyglot/python-slugify"
ARTIFACTS = ROOT / "test-artifacts" / "report"
AXES = ("pass_rate", "tokens", "latency", "blast_radius", "refusal", "integrity", "composite")

#: An agent that prints markup meant to run in the report, slowly (so playback can be watched),
#: and writes some into a file (so the diff holds it too).
HOSTILE = (
    "for i in 1 2 3 4 5 6; do echo \"step $i <b>bold</b>\"; sleep 0.3; done; "
    "echo '<script>window.__pwned=1</script><img src=x onerror=\"window.__pwned=2\">'; "
    "echo '</script><script>window.__pwned=3</script>' >> slugify.py; "
    "printf '\\033[31mred\\033[0m done\\n'"
)

CELLS = [
    ("mini", "scripted/oracle", SLUGIFY, ()),
    ("mini", "scripted/noop", SLUGIFY, ()),
    ("mini", "scripted/vandal", SLUGIFY, ()),
    ("command", "oracle", SLUGIFY, ()),
    ("command", "hostile", SLUGIFY, ("-o", f"command={HOSTILE}")),
]


def cell_dir(results: Path, adapter: str, model: str, task: str = SLUGIFY, trial: int = 1) -> Path:
    return results.joinpath(SWEEP, adapter, *model.split("/"), *task.split("/"), f"trial-{trial}")


def page_of(site: Path, adapter: str, model: str, task: str = SLUGIFY, trial: int = 1) -> Path:
    return site.joinpath("cells", SWEEP, adapter, *model.split("/"), *task.split("/"), f"trial-{trial}", "index.html")


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """A results folder with one small sweep, and the report built from it with the CLI."""
    base = tmp_path_factory.mktemp("report")
    results, site = base / "results", base / "site"

    def run(cell):
        adapter, model, task, extra = cell
        return run_cab("run", "-a", adapter, "-m", model, "-t", task, "--results", results, "--sweep-id", SWEEP,
                       *extra, timeout=300)

    with ThreadPoolExecutor(max_workers=3) as pool:
        procs = list(pool.map(run, CELLS))
    for cell, proc in zip(CELLS, procs):
        assert (cell_dir(results, cell[0], cell[1]) / "cell.json").is_file(), (cell, proc.stdout, proc.stderr)
    proc = run_cab("report", results, "--out", site, check=True)
    assert "5 cells in 1 sweep" in proc.stdout, proc.stdout
    return results, site


def cell_json(results: Path, adapter: str, model: str) -> dict:
    return json.loads((cell_dir(results, adapter, model) / "cell.json").read_text())


# ----------------------------------------------------------------------------- the site as files


@pytest.mark.slow
def test_site_layout_and_no_outside_requests(sweep):
    results, site = sweep
    assert (site / "index.html").is_file()
    assert (site / "sweeps" / SWEEP / "index.html").is_file()
    for name in ("style.css", "cab.js", "player.js", "trace.js"):
        assert (site / "static" / name).is_file(), name
    pages = list(site.rglob("*.html"))
    assert len(pages) == 2 + len(CELLS)
    for page in pages:
        text = page.read_text()
        assert "Content-Security-Policy" in text and "script-src 'self'" in text, page
        # no fonts, scripts, styles or images from anywhere else
        assert not re.search(r"""(src|href)=["'](https?:)?//""", text), page
        assert "@import" not in text and "url(http" not in text, page
    css = (site / "static" / "style.css").read_text()
    assert "http" not in css.replace("http://www.w3.org", "")
    for js in ("cab.js", "player.js", "trace.js"):
        code = (site / "static" / js).read_text()
        assert "fetch(" not in code and "XMLHttpRequest" not in code and "import(" not in code, js
    assert list(site.glob("badges/cells/**/*.svg")) and list(site.glob("badges/groups/**/*.svg"))


@pytest.mark.slow
def test_cell_page_shows_everything_the_reference_does(sweep):
    results, site = sweep
    cell = cell_json(results, "mini", "scripted/oracle")
    text = page_of(site, "mini", "scripted/oracle").read_text()
    for axis in AXES:
        m = re.search(rf'data-axis="{axis}" data-value="([^"]*)"', text)
        assert m, axis
        assert json.loads(html.unescape(m.group(1))) == cell["scores"][axis]["value"], axis
    for needle in (cell["cell_id"], SWEEP, cell["model_build_id"], "exit code", "image digest", "agent version",
                   "started", "ended", "duration", "Scorer breakdown", "Trace", "Terminal", "Model calls",
                   "request hash", "Diff", "Run it yourself", "Embed this result", "Markdown", "HTML"):
        assert html.escape(needle, quote=False) in text, needle
    for call in cell["model_calls"]:
        assert call["request_hash"] in text
    for span in cell["spans"]:
        assert f'data-span-id="{span["span_id"]}"' in text
    assert html.escape(cell["command"], quote=False) in text
    assert "+import unicodedata" not in text and "import unicodedata" in text  # the diff, as rows
    assert 'class="d-add"' in text and 'class="d-del"' in text


@pytest.mark.slow
def test_reproduce_command_has_no_key_and_docker_when_docker_ran(tmp_path, sweep):
    results, site = sweep
    text = page_of(site, "command", "oracle").read_text()
    assert "cab run --adapter command --model oracle --task polyglot/python-slugify --sweep-id rep" in text
    assert "docker pull" not in text  # the local sandbox ran it
    # A cell from the docker sandbox: the exact image by digest, then the same cab run in that sandbox.
    src = cell_dir(results, "command", "oracle")
    data = json.loads((src / "cell.json").read_text())
    data.update(sandbox="docker", container_image="cab/python:3.11", image_digest="sha256:" + "ab" * 32,
                command=data["command"] + " --endpoint https://example.test/v1 --api-key-env MY_KEY --sandbox docker")
    dst = tmp_path / "results" / "d" / "command" / "oracle" / "polyglot" / "python-slugify" / "trial-1"
    dst.mkdir(parents=True)
    data["identity"]["sweep"] = "d"
    data["cell_id"] = data["cell_id"].replace(f"{SWEEP}/", "d/", 1)
    (dst / "cell.json").write_text(json.dumps(data))
    from cab_core.report import build_site

    out = build_site(tmp_path / "results", tmp_path / "site")
    page = (out.out / "cells" / "d" / "command" / "oracle" / "polyglot" / "python-slugify" / "trial-1" / "index.html").read_text()
    assert "docker pull cab/python:3.11@sha256:" + "ab" * 32 in page
    assert "--sandbox docker" in page and "$MY_KEY" in page


@pytest.mark.slow
def test_agent_markup_is_text_not_html(sweep):
    results, site = sweep
    text = page_of(site, "command", "hostile").read_text()
    assert "<script>window.__pwned" not in text
    assert "<img src=x" not in text
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in text
    assert "&lt;b&gt;bold&lt;/b&gt;" in text
    # the recording travels as JSON that no string inside can close
    block = re.search(r'<script type="application/json" id="cast-data">(.*?)</script>', text, re.S)
    assert block and "</" not in block.group(1) and "<" not in block.group(1)
    assert "window.__pwned=1" in json.loads(block.group(1))["events"][-2][2] or any(
        "window.__pwned=1" in e[2] for e in json.loads(block.group(1))["events"])
    # only our own scripts are loaded
    scripts = re.findall(r"<script\b([^>]*)>", text)
    assert all('type="application/json"' in s or re.search(r'src="(\.\./)+static/\w+\.js"', s) for s in scripts), scripts


@pytest.mark.slow
def test_no_page_contains_a_secret(tmp_path, monkeypatch, sweep):
    """A record written without masking (an old cab, a hand edit) is masked by the report anyway."""
    results, _ = sweep
    env_secret = "hunter2-" + "Q7xk" * 6
    literal_key = "sk-" + "A1b2C3d4" * 4
    flag_value = "plainflagvalue-9911"
    monkeypatch.setenv("MY_SERVICE_TOKEN", env_secret)
    src = cell_dir(results, "mini", "scripted/oracle")
    dst = tmp_path / "results" / SWEEP / "mini" / "scripted" / "oracle" / "polyglot" / "python-slugify" / "trial-1"
    dst.mkdir(parents=True)
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    data = json.loads((dst / "cell.json").read_text())
    data["spans"][0]["attrs"]["argv"] = ["agent", "--api-key", flag_value, f"--token={flag_value}"]
    data["spans"][0]["attrs"]["api_key"] = flag_value
    data["model_calls"][0]["messages"][0]["content"] += f" use {env_secret} and {literal_key}"
    data["final_output"] = f"OPENAI_API_KEY=zz{flag_value}x2 Authorization: Bearer {flag_value}"
    data["command"] += f" -o env.MY_SERVICE_TOKEN={env_secret}"
    (dst / "cell.json").write_text(json.dumps(data, ensure_ascii=False))
    (dst / "agent_output.txt").write_text(f"key {literal_key} and {env_secret}\n")
    with open(dst / "terminal.cast", "a") as fh:
        fh.write(json.dumps([9.0, "o", f"export TOKEN={env_secret}\r\n"]) + "\n")
    (dst / "diff.patch").write_text((dst / "diff.patch").read_text() + f"+API_KEY = '{literal_key}'\n")
    from cab_core.report import build_site

    out = build_site(tmp_path / "results", tmp_path / "site")
    assert out.cells == 1
    files = [p for p in out.out.rglob("*") if p.is_file()]
    assert len(files) > 10
    for path in files:
        text = path.read_text(errors="replace")
        for secret in (env_secret, literal_key, flag_value):
            assert secret not in text, (path, secret)
    page = next(out.out.glob("cells/**/index.html")).read_text()
    assert MASK in page


@pytest.mark.slow
def test_badges_and_embed_snippets(sweep):
    results, site = sweep
    cell = cell_json(results, "mini", "scripted/oracle")
    proc = run_cab("badge", results, "--cell", cell["cell_id"], check=True)
    svg = proc.stdout
    assert svg.startswith("<svg") and "mini × scripted/oracle" in svg and "pass" in svg
    proc = run_cab("badge", results, "-a", "mini", "-m", "scripted/noop", check=True)
    assert "pass 0% (0/1)" in proc.stdout
    out = site / "noop.svg"
    run_cab("badge", results, "-a", "mini", "-m", "scripted/noop", "-o", out, check=True)
    assert out.read_text().startswith("<svg")
    proc = run_cab("badge", results, "--cell", "nope/none")
    assert proc.returncode == 2 and "Error: no cell 'nope/none'" in proc.stderr
    text = page_of(site, "mini", "scripted/oracle").read_text()
    assert "[![CodingAgentBench: mini × scripted/oracle on polyglot/python-slugify: passed](" in text
    sweep_page = (site / "sweeps" / SWEEP / "index.html").read_text()
    assert "badges/groups/rep/mini/scripted/oracle.svg" in sweep_page


def test_badge_escapes_names():
    from cab_core import badges

    svg = badges.group_badge({"adapter": "<a&b>", "model": '"m"', "pass_rate": 0.5, "passes": 1, "scored": 2})
    assert "<a&b>" not in svg and "&lt;a&amp;b&gt;" in svg


@pytest.mark.slow
def test_out_folder_rules(tmp_path, sweep):
    results, _ = sweep
    proc = run_cab("report", results, "--out", results / "site")
    assert proc.returncode == 2 and "inside the results folder" in proc.stderr
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    (stranger / "keep.txt").write_text("mine")
    proc = run_cab("report", results, "--out", stranger)
    assert proc.returncode == 2 and "is not a cab report" in proc.stderr
    assert (stranger / "keep.txt").read_text() == "mine"


@pytest.mark.slow
def test_rebuild_prunes_stale_pages(tmp_path, sweep):
    results, _ = sweep
    from cab_core.report import build_site

    out = tmp_path / "site"
    build_site(results, out)
    stale = out / "cells" / SWEEP / "gone" / "index.html"
    stale.parent.mkdir(parents=True)
    stale.write_text("old")
    again = build_site(results, out)
    assert not stale.exists() and again.cells == len(CELLS)


def test_help_does_not_import_jinja():
    code = "import sys; from cab_core.cli import cli; print('jinja2' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "False"


@pytest.mark.slow
def test_view_serves_the_site_on_loopback(sweep):
    _, site = sweep
    proc = subprocess.Popen([CAB, "view", str(site), "--no-open"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+/", line).group(0)
        with urllib.request.urlopen(url + "index.html", timeout=10) as resp:
            assert resp.status == 200
            assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
            assert "sweeps" in resp.read().decode()
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(url + "cells/", timeout=10)  # no directory listings
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# ----------------------------------------------------------------------------- units


def test_scrubber_rules():
    from cab_core.report.data import Scrubber

    s = Scrubber(Redactor(["s3cr3t-value"], include_environment=False))
    assert s.text("x s3cr3t-value y") == f"x {MASK} y"
    assert s.tree(["tool", "--api-key", "abc", "--model", "m"]) == ["tool", "--api-key", MASK, "--model", "m"]
    assert s.tree(["--token=abc"]) == [f"--token={MASK}"]
    assert s.tree({"api_key": "abc", "prompt_tokens": 5, "api_key_env": "MY_KEY", "env_keys": ["A_KEY"]}) == {
        "api_key": MASK, "prompt_tokens": 5, "api_key_env": "MY_KEY", "env_keys": ["A_KEY"]}
    assert s.text("export GITHUB_TOKEN=abcDEF1234567890") == f"export GITHUB_TOKEN={MASK}"
    assert s.text("API_KEY = os.environ['X']") == "API_KEY = os.environ['X']"  # code, not a literal
    assert s.text('"prompt_tokens": 1234567890123') == '"prompt_tokens": 1234567890123'
    assert s.text("Authorization: Bearer abcdefgh12345") == f"Authorization: Bearer {MASK}"


def test_the_report_masks_every_key_shape_with_the_one_masker():
    """The report's scrubbing goes through cab_core.secrets: every shape is masked, ordinary text is not."""
    from cab_core.report.data import Scrubber

    samples = ["sk-" + "a" * 20, "sk-ant-" + "b" * 20, "AKIA" + "A" * 16, "ASIA" + "B" * 16, "ghp_" + "c" * 36,
               "github_pat_" + "d" * 42, "glpat-" + "e" * 22, "xoxb-" + "1" * 12, "AIza" + "d" * 35,
               "nvapi-" + "e" * 24, "hf_" + "f" * 32, "gsk_" + "g" * 32, "xai-" + "h" * 32, "pplx-" + "i" * 32,
               "r8_" + "j" * 32, "eyJ" + "k" * 12 + ".eyJ" + "l" * 12 + "." + "m" * 12,
               "-----BEGIN RSA PRIVATE KEY-----\nabc\n-----END RSA PRIVATE KEY-----"]
    s = Scrubber(Redactor(include_environment=False))
    for sample in samples:
        assert s.text(f"<td>before {sample} after</td>") == f"<td>before {MASK} after</td>", sample
    assert s.text("Authorization: Bearer " + "n" * 24) == f"Authorization: Bearer {MASK}"
    ordinary = "task-0123456789abcdefghij disk-usage-calculator-tool " * 50
    assert s.text(ordinary) == ordinary


def test_json_script_cannot_be_closed():
    from cab_core.report.site import json_script

    out = str(json_script({"a": "</script><script>alert(1)</script><!--"}, "x"))
    assert out.count("</script>") == 1 and "<!--" not in out
    body = out[out.index(">") + 1: out.rindex("<")]
    assert json.loads(body) == {"a": "</script><script>alert(1)</script><!--"}


def test_diff_view_numbers_lines_and_marks_words():
    from cab_core.report.data import diff_view

    patch = ("diff --git a/x.py b/x.py\nindex 1..2 100644\n--- a/x.py\n+++ b/x.py\n@@ -1,3 +1,3 @@\n a = 1\n"
             "-b = compute(2)\n+b = compute(3)\n c = 4\n")
    view = diff_view(patch)
    (f,) = view["files"]
    assert f["name"] == "x.py" and f["added"] == 1 and f["removed"] == 1
    rows = [r for r in f["rows"] if r["kind"] != "hunk"]
    assert [(r["kind"], r["old"], r["new"]) for r in rows] == [("ctx", 1, 1), ("del", 2, ""), ("add", "", 2), ("ctx", 3, 3)]
    assert ("3", True) in rows[2]["segments"] and ("2", True) in rows[1]["segments"]


def test_cast_view_reads_asciicast_v2():
    from cab_core.report.data import Scrubber, cast_view

    text = '{"version": 2, "width": 80, "height": 24}\n[0.5, "o", "hi"]\n[1.0, "i", "typed"]\n[2.5, "m", "chapter"]\n'
    view = cast_view(text, Scrubber(Redactor(include_environment=False)))
    assert view["width"] == 80 and view["duration"] == 2.5
    assert [e[1] for e in view["events"]] == ["o", "m"] and view["markers"] == [{"t": 2.5, "label": "chapter"}]
    assert cast_view("not json\n", Scrubber()) is None


# ----------------------------------------------------------------------------- in a browser


_require_browser = require_browser


@pytest.fixture
def browser(chromium):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return chromium


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.errors = []
    pg.on("pageerror", lambda exc: pg.errors.append(str(exc)))
    pg.on("console", lambda msg: pg.errors.append(msg.text) if msg.type == "error" else None)
    pg.on("dialog", lambda dialog: (pg.errors.append("dialog: " + dialog.message), dialog.dismiss()))
    requests = []
    pg.on("request", lambda req: requests.append(req.url))
    pg.requests = requests
    yield pg
    context.close()


def _open(pg, path: Path):
    pg.goto(path.resolve().as_uri())
    _ready(pg)


# The pages' CSP forbids eval, which Playwright's wait_for_function uses: wait on selectors instead.
def _ready(pg):
    pg.wait_for_selector("html[data-ready='1']", state="attached")


def _wait_until(check, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.mark.slow
def test_browser_cell_page(sweep, page):
    results, site = sweep
    cell = cell_json(results, "mini", "scripted/oracle")
    _open(page, page_of(site, "mini", "scripted/oracle"))
    page.screenshot(path=str(ARTIFACTS / "cell-oracle.png"), full_page=True)

    # the seven built-in axes, in the scorers' order (a registered third-party axis may sit between them)
    cards = page.locator("section.axes .axis")
    shown = {cards.nth(i).get_attribute("data-axis"): cards.nth(i) for i in range(cards.count())}
    assert [a for a in shown if a in AXES] == list(AXES)
    scores = cell["scores"]
    latency = scores["latency"]["value"]
    expect = {  # printed by each scorer's declared format (cab_core.scoring.format_value)
        "pass_rate": "1.000", "tokens": f"{scores['tokens']['value']:.0f}",
        "latency": f"{latency:.0f}ms" if latency < 1000 else f"{latency / 1000:.2f}s",
        "blast_radius": "0.000", "refusal": "n/a", "integrity": "1.000", "composite": f"{scores['composite']['value']:.3f}",
    }
    for axis in AXES:
        assert json.loads(shown[axis].get_attribute("data-value")) == scores[axis]["value"], axis
        assert shown[axis].locator(".axis-value").inner_text().strip() == expect[axis], axis

    # the trace timeline lists the spans, and steps through them
    rows = page.locator(".trace .tl-row[data-index]")
    assert rows.count() == len(cell["spans"])
    names = {rows.nth(i).locator(".span-name").inner_text() for i in range(rows.count())}
    assert names == {s["name"] for s in cell["spans"]}
    assert page.locator(".trace .tl-row.sel").get_attribute("data-index") == "0"
    page.locator('.trace [data-act="next"]').click()
    assert page.locator(".trace .tl-row.sel").get_attribute("data-index") == "1"
    assert page.locator("#sd-1").is_visible() and not page.locator("#sd-0").is_visible()
    page.locator(".trace").press("ArrowRight")
    assert page.locator(".trace .tl-row.sel").get_attribute("data-index") == "2"

    # a model call expands
    detail = page.locator("#call-detail-0")
    assert not detail.is_visible()
    page.locator("#call-0 button.expander").click()
    assert detail.is_visible()
    assert "slugify() in slugify.py" in detail.inner_text()
    assert page.locator("#call-0 button.expander").get_attribute("aria-expanded") == "true"
    detail.screenshot(path=str(ARTIFACTS / "cell-oracle-call.png"))
    page.locator("#trace").screenshot(path=str(ARTIFACTS / "cell-oracle-trace.png"))
    assert page.errors == []
    assert all(u.startswith("file://") for u in page.requests), page.requests


@pytest.mark.slow
def test_browser_terminal_playback_advances(sweep, page):
    _, site = sweep
    _open(page, page_of(site, "command", "hostile"))
    player = page.locator(".player")
    clock = page.locator(".pc-time")
    duration = float(page.locator(".pc-seek").get_attribute("max"))
    assert duration > 1.5
    assert float(clock.get_attribute("data-time")) == 0
    page.locator(".pc-speed").select_option("0.5")  # a wide window to look at it mid-way, even on a busy machine
    page.locator(".big-play").click()
    _wait_until(lambda: float(clock.get_attribute("data-time")) > 0.4)
    page.locator(".pc-play").click()  # pause
    assert player.get_attribute("data-state") == "paused"
    mid = float(clock.get_attribute("data-time"))
    screen = page.locator(".term").inner_text()
    assert 0 < mid < duration
    assert "step 1 <b>bold</b>" in screen and "done" not in screen
    page.locator("#terminal").screenshot(path=str(ARTIFACTS / "terminal-playing.png"))
    page.locator(".pc-speed").select_option("4")
    page.locator(".pc-play").click()  # resume
    page.wait_for_selector(".player[data-state='ended']", state="attached", timeout=20000)
    screen = page.locator(".term").inner_text()
    assert "step 6 <b>bold</b>" in screen and "red done" in screen
    assert "<script>window.__pwned=1</script>" in screen  # shown as text
    assert page.locator(".term .f1").first.inner_text() == "red"  # SGR 31 coloured
    assert float(clock.get_attribute("data-time")) == pytest.approx(duration, abs=0.05)
    page.locator("#terminal").screenshot(path=str(ARTIFACTS / "terminal-ended.png"))
    # seeking back replays to that moment
    page.locator(".pc-seek").fill("0.5")
    assert "step 6" not in page.locator(".term").inner_text()
    assert player.get_attribute("data-state") in ("paused", "ended")


@pytest.mark.slow
def test_browser_agent_markup_does_not_run(sweep, page):
    _, site = sweep
    _open(page, page_of(site, "command", "hostile"))
    assert page.evaluate("window.__pwned === undefined")
    out = page.locator('[data-testid="agent-output"]').inner_text()
    assert "<script>window.__pwned=1</script>" in out
    assert "</script><script>window.__pwned=3</script>" in page.locator("#diff").inner_text()
    page.locator(".big-play").click()
    page.wait_for_selector(".player[data-state='ended']", state="attached", timeout=20000)
    assert page.evaluate("window.__pwned === undefined")
    assert page.locator(".term img").count() == 0 and page.locator(".term script").count() == 0
    page.screenshot(path=str(ARTIFACTS / "cell-hostile.png"), full_page=True)
    assert page.errors == []


@pytest.mark.slow
def test_browser_leaderboard_sorts_on_header_click(sweep, page):
    _, site = sweep
    _open(page, site / "sweeps" / SWEEP / "index.html")
    page.screenshot(path=str(ARTIFACTS / "sweep.png"), full_page=True)
    board = page.locator('[data-testid="leaderboard"]')

    def column(index: int) -> list:
        return board.locator("tbody tr").evaluate_all(
            f"rows => rows.map(r => r.cells[{index}].getAttribute('data-sort'))")

    headers = board.locator("thead th")
    labels = [headers.nth(i).inner_text().strip().lower() for i in range(headers.count())]
    axes = [headers.nth(i).get_attribute("data-axis") for i in range(headers.count())]
    latency = axes.index("latency")  # the column's title is the scorer's label
    model = next(i for i, t in enumerate(labels) if "adapter" in t)

    headers.nth(latency).locator("button").click()
    values = [float(v) for v in column(latency)]
    assert values == sorted(values, reverse=True) and len(set(values)) > 1
    assert headers.nth(latency).get_attribute("aria-sort") == "descending"
    headers.nth(latency).locator("button").click()
    assert [float(v) for v in column(latency)] == sorted(values)
    assert headers.nth(latency).get_attribute("aria-sort") == "ascending"

    headers.nth(model).locator("button").click()
    names = column(model)
    assert names == sorted(names, key=str.lower) and headers.nth(model).get_attribute("aria-sort") == "ascending"
    board.screenshot(path=str(ARTIFACTS / "leaderboard-sorted.png"))

    # the matrix links every cell, coloured by outcome
    links = page.locator('[data-testid="matrix"] a.mc')
    assert links.count() == len(CELLS)
    classes = set(links.evaluate_all("as => as.map(a => a.className)"))
    assert "mc o-pass" in classes and "mc o-fail" in classes and "mc o-tamper" in classes
    links.first.click()
    page.wait_for_load_state()
    _ready(page)
    assert page.locator("section.axes .axis").count() >= 7
    assert page.errors == []
