"""The recording proxy (kept importable here): see :mod:`cab_core.endpoint` for what it is made of."""

from .endpoint import (  # noqa: F401
    INFRA_ERROR_KINDS,
    BackgroundServer,
    EndpointError,
    ProxyLimits,
    RecordingProxy,
    classify_status,
)

__all__ = ["BackgroundServer", "EndpointError", "INFRA_ERROR_KINDS", "ProxyLimits", "RecordingProxy", "classify_status"]
