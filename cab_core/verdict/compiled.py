"""Channels of compiled test programs: cargo's libtest, go test, the C tasks' report lines.

Each test binary the runner builds is run through a runner script of cab's (cargo's
``CARGO_TARGET_<triple>_RUNNER``, ``go test -exec``) that keeps its results in the
report folder, one file per binary with its exit status beside it; the C tasks' test
program appends ``pass``/``fail`` lines itself.  None of these can be signed (the code
under test runs in the same process), so a test's outcome is its worst line, a report
is complete only with its closing line, and the runner's own output is a cross-check.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from functools import lru_cache
from typing import Optional

from .channel import HERE, Channel, _mentions, _numbers
from .report import FAILED, PASSED, SKIPPED, TestReport, read_capped


class CargoChannel(Channel):
    name = "cargo"
    structured = True

    def prepare(self, command, report_dir, nonce_file, run_id):
        runner = report_dir / "cab-cargo-runner.sh"
        shutil.copyfile(HERE / "_cargo_runner.sh", runner)
        runner.chmod(0o755)
        # Every test binary must run: a failing one (the must-fail canary's) must not stop the rest.
        command = re.sub(r"\bcargo\s+test\b(?![^;&|]*--no-fail-fast)", "cargo test --no-fail-fast", command)
        env = {"CAB_VERDICT_DIR": str(report_dir), "RUST_TEST_THREADS": "1"}
        triple = host_triple()
        if triple:
            env[f"CARGO_TARGET_{triple.upper().replace('-', '_')}_RUNNER"] = str(runner)
        return command, env

    def test_files(self, root, candidates):
        found = []
        for rel in candidates:
            if rel.endswith(".rs"):
                data = read_capped(root / rel, 1 << 20)
                if data is not None and b"#[test]" in data:
                    found.append(rel)
        return found

    def canary_source(self, rel, text, pass_name, fail_name):
        a, b = _numbers(pass_name)
        # Values parsed at run time (not constants the compiler could judge), in Rust of any age.
        return (text.rstrip("\n") + "\n\n"
                f"#[test]\nfn {pass_name}() {{\n    let a: u64 = \"{a}\".parse().unwrap();\n    assert_eq!(a + {b}, {a + b});\n}}\n\n"
                f"#[test]\nfn {fail_name}() {{\n    let a: u64 = \"{a}\".parse().unwrap();\n    assert_eq!(a * {b}, {a * b + 1});\n}}\n")

    def test_names(self, text):
        return re.findall(r"#\[test\](?:\s*#\[[^\]]*\])*\s*(?:pub\s+)?(?:async\s+)?fn\s+([a-z_][a-z0-9_]*)\s*\(", text)

    def read(self, report_dir, key):
        outcomes: dict[str, str] = {}
        logs = sorted(p for p in report_dir.glob("*.log") if p.is_file() and not p.is_symlink())
        if not logs:
            return TestReport(channel=self.name, problem="no test binary wrote a report")
        complete = True
        for log in logs:
            target = re.sub(r"-[0-9a-f]{16}$", "", log.name.rsplit(".", 2)[0])
            data = read_capped(log) or b""
            exit_file = log.with_suffix(".exit")
            if read_capped(exit_file) is None:
                complete = False  # the runner script did not see this binary end
            for line in data.decode("utf-8", "replace").splitlines():
                word, _, name = line.partition(" ")
                kind = {"ok": PASSED, "failed": FAILED, "ignored": SKIPPED}.get(word)
                if kind and name:
                    outcomes[f"{target}::{name}"] = kind
        return TestReport(channel=self.name, outcomes=outcomes, complete=complete,
                          problem=None if complete else "a test binary ended before its report")

    failed_line = re.compile(r"^test (\S+) \.\.\. FAILED\s*$")

    def same_test(self, test_id, name):
        return test_id.split("::", 1)[-1] == name


class GoChannel(Channel):
    """``go test``: each package's test binary through :file:`_go_runner.sh` (Go 1.19 has no test2json framing)."""

    name = "go"
    structured = True
    fresh_prefix = "Test_"
    _RESULT = re.compile(r"^\s*--- (PASS|FAIL|SKIP): (\S+) \(")

    def prepare(self, command, report_dir, nonce_file, run_id):
        runner = report_dir / "cab-go-runner.sh"
        shutil.copyfile(HERE / "_go_runner.sh", runner)
        runner.chmod(0o755)
        if "-exec" not in command:
            command = re.sub(r"\bgo\s+test\b", f"go test -exec {shlex.quote(str(runner))}", command)
        return command, {"CAB_VERDICT_DIR": str(report_dir)}

    def test_files(self, root, candidates):
        return [rel for rel in candidates if rel.endswith("_test.go")]

    def canary_source(self, rel, text, pass_name, fail_name):
        if not re.search(r'^\s*(?:import\s+)?"testing"\s*$', text, re.M):
            return None  # testing imported under another name (or not at all): no canaries here
        a, b = _numbers(pass_name)
        return (text.rstrip("\n") + "\n\n"
                f"func {pass_name}(t *testing.T) {{\n\ta := len(\"{'x' * (a % 50)}\") + {a - a % 50}\n"
                f"\tif a+{b} != {a + b} {{\n\t\tt.Fatal(\"canary\")\n\t}}\n}}\n\n"
                f"func {fail_name}(t *testing.T) {{\n\ta := len(\"{'x' * (a % 50)}\") + {a - a % 50}\n"
                f"\tif a*{b} != {a * b + 1} {{\n\t\tt.Errorf(\"canary\")\n\t}}\n}}\n")

    def test_names(self, text):
        return re.findall(r"^func (Test[A-Z0-9_]\w*)\(\s*\w+\s+\*testing\.T\s*\)", text, re.M)

    def read(self, report_dir, key):
        outs = sorted(p for p in report_dir.glob("*.out") if p.is_file() and not p.is_symlink())
        if not outs:
            return TestReport(channel=self.name, problem="no test binary wrote a report")
        rank = {PASSED: 0, SKIPPED: 1, FAILED: 3}
        outcomes: dict[str, str] = {}
        complete = True
        for out in outs:
            package = out.name.rsplit(".", 2)[0]
            lines = (read_capped(out) or b"").decode("utf-8", "replace").splitlines()
            if read_capped(out.with_suffix(".exit")) is None or not any(l in ("PASS", "FAIL") for l in lines):
                complete = False  # the binary ended before its closing line
            for line in lines:
                m = self._RESULT.match(line)
                if m:
                    kind = {"PASS": PASSED, "FAIL": FAILED, "SKIP": SKIPPED}[m.group(1)]
                    test_id = f"{package}::{m.group(2)}"
                    if rank[kind] >= rank.get(outcomes.get(test_id), -1):
                        outcomes[test_id] = kind
        return TestReport(channel=self.name, outcomes=outcomes, complete=complete,
                          problem=None if complete else "a test binary ended before its closing PASS or FAIL line")


