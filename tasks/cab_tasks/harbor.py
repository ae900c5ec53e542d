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
"""

from __future__ import annotations

import json
import posixpath
import re
import shlex
import shutil
import sys
from glob import glob
from pathlib import Path
from typing import Optional

import attrs

from cab_core import Task, TaskSource, hookimpl
from cab_core.errors import TaskError

from . import _convert

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

FORMAT = "harbor"
VERIFY_DIR = ".cab-verify"
TEST_COMMAND = f"python3 {VERIFY_DIR}/run.py verify"
DEFAULT_WORKDIR = "/app"
DEFAULT_TIMEOUT = 300.0
#: Base images whose contents the host is assumed to have (cab itself needs python3 on a Debian-like host).
LOCAL_BASES = {"python", "debian", "ubuntu", "buildpack-deps"}
#: Dockerfile instructions that change nothing a local run needs.
INERT = {"LABEL", "CMD", "ENTRYPOINT", "EXPOSE", "USER", "STOPSIGNAL", "HEALTHCHECK", "VOLUME", "MAINTAINER", "SHELL", "ARG"}
_FETCH = re.compile(
    r"(?<![\w./-])(apt-get|apt|apk|yum|dnf|curl|wget|uvx?|pip3?\s+install|python3?\s+-m\s+pip\s+install"
    r"|npm\s+(?:install|ci|i)|git\s+clone)(?![\w.-])"
)


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


@attrs.frozen
class Environment:
    """What the task's Docker environment amounts to for a local run."""

    workdir: str = DEFAULT_WORKDIR
    env: dict = attrs.field(factory=dict)
    copies: tuple = ()  # (source path, destination relative to workdir, destination is a folder)
    needs_docker: Optional[str] = None
    image: Optional[str] = None


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


def _environment(layout: Layout, config: dict) -> Environment:
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
    workdir, env, pending, base = "/", {}, [], None  # Docker's default WORKDIR is /
    for keyword, args in _instructions(_convert.read_text(layout.dockerfile, "Dockerfile")):
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
    if workdir == "/" and not copies:
        workdir = DEFAULT_WORKDIR  # nothing is placed anywhere: the conventional /app is as good as any
    return Environment(workdir=workdir, env=env, copies=tuple(copies),
                       needs_docker=reasons[0] if reasons else None, image=image)


def _fetches(layout: Layout) -> Optional[str]:
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


def load_task(folder: Path) -> Task:
    """Load the Harbor task in ``folder`` (raises TaskError: one line naming the file)."""
    folder = Path(folder).resolve()
    config_path, config = _read_config(folder)
    instruction_path = folder / "instruction.md"
    if instruction_path.is_file():
        prompt = _convert.read_text(instruction_path, "instruction file")
    elif config_path.name == "task.yaml" and isinstance(config.get("instruction"), str):
        prompt = config["instruction"]
    else:
        raise TaskError(f"{instruction_path}: missing instruction file")
    if not prompt.strip():
        raise TaskError(f"{instruction_path}: the instruction is empty")
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
    environment = _environment(layout, config)
    needs_docker = environment.needs_docker or _fetches(layout)
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

    def build(dest: Path) -> None:
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

    key = _convert.fingerprint(FORMAT, settings, RUNNER, trees=[folder])
    built = _convert.materialise(FORMAT, key, build)
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


# --------------------------------------------------------------------------- the runner
# Written into each task's hidden tests as .cab-verify/run.py; stdlib only, so that it
# runs wherever the test does (the local sandbox, or later inside the task's image).

