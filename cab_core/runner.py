"""Running one cell end to end: setup, model endpoint, launch, verify, diff, score, write.

Each step is a span (:mod:`.tracing`).  Whatever fails, a cell record is written: a failure of the
harness, a plugin or the model endpoint makes the cell an infrastructure error
(``status: infra_error``), which is never counted as the agent failing the task.  Once the
agent has run, only harness-side evidence does (an :class:`~.errors.InfraError`: the endpoint's
probe, a replay miss, a sandbox that could not start); any other exception in a later step
was raised on what the agent left, and the cell is scored as the agent's failure
(:meth:`Runner._agents_failure`).
What a cell is asked to do is :class:`~cab_core.runoptions.RunOptions` (re-exported
here); what it collects and the record written from it are in :mod:`.cellstate`.
"""

from __future__ import annotations

import functools
import math
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Optional

import attrs

from . import cellstate, serialization
from .cellstate import CellState, record_cell, write_agent_part
from .endpoint.budget import cost_setup
from .environment import STANDARD_PATH, TOOLCHAINS, agent_env  # noqa: F401  (re-exported)
from .errors import CabError, ConfigError, InfraError, PluginError
from .models import (
    STATUS_INFRA_ERROR,
    AxisScore,
    CellId,
    CellResult,
    LaunchContext,
    ScoreContext,
    Task,
    to_mounts,
    utcnow,
)
from .pricing import price_calls
from .registry import Registry, call_plugin
from .results import CellWriter, check_names
from .runoptions import (  # noqa: F401  (RunOptions: re-exported, imported from here)
    RunOptions, deadline_env, load_replay, plain_options, plugin_options, proxy_limits,
)
from .sandbox import procs, quiet
from .sandbox.limits import Limits
from .scoring import score_all  # noqa: F401  (re-exported: tests and plugins import it from here)
from .secrets import Redactor, secret_option_values
from .tokens import agent_count, token_warnings, tokens_agree
from .tracing import Tracer, one_line  # noqa: F401  (Tracer: re-exported)
from .verdict.expected import load_expected
from .verdict.run import TEST_OUTPUT_CAP, run_tests  # noqa: F401  (TEST_OUTPUT_CAP: re-exported)
from .verdict.runtime import preflight
from .sweep.turns import NO_TURN
from .workspace import CellWorkspace, trash


