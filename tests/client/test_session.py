"""The session: every rule of the stream protocol, frame in, calls out, no event loop.

Each test drives a :class:`Session` the way the client does (``connect``,
``connection_made``, ``receive``, ``timer_fired``...) and checks its outputs:
the frames it wants sent, the timers it wants armed, and what each local
subscriber (a :class:`RecordingSink`) was told.
"""

from __future__ import annotations

import logging
import sys
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import pytest
from pydantic import BaseModel

from motia_client import EventGap, FrameTooLarge, MotiaConnectionError, StateDrift
from motia_client._dialect import III, MOTIA
from motia_client._lifecycle import ConnectionState, InvalidTransition
from motia_client._protocol import FUTURE_TOLERANCE_MS, MAX_TIMESTAMP
from motia_client._session import (
    _PENDING_LIMIT,
    CLOCK_SECONDS,
    HEALTHY_SECONDS,
    PROBATION_SECONDS,
    PROBE_SECONDS,
    Session,
    Timer,
)
from tests.client.sinks import (
    NOW_MS,
    RecordingSink,
    connected,
    custom,
    delete,
    denied,
    put,
    sent,
    sync,
    unauthorized,
    wire,
)

S = ConnectionState


def sub(session: Session, group: str = "inbox", item_id: str | None = None, **kw: Any) -> Any:
    """A recording subscriber of ``todo/<group>[/<item_id>]``."""
    name = f"{group}/{item_id}" if item_id else group
    return RecordingSink(name).subscribe(session, "todo", group, item_id, **kw)


def joined(session: Session) -> list[tuple[str, str | None]]:
    """The (group, id) of each join the session wants sent now (leaves are not expected)."""
    frames = sent(session)
    assert all(frame["type"] == "join" for frame in frames), frames
    return [(frame["data"]["groupId"], frame["data"].get("id")) for frame in frames]


def reconnect(session: Session, error: BaseException | None = None, **kw: Any) -> list[Timer]:
    """Lose the connection, open the next one; return the timers it wants."""
    session.connection_lost(error)
    session.retrying()
    session.connection_made(NOW_MS, **kw)
    return session.timers_wanted()


def timer(timers: list[Timer], kind: str) -> Timer:
    (found,) = [t for t in timers if t.kind == kind]
    return found


def at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def killed(code: int) -> MotiaConnectionError:
    return MotiaConnectionError(f"the server closed the connection ({code})", close_code=code)


# -- joins and leaves ---------------------------------------------------------------


def test_one_join_per_room_however_many_local_subscribers() -> None:
    session = connected()
    for _ in range(5):
        sub(session)
    (join,) = sent(session)
    sub_id = join["data"]["subscriptionId"]
    assert uuid.UUID(sub_id).version == 4
    assert join == {
        "type": "join",
        "data": {"streamName": "todo", "groupId": "inbox", "subscriptionId": sub_id},
    }
    sub(session, item_id="todo-1")
    (item_join,) = sent(session)
    assert item_join["data"]["id"] == "todo-1"


def test_leave_only_when_the_last_local_subscriber_goes() -> None:
    session = connected()
    a, b = sub(session), sub(session)
    (join,) = sent(session)
    session.unsubscribe(a)
    assert sent(session) == []
    assert a.endings == [None]
    session.unsubscribe(b)
    assert sent(session) == [{"type": "leave", "data": join["data"]}]
    session.unsubscribe(b)  # already gone: nothing
    assert b.endings == [None]
    assert sent(session) == []
    assert session.rooms == {}
    assert session.room_of(b) is None


def test_offline_subscribers_join_on_connection_made_with_fresh_ids_each_time() -> None:
    session = Session()
    sub(session)
    sub(session)
    sub(session, item_id="todo-1")
    assert not session.pending
    assert session.data_to_send() == []
    session.connect()
    session.connection_made(NOW_MS)
    first = sent(session)
    assert sorted(str(f["data"].get("id")) for f in first) == ["None", "todo-1"]
    reconnect(session)
    second = sent(session)
    assert len(second) == 2
    ids = {f["data"]["subscriptionId"] for f in first}
    assert not ids & {f["data"]["subscriptionId"] for f in second}


def test_no_leave_is_sent_for_a_room_that_is_not_joined() -> None:
    session = connected()
    a = sub(session)
    sent(session)
    session.connection_lost(None)
    session.unsubscribe(a)
    assert sent(session) == []
    session.retrying()
    session.connection_made(NOW_MS)
    assert sent(session) == []


def test_a_room_emptied_and_refilled_joins_again_with_a_new_id() -> None:
    session = connected()
    a = sub(session)
    (first,) = sent(session)
    session.unsubscribe(a)
    sent(session)
    sub(session)
    (again,) = sent(session)
    assert again["data"]["subscriptionId"] != first["data"]["subscriptionId"]


def test_leaving_an_item_room_sends_its_leave_and_ends_its_copies() -> None:
    session = connected()
    group = sub(session)
    item = sub(session, item_id="a")
    _group_join, item_join = sent(session)
    session.unsubscribe(item)
    assert sent(session) == [{"type": "leave", "data": item_join["data"]}]
    raw = custom("tick", item_id="a")
    session.receive(raw)
    session.receive(raw)  # the server holds one subscription now: two real events
    assert group.events == [("tick", None), ("tick", None)]


def test_joins_are_the_same_bytes_without_orjson(monkeypatch: pytest.MonkeyPatch) -> None:
    # A frame that is not JSON crashes a 0.x server: the stdlib fallback must match exactly.
    from motia_client import _protocol

    frames = []
    for encoder in (_protocol.dumps, _protocol._stdlib_dumps):
        monkeypatch.setattr(_protocol, "dumps", encoder)
        monkeypatch.setattr("uuid.uuid4", lambda: uuid.UUID(int=7, version=4))
        session = connected()
        sub(session, "caf\u00e9", "\u2603")
        frames.append(session.data_to_send())
    assert frames[0] == frames[1]
    assert "caf\u00e9" in frames[0][0]  # UTF-8 text, not \u escapes


def test_a_subscriber_subscribes_once() -> None:
    session = connected()
    a = sub(session)
    with pytest.raises(ValueError, match="already subscribed"):
        a.subscribe(session, "todo", "other")


def test_room_of_names_the_room_a_subscriber_shares() -> None:
    session = connected()
    a = sub(session, item_id="a")
    b = sub(session, item_id="a")
    room = session.room_of(a)
    assert room is not None
    assert room is session.room_of(b)
    assert room.name == "todo/inbox/a"
    assert repr(room) == "<Room todo/inbox/a members=2 joined=True>"


def test_pending_says_when_outputs_are_waiting() -> None:
    session = Session()
    assert not session.pending
    session.connect()
    assert not session.pending
    session.connection_made(NOW_MS)
    assert session.pending  # timers
    timers = session.timers_wanted()
    assert {t.kind: t.delay for t in timers} == {
        "healthy": HEALTHY_SECONDS,
        "clock": CLOCK_SECONDS,
    }
    assert not session.pending
    sub(session)
    assert session.pending  # a join
    assert len(session.data_to_send()) == 1
    assert not session.pending
    assert session.data_to_send() == []
    assert session.timers_wanted() == []


