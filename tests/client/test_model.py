"""Model test: random Motia server histories against the very Session the client runs.

A small faithful Motia server (both dialects of PROTOCOL.md section 4) holds
groups of items, a refusal policy and the server-side subscriptions of one
socket. Random histories of sets, deletes (also of missing ids), custom events,
repeats in the same millisecond, stale frames (an earlier frame of the
connection sent again), refusals, reconnects (with changes made while offline,
a new token or not, and the iii race where updates overtake the join's sync),
late local subscribers, leaves and the 0.x Redis echo are rendered to wire
frames, one identical copy per matching server-side subscription, and fed to a
:class:`Session` through ``receive``; its joins and leaves go back to the server.

Each frame the server sends is also applied, once, to a reference model: the
rules of PROTOCOL.md section 5 written the simplest way (plain dicts, a full
sort). After every frame, each local subscriber must have been told exactly
once per change of its room (with ``resync`` true for the first sync after a
reconnect of a room synced before), and nothing for a copy, a duplicate or a
stale frame; its view must hold the model's state (in its sort order, validated
by its model); each custom event must have reached it exactly once, in order,
and each refusal once. Where the protocol lets the client know it, the model
must also equal the server's truth.

With the change feed on (``view.tracks``), what each subscriber records must be
the difference between its consecutive states: one entry per real change, none
for a copy, duplicate or stale frame, and after a reconnect the net difference.

What the client cannot know is not asserted against the truth: 0.x sends nothing
for a missing item, so an item room rejoined after its item was deleted offline
keeps its last value until the next frame for it. Not modelled: the join-killer
judging and refusal probation (tested in test_session), whose rooms are held
back from the server on purpose.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict

from motia_client._session import Session
from motia_client._views import GroupView
from tests.client.sinks import NOW_MS, RecordingSink

STREAM = "todo"
GROUPS = ("g1", "g2", "g3")  # g3 is never subscribed to
IDS = ("a", "b", "c")
MISSING = object()
NEVER = -(1 << 62)
Room = tuple[str, str | None]  # (group, id) on the one stream


class Todo(BaseModel):
    """Every field counts (``extra="allow"``): a model changes exactly when its item does."""

    model_config = ConfigDict(extra="allow")
    id: str
    v: int


# Local subscriptions a history can hold: (group, item id, sort key, model).
Spec = tuple[str, str | None, str | None, type[BaseModel] | None]
SPECS: list[Spec] = [
    ("g1", None, None, None),
    ("g1", None, "rank", None),
    ("g1", "a", None, None),
    ("g1", "b", None, Todo),
    ("g2", "a", None, None),
    ("g2", None, "rank", Todo),
    ("g1", None, "rank", Todo),
    ("g2", "a", None, Todo),
    ("g2", None, None, None),
]
# For the change feed: views without a model (see the strict xfail below), and views with one.
RAW_GROUP_SPECS = [spec for spec in SPECS if spec[1] is None and spec[3] is None]
OTHER_SPECS = [spec for spec in SPECS if spec not in RAW_GROUP_SPECS]


# -- histories --------------------------------------------------------------


@dataclass(frozen=True)
class Set:
    group: str
    item_id: str
    value: int
    rank: Any
    tick: int
    echo: str | None  # 0.x Redis: a custom event named like the frame, "before"/"after" it


@dataclass(frozen=True)
class Delete:
    group: str
    item_id: str
    tick: int
    echo: str | None


@dataclass(frozen=True)
class Event:
    group: str
    item_id: str | None
    name: str
    data: Any
    tick: int
    times: int  # sent this many times in one millisecond (a ping, a repeated token)


@dataclass(frozen=True)
class Again:
    back: int  # the same set, delete or event as `back` such steps ago, in the same millisecond


@dataclass(frozen=True)
class Stale:
    back: int  # the `back`-th last item frame of this connection, sent again as it was
    older: bool  # only among frames older than their item's latest (else: equal ones too)


@dataclass(frozen=True)
class Late:
    back: int  # for the `back`-th most recently changed room or item of this connection,
    kind: str  # an update, delete or sync stamped one millisecond before its latest frame
    value: int


@dataclass(frozen=True)
class Reconnect:
    window: int  # iii: how many following steps overtake the last join's sync
    new_token: bool  # with a new token: refused rooms are joined again
    refuse: frozenset[Room]  # the server's refusal policy from now on (with a new token)
    behind: int  # another server process, its clock this many ms behind the last one's


@dataclass(frozen=True)
class Disconnect:
    pass


@dataclass(frozen=True)
class Subscribe:
    spec: int


@dataclass(frozen=True)
class Unsubscribe:
    pick: int


@dataclass(frozen=True)
class Revoke:
    room: Room  # the server refuses this room's next join (same token)


ticks = st.sampled_from([0, 0, 1, 1, 2])
echoes = st.sampled_from([None, None, "before", "after"])
groups = st.sampled_from([*GROUPS, "g1"])
ids = st.sampled_from([*IDS, "a"])  # more often "a", the id held in two groups
ranks = st.sampled_from([0, 1, 2, 2, "x", MISSING])
rooms = st.sampled_from([("g1", None), ("g2", None), ("g1", "a"), ("g2", "a"), ("g1", "b")])
sets = st.builds(Set, groups, ids, st.integers(0, 2), ranks, ticks, echoes)
deletes = st.builds(Delete, groups, ids, ticks, echoes)
events = st.builds(
    Event,
    groups,
    st.none() | ids,
    st.sampled_from(["ping", "token"]),
    st.sampled_from([None, 1, "x"]),
    ticks,
    st.sampled_from([1, 1, 2, 3]),
)
reconnects = st.builds(
    Reconnect,
    st.integers(0, 3),
    st.booleans(),
    st.frozensets(rooms, max_size=2),
    st.sampled_from([0, 0, 40]),
)
steps = st.one_of(
    sets,
    sets,
    sets,
    deletes,
    events,
    events,
    st.builds(Again, st.sampled_from([1, 1, 2, 3])),
    st.builds(Stale, st.sampled_from([1, 2, 3, 5]), st.booleans()),
    st.builds(
        Late,
        st.sampled_from([1, 1, 2, 3]),
        st.sampled_from(["update", "delete", "sync"]),
        st.integers(0, 2),
    ),
    st.builds(
        Late,
        st.sampled_from([1, 1, 2, 3]),
        st.sampled_from(["update", "delete", "sync"]),
        st.integers(0, 2),
    ),
    reconnects,
    st.just(Disconnect()),
    st.builds(Subscribe, st.integers(0, len(SPECS) - 1)),
    st.builds(Unsubscribe, st.integers(0, 20)),
    st.builds(Revoke, rooms),
)
initial_items = st.lists(st.tuples(st.sampled_from(GROUPS), ids, st.integers(0, 2), ranks))
histories = st.lists(steps, min_size=10, max_size=60)


# -- the reference model: PROTOCOL.md section 5, the simplest way -------------------------


@dataclass(eq=False)
class RefRoom:
    """What one local room must hold: an item or a group, by the rules of section 5."""

    group: str
    item_id: str | None
    synced: bool = False
    value: Any = None  # item rooms
    ts: int = NEVER
    items: dict[str, Any] = field(default_factory=dict)  # group rooms, in natural order
    stamps: dict[str, int] = field(default_factory=dict)  # the last frame per key (deletes too)
    floor: int = NEVER  # the last sync
    refused: bool = False
    resyncing: bool = False  # its first sync on this connection replaces earlier state
    fresh: bool = False  # heard from the server on this connection
    confirmed: bool = False  # an item room: a state frame applied on this connection
    tainted: set[str] = field(default_factory=set)  # keys a stale frame set: not the truth
    members: list[CheckedSink] = field(default_factory=list)

    def rebase(self) -> None:
        """A new connection: timestamps are forgotten, state is kept."""
        self.ts = self.floor = NEVER
        self.stamps = {}
        self.resyncing = self.synced
        self.fresh = False
        self.confirmed = False  # an item: pending until its rejoin is answered

    def sync(self, ts: int, data: Any) -> bool:
        if self.item_id is not None:
            return self.change("sync", self.item_id, ts, data)
        if ts < self.floor:
            return False
        self.floor, self.stamps = ts, {}
        items = {item["id"]: item for item in data}
        changed = not self.synced or list(items.items()) != list(self.items.items())
        self.synced, self.items = True, items
        return changed

    def change(self, kind: str, key: str, ts: int, data: Any) -> bool:
        if self.item_id is not None:
            if ts < self.ts:
                return False
            self.ts = ts
            self.confirmed = True
            new = None if kind == "delete" else data
            if self.synced and new == self.value:
                return False
            self.synced, self.value = True, new
            return True
        if ts < self.stamps.get(key, self.floor):
            return False
        self.stamps[key] = ts
        if kind == "delete":
            return self.items.pop(key, None) is not None
        if self.items.get(key) == data:
            return False
        self.items[key] = data  # an update keeps its place, a new key goes last
        return True

    def by_id(self) -> dict[str, Any]:
        if self.item_id is None:
            return self.items
        return {} if self.value is None else {self.item_id: self.value}


def rank(value: Any) -> tuple[int, Any]:
    """The reference clients' order: numbers, then strings, then missing."""
    if value is None:
        return (3, 0)
    return (1, value) if isinstance(value, str) else (0, value)


