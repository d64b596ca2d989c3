"""Subscriptions: state, local multiplexing, custom events, changes()/wait_for(), models,
and the Motia 0.x quirks of PROTOCOL.md section 4.

No socket is needed for any of it: the client runs against the in-memory
``FakeMotiaServer``, which answers joins and fans frames out as the real servers do;
the quirks are exact frames it sends as they are.
"""

from __future__ import annotations

import asyncio
import gc
import json
import weakref
from collections.abc import Callable
from typing import Any

import pydantic
import pytest

from motia_client import (
    AsyncStreamClient,
    ClientClosedError,
    GroupSubscription,
    Items,
    ItemSubscription,
    ItemValidationError,
    MotiaError,
    MotiaTimeout,
)
from motia_client.testing import FakeMotiaServer
from tests.client.conftest import WAIT

pytestmark = pytest.mark.timeout(30)

MakeClient = Callable[..., AsyncStreamClient]


@pytest.fixture
def server() -> FakeMotiaServer:
    """The in-memory Motia 0.x server the tests here talk to."""
    return FakeMotiaServer()


def todo(todo_id: str, created: str, **extra: Any) -> dict[str, Any]:
    return {"id": todo_id, "description": f"do {todo_id}", "createdAt": created, **extra}


class Counter:
    """A change listener that counts calls and keeps every state it saw."""

    def __init__(self) -> None:
        self.states: list[Any] = []

    def __call__(self, state: Any) -> None:
        self.states.append(state)

    @property
    def count(self) -> int:
        return len(self.states)


# -- state ---------------------------------------------------------------------------


async def test_group_follows_creates_updates_and_deletes_in_sort_order(
    server: FakeMotiaServer, fake_client: MakeClient
) -> None:
    server.seed("todo", "inbox", todo("b", "2"), todo("a", "1"))
    async with fake_client(server) as client:
        sub = client.subscribe_group("todo", "inbox", sort_key="createdAt")
        assert isinstance(sub, GroupSubscription)
        first = await sub.wait_for(lambda items: len(items) == 2, timeout=WAIT)
        assert isinstance(first, Items)
        assert [t["id"] for t in first] == ["a", "b"]
        await server.set("todo", "inbox", todo("c", "0"))
        items = await sub.wait_for(lambda items: len(items) == 3, timeout=WAIT)
        assert [t["id"] for t in items] == ["c", "a", "b"]
        await server.set("todo", "inbox", todo("c", "9", done=True))
        items = await sub.wait_for(lambda items: items[-1]["id"] == "c", timeout=WAIT)
        assert items[-1]["done"] is True
        await server.delete("todo", "inbox", "a")
        items = await sub.wait_for(lambda items: len(items) == 2, timeout=WAIT)
        assert [t["id"] for t in items] == ["b", "c"]
        assert sub.ids == ("b", "c")  # the ids in the items' (sorted) order
        assert sub.items_by_id["b"] == todo("b", "2")
        assert set(sub.items_by_id) == {"b", "c"}
        assert len(sub) == 2
        # snapshots handed out earlier never change
        assert [t["id"] for t in first] == ["a", "b"]
        assert [t["id"] for t in sub.state] == ["b", "c"]


async def test_item_follows_its_item_and_nothing_else(
    server: FakeMotiaServer, fake_client: MakeClient
) -> None:
    server.seed("todo", "inbox", todo("a", "1"), todo("b", "2"))
    async with fake_client(server) as client:
        sub = client.subscribe_item("todo", "inbox", "a")
        assert isinstance(sub, ItemSubscription)
        seen = Counter()
        sub.add_change_listener(seen)
        assert await sub.wait_for(lambda item: item is not None, timeout=WAIT) == todo("a", "1")
        await server.set("todo", "inbox", todo("b", "3"))  # another item: not ours
        await server.set("todo", "inbox", todo("a", "4"))
        assert await sub.wait_for(lambda item: item["createdAt"] == "4", timeout=WAIT)
        await server.delete("todo", "inbox", "a")
        assert await sub.wait_for(lambda item: item is None, timeout=WAIT) is None
        assert sub.synced
        assert seen.states == [todo("a", "1"), todo("a", "4"), None]


