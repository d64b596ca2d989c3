"""``RedisStore``: stream items in Redis, shared by every stub process pointed at it.

    motia-stub --store redis://127.0.0.1:6379/0          # each instance of a fleet
    StubServer(store="redis://127.0.0.1:6379/0")          # in process

Items live in one Redis hash per group; every write is one Lua script
(``redis_scripts``) that checks the limits, writes, stamps, numbers and publishes
the change in one atomic step. Fan-out is Redis **pub/sub**: each process
subscribes to one channel at ``open()`` and hands every message, in the order
Redis published them, to its own sockets' subscriptions. Pub/sub, not streams,
because a stub only serves live subscribers: a client that was away resyncs
from the items anyway (PROTOCOL.md section 6), so nothing needs to be kept or
trimmed. What pub/sub cannot promise is made exact here:

- **In order, exactly once.** Every message carries a sequence number that grows
  by one per write. ``subscribe`` registers the room *before* it reads the
  snapshot; the snapshot returns the last sequence number it includes; messages
  up to it are dropped for that subscription, later ones delivered. Nothing can
  slip between the sync and the live frames, nothing is delivered twice.
- **Loss is noticed.** A jump in the sequence, or the fan-out connection being
  re-established, means messages were lost: the store tells its
  ``on_lost_frames`` listeners, and the socket layer closes every socket so its
  clients reconnect and resync.

Update ops are applied in Python (``ops``, one rule for every store) and
committed with compare-and-set on the item's stored JSON, retried on a conflict.
Redis errors become :class:`~server_stub.errors.StoreUnavailable` (HTTP 503);
nothing half-written is left behind, because each write is one script.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import redis.asyncio as aioredis
from pydantic import BaseModel
from redis.exceptions import RedisError

from . import redis_scripts
from .errors import ItemNotFound, StoreError, StoreFull, StoreUnavailable
from .frames import Frame, Item, Room, custom_event
from .ops import apply_ops, parse_ops
from .redis_url import redact_url
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
from .values import check_names, dumps_item, to_json

log = logging.getLogger("server_stub.redis")

T = TypeVar("T")
Validator = Callable[[str, Item], None]
DEFAULT_PREFIX = "motia-stub:"
CAS_ATTEMPTS = 100
MAX_CONNECTIONS = 32  # commands in flight at once; more wait (up to POOL_TIMEOUT) for one
POOL_TIMEOUT = 10.0
READER_BACKOFF = (0.05, 2.0)


@dataclass(eq=False)
class _Pending:
    """A subscription between its registration and its snapshot: it buffers its room's frames."""

    room: Room
    frames: list[tuple[int, Frame]] = field(default_factory=list)


@dataclass
class _Live:
    sink: Sink
    since: int  # the snapshot's sequence number: frames up to it are in the sync


def _matches(room: Room, frame: Frame) -> bool:
    return (
        room.stream == frame.stream
        and room.group == frame.group
        and (room.item_id is None or room.item_id == frame.item_id)
    )


class _Keys:
    """The Redis keys of one group (see ``redis_scripts`` for the layout)."""

    __slots__ = ("field", "groups", "items", "order", "sizes")

    def __init__(self, prefix: str, stream: str, group: str) -> None:
        self.field = f"{len(stream)}:{stream}:{group}"
        base = f"{prefix}g:{self.field}:"
        self.items = base + "items"
        self.order = base + "order"
        self.sizes = base + "sizes"
        self.groups = f"{prefix}groups:{stream}"


