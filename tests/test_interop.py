"""Foreign task formats: Harbor / Terminal-Bench, Exercism, SWE-bench; `cab tasks import`.

Every sample below is written here, small and in each project's shape; none is copied
from those projects.  Each runs through `cab run --adapter command`: the oracle passes,
noop fails.
"""

import json
import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from cab_core.testing import write_task

from conftest import run_cab

# Every test here runs whole cells: part of the full suite, not the quick loop.
pytestmark = pytest.mark.slow

HAS = {tool: shutil.which(tool) is not None for tool in ("cargo", "node", "go", "cmake", "make", "c++", "bash", "git")}


def write(root: Path, files: dict) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        if rel.endswith(".sh"):
            path.chmod(0o755)
    return root


# --------------------------------------------------------------------------- samples: Harbor


def harbor_greet(root: Path) -> Path:
    """A Harbor task whose Dockerfile only copies files: runs locally; partial reward via reward.txt."""
    return write(root / "greet", {
        "task.toml": """
            version = "1.0"

            [metadata]
            author_name = "cab tests"
            difficulty = "easy"
            category = "programming"
            tags = ["python", "sample"]

            [verifier]
            timeout_sec = 60.0

            [agent]
            timeout_sec = 120.0

            [environment]
            build_timeout_sec = 300.0
            cpus = 1
        """,
        "instruction.md": """
            `/app/greet.py` has a function `greet(name)`. Make it return `Hello, NAME!` (for example
            `greet("Ada") == "Hello, Ada!"`), and make it return `Hello, stranger!` for an empty name.
        """,
        "environment/Dockerfile": """
            # only copies the starting files: nothing the host lacks
            FROM python:3.12-slim
            WORKDIR /app
            ENV GREETING_STYLE=plain
            COPY app/ /app/
        """,
        "environment/app/greet.py": """
            def greet(name):
                return "Hello, " + name + "!"
        """,
        "tests/test.sh": """
            #!/bin/bash
            # reward = share of the checks that pass
            cd /app
            python3 /tests/check.py /app/greet.py > /logs/verifier/reward.txt
        """,
        "tests/check.py": """
            import importlib.util, sys
            spec = importlib.util.spec_from_file_location("greet", sys.argv[1])
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
            checks = [mod.greet("Ada") == "Hello, Ada!", mod.greet("") == "Hello, stranger!"]
            print(sum(checks) / len(checks))
        """,
        "solution/solve.sh": """
            #!/bin/bash
            cat > /app/greet.py <<'EOF'
            def greet(name):
                return f"Hello, {name or 'stranger'}!"
            EOF
        """,
    })


def harbor_answer(root: Path) -> Path:
    """A Harbor task with no Dockerfile at all: reward.json, an empty starting folder."""
    return write(root / "fib-answer", {
        "task.toml": """
            version = "1.0"
            [verifier]
            timeout_sec = 30.0
        """,
        "instruction.md": "Write the 10th Fibonacci number (fib(1) = fib(2) = 1) into /app/answer.txt.\n",
        "tests/test.sh": """
            #!/bin/bash
            if [ "$(cat /app/answer.txt 2>/dev/null)" = "55" ]; then
              echo '{"reward": 1.0}' > /logs/verifier/reward.json
            else
              echo '{"reward": 0.0}' > /logs/verifier/reward.json
            fi
        """,
        "solution/solve.sh": "#!/bin/bash\necho 55 > /app/answer.txt\n",
    })


def harbor_needs_docker(root: Path) -> Path:
    """A Harbor task whose image installs software: tagged needs-docker, refused locally."""
    return write(root / "needs-jq", {
        "task.toml": "version = \"1.0\"\n",
        "instruction.md": "Use jq to pretty-print /app/data.json into /app/pretty.json.\n",
        "environment/Dockerfile": """
            FROM ubuntu:24.04
            RUN apt-get update && apt-get install -y jq
            WORKDIR /app
        """,
        "tests/test.sh": "#!/bin/bash\ntest -f /app/pretty.json && echo 1 > /logs/verifier/reward.txt || echo 0 > /logs/verifier/reward.txt\n",
        "solution/solve.sh": "#!/bin/bash\njq . /app/data.json > /app/pretty.json\n",
    })