async def test_one_join_per_room_and_a_leave_only_from_the_last_subscriber(
    server: FakeMotiaServer, fake_client: MakeClient
) -> None:
    server.seed("todo", "inbox", todo("a", "1"))
    async with fake_client(server) as client:
        groups = [client.subscribe_group("todo", "inbox") for _ in range(3)]
        items = [client.subscribe_item("todo", "inbox", "a") for _ in range(2)]
        for sub in (*groups, *items):
            await sub.wait_for(lambda state: bool(state), timeout=WAIT)
        conn = server.connections[0]
        assert len(conn.joins) == 2
        late = client.subscribe_group("todo", "inbox", sort_key="createdAt")
        assert late.synced  # the room is synced already: no new join, state at once
        assert [t["id"] for t in late.state] == ["a"]
        for sub in (*groups, late):
            await sub.close()
        for sub in items[:1]:
            await sub.close()
        # a join that round-trips: any leave sent before it has arrived by then
        probe = client.subscribe_group("todo", "probe")
        await server.wait_until(lambda: len(conn.joins) == 3)
        group_join = next(j for j in conn.joins if j.get("id") is None)
        assert conn.leaves == [group_join]  # the group's last subscriber left: same data
        assert len(server.subscriptions) == 2
        await items[1].close()
        item_join = next(j for j in conn.joins if j.get("id") == "a")
        await server.wait_until(lambda: len(conn.leaves) == 2)
        assert conn.leaves[1] == item_join
        await probe.close()
        await server.wait_until(lambda: len(server.subscriptions) == 0)
        assert all(sub.closed for sub in (*groups, *items))


async def test_a_closed_subscription_and_its_items_are_freed_at_once(
    server: FakeMotiaServer, fake_client: MakeClient
) -> None:
    # Freed by reference counting, not at some later garbage collection: a big
    # group's items must not outlive the subscription that held them.
    server.seed("todo", "inbox", todo("a", "1"))
    async with fake_client(server) as client:
        sub = client.subscribe_group("todo", "inbox")
        sub.add_change_listener(lambda items: None)
        await sub.wait_for(lambda items: len(items) == 1, timeout=WAIT)
        await server.set("todo", "inbox", todo("b", "2"))
        await sub.wait_for(lambda items: len(items) == 2, timeout=WAIT)
        gone = weakref.ref(sub)
        gc.disable()
        try:
            await sub.close()
            del sub
            assert gone() is None
        finally:
            gc.enable()


async def test_subscribe_then_close_at_once_keeps_join_and_leave_in_order(
    server: FakeMotiaServer, fake_client: MakeClient
) -> None:
    async with fake_client(server) as client:
        sub = client.subscribe_group("todo", "inbox")
        await sub.close()  # before the join went out
        probe = client.subscribe_item("todo", "inbox", "probe")
        conn = server.connections[0]
        await server.wait_until(lambda: any(j.get("id") == "probe" for j in conn.joins))
        kinds = [(f["type"], f["data"].get("id")) for f in conn.received]
        assert kinds in ([("join", None), ("leave", None), ("join", "probe")], [("join", "probe")])
        assert len(server.subscriptions) == 1
        await probe.close()


