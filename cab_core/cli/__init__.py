"""The ``cab`` command line, built by :func:`make_cli` around a plugin-manager factory.

Plugins load only when a command needs them, so ``cab --help`` stays fast.  Each
built-in command's module is imported only when that command is asked for
(:data:`COMMANDS`; click's documented "lazily loading subcommands" pattern): ``cab
sweep`` no longer imports the modules of the twenty other commands at every start
(issue 16), while ``cab --help`` still lists them all.  Errors a user can cause print
one line, ``Error: ...``, and exit with status 2.
"""

from __future__ import annotations

import errno
import functools
import gc
import sys
from typing import Callable, Optional

from .. import codecache, recache

recache.install()  # before click and the records compile their patterns: the engine's code is kept (issue 16)
codecache.install()  # before any attrs class is made: their generated methods' bytecode is kept (issue 16)

import click  # noqa: E402

from .. import __version__
from ..errors import CabError, os_error_line


class State:
    """Per-invocation state: the plugin manager and registry, created on first use."""

    def __init__(self, pm_factory: Callable[[], object]):
        self._pm_factory = pm_factory
        self._pm = None
        self._registry = None

    @property
    def pm(self):
        if self._pm is None:
            self._pm = self._pm_factory()
            settle()
        return self._pm

    @property
    def registry(self):
        if self._registry is None:
            from ..registry import Registry

            self._registry = Registry(self.pm)
        return self._registry

    def catalog(self, tasks_dirs=(), task_format: str = "auto"):
        from ..tasks import TaskCatalog

        return TaskCatalog(self.registry, tasks_dirs=tasks_dirs, task_format=task_format)


#: The collector's thresholds before the ``cab`` script raised them for start-up (None: not raised).
_GC: dict = {"thresholds": None}
#: Objects allocated between collections of the youngest generation during start-up
#: (Python's default is 700): rare enough to cost little, never off altogether.
START_THRESHOLD = 200_000


def settle() -> None:
    """The end of a start-up phase (plugins loaded; a sweep about to run its cells).

    Start-up builds tens of thousands of objects that live as long as the process
    (modules, classes, records), and the collector, run every 700 allocations, went
    over them again and again: about half a second of a sweep's CPU (issue 16).  Under
    the ``cab`` script the collector runs rarely from the start (:data:`START_THRESHOLD`;
    a command that never settles still collects); here what is alive is moved out of
    its sight for good (``gc.freeze``) and its thresholds are restored, so later passes
    see only what cells create.  Cyclic leftovers of start-up not yet collected are
    frozen with the rest (kept, once per process).  A no-op for tests and programs that
    call :func:`make_cli` themselves.
    """
    if _GC["thresholds"] is not None:
        gc.freeze()
        gc.set_threshold(*_GC["thresholds"])


