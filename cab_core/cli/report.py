"""``cab report`` (write the static site), ``cab view`` (serve it on 127.0.0.1), ``cab badge`` (one SVG).

Jinja2 and the report package are imported inside the commands, so ``cab --help``
stays fast.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import click

from . import handle_errors


def _build(results: Path, out: Path, base_url, quiet: bool = False):
    from ..report import build_site
    from . import checks

    checks.writable_folder(Path(out).parent if str(Path(out).parent) else Path("."), "--out")
    site = build_site(results, out, base_url=base_url)
    if not quiet:
        click.echo(f"report: {site.cells} cells in {len(site.sweeps)} sweep{'s' if len(site.sweeps) != 1 else ''}, "
                   f"{site.pages} pages written in {site.seconds:.2f} s → {site.index}")
        for path, error in site.errors:
            click.echo(f"  skipped unreadable cell {path}: {error}", err=True)
    return site


def register(cli: click.Group) -> None:
    @cli.command()
    @click.argument("results", type=click.Path(path_type=Path, exists=True, file_okay=False), default=Path("results"))
    @click.option("--out", "-o", type=click.Path(path_type=Path, file_okay=False), default=Path("report"),
                  show_default=True, help="Folder to write the site into (replaced if it is an earlier report).")
    @click.option("--base-url", metavar="URL", help="Where the site will be published, for absolute badge embed links.")
    @click.option("--open", "open_browser", is_flag=True, help="Open the written report in a browser.")
    @handle_errors
    def report(results, out, base_url, open_browser):
        """Write a static HTML report of every cell under RESULTS: sweep leaderboards, plots, cell pages.

        \b
        No server is needed: open OUT/index.html, or serve it with 'cab view OUT'.
        """
        site = _build(results, out, base_url)
        if open_browser:
            import webbrowser

            webbrowser.open(site.index.resolve().as_uri())

    @cli.command()
    @click.argument("path", type=click.Path(path_type=Path, exists=True, file_okay=False), default=Path("results"))
    @click.option("--out", "-o", type=click.Path(path_type=Path, file_okay=False),
                  help="Where to write the site when PATH is a results folder (default: a temporary folder).")
    @click.option("--port", default=0, show_default=True, type=click.IntRange(0, 65535), help="Port on 127.0.0.1 (0: any free port).")
    @click.option("--no-open", is_flag=True, help="Do not open a browser.")
    @handle_errors
    def view(path, out, port, no_open):
        """Serve a report on 127.0.0.1 and open it (PATH: a report folder, or a results folder to report first)."""
        from ..report.serve import ReportServer
        from ..report.site import MARKER

        site_dir = path
        tmp = None
        if not (path / MARKER).is_file():
            if out is None:
                tmp = tempfile.TemporaryDirectory(prefix="cab-report-")
                out = Path(tmp.name) / "report"
            site_dir = _build(path, out, None).out
        server = ReportServer(site_dir, port=port).start()
        click.echo(f"serving {site_dir} at {server.url} (Ctrl-C stops)")
        if not no_open:
            import webbrowser

            webbrowser.open(server.url)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()
            if tmp is not None:
                tmp.cleanup()

    @cli.command()
    @click.argument("results", type=click.Path(path_type=Path, exists=True, file_okay=False), default=Path("results"))
    @click.option("--cell", "cell_id", help="A cell id: the badge of that cell.")
    @click.option("--adapter", "-a", help="With --model: the badge of that adapter × model.")
    @click.option("--model", "-m", help="With --adapter: the badge of that adapter × model.")
    @click.option("--sweep", "sweep_id", help="Only cells of this sweep (for --adapter/--model).")
    @click.option("--output", "-o", type=click.Path(path_type=Path, dir_okay=False), help="Write the SVG here (default: stdout).")
    @handle_errors
    def badge(results, cell_id, adapter, model, sweep_id, output):
        """Print the SVG badge of one cell (--cell) or of one adapter × model (--adapter, --model)."""
        from .. import badges, stats
        from ..errors import CabError
        from ..index import cell_row
        from ..report.data import Scrubber, scan
        from ..results import read_cell

        if bool(cell_id) == bool(adapter or model) or (not cell_id and not (adapter and model)):
            raise CabError("give either --cell ID, or both --adapter and --model")
        rows = []
        for folder in scan(results):
            try:
                data = json.loads((folder / "cell.json").read_text(encoding="utf-8"))
                ident = data.get("identity", {})
            except (OSError, ValueError):
                continue
            if cell_id and data.get("cell_id") != cell_id:
                continue
            if adapter and (ident.get("adapter") != adapter or ident.get("model") != model):
                continue
            if sweep_id and ident.get("sweep") != sweep_id:
                continue
            rows.append(cell_row(read_cell(folder), str(folder)))
        if not rows:
            what = f"cell {cell_id!r}" if cell_id else f"cells of {adapter} × {model}" + (f" in sweep {sweep_id!r}" if sweep_id else "")
            raise CabError(f"no {what} under {results}")
        if cell_id:
            svg = badges.cell_badge(rows[0])
        else:
            sweeps = {r["sweep"] for r in rows}
            if len(sweeps) > 1 and not sweep_id:
                raise CabError(f"{adapter} × {model} ran in several sweeps ({', '.join(sorted(sweeps))}); pick one with --sweep")
            svg = badges.group_badge(stats.leaderboard(rows)[0])
        svg = Scrubber().text(svg)
        if output:
            from . import checks

            checks.writable_file(output, "--output")
            output.write_text(svg, encoding="utf-8")
            click.echo(f"wrote {output}", err=True)
        else:
            sys.stdout.write(svg + "\n")
