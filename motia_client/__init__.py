"""motia_client: the Python client for Motia streams, SSE endpoints and HTTP steps."""

from __future__ import annotations

from motia_client._blocking import BlockingSubscription, StreamClient
from motia_client._client import AsyncStreamClient
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
from motia_client._lifecycle import ConnectionState, ReconnectPolicy, StateChange
from motia_client._subscription import GroupSubscription, ItemSubscription, Subscription
from motia_client._transport import ConnectRequest, PushTransport, Transport, TransportFactory
from motia_client._views import Items

__all__ = [
    "AsyncMotiaHttp",
    "AsyncStreamClient",
    "AuthenticationError",
    "BlockingSubscription",
    "ClientClosedError",
    "ConnectRequest",
    "ConnectionState",
    "EventDataError",
    "FrameTooLarge",
    "GroupSubscription",
    "HttpError",
    "ItemSubscription",
    "ItemValidationError",
    "Items",
    "MotiaConnectionError",
    "MotiaError",
    "MotiaHttp",
    "MotiaTimeout",
    "ProtocolError",
    "PushTransport",
    "ReconnectPolicy",
    "StateChange",
    "StreamClient",
    "Subscription",
    "SubscriptionRefused",
    "Transport",
    "TransportFactory",
    "UnexpectedContentType",
]

for _name in __all__:
    # Reprs and tracebacks read motia_client.X, not the private module.
    if isinstance(globals()[_name], type):
        globals()[_name].__module__ = __name__
del _name