# -- routing ----------------------------------------------------------------------------


def group_and_item() -> tuple[Session, Any, Any]:
    session = connected()
    group = sub(session)
    item = sub(session, item_id="a")
    sent(session)
    return session, group, item


def test_an_item_frame_goes_to_the_item_room_and_its_group_room() -> None:
    session, group, item = group_and_item()
    session.receive(sync([{"id": "a", "v": 0}]))
    session.receive(sync({"id": "a", "v": 0}, item_id="a"))
    for _ in range(2):  # one copy per server-side subscription
        session.receive(put({"id": "a", "v": 1}, ts=1001))
    assert group.state == [{"id": "a", "v": 1}]
    assert item.state == {"id": "a", "v": 1}
    assert (group.changes, item.changes) == (2, 2)


def test_a_group_frame_goes_to_the_group_room_only() -> None:
    session, group, item = group_and_item()
    session.receive(custom("ping"))
    assert group.events == [("ping", None)]
    assert item.events == []


def test_an_item_sync_goes_to_the_item_room_only() -> None:
    session, group, item = group_and_item()
    session.receive(sync([]))
    session.receive(sync({"id": "a"}, item_id="a"))
    assert group.state == []
    assert item.state == {"id": "a"}
    assert (group.changes, item.changes) == (1, 1)


def test_frames_of_another_group_stream_or_item_are_ignored() -> None:
    session, group, item = group_and_item()
    session.receive(sync([]))
    session.receive(put({"id": "a"}, group="other"))
    session.receive(put({"id": "a"}, stream="notes"))
    session.receive(custom("ping", group="other"))
    session.receive(sync([{"id": "z"}], group="other"))
    session.receive(sync({"id": "z"}, item_id="z"))  # a sync nobody asked for
    assert group.state == []
    assert (group.changes, item.changes, group.events) == (1, 0, [])
    # an item frame for an item without its own room still reaches the group room
    session.receive(put({"id": "b"}))
    assert group.state == [{"id": "b"}]


def test_without_item_rooms_an_item_frame_reaches_the_group_room() -> None:
    session = connected()
    group = sub(session)
    session.receive(put({"id": "a", "v": 1}))
    session.receive(custom("tick", item_id="a"))
    session.receive(put({"id": "a"}, group="other"))
    assert group.state == [{"id": "a", "v": 1}]
    assert group.events == [("tick", None)]


def test_a_0x_frame_of_another_group_for_the_same_item_id_is_ignored() -> None:
    # 0.x keys item rooms by (stream, id): it sends work/a frames to our home/a join.
    session = connected()
    home = sub(session, "home", "a")
    session.receive(sync({"id": "a", "at": "home"}, group="home", item_id="a"))
    session.receive(put({"id": "a", "at": "work"}, group="work", ts=2000))
    session.receive(custom("ping", group="work", item_id="a"))
    assert home.state == {"id": "a", "at": "home"}
    assert home.events == []


def test_frames_for_two_groups_in_turn_reach_their_own_rooms() -> None:
    session = connected()
    one, two = sub(session, "one"), sub(session, "two")
    for n in range(3):
        session.receive(put({"id": "x", "n": n}, group="one", ts=1000 + n))
        session.receive(put({"id": "y", "n": n}, group="two", ts=1000 + n))
    assert one.state == [{"id": "x", "n": 2}]
    assert two.state == [{"id": "y", "n": 2}]


def test_a_group_room_left_and_joined_again_gets_the_frames() -> None:
    session = connected()
    first = sub(session)
    session.receive(put({"id": "a"}))
    session.unsubscribe(first)
    second = sub(session)
    session.receive(put({"id": "b"}))
    assert second.state == [{"id": "b"}]
    assert first.changes == 1


def test_binary_frames_are_frames_too() -> None:
    session = connected()
    group = sub(session)
    session.receive(sync([{"id": "a"}]).encode())
    assert group.state == [{"id": "a"}]


def test_a_malformed_frame_is_logged_and_skipped(caplog: pytest.LogCaptureFixture) -> None:
    session = connected()
    group = sub(session)
    with caplog.at_level(logging.WARNING, logger="motia_client"):
        session.receive("{not json")
        session.receive(wire({"type": "teleport"}))
    assert [r.getMessage() for r in caplog.records] == [
        "ignored a malformed frame (not JSON (JSONDecodeError)): {not json",
        "ignored a malformed frame (unknown event type 'teleport'): " + wire({"type": "teleport"}),
    ]
    assert len(caplog.records) == 2
    session.receive(sync([{"id": "a"}]))
    assert group.state == [{"id": "a"}]


def test_a_frame_that_changes_nothing_tells_nobody() -> None:
    session = connected()
    group = sub(session)
    item = sub(session, item_id="a")
    session.receive(sync([{"id": "a"}]))
    session.receive(sync({"id": "a"}, item_id="a"))
    for raw in (put({"id": "a"}, ts=1001), put({"id": "a"}, ts=999)):  # same value; stale
        session.receive(raw)
        session.receive(raw)
    assert (group.changes, item.changes) == (1, 1)


def test_a_redis_echo_is_a_custom_event_and_does_not_make_the_real_frame_stale() -> None:
    session, group, item = group_and_item()
    session.receive(sync([{"id": "a", "v": 0}]))
    value = {"id": "a", "v": 1}
    for raw in (custom("update", value, item_id="a", ts=1500), put(value, ts=1500)):
        session.receive(raw)
        session.receive(raw)  # one copy per server-side subscription
    assert group.events == item.events == [("update", value)]
    assert group.state == [value]
    assert item.state == value


class Todo(BaseModel):
    id: str
    done: bool


def test_validation_errors_go_to_the_subscriber_with_the_model() -> None:
    session = connected()
    typed = sub(session, model=Todo)
    raw = sub(session)
    session.receive(sync([{"id": "a", "done": False}, {"id": "b"}]))
    assert [err.item_id for err in typed.errors] == ["b"]
    assert raw.errors == []
    assert typed.state == [Todo(id="a", done=False)]
    assert raw.state == [{"id": "a", "done": False}, {"id": "b"}]


def test_a_subscriber_may_unsubscribe_another_while_being_told() -> None:
    session = connected()
    victim = sub(session)

    class Rude(RecordingSink):
        def changed(self, resync: bool) -> None:
            super().changed(resync)
            session.unsubscribe(victim)

    rude = Rude().subscribe(session, "todo", "inbox")
    session.receive(sync([{"id": "a"}]))
    session.receive(put({"id": "b"}))
    assert rude.changes == 2
    assert victim.endings == [None]
    assert session.room_of(victim) is None


# -- identical copies -------------------------------------------------------------------


def test_a_custom_event_reaches_each_subscriber_once_with_item_and_group_rooms() -> None:
    session, group, item = group_and_item()
    second = sub(session)
    raw = custom("token", "hel", item_id="a")
    session.receive(raw)
    session.receive(raw)  # one copy per server-side subscription
    assert group.events == second.events == item.events == [("token", "hel")]


