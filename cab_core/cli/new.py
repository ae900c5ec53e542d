"""``cab new adapter|scorer|tasks|sandbox NAME``: scaffold a plugin distribution to start from.

What it writes is a complete, pip-installable project: a ``pyproject.toml`` with the
entry point in the ``cab`` group, one documented module implementing the kind's
provider hook, a README, and tests that pass as written (they use the
``cab_core.testing`` fixtures).  ``pip install -e`` it and ``cab plugins`` lists it at
once, since entry points are read on every run.

Why templates as package data rendered with Jinja2 (already a dependency of the
report) rather than a cookiecutter: no extra dependency, no network, and the
templates are tested with cab's own suite (``tests/test_new.py`` installs each kind
and runs its tests).  Template files end in ``.tmpl`` so that neither setuptools nor
pytest takes them for code; ``__module__`` in a path is replaced by the module name.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import click

from ..errors import CabError

KINDS = {
    "adapter": "an agent cab can drive (hook cab_adapters)",
    "scorer": "a scoring axis (hook cab_scorers)",
    "tasks": "a task source: a task format or suite (hook cab_task_sources)",
    "sandbox": "where a cell's commands run (hook cab_sandboxes)",
}
_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


def names_for(kind: str, name: str) -> dict:
    """The names a plugin of ``kind`` called ``name`` goes by (distribution, module, record, axis)."""
    if kind not in KINDS:
        raise CabError(f"unknown plugin kind {kind!r} (known: {', '.join(KINDS)})")
    if not _NAME.match(name):
        raise CabError(f"plugin name {name!r} must be lower-case letters and digits, words joined by '-' "
                       "(e.g. my-agent)")
    snake = name.replace("-", "_")
    return {
        "kind": kind,
        "name": name,
        "snake": snake,
        "distribution": f"cab-{kind}-{name}",
        "module": f"cab_{kind}_{snake}",
        "title": name.replace("-", " "),
    }


def _taken_by(name: str):
    """The distribution whose ``cab`` entry point already has ``name``, if any (cab loads one per name)."""
    from importlib import metadata

    for ep in metadata.entry_points(group="cab"):
        if ep.name == name:
            dist = getattr(ep, "dist", None)
            return dist.metadata["Name"] if dist else ep.value
    return None


def _template_files(kind: str):
    """(relative path, text) of every template of ``kind``, the shared ones included."""
    root = resources.files("cab_core") / "templates" / "new"
    for folder in ("common", kind):
        yield from _walk(root / folder, "")


def _walk(node, prefix: str):
    for child in sorted(node.iterdir(), key=lambda c: c.name):
        rel = f"{prefix}{child.name}"
        if child.is_dir():
            yield from _walk(child, rel + "/")
        elif child.name.endswith(".tmpl"):
            yield rel[: -len(".tmpl")], child.read_text(encoding="utf-8")


def scaffold(kind: str, name: str, out: Path) -> list[Path]:
    """Write a new ``kind`` plugin called ``name`` into ``out`` (which must not hold anything); return the files."""
    import jinja2

    context = names_for(kind, name)
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise CabError(f"{out}: exists already and is not an empty folder (choose another with --out)")
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)
    written = []
    for rel, text in _template_files(kind):
        target = out / rel.replace("__module__", context["module"])
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(env.from_string(text).render(**context), encoding="utf-8")
        written.append(target)
    return written


def register(cli: click.Group) -> None:
    from . import handle_errors

    @cli.command("new")
    @click.argument("kind", type=click.Choice(list(KINDS)))
    @click.argument("name")
    @click.option("--out", type=click.Path(file_okay=False, path_type=Path),
                  help="Folder to create (default: ./cab-KIND-NAME).")
    @handle_errors
    def new(kind, name, out):
        """Scaffold a plugin distribution: KIND is adapter, scorer, tasks or sandbox.

        \b
        It is ready to install and test as written:
          cab new adapter my-agent && pip install -e cab-adapter-my-agent
          python -m pytest cab-adapter-my-agent     # its own tests
          cab plugins                                # lists my-agent
        """
        context = names_for(kind, name)
        taken = _taken_by(name)
        if taken and taken != context["distribution"]:
            raise CabError(f"plugin name {name!r} is taken by the installed {taken} (choose another name)")
        out = out or Path(context["distribution"])
        files = scaffold(kind, name, out)
        click.echo(f"wrote {context['distribution']} in {out} ({len(files)} files): {KINDS[kind]}")
        click.echo(f"next: pip install -e {out} && python -m pytest {out} && cab plugins")