def terminal_bench_reverse(root: Path) -> Path:
    """The older Terminal-Bench layout: task.yaml holds the instruction, run-tests.sh is judged by its exit code."""
    return write(root / "reverse-lines", {
        "task.yaml": """
            instruction: |-
              Write /app/reversed.txt: the lines of /app/input.txt in reverse order.
            author_email: tests@example.com
            difficulty: easy
            category: file-operations
            tags: [text]
            max_agent_timeout_sec: 120
            max_test_timeout_sec: 60
        """,
        "Dockerfile": "FROM python:3.11-slim\nWORKDIR /app\nCOPY input.txt /app/input.txt\n",
        "docker-compose.yaml": "services:\n  client:\n    build: .\n",
        "input.txt": "one\ntwo\nthree\n",
        "run-tests.sh": "#!/bin/bash\npython3 -m pytest -q -p no:cacheprovider $TEST_DIR/test_outputs.py\n",
        "tests/test_outputs.py": """
            from pathlib import Path


            def test_reversed():
                assert Path("/app/reversed.txt").read_text().split() == ["three", "two", "one"]
        """,
        "solution.sh": "#!/bin/bash\ntac /app/input.txt > /app/reversed.txt\n",
    })


# --------------------------------------------------------------------------- samples: Exercism


def exercism_python(root: Path) -> Path:
    return write(root / "python" / "exercises" / "practice" / "acronym", {
        ".docs/instructions.md": """
            # Instructions

            Turn a phrase into its acronym: "Portable Network Graphics" becomes "PNG".
            Hyphens separate words like spaces do.
        """,
        ".docs/instructions.append.md": "# Instructions append\n\nIgnore punctuation other than hyphens.\n",
        ".meta/config.json": json.dumps({
            "authors": ["cab-tests"],
            "files": {"solution": ["acronym.py"], "test": ["acronym_test.py"], "example": [".meta/example.py"]},
            "blurb": "Make acronyms.",
        }),
        ".meta/example.py": """
            import re


            def abbreviate(words):
                return "".join(w[0].upper() for w in re.split(r"[\\s-]+", re.sub(r"[^\\w\\s-]", "", words)) if w)
        """,
        "acronym.py": "def abbreviate(words):\n    pass\n",
        "acronym_test.py": """
            import unittest

            from acronym import abbreviate


            class AcronymTest(unittest.TestCase):
                def test_basic(self):
                    self.assertEqual(abbreviate("Portable Network Graphics"), "PNG")

                def test_hyphen(self):
                    self.assertEqual(abbreviate("Complementary metal-oxide semiconductor"), "CMOS")

                def test_punctuation(self):
                    self.assertEqual(abbreviate("Halley's Comet"), "HC")
        """,
    })


def exercism_javascript(root: Path) -> Path:
    return write(root / "javascript" / "exercises" / "practice" / "band-color", {
        ".docs/instructions.md": "# Instructions\n\nReturn the code of a resistor band colour: black 0 ... white 9.\n",
        ".meta/config.json": json.dumps({
            "authors": ["cab-tests"],
            "files": {"solution": ["band-color.js"], "test": ["band-color.spec.js"], "example": [".meta/proof.ci.js"]},
        }),
        ".meta/proof.ci.js": """
            export const COLORS = ['black', 'brown', 'red', 'orange', 'yellow', 'green', 'blue', 'violet', 'grey', 'white'];
            export const colorCode = (color) => {
              const i = COLORS.indexOf(color);
              if (i < 0) throw new Error(`unknown colour ${color}`);
              return i;
            };
        """,
        "band-color.js": """
            export const COLORS = undefined;
            export const colorCode = () => {
              throw new Error('Remove this line and implement the function');
            };
        """,
        "band-color.spec.js": """
            import { colorCode, COLORS } from './band-color';

            describe('colorCode', () => {
              test('black', () => {
                expect(colorCode('black')).toBe(0);
              });
              xtest('white', () => {
                expect(colorCode('white')).toEqual(9);
              });
              xtest('unknown colours throw', () => {
                expect(() => colorCode('pink')).toThrow('unknown');
              });
            });

            describe('COLORS', () => {
              xtest('lists ten colours in order', () => {
                expect(COLORS).toHaveLength(10);
                expect(COLORS.slice(0, 2)).toEqual(['black', 'brown']);
                expect(COLORS).not.toContain('pink');
              });
            });
        """,
        "package.json": '{"name": "band-color", "private": true, "type": "module", "scripts": {"test": "jest"}}\n',
    })


def exercism_rust(root: Path) -> Path:
    return write(root / "rust" / "exercises" / "practice" / "digit-sum", {
        ".docs/instructions.md": "# Instructions\n\nReturn the sum of the decimal digits of a number.\n",
        ".meta/config.json": json.dumps({
            "files": {"solution": ["src/lib.rs", "Cargo.toml"], "test": ["tests/digit-sum.rs"],
                      "example": [".meta/example.rs"], "invalidator": ["Cargo.toml"]},
        }),
        ".meta/example.rs": "pub fn digit_sum(n: u64) -> u64 {\n    n.to_string().bytes().map(|b| (b - b'0') as u64).sum()\n}\n",
        "Cargo.toml": '[package]\nname = "digit_sum"\nversion = "0.1.0"\nedition = "2021"\n',
        "src/lib.rs": "pub fn digit_sum(n: u64) -> u64 {\n    todo!(\"sum the digits of {n}\")\n}\n",
        "tests/digit-sum.rs": """
            use digit_sum::digit_sum;

            #[test]
            fn zero() {
                assert_eq!(digit_sum(0), 0);
            }

            #[test]
            #[ignore]
            fn several_digits() {
                assert_eq!(digit_sum(9075), 21);
            }
        """,
    })


