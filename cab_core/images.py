"""Container images for the docker sandbox: the recipes plugins ship, building and listing them.

A recipe is a folder ``images/<name>/`` holding a ``Dockerfile``, found beside the
module of a plugin that supplies an adapter (ours are in ``adapters/cab_adapters/images/``;
a third party's ``cab_adapter_xyz/images/xyz/`` is found the same way, so the core never
imports an adapter package).  ``base`` is the toolchain image: the docker sandbox's
default (the ``command`` adapter has no image of its own) and what every other recipe
builds ``FROM``.  Every other recipe is named after its adapter and built at the
adapter's pinned version.

A Dockerfile declares ``ARG BASE=<image>`` before ``FROM ${BASE}`` and ``ARG VERSION=<default>``;
the build passes ``BASE`` (``--base`` for the base recipe, the base recipe's tag for the
others) and ``VERSION`` (the adapter's).  The image is tagged ``cab/<name>:<version>``
(or the adapter's own ``image``) and labelled ``cab.recipe`` and ``cab.version``.
Builds may use the host network to fetch packages; the containers of cells never get one.

Agent images install their agent as ``cab agents install`` lays out the host's agent
cache, ``<name>/<version>/...``, under :data:`IMAGE_AGENTS_DIR`: the docker sandbox maps
the host cache's paths in a launch to that folder (see :mod:`cab_core.sandbox.docker`).
"""

from __future__ import annotations

import datetime as _dt
import inspect
import io
import re
import sys
import time
from pathlib import Path
from typing import Callable, Iterable, Mapping, Optional

import attrs

from .errors import CabError, one_line

#: The toolchain image: the docker sandbox's default, the base of every agent image.
DEFAULT_IMAGE = "cab/base:bookworm"
#: The bare root file system the base recipe builds FROM by default (scripts/docker-setup.sh makes it).
ROOTFS_IMAGE = "cab/rootfs:bookworm"
#: Where agent images install their agents (same layout as the host's agent cache).
IMAGE_AGENTS_DIR = "/opt/cab/agents"
BASE_RECIPE = "base"
LABEL_RECIPE = "cab.recipe"
LABEL_VERSION = "cab.version"

_ARG_RE = re.compile(r"^\s*ARG\s+([A-Za-z_][A-Za-z0-9_]*)=(\S+)\s*$", re.MULTILINE)


class DockerUnavailable(CabError):
    """The docker daemon cannot be reached (the message says how to start it)."""


class ImageBuildError(CabError):
    """``docker build`` of a recipe failed (the message ends with the build's last words)."""


def client(timeout: float = 600, **kwargs):
    """A docker SDK client for the daemon in the environment (``DOCKER_HOST`` or the local socket).

    ``kwargs`` go to ``docker.from_env`` (e.g. ``max_pool_size``)."""
    try:
        import docker
    except ImportError as exc:  # pragma: no cover - a dependency of cab-core
        raise DockerUnavailable(f"the docker Python SDK is not installed ({exc}); pip install docker") from None
    try:
        found = docker.from_env(timeout=timeout, **kwargs)
        found.ping()
    except Exception as exc:
        reason = one_line(exc, bare=True)[:200]
        raise DockerUnavailable(f"cannot reach the docker daemon ({reason}); start it with scripts/docker-setup.sh") from None
    return found


def unavailable_reason() -> Optional[str]:
    """None when the docker daemon answers, else the one-line reason it does not."""
    try:
        client(timeout=10).close()
    except DockerUnavailable as exc:
        return str(exc)
    return None


# --------------------------------------------------------------------------- recipes


@attrs.frozen(kw_only=True)
class Recipe:
    """One image recipe: a folder with a Dockerfile, and what it builds."""

    name: str
    path: Path = attrs.field(converter=Path)
    tag: str
    version: str
    #: The image it builds FROM unless told otherwise (the Dockerfile's ``ARG BASE`` default).
    base: Optional[str] = None
    #: The adapter it is the image of (None for ``base``, or a recipe whose adapter is not loaded).
    adapter: Optional[str] = None
    #: Build arguments beyond ``BASE`` and ``VERSION`` (a shared recipe's, from the adapter's ``image_args``).
    args: Mapping[str, str] = attrs.field(factory=dict)


def dockerfile_args(path: Path) -> dict[str, str]:
    """The defaults of a Dockerfile's ``ARG NAME=value`` lines (first one wins)."""
    found: dict[str, str] = {}
    for name, value in _ARG_RE.findall(Path(path).read_text()):
        found.setdefault(name, value.strip("\"'"))
    return found


def _module_dir(adapter) -> Optional[Path]:
    func = adapter.build_launch
    module = sys.modules.get(getattr(func, "__module__", "") or "")
    try:
        source = getattr(module, "__file__", None) or inspect.getfile(func)
    except TypeError:
        return None
    return Path(source).resolve().parent if source else None


