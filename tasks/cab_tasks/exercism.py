"""The Exercism exercise format (as the aider polyglot benchmark uses it).

::

    <track>/exercises/practice/<slug>/
      .docs/instructions.md          the exercise (plus introduction.md before, instructions.append.md after)
      .meta/config.json              {"files": {"solution": [...], "test": [...], "example": [...],
                                      "editor": [...], "invalidator": [...]}}
      .meta/example.* or proof.*     the reference solution (the oracle)
      <the stubs and tests the config names>

How it maps onto a cab task (id ``exercism/<track>-<slug>``):

* **prompt** — the instructions, then a paragraph naming the files to change and the tests.
* **workspace** — the exercise folder without ``.meta``, ``.docs`` and ``.exercism``
  (materialised in the cache), with every test enabled: JavaScript's ``xtest``/``xit``
  become ``test``/``it`` and Java's ``@Disabled`` lines go, as the benchmark does;
  Rust runs ``--include-ignored`` and C++ ``EXERCISM_RUN_ALL_TESTS``.
* **expected changes** — the solution files; **protected** — the test, editor and
  invalidator files (Exercism's own "do not touch" lists).
* **oracle** — the example (or proof) files, each laid over the solution file of the
  same name, else of the same extension (``solution/`` in the cache).
* **test command** per track: python ``pytest``; rust ``cargo test``; javascript node's
  own runner (``node --test``) with a small Jest-compatible shim (``describe``, ``test``,
  ``expect``, extension-less imports) overlaid at verification, because the track's
  Jest needs an ``npm install`` the offline sandbox cannot do; go ``go test -v``; java
  ``gradle test`` (``./gradlew`` when shipped); cpp ``cmake`` + build (the exercise's
  CMakeLists runs its tests).  The track's toolchain is the task's ``toolchain``, so
  ``cab tasks validate`` says which one is missing.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
from pathlib import Path

import attrs

from cab_core import Task, TaskSource, hookimpl
from cab_core.errors import TaskError

from . import _convert

FORMAT = "exercism"
VERIFY_DIR = ".cab-verify"
SKIP_TOP = (".meta", ".docs", ".exercism")


@attrs.frozen
class Track:
    """How one Exercism track's exercises are tested."""

    name: str
    extensions: tuple
    toolchain: tuple
    #: ``command(test_files, workspace_files) -> (test_command, toolchain)``
    command: object


def _python(tests, files):
    return "python -m pytest -q -p no:cacheprovider " + shlex.join(tests), ("python3", "pytest")


def _rust(tests, files):
    return "cargo test --offline -- --include-ignored", ("cargo",)


def _javascript(tests, files):
    return f"node --import ./{VERIFY_DIR}/jest.mjs --test " + shlex.join(tests), ("node",)


def _go(tests, files):
    return "go test -v ./...", ("go",)


def _java(tests, files):
    if "gradlew" in files:
        return "sh ./gradlew test --offline", ("java",)
    return "gradle test --offline", ("java", "gradle")


def _cpp(tests, files):
    return "cmake -S . -B build -DEXERCISM_RUN_ALL_TESTS=ON && cmake --build build", ("cmake", "make", "c++")


TRACKS = {t.name: t for t in (
    Track("python", (".py",), ("python3",), _python),
    Track("rust", (".rs",), ("cargo",), _rust),
    Track("javascript", (".js", ".mjs"), ("node",), _javascript),
    Track("go", (".go",), ("go",), _go),
    Track("java", (".java",), ("java",), _java),
    Track("cpp", (".cpp", ".cc", ".hpp", ".h"), ("cmake",), _cpp),
)}

#: Skip markers removed from test files so every test runs (the benchmark's practice).
_UNSKIP = {
    "javascript": [(re.compile(r"\bx(test|it|describe)(\s*\()"), r"\1\2"), (re.compile(r"\b(test|it)\.skip(\s*\()"), r"\1\2")],
    "java": [(re.compile(r"^[ \t]*@Disabled(\([^)]*\))?[ \t]*\n", re.M), "")],
}


# --------------------------------------------------------------------------- finding exercises


def is_task_folder(path: Path) -> bool:
    """Whether ``path`` is an exercise: ``.meta/config.json`` and ``.docs/instructions.md``."""
    path = Path(path)
    return (path / ".meta" / "config.json").is_file() and (path / ".docs" / "instructions.md").is_file()


def _looks_like_task(path: Path) -> bool:
    return (Path(path) / ".meta" / "config.json").is_file()


def detect(path: Path) -> bool:
    """An exercise folder, or a folder holding some (a track, or the whole benchmark)."""
    return bool(_convert.find_folders(Path(path), is_task_folder, max_depth=4))


