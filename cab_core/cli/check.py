"""``cab check``: a quick, provisional look at an agent and a model, without a sweep.

It runs a small fixed sample of the built-in tasks (one per language by default) in
the local sandbox, prints each cell's per-axis values and a mean composite clearly
labelled **provisional — not for citation**, and writes nothing into any sweep,
results folder or index: the cells live in a temporary folder that is removed.
Meant to run straight from the package, with nothing set up:

    uvx --from ./ --with ./adapters --with ./scorers --with ./tasks \\
        cab check --adapter pi --model scripted/oracle
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from . import handle_errors
from .run import parse_options

#: One task per language of the built-in suite.
SAMPLE = ("polyglot/python-slugify", "polyglot/js-deep-merge", "polyglot/rust-error-handling", "polyglot/c-string-trim")
LABEL = "provisional — not for citation"


def _cell(value) -> str:
    return "–" if value is None else f"{value:.3f}"


def register(cli: click.Group) -> None:
    @cli.command()
    @click.option("--adapter", "-a", required=True, help="Agent adapter (see 'cab adapters').")
    @click.option("--model", "-m", required=True, help="Model id, e.g. scripted/oracle or your endpoint's model.")
    @click.option("--endpoint", help="OpenAI-compatible base URL (default: the built-in scripted server).")
    @click.option("--api-key-env", metavar="VAR", help="Environment variable holding the endpoint's key.")
    @click.option("--task", "-t", "tasks", multiple=True, help=f"Task to run (repeatable) [{', '.join(SAMPLE)}].")
    @click.option("-o", "--option", "options", multiple=True, metavar="KEY=VALUE", help="Adapter option (repeatable).")
    @click.option("--timeout", default=300.0, show_default=True, help="Seconds before the agent is killed, per cell.")
    @click.pass_obj
    @handle_errors
    def check(state, adapter, model, endpoint, api_key_env, tasks, options, timeout):
        """Run ADAPTER with MODEL on a small sample of tasks: a provisional result, written nowhere."""
        import statistics
        import tempfile

        from ..runner import RunOptions, Runner
        from . import checks

        state.registry.adapters.get(adapter)  # a typo is one line, before anything runs
        checks.endpoint_url(endpoint)
        checks.scripted_model(model, endpoint=endpoint, replay=None)
        from ..registry import check_options

        check_options(state.registry.adapters.get(adapter), parse_options(options))
        checks.option_prefixes(parse_options(options), ())
        catalog = state.catalog()
        chosen = tasks or SAMPLE
        for task_id in chosen:
            catalog.get(task_id)
        click.echo(f"cab check: {adapter} with {model} on {len(chosen)} task(s) — {LABEL}")
        runner = Runner(state.registry, catalog)
        axes = state.registry.scorers_in_order()  # every registered axis, in the scorers' order
        rows = []
        try:
            with tempfile.TemporaryDirectory(prefix="cab-check-") as tmp:
                for task_id in chosen:
                    opts = RunOptions(adapter=adapter, model=model, task=task_id, endpoint=endpoint,
                                      api_key_env=api_key_env, options=parse_options(options), timeout=timeout,
                                      results=Path(tmp), sweep_id="check")
                    result, _ = runner.run_cell(opts)
                    rows.append(result)
                    values = {s.name: (result.scores[s.name].value if s.name in result.scores else None) for s in axes}
                    status = "" if result.status == "ok" else f"  ENVIRONMENT ERROR: {result.error}"
                    click.echo(f"  {task_id:<32} " + "  ".join(f"{a} {_cell(v)}" for a, v in values.items()) + status)
        finally:
            runner.close()
        scored = [r.composite for r in rows if r.status == "ok" and r.composite is not None]
        passed = sum(1 for r in rows if r.status == "ok" and r.passed)
        mean = statistics.mean(scored) if scored else None
        click.echo(f"composite {_cell(mean)} (mean of {len(scored)} cell(s)), passed {passed}/{len(rows)} — {LABEL}")
        if any(r.status != "ok" for r in rows):
            sys.exit(3)