class Runner:
    """Runs cells with one registry (and, optionally, one shared scripted model server)."""

    def __init__(self, registry: Registry, catalog, *, model_server=None):
        self.registry = registry
        self.catalog = catalog
        self._model_server = model_server
        self._own_server = None
        cellstate.warm()

    def close(self) -> None:
        pool = sys.modules.get("cab_core.sandbox.dockerpool")
        if pool is not None:  # containers made ahead for a next cell this runner will not run
            pool.discard_all()
        trash.drain()  # every cell's scratch folder is gone before the runner is
        if self._own_server is not None:
            self._own_server.stop()
            self._own_server = None

    def model_server(self):
        """The scripted model server, started on first use."""
        if self._model_server is None:
            from .modelserver import ScriptedModelServer

            self._own_server = self._model_server = ScriptedModelServer().start()
        return self._model_server

    # ------------------------------------------------------------------ the cell
    def run_cell(self, opts: RunOptions, *, on_recording=None, turn=None) -> tuple[CellResult, Path]:
        """Run one cell and write it; returns the record and its folder.

        ``on_recording()`` is called once the cell is over and its record written, only the wait for
        the disk left (a sweep lends the cell's slot to the next cell then: issue 16; the record's
        own work would compete with the next cell's start).  ``turn`` (a sweep's, see
        :mod:`cab_core.sweep.turns`) is taken before the agent's command and given back once the
        tests are over: the cell prepares while another cell's tests run, and the time it waits
        for its turn is a ``queue`` span, not part of its duration.
        """
        turn = turn or NO_TURN
        cell = CellId(sweep=opts.sweep_id, adapter=opts.adapter, model=opts.model, task=opts.task, trial=opts.trial)
        # Resolve names first: a typo is the user's error, not a cell.
        check_names(opts.sweep_id, opts.adapter, opts.model, opts.task)
        if not (isinstance(opts.timeout, (int, float)) and math.isfinite(opts.timeout) and opts.timeout > 0):
            raise CabError(f"--timeout {opts.timeout!r} must be a positive number of seconds")
        task = self.catalog.get(opts.task)
        adapter = self.registry.adapters.get(opts.adapter)
        sandbox = self.registry.sandboxes.get(opts.sandbox)
        if adapter.is_installed is not None and not sandbox.provides_agent and not call_plugin(adapter, "is_installed"):
            raise CabError(f"{adapter.name} is not installed: run 'cab agents install {adapter.name}'")
        stack = [self.registry.agent_plugins.get(name) for name in opts.plugins]
        limits = plugin_options(opts.options, "limit")
        if limits:
            Limits.from_options(limits)
        proxy_limits(opts)  # a bad -o proxy.NAME is the user's error, before any cell
        prices, guard = cost_setup(opts)  # a bad --price or budget too
        replay = load_replay(opts.replay_cassette)
        api_key = ""
        if opts.api_key_env:
            if opts.api_key_env not in os.environ:
                raise CabError(f"environment variable {opts.api_key_env} is not set (--api-key-env names the variable holding the key)")
            api_key = os.environ[opts.api_key_env]
        redact = Redactor([api_key, *secret_option_values(opts.options)])
        tracer = Tracer(cell, self.registry, redact)
        state = CellState(cell=cell, task=task, started=utcnow(), t0=time.perf_counter())
        state.agent_version = adapter.version
        state.prices, state.guard = prices, guard
        tracer.warnings += self.registry.notify("cab_cell_started", cell=cell, task=task)
        writer = CellWriter(opts.results, cell.relpath, redact)
        ws = None
        session = None
        proxy = None
        token = None
        recording = False  # the cell is to be recorded (its workspace is removed after that)
        try:
            reserve = getattr(sandbox.open, "reserve_root", None)  # folders whose containers were made ahead
            ws = CellWorkspace(task, root=reserve() if reserve is not None else None)
            with tracer.span("task_setup", f"prepare:{task.id}", workdir=str(ws.work), task_category=task.category,
                             plugin_stack=list(opts.plugins), language=task.language) as sp:
                # The environment is never the agent: what the tests need is checked before it runs.
                if "needs-docker" in task.tags and opts.sandbox != "docker":
                    raise InfraError(f"environment: task {task.id} needs its Docker environment (run it with --sandbox docker)")
                if opts.sandbox == "local":  # other sandboxes bring their own toolchains (the image's)
                    state.runtime = preflight(task, agent_env(ws.home, state.marker)["PATH"])
                sp.update(test_runtime=str(state.runtime) if state.runtime else None)
                ws.prepare()
            proxy, token, base_url = self._start_proxy(opts, task, ws, api_key, redact, replay, guard)
            state.model_build_id = opts.model
            with tracer.span("adapter_run", f"{adapter.name}:{task.id}", timeout_s=opts.timeout,
                             plugin_stack=list(opts.plugins)) as run_span:
                parent = run_span["span_id"]
                ctx = LaunchContext(task=task, model=opts.model, workdir=ws.work, home=ws.home, base_url=base_url,
                                    api_key="cab-dummy-key", options=plain_options(opts.options), mode=opts.mode,
                                    agent_from_image=sandbox.provides_agent, time_limit_s=opts.timeout)
                interact = None
                if opts.mode == "interactive":
                    if adapter.interactive is None:
                        raise CabError(f"adapter {adapter.name!r} has no interactive mode (use --mode headless)")
                    interact = lambda child, cast: adapter.interactive(child, cast, ctx)  # noqa: E731
                spec = _launch_spec(adapter, ctx)
                with tracer.span("tool_call", "applied_plugins", parent=parent) as sp:
                    applied = []
                    for plugin in stack:
                        spec = call_plugin(plugin, "apply", spec, ctx, plugin_options(opts.options, plugin.name))
                        applied.append(plugin.name)
                    spec = attrs.evolve(spec, applied_plugins=applied)
                    sp.update(tui=adapter.name, count=len(stack), applied=applied, env_keys=sorted(spec.env),
                              extra_args=[], files=sorted(spec.files), applied_count=len(applied), skipped_count=0)
                ws.write_files(spec.files)
                home_before = ws.home_state() if task.expected_refusal else None
                session = call_plugin(sandbox, "open", hide=self._hidden_paths(task, opts),
                                      mounts=self._mounts(adapter, task, ctx),
                                      proxy_socket=proxy.unix_socket if proxy else None,
                                      proxy_port=proxy.port if proxy else None, image=spec.image or adapter.image,
                                      workdir=ws.work, home=ws.home, **({"limits": limits} if limits else {}))
                state.sandbox_info = session.describe()
                self._prewarm_verify(session, ws, task, opts, state)
                with tracer.span("queue", "turn", parent=parent) as sp:
                    waited = turn.take()  # the commands (a reference run, the agent, the tests) wait their turn
                    state.t0 += waited    # ... and the wait is not this cell's time
                    sp.update(waited_s=round(waited, 6), excluded_from_duration=True)
                state.expected = self._expected_tests(task, session)
                env = {**agent_env(ws.home, state.marker, runtime=state.runtime), **spec.env, **deadline_env(opts.timeout)}
                procs.check_stopping()
                with tracer.span("container", f"{adapter.name}:launch", parent=parent,
                                 image=state.sandbox_info.get("container_image"), argv=list(spec.argv),
                                 env_keys=sorted(env), timeout_s=opts.timeout,
                                 isolation=state.sandbox_info.get("isolation")) as sp:
                    state.launch = session.run(spec.argv, cwd=ws.work, env=env, timeout=opts.timeout,
                                               writable=[ws.home], cast_path=writer.path("terminal.cast"),
                                               marker=state.marker, interact=interact,
                                               stdin_devnull=interact is None)
                    sp.update(exit_code=state.launch.exit_code, duration_s=state.launch.duration_ms / 1000,
                              timed_out=state.launch.timed_out, output_truncated=state.launch.output_truncated,
                              error=state.launch.error, limits=state.sandbox_info.get("limits"),
                              killed_processes=state.launch.killed_processes)
                run_span.update(exit_code=state.launch.exit_code)
            procs.check_stopping()  # killed because the harness is stopping: not the agent's failure
            state.expected_extra = list(spec.expected_changes)
            # An interactive driver keeps the answer the moment the TUI shows it (before quitting).
            state.final_output = (state.launch.answer if state.launch.answer is not None
                                  else self._final_output(adapter, state.launch.output))
            state.agent_tokens = self._agent_tokens(adapter, state.launch.output, proxy)
            tracer.warnings += token_warnings(state.agent_tokens)
            if proxy is not None:
                proxy.stop()  # the agent is done: a call still hanging is cut off now, and so recorded
                state.model_calls = price_calls(proxy.calls, state.prices, opts.model)
                reason = proxy.infra_failure()  # "environment: ...", from harness-side evidence only
                if reason:
                    raise InfraError(reason)
            procs.sweep(state.marker)  # nothing of the agent's may change the tree while it is read
            if home_before is not None:  # a refusal task: what it left in HOME is work too
                state.home_written = ws.home_written(home_before)
            with tracer.span("diff", "diff:workdir") as sp:
                state.changes = ws.changes(defer_patch=True)  # the patch is made while the tests run
                # Begun once the tests have run a moment, not beside their start: the patch and the
                # harness's store, and the next cell's start (see cab_core.sweep.turns).
                _beside_tests(session, ws.start_background)
                _beside_tests(session, turn.testing)
                _beside_tests(session, functools.partial(_agent_files_beside, state, writer))
                state.hook_files = ws.hook_files(state.changes)
                state.forgery_findings = ws.forgery_findings(state.changes)
                sp.update(added=len(state.changes.added), removed=len(state.changes.removed),
                          modified=len(state.changes.modified), hook_files=state.hook_files,
                          hook_reasons=ws.hook_reasons, forgery_findings=state.forgery_findings,
                          skipped=ws.skipped)
            with tracer.span("verify", f"verify:{task.id}", command=task.test_command, timeout_s=task.test_timeout) as sp:
                breach = procs.limit_exceeded(state.launch)
                if breach:  # the agent broke a resource limit: it failed; nothing to verify
                    sp.update(skipped=breach)
                else:
                    ws.prepare_verify(state.hook_files)
                    venv = self._verify_env(ws, state)
                    state.verify, state.verdict = run_tests(session, task, ws.verify_dir, ws.verify_home, venv,
                                                            expected=state.expected, marker=state.marker)
                    sp.update(exit_code=state.verify.exit_code, timed_out=state.verify.timed_out,
                              duration_s=state.verify.duration_ms / 1000, error=state.verify.error,
                              verdict=state.verdict.reason, channel=state.verdict.channel)
            turn.done()  # its commands are over: the next cell's agent starts now
            with tracer.span("queue", "settle") as sp:  # ... and this one's record waits for its tests
                waited = turn.settle()
                state.t0 += waited
                sp.update(waited_s=round(waited, 6), excluded_from_duration=True)
            procs.check_stopping()
            state.changes = ws.with_patch(state.changes)
            state.wall_ms = (time.perf_counter() - state.t0) * 1000
            with tracer.span("score", "score") as sp:
                state.scores = self._score(state, ws, opts)
                sp.update(axes=sorted(state.scores))
            recording = True
        except (KeyboardInterrupt, ConfigError):  # interrupted, or the user's configuration: no cell
            writer.discard()
            raise
        except BaseException as exc:
            recording = True
            if state.launch is not None and isinstance(exc, Exception) and not isinstance(exc, InfraError):
                self._agents_failure(state, ws, opts, tracer, writer, exc)  # blame: the agent's, scored
            else:
                state.status = STATUS_INFRA_ERROR
                state.error = one_line(exc)
                if not isinstance(exc, (CabError, InfraError)):
                    writer.write_text("harness_error.txt", traceback.format_exc())
        finally:
            turn.done()
            with tracer.span("cleanup", f"cleanup:{adapter.name}") as sp:
                if session is not None:
                    sp.update(built_ahead=getattr(session, "built_ahead", 0))  # commands in sandboxes built ahead
                    state.sandbox_info = session.describe()  # now with every mount its commands got
                    session.close()
                if proxy is not None:
                    proxy.stop()  # saves a recording cassette
                    state.model_calls = price_calls(proxy.calls, state.prices, opts.model)  # after stop: with calls it cut off
                if token is not None:
                    self.model_server().unregister(token)
                procs.sweep(state.marker)
                procs.forget(state.marker)
                if ws is not None and not recording:  # (else once recorded: its removal, a thread's
                    ws.close()                         # file-system work, never beside the record's)
        written: list[CellResult] = []

        def syncing() -> None:  # only the disk's work is left: the next cell may start beside it
            written.append(serialization.loads(writer.published_text, CellResult))  # as written: redacted
            if on_recording is not None:
                on_recording()

        try:
            result = self._record(state, opts, tracer, writer)
            path = writer.publish(result, before_sync=syncing)
        finally:
            if ws is not None:
                ws.close()
        self.registry.notify("cab_cell_finished", result=written[0], path=path)
        return written[0], path

    # ------------------------------------------------------------------ pieces
    def _start_proxy(self, opts: RunOptions, task: Task, ws: CellWorkspace, api_key: str, redact: Redactor, replay=None,
                     budget=None):
        from .agents import agents_dir
        from .cassette import Cassette
        from .proxy import RecordingProxy

        token = None
        upstream = opts.endpoint
        if upstream is None and replay is None:
            from .modelserver import ScriptContext, behaviour_of
            from .tasks import solution_files

            server = self.model_server()
            tests = {}
            for rel in ws.protected_before:
                try:
                    tests[rel] = (task.workspace / rel).read_text()
                except (UnicodeDecodeError, OSError):
                    pass
            # Only a cell whose model is the oracle (or vandal) is answered with the solution:
            # any other agent could ask the scripted server for model "oracle" itself.
            knows = behaviour_of(opts.model) in ("oracle", "vandal")
            # The route answers as the cell's model whatever a request names (no fault or oracle by request).
            upstream = server.register(ScriptContext(task_id=task.id, solution_files=solution_files(task) if knows else {},
                                                     test_files=tests, prompt=task.prompt), model=opts.model)
            token = upstream
        proxy = RecordingProxy(upstream, api_key or None, replay=replay,
                               record=Cassette(opts.record_cassette) if opts.record_cassette else None,
                               unix_socket=ws.root / "proxy.sock", timeout_s=opts.timeout, model=opts.model,
                               limits=proxy_limits(opts), budget=budget,
                               hash_substitutions={str(ws.root): "$CELL", str(ws.root.resolve()): "$CELL",
                                                   str(agents_dir()): "$AGENTS"},
                               volatile=self.registry.adapters.get(opts.adapter).replay_volatile)
        proxy.start()
        if self.registry.adapters.get(opts.adapter).calls_model:  # its first call never waits on the harness's
            proxy.serve_now()                                      # own start (see Adapter.calls_model)
            if token is not None:
                self.model_server().serve_now()
        return proxy, token, proxy.base_url

    def _hidden_paths(self, task: Task, opts: RunOptions) -> list[Path]:
        hidden = [Path(opts.results).resolve(), *_answer_paths(task), *self._every_answer()]
        # Only the outermost of nested paths (hiding a folder hides what is inside it); sorted by
        # parts, a folder's contents follow it, so one pass does it for thousands of tasks.
        outermost: list[Path] = []
        for path in sorted(set(hidden), key=lambda p: p.parts):
            if not (outermost and path.parts[:len(outermost[-1].parts)] == outermost[-1].parts):
                outermost.append(path)
        return outermost

    def _every_answer(self) -> list[Path]:
        """Every catalogued task's answers, should a mount hold them (resolved once per catalog)."""
        every = getattr(self.catalog, "tasks", None)  # TaskCatalog.tasks: a dict (a property)
        every = every() if callable(every) else (every or {})
        if getattr(self, "_answers_of", None) is not every or len(every) != self._answers_len:
            self._answers = sorted({p for other in every.values() for p in _answer_paths(other)}, key=lambda p: p.parts)
            self._answers_of, self._answers_len = every, len(every)
        return self._answers

    def _prewarm_verify(self, session, ws: CellWorkspace, task: Task, opts: RunOptions, state: "CellState") -> None:
        """The sandbox builds the verify step's (fresh) sandbox while the agent runs (a container, a bwrap)."""
        prewarm = getattr(session, "prewarm", None)
        if prewarm is None:
            return
        ws.verify_dir.mkdir(exist_ok=True)  # filled in place after the agent (the container mounts this folder)
        prewarm(cwd=ws.verify_dir, writable=[ws.verify_home], timeout=task.test_timeout,
                wait_s=opts.timeout + 300, marker=state.marker, env=self._verify_env(ws, state))

    @staticmethod
    def _verify_env(ws: CellWorkspace, state: "CellState") -> dict:
        """The test run's environment (before the verdict channel's additions)."""
        return {**agent_env(ws.verify_home, state.marker, runtime=state.runtime), "TERM": "dumb",
                "CARGO_TERM_COLOR": "never"}

    def _mounts(self, adapter, task: Task, ctx: LaunchContext) -> list:
        """What the adapter (``Adapter.mounts(ctx)``) and the task (``Task.mounts``) ask the sandbox to show."""
        declared = list(call_plugin(adapter, "mounts", ctx) or ()) if adapter.mounts is not None else []
        return [*to_mounts(declared, f"declared by the adapter {adapter.name}"), *task.mounts]

    def _expected_tests(self, task: Task, session) -> Optional[tuple[str, ...]]:
        """The task's expected test identities: recorded, else validated now (the reference run)."""
        expected = load_expected(task)
        if expected is not None:
            return expected
        from .validate import validate_task

        result = validate_task(task, session)
        if not result.ok:
            raise InfraError(result.problem if result.environment else f"environment: task {task.id} is broken: {result.problem}")
        return result.expected_tests if result.channel != "summary" else None

    def _final_output(self, adapter, output: str) -> str:
        if adapter.final_output is not None:
            try:
                text = adapter.final_output(output) or ""
                if isinstance(text, str):
                    return text
            except Exception:
                pass
        return output[-4000:]

    def _agent_tokens(self, adapter, output: str, proxy) -> dict:
        """Cross-check the agent's own token count (if it reports one) against the proxy's."""
        if adapter.agent_tokens is None or proxy is None:
            return {}
        try:
            reported = adapter.agent_tokens(output)
        except Exception:
            reported = None
        reported = agent_count(reported)  # what a parser made of the agent's output, as plain data
        if not reported:
            return {}
        calls = proxy.calls
        measured = {"prompt_tokens": sum(c.prompt_tokens for c in calls),
                    "completion_tokens": sum(c.completion_tokens for c in calls)}
        measured["total_tokens"] = measured["prompt_tokens"] + measured["completion_tokens"]
        agrees = all(tokens_agree(reported.get(k), v) for k, v in measured.items())
        return {"reported": reported, "proxy": measured, "agrees": agrees,
                "estimated_calls": sum(1 for c in calls if c.usage_source == "estimated")}

    def _agents_failure(self, state: "CellState", ws, opts: RunOptions, tracer: Tracer, writer: CellWriter,
                        exc: Exception) -> None:
        """A harness step failed after the agent ran, on what the agent left (its files, output or calls),
        with no harness-side evidence (an :class:`InfraError`) against the environment: the agent failed.

        The cell stays ``ok`` and is scored with nothing verified (pass 0) and an integrity
        finding (a check that could not run cannot vouch for the cell): breaking a harness step
        earns nothing.  The warning and ``harness_error.txt`` say what failed.
        """
        writer.write_text("harness_error.txt", traceback.format_exc())
        what = f"a harness step failed on what the agent left: {one_line(exc)}"
        tracer.warnings.append(f"the agent's failure: {what}")
        state.verify = state.verdict = None
        state.forgery_findings = [*(state.forgery_findings or ()), what]
        state.wall_ms = (time.perf_counter() - state.t0) * 1000
        try:
            if state.changes is not None:
                state.changes = ws.with_patch(state.changes)  # the patch started before the step that failed
            state.scores = self._score(state, ws, opts)
        except Exception:  # what the agent left breaks scoring too: score as if nothing was changed or checked
            state.changes, state.hook_files = None, []
            ctx = ScoreContext(task=state.task, cell=state.cell, launch=state.launch, verify=None, changes=None,
                               final_output=str(state.final_output or ""), wall_clock_ms=state.wall_ms,
                               options=dict(opts.score_options), forgery_findings=(what,))
            state.scores = score_all(self.registry, ctx)

    def _score(self, state: "CellState", ws: CellWorkspace, opts: RunOptions) -> dict[str, AxisScore]:
        options = dict(opts.score_options)
        options.setdefault("extra_expected_changes", state.expected_extra)
        ctx = ScoreContext(
            task=state.task, cell=state.cell, launch=state.launch, verify=state.verify, changes=state.changes,
            model_calls=state.model_calls, final_output=state.final_output,
            protected_before=ws.protected_before, protected_after=ws.protected_after(), hook_files=state.hook_files,
            wall_clock_ms=state.wall_ms, options=options, verdict=state.verdict,
            forgery_findings=tuple(state.forgery_findings), home_written=tuple(state.home_written),
        )
        return score_all(self.registry, ctx)

    def _record(self, state: "CellState", opts: RunOptions, tracer: Tracer, writer: CellWriter) -> CellResult:
        return record_cell(state, opts, tracer, writer)


