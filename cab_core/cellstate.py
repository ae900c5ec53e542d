"""What a cell collects while it runs, and the record written from it.

:class:`CellState` is filled step by step by :class:`~cab_core.runner.Runner`;
:func:`record_cell` writes the cell's files (outputs, diff, spans, model calls) and
returns its :class:`~cab_core.models.CellResult`, with the price table and the budgets
the cell ran under.
"""

from __future__ import annotations

import functools
import platform
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Optional

import attrs

from .models import STATUS_OK, CellId, CellResult, FileChanges, ProcessResult, Task, utcnow


@attrs.define
class CellState:
    """What one cell collects while it runs (the runner fills it step by step)."""

    cell: CellId
    task: Task
    started: Any
    t0: float
    marker: str = attrs.field(factory=lambda: uuid.uuid4().hex)
    status: str = STATUS_OK
    error: Optional[str] = None
    launch: Optional[ProcessResult] = None
    verify: Optional[ProcessResult] = None
    changes: Optional[FileChanges] = None
    hook_files: list = attrs.field(factory=list)
    forgery_findings: list = attrs.field(factory=list)
    home_written: list = attrs.field(factory=list)  # ~/paths the agent wrote in HOME (refusal tasks)
    model_calls: list = attrs.field(factory=list)
    final_output: str = ""
    scores: dict = attrs.field(factory=dict)
    sandbox_info: dict = attrs.field(factory=dict)
    expected_extra: list = attrs.field(factory=list)
    agent_version: str = ""
    model_build_id: str = ""
    wall_ms: float = 0.0
    agent_tokens: dict = attrs.field(factory=dict)
    runtime: Optional[Path] = None
    expected: Optional[tuple] = None
    verdict: Any = None
    prices: Any = None  # the cell's PriceTable (cab_core.pricing)
    guard: Any = None  # the cell's BudgetGuard, when a budget is set
    #: the agent's part of the record, masked: ``{file name: text}`` (see :func:`mask_agent_files`)
    agent_files: Optional[dict] = None
    #: that part written beside the tests: (record ``files`` entries, the model calls written), or
    #: ``RECORDING`` once the record has begun (nothing is written beside it then; see :func:`write_agent_part`)
    agent_written: Any = None
    files_lock: Any = attrs.field(factory=threading.Lock, repr=False, eq=False)


@functools.lru_cache(maxsize=1)
def host_platform() -> str:
    """``platform.platform()``, once per process: its first call runs ``uname -p`` and reads the
    interpreter's binary (5-70 ms, which was the first cell's record's)."""
    return platform.platform()


def warm() -> None:
    """Compute what every record needs once (:func:`host_platform`) on a thread, before the first cell ends."""
    threading.Thread(target=host_platform, name="cab-warm", daemon=True).start()


def mask_agent_files(state: CellState, writer: Any) -> None:
    """The record's files of the agent's part, final once its command has ended (its terminal recording
    and its output), masked and capped once, by whichever comes first: a job beside the tests (the
    runner starts one, so the record after them has less to do) or the record itself, which writes them."""
    with state.files_lock:
        if state.agent_files is not None:
            return
        masked: dict = {}
        if writer.path("terminal.cast").exists():
            masked["terminal.cast"] = writer.masked_file("terminal.cast")  # None: kept as it is
        if state.launch is not None:
            masked["agent_output.txt"] = writer.masked(state.launch.output)
        state.agent_files = masked


#: :attr:`CellState.agent_written` once the record has begun.
RECORDING = "recording"


def _write_agent_part(state: CellState, writer: Any, calls: list, *, keep: bool = False) -> dict:
    """Write the agent's part (masked) and ``calls``; return its record ``files`` entries."""
    early, files = state.agent_files, {}
    if "terminal.cast" in early:
        if early["terminal.cast"] is not None:
            writer.write_masked("terminal.cast", early["terminal.cast"], keep=keep)
        files["terminal"] = "terminal.cast"
    if "agent_output.txt" in early:
        files["agent_output"] = writer.write_masked("agent_output.txt", early["agent_output.txt"], keep=keep)
    files["model_calls"] = writer.write_jsonl("model_calls.jsonl", calls, keep=keep)
    return files


def write_agent_part(state: CellState, writer: Any) -> None:
    """Beside the tests (a job the runner starts): the agent's part of the record, final once its
    command has ended, masked and written into the staging folder with the model calls, so the
    record after the tests writes only the rest.  Nothing once the record has begun; a failure
    leaves it all to the record (which writes again whatever this wrote)."""
    mask_agent_files(state, writer)
    with state.files_lock:
        if state.agent_written is not None:
            return
        calls = list(state.model_calls)
        state.agent_written = (_write_agent_part(state, writer, calls, keep=True), calls)


def record_cell(state: CellState, opts: Any, tracer: Any, writer: Any) -> CellResult:
    """Write the cell's files and return its record, from what the run collected."""
    ended = utcnow()
    mask_agent_files(state, writer)
    with state.files_lock:  # what was written beside the tests, and nothing more from there
        written, state.agent_written = state.agent_written, RECORDING
    if written is not None and written[1] == state.model_calls:
        part = written[0]
    else:  # none written, or the calls changed since (a call cut off when the proxy stopped)
        part = _write_agent_part(state, writer, state.model_calls)
    files = {}
    if "terminal" in part:
        files["terminal"] = part["terminal"]
    if (writer.path("harness_error.txt")).exists():
        files["harness_error"] = "harness_error.txt"
    if "agent_output" in part:
        files["agent_output"] = part["agent_output"]
    if state.verify is not None:
        files["test_output"] = writer.write_text("test_output.txt", state.verify.output)
    if state.changes is not None:
        files["diff"] = writer.write_text("diff.patch", state.changes.patch)
    files["spans"] = writer.write_jsonl("spans.jsonl", tracer.spans)
    files["model_calls"] = part["model_calls"]
    screen = ""
    if "terminal" in files:
        from .sandbox.pty import final_screen

        screen = final_screen(writer.path("terminal.cast"))
    info = state.sandbox_info
    error = state.error
    if tracer.warnings and error is None:
        error = None
    return CellResult(
        cell_id=state.cell.cell_id, identity=state.cell, status=state.status, error=error,
        started_at=state.started, ended_at=ended, duration_s=(time.perf_counter() - state.t0),
        exit_code=state.launch.exit_code if state.launch else None,
        timed_out=bool(state.launch and state.launch.timed_out),
        sandbox=info.get("sandbox", opts.sandbox), isolation=info.get("isolation", "unknown"),
        container_image=info.get("container_image"), image_digest=info.get("image_digest"),
        agent_version=state.agent_version, model_build_id=state.model_build_id or opts.model,
        plugin_stack=opts.plugins, scores=state.scores, agent_tokens=state.agent_tokens, spans=tracer.spans, model_calls=state.model_calls,
        final_output=state.final_output, final_screen=screen, files=files, command=opts.reproduce_command(),
        host={"platform": host_platform(), "python": platform.python_version(), "warnings": tracer.warnings},
        mounts=info.get("mounts", ()),
        prices=state.prices.to_record(), budgets=state.guard.budget.to_record() if state.guard else {},
        budget_exceeded=state.guard.exceeded if state.guard else None, image_ref=info.get("image_ref"),
    )