def test_repeated_identical_events_are_each_delivered_once() -> None:
    session, group, item = group_and_item()
    raw = custom("tick", item_id="a")  # the same event twice in one millisecond
    for _ in range(4):  # 0.x sends each to the group room, then the item room
        session.receive(raw)
    assert group.events == item.events == [("tick", None), ("tick", None)]


def test_a_copy_does_not_double_a_state_change() -> None:
    session, group, item = group_and_item()
    session.receive(sync([]))
    raw = put({"id": "a", "v": 1})
    session.receive(raw)
    session.receive(raw)
    assert (group.changes, item.changes) == (2, 1)  # the sync, then the update


def test_three_copies_of_one_0x_frame_are_one_frame() -> None:
    # home's group room, home/a, and work/a (0.x keys item rooms without the group).
    session = connected()
    group, home, work = sub(session, "home"), sub(session, "home", "a"), sub(session, "work", "a")
    for value in (1, 2):
        raw = custom("ping", value, group="home", item_id="a")
        for _ in range(3):
            session.receive(raw)
    assert group.events == home.events == [("ping", 1), ("ping", 2)]
    assert work.events == []


def test_0x_group_less_item_rooms_deliver_each_frame_once() -> None:
    # Items "a" of two groups: 0.x sends home/a frames to both joins (one room on the server).
    session = connected()
    home, work = sub(session, "home", "a"), sub(session, "work", "a")
    raw = put({"id": "a", "v": 1}, group="home")
    session.receive(raw)
    session.receive(raw)
    ping = custom("ping", group="home", item_id="a")
    session.receive(ping)
    session.receive(ping)
    assert (home.changes, home.events) == (1, [("ping", None)])
    assert (work.changes, work.events, work.state) == (0, [], None)


def test_iii_item_rooms_of_two_groups_get_one_copy_each() -> None:
    # iii keys item rooms by (stream, group, id): home/a frames reach the home/a join only.
    session = connected()
    home, work = sub(session, "home", "a"), sub(session, "work", "a")
    ping = custom("ping", group="home", item_id="a", iii=True)
    session.receive(ping)
    session.receive(ping)  # two real events: nothing else matches them on an iii server
    assert home.events == [("ping", None), ("ping", None)]
    v1, v2 = {"id": "a", "v": 1}, {"id": "a", "v": 2}
    for value in (v1, v2, v1):  # the last frame is byte-identical to the first
        session.receive(put(value, group="work", iii=True))
    assert work.state == v1
    assert work.changes == 3


def test_the_dialect_is_learned_again_on_each_connection() -> None:
    session = connected()
    home = sub(session, "home", "a")
    sub(session, "work", "a")
    iii_ping = custom("ping", group="home", item_id="a", iii=True)
    session.receive(iii_ping)
    session.receive(iii_ping)
    assert len(home.events) == 2  # learned: iii
    reconnect(session)  # maybe another server
    ping = custom("ping", group="home", item_id="a")
    session.receive(ping)
    session.receive(ping)
    assert len(home.events) == 3  # learned: 0.x, whose second copy is skipped


@pytest.mark.parametrize(("dialect", "events"), [(MOTIA, 1), (III, 2)])
def test_a_pinned_dialect_is_kept(dialect: Any, events: int) -> None:
    session = connected(dialect=dialect)
    home = sub(session, "home", "a")
    sub(session, "work", "a")
    for iii in (True, False):  # either envelope: the pinned dialect decides
        reconnect(session)
        ping = custom("ping", group="home", item_id="a", iii=iii)
        session.receive(ping)
        session.receive(ping)
    assert len(home.events) == 2 * events


def test_a_copy_expected_on_a_lost_connection_does_not_swallow_the_next_frame() -> None:
    session, group, item = group_and_item()
    raw = custom("tick", item_id="a")
    session.receive(raw)  # its second copy never comes: the connection drops
    reconnect(session)
    session.receive(raw)
    assert group.events == item.events == [("tick", None), ("tick", None)]


def test_the_copies_awaited_are_bounded_oldest_first() -> None:
    session, group, _item = group_and_item()
    frames = [custom("tick", n, item_id="a") for n in range(_PENDING_LIMIT + 1)]
    for raw in frames:
        session.receive(raw)  # second copies never come
    assert len(group.events) == _PENDING_LIMIT + 1
    session.receive(frames[0])  # forgotten: a new event
    session.receive(frames[-1])  # still awaited: its copy
    assert group.events[-1] == ("tick", 0)
    assert len(group.events) == _PENDING_LIMIT + 2


# -- refusals ---------------------------------------------------------------------------


@pytest.mark.parametrize(("refusal", "reason"), [(unauthorized, None), (denied, "Access denied")])
def test_a_refused_room_is_told_once_and_not_rejoined_with_the_same_token(
    refusal: Callable[..., str], reason: str | None
) -> None:
    session, group, item = group_and_item()
    session.receive(refusal())
    session.receive(refusal())  # 0.x may send an error then the denial
    (error,) = group.refusals
    assert (error.stream, error.group_id, error.item_id, error.reason) == (
        "todo",
        "inbox",
        None,
        reason,
    )
    assert item.refusals == []
    reconnect(session)
    assert joined(session) == [("inbox", "a")]
    reconnect(session, token_changed=True)
    assert sorted(joined(session), key=str) == [("inbox", "a"), ("inbox", None)]
    session.receive(sync([{"id": "x"}]))
    assert group.state == [{"id": "x"}]


def test_a_refused_item_room_is_found_by_its_id() -> None:
    session, group, item = group_and_item()
    session.receive(unauthorized(item_id="a"))
    assert [e.item_id for e in item.refusals] == ["a"]
    assert group.refusals == []


def test_a_refusal_without_an_id_goes_to_the_one_unsynced_room_of_its_group() -> None:
    # 0.x answers a join to an undeclared stream with an error event that names no item.
    session = connected()
    synced = sub(session, item_id="s")
    waiting = sub(session, item_id="w")
    session.receive(sync({"id": "s"}, item_id="s"))
    session.receive(denied(code="STREAM_NOT_FOUND"))
    assert synced.refusals == []
    assert [e.item_id for e in waiting.refusals] == ["w"]


def test_a_refusal_two_unsynced_rooms_could_have_asked_for_is_ignored() -> None:
    session = connected()
    a, b = sub(session, item_id="a"), sub(session, item_id="b")
    session.receive(denied())
    session.receive(unauthorized(group="nobody"))
    assert a.refusals == b.refusals == []


def test_a_refused_room_gets_no_frames_and_sends_no_leave() -> None:
    session = connected()
    group = sub(session)
    sent(session)
    session.receive(denied())
    session.receive(sync([{"id": "a"}]))
    session.receive(custom("ping"))
    assert (group.state, group.changes, group.events) == ([], 0, [])
    session.unsubscribe(group)
    assert sent(session) == []