def load(paths=()) -> list[Task]:
    """The exercises under each of ``paths`` (no built-in suite)."""
    return [load_task(folder) for root in paths for folder in _convert.find_folders(Path(root), _looks_like_task)]


# --------------------------------------------------------------------------- one exercise


def _track(folder: Path, solutions: list[str], config_path: Path) -> Track:
    parts = folder.parts
    for i, part in enumerate(parts[1:], start=1):
        if part == "exercises" and parts[i - 1] in TRACKS:
            return TRACKS[parts[i - 1]]
    for rel in solutions:
        for track in TRACKS.values():
            if Path(rel).suffix in track.extensions:
                return track
    known = ", ".join(sorted(TRACKS))
    raise TaskError(f"{config_path}: field files.solution: cannot tell the track from {solutions!r} (known tracks: {known})")


def _pair(examples: list[str], solutions: list[str], config_path: Path) -> dict[str, str]:
    """Which solution file each example file stands for."""
    pairs: dict[str, str] = {}
    for example in examples:
        name, suffix = Path(example).name, Path(example).suffix
        free = [s for s in solutions if s not in pairs.values()]
        same_name = [s for s in free if Path(s).name == name]
        same_ext = [s for s in free if Path(s).suffix == suffix]
        if same_name:
            pairs[example] = same_name[0]
        elif len(same_ext) == 1:
            pairs[example] = same_ext[0]
        elif len(examples) == 1 and len(solutions) == 1:
            pairs[example] = solutions[0]
        else:
            raise TaskError(f"{config_path}: field files.example: cannot tell which solution file {example!r} replaces")
    return pairs


def _prompt(folder: Path, solutions: list[str], tests: list[str]) -> str:
    docs = folder / ".docs"
    parts = []
    if (docs / "introduction.md").is_file():
        parts.append(_convert.read_text(docs / "introduction.md", "introduction"))
    parts.append(_convert.read_text(docs / "instructions.md", "instruction file"))
    if (docs / "instructions.append.md").is_file():
        parts.append(_convert.read_text(docs / "instructions.append.md", "instruction appendix"))
    names = ", ".join(solutions)
    closing = (f"Solve the exercise above by editing {names}. The tests are in {', '.join(tests)}: make them pass "
               "without changing them. Keep the names of the existing functions, classes and methods, since the "
               "tests use them, and use only the language's standard library.")
    return "\n\n".join(p.strip() for p in parts if p.strip()) + "\n\n" + closing + "\n"


def _read_config(folder: Path) -> tuple[Path, dict, list]:
    """``(config path, the config's file lists by key, the reference solution files)`` of one exercise."""
    config_path = folder / ".meta" / "config.json"
    try:
        config = json.loads(_convert.read_text(config_path, "exercise configuration"))
    except json.JSONDecodeError as exc:
        raise TaskError(f"{config_path}: not valid JSON: {exc}") from None
    if not isinstance(config, dict):
        raise TaskError(f"{config_path}: expected a JSON object")
    if not (folder / ".docs" / "instructions.md").is_file():
        raise TaskError(f"{folder / '.docs' / 'instructions.md'}: missing instruction file")
    lists = {}
    for key in ("solution", "test", "example", "exemplar", "editor", "invalidator"):
        lists[key] = _convert.string_list(config, f"files.{key}", config_path)
        for rel in lists[key]:
            if not (folder / rel).is_file():
                raise TaskError(f"{config_path}: field files.{key}: {rel!r} does not exist")
    for key in ("solution", "test"):
        if not lists[key]:
            raise TaskError(f"{config_path}: field files.{key}: must name at least one file")
    examples = lists["example"] or lists["exemplar"]
    if not examples:
        meta = folder / ".meta"
        examples = sorted(p.relative_to(folder).as_posix() for pattern in ("example.*", "proof.*") for p in meta.glob(pattern) if p.is_file())
    if not examples:
        raise TaskError(f"{config_path}: field files.example: no reference solution (.meta/example.* or .meta/proof.*)")
    return config_path, lists, examples


