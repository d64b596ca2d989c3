"""MemoryStore: writes, frames, fan-out, sync-first subscribe, validation, triggers, isolation."""

from __future__ import annotations

import asyncio
import math
import threading
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from server_stub import Change, MemoryStore, Room, StreamStore
from server_stub.errors import ItemNotFound, NotJsonError, OpError, SchemaError, StoreError
from server_stub.frames import Frame, Item
from server_stub.streams import StreamConfig, StreamRegistry


class Recorder:
    """A sink that records frames."""

    def __init__(self) -> None:
        self.frames: list[Frame] = []

    def __call__(self, frame: Frame) -> None:
        self.frames.append(frame)

    @property
    def events(self) -> list[tuple[str, Any]]:
        return [(f.event["type"], f.event.get("data", f.event.get("event"))) for f in self.frames]


async def test_it_implements_the_store_protocol() -> None:
    assert isinstance(MemoryStore(), StreamStore)


async def test_set_creates_then_updates_and_adds_the_id() -> None:
    store = MemoryStore()
    sink = Recorder()
    await store.subscribe(Room("s", "g"), sink)
    first = await store.set("s", "g", "a", {"x": 1, "id": "ignored"})
    second = await store.set("s", "g", "a", {"x": 2})
    assert first == {"x": 1, "id": "a"}
    assert second == {"x": 2, "id": "a"}
    assert sink.events == [("sync", []), ("create", first), ("update", second)]
    assert await store.get("s", "g", "a") == second


async def test_delete_sends_the_last_value_and_null_for_a_missing_item() -> None:
    store = MemoryStore()
    sink = Recorder()
    await store.set("s", "g", "a", {"x": 1})
    await store.subscribe(Room("s", "g"), sink)
    assert await store.delete("s", "g", "a") == {"x": 1, "id": "a"}
    assert await store.delete("s", "g", "a") is None
    assert sink.events[1:] == [("delete", {"x": 1, "id": "a"}), ("delete", None)]
    assert [f.item_id for f in sink.frames[1:]] == ["a", "a"]
    assert await store.get("s", "g", "a") is None
    assert await store.list_groups("s") == []


async def test_list_group_keeps_creation_order_and_list_groups_names_non_empty_groups() -> None:
    store = MemoryStore()
    for item_id in ("b", "a", "c"):
        await store.set("s", "g1", item_id, {"n": item_id})
    await store.set("s", "g1", "b", {"n": "b2"})
    await store.set("s", "g2", "z", {})
    await store.set("other", "g3", "z", {})
    assert [item["id"] for item in await store.list_group("s", "g1")] == ["b", "a", "c"]
    assert await store.list_groups("s") == ["g1", "g2"]
    assert await store.list_group("s", "missing") == []


async def test_subscribe_sends_the_sync_first() -> None:
    store = MemoryStore()
    await store.set("s", "g", "a", {"v": 1})
    group, item, missing = Recorder(), Recorder(), Recorder()
    await store.subscribe(Room("s", "g"), group)
    await store.subscribe(Room("s", "g", "a"), item)
    await store.subscribe(Room("s", "g", "nope"), missing)
    assert group.events == [("sync", [{"v": 1, "id": "a"}])]
    assert item.events == [("sync", {"v": 1, "id": "a"})]
    assert missing.events == [("sync", None)]
    assert missing.frames[0].item_id == "nope"


async def test_fan_out_is_one_copy_per_subscription() -> None:
    store = MemoryStore()
    group_a, group_b, item, other_item, other_group = (Recorder() for _ in range(5))
    await store.subscribe(Room("s", "g"), group_a)
    await store.subscribe(Room("s", "g"), group_b)
    await store.subscribe(Room("s", "g", "a"), item)
    await store.subscribe(Room("s", "g", "b"), other_item)
    await store.subscribe(Room("s", "g2"), other_group)
    await store.set("s", "g", "a", {})
    assert [len(r.frames) for r in (group_a, group_b, item, other_item, other_group)] == [
        2,
        2,
        2,
        1,
        1,
    ]


async def test_the_same_sink_twice_gets_two_copies() -> None:
    store = MemoryStore()
    sink = Recorder()
    await store.subscribe(Room("s", "g"), sink)
    await store.subscribe(Room("s", "g", "a"), sink)
    await store.set("s", "g", "a", {})
    assert [e for e, _ in sink.events] == ["sync", "sync", "create", "create"]


