"""The router: ref-counted joins, routing and fan-out (PROTOCOL.md sections 3 and 4)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from pydantic import BaseModel

from motia_client._protocol import CustomEvent, MalformedFrame, Refusal, StateFrame
from motia_client._rooms import Delivery, Router
from motia_client._views import GroupView, ItemView


def wire(
    event: dict[str, Any],
    *,
    group: str = "inbox",
    item_id: str | None = None,
    ts: int = 1000,
    stream: str = "todo",
    iii: bool = False,
) -> str:
    message: dict[str, Any] = {"type": "stream"} if iii else {}
    message.update(timestamp=ts, streamName=stream, groupId=group)
    if item_id is not None or iii:
        message["id"] = item_id
    message["event"] = event
    return json.dumps(message)


def sync(items: list[dict[str, Any]], **kw: Any) -> str:
    return wire({"type": "sync", "data": items}, **kw)


def update(item: dict[str, Any], **kw: Any) -> str:
    return wire({"type": "update", "data": item}, item_id=item["id"], **kw)


def custom(name: str, data: Any = None, **kw: Any) -> str:
    return wire({"type": "event", "event": {"type": name, "data": data}}, **kw)


def unauthorized(**kw: Any) -> str:
    return wire({"type": "unauthorized"}, iii=True, **kw)


def denied(**kw: Any) -> str:
    data = {"code": "STREAM_ACCESS_DENIED", "message": "Access denied"}
    return wire({"type": "event", "event": {"type": "error", "data": data}}, **kw)


def sub_id(join: str | None) -> str:
    assert join is not None
    value: str = json.loads(join)["data"]["subscriptionId"]
    return value


def heard(router: Router[str], *raws: str) -> Counter[tuple[str, str]]:
    """Feed raw frames; count (subscriber, what) for every local subscriber told."""
    told: Counter[tuple[str, str]] = Counter()
    for raw in raws:
        for out in router.receive(raw):
            assert isinstance(out, Delivery)
            frame = out.frame
            what = frame.type if isinstance(frame, CustomEvent) else type(frame).__name__
            for sub in out.room.members:
                told[(sub, what)] += 1
    return told


def items_of(view: Any) -> list[Any]:
    assert isinstance(view, GroupView)
    return list(view.snapshot())


# -- joins and leaves -------------------------------------------------------


def test_one_join_per_room_however_many_local_subscribers() -> None:
    router: Router[str] = Router()
    router.connection_made()
    joins = [router.add(f"s{n}", "todo", "inbox")[2] for n in range(5)]
    assert joins[0] is not None
    assert joins[1:] == [None] * 4
    assert json.loads(joins[0])["data"] == {
        "streamName": "todo",
        "groupId": "inbox",
        "subscriptionId": sub_id(joins[0]),
    }
    item_join = router.add("i", "todo", "inbox", "todo-1")[2]
    assert json.loads(item_join or "")["data"]["id"] == "todo-1"


def test_leave_only_when_the_last_local_subscriber_goes() -> None:
    router: Router[str] = Router()
    router.connection_made()
    join = router.add("a", "todo", "inbox")[2]
    router.add("b", "todo", "inbox")
    assert router.remove("a") is None
    leave = router.remove("b")
    assert leave is not None
    assert json.loads(leave) == {"type": "leave", "data": json.loads(join or "")["data"]}
    assert router.remove("b") is None  # already gone
    assert router.rooms == {}


def test_offline_adds_join_on_connection_made_with_fresh_ids_each_time() -> None:
    router: Router[str] = Router()
    assert router.add("g1", "todo", "inbox")[2] is None
    router.add("g2", "todo", "inbox")
    router.add("i", "todo", "inbox", "todo-1")
    first = router.connection_made()
    assert len(first) == 2
    assert {json.loads(f)["data"].get("id") for f in first} == {None, "todo-1"}
    router.connection_lost()
    second = router.connection_made()
    assert len(second) == 2
    assert not {sub_id(f) for f in first} & {sub_id(f) for f in second}


def test_no_leave_is_sent_for_a_room_that_is_not_joined() -> None:
    router: Router[str] = Router()
    router.connection_made()
    router.add("a", "todo", "inbox")
    router.connection_lost()
    assert router.remove("a") is None
    assert router.connection_made() == []


def test_a_room_emptied_and_refilled_joins_again() -> None:
    router: Router[str] = Router()
    router.connection_made()
    first = router.add("a", "todo", "inbox")[2]
    router.remove("a")
    again = router.add("b", "todo", "inbox")[2]
    assert again is not None
    assert sub_id(again) != sub_id(first)


# -- routing ----------------------------------------------------------------


def connected(
    *rooms: tuple[str, str, str | None], **options: Any
) -> tuple[Router[str], dict[str, Any]]:
    router: Router[str] = Router()
    router.connection_made()
    views = {}
    for n, (stream, group, item_id) in enumerate(rooms):
        name = f"{group}/{item_id}" if item_id else f"{group}#{n}"
        views[name] = router.add(name, stream, group, item_id, **options)[1]
    return router, views


def test_item_frame_goes_to_the_item_room_and_its_group_room() -> None:
    router, views = connected(("todo", "inbox", None), ("todo", "inbox", "a"))
    router.receive(sync([{"id": "a", "v": 0}]))
    router.receive(wire({"type": "sync", "data": {"id": "a", "v": 0}}, item_id="a"))
    out = router.receive(update({"id": "a", "v": 1}, ts=1001))
    assert {d.room.key for d in out if isinstance(d, Delivery)} == {
        ("todo", "inbox", None),
        ("todo", "inbox", "a"),
    }
    assert items_of(views["inbox#0"]) == [{"id": "a", "v": 1}]
    assert views["inbox/a"].value == {"id": "a", "v": 1}


def test_group_frame_goes_to_the_group_room_only() -> None:
    router, _ = connected(("todo", "inbox", None), ("todo", "inbox", "a"))
    told = heard(router, custom("ping"))
    assert told == Counter({("inbox#0", "ping"): 1})


def test_item_sync_goes_to_the_item_room_only() -> None:
    router, views = connected(("todo", "inbox", None), ("todo", "inbox", "a"))
    router.receive(sync([]))
    out = router.receive(wire({"type": "sync", "data": {"id": "a"}}, item_id="a"))
    assert [d.room.key for d in out if isinstance(d, Delivery)] == [("todo", "inbox", "a")]
    assert items_of(views["inbox#0"]) == []


def test_frames_of_another_group_stream_or_item_are_ignored() -> None:
    router, views = connected(("todo", "inbox", None), ("todo", "inbox", "a"))
    router.receive(sync([]))
    assert router.receive(update({"id": "a"}, group="other")) == []
    assert router.receive(update({"id": "a"}, stream="notes")) == []
    assert router.receive(custom("ping", group="other")) == []
    assert router.receive(sync([{"id": "z"}], group="other")) == []
    assert items_of(views["inbox#0"]) == []
    # an item frame for an item without its own room still reaches the group room
    assert len(router.receive(update({"id": "b"}))) == 1


def test_a_0x_frame_of_another_group_for_the_same_item_id_is_ignored() -> None:
    # 0.x keys item rooms by (stream, id): it sends work/a frames to our home/a join.
    router, views = connected(("todo", "home", "a"))
    router.receive(
        wire({"type": "sync", "data": {"id": "a", "at": "home"}}, group="home", item_id="a")
    )
    assert router.receive(update({"id": "a", "at": "work"}, group="work", ts=2000)) == []
    assert heard(router, custom("ping", group="work", item_id="a")) == Counter()
    assert views["home/a"].value == {"id": "a", "at": "home"}


def test_malformed_frames_are_returned_for_the_caller_to_log() -> None:
    router, _ = connected(("todo", "inbox", None))
    out = router.receive("{not json")
    assert len(out) == 1
    assert isinstance(out[0], MalformedFrame)


def test_a_frame_that_changes_nothing_tells_nobody() -> None:
    router, _ = connected(("todo", "inbox", None))
    router.receive(sync([{"id": "a"}]))
    assert router.receive(update({"id": "a"}, ts=1001)) == []
    assert router.receive(update({"id": "a"}, ts=999)) == []  # older than the sync


def test_redis_echo_is_a_custom_event_and_does_not_make_the_real_frame_stale() -> None:
    router, views = connected(("todo", "inbox", None), ("todo", "inbox", "a"))
    router.receive(sync([{"id": "a", "v": 0}]))
    item = {"id": "a", "v": 1}
    echo = custom("update", item, item_id="a", ts=1500)
    told = heard(router, echo, update(item, ts=1500))
    assert told == Counter(
        {
            ("inbox#0", "update"): 1,  # the custom event
            ("inbox/a", "update"): 1,
            ("inbox#0", "StateFrame"): 1,
            ("inbox/a", "StateFrame"): 1,
        }
    )
    assert items_of(views["inbox#0"]) == [item]
    assert views["inbox/a"].value == item


def test_state_deliveries_carry_validation_errors_per_subscriber() -> None:
    class Todo(BaseModel):
        id: str
        done: bool

    router: Router[str] = Router()
    router.connection_made()
    router.add("typed", "todo", "inbox", model=Todo)
    router.add("raw", "todo", "inbox")
    (delivery,) = router.receive(sync([{"id": "a", "done": False}, {"id": "b"}]))
    assert isinstance(delivery, Delivery)
    assert isinstance(delivery.frame, StateFrame)
    assert delivery.errors is not None
    assert list(delivery.errors) == ["typed"]
    assert [err.item_id for err in delivery.errors["typed"]] == ["b"]


# -- overlapping rooms and identical copies ---------------------------------


def test_custom_event_reaches_each_subscriber_once_with_item_and_group_rooms() -> None:
    router, _ = connected(("todo", "inbox", None), ("todo", "inbox", "a"))
    router.add("second-group-sub", "todo", "inbox")
    raw = custom("token", "hel", item_id="a")
    told = heard(router, raw, raw)  # one copy per server-side subscription
    assert told == Counter(
        {("inbox#0", "token"): 1, ("second-group-sub", "token"): 1, ("inbox/a", "token"): 1}
    )


def test_repeated_identical_events_are_each_delivered_once() -> None:
    router, _ = connected(("todo", "inbox", None), ("todo", "inbox", "a"))
    raw = custom("tick", item_id="a")  # the same event twice in one millisecond
    # 0.x sends each to the group room, then the item room
    told = heard(router, raw, raw, raw, raw)
    assert told == Counter({("inbox#0", "tick"): 2, ("inbox/a", "tick"): 2})


def test_0x_group_less_item_rooms_deliver_each_frame_once() -> None:
    # Items "a" of two groups: 0.x sends home/a frames to both joins (same room on the server).
    router, views = connected(("todo", "home", "a"), ("todo", "work", "a"))
    raw = update({"id": "a", "v": 1}, group="home")
    told = heard(router, raw, raw)
    assert told == Counter({("home/a", "StateFrame"): 1})
    ping = custom("ping", group="home", item_id="a")
    assert heard(router, ping, ping) == Counter({("home/a", "ping"): 1})
    assert views["work/a"].value is None


def test_iii_item_rooms_of_two_groups_get_one_copy_each() -> None:
    # iii keys item rooms by (stream, group, id): home/a frames reach the home/a join only.
    router, _ = connected(("todo", "home", "a"), ("todo", "work", "a"))
    ping = custom("ping", group="home", item_id="a", iii=True)
    assert heard(router, ping, ping) == Counter({("home/a", "ping"): 2})
    v1, v2 = {"id": "a", "v": 1}, {"id": "a", "v": 2}
    heard(router, *(update(v, group="work", iii=True) for v in (v1, v2, v1)))
    assert router.rooms[("todo", "work", "a")].state.value == v1


def test_a_duplicate_join_room_copy_does_not_double_a_state_change() -> None:
    router, _ = connected(("todo", "inbox", None), ("todo", "inbox", "a"))
    router.receive(sync([]))
    raw = update({"id": "a", "v": 1})
    first = router.receive(raw)
    assert len(first) == 2
    assert router.receive(raw) == []


# -- refusals ---------------------------------------------------------------


@pytest.mark.parametrize("refusal", [unauthorized, denied])
def test_a_refused_room_is_reported_once_and_not_rejoined(refusal: Any) -> None:
    router, _ = connected(("todo", "inbox", None), ("todo", "inbox", "a"))
    out = router.receive(refusal())
    assert len(out) == 1
    assert isinstance(out[0], Delivery)
    assert isinstance(out[0].frame, Refusal)
    assert out[0].room.key == ("todo", "inbox", None)
    assert router.receive(refusal()) == []  # 0.x may send an error then the denial
    router.connection_lost()
    rejoin = router.connection_made()
    assert [json.loads(f)["data"].get("id") for f in rejoin] == ["a"]
    router.connection_lost()
    retry = router.connection_made(retry_refused=True)
    assert sorted(str(json.loads(f)["data"].get("id")) for f in retry) == ["None", "a"]


def test_a_refused_item_room_is_found_by_its_id() -> None:
    router, _ = connected(("todo", "inbox", None), ("todo", "inbox", "a"))
    (out,) = router.receive(unauthorized(item_id="a"))
    assert isinstance(out, Delivery)
    assert out.room.key == ("todo", "inbox", "a")
    assert isinstance(out.frame, Refusal)


def test_a_refused_room_gets_no_frames_and_sends_no_leave() -> None:
    router, views = connected(("todo", "inbox", None))
    router.receive(denied())
    assert router.receive(sync([{"id": "a"}])) == []
    assert items_of(views["inbox#0"]) == []
    assert router.remove("inbox#0") is None


def test_refused_group_room_does_not_swallow_the_item_rooms_frames() -> None:
    # The server holds no subscription for a refused room, so it sends one copy only.
    router, _ = connected(("todo", "inbox", None), ("todo", "inbox", "a"))
    router.receive(unauthorized())
    raw = custom("tick", item_id="a")
    told = heard(router, raw, raw)  # two real events in one millisecond, one copy each
    assert told == Counter({("inbox/a", "tick"): 2})


def test_refused_item_room_does_not_swallow_the_group_rooms_frames() -> None:
    router, views = connected(("todo", "inbox", None), ("todo", "inbox", "a"))
    router.receive(sync([]))
    router.receive(denied(item_id="a"))
    v1, v2 = {"id": "a", "v": 1}, {"id": "a", "v": 2}
    # a -> v1 -> v2 -> v1 within one millisecond: the last frame is byte-identical to the first
    heard(router, update(v1), update(v2), update(v1))
    assert items_of(views["inbox#0"]) == [v1]


# -- late subscribers -------------------------------------------------------


def test_a_late_group_subscriber_is_seeded_with_the_current_state() -> None:
    router, _ = connected(("todo", "inbox", None))
    router.receive(sync([{"id": "b", "rank": 2}, {"id": "a", "rank": 1}]))
    router.receive(update({"id": "c", "rank": 0}, ts=1001))
    room, view, join = router.add("late", "todo", "inbox", sort_key="rank")
    assert join is None
    assert isinstance(view, GroupView)
    assert view.synced
    assert [item["id"] for item in view.snapshot()] == ["c", "a", "b"]
    assert router.room_of("late") is room


def test_a_late_item_subscriber_is_seeded_with_the_current_state() -> None:
    router, _ = connected(("openai", "trace", "message"))
    router.receive(
        wire(
            {"type": "update", "data": {"text": "Hel"}},
            stream="openai",
            group="trace",
            item_id="message",
        )
    )
    _, view, join = router.add("late", "openai", "trace", "message")
    assert join is None
    assert isinstance(view, ItemView)
    assert view.value == {"text": "Hel"}


def test_state_survives_a_reconnect_until_the_resync_replaces_it() -> None:
    router, views = connected(("todo", "inbox", None))
    router.receive(sync([{"id": "a"}]))
    router.connection_lost()
    assert items_of(views["inbox#0"]) == [{"id": "a"}]  # no flash of empty
    router.connection_made()
    out = router.receive(sync([{"id": "b"}], ts=5000))
    assert len(out) == 1
    assert items_of(views["inbox#0"]) == [{"id": "b"}]


def test_a_room_retried_after_a_refusal_counts_as_a_copy_again() -> None:
    router, _ = connected(("todo", "inbox", None), ("todo", "inbox", "a"))
    router.receive(denied(item_id="a"))
    router.connection_lost()
    router.connection_made(retry_refused=True)
    raw = custom("tick", item_id="a")
    assert heard(router, raw, raw) == Counter({("inbox#0", "tick"): 1, ("inbox/a", "tick"): 1})


def test_an_unanswered_item_join_settles_as_a_missing_item() -> None:
    # Motia 0.x answers a join to a missing item with nothing at all.
    router: Router[str] = Router()
    router.connection_made()
    room, view, _ = router.add("a", "todo", "inbox", "t1")
    joins = router.item_joins()
    assert joins == [(room.key, room.sub_id)]
    deliveries = router.settle(joins)
    assert len(deliveries) == 1
    assert view.synced
    assert view.value is None
    assert router.settle(joins) == []  # settled once


def test_settling_never_touches_an_answered_or_newer_join() -> None:
    router: Router[str] = Router()
    router.connection_made()
    router.add("a", "todo", "inbox", "t1")
    first = router.item_joins()
    router.receive(_item_sync("t1", {"id": "t1", "v": 1}, 5))
    assert router.settle(first) == []  # answered: the item exists
    router.connection_lost()
    router.connection_made()  # a rejoin, with a new subscriptionId
    second = router.item_joins()
    assert router.settle(first) == []  # the old join's timer cannot settle the new join
    room = router.rooms[("todo", "inbox", "t1")]
    assert room.members["a"].value == {"id": "t1", "v": 1}
    (delivery,) = router.settle(second)  # the rejoin went unanswered: deleted meanwhile
    assert delivery.room is room
    assert room.members["a"].value is None


def _item_sync(item_id: str, data: dict[str, Any], timestamp: int) -> str:
    return json.dumps(
        {
            "timestamp": timestamp,
            "streamName": "todo",
            "groupId": "inbox",
            "id": item_id,
            "event": {"type": "sync", "data": data},
        }
    )
