"""The scripted model server, under its historical name: see :mod:`cab_core.endpoint.scripted`.

It answers Chat Completions, Responses, Anthropic Messages and Gemini generateContent
from a task's :class:`ScriptContext` with the behaviours oracle, noop, refuse and
vandal, and the faults of :data:`FAULTS`.
"""

from __future__ import annotations

from .endpoint.scripted import *  # noqa: F401,F403
from .endpoint.scripted import __all__  # noqa: F401
