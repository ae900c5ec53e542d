"""What a model call cost in dollars: prices from an offline database, or the user's own.

Prices come from pydantic's ``genai-prices`` (a maintained price database shipped
as data inside its wheel: it works offline, matches dated and aliased model names
such as ``gpt-4o-2024-08-06``, and carries tiered and cached-input prices).  It is
never asked to update itself over the network.  ``--price MODEL=IN,OUT[,CACHED]``
(dollars per million tokens) covers local and custom models and overrides the
database.  Calls the built-in scripted server answers (a cell with no endpoint, or
whose model is ``scripted/*``) are free by definition, shown as "free (scripted)";
a ``scripted/`` name an agent sends to a real endpoint is not (it is priced as the
cell's model).

A cell records its :class:`PriceTable` (every model it priced, each price, and
where it came from, with the database's name and version), so its cost can be
recomputed by hand: ``(prompt - cached) * input + cached * cached_input +
completion * output``, per million tokens, with an input tier's price (whole-call
"cliff" pricing) once the call's prompt passes that tier's start.  A model with no
price is unknown: its calls' cost is ``None``, never 0.
"""

from __future__ import annotations

import datetime as _dt
import functools
import math
from decimal import Decimal
from typing import Any, Iterable, Mapping, Optional

import attrs

from .errors import CabError

#: Models of the built-in scripted server (free: no provider is paid).
SCRIPTED_PREFIX = "scripted/"
FREE_SCRIPTED = "free (scripted)"
USER_PRICE = "--price"


@functools.lru_cache(maxsize=1)
def database() -> str:
    """The price database's name and version, e.g. ``genai-prices 0.2.3`` ("" when not installed); looked
    up once per process (kept with the entry points: :func:`cab_core.entrypoints.version`)."""
    try:
        from .entrypoints import version  # kept with the entry points: no importlib.metadata scan

        found = version("genai-prices")
        return f"genai-prices {found}" if found else ""
    except Exception:  # not installed: every non-scripted model without --price is unknown
        return ""


@attrs.frozen(kw_only=True)
class Price:
    """Dollars per million tokens; ``input_tiers`` are ``(start, price)`` cliffs on the prompt's size."""

    input: float
    output: float
    cached_input: Optional[float] = None
    input_tiers: tuple[tuple[int, float], ...] = ()
    output_tiers: tuple[tuple[int, float], ...] = ()
    source: str = ""

    def cost(self, prompt: int, completion: int, cached: Optional[int] = None) -> float:
        """The cost in dollars of one call with these token counts."""
        cached = max(0, min(int(cached or 0), prompt)) if self.cached_input is not None else 0
        rate_in = _tier(self.input, self.input_tiers, prompt)
        rate_out = _tier(self.output, self.output_tiers, prompt)
        total = (prompt - cached) * rate_in + cached * (self.cached_input or 0.0) + completion * rate_out
        return total / 1_000_000

    def to_record(self) -> dict:
        """The JSON form recorded in the cell."""
        out: dict[str, Any] = {"input": self.input, "output": self.output, "cached_input": self.cached_input,
                               "source": self.source}
        if self.input_tiers:
            out["input_tiers"] = [list(t) for t in self.input_tiers]
        if self.output_tiers:
            out["output_tiers"] = [list(t) for t in self.output_tiers]
        return out


def _tier(base: float, tiers: tuple[tuple[int, float], ...], prompt: int) -> float:
    rate = base
    for start, price in tiers:
        if prompt > start:
            rate = price
    return rate


def parse_price(text: str) -> tuple[str, Price]:
    """``MODEL=INPUT,OUTPUT[,CACHED_INPUT]`` (dollars per million tokens) -> ``(model, Price)``."""
    model, sep, numbers = str(text).rpartition("=")
    parts = [p.strip() for p in numbers.split(",")]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if not sep or not model.strip() or len(values) not in (2, 3) or not all(math.isfinite(v) and v >= 0 for v in values):
        raise CabError(f"--price {text!r}: expected MODEL=INPUT,OUTPUT[,CACHED_INPUT] in dollars per million tokens "
                       "(non-negative numbers), e.g. my-model=0.5,1.5")
    return model.strip(), Price(input=values[0], output=values[1], cached_input=values[2] if len(values) == 3 else None,
                                source=USER_PRICE)


def parse_prices(values: Iterable[Any]) -> dict[str, Price]:
    """Several ``--price`` values (strings, or ``(model, Price)`` pairs already parsed) as one dict."""
    out: dict[str, Price] = {}
    for value in values:
        model, price = value if isinstance(value, tuple) else parse_price(value)
        out[model] = price
    return out


def _to_float(value: Any) -> Optional[float]:
    return None if value is None else float(value)


