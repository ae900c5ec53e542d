"""cab's runner for one Harbor / Terminal-Bench task (written by cab_tasks.harbor).

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