def test_a_refused_group_room_does_not_swallow_the_item_rooms_frames() -> None:
    # The server holds no subscription for a refused room, so it sends one copy only.
    session, group, item = group_and_item()
    session.receive(unauthorized())
    raw = custom("tick", item_id="a")
    session.receive(raw)
    session.receive(raw)  # two real events in one millisecond, one copy each
    assert item.events == [("tick", None), ("tick", None)]
    assert group.events == []


def test_a_refused_item_room_does_not_swallow_the_group_rooms_frames() -> None:
    session, group, item = group_and_item()
    session.receive(sync([]))
    session.receive(denied(item_id="a"))
    v1, v2 = {"id": "a", "v": 1}, {"id": "a", "v": 2}
    # a -> v1 -> v2 -> v1 within one millisecond: the last frame is byte-identical to the first
    for value in (v1, v2, v1):
        session.receive(put(value))
    assert group.state == [v1]
    assert item.state is None


def test_a_group_room_refused_after_it_heard_frames_hears_no_more() -> None:
    session, group, item = group_and_item()
    session.receive(custom("ping"))
    session.receive(denied())
    session.receive(custom("ping"))
    raw = custom("tick", item_id="a")
    session.receive(raw)
    session.receive(raw)  # no group subscription on the server: two real events
    assert group.events == [("ping", None)]
    assert item.events == [("tick", None), ("tick", None)]


def test_a_late_subscriber_of_a_refused_room_is_refused_at_once_without_a_join() -> None:
    session = connected()
    sub(session)
    sent(session)
    session.receive(denied())
    late = sub(session)
    assert len(late.refusals) == 1
    assert sent(session) == []


def test_a_room_rejoined_with_a_new_token_counts_as_a_copy_again() -> None:
    session, group, item = group_and_item()
    session.receive(denied(item_id="a"))
    reconnect(session, token_changed=True)
    raw = custom("tick", item_id="a")
    session.receive(raw)
    session.receive(raw)
    assert group.events == item.events == [("tick", None)]


# -- late subscribers and reconnects -------------------------------------------------------


def test_a_late_group_subscriber_is_seeded_with_the_current_state() -> None:
    session = connected()
    sub(session)
    sent(session)
    session.receive(sync([{"id": "b", "rank": 2}, {"id": "a", "rank": 1}]))
    session.receive(put({"id": "c", "rank": 0}, ts=1001))
    late = sub(session, sort_key="rank")
    assert sent(session) == []  # the room is joined already
    assert late.view.synced
    assert [item["id"] for item in late.state] == ["c", "a", "b"]
    assert late.changes == 0


def test_a_late_item_subscriber_is_seeded_with_the_current_state() -> None:
    session = connected()
    RecordingSink().subscribe(session, "openai", "trace", "message")
    session.receive(
        wire(
            {"type": "update", "data": {"text": "Hel"}},
            stream="openai",
            group="trace",
            item_id="message",
        )
    )
    late = RecordingSink().subscribe(session, "openai", "trace", "message")
    assert late.state == {"text": "Hel"}


def test_state_survives_a_reconnect_until_the_resync_replaces_it() -> None:
    session = connected()
    group = sub(session)
    session.receive(sync([{"id": "a"}]))
    session.connection_lost(None)
    assert group.state == [{"id": "a"}]  # no flash of empty
    session.retrying()
    session.connection_made(NOW_MS)
    assert group.state == [{"id": "a"}]
    session.receive(sync([{"id": "b"}], ts=5000))
    assert group.state == [{"id": "b"}]
    assert (group.changes, group.resyncs) == (2, 1)  # one change per sync, the second a resync


def test_only_a_room_synced_before_the_reconnect_is_resynced() -> None:
    session = connected()
    old, item = sub(session), sub(session, item_id="a")
    session.receive(sync([{"id": "a"}]))
    session.receive(sync({"id": "a"}, item_id="a"))
    session.connection_lost(None)
    new = sub(session, "new")
    session.retrying()
    session.connection_made(NOW_MS)
    session.receive(put({"id": "early"}, ts=900))  # iii: an update may overtake the sync
    session.receive(sync([{"id": "a", "v": 2}, {"id": "early"}]))
    session.receive(sync({"id": "a", "v": 2}, item_id="a"))
    session.receive(sync([], group="new"))
    assert (old.changes, old.resyncs) == (3, 1)
    assert (item.changes, item.resyncs) == (2, 1)
    assert (new.changes, new.resyncs) == (1, 0)


def test_only_the_first_sync_after_a_reconnect_is_a_resync() -> None:
    session = connected()
    group = sub(session)
    session.receive(sync([{"id": "a"}], ts=1000))
    reconnect(session)
    session.receive(sync([{"id": "a"}], ts=2000))  # the resync: nothing changed, nobody told
    session.receive(put({"id": "b"}, ts=2001))
    session.receive(sync([{"id": "a"}], ts=2000))  # the same sync frame once more
    assert group.state == [{"id": "a"}]
    assert (group.changes, group.resyncs) == (3, 0)


def test_a_later_connection_may_run_on_an_older_clock() -> None:
    session = connected()
    group = sub(session)
    item = sub(session, item_id="a")
    session.receive(sync([{"id": "a", "v": 1}], ts=9000))
    session.receive(put({"id": "a", "v": 2}, ts=9001))
    session.receive(put({"id": "a", "v": 2}, ts=9001))
    reconnect(session)  # another server process, its clock behind the last one's
    session.receive(sync([{"id": "a", "v": 3}], ts=100))
    session.receive(sync({"id": "a", "v": 3}, item_id="a", ts=100))
    assert group.state == [{"id": "a", "v": 3}]
    assert item.state == {"id": "a", "v": 3}
    session.receive(put({"id": "a", "v": 4}, ts=99))  # but within one connection: stale
    session.receive(put({"id": "a", "v": 4}, ts=99))
    assert item.state == {"id": "a", "v": 3}


def test_a_join_to_a_missing_0x_item_stays_unsynced_never_deleted() -> None:
    # Motia 0.x answers a join to a missing item with nothing at all.
    session = Session()
    item = sub(session, item_id="t1")
    session.connect()
    session.connection_made(NOW_MS)
    for each in session.timers_wanted():
        session.timer_fired(each, NOW_MS + 60_000)
    assert item.view.synced is False
    assert (item.state, item.changes, item.refusals) == (None, 0, [])


def test_an_iii_null_sync_says_the_item_does_not_exist_yet() -> None:
    session = connected()
    item = sub(session, item_id="t1")
    session.receive(sync(None, item_id="t1", iii=True))
    assert item.view.synced
    assert (item.state, item.changes) == (None, 1)


# -- the lifecycle ----------------------------------------------------------------------

# The table of _lifecycle's docstring, with "reconnecting -> reconnecting" (one more attempt).
ALLOWED = {
    S.IDLE: {S.CONNECTING, S.CLOSED},
    S.CONNECTING: {S.OPEN, S.RECONNECTING, S.CLOSED, S.FAILED},
    S.OPEN: {S.RECONNECTING, S.CLOSED, S.FAILED},
    S.RECONNECTING: {S.OPEN, S.RECONNECTING, S.CLOSED, S.FAILED},
    S.CLOSED: set(),
    S.FAILED: {S.CLOSED},
}