# -- the subscriber ------------------------------------------------------------------------


class CheckedSink(RecordingSink):
    """A subscriber that checks its change feed against its consecutive states as it is told."""

    def __init__(self, name: str, spec: Spec, tracks: bool) -> None:
        super().__init__(name)
        self.spec = spec
        self.tracks = tracks
        self.calls: list[bool] = []  # the resync flag of each change since the last check
        self.before: dict[str, Any] = {}

    def by_id(self) -> dict[str, Any]:
        view = self.view
        assert view is not None
        if isinstance(view, GroupView):
            return dict(view.by_id)
        value = view.snapshot()
        return {} if value is None else {view.item_id: value}

    def start(self) -> None:
        assert self.view is not None
        self.view.tracks = self.tracks
        self.before = self.by_id()

    def changed(self, resync: bool) -> None:
        assert self.view is not None
        recorded = list(self.view.recorded)
        super().changed(resync)
        self.calls.append(resync)
        after = self.by_id()
        if self.tracks:
            assert _by_kind_and_id(recorded) == _by_kind_and_id(diff(self.before, after)), self
        self.before = after


def diff(before: dict[str, Any], after: dict[str, Any]) -> list[tuple[str, str, Any, Any]]:
    """What changed between two states, item by item: the change feed's reference."""
    changes: list[tuple[str, str, Any, Any]] = []
    for key, old in before.items():
        if key not in after:
            changes.append(("removed", key, old, None))
        elif after[key] != old:
            changes.append(("modified", key, old, after[key]))
    changes += [("added", key, None, new) for key, new in after.items() if key not in before]
    return changes