RUNNER = r'''"""cab's runner for one Harbor / Terminal-Bench task (written by cab_tasks.harbor).

  python3 run.py verify          in the folder under test: run test.sh, turn its reward into a verdict
  python3 run.py solve SCRIPT    in a copy of the starting files: run the oracle (solve.sh)

The container paths the task's scripts use (/tests, /logs, /solution, the WORKDIR) do
not exist outside its image, and /logs is not writable in cab's sandbox: every text
file of the test (or solution) folder is rewritten to point at folders that exist.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from fractions import Fraction

HERE = os.path.dirname(os.path.abspath(__file__))
PREFIX = "| "  # keeps test.sh's own summary lines from being counted as cab's


def settings():
    with open(os.path.join(HERE, "harbor.json"), encoding="utf-8") as f:
        return json.load(f)


def rewriter(mapping):
    keys = sorted(mapping, key=len, reverse=True)
    pattern = re.compile(r"(?<![\w.\-/])(" + "|".join(re.escape(k) for k in keys) + r")(?![\w.\-])")
    return lambda text: pattern.sub(lambda m: mapping[m.group(1)], text)


def rewrite_tree(folder, rewrite):
    for dirpath, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(dirpath, name)
            try:
                with open(path, encoding="utf-8") as f:
                    text = f.read()
            except (OSError, UnicodeDecodeError):
                continue
            new = rewrite(text)
            if new != text:
                with open(path, "w", encoding="utf-8") as f:
                    f.write(new)


def outside_image(cfg):
    """Why this task cannot run here, or None.

    A task that needs its image runs only inside it: at its WORKDIR, or where the
    sandbox says so with CAB_IN_TASK_IMAGE=1.  (Being in some container is not enough:
    cab itself may run in one.)
    """
    if not cfg.get("needs_docker"):
        return None
    if os.environ.get("CAB_IN_TASK_IMAGE") == "1" or os.path.realpath(os.getcwd()) == cfg.get("workdir"):
        return None
    return "cab: %s needs its Docker environment (%s); the local sandbox cannot run it" % (cfg["task"], cfg["needs_docker"])


def run_script(script, cwd, env):
    shell = shutil.which("bash") or "sh"
    proc = subprocess.Popen([shell, script], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    for raw in proc.stdout:
        line = raw.decode("utf-8", "replace")
        sys.stdout.write(PREFIX + line + ("" if line.endswith("\n") else "\n"))
        sys.stdout.flush()
    return proc.wait()


def environment(cfg, rewrite):
    env = dict(os.environ)
    for key, value in list((cfg.get("env") or {}).items()) + list((cfg.get("verifier_env") or {}).items()):
        env[key] = rewrite(str(value))
    return env


def number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def read_reward(folder):
    """(reward, problem): the reward test.sh wrote, or None and why not (None, None: no file)."""
    txt, js = os.path.join(folder, "reward.txt"), os.path.join(folder, "reward.json")
    if os.path.isfile(txt):
        try:
            with open(txt, encoding="utf-8") as f:
                return float(f.read().strip()), None
        except ValueError:
            return None, "reward.txt does not hold a number"
    if os.path.isfile(js):
        try:
            with open(js, encoding="utf-8") as f:
                data = json.load(f)
        except ValueError:
            return None, "reward.json is not valid JSON"
        if number(data):
            return float(data), None
        if isinstance(data, dict):
            if number(data.get("reward")):
                return float(data["reward"]), None
            values = [float(v) for v in data.values() if number(v)]
            if values:
                return sum(values) / len(values), None
        return None, "reward.json holds no number"
    return None, None


def counts(reward):
    """(passed, failed) with passed / (passed + failed) == reward, as small as possible."""
    if reward >= 1:
        return 1, 0
    if reward <= 0:
        return 0, 1
    frac = Fraction(reward).limit_denominator(100)
    p, q = frac.numerator, frac.denominator
    if p <= 0:
        return 1, 99
    if p >= q:
        return 99, 1
    return p, q - p


def verify():
    cfg = settings()
    refused = outside_image(cfg)
    if refused:
        print(refused)
        print("0 passed, 1 failed")
        return 2
    root = os.getcwd()
    tests, logs = os.path.join(HERE, "tests"), os.path.join(HERE, "logs")
    for sub in ("verifier", "agent"):
        os.makedirs(os.path.join(logs, sub), exist_ok=True)
    mapping = {"/tests": tests, "/logs": logs}
    if cfg.get("workdir", "/") != "/":
        mapping[cfg["workdir"]] = root
    rewrite = rewriter(mapping)
    rewrite_tree(tests, rewrite)
    env = environment(cfg, rewrite)
    env["TEST_DIR"] = tests
    code = run_script(os.path.join(tests, cfg["test_script"]), root, env)
    reward, problem = read_reward(os.path.join(logs, "verifier"))
    if reward is None and problem:
        print("cab: " + problem)
        reward = 0.0
    elif reward is None:
        reward = 1.0 if code == 0 else 0.0
        print("cab: %s wrote no reward; judged by its exit code (%d)" % (cfg["test_script"], code))
    reward = min(max(reward, 0.0), 1.0)
    passed, failed = counts(reward)
    print("reward: %g" % reward)
    print("%d passed, %d failed" % (passed, failed))
    return 0 if reward >= 1 else 1


def solve(script):
    cfg = settings()
    refused = outside_image(cfg)
    if refused:
        print(refused, file=sys.stderr)
        return 2
    root = os.getcwd()
    scratch = tempfile.mkdtemp(prefix="cab-harbor-solve-")
    try:
        solution = os.path.join(scratch, "solution")
        script = os.path.abspath(script)
        if os.path.basename(os.path.dirname(script)) == "solution":
            shutil.copytree(os.path.dirname(script), solution)
        else:
            os.makedirs(solution)
            shutil.copy2(script, solution)
        logs = os.path.join(scratch, "logs")
        for sub in ("verifier", "agent"):
            os.makedirs(os.path.join(logs, sub))
        mapping = {"/solution": solution, "/logs": logs, "/tests": os.path.join(scratch, "tests")}
        if cfg.get("workdir", "/") != "/":
            mapping[cfg["workdir"]] = root
        rewrite = rewriter(mapping)
        rewrite_tree(solution, rewrite)
        return run_script(os.path.join(solution, os.path.basename(script)), root, environment(cfg, rewrite))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["verify"]:
        sys.exit(verify())
    if sys.argv[1:2] == ["solve"] and len(sys.argv) == 3:
        sys.exit(solve(sys.argv[2]))
    sys.exit("usage: run.py verify | run.py solve SCRIPT")
'''
