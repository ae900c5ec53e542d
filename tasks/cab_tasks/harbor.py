"""The Harbor / Terminal-Bench task format.

::

    <task>/
      task.toml            [verifier] timeout_sec, env; [environment] docker_image; [metadata] tags ...
                           (or the older Terminal-Bench task.yaml, whose ``instruction`` key may hold the prompt)
      instruction.md       the prompt
      environment/         the Docker build context: Dockerfile (Terminal-Bench: Dockerfile at the top)
      tests/test.sh        writes a reward to /logs/verifier/reward.txt or reward.json
                           (Terminal-Bench: run-tests.sh at the top, judged by its exit code)
      solution/solve.sh    the oracle (Terminal-Bench: solution.sh)

How it maps onto a cab task:

* **prompt** — instruction.md.  When the task runs locally, a note says that the
  container's working directory (``/app``) is the agent's current directory.
* **workspace** — the files the Dockerfile ``COPY``s into its ``WORKDIR``
  (materialised in the cache), else an empty folder; never a ``.git`` among them
  (:data:`~cab_tasks._convert.SKIP_DIRS`), so a copied repository brings no history,
  and the cached build is one of the task's ``private_paths``, hidden from the sandbox.
* **tests** — ``tests/`` is hidden from the agent and overlaid at verification under
  ``.cab-verify/tests/`` (protected: ``.cab-verify/**``).  The test command runs
  ``.cab-verify/run.py`` (stdlib Python, written here), which rewrites the container
  paths in the test files (``/tests``, ``/logs``, the ``WORKDIR``) to folders inside the
  copy under test — the sandbox cannot write ``/logs`` — runs test.sh there, reads
  the reward and prints ``reward: R`` and ``N passed, M failed``
  (``N/(N+M) = R``), exiting 0 only when ``R >= 1``.  test.sh's own output is printed
  behind ``| `` so that its pytest summary is not counted twice.
* **oracle** — ``solve.sh`` as the ``solution_command``, run in a copy of the starting
  files with the same path rewriting (the script stays in the task folder, which the
  sandbox hides from the agent).
* **expected changes** — ``**``: a Harbor task may touch anything in its working folder.

Where it runs.  A task runs in the local sandbox when it needs nothing the host lacks,
decided from its files: no prebuilt ``docker_image``, no ``docker-compose.yaml``, and
either no Dockerfile or one that only does ``FROM`` a plain ``python``, ``debian``,
``ubuntu`` or ``buildpack-deps`` image plus ``WORKDIR``/``COPY``/``ADD`` (local
files)/``ENV``/``ARG`` and metadata (``LABEL``, ``CMD``, ``USER``, ...); and no line of
test.sh, solve.sh or a test shell script fetches anything (``apt-get``, ``curl``,
``wget``, ``pip install``, ``uv``/``uvx``, ``npm install``, ``git clone``, ...), since
the local test run has no network.  Anything else (a ``RUN`` step, most of all) is
tagged ``needs-docker``: its test and solution commands then stop with a one-line
reason unless they run inside the task's image (at its ``WORKDIR``, or with
``CAB_IN_TASK_IMAGE=1``), and ``.cab-verify/harbor.json`` carries the
``image``/``dockerfile`` for the docker sandbox.

The Dockerfile and script reading is :mod:`.harbor_environment`'s; the runner written
as ``.cab-verify/run.py`` is the stdlib-only module :mod:`.harbor_runner`, read as text.
"""

from __future__ import annotations

import functools
import json
import shlex
import shutil
import sys
from pathlib import Path
from typing import Optional

import attrs

from cab_core import Task, TaskSource, hookimpl
from cab_core.errors import TaskError

from . import _convert
from .harbor_environment import (DEFAULT_WORKDIR, INERT, LOCAL_BASES, Environment,  # noqa: F401 (re-exported)
                                 fetches, read_environment)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

FORMAT = "harbor"
VERIFY_DIR = ".cab-verify"
TEST_COMMAND = f"python3 {VERIFY_DIR}/run.py verify"
DEFAULT_TIMEOUT = 300.0


@attrs.frozen
class Layout:
    """Where one task's parts are (Harbor or the older Terminal-Bench layout)."""

    folder: Path
    config: Path
    test_script: Path
    tests_dir: Optional[Path]
    solve_script: Optional[Path]
    dockerfile: Optional[Path]
    context: Path


