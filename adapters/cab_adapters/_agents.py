"""What the adapters of installed agents share (the relay, transcripts, install cache helpers).

* Finding an agent in the install cache (:mod:`cab_core.agents`) and failing in one
  line when it is not there.
* A *relay*: agents that print JSON events (``pi --mode json``, ``opencode run
  --format json``) are run under ``python -m cab_adapters.<agent> relay -- ARGV``,
  which prints a readable transcript to the terminal instead (so the recording and
  ``cab replay`` show what the agent did) and ends with one line giving the token
  count the agent itself reported, which :func:`reported_usage` reads back for the
  cross-check against the proxy's count.
* Driving a TUI in interactive mode: recording what it prints, waiting for quiet.
"""

from __future__ import annotations

import codecs
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterable, Optional

from cab_core.agents import InstallError, agent_prefix, is_installed, mark_installed, prepare_prefix, version_of
from cab_core.errors import CabError

#: The relay's last line; ``reported_usage`` parses it.
USAGE_LINE = "[cab] {agent} reported usage: prompt {prompt_tokens}, completion {completion_tokens}, total {total_tokens}"
_USAGE_RE = re.compile(r"\[cab\] [\w.-]+ reported usage: prompt (\d+), completion (\d+), total (\d+)")
#: Transcript lines the relay prints for tool calls and their results.
TOOL_MARK, OK_MARK, ERR_MARK = "→ ", "  ✓ ", "  ✗ "
_ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07|\r")


def version_from_env(name: str, pinned: str) -> str:
    """The version to run: ``$CAB_<NAME>_VERSION`` when set (an installed non-default), else the pin."""
    return os.environ.get(f"CAB_{name.upper()}_VERSION") or pinned


def require(name: str, version: str, path: Path, ctx=None) -> Path:
    """``path`` inside the installed agent, or the one-line error saying how to install it.

    When the sandbox supplies the agent (``ctx.agent_from_image``: its image installs it in the
    agent cache's layout) the host's cache is not looked at: the path is only a name there.
    """
    if ctx is not None and getattr(ctx, "agent_from_image", False):
        return agent_prefix(name, version) / path
    if not installed(name, version, path):
        raise CabError(f"{name} is not installed: run 'cab agents install {name}'")
    return agent_prefix(name, version) / path


def installed(name: str, version: str, path: Path) -> bool:
    """Whether ``path`` exists inside a finished install of ``name`` ``version``."""
    prefix = agent_prefix(name, version)
    return is_installed(prefix) and (prefix / path).exists()


def install_mounts(name: str, version: Callable[[], str]) -> Callable[..., list]:
    """``Adapter.mounts`` of an installed agent: its own folder of the agent cache (not the cache), read-only."""

    def mounts(ctx=None) -> list:
        from cab_core import Mount

        current = version()
        return [Mount(path=agent_prefix(name, current), why=f"{name} {current}, from the agent cache")]

    return mounts


def install_agent(name: str, version: str, prefix: Optional[Path], force: bool,
                  steps: Callable[[Path], Optional[dict]]) -> Path:
    """Install ``name`` ``version`` into ``prefix`` (default: the cache) unless it is there already.

    ``steps(prefix)`` does the work into an empty folder and may return details for the
    install record; the record is written last, so a failed install is redone next time.
    """
    prefix = Path(prefix) if prefix else agent_prefix(name, version)
    if is_installed(prefix) and not force:
        return prefix
    prepare_prefix(prefix)
    info = steps(prefix) or {}
    mark_installed(prefix, name=name, version=version, **info)
    return prefix


def check_version(name: str, version: str, argv: list, *, env: Optional[dict] = None) -> None:
    """Fail the install unless ``argv`` (``bin --version``) names ``version``: the right agent, and it starts."""
    reported = version_of(argv, env=env)
    if reported is None or version not in reported:
        raise InstallError(f"{name} {version} was installed, but '{' '.join(map(str, argv))}' says {reported!r}")


def relay_argv(module: str, argv: Iterable[str], *, links: Iterable[tuple[Path, Path]] = (),
               copies: Iterable[tuple[Path, Path]] = (), usage_log: Optional[Path] = None,
               passthrough: bool = False) -> list[str]:
    """The command that runs ``argv`` under the relay of adapter module ``module``.

    ``links`` are ``(target, link)`` symlinks and ``copies`` ``(source, copy)`` file copies made
    before the agent starts, inside the sandbox: the cell's HOME is written only there, spec
    files cannot be links, and the agent's own files (in the host's cache, or in the image
    under docker) are only readable there.  A copy's source may be a glob (the first match).
    ``usage_log`` is a file the agent writes its token counts to, summed after it exits;
    ``passthrough`` leaves the agent's terminal alone (its output is not JSON events).
    """
    head = [sys.executable, "-I", "-m", module, "relay"]
    for target, link in links:
        head += ["--link", f"{target}={link}"]
    for source, copy in copies:
        head += ["--copy", f"{source}={copy}"]
    if usage_log is not None:
        head += ["--usage-log", str(usage_log)]
    if passthrough:
        head += ["--passthrough", "yes"]
    return [*head, "--", *argv]


