"""One declarative record for an agent cab installs from a registry and runs: :class:`InstalledAgent`.

An installed agent's adapter is one :class:`InstalledAgent` plus the few functions that
are really its own (its config file, its command line, how it prints events).  From the
record come everything every such adapter needs and none should write again: the version
it runs (the pin, or ``$CAB_<NAME>_VERSION``), installing it into the agent cache
(npm, or a virtual environment from PyPI) and checking ``--version``, whether it is
installed, the cache folder mounted into the sandbox, its image, the launch (wrapped in
the relay of :mod:`cab_adapters._agents` when the agent prints JSON events, links files
into HOME, or keeps a usage log), and the :class:`cab_core.Adapter` record itself.

The record also knows the wire protocol the agent speaks, so the endpoint and key it is
given are right for its client: OpenAI-style clients take the base URL with ``/v1``;
Anthropic's and Google's SDKs take the root and add their own paths (see the table in
:mod:`cab_core.endpoint`).  :meth:`InstalledAgent.launch_parts` is the launch before the
relay: ``cab agents wiring`` prints it for a user's own endpoint.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable, Mapping, Optional

import attrs

from cab_core import Adapter, AdapterOption, LaunchContext, LaunchSpec, hookimpl
from cab_core.agents import InstallError, npm_install, venv_install
from cab_core.errors import CabError

from . import _agents

#: Wire protocols an installed agent may speak (modules of :mod:`cab_core.endpoint`).
PROTOCOLS = ("chat", "responses", "messages", "gemini")
#: The environment variable each protocol's own client reads its key from.
KEY_ENV = {"chat": "OPENAI_API_KEY", "responses": "OPENAI_API_KEY", "messages": "ANTHROPIC_API_KEY",
           "gemini": "GEMINI_API_KEY"}
INSTALLERS = ("npm", "pypi")
#: The shared image recipes, ``_npm`` and ``_pypi``: an adapter with no ``images/<name>/`` of its own builds one.
RECIPES = Path(__file__).resolve().parent / "images"
Pairs = list  # [(Path, Path)]: (target, link) or (source, copy)


def endpoint_url(url: str, protocol: str) -> str:
    """``url`` (with or without ``/v1``) as ``protocol``'s client wants it: ``/v1`` for OpenAI's, the root else."""
    root = url.rstrip("/")
    root = root[: -len("/v1")] if root.endswith("/v1") else root
    return f"{root}/v1" if protocol in ("chat", "responses") else root


def present(prefix: Path, path: Path) -> bool:
    """Whether ``path`` (a glob when it has ``*``) exists inside ``prefix``."""
    return any(prefix.glob(str(path))) if "*" in str(path) else (prefix / path).exists()


def option_defaults(options) -> dict:
    """``{name: default}`` of the options that have one, as strings (how ``ctx.options`` holds them)."""
    return {o.name: str(o.default).lower() if o.type == "bool" else str(o.default)
            for o in options if o.default is not None}


#: Options most installed agents read.
CONTEXT_WINDOW = AdapterOption(name="context_window", type="int", default=128000, help="the model's context window in tokens")
MAX_TOKENS = AdapterOption(name="max_tokens", type="int", default=16000, help="the most tokens one reply may have")
PROVIDER = AdapterOption(name="provider", default="cab", help="the provider name the agent's config uses (e.g. nim)")
INTERACTIVE_TIMEOUT = AdapterOption(name="interactive_timeout", type="float", default=540,
                                    help="interactive mode: seconds before giving up")


def idle_seconds(default: float) -> AdapterOption:
    return AdapterOption(name="idle_seconds", type="float", default=default,
                         help="interactive mode: seconds of quiet that end a turn")


def default_final(output: str) -> str:
    """The transcript's text after the agent's last tool call, else the output's tail."""
    return _agents.transcript_final(output) or _agents.strip_ansi(output)[-2000:].strip()


def json_text(value) -> str:
    """A config file's text: ``value`` as indented JSON with a final newline."""
    return json.dumps(value, indent=2) + "\n"


def json_config(path: str, build: Callable[[LaunchContext], dict]) -> Callable[[LaunchContext], dict]:
    """A config writer for one JSON file at ``path`` (``~/...``) built by ``build(ctx)``."""
    return lambda ctx: {path: json_text(build(ctx))}