class LinesChannel(Channel):
    """``$CAB_TEST_REPORT`` lines: ``pass NAME`` / ``fail NAME`` ... ``end P F``."""

    name = "lines"
    structured = True

    def prepare(self, command, report_dir, nonce_file, run_id):
        return command, {"CAB_TEST_REPORT": str(report_dir / "lines.txt")}

    def test_files(self, root, candidates):
        return ["cab_canary.h"] if any(_mentions(root / rel, b"cab_canary.h") for rel in candidates) else []

    def canary_source(self, rel, text, pass_name, fail_name):
        return (f"static int {pass_name}(void) {{ volatile int a = 2; return a + a == 4; }}\n"
                f"static int {fail_name}(void) {{ volatile int a = 2; return a + a == 5; }}\n"
                f"#define CAB_CANARIES() do {{ RUN({pass_name}); RUN({fail_name}); }} while (0)\n")

    def read(self, report_dir, key):
        data = read_capped(report_dir / "lines.txt")
        if data is None:
            return TestReport(channel=self.name, problem="no report was written")
        outcomes: dict[str, str] = {}
        counts, end, refused, altered = [0, 0], None, None, None
        for line in data.decode("utf-8", "replace").splitlines():
            word, _, name = line.strip().partition(" ")
            if end is not None and line.strip():
                altered = altered or "the report was altered (lines after its end)"
            elif word in ("pass", "fail") and name:
                kind = PASSED if word == "pass" else FAILED
                # A test reported twice keeps its worse outcome: a later "pass" never undoes a "fail".
                outcomes[name] = FAILED if FAILED in (kind, outcomes.get(name)) else kind
                counts[word == "fail"] += 1
            elif word == "refused" and name:  # the task's build script refused the code under test
                refused = refused or name[:300]
            elif word == "end":
                end = name.split()
        if refused:
            return TestReport(channel=self.name, outcomes=outcomes, complete=True,
                              problem=f"the task's test build refused the code under test: {refused}")
        if end is None:
            return TestReport(channel=self.name, outcomes=outcomes, problem="the report has no end line")
        if altered is None and end != [str(counts[0]), str(counts[1])]:
            altered = f"the report was altered (its end line counts {' '.join(end)}, its lines {counts[0]} {counts[1]})"
        return TestReport(channel=self.name, outcomes=outcomes, complete=True, problem=altered)

    failed_line = re.compile(r"^FAIL (\S+)\s*$")


@lru_cache(maxsize=1)
def host_triple() -> Optional[str]:
    """The Rust host target triple (``rustc -vV``), None without rustc."""
    rustc = shutil.which("rustc") or os.path.expanduser("~/.cargo/bin/rustc")
    try:
        out = subprocess.run([rustc, "-vV"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"^host:\s*(\S+)", out, re.M)
    return match.group(1) if match else None