@pytest.mark.parametrize("dialect", ["motia", "iii"])
async def test_overlapping_subscriptions_hear_each_event_and_change_exactly_once(
    fake_client: MakeClient, dialect: str
) -> None:
    server = FakeMotiaServer(dialect)  # type: ignore[arg-type]
    server.seed("todo", "inbox", todo("a", "1"))
    async with fake_client(server) as client:
        group = client.subscribe_group("todo", "inbox")
        group2 = client.subscribe_group("todo", "inbox", sort_key="createdAt")
        item = client.subscribe_item("todo", "inbox", "a")
        other = client.subscribe_item("todo", "inbox", "b")
        subs = {"group": group, "group2": group2, "item": item, "other": other}
        for sub in (group, group2, item):
            await sub.wait_for(lambda state: bool(state), timeout=WAIT)
        heard: dict[str, list[Any]] = {name: [] for name in subs}
        changes = {name: Counter() for name in subs}
        done = asyncio.Event()
        for name, sub in subs.items():
            sub.on_event("ping", heard[name].append)
            sub.on_event("marker", lambda data: done.set())
            sub.add_change_listener(changes[name])  # called at once when synced
        at_once = [changes[name].count for name in subs]
        assert at_once == [1, 1, 1, 1 if dialect == "iii" else 0]  # iii syncs a missing item
        # two server-side subscriptions match an item-level frame: two copies arrive
        assert await server.send_event("todo", "inbox", "ping", {"n": 1}, item_id="a") == 2
        assert await server.send_event("todo", "inbox", "ping", {"n": 2}) == 1  # group level
        assert await server.set("todo", "inbox", todo("a", "5")) == 2
        assert await server.send_event("todo", "inbox", "ping", {"n": 3}, item_id="b") == 2
        await server.send_event("todo", "inbox", "marker", None, item_id="a")
        await asyncio.wait_for(done.wait(), WAIT)
        assert heard == {
            "group": [{"n": 1}, {"n": 2}, {"n": 3}],
            "group2": [{"n": 1}, {"n": 2}, {"n": 3}],
            "item": [{"n": 1}],
            "other": [{"n": 3}],
        }
        assert [changes[name].count - n for name, n in zip(subs, at_once, strict=True)] == [
            1,
            1,
            1,
            0,
        ]
        assert item.state == todo("a", "5")
        assert group.items_by_id["a"] == todo("a", "5")


async def test_on_any_event_hears_every_type_once_until_removed(
    server: FakeMotiaServer, fake_client: MakeClient
) -> None:
    server.seed("todo", "inbox", todo("a", "1"))
    async with fake_client(server) as client:
        group = client.subscribe_group("todo", "inbox")
        item = client.subscribe_item("todo", "inbox", "a")  # overlapping: two copies arrive
        for sub in (group, item):
            await sub.wait_for(lambda state: bool(state), timeout=WAIT)
        heard: list[tuple[str, Any]] = []
        done = asyncio.Event()
        remove = group.on_any_event(lambda kind, data: heard.append((kind, data)))
        group.on_event("marker", lambda data: done.set())
        await server.send_event("todo", "inbox", "ping", {"n": 1}, item_id="a")
        await server.send_event("todo", "inbox", "deploy", "v2")
        await server.send_event("todo", "inbox", "marker", None, item_id="a")
        await asyncio.wait_for(done.wait(), WAIT)
        assert heard == [("ping", {"n": 1}), ("deploy", "v2"), ("marker", None)]
        remove()
        done.clear()
        await server.send_event("todo", "inbox", "ping", {"n": 2})
        await server.send_event("todo", "inbox", "marker", None)
        await asyncio.wait_for(done.wait(), WAIT)
        assert len(heard) == 3


async def test_changes_yields_the_current_state_then_each_change(
    server: FakeMotiaServer, fake_client: MakeClient
) -> None:
    server.seed("todo", "inbox", todo("a", "1"))
    async with fake_client(server) as client:
        sub = client.subscribe_group("todo", "inbox")
        await sub.wait_for(lambda items: len(items) == 1, timeout=WAIT)
        seen: list[list[str]] = []

        async def follow() -> None:
            async for items in sub.changes():
                seen.append([t["id"] for t in items])
                if len(seen) == 1:
                    await server.set("todo", "inbox", todo("b", "2"))
                elif len(seen) == 2:
                    await server.delete("todo", "inbox", "a")
                else:
                    break

        await asyncio.wait_for(follow(), WAIT)
        assert seen == [["a"], ["a", "b"], ["b"]]
        assert sub._sink.waiters == []