def handle_errors(func):
    """Turn user errors into one line and exit 2; never a traceback for those.

    A ``CabError`` is its own message; an ``OSError`` on a path the user named (a
    results folder that is a file, an unwritable cassette) is ``<path>: <reason>``.
    :meth:`CabGroup.main` does the same for errors raised outside a command body.
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except CabError as exc:
            raise click.exceptions.Exit(_fail(str(exc), exc.exit_code))
        except OSError as exc:
            line = _user_os_error(exc)
            if line is None:
                raise
            raise click.exceptions.Exit(_fail(line))

    return wrapper


def _user_os_error(exc: OSError) -> Optional[str]:
    """The one line for an OS error the user can fix (a path they named, a port in use); None for others."""
    if exc.errno == errno.EADDRINUSE:
        return "the port is in use on 127.0.0.1: choose another with --port (0: any free port)"
    if exc.filename is not None:
        return os_error_line(exc)
    return None


def _fail(message: str, code: int = 2) -> int:
    click.echo(f"Error: {' '.join(str(message).split(chr(10)))}", err=True)
    return code


#: Each built-in command and the module of this package whose ``register(cli)`` adds it (with its
#: siblings): imported the first time one of its commands is asked for.  ``tests/test_cli_lazy.py``
#: checks this table against what the modules register.
COMMANDS: dict[str, str] = {
    "plugins": "listing", "adapters": "listing", "scorers": "listing", "sandboxes": "listing",
    "executors": "listing", "agent-plugins": "listing", "tasks": "tasks", "run": "run", "model": "run",
    "replay": "run", "check": "check", "sweep": "sweep", "index": "sweep", "summary": "summary",
    "report": "report", "view": "report", "badge": "report", "agents": "agents", "images": "images",
    "compare": "compare", "export": "export", "new": "new",
}


class CabGroup(click.Group):
    """The ``cab`` group: built-in commands, plus those plugins add through ``cab_register_commands``.

    A built-in command's module is imported when the command is first asked for
    (:data:`COMMANDS`); listing the commands (``cab --help``) asks for them all.  Plugin
    commands are looked up only when a name is not a built-in command, so ``cab --help``
    and every built-in command start without loading a plugin; a plugin that raises while
    adding commands is a one-line warning, and a name a built-in already has stays the
    built-in's.
    """

    def __init__(self, *args, pm_factory: Callable[[], object], lazy: Optional[dict] = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.pm_factory = pm_factory
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list:
        return sorted(set(self.commands) | set(self.lazy))

    def builtin(self, name: str):
        """The built-in command ``name``, its module registered on first use (None: not a built-in)."""
        if name not in self.commands and name in self.lazy:
            import importlib

            module = importlib.import_module(f"{__name__}.{self.lazy[name]}")
            for sibling in [n for n, m in self.lazy.items() if m == self.lazy[name]]:
                self.lazy.pop(sibling, None)
            module.register(self)
        return self.commands.get(name)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        """Run as click would, but every error the user can cause is one line (``Error: ...``).

        click's own usage errors (a missing argument, a bad option value, an unknown
        command) print the usage and a hint over four lines; here they are one line
        naming what is wrong and the command whose ``--help`` explains it, exit 2.
        """
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.NoArgsIsHelpError as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.UsageError as exc:
            hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
            sys.exit(_fail(exc.format_message().rstrip('.') + hint, exc.exit_code))
        except click.ClickException as exc:
            sys.exit(_fail(exc.format_message(), exc.exit_code))
        except click.exceptions.Abort as exc:
            click.echo("Aborted!", err=True)
            sys.exit(130 if isinstance(exc.__cause__, KeyboardInterrupt) else 1)
        except CabError as exc:
            sys.exit(_fail(str(exc), exc.exit_code))
        except OSError as exc:
            if exc.errno == errno.EPIPE:
                sys.exit(1)
            line = _user_os_error(exc)
            if line is None:
                raise
            sys.exit(_fail(line))
        sys.exit(rv if isinstance(rv, int) and not isinstance(rv, bool) else 0)

    def resolve_command(self, ctx: click.Context, args):
        """As click's, with "Did you mean" drawn from every built-in command, imported or not."""
        no_such = getattr(click.exceptions, "NoSuchCommand", ())  # click 8.2 (8.1 suggests nothing)
        try:
            return super().resolve_command(ctx, args)
        except no_such as exc:
            raise no_such(exc.command_name, possibilities=self.list_commands(ctx), ctx=ctx) from None

    def get_command(self, ctx: click.Context, name: str):
        command = self.builtin(name)
        if command is None and ctx.meta.get("cab.plugin_commands") is None:
            ctx.meta["cab.plugin_commands"] = self.plugin_commands(ctx)
            command = ctx.meta["cab.plugin_commands"].get(name)
        return command

    def plugin_commands(self, ctx: click.Context) -> dict:
        """The commands plugins add (never replacing a built-in), loading the plugins once."""
        from ..registry import call_each

        if ctx.obj is None:
            ctx.obj = State(self.pm_factory)
        staging = click.Group()
        for call in call_each(ctx.obj.pm, "cab_register_commands", cli=staging):
            if call.error:
                click.echo(f"cab: warning: {call.problem}", err=True)
        return {n: c for n, c in staging.commands.items() if n not in self.commands and n not in self.lazy}