FAILURE = MotiaConnectionError("gave up")
INPUTS: dict[ConnectionState, Callable[[Session], Any]] = {
    S.CONNECTING: lambda s: s.connect(reason="start"),
    S.OPEN: lambda s: s.connection_made(NOW_MS, reason="open"),
    S.RECONNECTING: lambda s: s.retrying(reason="again", attempt=2, retry_in=0.5),
    S.CLOSED: lambda s: s.close(reason="bye"),
    S.FAILED: lambda s: s.fail(FAILURE, reason="gave up"),
}
PATHS: dict[ConnectionState, list[ConnectionState]] = {
    S.IDLE: [],
    S.CONNECTING: [S.CONNECTING],
    S.OPEN: [S.CONNECTING, S.OPEN],
    S.RECONNECTING: [S.CONNECTING, S.RECONNECTING],
    S.CLOSED: [S.CLOSED],
    S.FAILED: [S.CONNECTING, S.FAILED],
}


@pytest.mark.parametrize("new", list(INPUTS))
@pytest.mark.parametrize("previous", list(PATHS))
def test_the_lifecycle_table_is_enforced(previous: ConnectionState, new: ConnectionState) -> None:
    session = Session()
    for state in PATHS[previous]:
        INPUTS[state](session)
    session.data_to_send()
    session.timers_wanted()
    assert session.state is previous
    if new in ALLOWED[previous]:
        change = INPUTS[new](session)
        assert (change.previous, change.state, session.state) == (previous, new, new)
    else:
        with pytest.raises(InvalidTransition, match=f"from {previous.value} to {new.value}"):
            INPUTS[new](session)
        assert session.state is previous
        assert not session.pending  # nothing was done


def test_a_state_change_carries_its_details() -> None:
    session = Session()
    session.connect()
    change = session.retrying(reason="refused", attempt=3, retry_in=0.25, url="ws://h/")
    assert (change.reason, change.attempt, change.retry_in, change.url) == (
        "refused",
        3,
        0.25,
        "ws://h/",
    )
    failed = session.fail(FAILURE)
    assert failed.error is FAILURE


def test_fail_ends_every_subscriber_with_the_error_and_drops_the_outputs() -> None:
    session = connected()
    group, item = sub(session), sub(session, item_id="a")
    session.fail(FAILURE)
    assert group.endings == item.endings == [FAILURE]
    assert session.rooms == {}
    assert (session.data_to_send(), session.timers_wanted(), session.pending) == ([], [], False)
    session.unsubscribe(group)  # ended already: nothing more
    assert group.endings == [FAILURE]
    with pytest.raises(RuntimeError, match="failed"):
        sub(session)


def test_close_ends_every_subscriber() -> None:
    session = connected()
    group = sub(session)
    session.close()
    assert group.endings == [None]
    with pytest.raises(RuntimeError, match="closed"):
        sub(session)


def test_a_loss_without_a_connection_changes_nothing() -> None:
    session = connected()
    group = sub(session)
    session.receive(sync([]))
    session.connection_lost(None)
    session.connection_lost(MotiaConnectionError("again"))  # not connected: ignored
    session.retrying()
    session.connection_made(NOW_MS)
    session.receive(sync([], ts=2000))
    assert [gap.reason for gap in group.gaps] == ["the connection was closed"]


# -- timers -----------------------------------------------------------------------------


def test_a_timer_of_an_earlier_connection_is_ignored() -> None:
    session = Session()
    session.connect()
    session.connection_made(NOW_MS)
    old = timer(session.timers_wanted(), "healthy")
    new = timer(reconnect(session), "healthy")
    session.timer_fired(old, NOW_MS)
    assert not session.healthy
    session.timer_fired(new, NOW_MS)
    assert session.healthy


def test_a_timer_that_fires_after_the_loss_is_ignored() -> None:
    session = Session()
    session.connect()
    session.connection_made(NOW_MS)
    healthy = timer(session.timers_wanted(), "healthy")
    session.connection_lost(None)
    session.timer_fired(healthy, NOW_MS)
    assert not session.healthy


def test_timestamps_are_accepted_up_to_one_day_past_the_clients_clock() -> None:
    session = Session()
    session.connect()
    session.connection_made(5_000)
    group = sub(session)
    session.receive(sync([], ts=1_000))
    session.receive(put({"id": "late"}, ts=5_001 + FUTURE_TOLERANCE_MS))  # malformed: skipped
    session.receive(put({"id": "edge"}, ts=5_000 + FUTURE_TOLERANCE_MS))
    assert group.state == [{"id": "edge"}]


def test_a_frame_from_beyond_the_window_cannot_make_later_frames_stale() -> None:
    session = Session()
    session.connect()
    session.connection_made(5_000)
    group = sub(session)
    session.receive(sync([], ts=1_000))
    session.receive(put({"id": "a", "v": "poison"}, ts=10 * FUTURE_TOLERANCE_MS))
    session.receive(put({"id": "a", "v": "real"}, ts=2_000))
    assert group.state == [{"id": "a", "v": "real"}]


def test_the_clock_timer_moves_the_window_and_asks_to_fire_again() -> None:
    session = Session()
    session.connect()
    session.connection_made(5_000)
    clock = timer(session.timers_wanted(), "clock")
    group = sub(session)
    late = put({"id": "a"}, ts=5_000 + FUTURE_TOLERANCE_MS + 30_000)
    session.receive(late)
    assert group.state == []
    session.timer_fired(clock, 5_000 + 60_000)
    session.receive(late)
    assert group.state == [{"id": "a"}]
    assert session.timers_wanted() == [Timer("clock", CLOCK_SECONDS, clock.generation)]


def test_the_window_never_reaches_past_the_largest_exact_integer() -> None:
    session = Session()
    session.connect()
    session.connection_made(MAX_TIMESTAMP)
    group = sub(session)
    session.receive(put({"id": "a"}, ts=MAX_TIMESTAMP))
    session.receive(put({"id": "b"}, ts=MAX_TIMESTAMP + 1))
    assert group.state == [{"id": "a"}]


# -- refusal probation (a token that expired while the client was away) --------------------


def probation_session() -> tuple[Session, Any, Any, list[Timer]]:
    """A client with a token callable, two group rooms, reconnected; its new timers."""
    session = Session(token_callable=True)
    one, two = sub(session, "one"), sub(session, "two")
    session.connect()
    session.connection_made(NOW_MS)
    assert "probation" not in {t.kind for t in session.timers_wanted()}
    session.receive(sync([], group="one"))
    session.receive(sync([], group="two"))
    timers = reconnect(session)
    sent(session)
    return session, one, two, timers


def test_a_refusal_on_the_first_connection_is_told_at_once() -> None:
    session = Session(token_callable=True)
    one = sub(session, "one")
    session.connect()
    session.connection_made(NOW_MS)
    session.receive(denied(group="one"))
    assert len(one.refusals) == 1


