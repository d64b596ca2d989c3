"""motia_client: the Python client for Motia streams, SSE endpoints and HTTP steps.

Importing the package is cheap: the errors and small value types load at once,
everything else (the stream clients and asyncio, the HTTP/SSE clients and httpx,
``rx`` and reactivex, ``sse``) on first use (PEP 562), so a script pays only for
what it touches. Every logger under ``motia_client`` has a ``NullHandler``: the
library never prints unless the application sets up logging.
"""

from __future__ import annotations

import importlib
import logging
import types
import typing

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
    StateDrift,
    SubscriptionRefused,
    UnexpectedContentType,
)
from motia_client._items import Items
from motia_client._lifecycle import ConnectionState, ReconnectPolicy, StateChange
from motia_client._version import __version__ as __version__

if typing.TYPE_CHECKING:  # loaded on first use (see __getattr__); seen here by mypy and IDEs
    from motia_client import rx as rx
    from motia_client import sse as sse
    from motia_client._blocking import BlockingSubscription, StreamClient
    from motia_client._client import AsyncStreamClient
    from motia_client._config import ClientOptions
    from motia_client._feed import ItemChange
    from motia_client._frames import FrameView
    from motia_client._http import AsyncMotiaHttp, MotiaHttp
    from motia_client._session import EventGap
    from motia_client._subscription import GroupSubscription, ItemSubscription, Subscription
    from motia_client._transport import (
        ConnectRequest,
        PushTransport,
        Transport,
        TransportFactory,
    )

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
    "FrameView",
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
    "StateDrift",
    "StreamClient",
    "Subscription",
    "SubscriptionRefused",
    "Transport",
    "TransportFactory",
    "UnexpectedContentType",
]

# Public name -> the private module that defines it, imported on first access.
_LAZY = {
    "AsyncMotiaHttp": "motia_client._http",
    "AsyncStreamClient": "motia_client._client",
    "BlockingSubscription": "motia_client._blocking",
    "ClientOptions": "motia_client._config",
    "ConnectRequest": "motia_client._transport",
    "EventGap": "motia_client._session",
    "FrameView": "motia_client._frames",
    "GroupSubscription": "motia_client._subscription",
    "ItemChange": "motia_client._feed",
    "ItemSubscription": "motia_client._subscription",
    "MotiaHttp": "motia_client._http",
    "PushTransport": "motia_client._transport",
    "StreamClient": "motia_client._blocking",
    "Subscription": "motia_client._subscription",
    "Transport": "motia_client._transport",
    "TransportFactory": "motia_client._transport",
}
_LAZY_SUBMODULES = ("rx", "sse")

logging.getLogger(__name__).addHandler(logging.NullHandler())  # children propagate to it


def _publish(obj: object) -> None:
    """Make a class defined in a private module report ``motia_client`` (reprs, tracebacks).

    Only real classes: on Python 3.10 a ``Callable[...]`` alias such as
    ``TransportFactory`` passes ``isinstance(obj, type)`` but its ``__module__``
    is read-only.
    """
    if isinstance(obj, types.GenericAlias):
        return
    if isinstance(obj, type) and obj.__module__.startswith(__name__ + "._"):
        obj.__module__ = __name__


def __getattr__(name: str) -> typing.Any:
    """Import a lazy public name (or the ``rx``/``sse`` subpackages) on first access."""
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        _publish(value)
    elif name in _LAZY_SUBMODULES:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    """The module's names, the lazy ones included (for ``dir()`` and completion)."""
    return sorted({*globals(), *_LAZY, *_LAZY_SUBMODULES})


for _name in __all__:
    if _name not in _LAZY:
        _publish(globals()[_name])
del _name