async def test_custom_events_reach_the_group_or_the_item_and_its_group() -> None:
    store = MemoryStore()
    group, item, other = Recorder(), Recorder(), Recorder()
    await store.subscribe(Room("s", "g"), group)
    await store.subscribe(Room("s", "g", "a"), item)
    await store.subscribe(Room("s", "g", "b"), other)
    await store.send_event("s", "g", "ping", {"n": 1})
    await store.send_event("s", "g", "poke", [1], item_id="a")
    expected_group = {"type": "ping", "data": {"n": 1}}
    expected_item = {"type": "poke", "data": [1]}
    assert group.events[1:] == [("event", expected_group), ("event", expected_item)]
    assert item.events[1:] == [("event", expected_item)]
    assert other.events[1:] == []
    assert group.frames[1].item_id is None
    assert item.frames[1].item_id == "a"


async def test_unsubscribe_stops_delivery_and_ignores_unknown_tokens() -> None:
    store = MemoryStore()
    sink = Recorder()
    token = await store.subscribe(Room("s", "g"), sink)
    assert store.subscriber_count(Room("s", "g")) == 1
    await store.unsubscribe(token)
    await store.unsubscribe(token)
    await store.set("s", "g", "a", {})
    assert len(sink.frames) == 1
    assert store.subscriber_count(Room("s", "g")) == 0


async def test_update_creates_unless_must_exist() -> None:
    store = MemoryStore()
    ops = [{"type": "increment", "path": "watching", "by": 1}]
    assert await store.update("inbox", "watching", "inbox", ops) == {"watching": 1, "id": "inbox"}
    assert await store.update("inbox", "watching", "inbox", ops) == {"watching": 2, "id": "inbox"}
    with pytest.raises(ItemNotFound):
        await store.update("inbox", "watching", "other", ops, must_exist=True)
    assert await store.get("inbox", "watching", "other") is None


async def test_a_failing_op_changes_nothing_and_sends_nothing() -> None:
    store = MemoryStore()
    await store.set("s", "g", "a", {"n": "text"})
    sink = Recorder()
    await store.subscribe(Room("s", "g"), sink)
    with pytest.raises(OpError):
        await store.update(
            "s",
            "g",
            "a",
            [{"type": "set", "path": "m", "value": 1}, {"type": "increment", "path": "n"}],
        )
    assert await store.get("s", "g", "a") == {"n": "text", "id": "a"}
    assert len(sink.frames) == 1


async def test_concurrent_increments_are_all_applied() -> None:
    store = MemoryStore()
    ops = [{"type": "increment", "path": "n"}]
    await asyncio.gather(*(store.update("s", "g", "c", ops) for _ in range(200)))
    assert await store.get("s", "g", "c") == {"n": 200, "id": "c"}


class Thing(BaseModel):
    name: str
    size: int = 0


async def test_schema_validation_rejects_bad_writes() -> None:
    registry = StreamRegistry([StreamConfig("things", Thing)])
    store = MemoryStore(validator=registry.validate)
    sink = Recorder()
    await store.subscribe(Room("things", "g"), sink)
    await store.set("things", "g", "a", {"name": "ok", "extra": True})
    with pytest.raises(SchemaError) as info:
        await store.set("things", "g", "b", {"size": "big"})
    fields = {error.field for error in info.value.errors}
    assert fields == {"name", "size"}
    with pytest.raises(SchemaError):
        await store.update("things", "g", "a", [{"type": "set", "path": "size", "value": "x"}])
    assert await store.get("things", "g", "a") == {"name": "ok", "extra": True, "id": "a"}
    assert [e for e, _ in sink.events] == ["sync", "create"]
    await store.set("free-form", "g", "a", {"anything": [1, 2]})


@pytest.mark.parametrize("bad", [{"x": math.nan}, {"x": {1, 2}}, {"x": object()}])
async def test_data_must_be_json(bad: dict[str, Any]) -> None:
    store = MemoryStore()
    with pytest.raises(NotJsonError):
        await store.set("s", "g", "a", bad)
    with pytest.raises(NotJsonError):
        await store.send_event("s", "g", "t", bad)


async def test_names_and_data_are_checked() -> None:
    store = MemoryStore()
    with pytest.raises(StoreError, match="item_id"):
        await store.set("s", "g", "", {})
    with pytest.raises(StoreError, match="stream"):
        await store.set(3, "g", "a", {})  # type: ignore[arg-type]
    with pytest.raises(StoreError, match="Unicode"):
        await store.send_event("s", "g\ud800", "t", None)
    assert await store.set("s", "gé✓", "a", {}) == {"id": "a"}
    with pytest.raises(StoreError, match="JSON object"):
        await store.set("s", "g", "a", [1, 2])  # type: ignore[arg-type]


