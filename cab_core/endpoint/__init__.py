"""The model endpoint as the harness sees it: the recording proxy and what it is made of.

* :mod:`.proxy` — :class:`RecordingProxy`, the reverse proxy every agent talks to.
* :mod:`.protocol` — the :class:`WireProtocol` base and the registry of protocols by
  route; :mod:`.chat` (Chat Completions) and :mod:`.completions` (legacy
  Completions), :mod:`.responses`, :mod:`.messages` (Anthropic) and :mod:`.gemini`
  are the built-in ones.  A new protocol is a new module listed in
  :data:`BUILTIN_PROTOCOLS`.
* :mod:`.exchange` — one call while it is relayed, and the ``ModelCall`` it becomes.
* :mod:`.relay` and :mod:`.sse` — moving bytes to the agent; :mod:`.limits` — how much
  is held and recorded; :mod:`.placeholders` — what differs between recording and
  replay; :mod:`.health` — the independent probe that decides "environment".
"""

from __future__ import annotations

import importlib

#: Modules that register the built-in wire protocols (imported once, here).
BUILTIN_PROTOCOLS = ("cab_core.endpoint.chat", "cab_core.endpoint.completions", "cab_core.endpoint.responses",
                     "cab_core.endpoint.messages", "cab_core.endpoint.gemini")
for _module in BUILTIN_PROTOCOLS:
    importlib.import_module(_module)

from ..aioserver import BackgroundServer  # noqa: E402
from .exchange import classify_status  # noqa: E402
from .limits import ProxyLimits  # noqa: E402
from .protocol import Reading, WireProtocol, protocol_for, protocols, register_protocol  # noqa: E402
from .proxy import INFRA_ERROR_KINDS, EndpointError, RecordingProxy  # noqa: E402

__all__ = [
    "BUILTIN_PROTOCOLS", "BackgroundServer", "EndpointError", "INFRA_ERROR_KINDS", "ProxyLimits", "Reading",
    "RecordingProxy", "WireProtocol", "classify_status", "protocol_for", "protocols", "register_protocol",
]