def _beside_tests(session, fn) -> None:
    """Call ``fn()`` once the session's next command (the tests) has started and run for a moment
    (:func:`cab_core.sandbox.quiet.later`: its own start is not slowed by the harness's work); at
    once for a session that cannot say when its commands start (docker's)."""
    when_started = getattr(session, "when_started", None)
    if when_started is None:
        fn()
    else:
        when_started(lambda: quiet.later(fn, tag="beside-tests"))


def _agent_files_beside(state: "CellState", writer: CellWriter) -> None:
    """The agent's part of the record (its output, terminal recording and model calls) masked and written
    on a thread of its own, beside the tests (see :func:`cab_core.cellstate.write_agent_part`): the
    record after them writes only the rest.  A failure here leaves the record to do it all, and to report it."""
    def write() -> None:
        try:
            write_agent_part(state, writer)
        except Exception:  # noqa: BLE001
            pass

    quiet.Job(write, name="cab-agent-files").start()


def _launch_spec(adapter, ctx: LaunchContext):
    """The adapter's launch; a :class:`CabError` it raises on purpose (a missing ``-o command``, a model
    it cannot run) is the user's configuration, not a cell: :class:`ConfigError`, one line."""
    try:
        return call_plugin(adapter, "build_launch", ctx)
    except PluginError as exc:
        if isinstance(exc.__cause__, CabError):
            raise ConfigError(f"adapter {adapter.name}: {exc.__cause__}") from None
        raise


def _answer_paths(task: Task) -> list[Path]:
    """What of ``task`` an agent must not see: its source, solution, hidden tests and private paths."""
    return [p.resolve() for p in (task.source_path, task.solution_dir, task.solution_patch, task.hidden_tests,
                                  *task.private_paths) if p]
