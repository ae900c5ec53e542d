"""``cab images build|list|save|load|push``: the container images of the docker sandbox (see :mod:`cab_core.images`)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..errors import CabError
from . import handle_errors


def register(cli: click.Group) -> None:
    @cli.group()
    def images():
        """Build, list, save, load and push the images cells run in with --sandbox docker."""

    @images.command("build")
    @click.option("--adapter", "adapters", multiple=True, metavar="NAME",
                  help="Build this adapter's image (repeatable; the base is built first). Default: every recipe.")
    @click.option("--base", metavar="IMAGE",
                  help="The image the base recipe builds FROM (default: the Dockerfile's, cab/rootfs:bookworm "
                       "from scripts/docker-setup.sh; e.g. debian:bookworm-slim where a registry is reachable).")
    @click.option("--no-cache", is_flag=True, help="Rebuild every layer.")
    @click.option("--network", default="host", show_default=True,
                  help="Network of the build (it fetches packages); cells never get one.")
    @click.option("-v", "--verbose", is_flag=True, help="Print the whole build output.")
    @click.pass_obj
    @handle_errors
    def build(state, adapters, base, no_cache, network, verbose):
        """Build the base image and the agents' images at their pinned versions."""
        from .. import images as im

        recipes = im.find_recipes(state.registry.adapters)
        plan = im.build_plan(recipes, adapters)
        dc = im.client()

        def show(line: str) -> None:
            if verbose or line.startswith("Step "):
                click.echo(f"  {line}", err=True)

        for recipe in plan:
            click.echo(f"building {recipe.tag} ({recipe.path})", err=True)
            from_image = base if recipe.name == im.BASE_RECIPE else (recipes[im.BASE_RECIPE].tag if im.BASE_RECIPE in recipes else None)
            built = im.build(recipe, base=from_image, docker_client=dc, network=network, nocache=no_cache, on_line=show)
            click.echo(f"built {built.tag} {built.id} in {built.seconds:.1f} s")

    @images.command("list")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    @click.pass_obj
    @handle_errors
    def list_(state, as_json):
        """cab's images with their IDs (digests), and the recipes not built yet."""
        from .. import images as im

        rows = im.list_images(im.find_recipes(state.registry.adapters))
        if as_json:
            click.echo(json.dumps(rows, indent=2))
            return
        if not rows:
            click.echo("(none)")
            return
        columns = ["image", "recipe", "status", "size_mb", "created", "id"]
        widths = {c: max(len(c), *(len(str(r.get(c) if r.get(c) is not None else "")) for r in rows)) for c in columns}
        click.echo("  ".join(c.ljust(widths[c]) for c in columns).rstrip())
        for row in rows:
            click.echo("  ".join(str(row.get(c) if row.get(c) is not None else "").ljust(widths[c]) for c in columns).rstrip())

    _register_transfer(images)


def _register_transfer(images: click.Group) -> None:
    """``cab images save|load|push``: the images moved between machines (see :mod:`cab_core.image_transfer`)."""

    @images.command("save")
    @click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
    @click.option("--sweep", metavar="S", help="Every image the docker cells of this sweep used: a sweep id under "
                                               "--results, or the sweep's results folder.")
    @click.option("--results", type=click.Path(file_okay=False, path_type=Path), default=Path("results"),
                  show_default=True, help="Where sweeps are (with --sweep ID).")
    @click.option("--image", "names", multiple=True, metavar="NAME", help="An image to save (repeatable).")
    @handle_errors
    def save(file, sweep, results, names):
        """Write images (by name, with their IDs) into FILE, for cab images load on another machine."""
        from .. import image_transfer as tr

        wanted = list(names)
        if sweep:
            folder = Path(sweep) if Path(sweep).is_dir() else results / sweep
            wanted += tr.sweep_images(folder)
        if not wanted:
            raise CabError("give --image NAME or --sweep S (what to save)")
        for entry in tr.save(file, wanted):
            click.echo(f"saved {entry['name']} {entry['id']}")
        click.echo(f"wrote {file}")

    @images.command("load")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @handle_errors
    def load(file):
        """Load the images of a cab images save FILE, checking each has the ID it was saved with."""
        from .. import image_transfer as tr

        for entry in tr.load(file):
            click.echo(f"loaded {entry['name']} {entry['id']}")

    @images.command("push")
    @click.argument("registry")
    @click.option("--image", "names", multiple=True, metavar="NAME",
                  help="An image to push (repeatable). Default: every image built from a recipe.")
    @click.pass_obj
    @handle_errors
    def push(state, registry, names):
        """Tag images as REGISTRY/cab/RECIPE:VERSION and push them; later cells record the digest reference."""
        from .. import image_transfer as tr
        from .. import images as im

        if not names:
            names = [r["id"] for r in im.list_images(im.find_recipes(state.registry.adapters))
                     if r["status"] == "built" and r.get("recipe")]
        for entry in tr.push(registry, names):
            click.echo(f"pushed {entry['name']} as {entry['reference']}")
