"""RedisStore keeps the store contract across processes: what MemoryStore does in one.

Each contract test runs on a pair of stores: the same MemoryStore twice, and two
RedisStores on one real redis-server (two stub processes' worth). Writes go
through one, subscribers sit on the other.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis
from pydantic import BaseModel

from server_stub import MemoryStore, Room, StoreFull, StoreLimits
from server_stub.errors import NotJsonError, SchemaError, StoreError, StoreUnavailable
from server_stub.frames import Frame
from server_stub.redis_store import RedisStore
from server_stub.store import StreamStore
from server_stub.streams import StreamConfig, StreamRegistry
from tests.fleet.redis_process import free_port

Pair = tuple[StreamStore, StreamStore]
MakePair = Callable[..., Awaitable[Pair]]


class Recorder:
    """A sink that records frames."""

    def __init__(self) -> None:
        self.frames: list[Frame] = []

    def __call__(self, frame: Frame) -> None:
        self.frames.append(frame)

    @property
    def events(self) -> list[tuple[str, Any]]:
        return [(f.event["type"], f.event.get("data", f.event.get("event"))) for f in self.frames]


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait for frames that travel through Redis (at once for the memory store)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "not true in time"
        await asyncio.sleep(0.005)


@pytest.fixture(params=["memory", "redis"])
async def make_pair(request: pytest.FixtureRequest, prefix: str) -> AsyncIterator[MakePair]:
    """``await make_pair(limits=..., validator=...)``: stores A and B sharing their data."""
    opened: list[StreamStore] = []

    async def make(**options: Any) -> Pair:
        if request.param == "memory":
            memory = MemoryStore(**options)
            await memory.open()
            opened.append(memory)
            return memory, memory
        url = request.getfixturevalue("redis_url")
        a, b = RedisStore(url, prefix=prefix, **options), RedisStore(url, prefix=prefix, **options)
        for store in (a, b):
            await store.open()
            opened.append(store)
        return a, b

    yield make
    for store in opened:
        await store.close()


async def test_writes_through_one_reach_the_other_in_order_exactly_once(
    make_pair: MakePair,
) -> None:
    a, b = await make_pair()
    group, item = Recorder(), Recorder()
    await b.subscribe(Room("s", "g"), group)
    await a.subscribe(Room("s", "g", "x"), item)
    expected: list[tuple[str, Any]] = [("sync", [])]
    for n in range(40):
        writer = (a, b)[n % 2]
        if n % 4 == 0:
            expected.append(
                ("create" if n == 0 else "update", await writer.set("s", "g", "x", {"n": n}))
            )
        elif n % 4 == 1:
            ops = [{"type": "increment", "path": "n"}]
            expected.append(("update", await writer.update("s", "g", "x", ops)))
        elif n % 4 == 2:
            await writer.send_event("s", "g", "ping", {"n": n}, item_id="x")
            expected.append(("event", {"type": "ping", "data": {"n": n}}))
        else:
            await writer.set("s", "g", f"y{n}", {"n": n})
            expected.append(("create", {"n": n, "id": f"y{n}"}))
    expected.append(("delete", await a.delete("s", "g", "x")))
    expected.append(("delete", await b.delete("s", "g", "x")))
    await until(lambda: len(group.frames) >= len(expected))
    await asyncio.sleep(0.05)  # a duplicate would arrive now
    assert group.events == expected
    assert item.events == [("sync", None)] + [
        e for e, f in zip(expected[1:], group.frames[1:], strict=True) if f.item_id == "x"
    ]
    stamps = [frame.timestamp for frame in group.frames[1:]]
    assert stamps == sorted(stamps)
    assert group.frames[0].timestamp <= stamps[0]


async def test_a_subscriber_that_raises_is_logged_and_the_others_still_get_the_frame(
    make_pair: MakePair, caplog: pytest.LogCaptureFixture
) -> None:
    a, b = await make_pair()

    def broken(frame: Frame) -> None:
        raise RuntimeError("listener bug")

    await b.subscribe(Room("s", "g"), broken)  # its sync raises too: logged, not raised
    good = Recorder()
    await b.subscribe(Room("s", "g"), good)
    created = await a.set("s", "g", "x", {"n": 1})
    await until(lambda: len(good.frames) == 2)
    assert good.events == [("sync", []), ("create", created)]
    failures = [r for r in caplog.records if "failed to take a frame for s/g" in r.getMessage()]
    assert len(failures) == 2  # the sync and the create
    assert all(r.exc_info and "listener bug" in str(r.exc_info[1]) for r in failures)


async def test_a_sync_and_the_frames_after_it_miss_nothing_and_repeat_nothing(
    make_pair: MakePair,
) -> None:
    a, b = await make_pair()
    writes = 150
    recorders: list[Recorder] = []

    async def writer() -> None:
        for _ in range(writes):
            await a.update("s", "g", "n", [{"type": "increment", "path": "n"}])

    async def joiner() -> None:
        rng = random.Random(7)
        for _ in range(15):
            await asyncio.sleep(rng.uniform(0, 0.01))
            recorder = Recorder()
            recorders.append(recorder)
            await b.subscribe(Room("s", "g", "n"), recorder)

    await asyncio.gather(writer(), joiner())
    for recorder in recorders:
        await until(lambda r=recorder: (r.frames[-1].event["data"] or {}).get("n") == writes)
    await asyncio.sleep(0.05)
    for recorder in recorders:
        kinds = [kind for kind, _ in recorder.events]
        assert kinds[0] == "sync"
        assert "sync" not in kinds[1:]
        values = [(data or {}).get("n", 0) for _, data in recorder.events]
        assert values == list(range(values[0], writes + 1)), values  # no gap, no repeat


async def test_concurrent_increments_through_both_are_all_applied(make_pair: MakePair) -> None:
    a, b = await make_pair()
    ops = [{"type": "increment", "path": "n"}]
    await asyncio.gather(*(store.update("s", "g", "c", ops) for store in (a, b) * 60))
    assert await b.get("s", "g", "c") == {"n": 120, "id": "c"}


async def test_the_limits_count_every_process_writes(make_pair: MakePair) -> None:
    a, b = await make_pair(limits=StoreLimits(max_group_items=3, max_store_bytes=400))
    sink = Recorder()
    await a.subscribe(Room("s", "g"), sink)
    await a.set("s", "g", "x", {})
    await a.set("s", "g", "y", {})
    await b.set("s", "g", "z", {})
    with pytest.raises(StoreFull, match="group s/g is full: 3 items at most"):
        await b.set("s", "g", "w", {})
    await b.set("s", "g", "x", {"v": 1})  # an existing item may change
    await a.delete("s", "g", "y")
    await b.set("s", "g", "w", {})  # the delete made room
    await until(lambda: len(sink.frames) == 7)
    assert [kind for kind, _ in sink.events] == [
        "sync",
        *("create", "create", "create", "update", "delete", "create"),
    ]
    await a.set("s", "other", "big", {"blob": "x" * 300})
    with pytest.raises(StoreFull, match="the store is full: 400 bytes at most"):
        await b.set("s", "third", "big", {"blob": "x" * 100})
    await b.set("s", "other", "big", {"blob": "x" * 10})  # a shrink is always accepted
    await b.set("s", "third", "big", {"blob": "x" * 100})  # and now it fits
    assert await a.get("s", "g", "w") == {"id": "w"}


async def test_group_bytes_bound_growth_across_processes(make_pair: MakePair) -> None:
    a, b = await make_pair(limits=StoreLimits(max_group_bytes=1_000))
    await a.set("s", "g", "a", {"blob": "x" * 500})
    with pytest.raises(StoreFull, match="group s/g is full: 1000 bytes at most"):
        await b.set("s", "g", "b", {"blob": "x" * 500})
    with pytest.raises(StoreFull):
        await b.update("s", "g", "a", [{"type": "set", "path": "more", "value": "y" * 600}])
    assert await b.get("s", "g", "b") is None
    await b.set("s", "g", "a", {"blob": "x" * 10})
    await a.set("s", "g", "b", {"blob": "x" * 500})


async def test_delete_if_deletes_only_the_expected_value(make_pair: MakePair) -> None:
    a, b = await make_pair()
    sink = Recorder()
    await b.subscribe(Room("s", "g"), sink)
    item = await a.set("s", "g", "p", {"watching": 0})
    await b.update("s", "g", "p", [{"type": "increment", "path": "watching"}])
    assert await a.delete_if("s", "g", "p", item) is False  # someone counted in meanwhile
    assert await a.get("s", "g", "p") == {"watching": 1, "id": "p"}
    assert await a.delete_if("s", "g", "missing", item) is False
    current = await b.get("s", "g", "p")
    assert current is not None
    assert await b.delete_if("s", "g", "p", current) is True
    assert await a.get("s", "g", "p") is None
    await until(lambda: len(sink.frames) == 4)
    await asyncio.sleep(0.02)
    assert [kind for kind, _ in sink.events] == ["sync", "create", "update", "delete"]


async def test_order_and_group_listing_are_shared(make_pair: MakePair) -> None:
    a, b = await make_pair()
    for n, item_id in enumerate(("b", "a", "c")):
        await (a, b)[n % 2].set("s", "g1", item_id, {"n": item_id})
    await b.set("s", "g1", "b", {"n": "b2"})
    await a.set("s", "g2", "z", {})
    await b.set("other", "g3", "z", {})
    assert [item["id"] for item in await b.list_group("s", "g1")] == ["b", "a", "c"]
    assert await a.list_groups("s") == ["g1", "g2"]
    await b.delete("s", "g2", "z")
    assert await a.list_groups("s") == ["g1"]
    assert await a.list_group("s", "missing") == []
    sync = Recorder()
    await a.subscribe(Room("s", "g1"), sync)
    assert [item["id"] for item in sync.frames[0].event["data"]] == ["b", "a", "c"]


class Thing(BaseModel):
    name: str


async def test_bad_writes_are_refused_the_same_way(make_pair: MakePair) -> None:
    registry = StreamRegistry([StreamConfig("things", Thing)])
    a, b = await make_pair(validator=registry.validate)
    sink = Recorder()
    await b.subscribe(Room("things", "g"), sink)
    with pytest.raises(SchemaError, match="name"):
        await a.set("things", "g", "x", {"size": 1})
    with pytest.raises(NotJsonError):
        await a.set("things", "g", "x", {"name": float("nan")})
    with pytest.raises(StoreError, match="item_id"):
        await a.set("things", "g", "", {"name": "n"})
    with pytest.raises(StoreError, match="Unicode"):
        await a.send_event("things", "g\ud800", "t", None)
    await a.set("things", "g", "ok", {"name": "n"})
    await until(lambda: len(sink.frames) == 2)
    assert [kind for kind, _ in sink.events] == ["sync", "create"]


# -- Redis only ------------------------------------------------------------------------------


async def test_an_unreachable_redis_is_a_clear_error_without_the_password() -> None:
    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    store = RedisStore(url)
    assert "hunter2" not in repr(store)
    with pytest.raises(StoreUnavailable) as info:
        await store.open()
    message = str(info.value)
    assert message.startswith(f"cannot reach Redis at redis://:***@127.0.0.1:{url.split(':')[-1]}")
    assert "hunter2" not in message


async def test_a_lost_fan_out_connection_is_reported_and_delivery_resumes(
    redis_url: str, prefix: str
) -> None:
    a, b = RedisStore(redis_url, prefix=prefix), RedisStore(redis_url, prefix=prefix)
    await a.open()
    await b.open()
    reasons: list[str] = []
    b.on_lost_frames(reasons.append)
    sink = Recorder()
    await b.subscribe(Room("s", "g"), sink)
    admin = aioredis.Redis.from_url(redis_url)
    try:
        await a.set("s", "g", "before", {})
        await until(lambda: len(sink.frames) == 2)
        assert reasons == []
        await admin.client_kill_filter(_type="pubsub")  # both stores' fan-out links
        await a.set("s", "g", "during", {})
        await until(lambda: bool(reasons))
        assert "fan-out connection" in reasons[0]
        await asyncio.sleep(0.2)  # redis-py subscribes again
        await a.set("s", "g", "after", {})
        await until(lambda: sink.frames[-1].item_id == "after")
    finally:
        await admin.aclose()
        await a.close()
        await b.close()


async def test_a_change_committed_while_a_join_reads_its_snapshot_is_not_lost(
    redis_url: str, prefix: str
) -> None:
    """Forces the race: a write commits after B's snapshot and its message reaches B
    before B's subscribe has finished. It must still reach the new subscriber."""
    a, b = RedisStore(redis_url, prefix=prefix), RedisStore(redis_url, prefix=prefix)
    await a.open()
    await b.open()
    snapshot = b._snapshot

    async def snapshot_then_a_write(**kwargs: Any) -> Any:
        result = await snapshot(**kwargs)
        await a.set("s", "g", "late", {})
        await until(lambda: b._seen is not None and b._seen >= int(result[0]) + 1)
        return result

    b._snapshot = snapshot_then_a_write
    sink = Recorder()
    try:
        await b.subscribe(Room("s", "g"), sink)
        assert sink.events == [("sync", []), ("create", {"id": "late"})]
    finally:
        await a.close()
        await b.close()


async def test_a_change_already_in_the_sync_is_not_delivered_again(
    redis_url: str, prefix: str
) -> None:
    """Forces the other race: B's fan-out is slow, so the message of a write arrives
    after a join's snapshot already holds it. It must not be delivered twice."""
    a, b = RedisStore(redis_url, prefix=prefix), RedisStore(redis_url, prefix=prefix)
    await a.open()
    await b.open()
    held: list[str] = []
    dispatch = b._dispatch
    b._dispatch = held.append  # type: ignore[method-assign]
    sink = Recorder()
    try:
        await a.set("s", "g", "x", {"v": 1})
        await until(lambda: len(held) == 1)
        await b.subscribe(Room("s", "g"), sink)
        for raw in held:
            dispatch(raw)
        b._dispatch = dispatch  # type: ignore[method-assign]
        await a.set("s", "g", "x", {"v": 2})
        await until(lambda: len(sink.frames) >= 2)
        await asyncio.sleep(0.05)
        assert sink.events == [("sync", [{"v": 1, "id": "x"}]), ("update", {"v": 2, "id": "x"})]
    finally:
        await a.close()
        await b.close()