class RedisStore:
    """Stream items in Redis and fan-out through Redis pub/sub (see the module docstring)."""

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        prefix: str = DEFAULT_PREFIX,
        validator: Validator | None = None,
        limits: StoreLimits | None = None,
    ) -> None:
        self._url = url
        self.prefix = prefix
        self._validator = validator
        self.limits = limits if limits is not None else StoreLimits()
        self._clock_key = prefix + "clock"
        self._seq_key = prefix + "seq"
        self._group_bytes_key = prefix + "group-bytes"
        self._total_key = prefix + "total-bytes"
        self.channel = prefix + "changes"
        self._triggers = Triggers()
        self._loss_listeners: list[LossListener] = []
        self._subs: dict[Room, dict[SubscriptionToken, _Live]] = {}
        self._pending: set[_Pending] = set()
        self._redis: aioredis.Redis | None = None
        self._write: Any = None
        self._delete: Any = None
        self._event: Any = None
        self._snapshot: Any = None
        self._pubsub: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._seen: int | None = None  # the last sequence number handed out here
        self._subscribed_once = False
        self.lost_count = 0  #: how many times frames were lost (for tests and diagnostics)

    def __repr__(self) -> str:
        return f"RedisStore({redact_url(self._url)!r}, prefix={self.prefix!r})"

    @property
    def url(self) -> str:
        """The Redis URL, its password replaced by ``***``."""
        return redact_url(self._url)

    # -- lifecycle -------------------------------------------------------------

    async def open(self) -> None:
        """Connect, subscribe to the change channel and start handing out its messages.

        Raises StoreUnavailable when Redis cannot be reached.
        """
        if self._reader is not None:
            raise RuntimeError("this RedisStore is already open")
        pool = aioredis.BlockingConnectionPool.from_url(
            self._url,
            decode_responses=True,
            max_connections=MAX_CONNECTIONS,
            timeout=POOL_TIMEOUT,
        )
        client = aioredis.Redis.from_pool(pool)
        pubsub = client.pubsub()
        try:
            await client.ping()
            self._write = client.register_script(redis_scripts.WRITE)
            self._delete = client.register_script(redis_scripts.DELETE)
            self._event = client.register_script(redis_scripts.EVENT)
            self._snapshot = client.register_script(redis_scripts.SNAPSHOT)
            await pubsub.subscribe(self.channel)
            seen = await client.get(self._seq_key)
        except (RedisError, OSError) as exc:
            await pubsub.aclose()
            await client.aclose()
            raise StoreUnavailable(f"cannot reach Redis at {self.url}: {exc}") from None
        self._redis, self._pubsub = client, pubsub
        self._seen = int(seen or 0)
        self._subscribed_once = False
        self._reader = asyncio.get_running_loop().create_task(
            self._read_forever(), name="motia-stub redis fan-out"
        )
        log.info("stream store: Redis at %s (key prefix %r)", self.url, self.prefix)

    async def close(self) -> None:
        """Stop the fan-out, forget every subscriber and close the connections; the data stays."""
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
        self._subs.clear()
        self._pending.clear()
        pubsub, client = self._pubsub, self._redis
        self._pubsub = self._redis = None
        for closing in (pubsub, client):
            if closing is not None:
                try:
                    await closing.aclose()
                except (RedisError, OSError):  # closing a broken link: it is closed either way
                    log.debug("error while closing a Redis connection", exc_info=True)

    def _client(self) -> aioredis.Redis:
        if self._redis is None:
            raise RuntimeError("the Redis store is not open: await store.open() first")
        return self._redis

    async def _call(self, pending: Any) -> Any:
        """Await one Redis call; its failure becomes StoreUnavailable (nothing was written)."""
        try:
            return await pending
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"the Redis store at {self.url} failed: {exc}") from None

    def _keys(self, stream: str, group: str) -> _Keys:
        return _Keys(self.prefix, stream, group)

    # -- reads -----------------------------------------------------------------

    async def get(self, stream: str, group: str, item_id: str) -> Item | None:
        """The item, or None."""
        raw = await self._call(self._client().hget(self._keys(stream, group).items, item_id))
        return _item(raw)

    async def list_group(self, stream: str, group: str) -> list[Item]:
        """The group's items, oldest first (one consistent read)."""
        keys = self._keys(stream, group)
        async with self._client().pipeline(transaction=True) as pipe:
            pipe.zrange(keys.order, 0, -1)
            pipe.hgetall(keys.items)
            ids, values = await self._call(pipe.execute())
        return [json.loads(values[item_id]) for item_id in ids if item_id in values]

    async def list_groups(self, stream: str) -> list[str]:
        """The ids of the stream's non-empty groups, in creation order."""
        groups: list[str] = await self._call(
            self._client().zrange(self._keys(stream, "").groups, 0, -1)
        )
        return groups

    # -- writes ----------------------------------------------------------------

    async def set(self, stream: str, group: str, item_id: str, data: Mapping[str, Any]) -> Item:
        """Store ``data`` with its ``id``; send ``create`` or ``update``; return the item."""
        check_names(stream=stream, group=group, item_id=item_id)
        if not isinstance(data, Mapping):
            raise StoreError(f"item data must be a JSON object, got {type(data).__name__}")
        new, text, size = to_json({**data, "id": item_id}, "item data")
        change = await self._commit(stream, group, item_id, new, text, size, "any", "")
        assert change is not None  # mode "any" never conflicts
        await self._triggers.fire(change)
        return new  # type: ignore[no-any-return]

    async def update(
        self,
        stream: str,
        group: str,
        item_id: str,
        ops: Sequence[Mapping[str, Any] | BaseModel],
        *,
        must_exist: bool = False,
    ) -> Item:
        """Apply ``ops`` to the item as it is in Redis, compare-and-set; retried on a conflict."""
        check_names(stream=stream, group=group, item_id=item_id)
        parsed = parse_ops(ops)
        items_key = self._keys(stream, group).items
        for attempt in range(CAS_ATTEMPTS):
            raw = await self._call(self._client().hget(items_key, item_id))
            old = _item(raw)
            if old is None and must_exist:
                raise ItemNotFound(f"no item {stream}/{group}/{item_id}")
            new, text, size = to_json({**apply_ops(old, parsed), "id": item_id}, "updated item")
            mode = "absent" if raw is None else "equals"
            change = await self._commit(stream, group, item_id, new, text, size, mode, raw or "")
            if change is not None:
                await self._triggers.fire(change)
                return new  # type: ignore[no-any-return]
            await asyncio.sleep(random.uniform(0, 0.0005 * min(attempt + 1, 20)))
        raise StoreUnavailable(
            f"{stream}/{group}/{item_id} changed {CAS_ATTEMPTS} times while it was being "
            "updated; nothing was written, retry"
        )

    async def _commit(
        self,
        stream: str,
        group: str,
        item_id: str,
        new: Item,
        text: str,
        size: int,
        mode: str,
        expected: str,
    ) -> Change | None:
        """Validate and run the write script; the Change, or None on a compare-and-set conflict."""
        if self._validator is not None:
            self._validator(stream, new)
        keys = self._keys(stream, group)
        limits = self.limits
        result = await self._call(
            self._write(
                keys=[*self._write_keys(keys)],
                args=[
                    item_id,
                    text,
                    size,
                    limits.max_group_items,
                    limits.max_group_bytes,
                    limits.max_store_bytes,
                    keys.field,
                    group,
                    dumps_item([stream, group, item_id]),
                    self.channel,
                    mode,
                    expected,
                ],
            )
        )
        status = result[0]
        if status == "conflict":
            return None
        if status == "full":
            raise StoreFull(self._full_message(stream, group, result[1]))
        kind: ChangeKind = "create" if status == "create" else "update"
        return Change(stream, group, item_id, kind, _item(result[2] or None), new, int(result[1]))

    def _write_keys(self, keys: _Keys) -> tuple[str, ...]:
        return (
            keys.items,
            keys.order,
            keys.sizes,
            self._group_bytes_key,
            self._total_key,
            self._clock_key,
            self._seq_key,
            keys.groups,
        )

    def _full_message(self, stream: str, group: str, which: str) -> str:
        limits = self.limits
        if which == "items":
            return f"group {stream}/{group} is full: {limits.max_group_items} items at most"
        if which == "group":
            return f"group {stream}/{group} is full: {limits.max_group_bytes} bytes at most"
        return f"the store is full: {limits.max_store_bytes} bytes at most"

    async def delete(self, stream: str, group: str, item_id: str) -> Item | None:
        """Remove the item and send ``delete`` with its last value (null when it did not exist)."""
        return (await self._remove(stream, group, item_id, None))[1]

    async def delete_if(self, stream: str, group: str, item_id: str, expected: Item) -> bool:
        """Delete the item if its stored JSON still equals ``expected``'s; False otherwise."""
        return (await self._remove(stream, group, item_id, dumps_item(expected)))[0]

    async def _remove(
        self, stream: str, group: str, item_id: str, expected: str | None
    ) -> tuple[bool, Item | None]:
        check_names(stream=stream, group=group, item_id=item_id)
        keys = self._keys(stream, group)
        result = await self._call(
            self._delete(
                keys=[*self._write_keys(keys)],
                args=[
                    item_id,
                    keys.field,
                    group,
                    dumps_item([stream, group, item_id]),
                    self.channel,
                    "any" if expected is None else "equals",
                    expected or "",
                ],
            )
        )
        if result[0] == "conflict":
            return False, None
        old = _item(result[2] or None)
        if old is not None:
            change = Change(stream, group, item_id, "delete", old, None, int(result[1]))
            await self._triggers.fire(change)
        return True, old

    async def send_event(
        self, stream: str, group: str, type: str, data: Any, item_id: str | None = None
    ) -> None:
        """Send a custom event (not state) to a group, or to an item and its group."""
        check_names(stream=stream, group=group, item_id=item_id, type=type)
        event = custom_event(type, to_json(data, "event data")[0])["event"]
        await self._call(
            self._event(
                keys=[self._clock_key, self._seq_key],
                args=[dumps_item([stream, group, item_id]), dumps_item(event), self.channel],
            )
        )

    # -- fan-out ---------------------------------------------------------------

    async def subscribe(self, room: Room, sink: Sink) -> SubscriptionToken:
        """Deliver the room's sync to ``sink``, then every later frame, each exactly once.

        The room is registered as pending before the snapshot is read, so a change
        committed after the snapshot is buffered even if its message arrives first.
        """
        check_names(stream=room.stream, group=room.group, item_id=room.item_id)
        self._client()  # not open: a clear error before anything is registered
        keys = self._keys(room.stream, room.group)
        pending = _Pending(room)
        self._pending.add(pending)
        try:
            result = await self._call(
                self._snapshot(
                    keys=[keys.items, keys.order, self._clock_key, self._seq_key],
                    args=[room.item_id or ""],
                )
            )
        finally:
            self._pending.discard(pending)
        since, stamp = int(result[0]), int(result[1])
        data: Any
        if room.item_id is not None:
            data = _item(result[2] or None)
        else:
            ids, flat = result[2], result[3]
            values = dict(zip(flat[::2], flat[1::2], strict=True))
            data = [json.loads(values[item_id]) for item_id in ids if item_id in values]
        token = SubscriptionToken(room)
        frame = Frame(stamp, room.stream, room.group, room.item_id, {"type": "sync", "data": data})
        deliver(sink, frame)
        for seq, buffered in pending.frames:
            if seq > since:
                deliver(sink, buffered)
        self._subs.setdefault(room, {})[token] = _Live(sink, since)
        return token

    async def unsubscribe(self, token: SubscriptionToken) -> None:
        """Stop delivering to the subscription; unknown tokens are ignored."""
        sinks = self._subs.get(token.room)
        if sinks is not None:
            sinks.pop(token, None)
            if not sinks:
                del self._subs[token.room]

    def subscriber_count(self, room: Room) -> int:
        """How many subscriptions of this process the room has (for tests and diagnostics)."""
        return len(self._subs.get(room, {}))

    def on_lost_frames(self, listener: LossListener) -> None:
        """Call ``listener(reason)`` when fan-out messages from Redis may have been lost."""
        self._loss_listeners.append(listener)

    def _lost(self, reason: str) -> None:
        self.lost_count += 1
        log.warning("stream frames may have been lost (%s); every subscriber must resync", reason)
        for listener in list(self._loss_listeners):
            try:
                listener(reason)
            except Exception:
                log.exception("a lost-frames listener failed")

    async def _read_forever(self) -> None:
        """Hand every message of the change channel to the subscriptions, in order."""
        low, high = READER_BACKOFF
        delay = low
        while True:
            try:
                message = await self._pubsub.get_message(timeout=None)
            except (RedisError, OSError) as exc:
                if self._seen is not None:  # once per outage, not once per retry
                    self._lost(f"the fan-out connection to Redis failed: {exc}")
                self._seen = None
                await asyncio.sleep(delay)
                delay = min(high, delay * 2)
                continue
            delay = low
            if message is None:
                continue
            kind = message.get("type")
            if kind == "subscribe":
                if self._subscribed_once:  # redis-py reconnected and subscribed again
                    self._lost("the fan-out connection to Redis was re-established")
                    self._seen = None
                self._subscribed_once = True
            elif kind == "message":
                try:
                    self._dispatch(message["data"])
                except Exception:
                    log.exception("could not hand out a message from Redis")

    def _dispatch(self, raw: str) -> None:
        seq_text, stamp_text, kind, head, data_text = raw.split("\n", 4)
        seq = int(seq_text)
        seen = self._seen
        if seen is not None:
            if seq <= seen:
                return  # already handed out (or older than this process's start)
            if seq != seen + 1:
                self._lost(f"messages {seen + 1} to {seq - 1} never arrived")
        self._seen = seq
        stream, group, item_id = json.loads(head)
        data = json.loads(data_text)
        event = (
            {"type": "event", "event": data} if kind == "event" else {"type": kind, "data": data}
        )
        frame = Frame(int(stamp_text), stream, group, item_id, event)
        for pending in self._pending:
            if _matches(pending.room, frame):
                pending.frames.append((seq, frame))
        targets: list[_Live] = []
        if item_id is not None:
            targets.extend(self._subs.get(frame.room, {}).values())
        targets.extend(self._subs.get(Room(stream, group), {}).values())
        for live in targets:
            if seq > live.since:
                deliver(live.sink, frame)

    # -- triggers --------------------------------------------------------------

    def add_trigger(self, stream: str, trigger: Trigger) -> None:
        """Run ``trigger`` after each write this process commits to ``stream``."""
        self._triggers.add(stream, trigger)


def _item(raw: str | None) -> Item | None:
    if raw is None:
        return None
    value: Item = json.loads(raw)
    return value