async def test_wait_for_times_out_with_motia_timeout(
    server: FakeMotiaServer, fake_client: MakeClient
) -> None:
    async with fake_client(server) as client:
        sub = client.subscribe_group("todo", "inbox")
        with pytest.raises(MotiaTimeout, match=r"0\.05") as info:
            await sub.wait_for(lambda items: len(items) > 0, timeout=0.05)
        assert isinstance(info.value, TimeoutError)
        assert sub._sink.waiters == []


async def test_wait_for_leaves_no_iterator_behind(
    server: FakeMotiaServer, fake_client: MakeClient
) -> None:
    server.seed("todo", "inbox", todo("a", "1"))
    async with fake_client(server) as client:
        sub = client.subscribe_group("todo", "inbox")
        await sub.wait_for(lambda items: len(items) == 1, timeout=WAIT)
        assert sub._sink.waiters == []


async def test_a_closed_subscription_refuses_new_waits(
    server: FakeMotiaServer, fake_client: MakeClient
) -> None:
    async with fake_client(server) as client:
        sub = client.subscribe_group("todo", "inbox")
        await sub.close()
        await sub.close()  # idempotent
        with pytest.raises(ClientClosedError):
            await sub.wait_for(lambda items: True, timeout=WAIT)


async def test_async_listeners_are_awaited(
    server: FakeMotiaServer, fake_client: MakeClient
) -> None:
    server.seed("todo", "inbox", todo("a", "1"))
    async with fake_client(server) as client:
        sub = client.subscribe_group("todo", "inbox")
        finished: list[str] = []
        both = asyncio.Event()

        async def on_change(items: Items[Any]) -> None:
            await asyncio.sleep(0)
            finished.append(f"change {len(items)}")
            if len(finished) == 2:
                both.set()

        async def on_ping(data: Any) -> None:
            await asyncio.sleep(0)
            finished.append(f"ping {data}")
            if len(finished) == 2:
                both.set()

        sub.add_change_listener(on_change)
        sub.on_event("ping", on_ping)
        await sub.wait_for(lambda items: len(items) == 1, timeout=WAIT)
        await server.send_event("todo", "inbox", "ping", 7)
        await asyncio.wait_for(both.wait(), WAIT)
        assert sorted(finished) == ["change 1", "ping 7"]


async def test_removed_listeners_are_not_called(
    server: FakeMotiaServer, fake_client: MakeClient
) -> None:
    async with fake_client(server) as client:
        sub = client.subscribe_group("todo", "inbox")
        kept, dropped, dropped_event = Counter(), Counter(), Counter()
        sub.add_change_listener(kept)
        remove = sub.add_change_listener(dropped)
        off = sub.on_event("ping", dropped_event)
        errors: list[MotiaError] = []
        off_error = sub.on_error(errors.append)
        remove()
        remove()  # twice is harmless
        off()
        off_error()
        off_error()
        sub.remove_change_listener(Counter())  # unknown: ignored
        sub.off_event("nothing", dropped_event)
        await sub.wait_for(lambda items: True, timeout=WAIT)  # synced (an empty group)
        await server.send_event("todo", "inbox", "ping", 1)
        await server.set("todo", "inbox", todo("a", "1"))
        await sub.wait_for(lambda items: len(items) == 1, timeout=WAIT)
        assert (kept.count, dropped.count, dropped_event.count) == (2, 0, 0)


# -- models -----------------------------------------------------------------------


class Todo(pydantic.BaseModel):
    id: str
    description: str
    createdAt: str