def _default_pm():
    from ..plugins import get_plugin_manager

    return get_plugin_manager()


def make_cli(pm_factory: Optional[Callable[[], object]] = None) -> click.Group:
    """Build the ``cab`` command group around ``pm_factory`` (tests pass their own)."""
    factory = pm_factory or _default_pm

    @click.group(cls=CabGroup, pm_factory=factory, lazy=COMMANDS,
                 context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
    @click.version_option(__version__, prog_name="cab")
    @click.pass_context
    def cli(ctx):
        """cab: run terminal coding agents on coding tasks, record everything, score every axis.

        \b
        Quick start (offline, no key):
          cab run --adapter command --model oracle --task polyglot/rust-error-handling
          cab run --adapter pi --model scripted/oracle --task polyglot/rust-error-handling

        Plugins may add commands ('cab plugins' lists their hooks).
        """
        if ctx.obj is None:
            ctx.obj = State(factory)

    return cli


cli = make_cli()


def main(argv=None) -> None:
    """Console-script entry point.

    SIGTERM (a scheduler's kill, ``timeout``, a container stopping) stops cab as Ctrl-C
    does: the cell being run is discarded (the previous record stays), its sandbox,
    processes and scratch folders are removed, a sweep is marked interrupted (resume
    picks it up); the exit status is 143.

    As the ``cab`` script (no ``argv``) it leaves through :func:`_leave`; given ``argv``
    (``python -m``, tests) it raises ``SystemExit`` as click does.
    """
    import signal

    terminated = []

    def on_term(signum, _frame):
        from ..sandbox import procs

        terminated.append(signum)
        procs.stop_all()  # cells running on other threads (a sweep) end now, without a record
        raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGTERM, on_term)
    except ValueError:  # not the main thread (embedded): leave the default
        pass
    script = argv is None
    if script and gc.isenabled():  # rare collections until settle(): see there
        _GC["thresholds"] = gc.get_threshold()
        gc.set_threshold(START_THRESHOLD, *_GC["thresholds"][1:])
    try:
        cli.main(args=argv, prog_name="cab")
    except SystemExit as exc:
        code = 128 + signal.SIGTERM if terminated else exc.code
        if not script:
            if terminated:
                sys.exit(code)
            raise
        _leave(code)
    if script:
        _leave(0)


def _leave(code) -> None:
    """Exit as the interpreter would, without tearing every module down (issue 16: wind-down).

    Tearing down the hundreds of modules a sweep imports costs about a fifth of a second
    of CPU and shows nothing.  What can be seen still happens, in the interpreter's own
    order: non-daemon threads are joined (``threading._shutdown``, which also runs
    ``concurrent.futures``' exit hooks), ``atexit`` handlers run (scratch folders removed,
    parked sandboxes closed, ``weakref.finalize`` callbacks), stdout and stderr are
    flushed (a closed pipe is status 120, as Python's), then ``os._exit``.
    ``CAB_FULL_EXIT=1`` leaves through the interpreter's finalisation instead.
    """
    import atexit
    import os
    import threading

    if os.environ.get("CAB_FULL_EXIT") == "1":
        sys.exit(code)
    if code is None:
        code = 0
    elif not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    shutdown = getattr(threading, "_shutdown", None)
    if shutdown is not None:
        shutdown()
    else:  # pragma: no cover  (every CPython cab supports has it)
        for thread in threading.enumerate():
            if thread is not threading.current_thread() and not thread.daemon:
                thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            code = code or 120
    os._exit(int(code) & 0xFF)


__all__ = ["COMMANDS", "make_cli", "cli", "main", "handle_errors", "settle", "State", "CabGroup"]


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