def exercism_cpp(root: Path) -> Path:
    return write(root / "cpp" / "exercises" / "practice" / "gcd", {
        ".docs/instructions.md": "# Instructions\n\nReturn the greatest common divisor of two positive integers.\n",
        ".meta/config.json": json.dumps({
            "files": {"solution": ["gcd.cpp", "gcd.h"], "test": ["gcd_test.cpp"], "example": [".meta/example.cpp", ".meta/example.h"],
                      "invalidator": ["CMakeLists.txt"]},
        }),
        ".meta/example.h": "#pragma once\nnamespace gcd { long of(long a, long b); }\n",
        ".meta/example.cpp": '#include "gcd.h"\nnamespace gcd { long of(long a, long b) { while (b) { long t = a % b; a = b; b = t; } return a; } }\n',
        "gcd.h": "#pragma once\nnamespace gcd { long of(long a, long b); }\n",
        "gcd.cpp": '#include "gcd.h"\nnamespace gcd { long of(long a, long b) { return a < b ? a : b; } }\n',
        "gcd_test.cpp": """
            #include "gcd.h"
            #include <cstdio>
            int main() {
                int failed = 0;
                if (gcd::of(12, 18) != 6) { std::puts("FAIL 12 18"); failed++; }
                if (gcd::of(7, 7) != 7) { std::puts("FAIL 7 7"); failed++; }
                int total = 2;
            #ifdef EXERCISM_RUN_ALL_TESTS
                if (gcd::of(17, 5) != 1) { std::puts("FAIL 17 5"); failed++; }
                total++;
            #endif
                // the summary Catch2, the track's test framework, prints
                if (failed) std::printf("test cases: %d | %d passed | %d failed\\n", total, total - failed, failed);
                else std::printf("All tests passed (%d assertions in %d test cases)\\n", total, total);
                return failed ? 1 : 0;
            }
        """,
        "CMakeLists.txt": """
            cmake_minimum_required(VERSION 3.10)
            project(gcd CXX)
            add_executable(gcd gcd.cpp gcd_test.cpp)
            if(EXERCISM_RUN_ALL_TESTS)
              target_compile_definitions(gcd PRIVATE EXERCISM_RUN_ALL_TESTS)
            endif()
            add_custom_target(test_gcd ALL DEPENDS gcd COMMAND gcd)
        """,
    })


def exercism_go(root: Path) -> Path:
    return write(root / "go" / "exercises" / "practice" / "leap-year", {
        ".docs/instructions.md": "# Instructions\n\nSay whether a year is a leap year in the Gregorian calendar.\n",
        ".meta/config.json": json.dumps({
            "files": {"solution": ["leap.go"], "test": ["leap_test.go"], "example": [".meta/example.go"], "invalidator": ["go.mod"]},
        }),
        ".meta/example.go": "package leap\n\nfunc IsLeap(y int) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }\n",
        "go.mod": "module leap\n\ngo 1.18\n",
        "leap.go": "package leap\n\nfunc IsLeap(y int) bool { return y%4 == 0 }\n",
        "leap_test.go": """
            package leap

            import "testing"

            func TestLeap(t *testing.T) {
            \tfor y, want := range map[int]bool{1996: true, 1900: false, 2000: true, 2023: false} {
            \t\tif got := IsLeap(y); got != want {
            \t\t\tt.Errorf("IsLeap(%d) = %v, want %v", y, got, want)
            \t\t}
            \t}
            }
        """,
    })


def exercism_java(root: Path) -> Path:
    return write(root / "java" / "exercises" / "practice" / "greeter", {
        ".docs/instructions.md": "# Instructions\n\nGreet the world.\n",
        ".meta/config.json": json.dumps({
            "files": {"solution": ["src/main/java/Greeter.java"], "test": ["src/test/java/GreeterTest.java"],
                      "example": [".meta/src/reference/java/Greeter.java"], "invalidator": ["build.gradle"]},
        }),
        ".meta/src/reference/java/Greeter.java": "class Greeter { String greet() { return \"Hello, World!\"; } }\n",
        "build.gradle": "apply plugin: 'java'\n",
        "src/main/java/Greeter.java": "class Greeter { String greet() { return \"\"; } }\n",
        "src/test/java/GreeterTest.java": """
            import org.junit.jupiter.api.Disabled;
            import org.junit.jupiter.api.Test;
            import static org.assertj.core.api.Assertions.assertThat;

            public class GreeterTest {
                @Test
                public void greets() { assertThat(new Greeter().greet()).isEqualTo("Hello, World!"); }

                @Disabled("Remove to run test")
                @Test
                public void greetsAgain() { assertThat(new Greeter().greet()).startsWith("Hello"); }
            }
        """,
    })


