"""``MemoryStore``: the in-process :class:`~server_stub.store.StreamStore`.

Items live in dicts keyed by (stream, group) then id, in creation order (which is
the order of a group sync). Every write runs its read-modify-write without an await
point, so writes to one item are serialized by the event loop itself; the frame is
published in that same step, which also makes ``subscribe`` (sync, then register)
atomic. Items are normalized through JSON on the way in and copied on the way out,
so callers can never alias the stored values.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from .errors import ItemNotFound, StoreError, StoreFull
from .frames import CLOCK, Frame, Item, MillisClock, Room, custom_event
from .ops import apply_ops, parse_ops
from .store import (
    Change,
    ChangeKind,
    LossListener,
    Sink,
    StoreLimits,
    SubscriptionToken,
    Trigger,
    Triggers,
    deliver,
)
from .values import check_names, to_json

Validator = Callable[[str, Item], None]
"""Checks a new item of a stream; raises SchemaError when it does not fit."""


class MemoryStore:
    """Stream items and fan-out in memory, bound to one event loop at a time."""

    def __init__(
        self,
        *,
        validator: Validator | None = None,
        clock: MillisClock = CLOCK,
        limits: StoreLimits | None = None,
    ) -> None:
        self._validator = validator
        self._clock = clock
        self.limits = limits if limits is not None else StoreLimits()
        self._groups: dict[tuple[str, str], dict[str, Item]] = {}
        self._sizes: dict[tuple[str, str], dict[str, int]] = {}
        self._group_bytes: dict[tuple[str, str], int] = {}
        self._total_bytes = 0
        self._subs: dict[Room, dict[SubscriptionToken, Sink]] = {}
        self._triggers = Triggers()
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- lifecycle -------------------------------------------------------------

    async def open(self) -> None:
        """Bind to the running loop (a store serves one loop; use ``stub.run`` from others)."""
        self._loop = None
        self._check_loop()

    async def close(self) -> None:
        """Forget every subscriber and unbind from the loop; the data stays."""
        self._subs.clear()
        self._loop = None

    def _check_loop(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif loop is not self._loop:
            raise RuntimeError(
                "this store belongs to the stub server's event loop; from another "
                "thread use stub.run(stub.store.<method>(...))"
            )

    # -- reads -----------------------------------------------------------------

    async def get(self, stream: str, group: str, item_id: str) -> Item | None:
        """A copy of the item, or None."""
        self._check_loop()
        item = self._groups.get((stream, group), {}).get(item_id)
        return copy.deepcopy(item) if item is not None else None

    async def list_group(self, stream: str, group: str) -> list[Item]:
        """Copies of the group's items, oldest first."""
        self._check_loop()
        return copy.deepcopy(list(self._groups.get((stream, group), {}).values()))

    async def list_groups(self, stream: str) -> list[str]:
        """The ids of the stream's non-empty groups, in creation order."""
        self._check_loop()
        return [group for (name, group), items in self._groups.items() if name == stream and items]

    # -- writes ----------------------------------------------------------------

    async def set(self, stream: str, group: str, item_id: str, data: Mapping[str, Any]) -> Item:
        """Store ``data`` with its ``id``; send ``create`` or ``update``; return a copy."""
        self._check_loop()
        check_names(stream=stream, group=group, item_id=item_id)
        if not isinstance(data, Mapping):
            raise StoreError(f"item data must be a JSON object, got {type(data).__name__}")
        new, _, size = to_json({**data, "id": item_id}, "item data")
        old = self._groups.get((stream, group), {}).get(item_id)
        change = self._commit(stream, group, item_id, old, new, size)
        await self._fire(change)
        return copy.deepcopy(new)

    async def update(
        self,
        stream: str,
        group: str,
        item_id: str,
        ops: Sequence[Mapping[str, Any] | BaseModel],
        *,
        must_exist: bool = False,
    ) -> Item:
        """Apply ``ops`` atomically to the item (``{}`` if missing, unless ``must_exist``)."""
        self._check_loop()
        check_names(stream=stream, group=group, item_id=item_id)
        parsed = parse_ops(ops)
        old = self._groups.get((stream, group), {}).get(item_id)
        if old is None and must_exist:
            raise ItemNotFound(f"no item {stream}/{group}/{item_id}")
        new, _, size = to_json({**apply_ops(old, parsed), "id": item_id}, "updated item")
        change = self._commit(stream, group, item_id, old, new, size)
        await self._fire(change)
        return copy.deepcopy(new)

    async def delete(self, stream: str, group: str, item_id: str) -> Item | None:
        """Remove the item and send ``delete`` with its last value (null when it did not exist)."""
        self._check_loop()
        check_names(stream=stream, group=group, item_id=item_id)
        key = (stream, group)
        items = self._groups.get(key)
        old = items.pop(item_id, None) if items is not None else None
        if old is not None:
            self._account(key, item_id, None)
        if items is not None and not items:
            del self._groups[key]
        timestamp = self._clock.now()
        self._publish(Frame(timestamp, stream, group, item_id, {"type": "delete", "data": old}))
        if old is not None:
            await self._fire(Change(stream, group, item_id, "delete", old, None, timestamp))
        return copy.deepcopy(old)

    async def delete_if(self, stream: str, group: str, item_id: str, expected: Item) -> bool:
        """Delete the item if it still equals ``expected``; False (nothing sent) otherwise."""
        self._check_loop()
        check_names(stream=stream, group=group, item_id=item_id)
        if self._groups.get((stream, group), {}).get(item_id) != expected:
            return False
        await self.delete(stream, group, item_id)
        return True

    async def send_event(
        self, stream: str, group: str, type: str, data: Any, item_id: str | None = None
    ) -> None:
        """Send a custom event (not state) to a group, or to an item and its group."""
        self._check_loop()
        check_names(stream=stream, group=group, item_id=item_id, type=type)
        event = custom_event(type, to_json(data, "event data")[0])
        self._publish(Frame(self._clock.now(), stream, group, item_id, event))

    def _commit(
        self, stream: str, group: str, item_id: str, old: Item | None, new: Item, size: int
    ) -> Change:
        """Validate, check the limits, store and publish ``new``; no await point in here."""
        if self._validator is not None:
            self._validator(stream, new)
        key = (stream, group)
        self._check_limits(key, item_id, old is None, size)
        self._groups.setdefault(key, {})[item_id] = new
        self._account(key, item_id, size)
        kind: ChangeKind = "create" if old is None else "update"
        timestamp = self._clock.now()
        self._publish(Frame(timestamp, stream, group, item_id, {"type": kind, "data": new}))
        return Change(stream, group, item_id, kind, old, copy.deepcopy(new), timestamp)

    # -- limits ----------------------------------------------------------------

    def _check_limits(self, key: tuple[str, str], item_id: str, is_new: bool, size: int) -> None:
        """Raise StoreFull if storing ``size`` bytes at ``item_id`` grows past a limit."""
        old_size = self._sizes.get(key, {}).get(item_id, 0)
        if not is_new and size <= old_size:
            return  # not growing: always fine, even over lowered limits
        limits = self.limits
        where = f"group {key[0]}/{key[1]}"
        count = len(self._groups.get(key, {})) + (1 if is_new else 0)
        if count > limits.max_group_items:
            raise StoreFull(f"{where} is full: {limits.max_group_items} items at most")
        if self._group_bytes.get(key, 0) - old_size + size > limits.max_group_bytes:
            raise StoreFull(f"{where} is full: {limits.max_group_bytes} bytes at most")
        if self._total_bytes - old_size + size > limits.max_store_bytes:
            raise StoreFull(f"the store is full: {limits.max_store_bytes} bytes at most")

    def _account(self, key: tuple[str, str], item_id: str, size: int | None) -> None:
        """Record the item's new size (None: it was deleted)."""
        sizes = self._sizes.setdefault(key, {})
        old_size = sizes.pop(item_id, 0)
        if size is not None:
            sizes[item_id] = size
        delta = (size or 0) - old_size
        self._total_bytes += delta
        group_bytes = self._group_bytes.get(key, 0) + delta
        if sizes:
            self._group_bytes[key] = group_bytes
        else:
            self._group_bytes.pop(key, None)
            del self._sizes[key]

    @property
    def total_bytes(self) -> int:
        """The bytes of JSON the store holds (what ``max_store_bytes`` bounds)."""
        return self._total_bytes

    # -- fan-out ---------------------------------------------------------------

    async def subscribe(self, room: Room, sink: Sink) -> SubscriptionToken:
        """Deliver the room's sync to ``sink``, then register it, in one atomic step."""
        self._check_loop()
        check_names(stream=room.stream, group=room.group, item_id=room.item_id)
        items = self._groups.get((room.stream, room.group), {})
        data: Any = items.get(room.item_id) if room.item_id is not None else list(items.values())
        token = SubscriptionToken(room)
        deliver(
            sink,
            Frame(
                self._clock.now(),
                room.stream,
                room.group,
                room.item_id,
                {"type": "sync", "data": data},
            ),
        )
        self._subs.setdefault(room, {})[token] = sink
        return token

    async def unsubscribe(self, token: SubscriptionToken) -> None:
        """Stop delivering to the subscription; unknown tokens are ignored."""
        self._check_loop()
        sinks = self._subs.get(token.room)
        if sinks is not None:
            sinks.pop(token, None)
            if not sinks:
                del self._subs[token.room]

    def subscriber_count(self, room: Room) -> int:
        """How many subscriptions the room has (for tests and diagnostics)."""
        return len(self._subs.get(room, {}))

    def _publish(self, frame: Frame) -> None:
        targets: list[Sink] = []
        if frame.item_id is not None:
            targets.extend(self._subs.get(frame.room, {}).values())
        targets.extend(self._subs.get(Room(frame.stream, frame.group), {}).values())
        for sink in targets:
            deliver(sink, frame)

    # -- triggers and losses -----------------------------------------------------

    def add_trigger(self, stream: str, trigger: Trigger) -> None:
        """Run ``trigger`` after each committed write to ``stream``."""
        self._triggers.add(stream, trigger)

    async def _fire(self, change: Change) -> None:
        await self._triggers.fire(change)

    def on_lost_frames(self, listener: LossListener) -> None:
        """Frames are handed to sinks in the writer's own step: none is ever lost."""