def _by_kind_and_id(changes: list[Any]) -> list[Any]:
    return sorted(changes, key=lambda change: (change[0], change[1]))


# -- the client side ---------------------------------------------------------------------


class Client:
    """The session under test, its local subscribers, and the reference model of its rooms."""

    def __init__(self, tracks: bool) -> None:
        self.session = Session()
        self.tracks = tracks
        self.sinks: dict[str, CheckedSink] = {}
        self.rooms: dict[Room, RefRoom] = {}
        self.expected_events: dict[str, list[tuple[str, Any]]] = {}
        self.expected_refusals: dict[str, int] = {}
        self.serial = 0

    def subscribe(self, spec: Spec) -> CheckedSink:
        group, item_id, sort_key, model = spec
        self.serial += 1
        sink = CheckedSink(f"s{self.serial}", spec, self.tracks)
        sink.subscribe(self.session, STREAM, group, item_id, sort_key=sort_key, model=model)
        sink.start()
        room = self.rooms.get((group, item_id))
        if room is None:
            room = self.rooms[(group, item_id)] = RefRoom(group, item_id)
        room.members.append(sink)
        self.sinks[sink.name] = sink
        self.expected_events[sink.name] = []
        self.expected_refusals[sink.name] = 1 if room.refused else 0
        return sink

    def unsubscribe(self, name: str) -> Room:
        sink = self.sinks.pop(name)
        group, item_id = sink.spec[0], sink.spec[1]
        room = self.rooms[(group, item_id)]
        room.members.remove(sink)
        if not room.members:
            del self.rooms[(group, item_id)]
        self.session.unsubscribe(sink)
        assert sink.endings == [None]
        assert sink.events == self.expected_events.pop(name), sink
        return (group, item_id)

    def live(self, room: Room) -> RefRoom | None:
        found = self.rooms.get(room)
        return found if found is not None and not found.refused else None

    def connection_made(self, new_token: bool) -> None:
        for room in self.rooms.values():
            room.rebase()
            if new_token:
                room.refused = False

    # the model's side of each frame ------------------------------------------------------

    def expect(
        self, kind: str, group: str, item_id: str | None, ts: int, data: Any
    ) -> dict[str, bool]:
        """Apply one frame to the model; return the resync flag each member must be told."""
        told: dict[str, bool] = {}
        if kind == "sync":
            targets = [self.live((group, item_id))]
        else:
            targets = [self.live((group, item_id)), self.live((group, None))]
        for room in targets:
            if room is None:
                continue
            if kind == "sync":
                changed = room.sync(ts, data)
            else:
                assert item_id is not None
                changed = room.change(kind, item_id, ts, data)
            resync = room.resyncing and kind == "sync"
            if kind == "sync":
                room.resyncing = False
            if changed:
                for sink in room.members:
                    told[sink.name] = resync
        return told

    def expect_event(self, group: str, item_id: str | None, name: str, data: Any) -> None:
        targets = [self.live((group, None))]
        if item_id is not None:
            targets.append(self.live((group, item_id)))
        for room in targets:
            if room is not None:
                for sink in room.members:
                    self.expected_events[sink.name].append((name, data))

    def expect_refusal(self, room: Room) -> None:
        found = self.live(room)
        if found is None:
            return
        found.refused = True
        for sink in found.members:
            self.expected_refusals[sink.name] += 1

    # checks -----------------------------------------------------------------------------

    def check_told(self, told: dict[str, bool]) -> None:
        """Each member of a changed room was told once (with the right resync), others not."""
        for name, sink in self.sinks.items():
            expected = [told[name]] if name in told else []
            assert sink.calls == expected, (sink, sink.calls, expected)
            sink.calls.clear()

    def check_state(self) -> None:
        for name, sink in self.sinks.items():
            group, item_id, sort_key, model = sink.spec
            room = self.rooms[(group, item_id)]
            view = sink.view
            assert view is not None
            # An item is pending (not synced) after a reconnect until its rejoin is answered.
            synced = room.synced and (item_id is None or room.confirmed)
            assert view.synced == synced, sink
            assert view.recorded == []  # nothing recorded without a change told
            assert sink.calls == []  # told only while frames arrive
            if item_id is None:
                items = list(room.items.values())
                if sort_key is not None:
                    items.sort(key=lambda item: rank(item.get(sort_key)))
                want: Any = [_validated(item, model) for item in items]
            else:
                want = _validated(room.value, model)
            assert sink.state == want, sink
            assert sink.events == self.expected_events[name], sink
            assert len(sink.refusals) == self.expected_refusals[name], sink


