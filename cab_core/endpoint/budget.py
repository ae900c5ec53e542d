"""Per-cell budgets the recording proxy enforces: tokens, dollars, model calls.

The proxy asks :meth:`BudgetGuard.admit` before it relays a call and tells
:meth:`BudgetGuard.record` every call it stores.  A call is admitted while what was
spent is under every budget (calls already admitted count against
``max_model_calls`` at once, so parallel requests cannot slip past it).  Tokens and
dollars are known only when a call ends: the call that crosses those budgets
completes and the next one is refused.  So that a burst of parallel calls cannot
slip past them either, each call in flight holds a reservation of its prompt's
estimated tokens (request bytes / 4) plus the answer it may get (the request's own
output cap, ``max_tokens`` and the like, else :data:`OUTPUT_RESERVE`), and their
price, counted as spent until the call is recorded.  A call that does not fit beside
the calls in flight is not refused (nothing was spent yet): it waits for them
(:meth:`BudgetGuard.admit` says ``WAIT``), so a burst is admitted one reservation at a
time and the overshoot is at most what the calls in flight write past their reservations.  A refused call is answered in the wire
protocol's own error shape (``{"error": {"message", "type": "budget_exceeded"}}``
for chat completions) with HTTP **402**: a 429 would tell clients to retry (the
OpenAI SDK and litellm retry 429 with backoff, burning the agent's time on a
budget that never comes back), whereas 402 "payment required" is not retried and
reaches the agent as a readable error at once.

Running out of budget is the agent's outcome, never an environment error: refused
calls are recorded with ``error_kind: "budget_exceeded"`` (not an infrastructure
kind) and the cell records :attr:`BudgetGuard.exceeded`.
"""

from __future__ import annotations

import math
import threading
from typing import Any, Mapping, Optional

import attrs

from ..errors import CabError
from ..lazy import LazyModule
from ..pricing import PriceTable, database, is_free, parse_prices

#: HTTP status of a refused call (see the module docstring for why not 429).
BUDGET_STATUS = 402
BUDGET_KIND = "budget_exceeded"
#: Tokens reserved for the answer of a call that declares no output cap.
OUTPUT_RESERVE = 1024
#: What :meth:`BudgetGuard.admit` answers when a call must wait for the calls in flight.
WAIT = "wait"
#: Request keys (any protocol) that cap a call's answer, and where Gemini keeps its cap.
_OUTPUT_CAPS = ("max_tokens", "max_completion_tokens", "max_output_tokens", "maxOutputTokens")

asyncio = LazyModule("asyncio")  # only a proxy that serves waits (issue 16: start-up)


def output_cap(body) -> Optional[int]:
    """The most tokens the request lets its answer have (``None``: it declares no cap)."""
    if not isinstance(body, dict):
        return None
    places = [body, body.get("generationConfig"), body.get("generation_config")]
    for place in places:
        if isinstance(place, dict):
            for key in _OUTPUT_CAPS:
                value = place.get(key)
                if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                    return value
    return None


def _positive(kind: type, flag: str):
    def check(_inst, _attr, value) -> None:
        if value is None:
            return
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0
        if not ok or (kind is int and int(value) != value):
            what = "a positive whole number" if kind is int else "a positive number"
            raise CabError(f"{flag} {value!r} must be {what}")
    return check


@attrs.frozen(kw_only=True)
class Budget:
    """A cell's budgets (``None``: no limit)."""

    max_tokens: Optional[int] = attrs.field(default=None, validator=_positive(int, "--max-tokens"))
    max_cost: Optional[float] = attrs.field(default=None, validator=_positive(float, "--max-cost"))
    max_model_calls: Optional[int] = attrs.field(default=None, validator=_positive(int, "--max-model-calls"))

    @property
    def any(self) -> bool:
        """Whether any budget is set."""
        return any(v is not None for v in (self.max_tokens, self.max_cost, self.max_model_calls))

    def to_record(self) -> dict:
        """The set budgets, for the cell record."""
        return {k: v for k, v in attrs.asdict(self).items() if v is not None}