async def test_model_validates_each_item_on_its_own(
    server: FakeMotiaServer, fake_client: MakeClient
) -> None:
    server.seed("todo", "inbox", todo("a", "1"), {"id": "bad", "description": 3}, todo("b", "2"))
    async with fake_client(server) as client:
        typed = client.subscribe_group("todo", "inbox", sort_key="createdAt", model=Todo)
        raw = client.subscribe_group("todo", "inbox")
        item = client.subscribe_item("todo", "inbox", "b", model=Todo)
        errors: list[MotiaError] = []
        item_errors: list[MotiaError] = []
        typed.on_error(errors.append)
        item.on_error(item_errors.append)
        items = await typed.wait_for(lambda items: len(items) == 2, timeout=WAIT)
        assert all(isinstance(t, Todo) for t in items)
        assert [t.id for t in items] == ["a", "b"]
        assert [(type(e), e.item_id) for e in errors] == [(ItemValidationError, "bad")]  # type: ignore[attr-defined]
        assert "description" in str(errors[0])
        assert typed.ids == ("a", "b")  # an invalid item has no row, so no id
        assert len(await raw.wait_for(lambda items: len(items) == 3, timeout=WAIT)) == 3
        assert raw.ids == ("a", "bad", "b")  # the server's order
        assert await item.wait_for(lambda t: t is not None, timeout=WAIT) == Todo(**todo("b", "2"))
        # an update that breaks the model is reported and the item skipped; the rest stays
        await server.set("todo", "inbox", {"id": "b", "description": None})
        items = await typed.wait_for(lambda items: len(items) == 1, timeout=WAIT)
        assert [t.id for t in items] == ["a"]
        assert [e.item_id for e in errors] == ["bad", "b"]  # type: ignore[attr-defined]
        assert await item.wait_for(lambda t: t is None, timeout=WAIT) is None
        assert [type(e) for e in item_errors] == [ItemValidationError]
        assert raw.items_by_id["b"] == {"id": "b", "description": None}
        await server.set("todo", "inbox", todo("b", "3"))
        items = await typed.wait_for(lambda items: len(items) == 2, timeout=WAIT)
        assert items[1] == Todo(**todo("b", "3"))
        assert typed.items_by_id["b"].createdAt == "3"


async def test_a_group_only_client_reports_an_update_that_breaks_the_model_once(
    server: FakeMotiaServer, fake_client: MakeClient
) -> None:
    # No item subscription: updates take the client's direct (compiled) path.
    server.seed("todo", "inbox", todo("a", "1"))
    async with fake_client(server) as client:
        typed = client.subscribe_group("todo", "inbox", model=Todo)
        errors: list[MotiaError] = []
        typed.on_error(errors.append)
        seen: list[list[str]] = []
        typed.add_change_listener(lambda items: seen.append([t.id for t in items]))
        await typed.wait_for(lambda items: len(items) == 1, timeout=WAIT)
        await server.set("todo", "inbox", {"id": "a", "description": None})
        assert await typed.wait_for(lambda items: len(items) == 0, timeout=WAIT) == []
        await server.set("todo", "inbox", todo("b", "2"))
        items = await typed.wait_for(lambda items: len(items) == 1, timeout=WAIT)
        assert [t.id for t in items] == ["b"]
        assert [(type(e), e.item_id) for e in errors] == [(ItemValidationError, "a")]  # type: ignore[attr-defined]
        assert seen == [["a"], [], ["b"]]


# -- exact frames: the Motia 0.x quirks (PROTOCOL.md section 4) --------------------------


def frame(item_id: str | None, event: dict[str, Any], ts: int, group: str = "inbox") -> Any:
    """An exact Motia 0.x frame of the todo stream."""
    frame: dict[str, Any] = {"timestamp": ts, "streamName": "todo", "groupId": group}
    if item_id is not None:
        frame["id"] = item_id
    frame["event"] = event
    return frame


def message(event: dict[str, Any], ts: int) -> Any:
    """An exact frame of the openai/trace/message item."""
    return {
        "timestamp": ts,
        "streamName": "openai",
        "groupId": "trace",
        "id": "message",
        "event": event,
    }


def state(kind: str, data: Any) -> dict[str, Any]:
    return {"type": kind, "data": data}


def custom(name: str, data: Any) -> dict[str, Any]:
    return {"type": "event", "event": {"type": name, "data": data}}