# --------------------------------------------------------------------------- samples: SWE-bench


def _git(cwd, *args):
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@x", "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


def swebench_sample(root: Path) -> Path:
    """A local clone with a base commit, a later fixing commit, and one instance pointing at it."""
    repo = write(root / "repos" / "acme__mathlib", {
        "mathlib/__init__.py": "",
        "mathlib/ops.py": "def clamp(x, lo, hi):\n    return max(lo, x)\n",
        "tests/test_ops.py": "from mathlib.ops import clamp\n\n\ndef test_clamp_low():\n    assert clamp(-5, 0, 10) == 0\n",
    })
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "base")
    base = _git(repo, "rev-parse", "HEAD").strip()
    (repo / "mathlib/ops.py").write_text("def clamp(x, lo, hi):\n    return min(hi, max(lo, x))\n")
    (repo / "tests/test_ops.py").write_text((repo / "tests/test_ops.py").read_text()
                                            + "\n\ndef test_clamp_high():\n    assert clamp(50, 0, 10) == 10\n")
    _git(repo, "commit", "-q", "-am", "fix clamp")
    instance = {
        "instance_id": "acme__mathlib-1",
        "repo": "acme/mathlib",
        "base_commit": base,
        "problem_statement": "clamp(x, lo, hi) ignores hi: clamp(50, 0, 10) returns 50 instead of 10.",
        "patch": _git(repo, "diff", base, "HEAD", "--", "mathlib"),
        "test_patch": _git(repo, "diff", base, "HEAD", "--", "tests"),
        "FAIL_TO_PASS": json.dumps(["tests/test_ops.py::test_clamp_high"]),  # as the HF dataset stores it
        "PASS_TO_PASS": ["tests/test_ops.py::test_clamp_low"],
        "version": "0.1",
    }
    (root / "instances.jsonl").write_text(json.dumps(instance) + "\n")
    return root


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module", autouse=True)
def task_cache(tmp_path_factory):
    """A private cache for materialised tasks, for this module and the `cab` it runs."""
    cache = tmp_path_factory.mktemp("cab-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CAB_CACHE", str(cache))
        yield cache


@pytest.fixture(scope="module")
def samples(tmp_path_factory, task_cache):
    """Every sample folder, built once."""
    base = tmp_path_factory.mktemp("interop")
    harbor = base / "harbor"
    harbor_greet(harbor)
    harbor_answer(harbor)
    terminal_bench_reverse(harbor)
    docker = base / "harbor-docker"
    harbor_needs_docker(docker)
    exercism = base / "exercism"
    exercism_python(exercism)
    exercism_javascript(exercism)
    exercism_rust(exercism)
    exercism_cpp(exercism)
    exercism_go(exercism)
    exercism_java(exercism)
    swe = swebench_sample(base / "swe") if HAS["git"] else None
    native = base / "native"
    write_task(native, "demo/add")
    yield {"base": base, "harbor": harbor, "harbor_docker": docker, "exercism": exercism, "swebench": swe, "native": native}


def cells(samples):
    """(task id, tasks dir, toolchain needed) for every runnable sample task."""
    return [
        ("harbor/greet", samples["harbor"], "bash"),
        ("harbor/fib-answer", samples["harbor"], "bash"),
        ("harbor/reverse-lines", samples["harbor"], "bash"),
        ("exercism/python-acronym", samples["exercism"], None),
        ("exercism/javascript-band-color", samples["exercism"], "node"),
        ("exercism/rust-digit-sum", samples["exercism"], "cargo"),
        ("exercism/cpp-gcd", samples["exercism"], "cmake"),
        ("exercism/go-leap-year", samples["exercism"], "go"),
        ("swebench/acme__mathlib-1", samples["swebench"], "git"),
    ]


CELL_IDS = ["harbor/greet", "harbor/fib-answer", "harbor/reverse-lines", "exercism/python-acronym", "exercism/javascript-band-color",
            "exercism/rust-digit-sum", "exercism/cpp-gcd", "exercism/go-leap-year", "swebench/acme__mathlib-1"]


def run_cell(task_id, tasks_dir, results, model, *extra):
    proc = run_cab("run", "--adapter", "command", "--model", model, "--task", task_id, "--tasks-dir", tasks_dir,
                   "--results", results, "--json", *extra, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout)


# --------------------------------------------------------------------------- loading and detection


