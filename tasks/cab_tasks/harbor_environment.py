"""What a Harbor task's Docker environment amounts to for a local run, or why it needs Docker.

A task runs in the local sandbox when it needs nothing the host lacks, decided from its
files (see :mod:`.harbor` for the rules): :func:`read_environment` reads the Dockerfile's
``FROM``/``WORKDIR``/``COPY``/``ENV`` into an :class:`Environment` (the files to place
and where), and :func:`fetches` finds a script that would need the network.  Either
gives the one reason that tags the task ``needs-docker``.
"""

from __future__ import annotations

import json
import posixpath
import re
import shlex
from glob import glob
from pathlib import Path
from typing import Any, Optional

import attrs

from cab_core.errors import TaskError

from . import _convert

DEFAULT_WORKDIR = "/app"
#: Base images whose contents the host is assumed to have (cab itself needs python3 on a Debian-like host).
LOCAL_BASES = {"python", "debian", "ubuntu", "buildpack-deps"}
#: Dockerfile instructions that change nothing a local run needs.
INERT = {"LABEL", "CMD", "ENTRYPOINT", "EXPOSE", "USER", "STOPSIGNAL", "HEALTHCHECK", "VOLUME", "MAINTAINER", "SHELL", "ARG"}
_FETCH = re.compile(
    r"(?<![\w./-])(apt-get|apt|apk|yum|dnf|curl|wget|uvx?|pip3?\s+install|python3?\s+-m\s+pip\s+install"
    r"|npm\s+(?:install|ci|i)|git\s+clone)(?![\w.-])"
)


@attrs.frozen
class Environment:
    """What the task's Docker environment amounts to for a local run."""

    workdir: str = DEFAULT_WORKDIR
    env: dict = attrs.field(factory=dict)
    copies: tuple = ()  # (source path, destination relative to workdir, destination is a folder)
    needs_docker: Optional[str] = None
    image: Optional[str] = None



def _instructions(text: str) -> list[tuple[str, str]]:
    """A Dockerfile's instructions as ``(KEYWORD, arguments)``, continuation lines joined."""
    out, buf = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#") or (not stripped and not buf):
            continue
        if stripped.endswith("\\"):
            buf += stripped[:-1] + " "
            continue
        buf += stripped
        word, _, rest = buf.partition(" ")
        out.append((word.upper(), rest.strip()))
        buf = ""
    if buf.strip():
        word, _, rest = buf.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def _words(args: str) -> list[str]:
    if args.startswith("["):
        try:
            value = json.loads(args)
            if isinstance(value, list):
                return [str(v) for v in value]
        except ValueError:
            pass
    try:
        return shlex.split(args)
    except ValueError:
        return args.split()


def read_environment(layout: Any, config: dict) -> Environment:
    """Read the Dockerfile (if any) into what a local run needs, or the reason it cannot run locally."""
    reasons: list[str] = []
    image = _convert.field(config, "environment.docker_image", str, layout.config)
    if image:
        reasons.append(f"task configuration names the prebuilt image {image}")
    if layout.context == layout.folder / "environment" and any(
        (layout.context / n).is_file() for n in ("docker-compose.yaml", "docker-compose.yml")
    ):
        reasons.append("environment/ defines services (docker-compose.yaml)")
    if layout.dockerfile is None:
        return Environment(needs_docker=reasons[0] if reasons else None, image=image)
    rel_docker = layout.dockerfile.relative_to(layout.folder).as_posix()
    workdir, env, pending = _scan_dockerfile(layout.dockerfile, rel_docker, reasons)
    copies = _copies(layout, rel_docker, workdir, pending, reasons)
    if workdir == "/" and not copies:
        workdir = DEFAULT_WORKDIR  # nothing is placed anywhere: the conventional /app is as good as any
    return Environment(workdir=workdir, env=env, copies=tuple(copies),
                       needs_docker=reasons[0] if reasons else None, image=image)


def _scan_dockerfile(dockerfile: Path, rel_docker: str, reasons: list[str]) -> tuple[str, dict, list]:
    """``(WORKDIR, ENV, pending copies)`` of a Dockerfile; what a local run cannot do goes to ``reasons``."""
    workdir, env, pending, base = "/", {}, [], None  # Docker's default WORKDIR is /
    for keyword, args in _instructions(_convert.read_text(dockerfile, "Dockerfile")):
        if keyword == "FROM":
            words = [w for w in args.split() if not w.startswith("--")]
            ref = words[0] if words else ""
            if base is not None:
                reasons.append(f"{rel_docker} is a multi-stage build")
            base = ref
            name = ref.split("@")[0].rsplit("/", 1)[-1].split(":")[0]
            if name not in LOCAL_BASES:
                reasons.append(f"{rel_docker} builds on {ref}, not a plain python/debian/ubuntu image")
        elif keyword == "WORKDIR":
            workdir = posixpath.normpath(posixpath.join(workdir, _words(args)[0] if _words(args) else "/"))
        elif keyword in ("COPY", "ADD"):
            words = _words(args)
            flags = [w for w in words if w.startswith("--")]
            words = [w for w in words if not w.startswith("--")]
            if any(f.startswith("--from") for f in flags) or len(words) < 2:
                reasons.append(f"{rel_docker} copies from another image")
                continue
            sources, dest = words[:-1], words[-1]
            if any("://" in s for s in sources):
                reasons.append(f"{rel_docker} downloads files ({keyword} {sources[0]})")
                continue
            into_folder = dest.endswith("/") or len(sources) > 1
            pending.append((sources, posixpath.normpath(posixpath.join(workdir, dest)), into_folder))
        elif keyword == "ENV":
            words = _words(args)
            if words and "=" not in words[0]:
                env[words[0]] = " ".join(words[1:])
            else:
                env.update(w.split("=", 1) for w in words if "=" in w)
        elif keyword == "RUN":
            reasons.append(f"{rel_docker} runs commands at build time (RUN {_convert.first_line(args)[:60]})")
        elif keyword not in INERT:
            reasons.append(f"{rel_docker} uses {keyword}")
    return workdir, env, pending


def _copies(layout: Any, rel_docker: str, workdir: str, pending: list, reasons: list[str]) -> list:
    """The files the pending ``COPY``s place below ``workdir`` as ``(source, relative destination, into a folder)``."""
    copies = []
    for sources, dest, into_folder in pending:
        if dest != workdir and not dest.startswith(workdir.rstrip("/") + "/"):
            reasons.append(f"{rel_docker} copies files to {dest}, outside the working directory {workdir}")
            continue
        for source in sources:
            matches = sorted(glob(str(layout.context / source))) if any(c in source for c in "*?[") else (
                [str(layout.context / source)] if (layout.context / source).exists() else [])
            if not matches:
                raise TaskError(f"{layout.dockerfile}: COPY source {source!r} does not exist in {layout.context}")
            for match in matches:
                copies.append((Path(match), posixpath.relpath(dest, workdir), into_folder or Path(match).is_dir()))
    return copies


def fetches(layout: Any) -> Optional[str]:
    """Why a script of the task needs the network, or None."""
    scripts = [layout.test_script]
    if layout.tests_dir:
        scripts += sorted(p for p in layout.tests_dir.rglob("*.sh") if p != layout.test_script)
    if layout.solve_script:
        scripts.append(layout.solve_script)
    for script in scripts:
        try:
            text = script.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            code = line.split("#", 1)[0] if not line.lstrip().startswith("#!") else ""
            match = _FETCH.search(code)
            if match:
                rel = script.relative_to(layout.folder).as_posix()
                return f"{rel} fetches software ({match.group(1).split()[0]}), and the local test run has no network"
    return None
