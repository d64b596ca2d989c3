"""The one interface between stream data and everything else: ``StreamStore``.

A store keeps stream items, applies writes atomically per item, stamps every frame
with a server timestamp, and fans frames out to subscribers: a frame with an item
id goes to that item's subscribers **and** its group's; one call per subscription.
The socket and HTTP layers only use this protocol, so
:class:`~server_stub.redis_store.RedisStore` (several stub processes sharing streams
through Redis) replaces :class:`~server_stub.memory_store.MemoryStore` without
touching them. A store that can lose frames on their way to its subscribers (a
broken link to Redis) says so through ``on_lost_frames``: the socket layer then
closes its sockets, and their clients reconnect and resync.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel

from .frames import Frame, Item, Room
from .limits import DEFAULT_MAX_GROUP_BYTES, DEFAULT_MAX_GROUP_ITEMS, DEFAULT_MAX_STORE_BYTES

ChangeKind = Literal["create", "update", "delete"]
log = logging.getLogger("server_stub.store")


@dataclass(frozen=True)
class StoreLimits:
    """How much a store holds; a write that would pass a limit raises ``StoreFull``.

    Sizes are the bytes of an item's compact JSON. A write that does not make a group
    bigger (an update to a smaller value, a delete) is always accepted.
    """

    max_group_items: int = DEFAULT_MAX_GROUP_ITEMS
    max_group_bytes: int = DEFAULT_MAX_GROUP_BYTES
    max_store_bytes: int = DEFAULT_MAX_STORE_BYTES

    def __post_init__(self) -> None:
        for name in ("max_group_items", "max_group_bytes", "max_store_bytes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")


Sink = Callable[[Frame], None]
"""Receives frames for one subscription. Called on the server loop; must not block or raise."""


def deliver(sink: Sink, frame: Frame) -> None:
    """Hand ``frame`` to one subscriber: one that raises is logged, the others still get it."""
    try:
        sink(frame)
    except Exception:
        log.exception("a subscriber failed to take a frame for %s/%s", frame.stream, frame.group)


@dataclass(frozen=True)
class Change:
    """A committed write, as seen by stream triggers (``old``/``new`` are None when absent)."""

    stream: str
    group: str
    item_id: str
    kind: ChangeKind
    old: Item | None
    new: Item | None
    timestamp: int


Trigger = Callable[[Change], Awaitable[None]]
"""Runs after a committed write on its stream; its errors are logged, never raised to the writer."""

LossListener = Callable[[str], None]
"""Told (with a reason) that frames may have been lost on their way to every subscriber."""


class Triggers:
    """The stream triggers of one store: run in order after a committed write, errors logged."""

    def __init__(self) -> None:
        self._by_stream: dict[str, list[Trigger]] = {}

    def add(self, stream: str, trigger: Trigger) -> None:
        """Run ``trigger`` after each committed write to ``stream``."""
        self._by_stream.setdefault(stream, []).append(trigger)

    async def fire(self, change: Change) -> None:
        """Run the change's stream triggers; one that raises is logged and the others run."""
        for trigger in list(self._by_stream.get(change.stream, ())):
            try:
                await trigger(change)
            except Exception:
                log.exception("stream trigger %r failed on %s", trigger, change.stream)


class SubscriptionToken:
    """Opaque handle returned by ``subscribe``; pass it back to ``unsubscribe``."""

    __slots__ = ("room",)

    def __init__(self, room: Room) -> None:
        self.room = room

    def __repr__(self) -> str:
        return f"SubscriptionToken({self.room!r})"


@runtime_checkable
class StreamStore(Protocol):
    """Stream items plus fan-out. All methods run on the server's event loop."""

    async def open(self) -> None:
        """Bind to the running loop and connect to any backing service."""

    async def close(self) -> None:
        """Drop subscribers and release resources; the store may be opened again."""

    async def get(self, stream: str, group: str, item_id: str) -> Item | None:
        """A copy of the item, or None."""

    async def set(self, stream: str, group: str, item_id: str, data: Mapping[str, Any]) -> Item:
        """Store ``data`` (plus its ``id``); send ``create`` or ``update``; return the item.

        Raises ``StoreError`` and sends nothing when the write is refused: a bad name,
        data that is not JSON, a schema mismatch, or ``StoreFull`` past the limits.
        """

    async def delete(self, stream: str, group: str, item_id: str) -> Item | None:
        """Remove the item; send ``delete`` with its last value (null if it did not exist)."""

    async def delete_if(self, stream: str, group: str, item_id: str, expected: Item) -> bool:
        """Remove the item only if it still equals ``expected`` (and send ``delete``).

        Returns False, changing and sending nothing, when the item is missing or
        differs: a compare-and-delete, so "the last watcher out deletes the presence
        item" stays exact when another process counts a new watcher in between.
        """

    async def update(
        self,
        stream: str,
        group: str,
        item_id: str,
        ops: Sequence[Mapping[str, Any] | BaseModel],
        *,
        must_exist: bool = False,
    ) -> Item:
        """Apply update ops atomically (creating the item unless ``must_exist``); return it."""

    async def list_group(self, stream: str, group: str) -> list[Item]:
        """Copies of the group's items, oldest first."""

    async def list_groups(self, stream: str) -> list[str]:
        """The ids of the stream's non-empty groups."""

    async def send_event(
        self, stream: str, group: str, type: str, data: Any, item_id: str | None = None
    ) -> None:
        """Send a custom event to a group's subscribers, or to an item's and its group's."""

    async def subscribe(self, room: Room, sink: Sink) -> SubscriptionToken:
        """Call ``sink`` with the room's sync frame, then with every later frame for the room.

        Nothing can slip between the sync and the registration: the first frame a
        subscriber sees is always its sync.
        """

    async def unsubscribe(self, token: SubscriptionToken) -> None:
        """Stop delivering to that subscription (unknown tokens are ignored)."""

    def add_trigger(self, stream: str, trigger: Trigger) -> None:
        """Run ``trigger`` after every committed write to ``stream``."""

    def on_lost_frames(self, listener: LossListener) -> None:
        """Call ``listener(reason)`` when frames may have been lost for every subscriber.

        A store that cannot lose frames (in memory) never calls it.
        """