@attrs.frozen(kw_only=True)
class InstalledAgent:
    """An agent installed at a pinned version into the agent cache and run headless (or through its TUI).

    Callables take the cell's :class:`LaunchContext` (``ctx``); ``prefix`` is the agent's
    install folder (in the host's cache, or the same path mapped into its image).
    """

    name: str
    #: The registry package (``@scope/name`` on npm, a distribution on PyPI) and its pinned version.
    package: str
    pinned: str
    installer: str = attrs.field(validator=attrs.validators.in_(INSTALLERS))
    #: The agent's executable, relative to its install folder.
    binary: Path = attrs.field(converter=Path)
    #: The wire protocol the agent's client speaks to the model endpoint.
    protocol: str = attrs.field(default="chat", validator=attrs.validators.in_(PROTOCOLS))
    description: str = ""
    #: The adapter's module (``__name__``): the relay runs as ``python -m MODULE relay``.
    module: str
    #: Environment every run gets: telemetry, update checks and downloads off.
    env: Mapping[str, str] = attrs.field(factory=dict)
    #: ``cell_env(ctx) -> {VAR: value}``: environment that depends on the cell (paths in HOME, the key).
    cell_env: Optional[Callable[[LaunchContext], dict]] = None
    #: ``config(ctx) -> {"~/path": text}``: the config files the agent reads, written into the cell.
    config: Optional[Callable[[LaunchContext], dict]] = None
    #: ``argv(ctx) -> [args]``: the arguments after the binary, for ``ctx.mode`` (headless or interactive).
    argv: Callable[[LaunchContext], list]
    #: ``render(event, usage) -> lines``: the headless run prints JSON lines; the relay shows them as a transcript.
    render: Optional[_agents.Render] = None
    #: ``links(ctx, prefix)`` / ``copies(ctx, prefix)``: ``(target, link)`` / ``(source, copy)`` pairs
    #: the relay makes in HOME before the agent starts (a source may be a glob).
    links: Optional[Callable[[LaunchContext, Path], Pairs]] = None
    copies: Optional[Callable[[LaunchContext, Path], Pairs]] = None
    #: ``usage_log(ctx) -> Path`` and ``read_usage_log(text) -> Usage``: a log the agent writes its
    #: exact token counts to; the relay sums it after the agent exits.
    usage_log: Optional[Callable[[LaunchContext], Path]] = None
    read_usage_log: Optional[Callable[[str], _agents.Usage]] = None
    #: ``tokens(output)``: the agent's own count; ``final(output)``: its final answer.
    tokens: Callable[[str], Optional[dict]] = _agents.reported_usage
    final: Callable[[str], str] = default_final
    #: ``interactive(child, cast, ctx)``: drives the TUI in ``--mode interactive`` (None: no such mode).
    interactive: Optional[Callable] = None
    options: tuple = attrs.field(default=(), converter=tuple)
    version_argv: tuple = attrs.field(default=("--version",), converter=tuple)
    #: ``more_install(prefix, version) -> dict | None``: install steps after the package (details for the record).
    more_install: Optional[Callable[[Path, str], Optional[dict]]] = None
    #: More paths (or globs) in the install folder without which the install is incomplete.
    needs: tuple = attrs.field(default=(), converter=lambda v: tuple(Path(p) for p in v))
    #: The image cells run in under docker (default ``cab/<name>:<version>``).
    image: Optional[str] = None
    #: ``image_args(version) -> {ARG: value}``: more build arguments for the shared recipe (e.g. ``EXTRA``).
    image_args: Optional[Callable[[str], dict]] = None
    #: Regular expressions for what differs in the agent's requests between two runs of one cell
    #: (random ids, wall times in tool outputs): kept out of the cassette's request hash.
    replay_volatile: tuple = attrs.field(default=(), converter=tuple)

    # ------------------------------------------------------------------ versions and installing

    def run_version(self) -> str:
        """The version cells run: the pin, or ``$CAB_<NAME>_VERSION``."""
        return _agents.version_from_env(self.name, self.pinned)

    def spec(self, version: str) -> str:
        """The installer's requirement for ``version`` (``pkg@1.2`` or ``pkg==1.2``)."""
        return f"{self.package}@{version}" if self.installer == "npm" else f"{self.package}=={version}"

    def install(self, version: Optional[str] = None, prefix: Optional[Path] = None, force: bool = False) -> Path:
        """Install ``version`` (default: the one cells run) into the agent cache; returns its folder."""
        version = version or self.run_version()

        def steps(prefix: Path) -> dict:
            (npm_install if self.installer == "npm" else venv_install)(prefix, self.spec(version))
            info = {"package": self.spec(version), **((self.more_install and self.more_install(prefix, version)) or {})}
            missing = [str(p) for p in self.needs if not present(prefix, p)]
            if missing:
                raise InstallError(f"{self.name} {version} installed, but {', '.join(missing)} is missing from {prefix}")
            scratch = prefix / ".version-check"
            xdg = {f"XDG_{k}_HOME": str(scratch / k.lower()) for k in ("CONFIG", "DATA", "CACHE", "STATE")}
            env = {"HOME": str(scratch), **xdg, **self.env}
            _agents.check_version(self.name, version, [str(prefix / self.binary), *self.version_argv], env=env)
            shutil.rmtree(scratch, ignore_errors=True)
            return info

        return _agents.install_agent(self.name, version, prefix, force, steps)

    def is_installed(self) -> bool:
        """Whether the version cells run is in the agent cache (with everything in ``needs``)."""
        prefix = _agents.agent_prefix(self.name, self.run_version())
        return _agents.installed(self.name, self.run_version(), self.binary) and all(present(prefix, p) for p in self.needs)

    # ------------------------------------------------------------------ the endpoint

    def endpoint(self, ctx: LaunchContext) -> str:
        """The cell's model endpoint as this agent's client takes it (see :func:`endpoint_url`)."""
        if not ctx.base_url:
            raise CabError(f"the {self.name} adapter needs a model endpoint (the recording proxy's base URL)")
        return endpoint_url(ctx.base_url, self.protocol)

    def key_env(self, ctx: LaunchContext) -> dict:
        """``{VAR: key}``: the (dummy) key in the variable this protocol's client reads."""
        return {KEY_ENV[self.protocol]: ctx.api_key}

    # ------------------------------------------------------------------ launching

    def launch_parts(self, ctx: LaunchContext) -> dict:
        """The launch before the relay: ``argv``, ``env``, ``files``, ``links``, ``copies``, ``usage_log``."""
        version = self.run_version()
        binary = _agents.require(self.name, version, self.binary, ctx)
        prefix = _agents.agent_prefix(self.name, version)
        if not ctx.agent_from_image and not all(present(prefix, p) for p in self.needs):
            raise CabError(f"{self.name} is not installed: run 'cab agents install {self.name}'")
        self.endpoint(ctx)  # fails in one line without an endpoint
        return {
            "argv": [str(binary), *self.argv(ctx)],
            "env": {**self.env, **(self.cell_env(ctx) if self.cell_env else {})},
            "files": dict(self.config(ctx)) if self.config else {},
            "links": list(self.links(ctx, prefix)) if self.links else [],
            "copies": list(self.copies(ctx, prefix)) if self.copies else [],
            "usage_log": self.usage_log(ctx) if self.usage_log else None,
        }

    def build_launch(self, ctx: LaunchContext) -> LaunchSpec:
        """The cell's :class:`LaunchSpec`: the agent, under the relay when anything needs one."""
        parts = self.launch_parts(ctx)
        render = self.render is not None and ctx.mode != "interactive"
        argv = parts["argv"]
        if render or parts["links"] or parts["copies"] or parts["usage_log"]:
            argv = _agents.relay_argv(self.module, argv, links=parts["links"], copies=parts["copies"],
                                      usage_log=parts["usage_log"], passthrough=not render)
        return LaunchSpec(argv=argv, env=parts["env"], files=parts["files"])

    def main(self) -> None:
        """The module's ``__main__``: ``python -m MODULE relay ...``."""
        _agents.relay_entry(self.name, self.render, self.read_usage_log)

    def hook(self) -> Callable[[], list]:
        """The module's ``cab_adapters`` hook implementation (``cab_adapters = AGENT.hook()``)."""

        def cab_adapters() -> list:
            return [self.adapter()]

        return hookimpl(cab_adapters)

    def adapter(self) -> Adapter:
        """The :class:`cab_core.Adapter` record the module's ``cab_adapters`` hook returns."""
        version = self.run_version()
        by_hand = f"{'npm' if self.installer == 'npm' else 'pip'} install {self.spec(version)}"

        def build_launch(ctx: LaunchContext) -> LaunchSpec:
            return self.build_launch(ctx)

        build_launch.__module__ = self.module  # its image recipes are found beside the adapter's module
        return Adapter(
            name=self.name, build_launch=build_launch, version=version,
            image=self.image or f"cab/{self.name}:{version}", description=self.description,
            final_output=self.final, agent_tokens=self.tokens, install=self.install, is_installed=self.is_installed,
            mounts=_agents.install_mounts(self.name, self.run_version), interactive=self.interactive,
            options=list(self.options), image_recipe=RECIPES / f"_{self.installer}",
            image_args={"AGENT": self.name, "PACKAGE": self.package, "BINARY": str(self.binary),
                        **(self.image_args(version) if self.image_args else {})},
            wiring=lambda ctx: {**self.launch_parts(ctx), "key_env": KEY_ENV[self.protocol],
                                "install": f"cab agents install {self.name}  (or: {by_hand})"},
            replay_volatile=self.replay_volatile,
        )
