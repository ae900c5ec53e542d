"""Tests of the JSON-lines exporter: the hooks in-process, parallel writers, and a real cell."""

import datetime as dt
import json
import multiprocessing
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import cab_exporter_jsonl as exporter
from cab_core import AxisScore, CellId, CellResult, Span
from cab_core.testing import write_task

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
CELL = CellId(sweep="s", adapter="a", model="m", task="demo/add")


def _result():
    return CellResult(cell_id=CELL.cell_id, identity=CELL, started_at=NOW, ended_at=NOW, duration_s=1.5,
                      scores={"pass_rate": AxisScore(axis="pass_rate", value=1.0)})


def test_off_unless_the_variable_names_a_file(tmp_path, monkeypatch):
    monkeypatch.delenv(exporter.FILE_VAR, raising=False)
    monkeypatch.chdir(tmp_path)
    exporter.cab_cell_finished(result=_result(), path=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_cells_and_spans_as_lines(tmp_path, monkeypatch):
    out = tmp_path / "cells.jsonl"
    monkeypatch.setenv(exporter.FILE_VAR, str(out))
    span = Span(span_id="1", kind="step", name="verify", start=NOW, duration_ms=3.0)
    exporter.cab_span_finished(cell=CELL, span=span)  # spans are off by default
    exporter.cab_cell_finished(result=_result(), path=tmp_path / "cell")
    monkeypatch.setenv(exporter.SPANS_VAR, "1")
    exporter.cab_span_finished(cell=CELL, span=span)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["event"] for line in lines] == ["cell", "span"]
    assert lines[0]["scores"] == {"pass_rate": 1.0} and lines[0]["passed"] is True
    assert lines[1]["span"]["name"] == "verify" and lines[1]["cell_id"] == CELL.cell_id


def _write_many(path, n):
    for i in range(n):
        exporter.append_line(path, {"i": i, "pad": "x" * 20000})


def test_parallel_writers_never_interleave(tmp_path):
    out = str(tmp_path / "cells.jsonl")
    procs = [multiprocessing.get_context("fork").Process(target=_write_many, args=(out, 25)) for _ in range(4)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
    lines = Path(out).read_text().splitlines()
    assert len(lines) == 100 and all(json.loads(line)["pad"] == "x" * 20000 for line in lines)


def test_registered_hooks_are_called_by_cab(cab_pm, cab_register, tmp_path, monkeypatch):
    from cab_core.registry import Registry

    out = tmp_path / "cells.jsonl"
    monkeypatch.setenv(exporter.FILE_VAR, str(out))
    with cab_register(exporter, name="exporter-jsonl"):
        problems = Registry(cab_pm).notify("cab_cell_finished", result=_result(), path=tmp_path)
    assert problems == [] and json.loads(out.read_text())["cell_id"] == CELL.cell_id


def _cab():
    found = Path(sys.executable).with_name("cab")
    return str(found) if found.exists() else shutil.which("cab")


@pytest.mark.slow
@pytest.mark.skipif(_cab() is None, reason="the cab console script is not installed")
def test_a_real_cell_is_exported(tmp_path):
    write_task(tmp_path / "tasks")
    out = tmp_path / "cells.jsonl"
    proc = subprocess.run(
        [_cab(), "run", "--adapter", "command", "--model", "oracle", "--task", "demo/add",
         "--tasks-dir", str(tmp_path / "tasks"), "--results", str(tmp_path / "results")],
        capture_output=True, text=True, timeout=300, env={**__import__("os").environ, exporter.FILE_VAR: str(out)},
    )
    assert proc.returncode == 0, proc.stderr
    [line] = [json.loads(line) for line in out.read_text().splitlines()]
    assert line["cell_id"].endswith("/command/oracle/demo/add") and line["passed"] is True
    assert Path(line["path"], "cell.json").is_file()