def _validated(raw: Any, model: type[BaseModel] | None) -> Any:
    if raw is None or model is None:
        return raw
    return model.model_validate(raw)


# -- the server ----------------------------------------------------------------------------


@dataclass
class Sent:
    """A state frame sent on this connection (for a stale copy of it later)."""

    raw: str
    kind: str
    group: str
    item_id: str | None  # None: a group sync
    ts: int
    data: Any


class Server:
    """A Motia stream server with one client socket, speaking one dialect."""

    def __init__(self, dialect: str, client: Client, specs: list[Spec]) -> None:
        self.iii = dialect == "iii"
        self.client = client
        self.specs = specs
        self.now = NOW_MS - 100_000
        self.groups: dict[str, dict[str, dict[str, Any]]] = {g: {} for g in GROUPS}
        self.subs: dict[str, Room] = {}  # subscriptionId -> room, on this socket
        self.refuse: set[Room] = set()
        self.connected = False
        self.started = False
        self.pending_sync: tuple[str, int] | None = None  # iii: (subscriptionId, timestamp)
        self.window = 0
        self.done: list[Set | Delete | Event] = []  # for Again
        self.sent: list[Sent] = []  # state frames of this connection, for Stale

    # wire ------------------------------------------------------------------

    def render(self, group: str, item_id: str | None, ts: int, event: dict[str, Any]) -> str:
        message: dict[str, Any] = {"type": "stream"} if self.iii else {}
        message.update(timestamp=ts, streamName=STREAM, groupId=group)
        if item_id is not None or self.iii:
            message["id"] = item_id
        message["event"] = event
        return json.dumps(message)

    def matches(self, room: Room, group: str, item_id: str | None) -> bool:
        sub_group, sub_id = room
        if sub_id is None:
            return sub_group == group
        if self.iii:
            return sub_group == group and sub_id == item_id
        return sub_id == item_id  # 0.x keys item rooms by stream and id only

    def deliver(self, raw: str, copies: int, told: dict[str, bool]) -> None:
        for _ in range(copies):
            self.client.session.receive(raw)
        self.client.check_told(told)
        self.answer()

    def push(self, group: str, item_id: str | None, event: dict[str, Any]) -> None:
        """Send one event: one identical copy per matching server-side subscription."""
        raw = self.render(group, item_id, self.now, event)
        copies = sum(self.matches(room, group, item_id) for room in self.subs.values())
        if not copies:
            return
        client = self.client
        told: dict[str, bool] = {}
        if event["type"] == "event":
            inner = event["event"]
            client.expect_event(group, item_id, inner["type"], inner.get("data"))
        else:
            assert item_id is not None
            told = client.expect(event["type"], group, item_id, self.now, event.get("data"))
            for room in (client.live((group, item_id)), client.live((group, None))):
                if room is not None:
                    room.fresh = True
            self.sent.append(Sent(raw, event["type"], group, item_id, self.now, event.get("data")))
        self.deliver(raw, copies, told)

    def stale(self, back: int, older: bool) -> None:
        """Send an earlier state frame of this connection again, as it was: late and older."""
        candidates = [s for s in self.sent if s.kind != "sync"]  # Late sends older syncs
        if older:
            latest = {(s.group, s.item_id): s.ts for s in self.sent}
            candidates = [s for s in candidates if s.ts < latest[(s.group, s.item_id)]]
        if len(candidates) < back:
            return
        old = candidates[-back]
        self.resend(old.raw, old.kind, old.group, old.item_id, old.ts, old.data)

    def late(self, back: int, kind: str, value: int) -> None:
        """A frame stamped just before the latest one of its room or item (a lagging server)."""
        latest = {(s.group, s.item_id): s.ts for s in self.sent}
        if len(latest) < back:
            return
        group, item_id = list(latest)[-back]
        ts = latest[(group, item_id)] - 1
        item = {"id": item_id or "a", "v": value, "_createdAt": 0}
        data: Any = item
        if item_id is None:
            kind, data = "sync", [item]
        elif kind == "delete":
            data = None
        raw = self.render(group, item_id, ts, {"type": kind, "data": data})
        self.resend(raw, kind, group, item_id, ts, data)

    def resend(
        self, raw: str, kind: str, group: str, item_id: str | None, ts: int, data: Any
    ) -> None:
        """Send a frame older than the clock; taint what it changed in the model."""
        copies = sum(self.matches(room, group, item_id) for room in self.subs.values())
        if kind == "sync":
            copies = min(copies, 1)  # a sync goes to the subscription that asked for it
        if not copies:
            return
        client = self.client
        targets = [client.live((group, item_id))]
        if kind != "sync":
            targets.append(client.live((group, None)))
        before = {room: dict(room.by_id()) for room in targets if room is not None}
        told = client.expect(kind, group, item_id, ts, data)
        for room, held in before.items():
            now = room.by_id()
            room.tainted |= {
                key for key in held.keys() | now.keys() if held.get(key) != now.get(key)
            }
        self.deliver(raw, copies, told)

    # joins -------------------------------------------------------------------

    def answer(self) -> None:
        """Carry out what the session wants sent: joins and leaves."""
        for frame in self.client.session.data_to_send():
            message = json.loads(frame)
            assert self.connected, message
            data = message["data"]
            assert data["streamName"] == STREAM
            room: Room = (data["groupId"], data.get("id"))
            sub_id = data["subscriptionId"]
            if message["type"] == "leave":
                assert self.subs.pop(sub_id) == room
                continue
            assert message["type"] == "join"
            assert sub_id not in self.subs
            assert room not in self.subs.values()  # one join per room
            self.join(room, sub_id)
        self.client.session.timers_wanted()  # armed by the client; none fires in this model

    def join(self, room: Room, sub_id: str) -> None:
        if room in self.refuse:
            self.refusal(room)
            return
        if self.iii:  # insert first, then read and send the sync (updates may overtake it)
            self.flush_sync()  # joins on one socket are processed in order
            self.subs[sub_id] = room
            self.pending_sync = (sub_id, self.now)
            if not self.window:
                self.flush_sync()
        else:  # 0.x: send the sync, then insert
            self.send_sync(room, self.now)
            self.subs[sub_id] = room

    def refusal(self, room: Room) -> None:
        group, item_id = room
        if self.iii:
            event: dict[str, Any] = {"type": "unauthorized"}
        else:
            denied = {"code": "STREAM_ACCESS_DENIED", "message": "Access denied"}
            event = {"type": "event", "event": {"type": "error", "data": denied}}
        raw = self.render(group, item_id, self.now, event)
        self.client.expect_refusal(room)
        self.deliver(raw, 1, {})

    def send_sync(self, room: Room, ts: int) -> None:
        group, item_id = room
        items = self.groups[group]
        if item_id is None:
            data: Any = list(items.values())
            if self.iii:
                data.sort(key=lambda item: item["id"])
        else:
            data = items.get(item_id)
            if data is None and not self.iii:
                return  # 0.x sends no frame for a missing item
        raw = self.render(group, item_id, ts, {"type": "sync", "data": data})
        self.sent.append(Sent(raw, "sync", group, item_id, ts, data))
        told = self.client.expect("sync", group, item_id, ts, data)
        ref = self.client.live(room)
        if ref is not None:
            ref.fresh = True
        self.deliver(raw, 1, told)

    def flush_sync(self) -> None:
        if self.pending_sync is not None:
            sub_id, ts = self.pending_sync
            self.pending_sync = None
            if sub_id in self.subs:
                self.send_sync(self.subs[sub_id], ts)

    def connect(self, window: int = 0, new_token: bool = False) -> None:
        if self.connected:
            self.disconnect()
        session = self.client.session
        if not self.started:
            session.connect()
            self.started = True
        elif session.state.value != "reconnecting":
            session.retrying()
        self.connected = True
        self.sent = []
        self.window = 0
        self.client.connection_made(new_token)
        session.connection_made(NOW_MS, token_changed=new_token)
        frames = session.data_to_send()
        session.timers_wanted()
        for n, frame in enumerate(frames):
            message = json.loads(frame)
            assert message["type"] == "join"
            data = message["data"]
            if n == len(frames) - 1:
                self.window = window
            self.join((data["groupId"], data.get("id")), data["subscriptionId"])

    def disconnect(self) -> None:
        self.client.session.connection_lost(None)
        self.client.session.retrying()
        self.connected = False
        self.subs.clear()
        self.pending_sync = None

    # steps -------------------------------------------------------------------

    def step(self, step: Any) -> None:
        if isinstance(step, Reconnect):
            if step.new_token:
                self.refuse = set(step.refuse)
            self.now -= step.behind
            self.connect(step.window, step.new_token)
            return
        if isinstance(step, Disconnect):
            if self.connected:
                self.disconnect()
            return
        if isinstance(step, Subscribe):
            self.client.subscribe(self.specs[step.spec % len(self.specs)])
            if self.connected:
                self.answer()
            return
        if isinstance(step, Unsubscribe):
            names = list(self.client.sinks)
            if names:
                self.client.unsubscribe(names[step.pick % len(names)])
                if self.connected:
                    self.answer()
            return
        if isinstance(step, Revoke):
            self.refuse.add(step.room)
            return
        if isinstance(step, Stale):
            self.stale(step.back, step.older)
        elif isinstance(step, Late):
            self.late(step.back, step.kind, step.value)
        else:
            if isinstance(step, Again):
                if len(self.done) < step.back:
                    return
                step = replace(self.done[-step.back], tick=0)
            self.done.append(step)
            self.now += step.tick
            if isinstance(step, Set):
                self.set(step)
            elif isinstance(step, Delete):
                self.delete(step)
            else:
                for _ in range(step.times):
                    self.push(step.group, step.item_id, custom(step.name, step.data))
        if self.pending_sync is not None:
            self.window -= 1
            if self.window <= 0:
                self.flush_sync()

    def set(self, step: Set) -> None:
        items = self.groups[step.group]
        old = items.get(step.item_id)
        item: dict[str, Any] = {
            "id": step.item_id,
            "v": step.value,
            "_createdAt": old["_createdAt"] if old else self.now,
        }
        if step.rank is not MISSING:
            item["rank"] = step.rank
        items[step.item_id] = item
        self.with_echo(step, "update" if old else "create", item)

    def delete(self, step: Delete) -> None:
        old = self.groups[step.group].pop(step.item_id, None)
        self.with_echo(step, "delete", old)  # a missing id still sends data: null

    def with_echo(self, step: Set | Delete, kind: str, data: Any) -> None:
        echo = None if self.iii else step.echo
        if echo == "before":
            self.push(step.group, step.item_id, custom(kind, data))
        self.push(step.group, step.item_id, {"type": kind, "data": data})
        if echo == "after":
            self.push(step.group, step.item_id, custom(kind, data))

    # checks ------------------------------------------------------------------

    def check(self) -> None:
        """The client agrees with the model, and the model with the truth where it can."""
        client = self.client
        client.check_state()
        if not self.connected or self.pending_sync is not None:
            return
        for (group, item_id), room in client.rooms.items():
            if room.refused or not room.fresh:
                continue
            truth = self.groups[group]
            if item_id is not None:
                truth = {item_id: truth[item_id]} if item_id in truth else {}
            held = room.by_id()
            room.tainted = {key for key in room.tainted if held.get(key) != truth.get(key)}
            for key in set(truth) | set(held):
                if key not in room.tainted:
                    assert held.get(key) == truth.get(key), (group, item_id, key)


