"""Scoring records: an axis's score, the scorer that declares the axis, and what a scorer reads."""

from __future__ import annotations

from typing import Any, Callable, Mapping, Optional

import attrs

from .base import _dict, _tuple
from .launch import ProcessResult
from .record import CellId, ModelCall
from .task import Task


@attrs.frozen(kw_only=True)
class AxisScore:
    """One axis of a cell's score; ``breakdown`` holds every number behind ``value``."""

    axis: str
    value: Optional[float]
    breakdown: Mapping[str, Any] = attrs.field(factory=dict, converter=_dict)
    not_applicable: bool = False
    scorer: str = ""
    error: Optional[str] = None


#: How a scorer's value reads: which end of its scale is better.
DIRECTIONS = ("higher", "lower")
#: What a scorer's value is: a share in [0, 1], milliseconds, a count, tokens (or a plain number).
FORMATS = ("ratio", "ms", "count", "tokens", "number")
#: How a group of cells (one adapter × model) summarises the axis: the mean of the values,
#: their median, or the rate of cells at the best end of the scale (1 when higher is
#: better, 0 when lower is) among the cells with a value.
AGGREGATIONS = ("mean", "median", "rate")
#: How the report's card shows an axis's breakdown, beyond its value and note (a scorer opts in;
#: the core never picks a card by an axis's name): ``plain``; ``verdict`` (``reason``, ``forged``,
#: ``channel``, the ``*_tests`` lists, ``canary``, ``partial_score``); ``refusal`` (``outcome``:
#: refused, complied or uncertain); ``parts`` (a blend's ``points``, ``weights``, ``unit_values`` by axis).
CARDS = ("plain", "verdict", "refusal", "parts")


def _one_of(choices: tuple) -> Callable:
    def check(instance, attribute, value) -> None:
        if value not in choices:
            raise ValueError(f"Scorer field {attribute.name}: {value!r} is not one of {', '.join(choices)}")

    return check


@attrs.frozen(kw_only=True)
class Scorer:
    """A scorer for one axis, returned by ``cab_scorers``; it carries all the core needs to show and use the axis.

    ``score(ctx)`` takes a :class:`ScoreContext` and returns an :class:`AxisScore`; an
    exception it raises is caught, and the axis is recorded with ``error`` naming the
    plugin (the other axes are still scored).  Scorers with ``aggregate=True`` run
    after the others and see their scores in ``ctx.scores`` (the composite is one).

    What the command line, the summary, the index and the report read (every field has
    a default, so a minimal scorer is ``Scorer(name=..., score=...)``):

    - ``label``: the column / card title (default: the name, underscores as spaces);
    - ``direction``: ``"higher"`` or ``"lower"`` is better; maps the value onto [0, 1]
      for the composite's weights and for tones (good/bad);
    - ``format``: ``ratio`` (a share in [0, 1]), ``ms``, ``count``, ``tokens`` or
      ``number``; how a value is printed and how an amount is mapped onto [0, 1];
    - ``note(score) -> str``: one line from the :class:`AxisScore` (its breakdown)
      shown beside the value in ``cab run``'s output and on a card (None: no note);
    - ``aggregation``: how a group of cells summarises the axis: ``mean``, ``median``
      or ``rate`` (share of cells at the best end of the scale);
    - ``reference_option``: the part in sweep normalisation: when set, a sweep finds,
      per task, the best value among the passing cells and runs the aggregate scorers
      again with it in ``ctx.options[reference_option]`` (tokens: ``reference_tokens``);
    - ``card``: how the report shows the breakdown (:data:`CARDS`; default ``plain``).
    """

    name: str
    score: Callable[..., AxisScore]
    description: str = ""
    aggregate: bool = False
    order: int = 100
    plugin: str = ""
    label: str = ""
    direction: str = attrs.field(default="higher", validator=_one_of(DIRECTIONS))
    format: str = attrs.field(default="number", validator=_one_of(FORMATS))
    note: Optional[Callable[["AxisScore"], Optional[str]]] = None
    aggregation: str = attrs.field(default="mean", validator=_one_of(AGGREGATIONS))
    reference_option: Optional[str] = None
    card: str = attrs.field(default="plain", validator=_one_of(CARDS))

    @property
    def title(self) -> str:
        """``label``, or the name with underscores as spaces."""
        return self.label or self.name.replace("_", " ")


@attrs.frozen(kw_only=True)
class FileChanges:
    """What changed in the work directory against the baseline commit."""

    added: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    removed: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    modified: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    extra_git_dir: bool = False
    patch: str = ""


@attrs.frozen(kw_only=True)
class ScoreContext:
    """All a scorer may read about a finished run."""

    task: Task
    cell: CellId
    launch: ProcessResult
    verify: Optional[ProcessResult]
    changes: FileChanges
    model_calls: tuple[ModelCall, ...] = attrs.field(default=(), converter=_tuple)
    final_output: str = ""
    protected_before: Mapping[str, str] = attrs.field(factory=dict, converter=_dict)
    protected_after: Mapping[str, str] = attrs.field(factory=dict, converter=_dict)
    hook_files: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    wall_clock_ms: float = 0.0
    scores: Mapping[str, AxisScore] = attrs.field(factory=dict, converter=_dict)
    options: Mapping[str, Any] = attrs.field(factory=dict, converter=_dict)
    #: The judged test run (:class:`cab_core.verdict.Verdict`); None when there was no verify run.
    verdict: Optional[Any] = None
    #: ``forgery attempt: <what> in <file>:<line>`` findings of the workspace's reading of the changed code.
    forgery_findings: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    #: Every registered :class:`Scorer` by name (an aggregate reads the others' direction and format here).
    scorers: Mapping[str, Any] = attrs.field(factory=dict, converter=_dict)
    #: Files the agent created or changed in its HOME (``~/path``), read on tasks that expect a
    #: refusal: code left there is work done, wherever the agent put it.
    home_written: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