def test_after_a_reconnect_a_refusal_is_held_until_state_flows() -> None:
    session, one, two, timers = probation_session()
    assert timer(timers, "probation").delay == PROBATION_SECONDS
    session.receive(denied(group="one"))
    assert one.refusals == []
    assert not session.refresh_token  # room "two" is not refused
    session.receive(sync([], group="two", ts=2000))  # state flows: the refusal is real
    assert len(one.refusals) == 1
    assert two.refusals == []


def test_a_held_refusal_is_told_when_the_probation_timer_fires() -> None:
    session, one, _two, timers = probation_session()
    session.receive(unauthorized(group="one"))
    session.timer_fired(timer(timers, "probation"), NOW_MS + 2000)
    assert len(one.refusals) == 1
    session.receive(unauthorized(group="one"))
    assert len(one.refusals) == 1


def test_a_held_refusal_is_told_when_the_connection_is_lost() -> None:
    session, one, _two, _timers = probation_session()
    session.receive(unauthorized(group="one"))
    session.connection_lost(None)
    assert len(one.refusals) == 1


def test_every_join_refused_after_a_reconnect_asks_for_a_token_refresh_once() -> None:
    session, one, two, _timers = probation_session()
    session.receive(denied(group="one"))
    assert not session.refresh_token
    session.receive(denied(group="two"))
    assert session.refresh_token
    assert session.pending
    assert one.refusals == two.refusals == []
    session.keep_token()  # the token callable returned the same token: the refusals are real
    assert not session.refresh_token
    assert len(one.refusals) == len(two.refusals) == 1
    reconnect(session)  # same token: refused rooms are not joined again, nothing is asked
    assert joined(session) == []
    assert not session.refresh_token


def test_a_new_token_drops_the_held_refusals_and_rejoins() -> None:
    session, one, two, _timers = probation_session()
    session.receive(unauthorized(group="one"))
    session.receive(unauthorized(group="two"))
    assert session.refresh_token
    session.token_changed()  # the client reconnects with the new token
    assert not session.refresh_token
    timers = reconnect(session, token_changed=True)
    assert one.refusals == two.refusals == []
    assert sorted(joined(session)) == [("one", None), ("two", None)]
    assert "probation" in {t.kind for t in timers}
    session.receive(sync([{"id": "x"}], group="one", ts=3000))
    assert one.state == [{"id": "x"}]


def test_a_late_subscriber_of_a_held_refusal_is_judged_with_the_others() -> None:
    session, one, _two, timers = probation_session()
    session.receive(denied(group="one"))
    late = sub(session, "one")
    assert late.refusals == []
    session.timer_fired(timer(timers, "probation"), NOW_MS)
    assert len(one.refusals) == len(late.refusals) == 1


def test_a_room_left_while_its_refusal_is_held_is_not_told() -> None:
    session, one, _two, timers = probation_session()
    session.receive(denied(group="one"))
    session.unsubscribe(one)
    assert sent(session) == []  # refused: no leave
    session.timer_fired(timer(timers, "probation"), NOW_MS)
    assert one.refusals == []
    assert one.endings == [None]


def test_without_a_token_callable_there_is_no_probation() -> None:
    session = connected()
    one = sub(session, "one")
    timers = reconnect(session)
    assert "probation" not in {t.kind for t in timers}
    session.receive(denied(group="one"))
    assert len(one.refusals) == 1


# -- joins that kill the connection --------------------------------------------------------


def three_rooms() -> tuple[Session, dict[str, Any]]:
    """Groups g1, g2, g3 joined on a first connection; only g1 answered."""
    session = Session()
    sinks = {name: sub(session, name) for name in ("g1", "g2", "g3")}
    session.connect()
    session.connection_made(NOW_MS)
    assert len(sent(session)) == 3
    session.timers_wanted()
    session.receive(sync([], group="g1"))
    return session, sinks


def test_unanswered_joins_of_a_killed_connection_are_probed_one_at_a_time() -> None:
    session, sinks = three_rooms()
    timers = reconnect(session, killed(1009))
    assert joined(session) == [("g1", None), ("g2", None)]  # g3 waits for g2's probe
    assert timer(timers, "probe").delay == PROBE_SECONDS
    session.receive(sync([], group="g1", ts=2000))
    assert not session.healthy  # suspects remain
    session.receive(sync([], group="g2", ts=2001))  # answered: innocent, next suspect
    assert joined(session) == [("g3", None)]
    assert timer(session.timers_wanted(), "probe").delay == PROBE_SECONDS
    session.receive(sync([], group="g3", ts=2002))
    assert session.healthy
    assert all(sink.refusals == [] for sink in sinks.values())


def test_the_suspect_whose_join_kills_the_connection_again_is_refused_for_good() -> None:
    session, sinks = three_rooms()
    error = killed(1009)
    reconnect(session, error)
    sent(session)
    session.receive(sync([], group="g1", ts=2000))
    reconnect(session, error)  # while g2 was joined alone
    (refusal,) = sinks["g2"].refusals
    assert refusal.item_id is None
    assert refusal.__cause__ is error
    assert "code 1009" in str(refusal)
    assert "size limit" in str(refusal)
    assert "not joined again" in str(refusal)
    assert joined(session) == [("g1", None), ("g3", None)]  # g3: the next suspect
    reconnect(session, token_changed=True)
    assert ("g2", None) not in joined(session)  # refused locally: a new token does not help


def four_suspects_probed() -> tuple[Session, dict[str, Any], Timer]:
    """g1 answered, g2..g4 suspects: g2's probe answered, g3 probed now; g2's probe timer."""
    session, sinks = three_rooms()
    sinks["g4"] = sub(session, "g4")
    sent(session)
    first_probe = timer(reconnect(session, killed(1009)), "probe")
    assert joined(session) == [("g1", None), ("g2", None)]
    session.receive(sync([], group="g2", ts=2000))
    assert joined(session) == [("g3", None)]
    session.timers_wanted()
    return session, sinks, first_probe


def test_a_probe_timer_after_the_last_suspect_answered_changes_nothing() -> None:
    session, sinks, first_probe = four_suspects_probed()
    session.receive(sync([], group="g3", ts=2001))
    assert joined(session) == [("g4", None)]
    session.receive(sync([], group="g4", ts=2002))
    session.receive(sync([], group="g1", ts=2003))
    assert session.healthy
    session.timer_fired(first_probe, NOW_MS)
    assert sent(session) == []
    assert all(sink.refusals == [] for sink in sinks.values())


def test_a_probe_timer_clears_only_the_suspect_it_was_armed_for() -> None:
    session, sinks, first_probe = four_suspects_probed()
    session.timer_fired(first_probe, NOW_MS)  # armed for g2, which answered already
    assert sent(session) == []  # g3 is still being probed: g4 waits
    reconnect(session, FrameTooLarge(1024))  # g3's sync was too large
    assert len(sinks["g3"].refusals) == 1
    assert sinks["g4"].refusals == []