# --------------------------------------------------------------------------- finding tasks


def is_task_folder(path: Path) -> bool:
    """Whether ``path`` is unambiguously a Harbor (or Terminal-Bench) task folder."""
    path = Path(path)
    if (path / "instruction.md").is_file() and (path / "tests" / "test.sh").is_file():
        return True
    return (path / "task.yaml").is_file() and ((path / "run-tests.sh").is_file() or (path / "tests" / "test.sh").is_file())


def _looks_like_task(path: Path) -> bool:
    # Looser than is_task_folder, so that a task missing a file is reported, not skipped.
    return is_task_folder(path) or (path / "instruction.md").is_file() or (path / "task.yaml").is_file() or (
        (path / "task.toml").is_file() and ((path / "tests").is_dir() or (path / "environment").is_dir())
    )


def detect(path: Path) -> bool:
    """A Harbor task folder (instruction.md + tests/test.sh), or a folder holding some."""
    return bool(_convert.find_folders(Path(path), is_task_folder, max_depth=3))


def load(paths=()) -> list[Task]:
    """The Harbor tasks under each of ``paths`` (no built-in suite)."""
    return [load_task(folder) for root in paths for folder in _convert.find_folders(Path(root), _looks_like_task)]


# --------------------------------------------------------------------------- one task


def _read_config(folder: Path) -> tuple[Path, dict]:
    toml_path, yaml_path = folder / "task.toml", folder / "task.yaml"
    if toml_path.is_file():
        try:
            return toml_path, tomllib.loads(_convert.read_text(toml_path, "task configuration"))
        except tomllib.TOMLDecodeError as exc:
            raise TaskError(f"{toml_path}: not valid TOML: {exc}") from None
    if yaml_path.is_file():
        try:
            import yaml
        except ImportError:  # pragma: no cover - PyYAML is a dependency of cab-tasks
            raise TaskError(f"{yaml_path}: reading task.yaml needs PyYAML (pip install pyyaml)") from None
        try:
            data = yaml.safe_load(_convert.read_text(yaml_path, "task configuration")) or {}
        except yaml.YAMLError as exc:
            raise TaskError(f"{yaml_path}: not valid YAML: {_convert.first_line(exc)}") from None
        if not isinstance(data, dict):
            raise TaskError(f"{yaml_path}: expected a mapping at the top level")
        return yaml_path, data
    return toml_path, {}  # task.toml is optional: every setting has a default


def _layout(folder: Path, config_path: Path) -> Layout:
    tb1 = config_path.name == "task.yaml"
    tests_dir = folder / "tests"
    test_script = tests_dir / "test.sh"
    if not test_script.is_file() and tb1 and (folder / "run-tests.sh").is_file():
        test_script = folder / "run-tests.sh"
    if not test_script.is_file():
        raise TaskError(f"{tests_dir / 'test.sh'}: missing test script")
    solve = folder / "solution" / "solve.sh"
    if not solve.is_file():
        solve = folder / "solution.sh" if (folder / "solution.sh").is_file() else None
    dockerfile, context = folder / "environment" / "Dockerfile", folder / "environment"
    if not dockerfile.is_file():
        dockerfile, context = (folder / "Dockerfile", folder) if (folder / "Dockerfile").is_file() else (None, context)
    return Layout(folder=folder, config=config_path, test_script=test_script,
                  tests_dir=tests_dir if tests_dir.is_dir() else None, solve_script=solve,
                  dockerfile=dockerfile, context=context)


def _prompt(folder: Path, config_path: Path, config: dict) -> str:
    """The task's instruction: instruction.md, or Terminal-Bench's ``instruction`` key (never empty)."""
    instruction_path = folder / "instruction.md"
    if instruction_path.is_file():
        prompt = _convert.read_text(instruction_path, "instruction file")
    elif config_path.name == "task.yaml" and isinstance(config.get("instruction"), str):
        prompt = config["instruction"]
    else:
        raise TaskError(f"{instruction_path}: missing instruction file")
    if not prompt.strip():
        raise TaskError(f"{instruction_path}: the instruction is empty")
    return prompt


