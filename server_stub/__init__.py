"""server_stub: the reference Motia stream server, for demos and tests.

``StubServer`` runs it in-process (``async with``, or ``.in_thread()`` for blocking
code); ``motia-stub`` runs it from the command line. Streams are declared with
``StreamConfig``; the store and its fan-out sit behind the ``StreamStore`` protocol,
implemented in memory by ``MemoryStore``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import ItemNotFound, OpError, SchemaError, StoreError, StoreFull, StubError
from .frames import Dialect, Frame, Room
from .memory_store import MemoryStore
from .store import Change, StoreLimits, StreamStore
from .streams import AuthContext, HookContext, JoinResult, StreamConfig, Subscription

if TYPE_CHECKING:
    from .server import StubServer


def __getattr__(name: str) -> Any:
    """Import ``StubServer`` (starlette, uvicorn) on first use, so that the package and
    ``motia-stub --version`` load without the ``server`` extra."""
    if name == "StubServer":
        from .server import StubServer

        return StubServer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AuthContext",
    "Change",
    "Dialect",
    "Frame",
    "HookContext",
    "ItemNotFound",
    "JoinResult",
    "MemoryStore",
    "OpError",
    "Room",
    "SchemaError",
    "StoreError",
    "StoreFull",
    "StoreLimits",
    "StreamConfig",
    "StreamStore",
    "StubError",
    "StubServer",
    "Subscription",
]
