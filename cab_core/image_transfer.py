"""Moving the docker sandbox's images between machines: save, load, push (issue 23).

Images exist only on the machine that built them; a cell records the image by name
and by ID, so another machine can rerun it only with the very same image:

- :func:`save` writes one file holding every image asked for (or every image a sweep's
  docker cells recorded): an outer tar with ``cab-images.json`` (each image's name and
  ID) and ``images.tar``, the daemon's own ``docker save`` of all of them at once (so
  shared layers are stored once).
- :func:`load` gives ``images.tar`` to the daemon and then checks that every name now
  points at the recorded ID; any other ID is an error naming the image (docker itself
  checks every layer's digest as it loads).
- :func:`push` tags each image as ``REGISTRY/<repository>:<tag>`` (the recipe and
  version from its labels, else its own name), pushes it, and returns the registry's
  digest reference.  The daemon keeps that digest in the image's ``RepoDigests``, so
  every later cell of the image records it (:func:`pushed_reference`) and its page
  names it in its docker instructions.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Iterable, Optional

from .errors import CabError
from .images import LABEL_RECIPE, LABEL_VERSION, client

MANIFEST = "cab-images.json"
IMAGES_TAR = "images.tar"


def sweep_images(folder: Path) -> list[str]:
    """The images the docker cells under ``folder`` (a sweep's results) recorded, by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CabError(f"no sweep results at {folder} (give --sweep a results folder or a sweep id under --results)")
    found: dict[str, None] = {}
    for cell_json in sorted(folder.rglob("cell.json")):
        try:
            cell = json.loads(cell_json.read_text())
        except (OSError, ValueError):
            continue
        if cell.get("sandbox") == "docker" and cell.get("container_image"):
            found[cell["container_image"]] = None
    if not found:
        raise CabError(f"no docker cells under {folder}: nothing to save")
    return list(found)


def _resolve(dc, names: Iterable[str]) -> list[dict]:
    from docker.errors import ImageNotFound

    out = []
    for name in names:
        try:
            image = dc.images.get(name)
        except ImageNotFound:
            raise CabError(f"docker image {name!r} is not on this machine (cab images list shows what is)") from None
        out.append({"name": name, "id": image.id, "tags": list(image.tags)})
    return out


def save(path: Path, names: Iterable[str], *, docker_client=None) -> list[dict]:
    """Write ``names`` (with their IDs) into ``path``; returns what was saved."""
    dc = docker_client or client()
    entries = _resolve(dc, dict.fromkeys(names))
    if not entries:
        raise CabError("no images to save (give --image NAME or --sweep S)")
    names = [e["name"] for e in entries]
    # The daemon's multi-image export (GET /images/get?names=...): shared layers once.
    response = dc.api._get(dc.api._url("/images/get"), params={"names": names}, stream=True)
    dc.api._raise_for_status(response)
    path = Path(path)
    tmp = path.with_name(path.name + ".partial")
    with tarfile.open(tmp, "w") as outer:
        manifest = json.dumps({"images": entries}, indent=2).encode()
        info = tarfile.TarInfo(MANIFEST)
        info.size = len(manifest)
        outer.addfile(info, io.BytesIO(manifest))
        spool = tmp.with_name(tmp.name + ".images")
        try:
            with open(spool, "wb") as fh:
                for chunk in response.iter_content(1 << 20):
                    fh.write(chunk)
            outer.add(spool, arcname=IMAGES_TAR)
        finally:
            spool.unlink(missing_ok=True)
    tmp.replace(path)
    return entries


def read_manifest(path: Path) -> list[dict]:
    try:
        with tarfile.open(path) as outer:
            member = outer.extractfile(MANIFEST)
            entries = json.loads(member.read())["images"] if member else None
    except (OSError, tarfile.TarError, KeyError, ValueError, TypeError):
        entries = None
    if not isinstance(entries, list) or not all(isinstance(e, dict) and e.get("name") and e.get("id") for e in entries):
        raise CabError(f"{path} is not a file written by cab images save (no readable {MANIFEST})")
    return entries


def load(path: Path, *, docker_client=None) -> list[dict]:
    """Load the images in ``path`` and check each name has the recorded ID; returns the manifest."""
    path = Path(path)
    entries = read_manifest(path)
    dc = docker_client or client()
    with tarfile.open(path) as outer:
        stream = outer.extractfile(IMAGES_TAR)
        if stream is None:
            raise CabError(f"{path} holds no {IMAGES_TAR}")
        try:
            dc.images.load(stream)
        except Exception as exc:
            raise CabError(f"docker could not load {path}: {str(exc).strip().splitlines()[0][:300]}") from None
    for entry in entries:
        got = dc.images.get(entry["name"]).id if _exists(dc, entry["name"]) else None
        if got != entry["id"]:
            raise CabError(f"image {entry['name']} loaded from {path} has ID {got}, not the recorded {entry['id']}")
    return entries


def _exists(dc, name: str) -> bool:
    from docker.errors import ImageNotFound

    try:
        dc.images.get(name)
        return True
    except ImageNotFound:
        return False


def registry_name(image, registry: str) -> tuple[str, str]:
    """``(repository, tag)`` in ``registry`` for ``image``: ``cab/<recipe>:<version>``, else its own name."""
    labels = (image.attrs.get("Config") or {}).get("Labels") or {}
    registry = registry.rstrip("/")
    if labels.get(LABEL_RECIPE) and labels.get(LABEL_VERSION):
        return f"{registry}/cab/{labels[LABEL_RECIPE]}", labels[LABEL_VERSION]
    if not image.tags:
        raise CabError(f"image {image.short_id} has no name and no recipe label: tag it before pushing")
    repo, _, tag = image.tags[0].rpartition(":")
    return f"{registry}/{repo}", tag


def push(registry: str, names: Iterable[str], *, docker_client=None) -> list[dict]:
    """Tag and push each image to ``registry``; returns ``{name, id, reference}`` (the digest reference)."""
    if not registry or "://" in registry or any(c.isspace() for c in registry):
        raise CabError(f"registry {registry!r} is not HOST[:PORT] (e.g. 127.0.0.1:5000 or registry.example.com)")
    dc = docker_client or client()
    out = []
    for entry in _resolve(dc, dict.fromkeys(names)):
        image = dc.images.get(entry["id"])
        repo, tag = registry_name(image, registry)
        image.tag(repo, tag)
        for line in dc.images.push(repo, tag, stream=True, decode=True):
            if isinstance(line, dict) and line.get("error"):
                raise CabError(f"pushing {repo}:{tag} failed: {str(line['error']).splitlines()[0][:300]}")
        reference = pushed_reference(dc.images.get(entry["id"]), repo)
        if reference is None:
            raise CabError(f"pushing {repo}:{tag} left no digest on the image (did the registry accept it?)")
        out.append({**entry, "reference": reference})
    return out


def pushed_reference(image, repository: Optional[str] = None) -> Optional[str]:
    """The image's registry digest reference (``REGISTRY/REPO@sha256:...``): of ``repository``, else the last pushed."""
    digests = list((image.attrs or {}).get("RepoDigests") or [])
    if repository is not None:
        digests = [d for d in digests if d.split("@", 1)[0] == repository]
    return digests[-1] if digests else None


__all__ = ["save", "load", "push", "sweep_images", "read_manifest", "registry_name", "pushed_reference"]