def _build(dest: Path, *, layout: Layout, environment: Environment, settings: dict) -> None:
    """Materialise the task in ``dest``: the workspace the Dockerfile places, and the hidden tests with the runner."""
    workspace = dest / "workspace"
    workspace.mkdir()
    for source, rel, into_folder in environment.copies:
        target = workspace / rel if rel != "." else workspace
        if source.is_dir():
            _convert.copy_filtered(source, target, skip_top=("Dockerfile", ".dockerignore"))
        else:
            target = target / source.name if into_folder else target
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    verify = dest / "hidden_tests" / VERIFY_DIR
    (verify / "tests").mkdir(parents=True)
    if layout.tests_dir:
        _convert.copy_filtered(layout.tests_dir, verify / "tests")
    if layout.test_script.parent != layout.tests_dir:
        shutil.copy2(layout.test_script, verify / "tests" / layout.test_script.name)
    (verify / "run.py").write_text(RUNNER)
    (verify / "harbor.json").write_text(json.dumps(settings, indent=2, sort_keys=True) + "\n")


def load_task(folder: Path) -> Task:
    """Load the Harbor task in ``folder`` (raises TaskError: one line naming the file)."""
    folder = Path(folder).resolve()
    config_path, config = _read_config(folder)
    prompt = _prompt(folder, config_path, config)
    layout = _layout(folder, config_path)
    tb1 = config_path.name == "task.yaml"
    timeout = _convert.field(config, "max_test_timeout_sec" if tb1 else "verifier.timeout_sec", (int, float),
                             config_path, DEFAULT_TIMEOUT)
    if timeout <= 0:
        raise TaskError(f"{config_path}: field {'max_test_timeout_sec' if tb1 else 'verifier.timeout_sec'}: must be positive")
    verifier_env = _convert.field(config, "verifier.env", dict, config_path, {})
    tags = _convert.string_list(config, "tags" if tb1 else "metadata.tags", config_path)
    if not tb1:
        tags += _convert.string_list(config, "task.keywords", config_path)
    language = _convert.field(config, "metadata.language", str, config_path, None) or "shell"
    environment = read_environment(layout, config)
    needs_docker = environment.needs_docker or fetches(layout)
    tid = _convert.task_id(FORMAT, folder.name)
    if needs_docker:
        tags.append("needs-docker")
    elif environment.workdir != "/" and environment.workdir in prompt:
        prompt = prompt.rstrip() + (f"\n\n(Here the working directory {environment.workdir} is your current directory:"
                                    f" files under {environment.workdir}/ are relative to it.)\n")
    settings = {
        "task": tid,
        "workdir": environment.workdir,
        "env": environment.env,
        "verifier_env": {str(k): str(v) for k, v in verifier_env.items()},
        "test_script": layout.test_script.name,
        "needs_docker": needs_docker,
        "image": environment.image,
        "dockerfile": layout.dockerfile.relative_to(folder).as_posix() if layout.dockerfile else None,
    }
    key = _convert.fingerprint(FORMAT, settings, RUNNER, trees=[folder])
    built = _convert.materialise(FORMAT, key, functools.partial(_build, layout=layout, environment=environment,
                                                                  settings=settings))
    solution_command = None
    if layout.solve_script and needs_docker:
        message = f"cab: {tid} needs its Docker environment ({needs_docker}); its solution is not run on this host"
        solution_command = f"echo {shlex.quote(message)} >&2; exit 2"
    elif layout.solve_script:
        runner = built / "hidden_tests" / VERIFY_DIR / "run.py"
        solution_command = shlex.join([sys.executable, str(runner), "solve", str(layout.solve_script)])
    return Task(
        id=tid, prompt=prompt, language=language, test_command=TEST_COMMAND, test_timeout=float(timeout),
        expected_changes=["**"], protected=[f"{VERIFY_DIR}/**"], toolchain=["bash"], tags=tags,
        workspace=built / "workspace", solution_command=solution_command, hidden_tests=built / "hidden_tests",
        source_path=folder, format=FORMAT, private_paths=[built],
    )


@hookimpl
def cab_task_sources():
    return [TaskSource(name=FORMAT, load=load, detect=detect,
                       description="Harbor / Terminal-Bench tasks: instruction.md, environment/, tests/test.sh (reward), solution/solve.sh")]


#: Written into each task's hidden tests as .cab-verify/run.py: stdlib only, so that it runs
#: wherever the test does (the local sandbox, or later inside the task's image).
RUNNER = Path(__file__).with_name("harbor_runner.py").read_text(encoding="utf-8")