def load_task(folder: Path) -> Task:
    """Load the exercise in ``folder`` (raises TaskError: one line naming the file and field)."""
    folder = Path(folder).resolve()
    config_path, lists, examples = _read_config(folder)
    track = _track(folder, lists["solution"], config_path)
    pairs = _pair(examples, lists["solution"], config_path)
    files = {p.name for p in folder.iterdir()}
    test_command, toolchain = track.command(lists["test"], files)
    tid = _convert.task_id(FORMAT, f"{track.name}-{folder.name}")
    prompt = _prompt(folder, lists["solution"], lists["test"])

    def build(dest: Path) -> None:
        workspace = dest / "workspace"
        _convert.copy_filtered(folder, workspace, skip_top=SKIP_TOP)
        for rel in lists["test"]:
            path = workspace / rel
            text = path.read_text(encoding="utf-8", errors="surrogateescape")
            for pattern, replacement in _UNSKIP.get(track.name, ()):
                text = pattern.sub(replacement, text)
            path.write_text(text, encoding="utf-8", errors="surrogateescape")
        for example, solution in pairs.items():
            target = dest / "solution" / solution
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(folder / example, target)
        if track.name == "javascript":
            (dest / "hidden_tests" / VERIFY_DIR).mkdir(parents=True)
            (dest / "hidden_tests" / VERIFY_DIR / "jest.mjs").write_text(JEST_SHIM)

    built = _convert.materialise(FORMAT, _convert.fingerprint(FORMAT, track.name, JEST_SHIM, trees=[folder]), build)
    hidden = built / "hidden_tests"
    protected = sorted({*lists["test"], *lists["editor"], *lists["invalidator"]} - set(lists["solution"]))
    if hidden.is_dir():
        protected.append(f"{VERIFY_DIR}/**")
    return Task(
        id=tid, prompt=prompt, language=track.name, test_command=test_command, test_timeout=300.0,
        expected_changes=lists["solution"], protected=protected, toolchain=toolchain, tags=["exercism"],
        workspace=built / "workspace", solution_dir=built / "solution", hidden_tests=hidden if hidden.is_dir() else None,
        source_path=folder, format=FORMAT,
    )


@hookimpl
def cab_task_sources():
    return [TaskSource(name=FORMAT, load=load, detect=detect,
                       description="Exercism / aider polyglot exercises: .docs/instructions.md, .meta/config.json, .meta/example.*")]


# --------------------------------------------------------------------------- node's runner, Jest's vocabulary
# Overlaid at verification as .cab-verify/jest.mjs and loaded with `node --import`.