def custom(name: str, data: Any) -> dict[str, Any]:
    return {"type": "event", "event": {"type": name, "data": data}}


def run(
    dialect: str,
    specs: list[Spec],
    subscribers: list[int],
    initial: list[tuple[str, str, int, Any]],
    refuse: frozenset[Room],
    history: list[Any],
    *,
    tracks: bool,
) -> None:
    client = Client(tracks)
    server = Server(dialect, client, specs)
    server.refuse = set(refuse)
    for group, item_id, value, rank_value in initial:
        server.set(Set(group, item_id, value, rank_value, 0, None))  # before anyone listens
    for index in subscribers:
        client.subscribe(specs[index % len(specs)])
    server.connect()
    server.check()
    for step in history:
        server.step(step)
        server.check()
    server.flush_sync()
    if not server.connected:
        server.connect()
    server.check()


HISTORY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@HISTORY
@given(
    dialect=st.sampled_from(["0.x", "iii"]),
    subscribers=st.lists(st.integers(0, len(SPECS) - 1), min_size=2, max_size=6),
    initial=initial_items,
    refuse=st.frozensets(rooms, max_size=1),
    history=histories,
)
def test_client_state_and_events_match_the_model_and_the_server(
    dialect: str,
    subscribers: list[int],
    initial: list[tuple[str, str, int, Any]],
    refuse: frozenset[Room],
    history: list[Any],
) -> None:
    run(dialect, SPECS, subscribers, initial, refuse, history, tracks=False)


@pytest.mark.parametrize(
    ("specs", "shrink"),
    [
        pytest.param(OTHER_SPECS, True, id="model-views-and-items"),
        pytest.param(RAW_GROUP_SPECS, True, id="raw-group-views"),
    ],
)
def test_the_change_feed_records_each_real_change_exactly_once(
    specs: list[Spec], shrink: bool
) -> None:
    phases = list(Phase) if shrink else [Phase.explicit, Phase.reuse, Phase.generate]

    @settings(HISTORY, phases=phases)
    @given(
        dialect=st.sampled_from(["0.x", "iii"]),
        subscribers=st.lists(st.integers(0, 20), min_size=2, max_size=6),
        initial=initial_items,
        refuse=st.frozensets(rooms, max_size=1),
        history=histories,
    )
    def feed_matches_the_states(
        dialect: str,
        subscribers: list[int],
        initial: list[tuple[str, str, int, Any]],
        refuse: frozenset[Room],
        history: list[Any],
    ) -> None:
        run(dialect, specs, subscribers, initial, refuse, history, tracks=True)

    feed_matches_the_states()
