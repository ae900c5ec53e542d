"""A cell's spans: :class:`Tracer` times each step, masks its attributes and tells observers.

Every step of a cell (setup, the agent's launch, the test run, scoring) is a span; a
span that raises records the error in one line (:func:`one_line`) and the exception
goes on.  Each finished span goes to the ``cab_span_finished`` hook at once, so an
exporter sees a cell while it runs.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from typing import Iterator, Optional

from . import serialization
from .errors import CabError, InfraError
from .models import CellId, Span, utcnow
from .registry import Registry
from .secrets import Redactor


class Tracer:
    """Collects a cell's spans and tells observers as each one finishes."""

    def __init__(self, cell: CellId, registry: Registry, redact: Redactor):
        self.cell, self.registry, self.redact = cell, registry, redact
        self.spans: list[Span] = []
        self.warnings: list[str] = []

    @contextlib.contextmanager
    def span(self, kind: str, name: str, parent: Optional[str] = None, **attributes) -> Iterator[dict]:
        span_id = uuid.uuid4().hex
        attributes["span_id"] = span_id
        start = utcnow()
        t0 = time.perf_counter()
        error = None
        try:
            yield attributes
        except BaseException as exc:
            error = one_line(exc)
            raise
        finally:
            attributes.pop("span_id", None)
            span = Span(span_id=span_id, parent_id=parent, kind=kind, name=name, start=start,
                        duration_ms=(time.perf_counter() - t0) * 1000, attrs=attributes, error=error)
            masked = serialization.structure(
                serialization.converter.loads(self.redact(serialization.dumps(span, indent=None)), dict), Span
            ) if self.redact.values else span
            self.spans.append(masked)
            self.warnings += self.registry.notify("cab_span_finished", cell=self.cell, span=masked)


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if isinstance(exc, (CabError, InfraError)) and text else f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")
