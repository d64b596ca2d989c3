"""motia_client: the Python client for Motia streams, SSE endpoints and HTTP steps."""

from __future__ import annotations

from motia_client._exceptions import (
    AuthenticationError,
    ClientClosedError,
    EventDataError,
    FrameTooLarge,
    HttpError,
    ItemValidationError,
    MotiaConnectionError,
    MotiaError,
    MotiaTimeout,
    ProtocolError,
    SubscriptionRefused,
    UnexpectedContentType,
)
from motia_client._http import AsyncMotiaHttp, MotiaHttp

__all__ = [
    "AsyncMotiaHttp",
    "AuthenticationError",
    "ClientClosedError",
    "EventDataError",
    "FrameTooLarge",
    "HttpError",
    "ItemValidationError",
    "MotiaConnectionError",
    "MotiaError",
    "MotiaHttp",
    "MotiaTimeout",
    "ProtocolError",
    "SubscriptionRefused",
    "UnexpectedContentType",
]

for _name in __all__:
    # Reprs and tracebacks read motia_client.X, not the private module.
    globals()[_name].__module__ = __name__
del _name