def test_each_format_is_detected_and_listed(samples, cab):
    expected = {
        "harbor": {"harbor/greet", "harbor/fib-answer", "harbor/reverse-lines"},
        "exercism": {"exercism/python-acronym", "exercism/javascript-band-color", "exercism/rust-digit-sum", "exercism/cpp-gcd",
                     "exercism/go-leap-year", "exercism/java-greeter"},
        "swebench": {"swebench/acme__mathlib-1"},
    }
    for fmt, ids in expected.items():
        if samples[fmt] is None:
            continue
        for task_format in ("auto", fmt):
            proc = cab("tasks", "list", "--tasks-dir", samples[fmt], "--task-format", task_format, "--json")
            assert proc.returncode == 0, proc.stderr
            rows = {r["id"]: r for r in json.loads(proc.stdout) if r["format"] == fmt}
            assert set(rows) == ids, (fmt, task_format, rows)
    # an instances file can be named directly
    if samples["swebench"] is not None:
        proc = cab("tasks", "list", "--tasks-dir", samples["swebench"] / "instances.jsonl", "swebench/*", "--json", check=True)
        assert [r["id"] for r in json.loads(proc.stdout)] == ["swebench/acme__mathlib-1"]


def test_foreign_tasks_map_onto_task_fields(samples, cab):
    def show(task_id, folder):
        return json.loads(cab("tasks", "show", task_id, "--tasks-dir", folder, "--json", check=True).stdout)

    greet = show("harbor/greet", samples["harbor"])
    assert greet["prompt"].startswith("`/app/greet.py` has a function")
    assert "working directory /app is your current directory" in greet["prompt"]
    assert greet["protected"] == [".cab-verify/**"] and greet["hidden_tests"] is True
    assert "needs-docker" not in greet["tags"] and {"python", "sample"} <= set(greet["tags"])
    assert greet["test_timeout"] == 60.0

    acronym = show("exercism/python-acronym", samples["exercism"])
    assert "Portable Network Graphics" in acronym["prompt"] and "Ignore punctuation" in acronym["prompt"]
    assert acronym["expected_changes"] == ["acronym.py"] and acronym["protected"] == ["acronym_test.py"]
    assert acronym["language"] == "python" and "pytest" in acronym["test_command"]
    rust = show("exercism/rust-digit-sum", samples["exercism"])
    assert rust["protected"] == ["tests/digit-sum.rs"]  # Cargo.toml is a solution file there, so it stays editable
    assert "--include-ignored" in rust["test_command"]

    if samples["swebench"] is not None:
        swe = show("swebench/acme__mathlib-1", samples["swebench"])
        assert swe["prompt"].startswith("clamp(x, lo, hi) ignores hi")
        assert swe["expected_changes"] == ["mathlib/ops.py"]
        assert swe["protected"] == ["tests/test_ops.py", ".cab-verify/**"]


def test_exercism_workspace_is_the_exercise_without_meta_and_with_every_test_enabled(samples):
    from cab_core.plugins import get_plugin_manager
    from cab_core.registry import Registry
    from cab_core.tasks import TaskCatalog

    catalog = TaskCatalog(Registry(get_plugin_manager()), tasks_dirs=[samples["exercism"]], builtin=False)
    task = catalog.get("exercism/javascript-band-color")
    assert sorted(p.name for p in task.workspace.iterdir()) == ["band-color.js", "band-color.spec.js", "package.json"]
    spec = (task.workspace / "band-color.spec.js").read_text()
    assert "xtest" not in spec and spec.count("test(") == 4
    assert (task.solution_dir / "band-color.js").read_text().startswith("export const COLORS = ['black'")
    java = catalog.get("exercism/java-greeter")
    assert "@Disabled" not in (java.workspace / "src/test/java/GreeterTest.java").read_text()
    assert (java.solution_dir / "src/main/java/Greeter.java").read_text().startswith("class Greeter { String greet() { return \"Hello")
    assert java.test_command == "gradle test --offline" and java.toolchain == ("java", "gradle")
    assert java.protected == ("build.gradle", "src/test/java/GreeterTest.java")
    again = TaskCatalog(Registry(get_plugin_manager()), tasks_dirs=[samples["exercism"]], builtin=False)
    assert again.get("exercism/javascript-band-color").workspace == task.workspace  # cached, deterministic


# --------------------------------------------------------------------------- oracle passes, noop fails