def recipe_dirs(adapters: Iterable) -> list[Path]:
    """The ``images/`` folders beside the modules of the given adapter records."""
    found: list[Path] = []
    for adapter in adapters:
        folder = _module_dir(adapter)
        if folder is not None and (folder / "images").is_dir() and folder / "images" not in found:
            found.append(folder / "images")
    return found


def adapter_image(adapter) -> str:
    """The image an adapter's cells run in under docker: its own ``image``, else ``cab/<name>:<version>``."""
    return adapter.image or f"cab/{adapter.name}:{adapter.version or 'latest'}"


def find_recipes(adapters: Iterable) -> dict[str, Recipe]:
    """Every recipe beside the given adapters' modules, by name (``base`` first)."""
    adapters = list(adapters)
    by_name = {a.name: a for a in adapters}
    recipes: dict[str, Recipe] = {}
    for folder in recipe_dirs(adapters):
        for dockerfile in sorted(folder.glob("*/Dockerfile")):
            name = dockerfile.parent.name
            if name in recipes or name.startswith("_"):  # ``_name``: a shared recipe, built only for an adapter
                continue
            args = dockerfile_args(dockerfile)
            adapter = by_name.get(name)
            if adapter is not None and name != BASE_RECIPE:
                version = adapter.version or args.get("VERSION", "latest")
                tag = adapter_image(attrs.evolve(adapter, version=version))
            else:
                version = args.get("VERSION", "latest")
                tag = f"cab/{name}:{version}"
            recipes[name] = Recipe(name=name, path=dockerfile.parent, tag=tag, version=version,
                                   base=args.get("BASE"), adapter=adapter.name if adapter else None)
    for adapter in adapters:
        if adapter.name not in recipes and adapter.image_recipe and (Path(adapter.image_recipe) / "Dockerfile").is_file():
            args = dockerfile_args(Path(adapter.image_recipe) / "Dockerfile")
            version = adapter.version or "latest"
            recipes[adapter.name] = Recipe(name=adapter.name, path=adapter.image_recipe, version=version,
                                           tag=adapter_image(attrs.evolve(adapter, version=version)), base=args.get("BASE"),
                                           adapter=adapter.name, args=dict(adapter.image_args))
    return dict(sorted(recipes.items(), key=lambda kv: (kv[0] != BASE_RECIPE, kv[0])))


def build_plan(recipes: dict[str, Recipe], names: Iterable[str] = ()) -> list[Recipe]:
    """The recipes to build for ``names`` (all when empty), the base recipe first."""
    names = list(names)
    if not names:
        return list(recipes.values())
    unknown = [n for n in names if n not in recipes]
    if unknown:
        raise CabError(f"no image recipe for {', '.join(map(repr, unknown))} (available: {', '.join(recipes) or 'none'})")
    plan = [recipes[BASE_RECIPE]] if BASE_RECIPE in recipes else []
    plan += [recipes[n] for n in names if n != BASE_RECIPE]
    return plan


# --------------------------------------------------------------------------- building

#: The host's own CA certificates (Debian's place for local additions).  A build context
#: carries them as ``cab-host-ca/``, so a build stage that fetches over TLS through an
#: intercepting egress proxy can trust what the host trusts (``COPY cab-host-ca/ ...``);
#: a recipe copies them into build stages only, never into the image cells run in.
HOST_CA_DIR = Path("/usr/local/share/ca-certificates")
CONTEXT_CA_DIR = "cab-host-ca"


def build_context(folder: Path, *, ca_dir: Path = HOST_CA_DIR) -> io.BytesIO:
    """The build context of a recipe folder, as a tar, plus the host's CA certificates under ``cab-host-ca/``."""
    import tarfile  # only to build an image: not on every start (issue 16)

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path in sorted(Path(folder).rglob("*")):
            tar.add(path, arcname=str(path.relative_to(folder)), recursive=False)
        info = tarfile.TarInfo(CONTEXT_CA_DIR)
        info.type, info.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(info)
        certs = sorted(p for p in Path(ca_dir).rglob("*.crt") if p.is_file()) if Path(ca_dir).is_dir() else []
        for cert in certs:
            tar.add(cert, arcname=f"{CONTEXT_CA_DIR}/{cert.name}", recursive=False)
    buf.seek(0)
    return buf



@attrs.frozen(kw_only=True)
class Built:
    """What one build produced."""

    recipe: str
    tag: str
    id: str
    seconds: float