@pytest.fixture
def wire() -> FakeMotiaServer:
    """A server that leaves joins unanswered: each test sends its exact frames."""
    return FakeMotiaServer(answer_joins=False)


async def test_quirk_created_at_inside_items(
    fake_client: MakeClient, wire: FakeMotiaServer
) -> None:
    client = fake_client(wire)
    sub = client.subscribe_group("todo", "inbox", sort_key="_createdAt")
    await client.connect()
    items = [{"id": "y", "_createdAt": 2}, {"id": "x", "_createdAt": 1}]
    await wire.send_raw(frame(None, state("sync", items), 10))
    await wire.send_raw(frame("z", state("create", {"id": "z", "_createdAt": 0}), 11))
    got = await sub.wait_for(lambda items: len(items) == 3, timeout=WAIT)
    assert [t["id"] for t in got] == ["z", "x", "y"]
    assert got[0] == {"id": "z", "_createdAt": 0}  # server fields are kept


async def test_quirk_delete_of_a_missing_id_with_null_data(
    fake_client: MakeClient, wire: FakeMotiaServer
) -> None:
    client = fake_client(wire)
    group = client.subscribe_group("todo", "inbox")
    item = client.subscribe_item("todo", "inbox", "a")
    await client.connect()
    group_changes, item_changes = Counter(), Counter()
    group.add_change_listener(group_changes)
    item.add_change_listener(item_changes)
    await wire.send_raw(frame(None, state("sync", [{"id": "a"}]), 10))
    await wire.send_raw(frame("a", state("sync", {"id": "a"}), 10))
    await wire.send_raw(frame("ghost", state("delete", None), 11))  # never existed: no change
    await wire.send_raw(frame("a", state("delete", None), 12))  # null data still deletes
    assert await item.wait_for(lambda it: it is None, timeout=WAIT) is None
    await group.wait_for(lambda items: len(items) == 0, timeout=WAIT)
    assert group_changes.count == 2
    assert item_changes.states == [{"id": "a"}, None]


@pytest.mark.parametrize("bogus_first", [True, False])
@pytest.mark.parametrize("kind", ["create", "update", "delete"])
async def test_quirk_redis_bogus_custom_event_in_the_same_millisecond(
    fake_client: MakeClient, wire: FakeMotiaServer, kind: str, bogus_first: bool
) -> None:
    client = fake_client(wire)
    group = client.subscribe_group("todo", "inbox")
    item = client.subscribe_item("todo", "inbox", "a")
    await client.connect()
    synced = [{"id": "a", "v": 0}] if kind != "create" else []
    await wire.send_raw(frame(None, state("sync", synced), 100))
    if kind != "create":
        await wire.send_raw(frame("a", state("sync", {"id": "a", "v": 0}), 100))
    heard: dict[str, list[Any]] = {"group": [], "item": []}
    group.on_event(kind, heard["group"].append)
    item.on_event(kind, heard["item"].append)
    value = None if kind == "delete" else {"id": "a", "v": 1}
    real = frame("a", state(kind, value if kind != "delete" else {"id": "a", "v": 0}), 200)
    bogus = frame("a", custom(kind, value), 200)
    marker = asyncio.Event()
    item.on_event("marker", lambda data: marker.set())
    for f in (bogus, real) if bogus_first else (real, bogus):
        await wire.send_raw(f)
    await wire.send_raw(frame("a", custom("marker", None), 200))
    await asyncio.wait_for(marker.wait(), WAIT)
    assert item.state == value  # the real frame applied, never looked stale
    assert [dict(t) for t in group.state] == ([] if value is None else [value])
    assert heard == {"group": [value], "item": [value]}  # a custom event, once each