JEST_SHIM = r"""// Jest's globals on node's own test runner (written by cab_tasks.exercism).
import { register } from 'node:module';
import * as nt from 'node:test';
import { AssertionError } from 'node:assert';
import { inspect } from 'node:util';

// Exercism's tests import './two-fer' without an extension, as Jest's resolver allows.
register('data:text/javascript,' + encodeURIComponent(`
export async function resolve(specifier, context, next) {
  try { return await next(specifier, context); } catch (error) {
    if (/^\\.{1,2}\\//.test(specifier) && !/\\.[cm]?js$/.test(specifier)) {
      for (const suffix of ['.js', '.mjs', '/index.js']) {
        try { return await next(specifier + suffix, context); } catch {}
      }
    }
    throw error;
  }
}`));

const wrap = (fn) => (fn && fn.length >= 1)
  ? () => new Promise((resolve, reject) => { const done = (e) => (e ? reject(e) : resolve()); done.fail = reject; fn(done); })
  : fn;
const format = (name, row) => { let i = 0; return String(name).replace(/%[sdiopjf#%]/g, (m) => (m === '%%' ? '%' : inspect(row[i++]))); };
function makeTest(base) {
  const t = (name, fn) => base(name, wrap(fn));
  t.skip = (name, fn) => base.skip(name, wrap(fn));
  t.only = t;
  t.todo = (name) => base.todo(name);
  t.each = (table) => (name, fn) => table.forEach((row) => {
    const args = Array.isArray(row) ? row : [row];
    base(format(name, args), wrap(fn && ((...rest) => fn(...args, ...rest))));
  });
  return t;
}
const g = globalThis;
g.test = g.it = g.xtest = g.xit = g.fit = makeTest(nt.it);
g.describe = g.xdescribe = g.fdescribe = nt.describe;
g.beforeEach = nt.beforeEach; g.afterEach = nt.afterEach; g.beforeAll = nt.before; g.afterAll = nt.after;

const show = (v) => inspect(v, { depth: 6 });
function eq(a, b, strict) {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (strict && Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && a.length !== b.length) return false;
  if (a instanceof Date || b instanceof Date) return a instanceof Date && b instanceof Date && a.getTime() === b.getTime();
  if (a instanceof RegExp || b instanceof RegExp) return String(a) === String(b);
  if (a instanceof Map || b instanceof Map) {
    if (!(a instanceof Map && b instanceof Map) || a.size !== b.size) return false;
    for (const [k, v] of a) if (!b.has(k) || !eq(v, b.get(k), strict)) return false;
    return true;
  }
  if (a instanceof Set || b instanceof Set) {
    if (!(a instanceof Set && b instanceof Set) || a.size !== b.size) return false;
    for (const v of a) if (![...b].some((w) => eq(v, w, strict))) return false;
    return true;
  }
  const keys = (o) => Object.keys(o).filter((k) => strict || o[k] !== undefined);
  const ka = keys(a), kb = keys(b);
  return ka.length === kb.length && ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && eq(a[k], b[k], strict));
}
function contains(actual, expected) {
  if (typeof expected !== 'object' || expected === null) return eq(actual, expected, false);
  if (typeof actual !== 'object' || actual === null) return false;
  return Object.keys(expected).every((k) => contains(actual[k], expected[k]));
}
function errorMatches(error, expected) {
  if (expected === undefined) return true;
  const message = error && error.message !== undefined ? String(error.message) : String(error);
  if (typeof expected === 'string') return message.includes(expected);
  if (expected instanceof RegExp) return expected.test(message);
  if (typeof expected === 'function') return error instanceof expected;
  if (expected instanceof Error) return message === expected.message;
  return false;
}
function matchers(actual, negate) {
  const check = (pass, what, ...expected) => {
    if (Boolean(pass) === negate) {
      const tail = expected.length ? ' ' + show(expected[0]) : '';
      throw new AssertionError({ message: `expected ${show(actual)} ${negate ? 'not ' : ''}${what}${tail}` });
    }
  };
  const toThrow = (expected) => {
    let threw = false, error;
    try { actual(); } catch (e) { threw = true; error = e; }
    check(threw && errorMatches(error, expected), 'to throw', ...(expected === undefined ? [] : [expected]));
  };
  return {
    toBe: (e) => check(Object.is(actual, e), 'to be', e),
    toEqual: (e) => check(eq(actual, e, false), 'to equal', e),
    toStrictEqual: (e) => check(eq(actual, e, true), 'to strictly equal', e),
    toBeTruthy: () => check(actual, 'to be truthy'),
    toBeFalsy: () => check(!actual, 'to be falsy'),
    toBeNull: () => check(actual === null, 'to be null'),
    toBeUndefined: () => check(actual === undefined, 'to be undefined'),
    toBeDefined: () => check(actual !== undefined, 'to be defined'),
    toBeNaN: () => check(Number.isNaN(actual), 'to be NaN'),
    toBeCloseTo: (e, digits = 2) => check(Math.abs(actual - e) < 10 ** -digits / 2, 'to be close to', e),
    toBeGreaterThan: (e) => check(actual > e, 'to be greater than', e),
    toBeGreaterThanOrEqual: (e) => check(actual >= e, 'to be at least', e),
    toBeLessThan: (e) => check(actual < e, 'to be less than', e),
    toBeLessThanOrEqual: (e) => check(actual <= e, 'to be at most', e),
    toBeInstanceOf: (c) => check(actual instanceof c, 'to be an instance of', c),
    toContain: (e) => check(typeof actual === 'string' ? actual.includes(e) : [...actual].includes(e), 'to contain', e),
    toContainEqual: (e) => check([...actual].some((x) => eq(x, e, false)), 'to contain an item equal to', e),
    toHaveLength: (n) => check(actual != null && actual.length === n, 'to have length', n),
    toMatch: (e) => check(typeof e === 'string' ? String(actual).includes(e) : e.test(String(actual)), 'to match', e),
    toMatchObject: (e) => check(contains(actual, e), 'to match object', e),
    toHaveProperty: (path, ...value) => {
      const keys = Array.isArray(path) ? path : String(path).split('.');
      let cur = actual, found = true;
      for (const k of keys) { if (cur != null && k in Object(cur)) cur = cur[k]; else { found = false; break; } }
      check(found && (value.length === 0 || eq(cur, value[0], false)), 'to have property', path);
    },
    toThrow, toThrowError: toThrow,
  };
}
function expect(actual) {
  const m = matchers(actual, false);
  m.not = matchers(actual, true);
  m.resolves = new Proxy({}, { get: (_, name) => async (...args) => {
    let value;
    try { value = await actual; } catch (e) { throw new AssertionError({ message: `expected the promise to resolve, it rejected with ${show(e)}` }); }
    return matchers(value, false)[name](...args);
  } });
  m.rejects = new Proxy({}, { get: (_, name) => async (...args) => {
    let error;
    try { await actual; } catch (e) { error = e; }
    if (error === undefined) throw new AssertionError({ message: 'expected the promise to reject' });
    const subject = name === 'toThrow' || name === 'toThrowError' ? () => { throw error; } : error;
    return matchers(subject, false)[name](...args);
  } });
  return m;
}
expect.assertions = () => {};
expect.hasAssertions = () => {};
g.expect = expect;
"""