async def test_callers_never_alias_stored_values() -> None:
    store = MemoryStore()
    data = {"tags": ["a"]}
    item = await store.set("s", "g", "a", data)
    data["tags"].append("b")
    item["tags"].append("c")
    got = await store.get("s", "g", "a")
    assert got is not None
    got["tags"].append("d")
    (await store.list_group("s", "g"))[0]["tags"].append("e")
    assert await store.get("s", "g", "a") == {"tags": ["a"], "id": "a"}


async def test_timestamps_never_go_backwards() -> None:
    store = MemoryStore()
    sink = Recorder()
    await store.subscribe(Room("s", "g"), sink)
    for n in range(50):
        await store.set("s", "g", "a", {"n": n})
    stamps = [frame.timestamp for frame in sink.frames]
    assert stamps == sorted(stamps)
    assert all(isinstance(stamp, int) and stamp > 1_600_000_000_000 for stamp in stamps)


async def test_triggers_see_changes_and_their_errors_stay_isolated() -> None:
    store = MemoryStore()
    seen: list[tuple[str, Item | None, Item | None]] = []

    async def record(change: Change) -> None:
        seen.append((change.kind, change.old, change.new))

    async def explode(change: Change) -> None:
        raise RuntimeError("boom")

    store.add_trigger("s", explode)
    store.add_trigger("s", record)
    await store.set("s", "g", "a", {"v": 1})
    await store.update("s", "g", "a", [{"type": "set", "path": "v", "value": 2}])
    await store.delete("s", "g", "a")
    await store.delete("s", "g", "a")
    await store.set("other", "g", "a", {})
    assert seen == [
        ("create", None, {"v": 1, "id": "a"}),
        ("update", {"v": 1, "id": "a"}, {"v": 2, "id": "a"}),
        ("delete", {"v": 2, "id": "a"}, None),
    ]


async def test_a_failing_sink_does_not_stop_the_others() -> None:
    store = MemoryStore()
    good = Recorder()

    def bad(frame: Frame) -> None:
        if frame.event["type"] != "sync":
            raise RuntimeError("sink failure")

    await store.subscribe(Room("s", "g"), bad)
    await store.subscribe(Room("s", "g"), good)
    await store.set("s", "g", "a", {})
    assert [e for e, _ in good.events] == ["sync", "create"]


async def test_the_store_refuses_a_foreign_event_loop() -> None:
    store = MemoryStore()
    await store.open()
    errors: list[BaseException] = []

    def other_thread() -> None:
        try:
            asyncio.run(store.get("s", "g", "a"))
        except RuntimeError as exc:
            errors.append(exc)

    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join(5)
    assert errors
    assert "stub.run(" in str(errors[0])
    await store.close()
    assert await store.get("s", "g", "a") is None


_WRITES = st.lists(
    st.tuples(
        st.sampled_from(["set", "update", "delete", "event"]),
        st.sampled_from(["a", "b", "c"]),
        st.integers(-5, 5),
    ),
    max_size=30,
)


@settings(max_examples=60, deadline=None)
@given(_WRITES)
def test_replaying_the_frames_rebuilds_the_group_and_each_item(
    writes: list[tuple[str, str, int]],
) -> None:
    """A subscriber that applies its frames in order always ends with the store's state."""

    async def scenario() -> None:
        store = MemoryStore()
        group, item_a = Recorder(), Recorder()
        await store.set("s", "g", "b", {"n": 0})
        await store.subscribe(Room("s", "g"), group)
        await store.subscribe(Room("s", "g", "a"), item_a)
        for kind, item_id, n in writes:
            if kind == "set":
                await store.set("s", "g", item_id, {"n": n})
            elif kind == "update":
                await store.update("s", "g", item_id, [{"type": "increment", "path": "n", "by": n}])
            elif kind == "delete":
                await store.delete("s", "g", item_id)
            else:
                await store.send_event("s", "g", "tick", n, item_id=item_id)
        rebuilt: dict[str, Any] = {}
        for frame in group.frames:
            kind = frame.event["type"]
            if kind == "sync":
                rebuilt = {item["id"]: item for item in frame.event["data"]}
            elif kind in ("create", "update"):
                rebuilt[frame.item_id or ""] = frame.event["data"]
            elif kind == "delete":
                rebuilt.pop(frame.item_id or "", None)
        assert rebuilt == {item["id"]: item for item in await store.list_group("s", "g")}
        last_a: Any = None
        for frame in item_a.frames:
            kind = frame.event["type"]
            if kind != "event":
                last_a = frame.event["data"] if kind != "delete" else None
        assert last_a == await store.get("s", "g", "a")
        assert all(frame.item_id in (None, "a") for frame in item_a.frames)

    asyncio.run(scenario())