def prepare_home(links: Iterable[tuple[Path, Path]], copies: Iterable[tuple[Path, Path]]) -> Optional[str]:
    """Make the relay's links and copies; the first problem as one line, else None.

    A link to something that is not there is not made: a link is a shortcut to what the
    install prepared (Copilot's unpacked application), and an agent run from its image,
    whose install did not prepare it, then does the work itself instead of meeting a
    dangling link.
    """
    import shutil

    try:
        for target, link in links:
            if not target.exists():
                continue
            link.parent.mkdir(parents=True, exist_ok=True)
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to(target)
        for source, copy in copies:
            if any(c in str(source) for c in "*?["):
                found = sorted(Path(source.anchor).glob(str(source.relative_to(source.anchor))))
                if not found:
                    return f"[cab] could not prepare the agent's home: nothing matches {source}"
                source = found[0]
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, copy)
    except OSError as exc:
        return f"[cab] could not prepare the agent's home: {exc}"
    return None


class Usage:
    """Token counts summed over the agent's own per-call reports."""

    def __init__(self) -> None:
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.reports = 0

    def add(self, prompt: object, completion: object) -> None:
        """Add one report; a value that is not a whole non-negative count (text, infinity, a list) counts 0."""
        self.prompt_tokens += _count(prompt)
        self.completion_tokens += _count(completion)
        self.reports += 1

    def line(self, agent: str) -> str:
        return USAGE_LINE.format(agent=agent, prompt_tokens=self.prompt_tokens, completion_tokens=self.completion_tokens,
                                 total_tokens=self.prompt_tokens + self.completion_tokens)


def _count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0
    return int(value) if value == value and abs(value) != float("inf") and value >= 0 else 0


Render = Callable[[dict, Usage], Iterable[str]]


def usage_from_json_lines(text: str, pick: Callable[[dict], object]) -> Usage:
    """``Usage`` summed over the JSON-object lines of ``text`` for which ``pick(event)`` gives ``(prompt, completion)``."""
    usage = Usage()
    for line in text.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        try:  # a hostile or new event shape (a count that is text, infinity, a list) is skipped, never fatal
            counts = pick(event) if isinstance(event, dict) else None
            if isinstance(counts, tuple):
                usage.add(*counts)
        except (TypeError, ValueError, OverflowError, AttributeError, KeyError, IndexError):
            continue
    return usage


def relay_main(agent: str, render: Optional[Render], args: list[str],
               read_usage_log: Optional[Callable[[str], "Usage"]] = None) -> int:
    """``relay [--link T=L]... [--copy S=C]... [--usage-log F] [--passthrough yes] -- ARGV``: run ARGV.

    Headless, ARGV's JSON events are printed as a transcript (lines that are not JSON
    objects pass through unchanged) and the usage they report ends it; with
    ``--passthrough`` ARGV keeps the terminal (a TUI, or plain output).  With
    ``--usage-log`` the counts come from that file after ARGV exits, and the line is
    printed only when it had any.  The exit status is the agent's.
    """
    found: dict[str, list] = {"--link": [], "--copy": [], "--usage-log": [], "--passthrough": []}
    while len(args) > 1 and args[0] in found:
        first, _, second = args[1].partition("=")
        found[args[0]].append((Path(first), Path(second)) if second else args[1])
        args = args[2:]
    if not args or args[0] != "--" or len(args) < 2:
        print("usage: relay [--link TARGET=LINK]... [--copy SOURCE=COPY]... [--usage-log FILE] -- ARGV", file=sys.stderr)
        return 2
    argv = args[1:]
    problem = prepare_home(found["--link"], found["--copy"])
    if problem:
        print(problem, flush=True)
    usage = Usage()
    try:
        if render is None or found["--passthrough"]:
            code = subprocess.call(argv)
        else:
            code = _relay_events(argv, render, usage)
    except OSError as exc:
        print(f"cannot start {argv[0]}: {exc}", file=sys.stderr)
        return 127
    if found["--usage-log"] and read_usage_log is not None:
        try:
            usage = read_usage_log(Path(found["--usage-log"][-1]).read_text(errors="replace"))
        except Exception:  # the agent's own log, in whatever state it left it: no count, never a crash
            usage = Usage()
    if usage.reports or (render is not None and not found["--passthrough"]):
        print(usage.line(agent), flush=True)
    return code if code >= 0 else 128 - code


def _relay_events(argv: list[str], render: Render, usage: "Usage") -> int:
    """Run ``argv``, printing its JSON events as transcript lines; its exit status."""
    out = sys.stdout
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    for raw in proc.stdout:
        line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        try:
            event = json.loads(line)
        except ValueError:
            event = None
        if not isinstance(event, dict):
            out.write(line + "\n")
        else:
            try:
                for text in render(event, usage):
                    out.write(text + "\n")
            except Exception as exc:  # a new event shape must never stop the agent
                out.write(f"[cab] could not render a {event.get('type')!r} event: {type(exc).__name__}: {exc}\n")
        out.flush()
    return proc.wait()