@pytest.mark.parametrize("index", range(len(CELL_IDS)), ids=CELL_IDS)
def test_oracle_passes_and_noop_fails(samples, tmp_path, index):
    task_id, tasks_dir, tool = cells(samples)[index]
    if tool and not HAS[tool]:
        pytest.skip(f"{tool} is not installed")
    results = tmp_path / "results"
    oracle = run_cell(task_id, tasks_dir, results, "oracle")
    pr = oracle["scores"]["pass_rate"]
    assert oracle["status"] == "ok", oracle["error"]
    assert pr["value"] == 1.0, pr["breakdown"]["stdout_tail"]
    assert oracle["scores"]["integrity"]["value"] == 1.0
    noop = run_cell(task_id, tasks_dir, results, "noop")
    assert noop["status"] == "ok", noop["error"]
    assert noop["scores"]["pass_rate"]["value"] == 0.0, noop["scores"]["pass_rate"]["breakdown"]["stdout_tail"]


def test_harbor_reward_becomes_pass_and_partial_score(samples, tmp_path):
    oracle = run_cell("harbor/greet", samples["harbor"], tmp_path / "r", "oracle")
    breakdown = oracle["scores"]["pass_rate"]["breakdown"]
    assert breakdown["partial_score"] == 1.0 and "reward: 1" in breakdown["stdout_tail"]
    noop = run_cell("harbor/greet", samples["harbor"], tmp_path / "r", "noop")
    breakdown = noop["scores"]["pass_rate"]["breakdown"]
    # one of the two checks passes without any change: reward 0.5 is a fail with partial score 0.5
    assert breakdown["pass"] == 0 and breakdown["partial_score"] == 0.5
    assert "reward: 0.5" in breakdown["stdout_tail"] and "1 passed, 1 failed" in breakdown["stdout_tail"]


def test_a_harbor_test_cannot_be_planted_by_the_agent(samples, tmp_path):
    cmd = "mkdir -p .cab-verify/logs/verifier && echo 1 > .cab-verify/logs/verifier/reward.txt && echo 55 > wrong.txt"
    cell = run_cell("harbor/fib-answer", samples["harbor"], tmp_path / "r", "custom", "-o", f"command={cmd}")
    # the planted reward is dropped with everything the agent put under the protected .cab-verify/
    assert cell["scores"]["pass_rate"]["value"] == 0.0
    assert "reward: 0" in cell["scores"]["pass_rate"]["breakdown"]["stdout_tail"]


def test_harbor_task_that_needs_its_image_is_marked_and_refused_locally(samples, tmp_path, cab):
    rows = json.loads(cab("tasks", "list", "--tasks-dir", samples["harbor_docker"], "--json", check=True).stdout)
    assert rows[0]["id"] == "harbor/needs-jq" and "needs-docker" in rows[0]["tags"]
    proc = run_cab("run", "--adapter", "command", "--model", "noop", "--task", "harbor/needs-jq", "--tasks-dir",
                   samples["harbor_docker"], "--results", tmp_path / "r", "--json", timeout=600)
    cell = json.loads(proc.stdout)
    # The environment is never the agent: run locally, the task is an environment error, not a pass 0.
    assert proc.returncode == 3 and cell["status"] == "infra_error" and cell["exit_code"] is None
    assert cell["error"] == "environment: task harbor/needs-jq needs its Docker environment (run it with --sandbox docker)"


def test_harbor_local_or_docker_decision(tmp_path):
    from cab_tasks import harbor

    def decide(dockerfile, config=None, files=None):
        """needs_docker for the fib-answer sample with this Dockerfile (None: runs locally)."""
        task = harbor_answer(tmp_path / f"t{len(list(tmp_path.iterdir()))}")
        if dockerfile is not None:
            write(task, {"environment/Dockerfile": dockerfile, **(files or {})})
        return harbor.read_environment(harbor._layout(task, task / "task.toml"), config or {}).needs_docker

    assert decide(None) is None
    assert decide('FROM python:3.11\nWORKDIR /app\nCOPY src/ /app/src/\nCMD ["bash"]\n', files={"environment/src/a.py": ""}) is None
    assert decide("FROM debian:bookworm-slim\nWORKDIR /work\nLABEL x=y\n") is None
    assert "RUN pip install numpy" in decide("FROM python:3.11\nRUN pip install numpy\n")
    assert "builds on node:20" in decide("FROM node:20\nWORKDIR /app\n")
    assert "outside the working directory" in decide("FROM python:3\nWORKDIR /app\nCOPY x /etc/x\n", files={"environment/x": ""})
    assert "prebuilt image" in decide(None, config={"environment": {"docker_image": "ghcr.io/x/y:1"}})


