"""Built-in commands whose modules are imported on first use (issue 16: start-up).

``cab_core.cli.COMMANDS`` names, for each built-in command, the module that registers it;
these tests keep that table equal to what the modules register, and check that a command
imports only its own module while ``--help`` still lists every command.
"""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import click
from click.testing import CliRunner

import cab_core.cli as cli_package
from cab_core import hookimpl
from cab_core.cli import COMMANDS, make_cli
from cab_core.plugins import get_plugin_manager


def _registered() -> dict:
    """Every command each module of ``cab_core.cli`` registers, registered eagerly as before."""
    found = {}
    for info in pkgutil.iter_modules(cli_package.__path__):
        module = importlib.import_module(f"cab_core.cli.{info.name}")
        if not callable(getattr(module, "register", None)):
            continue
        group = click.Group()
        module.register(group)
        for name in group.commands:
            assert name not in found, f"{name} registered by {found.get(name)} and {info.name}"
            found[name] = info.name
    return found


def test_the_table_names_every_builtin_command_and_its_module():
    assert COMMANDS == _registered()


def test_help_lists_every_command_and_each_command_its_own_help():
    cli = make_cli(lambda: get_plugin_manager(entry_points=False))
    out = CliRunner().invoke(cli, ["--help"]).stdout
    listed = out.split("Commands:", 1)[1].split()
    assert all(name in listed for name in COMMANDS)
    for name in COMMANDS:
        res = CliRunner().invoke(make_cli(lambda: get_plugin_manager(entry_points=False)), [name, "--help"])
        assert res.exit_code == 0 and f"Usage: cli {name}" in res.stdout, (name, res.stdout)


def test_a_command_imports_its_own_module_not_the_others():
    code = ("import sys\nfrom cab_core.cli import main\n"
            "try:\n    main(['sweep', '--help'])\nexcept SystemExit:\n    pass\n"
            "print(' '.join(sorted(m for m in sys.modules if m.startswith('cab_core.cli.'))), file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = {m.rsplit(".", 1)[1] for m in proc.stderr.split()}
    assert "sweep" in loaded
    assert not loaded & {"agents", "check", "images", "report", "new", "compare", "export", "listing"}, loaded


def test_a_plugin_command_never_replaces_a_builtin_not_yet_imported():
    class Commands:
        @hookimpl
        def cab_register_commands(self, cli):
            @cli.command("view")
            def view():
                click.echo("a plugin's view")

            @cli.command("hello")
            def hello():
                click.echo("hello from a plugin")

    cli = make_cli(lambda: get_plugin_manager(entry_points=False, plugins=[Commands()]))
    assert CliRunner().invoke(cli, ["hello"]).stdout == "hello from a plugin\n"
    res = CliRunner().invoke(cli, ["view", "--help"])
    assert "Serve a report" in res.stdout and "a plugin's view" not in res.stdout