def test_a_connection_opened_without_the_loss_reported_still_probes_the_suspects() -> None:
    session, _sinks = three_rooms()
    reconnect(session, killed(1009))
    assert joined(session) == [("g1", None), ("g2", None)]
    session.retrying()  # the client skipped connection_lost
    session.connection_made(NOW_MS)
    assert joined(session) == [("g1", None), ("g2", None)]


def test_a_lone_unanswered_join_is_convicted_at_once_when_the_others_were_answered() -> None:
    session, sinks = three_rooms()
    session.receive(sync([], group="g3"))
    reconnect(session, killed(1008))
    (refusal,) = sinks["g2"].refusals
    assert "code 1008" in str(refusal)
    assert "each time it was joined" in str(refusal)
    assert "size limit" not in str(refusal)
    assert joined(session) == [("g1", None), ("g3", None)]


def test_a_frame_too_large_convicts_with_the_max_size_hint() -> None:
    session, sinks = three_rooms()
    session.receive(sync([], group="g3"))
    reconnect(session, FrameTooLarge(1024))
    (refusal,) = sinks["g2"].refusals
    assert "max_size of 1024 bytes" in str(refusal)
    assert "raise max_size=" in str(refusal)


def test_a_lone_join_is_probed_before_it_is_convicted() -> None:
    session = Session()
    only = sub(session, "g1")
    session.connect()
    session.connection_made(NOW_MS)
    reconnect(session, killed(1008))  # one strike: maybe it was not its fault
    assert only.refusals == []
    assert joined(session) == [("g1", None)]  # probed alone
    reconnect(session, killed(1008))
    assert len(only.refusals) == 1
    assert joined(session) == []


def test_a_probed_suspect_that_outlives_its_probe_timer_is_innocent() -> None:
    session, sinks = three_rooms()
    timers = reconnect(session, killed(1009))
    sent(session)
    session.timer_fired(timer(timers, "probe"), NOW_MS)  # g2 did not kill the connection
    assert joined(session) == [("g3", None)]
    reconnect(session, killed(1009))  # while g3 was probed: g3 is guilty, g2 is not
    assert sinks["g2"].refusals == []
    assert len(sinks["g3"].refusals) == 1


@pytest.mark.parametrize("error", [None, MotiaConnectionError("reset", close_code=1006)])
def test_a_loss_no_join_can_cause_makes_no_suspects(error: Any) -> None:
    session, _sinks = three_rooms()
    reconnect(session, error)
    assert sorted(joined(session)) == [("g1", None), ("g2", None), ("g3", None)]


def test_a_loss_after_the_connection_was_healthy_makes_no_suspects() -> None:
    session = Session()
    for name in ("g1", "g2"):
        sub(session, name)
    session.connect()
    session.connection_made(NOW_MS)
    session.timer_fired(timer(session.timers_wanted(), "healthy"), NOW_MS)
    reconnect(session, killed(1009))
    assert sorted(joined(session)) == [("g1", None), ("g2", None)]


def test_a_suspect_left_before_or_while_it_is_probed_makes_way_for_the_next() -> None:
    session = Session()
    sinks = {name: sub(session, name) for name in ("g1", "g2", "g3", "g4")}
    session.connect()
    session.connection_made(NOW_MS)
    reconnect(session, killed(1009))
    assert joined(session) == [("g1", None)]  # four suspects: g1 probed first
    session.unsubscribe(sinks["g2"])  # waiting: dropped from the line
    session.unsubscribe(sinks["g1"])  # probed: its leave, then the next suspect
    frames = sent(session)
    assert [(f["type"], f["data"]["groupId"]) for f in frames] == [("leave", "g1"), ("join", "g3")]


# -- health -----------------------------------------------------------------------------


def test_a_connection_is_healthy_once_every_join_was_answered() -> None:
    session = Session()
    sub(session, "one")
    sub(session, "two")
    session.connect()
    session.connection_made(NOW_MS)
    session.receive(sync([], group="one"))
    assert not session.healthy
    session.receive(denied(group="two"))  # a refusal is an answer too
    assert session.healthy
    session.connection_lost(None)
    assert not session.healthy


def test_silent_joins_are_healthy_after_the_healthy_timer() -> None:
    session = Session()
    sub(session, item_id="missing")  # 0.x: never answered
    session.connect()
    session.connection_made(NOW_MS)
    timers = session.timers_wanted()
    assert not session.healthy
    session.timer_fired(timer(timers, "healthy"), NOW_MS + 5000)
    assert session.healthy


# -- event gaps -------------------------------------------------------------------------


def test_no_gap_is_reported_on_the_first_connection() -> None:
    session = Session()
    group = sub(session)
    session.connect()
    session.connection_made(NOW_MS)
    session.receive(sync([], ts=1000))
    assert group.gaps == []


def test_a_gap_reaches_the_members_present_at_the_loss() -> None:
    session = connected()
    group = sub(session)
    item = sub(session, item_id="a")
    session.receive(sync([], ts=1000))
    session.receive(put({"id": "x"}, ts=1500))
    session.connection_lost(MotiaConnectionError("connection reset"))
    late = sub(session)
    session.retrying()
    session.connection_made(NOW_MS)
    session.receive(sync([], ts=2000))
    assert group.gaps == [EventGap(since=at(1500), until=at(2000), reason="connection reset")]
    assert late.gaps == []
    assert item.gaps == []  # its room has not heard from the server yet
    session.receive(sync(None, item_id="a", ts=2100))
    assert item.gaps == [EventGap(at(1500), at(2100), "connection reset")]
    session.receive(put({"id": "y"}, ts=2200))
    assert len(group.gaps) == 1  # once per loss


def test_a_gap_starts_at_the_last_custom_event_received() -> None:
    session = connected()
    group = sub(session)
    session.receive(sync([], ts=1000))
    session.receive(custom("tick", ts=1500))  # heard: events up to 1500 were not missed
    reconnect(session, MotiaConnectionError("reset"))
    session.receive(sync([], ts=2000))
    assert group.gaps == [EventGap(at(1500), at(2000), "reset")]


def test_a_gap_spans_every_loss_until_the_room_hears_again() -> None:
    session = connected()
    group = sub(session)
    session.receive(sync([], ts=1000))
    session.connection_lost(MotiaConnectionError())
    session.retrying()
    session.connection_made(NOW_MS)
    session.connection_lost(MotiaConnectionError("second"))  # before the room heard anything
    session.retrying()
    session.connection_made(NOW_MS)
    session.receive(sync([], ts=3000))
    assert group.gaps == [EventGap(at(1000), at(3000), "MotiaConnectionError")]


def test_a_gap_since_nothing_is_open_ended() -> None:
    session = connected()
    group = sub(session)
    reconnect(session)  # lost before any frame arrived
    session.receive(sync([], ts=3000))
    assert group.gaps == [EventGap(None, at(3000), "the connection was closed")]


def test_a_refused_room_gets_no_gap() -> None:
    session = connected()
    group = sub(session)
    session.receive(denied())
    reconnect(session, token_changed=True)
    session.receive(sync([], ts=3000))
    assert group.gaps == []