async def test_quirk_a_join_to_a_missing_item_gets_nothing(
    fake_client: MakeClient, server: FakeMotiaServer
) -> None:
    client = fake_client(server)  # it answers joins as Motia 0.x does: nothing for this one
    sub = client.subscribe_item("todo", "inbox", "later")
    await client.connect()
    await server.wait_for_joins(1)
    with pytest.raises(MotiaTimeout):
        await sub.wait_for(lambda it: True, timeout=0.05)
    assert (sub.synced, sub.state) == (False, None)
    await server.set("todo", "inbox", {"id": "later"})
    assert await sub.wait_for(lambda it: it is not None, timeout=WAIT) == {"id": "later"}


async def test_quirk_another_groups_frames_for_the_same_item_id_are_ignored(
    fake_client: MakeClient, wire: FakeMotiaServer
) -> None:
    client = fake_client(wire)
    sub = client.subscribe_item("todo", "inbox", "a")
    group = client.subscribe_group("todo", "inbox")
    await client.connect()
    await wire.send_raw(frame(None, state("sync", [{"id": "a", "g": "inbox"}]), 1))
    await wire.send_raw(frame("a", state("sync", {"id": "a", "g": "inbox"}), 1))
    await sub.wait_for(lambda it: it is not None, timeout=WAIT)
    await group.wait_for(lambda items: len(items) == 1, timeout=WAIT)
    changes = Counter()
    sub.add_change_listener(changes)
    group.add_change_listener(changes)
    assert changes.count == 2  # at once: both are synced
    pings: list[Any] = []
    sub.on_event("ping", pings.append)
    # Motia 0.x keys item rooms by stream and id: another group's frames leak in
    await wire.send_raw(frame("a", state("update", {"id": "a", "g": "archive"}), 2, "archive"))
    await wire.send_raw(frame("a", custom("ping", "archive"), 2, group="archive"))
    await wire.send_raw(frame("a", state("delete", {"id": "a"}), 3, group="archive"))
    await wire.send_raw(frame("a", state("update", {"id": "a", "g": "inbox", "n": 1}), 4))
    await sub.wait_for(lambda it: it is not None and it.get("n") == 1, timeout=WAIT)
    assert changes.count == 4  # only our group's update, once per subscription
    assert pings == []
    assert [dict(t) for t in group.state] == [{"id": "a", "g": "inbox", "n": 1}]


async def test_equal_timestamps_apply_in_arrival_order(
    fake_client: MakeClient, wire: FakeMotiaServer
) -> None:
    client = fake_client(wire)
    sub = client.subscribe_item("openai", "trace", "message")
    await client.connect()
    seen = Counter()
    sub.add_change_listener(seen)  # not synced yet: called from the first update on
    ended = asyncio.Event()
    sub.on_event("end", lambda data: ended.set())
    words = ["Hel", "Hello", "Hello wor", "Hello world"]
    for text in words:  # token-by-token output in one millisecond
        await wire.send_raw(message(state("update", {"text": text}), 7))
    await wire.send_raw(message(state("update", {"text": "old"}), 6))
    await wire.send_raw(message(custom("end", None), 7))
    await asyncio.wait_for(ended.wait(), WAIT)
    assert sub.state == {"text": "Hello world"}  # the older frame was dropped
    assert [s["text"] for s in seen.states] == words


async def test_iii_null_sync_for_a_missing_item_and_binary_frames(
    fake_client: MakeClient,
) -> None:
    wire = FakeMotiaServer("iii", answer_joins=False)
    client = fake_client(wire)
    sub = client.subscribe_item("todo", "inbox", "gone")
    await client.connect()
    missing = wire.envelope("todo", "inbox", "gone", state("sync", None), 1)
    assert missing["type"] == "stream"
    await wire.send_raw(missing)
    assert await sub.wait_for(lambda it: True, timeout=WAIT) is None
    assert sub.synced
    raw = wire.envelope("todo", "inbox", "gone", state("create", {"id": "gone"}), 2)
    await wire.send_raw(json.dumps(raw).encode())  # the same JSON in a binary frame
    assert await sub.wait_for(lambda it: it is not None, timeout=WAIT) == {"id": "gone"}
