"""Portable images (issue 23 point 2): save -> remove -> load reproduces a docker cell's image ID;
push to a registry on loopback, pull by the recorded digest.

Every image here is a throwaway built for the test (a label on ``cab/rootfs:bookworm``,
so its ID is its own and removing it leaves the images other work needs alone).  The
registry is Debian's ``docker-registry`` (``scripts/docker-setup.sh`` installs it),
started on 127.0.0.1 and stopped by the test.
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import tarfile
import time
import uuid
from pathlib import Path

import attrs
import pytest

from cab_core import AgentPlugin, hookimpl, images
from cab_core.errors import CabError
from cab_core.image_transfer import MANIFEST, load, push, read_manifest, save, sweep_images
from cab_core.plugins import get_plugin_manager
from cab_core.registry import Registry
from cab_core.runner import RunOptions, Runner
from cab_core.tasks import TaskCatalog
from cab_core.testing import write_task

from conftest import run_cab

FROM = images.ROOTFS_IMAGE
#: The image has no pytest: a script checks the fix (the verdict's summary channel).
FILES = {"calc.py": "def add(a, b):\n    return a - b\n",
         "tests/check.py": ("import sys\nsys.path.insert(0, '.')\nimport calc\nok = calc.add(2, 3) == 5\n"
                            "print('1 passed in 0.01s' if ok else '1 failed in 0.01s')\nsys.exit(0 if ok else 1)\n")}


@pytest.fixture(scope="module")
def dc():
    reason = images.unavailable_reason()
    if reason:
        pytest.skip(reason)
    client = images.client()
    try:
        client.images.get(FROM)
    except Exception:
        pytest.skip(f"image {FROM} is not there (scripts/docker-setup.sh)")
    yield client
    client.close()


@pytest.fixture
def throwaway(dc):
    """A small image of its own ID, tagged ``cab/transfer-test:<random>``; removed after."""
    tag = f"cab/transfer-test:{uuid.uuid4().hex[:10]}"
    dockerfile = f"FROM {FROM}\nLABEL cab.recipe=transfer-test cab.version={tag.rsplit(':', 1)[1]}\n"
    image, _ = dc.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag, rm=True, pull=False)
    yield tag
    for image_tag in dc.images.get(image.id).tags if _exists(dc, image.id) else []:
        dc.images.remove(image_tag, force=True)


def _exists(dc, ref) -> bool:
    try:
        dc.images.get(ref)
        return True
    except Exception:
        return False


class ImagePlugin:
    """Runs the command adapter in the image named by ``-o image.name=``."""

    @hookimpl
    def cab_agent_plugins(self):
        return [AgentPlugin(name="image", apply=lambda spec, ctx, options: attrs.evolve(spec, image=options["name"]))]


def docker_cell(tmp_path: Path, image: str, trial: int = 1):
    tasks = tmp_path / "tasks"
    if not tasks.exists():
        write_task(tasks, files=FILES, test_command="python3 tests/check.py")
    registry = Registry(get_plugin_manager(plugins=[ImagePlugin()]))
    runner = Runner(registry, TaskCatalog(registry, tasks_dirs=[tasks]))
    try:
        result, _ = runner.run_cell(RunOptions(adapter="command", model="oracle", task="demo/add", trial=trial,
                                               sandbox="docker", sweep_id="portable", results=tmp_path / "results",
                                               plugins=("image",), options={"image.name": image}))
    finally:
        runner.close()
    return result


@pytest.mark.slow
def test_save_remove_load_reproduces_the_cells_image_id(dc, throwaway, tmp_path):
    first = docker_cell(tmp_path, throwaway)
    assert first.status == "ok" and first.passed, first.error
    assert first.container_image == throwaway and first.image_digest == dc.images.get(throwaway).id
    assert sweep_images(tmp_path / "results" / "portable") == [throwaway]

    saved = tmp_path / "images.tar"
    proc = run_cab("images", "save", str(saved), "--sweep", "portable", "--results", str(tmp_path / "results"))
    assert proc.returncode == 0, proc.stderr
    assert [e["id"] for e in read_manifest(saved)] == [first.image_digest]

    dc.images.remove(throwaway)  # "a machine without the image"
    assert not _exists(dc, first.image_digest)
    proc = run_cab("images", "load", str(saved))
    assert proc.returncode == 0, proc.stderr
    assert f"loaded {throwaway} {first.image_digest}" in proc.stdout
    again = docker_cell(tmp_path, throwaway, trial=2)
    assert again.status == "ok" and again.passed, again.error
    assert again.image_digest == first.image_digest


@pytest.mark.slow
def test_a_file_whose_images_are_not_the_recorded_ones_is_refused(dc, throwaway, tmp_path):
    saved = tmp_path / "images.tar"
    save(saved, [throwaway])
    forged = tmp_path / "forged.tar"
    with tarfile.open(saved) as src, tarfile.open(forged, "w") as out:
        for member in src.getmembers():
            data = src.extractfile(member).read()
            if member.name == MANIFEST:
                data = data.replace(dc.images.get(throwaway).id.encode(), b"sha256:" + b"0" * 64)
                member.size = len(data)
            out.addfile(member, io.BytesIO(data))
    with pytest.raises(CabError, match="not the recorded"):
        load(forged)
    (tmp_path / "junk.tar").write_bytes(b"not a tar")
    with pytest.raises(CabError, match="not a file written by cab images save"):
        load(tmp_path / "junk.tar")


# --------------------------------------------------------------------------- a registry on loopback


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def registry(tmp_path):
    binary = shutil.which("docker-registry")
    if not binary:
        pytest.skip("docker-registry is not installed (scripts/docker-setup.sh: apt-get install docker-registry)")
    port = _free_port()
    config = tmp_path / "registry.yml"
    config.write_text(f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {tmp_path / 'registry'}\n"
                      f"  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n")
    proc = subprocess.Popen([binary, "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.slow
def test_push_records_the_digest_and_a_pull_by_it_gets_the_same_image(dc, throwaway, registry, tmp_path):
    image_id = dc.images.get(throwaway).id
    proc = run_cab("images", "push", registry, "--image", throwaway)
    assert proc.returncode == 0, proc.stderr
    reference = proc.stdout.split(" as ", 1)[1].strip()
    assert reference.startswith(f"{registry}/cab/transfer-test@sha256:")
    cell = docker_cell(tmp_path, throwaway)
    assert cell.image_ref == reference  # later cells record where the image can be pulled from
    assert cell.image_digest == image_id
    from cab_core.report.data import reproduce

    assert f"docker pull {reference}" in reproduce(cell)["docker"]["pull"]

    for tag in dc.images.get(image_id).tags:
        dc.images.remove(tag, force=True)
    assert not _exists(dc, image_id)
    pulled = dc.images.pull(reference)
    assert pulled.id == image_id
    dc.images.get(image_id).tag(throwaway)  # so the fixture removes it


def test_push_refuses_a_registry_that_is_not_host_port():
    with pytest.raises(CabError, match="not HOST"):
        push("http://127.0.0.1:5000", ["x"], docker_client=object())
