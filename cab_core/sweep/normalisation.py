"""Sweep normalisation: each cell's aggregate axes recomputed against the best passing cell of its task.

Which axes take part is read from the scorers' records, never named here: every
:class:`cab_core.Scorer` with a ``reference_option`` is a reference axis.  Per task,
over the sweep's passing cells, its reference is the best value (the smallest
positive one when lower is better, the largest when higher is), and every scored
cell's aggregate scorers (the composite) are run again with
``ctx.options[reference_option] = reference``.  The composite maps an amount where
lower is better onto ``min(1, reference / value)`` for a passing cell (the best cell
scores 1, one twice as slow or dear 0.5), and a failed cell earns 0 on it whatever
it spent.  A task without a passing cell has no reference and keeps the lone-cell
formulas.  With the built-in axes the references are ``reference_tokens`` (the
cheapest tokens per correct task) and ``reference_wall_clock_ms`` (the fastest
agent's own time, never the harness's).

Per-axis values are never touched; each recomputed aggregate's breakdown gains
``normalisation: {sweep, <each reference option>, cell_composite}``, ``cell_composite``
being the value the cell had on its own.  Recomputed from the raw numbers each time
(the weights the cell was scored with included), so normalising twice changes nothing.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, MutableMapping, Optional

import attrs

from .. import serialization
from ..errors import CabError
from ..models import SCHEMA_VERSION, STATUS_OK, AxisScore, CellResult, FileChanges, ProcessResult, ScoreContext
from ..results import CELL_FILE, atomic_write_many, iter_cell_dirs
from ..scoring import OPTION_WEIGHTS, number, score_all

NORMALISATION_FORMULA = (
    "per task, over the sweep's passing cells: for every scorer with a reference_option, the reference is the best "
    "value of its axis (min positive when lower is better, max when higher is); aggregate scorers (the composite) "
    "recomputed with the references, an amount where lower is better mapped to min(1, reference / value) for a "
    "passing cell and 0 for a failed one; a task without a passing cell keeps the lone-cell formulas; "
    "per-axis values unchanged"
)


def reference_scorers(registry) -> list:
    """The scorers that take part in normalisation (those declaring a ``reference_option``)."""
    return [s for s in registry.scorers_in_order() if s.reference_option and not s.aggregate]


def _better(scorer, value: float, best) -> bool:
    if best is None:
        return True
    return value < best if scorer.direction == "lower" else value > best


def compute_references(results: Iterable[CellResult], registry) -> dict[str, dict]:
    """Per task: ``{<reference option>: value, "best_cells": {option: cell id}, "passing_cells": n}``."""
    scorers = reference_scorers(registry)
    refs: dict[str, dict] = {}
    for r in results:
        if r.status != STATUS_OK or not r.passed:
            continue
        entry = refs.setdefault(r.identity.task, {**{s.reference_option: None for s in scorers}, "best_cells": {},
                                                  "passing_cells": 0})
        entry["passing_cells"] += 1
        for scorer in scorers:
            score = r.scores.get(scorer.name)
            value = number(score.value) if score is not None and not score.error else None
            if value is None or value <= 0 or not _better(scorer, value, entry[scorer.reference_option]):
                continue
            entry[scorer.reference_option] = value
            entry["best_cells"][scorer.reference_option] = r.cell_id
    return dict(sorted(refs.items()))


def renormalised_scores(result: CellResult, task, registry, reference: Mapping[str, Any], sweep_id: str) -> dict[str, AxisScore]:
    """The cell's scores with every aggregate scorer run again against the sweep's references."""
    scores = dict(result.scores)
    aggregates = [s for s in registry.scorers if s.aggregate]
    options: dict[str, Any] = {}
    for scorer in aggregates:  # the weights the cell was scored with (from --weights or the sweep file)
        weights = scores[scorer.name].breakdown.get("weights") if scorer.name in scores else None
        if isinstance(weights, Mapping):
            options[OPTION_WEIGHTS] = {k: v for k, v in weights.items() if isinstance(v, (int, float))}
    options_keys = [s.reference_option for s in reference_scorers(registry)]
    options.update({k: reference[k] for k in options_keys if reference.get(k) is not None})
    base = {name: s for name, s in scores.items() if not any(a.name == name for a in aggregates)}
    ctx = ScoreContext(
        task=task, cell=result.identity,
        launch=ProcessResult(exit_code=result.exit_code, timed_out=result.timed_out),
        verify=None, changes=FileChanges(), model_calls=result.model_calls, final_output=result.final_output,
        wall_clock_ms=result.duration_s * 1000, options=options,
    )
    recomputed = score_all(registry, ctx, base=base)
    for scorer in aggregates:
        prior = scores.get(scorer.name)
        cell_value = None
        if prior is not None:
            cell_value = (prior.breakdown.get("normalisation") or {}).get("cell_composite", prior.value)
        score = recomputed[scorer.name]
        breakdown = dict(score.breakdown)
        breakdown["normalisation"] = {"sweep": sweep_id, **{k: reference.get(k) for k in options_keys},
                                      "cell_composite": cell_value}
        scores[scorer.name] = attrs.evolve(score, breakdown=breakdown)
    return scores


#: A cell already read this run: ``{folder: ((mtime_ns, size), CellResult[, reference])}`` (see :func:`normalise`);
#: ``reference``: the values of the task's references the record was last normalised against, by this process.
ReadCache = MutableMapping[Path, tuple]


def stat_key(path: Path) -> tuple:
    """What says a file is unchanged since it was read: its modification time and size."""
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_size


def normalise(sweep_root: Path, registry, catalog, *, cache: Optional[ReadCache] = None,
              rewritten: Optional[Callable[[Path, CellResult], None]] = None) -> dict[str, dict]:
    """Recompute the sweep's aggregates against its per-task references; returns the references.

    Each changed ``cell.json`` is replaced atomically (the rest of the folder is untouched).
    ``cache`` holds records the caller has read already (the sweep reads each cell as it
    finishes): one whose file is unchanged is not parsed again, nor normalised again against the
    references it was last normalised against here (normalising is idempotent).  ``rewritten(folder,
    result)`` is told of every file replaced (the sweep updates its index with it, rather
    than reading the file once more).
    """
    sweep_root = Path(sweep_root)
    cache = {} if cache is None else cache
    loaded: list[tuple[Path, Optional[str], CellResult]] = []
    for folder in iter_cell_dirs(sweep_root):
        try:
            loaded.append((folder, *_read(folder, cache)))
        except Exception:
            continue
    refs = compute_references((r for _, _, r in loaded), registry)
    aggregates = {s.name for s in registry.scorers if s.aggregate}
    options = [s.reference_option for s in reference_scorers(registry)]
    changed: list[tuple[Path, CellResult, str, dict]] = []
    for folder, text, result in loaded:
        if result.status != STATUS_OK or not aggregates & set(result.scores):
            continue
        reference = refs.get(result.identity.task, {})
        used = {k: reference.get(k) for k in options}  # all of the references a record's scores depend on
        known = cache.get(folder)
        mine = known is not None and known[1] is result  # the record loaded is the cached one (file unchanged)
        if mine and len(known) > 2 and known[2] == used:
            continue  # this pass or an earlier one normalised it against these very references: nothing changes
        try:
            task = catalog.get(result.identity.task)
        except CabError:
            continue  # the task is gone from this machine: keep the cell's own aggregates
        scores = renormalised_scores(result, task, registry, reference, sweep_root.name)
        plain, before = serialization.unstructure(scores), serialization.unstructure(result.scores)
        if plain != before:
            new = attrs.evolve(result, scores=scores)
            if text is None:
                text = (folder / CELL_FILE).read_text(encoding="utf-8")
            changed.append((folder, new, _dumps(text, before, plain, new), used))
        elif mine:
            cache[folder] = (known[0], result, used)
    # Every changed cell.json replaced atomically, made durable together (one flush, not one per cell).
    atomic_write_many([(folder / CELL_FILE, text) for folder, _, text, _ in changed])
    for folder, new, _, used in changed:
        cache[folder] = (stat_key(folder / CELL_FILE), new, used)
        if rewritten is not None:
            rewritten(folder, new)
    return refs


def _read(folder: Path, cache: ReadCache) -> tuple[Optional[str], CellResult]:
    """The cell's record, parsed once: from ``cache`` while its file is unchanged (then no text: it is
    read only if the cell changes), else read and parsed (:func:`cab_core.results.read_cell`'s checks)."""
    path = folder / CELL_FILE
    key = stat_key(path)
    known = cache.get(folder)
    if known is not None and known[0] == key:
        return None, known[1]
    text = path.read_text(encoding="utf-8")
    result = _parse(path, text)
    cache[folder] = (key, result)
    return text, result


def _parse(path: Path, text: str) -> CellResult:
    raw = json.loads(text)
    version = raw.get("schema_version") if isinstance(raw, dict) else None
    if isinstance(version, int) and version > SCHEMA_VERSION:
        raise CabError(f"{path}: written by a newer cab (schema_version {version})")
    return serialization.structure(raw, CellResult)


#: Where a record's scores begin in the JSON this cab writes (``indent=2``: a line with exactly two
#: spaces before a quote is a key of the top-level object, as a string holds no raw newline).
_SCORES_KEY = '\n  "scores": '
_TOP_KEYS = re.compile(r'\n  "([^"\\]*)": ')
_CELL_FIELDS = [f.name for f in attrs.fields(CellResult)]


def _dumps(text: str, before: dict, plain_scores: dict, result: CellResult) -> str:
    """The cell's JSON text with its new scores: the file's own text with only the scores' block
    replaced when the file has exactly the record's fields, written as this cab writes them, and the
    block holds exactly the scores the record had (``before``): the rest of the text, spans and calls,
    is not serialised again.  Else (another cab's fields, another layout) the record serialised afresh."""
    start = text.find(_SCORES_KEY)
    if start >= 0 and _TOP_KEYS.findall(text) == _CELL_FIELDS:
        begin = start + len(_SCORES_KEY)
        end = begin + 2 if text.startswith("{}", begin) else text.find("\n  }", begin) + 4
        tail = text[end:end + 5]
        if end > begin and (tail.startswith(',\n  "') or tail.startswith("\n}")):
            try:
                same = json.loads(text[begin:end]) == before
            except ValueError:
                same = False
            if same:
                block = json.dumps(plain_scores, indent=2, ensure_ascii=False).replace("\n", "\n  ")
                return text[:begin] + block + text[end:]
    return serialization.dumps(result)


__all__ = ["NORMALISATION_FORMULA", "ReadCache", "compute_references", "normalise", "reference_scorers",
           "renormalised_scores", "stat_key"]