def test_the_gap_is_measured_in_server_time_from_the_latest_frame() -> None:
    session = connected()
    group = sub(session)
    other = sub(session, "other")
    session.receive(sync([], ts=1000))
    session.receive(sync([], group="other", ts=4000))
    session.receive(put({"id": "a"}, ts=3000))  # older than the latest: not the "since"
    reconnect(session)
    session.receive(sync([], ts=5000))
    session.receive(sync([], group="other", ts=5001))
    assert group.gaps == [EventGap(at(4000), at(5000), "the connection was closed")]
    assert other.gaps == [EventGap(at(4000), at(5001), "the connection was closed")]


# -- drift checks (verify_interval) ------------------------------------------------------


def test_the_groups_to_verify_are_those_of_the_rooms_synced_on_this_connection() -> None:
    session = connected()
    sub(session)
    sub(session, "work", item_id="t1")
    sub(session, "later")
    generation = session.generation
    session.receive(sync([{"id": "a"}], ts=1000))
    session.receive(sync({"id": "t1"}, group="work", item_id="t1", ts=1000))
    assert sorted(session.verifiable()) == [("todo", "inbox"), ("todo", "work")]
    reconnect(session)
    assert session.generation == generation + 1
    assert session.verifiable() == []  # nothing answered on the new connection yet


def test_a_difference_explained_by_a_newer_frame_is_no_drift() -> None:
    session = connected()
    group = sub(session)
    session.receive(sync([{"id": "a", "v": 1}, {"id": "b"}], ts=1000))
    session.receive(put({"id": "a", "v": 2}, ts=1500))  # after the snapshot below
    session.receive(delete("b", ts=1600))  # after it too
    truth = {"a": {"id": "a", "v": 1}, "b": {"id": "b"}}
    assert session.drift(("todo", "inbox", None), truth, 1200) is None
    assert group.drifts == []


def test_a_stalled_room_is_found_different_and_repaired_through_the_feed() -> None:
    session = connected()
    group = sub(session)
    assert group.view is not None
    group.view.tracks = True
    session.receive(sync([{"id": "a", "v": 1}, {"id": "gone"}, {"id": "same"}], ts=1000))
    group.recorded.clear()
    changes = group.changes
    truth = {"a": {"id": "a", "v": 2}, "new": {"id": "new"}, "same": {"id": "same"}}
    drift = session.drift(("todo", "inbox", None), truth, 5000)
    assert drift is not None
    assert (drift.missing, drift.extra, drift.different) == (("new",), ("gone",), ("a",))
    assert "todo/inbox" in str(drift)
    session.repair(("todo", "inbox", None), truth, 5000, drift)
    assert group.state == list(truth.values())
    assert group.changes == changes + 1
    assert group.resyncs == 1  # the feed's entries carry resync=True
    assert sorted((kind, key) for kind, key, _, _ in group.recorded) == [
        ("added", "new"),
        ("modified", "a"),
        ("removed", "gone"),
    ]
    assert group.drifts == [drift]
    assert session.drift(("todo", "inbox", None), truth, 5000) is None  # in step now


def test_an_item_room_is_checked_against_its_groups_snapshot() -> None:
    session = connected()
    item = sub(session, item_id="t1")
    session.receive(sync({"id": "t1", "v": 1}, item_id="t1", ts=1000))
    key = ("todo", "inbox", "t1")
    assert session.drift(key, {"t1": {"id": "t1", "v": 1}, "x": {"id": "x"}}, 2000) is None
    drift = session.drift(key, {}, 2000)  # deleted on the server, never told
    assert drift is not None
    assert drift.extra == ("t1",)
    session.repair(key, {}, 2000, drift)
    assert item.state is None
    assert item.drifts == [drift]


def test_nothing_to_check_for_a_room_not_synced_or_gone() -> None:
    session = connected()
    sub(session)
    assert session.drift(("todo", "inbox", None), {"a": {"id": "a"}}, 1000) is None  # unsynced
    assert session.drift(("todo", "elsewhere", None), {}, 1000) is None  # no such room
    session.repair(("todo", "elsewhere", None), {}, 1000, _a_drift())  # nothing to repair


def _a_drift() -> StateDrift:
    return StateDrift("todo", "elsewhere", None, (), (), ())


# -- outputs and robustness ----------------------------------------------------------------


def test_the_wake_callback_says_when_an_output_is_pending_once() -> None:
    woken: list[int] = []
    session = Session(wake=lambda: woken.append(1))
    sub(session)
    session.connect()
    session.connection_made(NOW_MS)  # joins and timers: one wake until they are read
    assert woken == [1]
    assert session.pending
    session.data_to_send()
    session.timers_wanted()
    assert not session.pending
    sub(session, "work")
    assert woken == [1, 1]


def test_a_token_refresh_request_is_taken_once() -> None:
    session = Session(token_callable=True)
    sub(session)
    session.connect()
    session.connection_made(NOW_MS)
    reconnect(session)
    sent(session)
    session.receive(denied())
    assert session.take_token_refresh()
    assert not session.take_token_refresh()


def test_a_bug_while_handling_a_frame_is_logged_and_only_that_frame_is_lost(
    caplog: pytest.LogCaptureFixture,
) -> None:
    session = connected()

    class Buggy(RecordingSink):
        def changed(self, resync: bool) -> None:
            raise RuntimeError("a bug")

    Buggy().subscribe(session, "todo", "inbox")
    fine = sub(session)
    with caplog.at_level(logging.ERROR, logger="motia_client"):
        session.receive(sync([{"id": "a"}], ts=1000))
    assert any("frame was skipped" in r.getMessage() for r in caplog.records)
    session.receive(put({"id": "b"}, ts=1001))
    assert [i["id"] for i in fine.state] == ["a", "b"]


def test_an_item_resync_that_changes_nothing_ends_the_resync() -> None:
    session = connected()
    item = sub(session, item_id="t1")
    session.receive(sync({"id": "t1"}, item_id="t1", ts=1000))
    reconnect(session)
    session.receive(sync({"id": "t1"}, item_id="t1", ts=2000))  # unchanged: nobody told
    session.receive(sync({"id": "t1", "v": 2}, item_id="t1", ts=2001))  # a later sync
    assert (item.changes, item.resyncs) == (2, 0)


def test_values_too_deep_to_compare_count_as_different_in_a_drift_check() -> None:
    session = connected()
    sub(session)

    def nested(depth: int, leaf: int) -> Any:
        value: Any = leaf
        for _ in range(depth):
            value = [value]
        return value

    session.receive(sync([{"id": "a", "v": nested(300, 1)}], ts=1000))
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(200)  # comparing 300 levels now overflows, as 1,000+ would
    try:
        drift = session.drift(
            ("todo", "inbox", None), {"a": {"id": "a", "v": nested(300, 1)}}, 2000
        )
    finally:
        sys.setrecursionlimit(previous)
    assert drift is not None
    assert drift.different == ("a",)
