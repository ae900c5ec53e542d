"""``cab export atif CELL|SWEEP``: cells as trajectories other tools read.

The export modules are imported inside the command, so ``cab --help`` stays fast.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from . import handle_errors


def register(cli: click.Group) -> None:
    @cli.group()
    def export():
        """Write cells in formats other tools read."""

    @export.command("atif")
    @click.argument("target")
    @click.option("--results", type=click.Path(path_type=Path), default=Path("results"), show_default=True,
                  help="Results folder, for cell and sweep ids.")
    @click.option("--out", "-o", type=click.Path(path_type=Path, file_okay=False),
                  help="Write OUT/<cell path>/trajectory.json per cell (default: print one cell's trajectory).")
    @handle_errors
    def atif(target, results, out):
        """Harbor's Agent Trajectory Interchange Format (ATIF-v1.8) of TARGET's cells.

        \b
        TARGET: a cell folder, a folder of cells, a cell id or a sweep id.
          cab export atif results/default/pi/scripted/oracle/polyglot/rust-error-handling/trial-1
          cab export atif nightly --out atif/
        """
        from ..export import export_atif

        written, skipped = export_atif(results, target, out)
        for line in skipped:
            click.echo(f"skipped {line}", err=True)
        if out is None:
            sys.stdout.write(written[0][2])
            return
        for _folder, dest, _text in written:
            click.echo(f"wrote {dest}", err=True)
        click.echo(f"{len(written)} trajector{'y' if len(written) == 1 else 'ies'} (ATIF-v1.8) written below {out}"
                   + (f"; {len(skipped)} cells skipped" if skipped else ""))
        if skipped:
            sys.exit(1)
