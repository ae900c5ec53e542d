"""The recording proxy (kept importable here): see :mod:`cab_core.endpoint` for what it is made of.

Each name is imported from its own module on first use (PEP 562): a cell reads
``ProxyLimits`` before it starts, and must not pay for the whole proxy then (issue 16).
"""

from .lazy import lazy_exports

_EXPORTS = {"INFRA_ERROR_KINDS": "cab_core.endpoint.health", "BackgroundServer": "cab_core.aioserver", "EndpointError": "cab_core.endpoint.proxy",
            "ProxyLimits": "cab_core.endpoint.limits", "RecordingProxy": "cab_core.endpoint.proxy", "classify_status": "cab_core.endpoint.exchange"}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

__all__ = ["BackgroundServer", "EndpointError", "INFRA_ERROR_KINDS", "ProxyLimits", "RecordingProxy", "classify_status"]
