"""A cell's folders on disk: the agent's work directory, its private HOME, the verify copy.

The baseline is committed twice: once in ``work/.git`` (agents expect a repository)
and once in a git folder of the harness's own outside the work directory, which is
what every diff is computed from, so nothing the agent does to ``work/.git``
(rewriting history, a hostile ``core.fsmonitor``) reaches the harness.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Optional

from .globs import match_any
from .models import FileChanges, Task
from .tasks import copy_tree, hash_files, list_files, protected_paths

#: Build artefacts and caches that are never counted as changes.
IGNORED = ("target", "node_modules", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", "*.pyc", ".DS_Store")

#: New files that can change how a test run behaves; never carried into verification.
HOOK_FILES = (
    "conftest.py", "**/conftest.py", "sitecustomize.py", "**/sitecustomize.py", "usercustomize.py",
    "**/*.pth", "pytest.ini", "tox.ini", "setup.cfg", "pyproject.toml", "build.rs", "**/build.rs",
    ".cargo/**", "package.json", ".npmrc", "**/.npmrc", ".node-options", "jest.config.*", ".mocharc*",
    "Makefile", "makefile", "GNUmakefile", "go.work", ".env", "bin/**", ".bin/**",
)
SHIM_NAMES = {"python", "python3", "pytest", "cargo", "rustc", "node", "npm", "go", "gcc", "cc", "make", "sh", "bash", "java", "javac"}

GIT_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_AUTHOR_NAME": "cab", "GIT_AUTHOR_EMAIL": "cab@localhost",
    "GIT_COMMITTER_NAME": "cab", "GIT_COMMITTER_EMAIL": "cab@localhost",
    "GIT_AUTHOR_DATE": "2000-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2000-01-01T00:00:00Z",
}


def _git(args, *, cwd: Path, git_dir: Optional[Path] = None, check: bool = True, input: Optional[bytes] = None) -> subprocess.CompletedProcess:
    prefix = ["git", "-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false", "-c", "core.autocrlf=false"]
    if git_dir is not None:
        prefix += [f"--git-dir={git_dir}", f"--work-tree={cwd}"]
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("GIT_")}, **GIT_ENV}
    proc = subprocess.run(prefix + list(args), cwd=cwd, env=env, capture_output=True, input=input)
    if check and proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args[:2])} failed: {proc.stderr.decode(errors='replace').strip()[:300]}")
    return proc


class CellWorkspace:
    """The scratch folders of one cell; ``close()`` removes them."""

    def __init__(self, task: Task, scratch_root: Optional[Path] = None):
        self.task = task
        self.root = Path(tempfile.mkdtemp(prefix="cab-cell-", dir=scratch_root))
        self.work = self.root / "work"
        self.home = self.root / "home"
        self.verify_dir = self.root / "verify"
        self.verify_home = self.root / "verify-home"
        self.base_git = self.root / "base.git"
        for path in (self.work, self.home, self.verify_home):
            path.mkdir()
        self.baseline: Optional[str] = None
        self.protected_before: dict[str, str] = {}
        self.baseline_files: set[str] = set()

    # ------------------------------------------------------------------ setup
    def prepare(self) -> None:
        """Copy the starting files and commit the baseline (twice, see the module doc)."""
        copy_tree(self.task.workspace, self.work)
        _git(["init", "-q", "-b", "main"], cwd=self.work)
        exclude = "\n".join(IGNORED) + "\n"
        (self.work / ".git" / "info").mkdir(parents=True, exist_ok=True)
        (self.work / ".git" / "info" / "exclude").write_text(exclude)
        _git(["add", "-A"], cwd=self.work)
        _git(["commit", "-q", "--allow-empty", "-m", f"cab baseline: {self.task.id}"], cwd=self.work)
        self.baseline = _git(["rev-parse", "HEAD"], cwd=self.work).stdout.decode().strip()
        shutil.copytree(self.work / ".git", self.base_git)
        self.baseline_files = set(list_files(self.work))
        self.protected_before = hash_files(self.work, protected_paths(self.task, self.work))

    def write_files(self, files: dict[str, str]) -> list[str]:
        """Write a launch spec's files (``~/x`` into HOME, others into the work dir)."""
        written = []
        for name, content in files.items():
            if name.startswith("~/"):
                base, rel = self.home, name[2:]
            else:
                base, rel = self.work, name
            target = (base / rel).resolve()
            if base.resolve() not in target.parents:
                raise ValueError(f"launch file {name!r} escapes its folder")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
            written.append(name)
        return written

    # ------------------------------------------------------------------ after the run
    def changes(self) -> FileChanges:
        """What the agent changed against the baseline (agent's .gitignore files ignored)."""
        excludes = [f":(exclude,glob)**/{p}" for p in IGNORED] + [f":(exclude,glob)**/{p}/**" for p in IGNORED if "*" not in p]
        _git(["add", "-A", "-f", "--", ".", *excludes], cwd=self.work, git_dir=self.base_git)
        status = _git(["diff", "--cached", "--name-status", "--no-renames", "-z", self.baseline], cwd=self.work, git_dir=self.base_git).stdout
        fields = status.decode(errors="replace").split("\0")
        added, removed, modified = [], [], []
        for code, path in zip(fields[0::2], fields[1::2]):
            {"A": added, "D": removed}.get(code[:1], modified).append(path)
        patch = _git(["diff", "--cached", "--binary", "--no-renames", self.baseline], cwd=self.work, git_dir=self.base_git).stdout
        return FileChanges(
            added=sorted(added), removed=sorted(removed), modified=sorted(modified),
            extra_git_dir=self._extra_git_dir(), patch=patch.decode("utf-8", errors="replace"),
        )

    def _extra_git_dir(self) -> bool:
        """True when the agent committed, or left a git repository besides the baseline's."""
        for dirpath, dirnames, _ in os.walk(self.work):
            if dirpath != str(self.work) and ".git" in dirnames:
                return True
            dirnames[:] = [d for d in dirnames if d != ".git" and d not in IGNORED]
        head = self.work / ".git" / "HEAD"
        try:
            ref = head.read_text().strip()
            if ref.startswith("ref: "):
                ref_file = self.work / ".git" / ref[5:]
                ref = ref_file.read_text().strip() if ref_file.is_file() else ""
            return ref != self.baseline
        except OSError:
            return True

    def hook_files(self, changes: FileChanges) -> list[str]:
        """Added or modified files that can hook the test run (conftest.py, shims, ...)."""
        found = []
        for path in (*changes.added, *changes.modified):
            if match_any(path, self.task.protected):
                continue  # judged as a protected file, restored before verifying
            name = path.rsplit("/", 1)[-1]
            if match_any(path, HOOK_FILES) or (name in SHIM_NAMES and os.access(self.work / path, os.X_OK)):
                found.append(path)
        return sorted(found)

    def protected_after(self) -> dict[str, str]:
        return hash_files(self.work, self.protected_before)

    def prepare_verify(self, hook_files: list[str]) -> None:
        """A clean copy of the agent's work: protected files restored, hooks dropped, hidden tests added."""
        if self.verify_dir.exists():
            shutil.rmtree(self.verify_dir)
        shutil.copytree(self.work, self.verify_dir, symlinks=True, ignore=shutil.ignore_patterns(".git", *IGNORED))
        task = self.task
        for rel in list_files(self.verify_dir):
            if match_any(rel, task.protected) and rel not in self.protected_before:
                (self.verify_dir / rel).unlink()  # a test the agent added cannot count
        for rel in hook_files:
            target = self.verify_dir / rel
            if rel not in self.baseline_files:
                if target.is_file() or target.is_symlink():
                    target.unlink()
            elif (task.workspace / rel).is_file():
                shutil.copy2(task.workspace / rel, target)
        for rel in self.protected_before:
            target = self.verify_dir / rel
            if target.is_symlink() or target.is_dir():
                shutil.rmtree(target, ignore_errors=True) if target.is_dir() else target.unlink()
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(task.workspace / rel, target)
        if task.hidden_tests:
            copy_tree(task.hidden_tests, self.verify_dir)

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