def relay_entry(agent: str, render: Optional[Render], read_usage_log: Optional[Callable[[str], "Usage"]] = None) -> None:
    """``python -m cab_adapters.<agent> relay ...``: the module's ``__main__``."""
    args = sys.argv[1:]
    if not args or args[0] != "relay":
        print(f"usage: python -m cab_adapters.{agent} relay [--link TARGET=LINK]... -- ARGV", file=sys.stderr)
        raise SystemExit(2)
    raise SystemExit(relay_main(agent, render, args[1:], read_usage_log))


def clip(text: str, width: int = 160) -> str:
    """The first line of ``text``, at most ``width`` characters."""
    first = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return first if len(first) <= width else first[: width - 1] + "…"


def tool_summary(name: str, args: object) -> str:
    """``→ name target`` for a tool call: the path, command or pattern it acts on."""
    target = ""
    if isinstance(args, dict):
        for key in ("path", "filePath", "file_path", "command", "cmd", "pattern", "url", "description"):
            if isinstance(args.get(key), str):
                target = args[key]
                break
    return f"{TOOL_MARK}{name} {clip(target)}".rstrip()


def reported_usage(output: str) -> Optional[dict]:
    """The token count the relay's last usage line gives, or None."""
    matches = _USAGE_RE.findall(output or "")
    if not matches:
        return None
    prompt, completion, total = (int(v) for v in matches[-1])
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": total}


def transcript_final(output: str) -> str:
    """The agent's final answer in a relay transcript: the text after its last tool call."""
    lines = strip_ansi(output or "").splitlines()
    end = next((i for i in range(len(lines) - 1, -1, -1) if _USAGE_RE.search(lines[i])), len(lines))
    start = end
    while start > 0 and not lines[start - 1].startswith((TOOL_MARK, OK_MARK, ERR_MARK, "[cab] ")):
        start -= 1
    return "\n".join(lines[start:end]).strip()


def strip_ansi(text: str) -> str:
    """``text`` without terminal escape sequences and carriage returns."""
    return _ANSI_RE.sub("", text)


# --------------------------------------------------------------------------- interactive mode


class CastRecorder:
    """A pexpect ``logfile_read`` that writes what the TUI prints into the cell's recording."""

    def __init__(self, cast) -> None:
        self.cast = cast
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.seen = bytearray()

    def write(self, data: bytes) -> None:
        self.seen += data
        if self.cast is not None:
            self.cast.output(self.decoder.decode(data))

    def flush(self) -> None:
        pass

    def text(self) -> str:
        return strip_ansi(self.seen.decode("utf-8", errors="replace"))


def give_answer(cast, text: Optional[str]) -> None:
    """Record the agent's final answer the moment the driver sees it (see ``CastWriter.answer``)."""
    text = (text or "").strip()
    if text and cast is not None and callable(getattr(cast, "answer", None)):
        cast.answer(text)


def type_text(child, cast, text: str) -> None:
    """Type ``text`` into the TUI and record it as input."""
    if cast is not None:
        cast.input(text)
    child.send(text)


def read_until_quiet(child, *, quiet: float, deadline: float, until: Optional[Callable[[], bool]] = None) -> bool:
    """Read the child's output until ``until()`` holds and nothing arrived for ``quiet`` seconds.

    Returns False when the child exited or ``deadline`` (a ``time.monotonic()`` value) passed first.
    """
    import pexpect

    last = time.monotonic()
    while time.monotonic() < deadline:
        try:
            child.read_nonblocking(65536, timeout=0.2)
            last = time.monotonic()
        except pexpect.TIMEOUT:
            if time.monotonic() - last >= quiet and (until is None or until()):
                return True
        except pexpect.EOF:
            return False
    return False


def quit_tui(child, cast, command: str, *, grace: float = 10.0) -> None:
    """Type ``command`` (e.g. ``/quit``) and Enter; Ctrl-D if the TUI has not exited after ``grace`` s.

    What the agent prints while it exits is left unread, for the runner: that is
    where a relay's usage line is.
    """
    type_text(child, cast, command)
    read_until_quiet(child, quiet=0.3, deadline=time.monotonic() + 5)
    type_text(child, cast, "\r")
    for wait in (grace, 2.0, 2.0):
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not child.isalive():
                return
            time.sleep(0.1)
        type_text(child, cast, "\x04")


def wait_for(child, predicate: Callable[[], bool], *, deadline: float) -> bool:
    """Read the child's output until ``predicate()`` holds; False on exit or after ``deadline``."""
    import pexpect

    while time.monotonic() < deadline:
        if predicate():
            return True
        try:
            child.read_nonblocking(65536, timeout=0.2)
        except pexpect.TIMEOUT:
            continue
        except pexpect.EOF:
            return predicate()
    return predicate()
