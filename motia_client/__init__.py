"""motia_client: the Python client for Motia streams, SSE endpoints and HTTP steps."""

from __future__ import annotations

from motia_client._blocking import BlockingSubscription, StreamClient
from motia_client._client import AsyncStreamClient
from motia_client._config import ClientOptions
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
from motia_client._items import Items
from motia_client._lifecycle import ConnectionState, ReconnectPolicy, StateChange
from motia_client._session import EventGap
from motia_client._subscription import (
    GroupSubscription,
    ItemChange,
    ItemSubscription,
    Subscription,
)
from motia_client._transport import ConnectRequest, PushTransport, Transport, TransportFactory

__all__ = [
    "AsyncMotiaHttp",
    "AsyncStreamClient",
    "AuthenticationError",
    "BlockingSubscription",
    "ClientClosedError",
    "ClientOptions",
    "ConnectRequest",
    "ConnectionState",
    "EventDataError",
    "EventGap",
    "FrameTooLarge",
    "GroupSubscription",
    "HttpError",
    "ItemChange",
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
    _value = globals()[_name]
    # Reprs and tracebacks read motia_client.X, not the private module. Only real
    # classes: on Python 3.10 a generic alias passes isinstance(..., type) too.
    if type(_value) is type or (isinstance(_value, type) and "__module__" in vars(_value)):
        _value.__module__ = __name__
del _name, _value
