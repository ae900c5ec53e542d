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
* :mod:`.scripted` — the scripted model server answering every one of these protocols.

Pointing an agent at the proxy (``P`` is :attr:`RecordingProxy.url`, ``http://127.0.0.1:PORT``;
the agent always gets a dummy key, the proxy sends the real one in the protocol's header):

================  =================================  ======================================
protocol          base URL the client takes          key the agent reads (dummy)
================  =================================  ======================================
chat.completions  ``P/v1`` (``OPENAI_BASE_URL``)      ``OPENAI_API_KEY`` -> ``Authorization``
responses         ``P/v1`` (Codex: a provider with    ``OPENAI_API_KEY`` / the provider's
                  ``wire_api = "responses"``)         ``env_key`` -> ``Authorization``
anthropic         ``P`` (``ANTHROPIC_BASE_URL``; the  ``ANTHROPIC_API_KEY`` -> ``x-api-key``
.messages         client adds ``/v1/messages``)
gemini            ``P`` (``GOOGLE_GEMINI_BASE_URL``;  ``GEMINI_API_KEY`` -> ``x-goog-api-key``
                  the client adds ``/v1beta/...``)    (a ``?key=`` is dropped)
================  =================================  ======================================
"""

from __future__ import annotations

import importlib

#: Modules that register the built-in wire protocols (imported once, here).
BUILTIN_PROTOCOLS = ("cab_core.endpoint.chat", "cab_core.endpoint.completions", "cab_core.endpoint.responses",
                     "cab_core.endpoint.messages", "cab_core.endpoint.gemini")
for _module in BUILTIN_PROTOCOLS:
    importlib.import_module(_module)

from ..lazy import lazy_exports  # noqa: E402
from .protocol import Reading, WireProtocol, protocol_for, protocols, register_protocol  # noqa: E402

# The server side (aiohttp: a third of a second to import) is imported on first use
# (PEP 562), so what imports only the budgets or the limits (the sweep's spec, the
# plugins) does not pay for it before a proxy starts (issue 16: start-up).
_LAZY = {"BackgroundServer": "..aioserver", "classify_status": ".exchange", "ProxyLimits": ".limits",
         "INFRA_ERROR_KINDS": ".proxy", "EndpointError": ".proxy", "RecordingProxy": ".proxy"}

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())


__all__ = [
    "BUILTIN_PROTOCOLS", "BackgroundServer", "EndpointError", "INFRA_ERROR_KINDS", "ProxyLimits", "Reading",
    "RecordingProxy", "WireProtocol", "classify_status", "protocol_for", "protocols", "register_protocol",
]
