"""server_stub: the reference Motia stream server, for demos and tests.

``StubServer`` runs it in-process (``async with``, or ``.in_thread()`` for blocking
code); ``motia-stub`` runs it from the command line. Streams are declared with
``StreamConfig``; the store and its fan-out sit behind the ``StreamStore`` protocol,
implemented in memory by ``MemoryStore``.
"""

from __future__ import annotations

from .errors import ItemNotFound, OpError, SchemaError, StoreError, StoreFull, StubError
from .frames import Dialect, Frame, Room
from .memory_store import MemoryStore
from .server import StubServer
from .store import Change, StoreLimits, StreamStore
from .streams import AuthContext, HookContext, JoinResult, StreamConfig, Subscription

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