def test_harbor_runner_rewrites_paths_and_scales_rewards(tmp_path):
    from cab_tasks import harbor
    from cab_scorers.testcounts import parse_counts

    runner = tmp_path / "run.py"
    runner.write_text(harbor.RUNNER)
    ns = {"__name__": "runner", "__file__": str(runner)}
    exec(compile(runner.read_text(), str(runner), "exec"), ns)
    counts, rewriter = ns["counts"], ns["rewriter"]
    for reward, expected in ((1.0, (1, 0)), (0.0, (0, 1)), (0.75, (3, 1)), (0.5, (1, 1)), (1 / 3, (1, 2))):
        assert counts(reward) == expected
        assert parse_counts("| 5 passed in 0.1s\n%d passed, %d failed\n" % expected) == expected
    rewrite = rewriter({"/app": "/w/copy", "/tests": "/w/copy/.cab-verify/tests", "/logs": "/w/copy/.cab-verify/logs"})
    text = "cd /app && python /tests/t.py > /logs/verifier/reward.txt; ls /apple /data/app /app"
    assert rewrite(text) == ("cd /w/copy && python /w/copy/.cab-verify/tests/t.py > /w/copy/.cab-verify/logs/verifier/reward.txt;"
                             " ls /apple /data/app /w/copy")


# --------------------------------------------------------------------------- validate and import


def test_validate_works_on_each_format(samples, cab):
    for key in ("harbor", "exercism", "swebench"):
        if samples[key] is None:
            continue
        proc = cab("tasks", "validate", "--tasks-dir", samples[key], f"{key}/*", "--jobs", "4", timeout=600)
        assert proc.stdout.count("ok  ") >= 1, proc.stdout
        for line in proc.stdout.splitlines():  # only a toolchain this host lacks may fail: an environment error
            assert line.startswith("ok  ") or (line.startswith("ENV ") and "not found on this machine" in line), line


def test_validate_says_a_needs_docker_task_cannot_run_here(samples, cab):
    proc = cab("tasks", "validate", "--tasks-dir", samples["harbor_docker"], "harbor/*")
    assert proc.returncode == 1
    assert proc.stdout.startswith("FAIL  harbor/needs-jq: ") and "solution command" in proc.stdout