def build(
    recipe: Recipe,
    *,
    base: Optional[str] = None,
    docker_client=None,
    network: str = "host",
    nocache: bool = False,
    on_line: Optional[Callable[[str], None]] = None,
) -> Built:
    """Build ``recipe`` FROM ``base`` (default: its Dockerfile's) and tag it; raise :class:`ImageBuildError`.

    ``network`` is the build's network (``host``: builds fetch packages; cells never
    get one).  ``on_line`` receives the build's output, line by line.
    """
    dc = docker_client or client()
    base = base or recipe.base
    if base == ROOTFS_IMAGE:  # made on this machine, never pulled (any other base docker may pull)
        try:
            dc.images.get(base)
        except Exception:
            raise ImageBuildError(f"base image {base!r} of recipe {recipe.name!r} is not there: make it with "
                                  f"scripts/docker-setup.sh (debootstrap + docker import), or pass --base IMAGE") from None
    buildargs = {**recipe.args, "VERSION": recipe.version}
    if base:
        buildargs["BASE"] = base
    t0 = time.monotonic()
    tail: list[str] = []
    image_id = None
    stream = dc.api.build(
        fileobj=build_context(recipe.path), custom_context=True, tag=recipe.tag, buildargs=buildargs,
        network_mode=network, rm=True, forcerm=True, pull=False, nocache=nocache, decode=True,
        labels={LABEL_RECIPE: recipe.name, LABEL_VERSION: recipe.version},
    )
    for chunk in stream:
        if "error" in chunk:
            detail = (chunk.get("errorDetail") or {}).get("message") or chunk["error"]
            said = [line for line in tail if re.match(r"\s*(npm ERR!|E: |error|ERROR)", line)] or tail[-3:]
            last = " | ".join(line.strip() for line in said[-4:] if line.strip())
            raise ImageBuildError(f"building {recipe.tag} failed: {detail.strip()}" + (f" (after: {last[-400:]})" if last else ""))
        text = chunk.get("stream") or chunk.get("status") or ""
        for line in text.splitlines():
            tail = (tail + [line.rstrip()])[-20:]
            if on_line is not None:
                on_line(line.rstrip())
        aux = chunk.get("aux") or {}
        if isinstance(aux, dict) and aux.get("ID"):
            image_id = aux["ID"]
    image_id = image_id or dc.images.get(recipe.tag).id
    return Built(recipe=recipe.name, tag=recipe.tag, id=image_id, seconds=time.monotonic() - t0)


# --------------------------------------------------------------------------- listing


def image_row(image, recipe: Optional[str] = None) -> dict:
    """What ``cab images list`` shows for one image."""
    a = image.attrs
    labels = (a.get("Config") or {}).get("Labels") or {}
    created = a.get("Created", "")
    return {
        "image": ", ".join(image.tags) or "<untagged>",
        "recipe": labels.get(LABEL_RECIPE) or recipe,
        "version": labels.get(LABEL_VERSION),
        "id": image.id,
        "digests": list(a.get("RepoDigests") or []),
        "size_mb": round((a.get("Size") or 0) / 1e6, 1),
        "created": created[:19].replace("T", " ") if created else "",
        "status": "built",
    }


def list_images(recipes: dict[str, Recipe], *, docker_client=None) -> list[dict]:
    """cab's images (labelled by a recipe, or tagged ``cab/...``), then recipes not built yet."""
    dc = docker_client or client()
    rows, seen_tags = [], set()
    for image in dc.images.list():
        if not image.tags:  # a build stage kept as cache, not an image cells run in
            continue
        labels = (image.attrs.get("Config") or {}).get("Labels") or {}
        if LABEL_RECIPE in labels or any(t.startswith("cab/") for t in image.tags):
            rows.append(image_row(image))
            seen_tags.update(image.tags)
    for recipe in recipes.values():
        if recipe.tag not in seen_tags:
            rows.append({"image": recipe.tag, "recipe": recipe.name, "version": recipe.version, "id": None,
                         "digests": [], "size_mb": None, "created": "", "status": "missing"})
    return sorted(rows, key=lambda r: (r["status"] != "built", r["image"]))


def image_digest(image) -> str:
    """The identity a cell records for an image: its content-addressed ID (``sha256:...``)."""
    return image.id


def parse_time(value: str) -> Optional[_dt.datetime]:
    """Docker's RFC 3339 timestamps (nanoseconds, ``Z``) as aware datetimes; None for the zero time."""
    if not value or value.startswith("0001-"):
        return None
    match = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$", value)
    if not match:
        return None
    stamp, frac, zone = match.groups()
    micros = (frac or "0")[:6].ljust(6, "0")
    zone = "+00:00" if zone == "Z" else zone
    return _dt.datetime.fromisoformat(f"{stamp}.{micros}{zone}")


__all__ = [
    "DEFAULT_IMAGE", "ROOTFS_IMAGE", "IMAGE_AGENTS_DIR", "DockerUnavailable", "ImageBuildError", "Recipe", "Built",
    "client", "unavailable_reason", "find_recipes", "build_plan", "build", "list_images", "adapter_image",
    "image_digest", "parse_time", "dockerfile_args", "recipe_dirs",
]