def _from_database(model: str, when: Optional[_dt.datetime] = None) -> Optional[Price]:
    """The database's price for ``model`` (``provider/model`` names the provider), ``None`` when it has none."""
    try:
        from genai_prices import data_snapshot
        from genai_prices.types import TieredPrices
    except ImportError:
        return None
    snapshot = data_snapshot.get_snapshot()
    attempts = [(model, None)]
    if "/" in model:
        provider, _, rest = model.partition("/")
        attempts += [(rest, provider), (rest, None)]
    for ref, provider_id in attempts:
        try:
            _, info = snapshot.find_provider_model(ref, None, provider_id, None)
        except LookupError:
            continue
        prices = info.get_prices(when or _dt.datetime.now(_dt.timezone.utc))

        def split(value: Any) -> tuple[Optional[float], tuple]:
            if isinstance(value, TieredPrices):
                return float(value.base), tuple((int(t.start), float(t.price)) for t in value.tiers)
            return _to_float(value), ()

        rate_in, tiers_in = split(getattr(prices, "input_mtok", None))
        rate_out, tiers_out = split(getattr(prices, "output_mtok", None))
        cached, _ = split(getattr(prices, "cache_read_mtok", None))
        if rate_in is None or rate_out is None:
            return None
        return Price(input=rate_in, output=rate_out, cached_input=cached, input_tiers=tiers_in,
                     output_tiers=tiers_out, source=database())
    return None


@attrs.define
class PriceTable:
    """The prices one cell uses: the user's first, then the database; looked up once per model."""

    overrides: Mapping[str, Price] = attrs.field(factory=dict)
    models: dict[str, Optional[Price]] = attrs.field(factory=dict)
    #: The cell talks to the built-in scripted server: every call is free, whatever model it names.
    scripted: bool = False

    def price(self, model: str) -> Optional[Price]:
        """The price of ``model`` (``None``: unknown); every answer is kept for the record."""
        if model not in self.models:
            self.models[model] = self._find(model)
        return self.models[model]

    def _find(self, model: str) -> Optional[Price]:
        if self.scripted:
            return Price(input=0.0, output=0.0, cached_input=0.0, source=FREE_SCRIPTED)
        if model in self.overrides:
            return self.overrides[model]
        tail = model.rsplit("/", 1)[-1]
        for name, price in self.overrides.items():
            if name.rsplit("/", 1)[-1] == tail:  # aider's "openai/x" arrives at the proxy as "x"
                return price
        return _from_database(model)

    def price_call(self, call: Any, cell_model: str = "") -> tuple[Optional[float], str, str]:
        """``(cost in dollars or None, the model name it was priced as, the price's source)`` for one call.

        The call's own model name first, then the cell's (a call that names no model,
        or a name only the endpoint knows, is priced as the model the cell was run with).
        """
        for name in (getattr(call, "model", "") or "", cell_model):
            if name and self.price(name) is not None:
                price = self.price(name)
                assert price is not None
                cost = price.cost(int(call.prompt_tokens or 0), int(call.completion_tokens or 0),
                                  getattr(call, "cached_tokens", None))
                return round(cost, 12), name, price.source
        return None, "", ""

    def to_record(self) -> dict:
        """``{"database": "genai-prices X.Y.Z", "models": {name: price or None}}`` for the cell."""
        return {"database": database(), "scripted": self.scripted,
                "models": {name: (p.to_record() if p else None) for name, p in sorted(self.models.items())}}


def price_calls(calls: Iterable[Any], table: PriceTable, cell_model: str = "") -> list:
    """Every call with ``cost_usd``, ``priced_as`` and ``price_source`` filled in (``None`` / "" when unknown)."""
    out = []
    for call in calls:
        cost, name, source = table.price_call(call, cell_model)
        out.append(attrs.evolve(call, cost_usd=cost, priced_as=name, price_source=source))
    return out


def total_cost(calls: Iterable[Any]) -> Optional[float]:
    """The sum of the calls' costs; ``None`` when any call's price is unknown (never a partial sum)."""
    total = Decimal(0)
    for call in calls:
        cost = getattr(call, "cost_usd", None)
        if cost is None:
            return None
        total += Decimal(str(cost))
    return float(total)


def cached_input_tokens(usage: Any) -> Optional[int]:
    """Cached prompt tokens from a usage object in any of the wire protocols' spellings (``None``: not said)."""
    if not isinstance(usage, dict):
        return None
    for outer, inner in (("prompt_tokens_details", "cached_tokens"), ("input_tokens_details", "cached_tokens")):
        details = usage.get(outer)
        if isinstance(details, dict) and isinstance(details.get(inner), int):
            return details[inner]
    for key in ("cache_read_input_tokens", "cachedContentTokenCount"):
        if isinstance(usage.get(key), int):
            return usage[key]
    return None


def is_free(model: str) -> bool:
    """Whether ``model`` costs nothing by definition (the scripted server's models)."""
    return model.startswith(SCRIPTED_PREFIX)


def describe_cost(result: Any) -> str:
    """A cell's cost for people: ``$0.0123``, ``free (scripted)``, or ``unknown`` (never 0 for unknown)."""
    calls = list(getattr(result, "model_calls", ()) or ())
    scripted = bool((getattr(result, "prices", None) or {}).get("scripted"))
    if scripted or (calls and all(getattr(c, "price_source", "") == FREE_SCRIPTED for c in calls)):
        return FREE_SCRIPTED
    cost = total_cost(calls)
    return "unknown" if cost is None else f"${cost:.4g}"