@pytest.mark.parametrize("fmt", ["harbor", "exercism", "swebench"])
def test_import_writes_native_tasks_that_validate(samples, tmp_path, cab, fmt):
    if samples[fmt] is None:
        pytest.skip("git is not installed")
    out = tmp_path / "native"
    proc = cab("tasks", "import", fmt, samples[fmt], "--out", out, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert " tasks written to " in proc.stderr
    listed = json.loads(cab("tasks", "list", "--tasks-dir", out, "--json", check=True).stdout)
    mine = [r for r in listed if r["path"] and str(out) in r["path"]]
    assert mine and all(r["format"] == "native" for r in mine)
    ids = [r["id"] for r in mine if all(shutil.which(tool) for tool in r["toolchain"])]
    proc = cab("tasks", "validate", "--tasks-dir", out, ",".join(ids), timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    again = cab("tasks", "import", fmt, samples[fmt], "--out", out)
    assert again.returncode == 1 and "already exists (pass --force" in again.stderr
    assert cab("tasks", "import", fmt, samples[fmt], "--out", out, "--force").returncode == 0


def test_imported_harbor_task_runs_the_same(samples, tmp_path, cab):
    out = tmp_path / "native"
    cab("tasks", "import", "auto", samples["harbor"], "--out", out, check=True)
    assert (out / "harbor" / "greet" / "solution" / "greet.py").is_file()  # solve.sh's result, materialised
    assert (out / "harbor" / "greet" / "environment" / "Dockerfile").is_file()
    oracle = run_cell("harbor/greet", out, tmp_path / "r", "oracle", "--task-format", "native")
    assert oracle["scores"]["pass_rate"]["value"] == 1.0
    noop = run_cell("harbor/greet", out, tmp_path / "r", "noop", "--task-format", "native")
    assert noop["scores"]["pass_rate"]["breakdown"]["partial_score"] == 0.5


# --------------------------------------------------------------------------- a mixed sweep


def test_a_sweep_mixes_native_harbor_and_exercism_tasks(samples, tmp_path, cab):
    results = tmp_path / "results"
    dirs = [a for key in ("native", "harbor", "exercism") for a in ("--tasks-dir", samples[key])]  # each auto-detected
    proc = cab("sweep", "--adapters", "command", "--models", "oracle,noop",
               "--tasks", "demo/add,harbor/greet,harbor/fib-answer,exercism/python-acronym",
               *dirs, "--sweep-id", "mixed", "--results", results, "--jobs", "3", "--json", timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = json.loads(proc.stdout)
    assert out["report"]["total"] == 8 and out["report"]["infra_errors"] == 0 and out["report"]["passing"] == 4
    board = {row["model"]: row for row in out["leaderboard"]}
    assert board["oracle"]["pass_rate"] == 1.0 and board["noop"]["pass_rate"] == 0.0
    assert board["oracle"]["tasks"] == 4
    written = sorted(p.parent.relative_to(results / "mixed").as_posix() for p in (results / "mixed").rglob("cell.json"))
    assert written == [f"command/{m}/{t}/trial-1" for m in ("noop", "oracle")
                       for t in ("demo/add", "exercism/python-acronym", "harbor/fib-answer", "harbor/greet")]
    summary = cab("summary", "mixed", "--results", results, check=True).stdout
    assert "oracle" in summary and "noop" in summary


# --------------------------------------------------------------------------- errors name the file


def _one_line_error(proc, *words):
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    for word in words:
        assert str(word) in lines[0], (word, lines[0])
    return lines[0]


def test_missing_harbor_instruction_names_the_file(tmp_path, cab):
    task = harbor_answer(tmp_path / "h")
    (task / "instruction.md").unlink()
    proc = cab("tasks", "list", "--tasks-dir", tmp_path / "h", "--task-format", "harbor")
    _one_line_error(proc, task / "instruction.md", "missing instruction file")


def test_missing_harbor_test_script_and_copy_source_name_the_file(tmp_path, cab):
    task = harbor_answer(tmp_path / "h")
    (task / "tests" / "test.sh").unlink()
    _one_line_error(cab("tasks", "list", "--tasks-dir", tmp_path / "h", "--task-format", "harbor"),
                    task / "tests" / "test.sh", "missing test script")
    task = harbor_greet(tmp_path / "g")
    shutil.rmtree(task / "environment" / "app")
    _one_line_error(cab("tasks", "list", "--tasks-dir", tmp_path / "g"), task / "environment" / "Dockerfile", "'app/'")
    (task / "task.toml").write_text("[verifier]\ntimeout_sec = 'soon'\n")
    _one_line_error(cab("tasks", "list", "--tasks-dir", tmp_path / "g"), task / "task.toml", "verifier.timeout_sec")


def test_exercism_config_naming_a_missing_file_names_the_config(tmp_path, cab):
    ex = exercism_python(tmp_path / "e")
    config = ex / ".meta" / "config.json"
    data = json.loads(config.read_text())
    data["files"]["test"] = ["missing_test.py"]
    config.write_text(json.dumps(data))
    _one_line_error(cab("tasks", "list", "--tasks-dir", tmp_path / "e"), config, "files.test", "'missing_test.py' does not exist")
    config.write_text("{not json")
    _one_line_error(cab("tasks", "list", "--tasks-dir", tmp_path / "e"), config, "not valid JSON")


def test_exercism_missing_instructions_name_the_file(tmp_path, cab):
    ex = exercism_python(tmp_path / "e")
    (ex / ".docs" / "instructions.md").unlink()
    proc = cab("tasks", "list", "--tasks-dir", tmp_path / "e", "--task-format", "exercism")
    _one_line_error(proc, ex / ".docs" / "instructions.md", "missing instruction file")


@pytest.mark.skipif(not HAS["git"], reason="git is not installed")
def test_swebench_errors_name_the_file_instance_and_field(tmp_path, cab):
    root = swebench_sample(tmp_path / "s")
    file = root / "instances.jsonl"
    instance = json.loads(file.read_text())
    for change, words in (
        ({"problem_statement": None}, ["field problem_statement: missing"]),
        ({"base_commit": "0" * 40}, ["field base_commit", "is not a commit of"]),
        ({"repo": "acme/elsewhere"}, ["field repo_path: no local git clone"]),
        ({"FAIL_TO_PASS": "not json ["}, ["field FAIL_TO_PASS"]),
    ):
        file.write_text(json.dumps({**instance, **change}) + "\n")
        proc = cab("tasks", "list", "--tasks-dir", root)
        _one_line_error(proc, file, "instance 'acme__mathlib-1'", *words)
    file.write_text("{broken\n")
    _one_line_error(cab("tasks", "list", "--tasks-dir", file, "--task-format", "swebench"), file, "line 1: not valid JSON")


def test_an_ambiguous_folder_asks_for_the_format(tmp_path, cab):
    harbor_answer(tmp_path / "mixed")
    write_task(tmp_path / "mixed", "demo/add")
    line = _one_line_error(cab("tasks", "list", "--tasks-dir", tmp_path / "mixed"), tmp_path / "mixed", "--task-format")
    assert "harbor and native" in line
    proc = cab("tasks", "list", "--tasks-dir", tmp_path / "mixed", "--task-format", "harbor", "--json")
    assert [r["id"] for r in json.loads(proc.stdout) if r["format"] == "harbor"] == ["harbor/fib-answer"]


def test_import_refuses_an_unknown_format_and_an_out_folder_inside_the_source(tmp_path, cab):
    _one_line_error(cab("tasks", "import", "bogus", tmp_path, "--out", tmp_path / "o"), "unknown task format 'bogus'", "harbor")
    harbor_answer(tmp_path / "h")
    _one_line_error(cab("tasks", "import", "harbor", tmp_path / "h", "--out", tmp_path / "h" / "native"), "--out must not be inside")