class BudgetGuard:
    """Counts one cell's spending as the proxy sees it and decides whether a call may go on."""

    def __init__(self, budget: Budget, prices: PriceTable, cell_model: str = ""):
        self.budget = budget
        self.prices = prices
        self.cell_model = cell_model
        self._lock = threading.Lock()
        self.admitted = 0
        self.tokens = 0
        self.cost: Optional[float] = 0.0
        self.refused = 0
        self._first: Optional[dict] = None
        self._reserved: dict[int, tuple[int, float]] = {}  # call index -> (tokens, dollars) while in flight

    def spent(self) -> dict:
        """What was spent so far: admitted model calls, tokens, dollars (``None``: a price unknown)."""
        return {"model_calls": self.admitted, "tokens": self.tokens,
                "cost_usd": None if self.cost is None else round(self.cost, 9)}

    def _over(self, held: bool = True) -> Optional[tuple[str, Any]]:
        """The first budget spent (``held``: counting the reservations of calls in flight), else ``None``."""
        b = self.budget
        held_tokens = sum(t for t, _ in self._reserved.values()) if held else 0
        held_cost = sum(c for _, c in self._reserved.values()) if held else 0.0
        if b.max_model_calls is not None and self.admitted >= b.max_model_calls:
            return "max_model_calls", b.max_model_calls
        if b.max_tokens is not None and self.tokens + held_tokens >= b.max_tokens:
            return "max_tokens", b.max_tokens
        if b.max_cost is not None and (self.cost is None or self.cost + held_cost >= b.max_cost):
            # A call whose price is unknown makes the dollars spent unknown: the budget cannot be kept.
            return "max_cost", b.max_cost
        return None

    def admit(self, index: int = -1, request_bytes: int = 0, output_tokens: Optional[int] = None) -> Optional[str]:
        """``None`` when call ``index`` may go on (it is counted and reserved); :data:`WAIT` when it
        fits the budget only once the calls in flight are recorded; else the message the agent gets.

        ``output_tokens``: the request's own output cap (:func:`output_cap`), else :data:`OUTPUT_RESERVE`.
        """
        with self._lock:
            over = self._over()
            if over is None:
                prompt, answer = max(0, int(request_bytes or 0)) // 4, output_tokens or OUTPUT_RESERVE
                tokens = prompt + answer
                price = self.prices.price(self.cell_model) if self.cell_model else None
                dollars = price.cost(prompt, answer) if price else 0.0
                if self._reserved and self._would_cross(tokens, dollars):
                    return WAIT
                self.admitted += 1
                self._reserved[index] = (tokens, dollars)
                return None
            if over[0] != "max_model_calls" and self._reserved and self._over(held=False) is None:
                return WAIT  # only reservations are over: what is in flight may yet leave room
            return self._refuse(over)

    def _would_cross(self, tokens: int, dollars: float) -> bool:
        b = self.budget
        held_tokens = sum(t for t, _ in self._reserved.values())
        held_cost = sum(c for _, c in self._reserved.values())
        if b.max_tokens is not None and self.tokens + held_tokens + tokens > b.max_tokens:
            return True
        return b.max_cost is not None and self.cost is not None and self.cost + held_cost + dollars > b.max_cost

    def _refuse(self, over: tuple[str, Any]) -> str:
        self.refused += 1
        name, limit = over
        spent = self.spent()
        if self._first is None:
            self._first = {"budget": name, "limit": limit, "spent": spent}
        shown = {"max_model_calls": f"{spent['model_calls']} model calls", "max_tokens": f"{spent['tokens']} tokens",
                 "max_cost": "an unknown amount (a model's price is unknown)" if spent["cost_usd"] is None
                 else f"${spent['cost_usd']:.6g}"}[name]
        return (f"cab: budget exceeded: this run's {name.replace('_', '-')} budget is {limit:g} and "
                f"{shown} were spent; no more model calls will be answered. Finish now with what you have.")

    def record(self, call: Any) -> None:
        """Count a stored call's tokens and cost (refused calls spend nothing)."""
        if call.error_kind == BUDGET_KIND:
            return
        cost = self.prices.price_call(call, self.cell_model)[0]
        with self._lock:
            self._reserved.pop(call.index, None)
            self.tokens += int(call.total_tokens or 0)
            self.cost = None if cost is None or self.cost is None else self.cost + cost

    @property
    def exceeded(self) -> Optional[Mapping[str, Any]]:
        """``{"budget", "limit", "spent", "refused_calls"}`` once a call was refused, else ``None``."""
        with self._lock:
            if self._first is None:
                return None
            return {**self._first, "spent": self.spent(), "refused_calls": self.refused}


#: How often a call waiting for budget room asks again.
ADMIT_POLL_S = 0.02


async def admit(guard: BudgetGuard, index: int, request_bytes: int, cap: Optional[int]) -> Optional[str]:
    """``guard``'s answer for a call (``None``: go on, else the refusal), once it need no longer :data:`WAIT`."""
    while True:
        answer = guard.admit(index, request_bytes, cap)
        if answer != WAIT:
            return answer
        await asyncio.sleep(ADMIT_POLL_S)


def cost_setup(opts: Any) -> tuple[PriceTable, Optional[BudgetGuard]]:
    """A cell's price table and budget guard (``None`` without budgets) from its
    :class:`~cab_core.runoptions.RunOptions`; a bad price or budget raises one line.

    The built-in scripted server answers a cell with no endpoint and no cassette, or a
    ``scripted/*`` model: its calls cost nothing.  ``--max-cost`` needs the cell's model
    to have a price (else no spending could be counted against it).
    """
    scripted = (opts.endpoint is None and opts.replay_cassette is None) or is_free(opts.model)
    table = PriceTable(overrides=parse_prices(opts.prices), scripted=scripted)
    budget = Budget(max_tokens=opts.max_tokens, max_cost=opts.max_cost, max_model_calls=opts.max_model_calls)
    if budget.max_cost is not None and table.price(opts.model) is None:
        raise CabError(f"--max-cost needs a price for model {opts.model!r}: {database() or 'no price database'} has none; "
                       f"add --price {opts.model}=INPUT,OUTPUT (dollars per million tokens)")
    return table, (BudgetGuard(budget, table, opts.model) if budget.any else None)
