"""The session: every rule of the Motia stream protocol in one sans-I/O object.

Like websockets' ``Protocol`` and h11's ``Connection``, a :class:`Session` has
no socket, no event loop and no clock: the client (``_client``) feeds it inputs
and carries out its outputs.

Inputs:

- ``subscribe`` / ``unsubscribe``: local subscribers (any :class:`SubscriberSink`);
  many share one *room*, the server-side subscription (one join, one leave);
- ``connect``, ``connection_made``, ``connection_lost``, ``retrying``, ``fail``,
  ``close``: the connection's lifecycle, checked against ``_lifecycle``'s table
  (each returns the :class:`StateChange` for the client's listeners);
- ``receive(raw)``: one frame from the server;
- ``timer_fired(timer, now_ms)``: a timer the session asked for ran out; the
  client's wall clock comes in with it (and with ``connection_made``).

Outputs (``pending`` says there are some; the ``wake`` callback, if given, is called
when one becomes pending, so that a client can hand each received frame straight to
:meth:`Session.receive`):

- :meth:`data_to_send`: the frames to send, in order;
- :meth:`timers_wanted`: the timers to arm (a stale one is ignored when it fires);
- ``refresh_token``: every join was refused right after a reconnect: ask the
  token callable once, reconnect if it changed, else :meth:`keep_token`;
- calls on each subscriber's :class:`SubscriberSink`: ``changed``, ``event``,
  ``refused``, ``gap``, ``ended``.

The rules, in the order a frame meets them (PROTOCOL.md sections 4 and 5):

1. decode (``_protocol``): a malformed frame, or a timestamp outside the window
   of the client's clock, is reported and skipped;
2. route: a frame with an ``id`` goes to that item's room and its group's room,
   one without to the group's room, a sync to the room that asked for it;
   frames of unknown or refused rooms are ignored;
3. suppress the identical copies a server sends once per matching server-side
   subscription (only possible when an item room exists);
4. reduce (``_state``) and follow in every member's view (``_views``);
5. tell each member once.

Around the frames: refusals reach their room's members (and later subscribers)
as :class:`SubscriptionRefused`; after a reconnect with a token callable they
are held for :data:`PROBATION_SECONDS` in case the token expired. A join to a
missing item gets no answer from Motia 0.x: the item stays unsynced, never
"deleted". A connection closed (1008, 1009, or a frame over ``max_size``)
before its joins were answered makes those rooms suspects: they are rejoined
one at a time, and the one whose join keeps killing the connection is refused
locally so that the others keep working. A connection is *healthy* once every
join on it was answered, or after :data:`HEALTHY_SECONDS`: only then does the
client reset its backoff.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Final, Protocol, cast

from motia_client._dialect import Dialect, detect
from motia_client._exceptions import (
    FrameTooLarge,
    MotiaConnectionError,
    MotiaError,
    StateDrift,
    SubscriptionRefused,
)
from motia_client._lifecycle import ConnectionState, StateChange, check_transition
from motia_client._protocol import (
    FUTURE_TOLERANCE_MS,
    MAX_TIMESTAMP,
    CustomEvent,
    MalformedFrame,
    Refusal,
    StateFrame,
    decode_frame,
    encode_join,
    encode_leave,
)
from motia_client._state import GroupState, ItemState
from motia_client._views import GroupView, ItemView, View

if TYPE_CHECKING:
    from pydantic import BaseModel

__all__ = [
    "HEALTHY_SECONDS",
    "PROBATION_SECONDS",
    "PROBE_SECONDS",
    "EventGap",
    "Room",
    "RoomKey",
    "Session",
    "SubscriberSink",
    "Timer",
    "View",
]

logger = logging.getLogger("motia_client")

RoomKey = tuple[str, str, str | None]
# A join refused by canAccess costs a 0.x server up to a second; allow for two.
PROBATION_SECONDS: Final = 2.0
HEALTHY_SECONDS: Final = 5.0  # open this long without trouble: healthy, even with silent joins
PROBE_SECONDS: Final = 2.0  # a suspect joined alone, and still connected after this: innocent
CLOCK_SECONDS: Final = 60.0  # how often the timestamp window follows the client's clock
_PENDING_LIMIT = 256  # identical-copy counters kept at most (oldest dropped first)
_KILLER_CODES = frozenset((1008, 1009))  # closes a join can cause: policy, message too big
_S = ConnectionState


class SubscriberSink(Protocol):
    """What a session tells one local subscriber (``Subscription`` implements it).

    Each call must return normally: a sink isolates its own listeners' errors.
    """

    def changed(self, resync: bool) -> None:
        """Its view changed (read ``view.errors`` and ``view.recorded``, then clear them)."""

    def event(self, event_type: str, data: Any) -> None:
        """A custom event arrived for its room."""

    def refused(self, error: SubscriptionRefused) -> None:
        """Its room was refused; nothing more will come for it."""

    def gap(self, gap: EventGap) -> None:
        """Custom events may have been missed in this interval (the connection was lost)."""

    def ended(self, error: MotiaError | None) -> None:
        """It was unsubscribed, or the session closed (``None``) or failed (the error)."""

    def drifted(self, drift: StateDrift) -> None:
        """A drift check found its room out of step with the server (repaired already)."""


@dataclass(frozen=True)
class EventGap:
    """An interval in which custom events may have been missed (they are never replayed).

    ``since`` is the server time of the last frame received before the connection
    was lost (``None`` if none was), ``until`` the server time of the room's first
    frame after the rejoin; ``reason`` says why the connection was lost.
    """

    since: datetime | None
    until: datetime
    reason: str


@dataclass(frozen=True)
class Timer:
    """A timer the session wants: the client calls ``timer_fired(self, now_ms)`` after ``delay``."""

    kind: str  # "probation", "healthy", "probe", "clock"
    delay: float
    generation: int  # the connection it belongs to: a timer of an older one is ignored
    subject: RoomKey | None = None  # the room it is about (a probe's suspect)


def _moment(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


class Room:
    """One server-side subscription and the local subscribers (sinks) sharing it."""

    __slots__ = (
        "answered",
        "convicted",
        "gap",
        "group",
        "item_id",
        "key",
        "members",
        "refused",
        "resyncing",
        "state",
        "stream",
        "strikes",
        "sub_id",
        "suspect",
    )

    def __init__(self, stream: str, group: str, item_id: str | None) -> None:
        self.stream = stream
        self.group = group
        self.item_id = item_id
        self.key: RoomKey = (stream, group, item_id)
        self.state: ItemState | GroupState = ItemState() if item_id is not None else GroupState()
        self.members: dict[SubscriberSink, View[Any]] = {}
        self.sub_id: str | None = None  # the subscriptionId of the join on this connection
        self.answered = False  # a frame arrived for it since that join
        self.resyncing = False  # its next sync replaces state held from an earlier connection
        self.refused: SubscriptionRefused | None = None
        self.suspect = False  # its join may be what killed the last connection
        self.convicted = False  # its join killed connections: refused locally, for good
        self.strikes = 0  # connections lost while it was the only unanswered join
        self.gap: tuple[int | None, str, frozenset[SubscriberSink]] | None = None

    @property
    def name(self) -> str:
        """``stream/group`` or ``stream/group/id``."""
        return "/".join(part for part in self.key if part is not None)

    def __repr__(self) -> str:
        return f"<Room {self.name} members={len(self.members)} joined={self.sub_id is not None}>"


class Session:
    """The rooms, routing, reducers and rules of one client's stream session (sans-I/O).

    ``dialect`` pins a server dialect; by default each connection's is learned
    from its first frame. ``token_callable`` says whether the client can ask for
    a fresh token (which turns on refusal probation after a reconnect). ``wake``
    is called when an output becomes pending (it may read the outputs at once).
    """

    def __init__(
        self,
        *,
        dialect: Dialect | None = None,
        token_callable: bool = False,
        wake: Callable[[], object] | None = None,
    ) -> None:
        self.state = ConnectionState.IDLE
        self.rooms: dict[RoomKey, Room] = {}
        self.refresh_token = False  # output: every join refused after a reconnect
        self.healthy = False
        self.pending = False  # output: frames to send, timers wanted or a token refresh
        self._wake = wake
        self._pinned = dialect
        self._dialect: Dialect | None = dialect
        self._token_callable = token_callable
        self._member_room: dict[SubscriberSink, Room] = {}
        self._item_rooms: dict[tuple[str, str], int] = {}  # (stream, id) -> live item rooms
        self._copies: OrderedDict[str | bytes, int] = OrderedDict()
        self._last_group: Room | None = None  # the group room the last item frame went to
        self._outgoing: list[str] = []
        self._timers: list[Timer] = []
        self._generation = 0
        self._latest = MAX_TIMESTAMP  # the largest timestamp accepted (client clock + 1 day)
        self._seen = -1  # the latest server timestamp received on this connection
        self._lost: tuple[int | None, str] | None = None  # (last server time, why) of a loss
        self._connected = False
        self._reconnected = False
        self._held: dict[Room, None] | None = None  # rooms whose refusal is on probation
        self._refreshed = False  # a token refresh was tried since the token last changed
        self._probing: Room | None = None
        self._suspects: list[Room] = []

    # -- subscribers ------------------------------------------------------------------

    def subscribe(
        self,
        sink: SubscriberSink,
        stream: str,
        group: str,
        item_id: str | None = None,
        *,
        sort_key: str | None = None,
        model: type[BaseModel] | None = None,
    ) -> View[Any]:
        """Add a local subscriber; return its view (which starts from the room's state).

        The room is joined now when connected, else when the connection opens. A
        subscriber of a room the server refused is refused at once (no new join).
        """
        if self.state.is_terminal:
            raise RuntimeError(f"the session is {self.state.value}")
        if sink in self._member_room:
            raise ValueError("this subscriber is already subscribed")
        key: RoomKey = (stream, group, item_id)
        room = self.rooms.get(key)
        if room is None:
            room = self.rooms[key] = Room(stream, group, item_id)
            if item_id is not None:
                self._count_item_room(room, 1)
            if self._connected:
                self._join(room)
        state = room.state
        view: View[Any]
        if isinstance(state, GroupState):
            view = GroupView(state, sort_key, model)
        else:
            assert item_id is not None
            view = ItemView(state, item_id, model)
        room.members[sink] = view
        self._member_room[sink] = room
        if room.refused is not None:
            if self._held is not None:
                self._held[room] = None  # judged with the others
            else:
                sink.refused(room.refused)
        return view

    def unsubscribe(self, sink: SubscriberSink) -> None:
        """Remove a local subscriber; the last one of a room leaves it (if joined)."""
        room = self._member_room.pop(sink, None)
        if room is None:
            return
        room.members.pop(sink, None)
        if not room.members:
            self._drop(room)
        sink.ended(None)

    @property
    def generation(self) -> int:
        """Which connection this is (it changes when one opens): stale work checks it."""
        return self._generation

    def room_of(self, sink: SubscriberSink) -> Room | None:
        """The room a subscriber belongs to, while it is subscribed."""
        return self._member_room.get(sink)

    def _drop(self, room: Room) -> None:
        del self.rooms[room.key]
        if self._last_group is room:
            self._last_group = None
        if room in self._suspects:
            self._suspects.remove(room)
        if room.item_id is not None and room.refused is None:
            self._count_item_room(room, -1)
        if room.sub_id is not None and room.refused is None:
            self._send(encode_leave(room.stream, room.group, room.item_id, room.sub_id))
        room.sub_id = None
        if self._probing is room:
            self._probing = None
            self._probe_next()

    def _count_item_room(self, room: Room, change: int) -> None:
        assert room.item_id is not None
        pair = (room.stream, room.item_id)
        left = self._item_rooms.get(pair, 0) + change
        if left > 0:
            self._item_rooms[pair] = left
        else:
            self._item_rooms.pop(pair, None)

    # -- outputs ------------------------------------------------------------------------

    def data_to_send(self) -> list[str]:
        """The frames to send now, in order (and forget them)."""
        frames, self._outgoing = self._outgoing, []
        self._settle_pending()
        return frames

    def timers_wanted(self) -> list[Timer]:
        """The timers to arm now (and forget them)."""
        timers, self._timers = self._timers, []
        self._settle_pending()
        return timers

    def take_token_refresh(self) -> bool:
        """Whether the client must ask for a fresh token now (the request is then taken)."""
        wanted, self.refresh_token = self.refresh_token, False
        self._settle_pending()
        return wanted

    def _settle_pending(self) -> None:
        self.pending = bool(self._outgoing) or bool(self._timers) or self.refresh_token

    def _send(self, frame: str) -> None:
        if self._connected:
            self._outgoing.append(frame)
            self._output()

    def _want(self, kind: str, delay: float, subject: RoomKey | None = None) -> None:
        self._timers.append(Timer(kind, delay, self._generation, subject))
        self._output()

    def _output(self) -> None:
        """An output is pending: say so (once, until the outputs are read)."""
        if not self.pending:
            self.pending = True
            if self._wake is not None:
                self._wake()

    def _join(self, room: Room) -> None:
        frame, room.sub_id = encode_join(room.stream, room.group, room.item_id)
        room.answered = False
        self._send(frame)

    # -- the lifecycle ------------------------------------------------------------------

    def _transition(self, new: ConnectionState, **details: Any) -> StateChange:
        previous = self.state
        check_transition(previous, new)
        self.state = new
        return StateChange(previous, new, **details)

    def connect(self, **details: Any) -> StateChange:
        """The client starts connecting (its first attempt)."""
        return self._transition(_S.CONNECTING, **details)

    def retrying(self, **details: Any) -> StateChange:
        """The client waits before (or makes) another attempt (a connection still open is lost)."""
        self.connection_lost(details.get("error"))
        return self._transition(_S.RECONNECTING, **details)

    def connection_made(
        self, now_ms: int, *, token_changed: bool = False, **details: Any
    ) -> StateChange:
        """A socket opened: join every live room with fresh subscription ids.

        Refused rooms are joined again only when the token changed. Rooms that
        may have killed the last connection are joined one at a time.
        """
        change = self._transition(_S.OPEN, **details)
        self._connected = True
        self._generation += 1
        self._copies.clear()
        self._dialect = self._pinned
        self._last_group = None
        self._seen = -1
        self.healthy = False
        self.refresh_token = False
        self._clock(now_ms)
        if token_changed:
            self._refreshed = False
        if self._reconnected and self._token_callable and not self._refreshed:
            self._held = {}
            self._want("probation", PROBATION_SECONDS)
        self._suspects = []
        for room in self.rooms.values():
            room.state.rebase()  # this server's clock may be behind the last one's
            room.resyncing = room.state.synced
            if room.refused is not None:
                if not token_changed or room.convicted:
                    continue  # refused by the server (same token) or locally: not again
                room.refused = None
                if room.item_id is not None:
                    self._count_item_room(room, 1)
            if room.suspect:
                self._suspects.append(room)
            else:
                self._join(room)
        self._probe_next()
        self._want("healthy", HEALTHY_SECONDS)
        self._want("clock", CLOCK_SECONDS)
        return change

    def connection_lost(self, error: BaseException | None) -> None:
        """The socket closed: every room is unjoined until the next connection.

        Held refusals are reported. Rooms whose join may have killed the
        connection become suspects, and one found guilty is refused locally.
        """
        if not self._connected:
            return
        self._release_probation()
        if not self.healthy and _kills_joins(error):
            self._judge(error)
        self._connected = False
        self._reconnected = True
        self._outgoing.clear()
        self._copies.clear()
        self._probing = None
        reason = _reason(error)
        since = self._seen if self._seen >= 0 else None
        for room in self.rooms.values():
            room.sub_id = None
            if room.refused is None and room.members and room.gap is None:
                room.gap = (since, reason, frozenset(room.members))
        self.healthy = False

    def fail(self, error: MotiaError, **details: Any) -> StateChange:
        """Stop for good: every subscriber ends with ``error``."""
        change = self._transition(_S.FAILED, error=error, **details)
        self._end_all(error)
        return change

    def close(self, **details: Any) -> StateChange:
        """Closed by the user: every subscriber ends."""
        change = self._transition(_S.CLOSED, **details)
        self._end_all(None)
        return change

    def _end_all(self, error: MotiaError | None) -> None:
        self._connected = False
        self._outgoing.clear()
        self._timers.clear()
        self.pending = False
        for room in list(self.rooms.values()):
            for sink in list(room.members):
                self._member_room.pop(sink, None)
                sink.ended(error)
        self.rooms.clear()
        self._item_rooms.clear()
        self._last_group = None

    # -- time ---------------------------------------------------------------------------

    def timer_fired(self, timer: Timer, now_ms: int) -> None:
        """A timer from :meth:`timers_wanted` ran out; ``now_ms`` is the client's clock."""
        if timer.generation != self._generation or not self._connected:
            return  # a timer of an earlier connection
        if timer.kind == "probation":
            self._release_probation()
        elif timer.kind == "healthy":
            self.healthy = True
        elif timer.kind == "probe":
            probing = self._probing
            if probing is not None and probing.key == timer.subject:
                self._cleared(probing)  # still connected after its join: innocent
        elif timer.kind == "clock":
            self._clock(now_ms)
            self._want("clock", CLOCK_SECONDS)

    def _clock(self, now_ms: int) -> None:
        self._latest = min(MAX_TIMESTAMP, now_ms + FUTURE_TOLERANCE_MS)

    # -- receiving ------------------------------------------------------------------------

    def receive(self, raw: str | bytes) -> None:
        """Apply one frame from the server and tell the subscribers it concerns.

        Never raises: whatever goes wrong with one frame (a bug, a model whose
        validator raises) is logged and that frame skipped; the next one is applied.
        """
        try:
            frame = decode_frame(raw, self._latest)
            kind = type(frame)
            if kind is not MalformedFrame:
                stamped: StateFrame | CustomEvent | Refusal = frame  # type: ignore[assignment]
                if stamped.timestamp > self._seen:
                    self._seen = stamped.timestamp  # the last server time heard (event gaps)
            if kind is StateFrame:
                self._state_frame(raw, frame)  # type: ignore[arg-type]
            elif kind is CustomEvent:
                self._custom_event(raw, frame)  # type: ignore[arg-type]
            elif kind is Refusal:
                self._refusal(frame)  # type: ignore[arg-type]
            else:
                malformed: MalformedFrame = frame  # type: ignore[assignment]
                logger.warning(
                    "ignored a malformed frame (%s): %s", malformed.reason, malformed.preview
                )
        except Exception:
            logger.exception("internal error while handling a frame; the frame was skipped")

    def _state_frame(self, raw: str | bytes, frame: StateFrame) -> None:
        if self._held is not None:
            self._release_probation()  # state flows: the refusals are real
        item_id = frame.item_id
        if item_id is None or frame.kind == "sync":  # exactly the room that asked for it
            room = self.rooms.get((frame.stream, frame.group, item_id))
            if room is not None and room.refused is None:
                self._apply(room, frame)
            return
        group_room = self._group_room(frame.stream, frame.group)
        if not self._item_rooms:  # the usual frame: one copy, one room
            if group_room is not None:
                self._apply(group_room, frame)
            return
        item_room = self._live(self.rooms.get((frame.stream, frame.group, item_id)))
        if self._is_copy(raw, (frame.stream, item_id), item_room, group_room):
            return
        if item_room is not None:
            self._apply(item_room, frame)
        if group_room is not None:
            self._apply(group_room, frame)

    def _group_room(self, stream: str, group: str) -> Room | None:
        """The live group room of ``stream/group``, remembering the last one found."""
        room = self._last_group
        if room is None or room.group != group or room.stream != stream:
            # Comparing two names is cheaper than hashing them: each frame's are new strings.
            room = self.rooms.get((stream, group, None))
            if room is None:
                return None
            self._last_group = room
        return room if room.refused is None else None

    @staticmethod
    def _live(room: Room | None) -> Room | None:
        return room if room is not None and room.refused is None else None

    def _apply(self, room: Room, frame: StateFrame) -> None:
        """Reduce ``frame`` into the room's state, bring every view along, tell the members."""
        members = room.members
        state = room.state
        kind = frame.kind
        if type(state) is GroupState:
            group_state: GroupState = state
            for view in members.values():
                cast(GroupView[Any], view).before_change()
            new: Any
            if kind == "sync":
                op = group_state.sync(frame.timestamp, frame.data)
                key = None
                new = group_state.items
            else:
                key = frame.key
                assert key is not None
                op = group_state.change(kind, key, frame.timestamp, frame.data)
                new = frame.data if kind != "delete" else None
            if not room.answered:
                self._answered(room, frame.timestamp)
            if not op:
                if kind == "sync":
                    room.resyncing = False  # the resync found nothing to change
                return  # stale or a duplicate: nobody is told
            old = group_state.old
            for view in members.values():
                cast(GroupView[Any], view).apply(op, key, old, new)
        else:
            item_state = cast(ItemState, state)
            changed = item_state.apply(kind, frame.timestamp, frame.data)
            if not room.answered:
                self._answered(room, frame.timestamp)
            if not changed:
                if kind == "sync":
                    room.resyncing = False  # the resync found nothing to change
                return
            for item_view in members.values():
                cast(ItemView[Any], item_view).refresh()
        resync = room.resyncing and kind == "sync"
        if resync:
            room.resyncing = False
        if len(members) == 1:
            for sink in members:
                sink.changed(resync)
        else:
            for sink in list(members):  # a sink may unsubscribe another member
                sink.changed(resync)

    def _answered(self, room: Room, timestamp: int) -> None:
        """The first frame for a room since its join: its join went through."""
        room.answered = True
        room.suspect = False
        room.strikes = 0
        gap = room.gap
        if gap is not None:
            room.gap = None
            since, reason, members = gap
            notice = EventGap(None if since is None else _moment(since), _moment(timestamp), reason)
            for sink in list(room.members):
                if sink in members:
                    sink.gap(notice)
        if self._probing is room:
            self._cleared(room)
        if not self.healthy and all(r.answered for r in self._joined()) and not self._suspects:
            self.healthy = True

    def _joined(self) -> list[Room]:
        return [room for room in self.rooms.values() if room.sub_id is not None]

    def _custom_event(self, raw: str | bytes, frame: CustomEvent) -> None:
        item_id = frame.item_id
        group_room = self._group_room(frame.stream, frame.group)
        matched: list[Room] = []
        if item_id is None:
            if group_room is not None:
                matched.append(group_room)
        else:
            item_room = (
                self._live(self.rooms.get((frame.stream, frame.group, item_id)))
                if self._item_rooms
                else None
            )
            if self._item_rooms and self._is_copy(
                raw, (frame.stream, item_id), item_room, group_room
            ):
                return
            matched.extend(room for room in (item_room, group_room) if room is not None)
        for room in matched:
            for sink in list(room.members):
                sink.event(frame.type, frame.data)

    def _is_copy(
        self,
        raw: str | bytes,
        pair: tuple[str, str],
        item_room: Room | None,
        group_room: Room | None,
    ) -> bool:
        """Whether ``raw`` is a further copy of a frame already handled.

        A server sends one copy per matching server-side subscription: the
        group's room, the item's room and, on Motia 0.x (which keys item rooms
        without the group), the rooms of the same item id in other groups.
        Refused rooms have no server-side subscription. The first copy is
        handled; the next ``copies - 1`` identical frames are skipped.
        """
        own = item_room is not None
        copies = own + (group_room is not None)
        others = self._item_rooms.get(pair, 0) - own
        if others:
            if self._dialect is None:
                self._dialect = detect(raw)
            if self._dialect.item_rooms_span_groups:
                copies += others
        if copies < 2:
            return False
        pending = self._copies
        left = pending.get(raw)
        if left:
            if left == 1:
                del pending[raw]
            else:
                pending[raw] = left - 1
            return True
        pending[raw] = copies - 1
        if len(pending) > _PENDING_LIMIT:
            pending.popitem(last=False)
        return False

    # -- refusals -------------------------------------------------------------------------

    def _refusal(self, frame: Refusal) -> None:
        room = self.rooms.get((frame.stream, frame.group, frame.item_id))
        if room is None and frame.item_id is None:
            # A refusal without an id: the unsynced rooms of that group asked for it.
            candidates = [
                r
                for r in self.rooms.values()
                if r.stream == frame.stream and r.group == frame.group and not r.state.synced
            ]
            room = candidates[0] if len(candidates) == 1 else None
        if room is None or room.refused is not None:
            return
        if not room.answered:
            self._answered(room, frame.timestamp)
        self._refuse(room, SubscriptionRefused(room.stream, room.group, room.item_id, frame.reason))
        if self._held is not None:
            self._held[room] = None
            joined = self._joined()
            if joined and all(r.refused is not None for r in joined) and not self._refreshed:
                self._refreshed = True
                self.refresh_token = True  # every join refused: likely an expired token
                self._output()
            return
        self._tell_refused(room)

    def _refuse(self, room: Room, error: SubscriptionRefused) -> None:
        room.refused = error
        if self._last_group is room:
            self._last_group = None
        if room.item_id is not None:
            self._count_item_room(room, -1)

    @staticmethod
    def _tell_refused(room: Room) -> None:
        error = room.refused
        assert error is not None
        for sink in list(room.members):
            sink.refused(error)

    def keep_token(self) -> None:
        """After ``refresh_token``: the token did not change; the refusals are real."""
        self.refresh_token = False
        self._release_probation()

    def token_changed(self) -> None:
        """After ``refresh_token``: a new token; the client reconnects, the refusals are dropped."""
        self.refresh_token = False
        self._held = None

    def _release_probation(self) -> None:
        held, self._held = self._held, None
        for room in held or ():
            if room.refused is not None and room.key in self.rooms:
                self._tell_refused(room)

    # -- drift checks ----------------------------------------------------------------------------

    def verifiable(self) -> list[tuple[str, str]]:
        """The groups a drift check fetches: those of every room synced on this connection.

        Item rooms are checked against their group's snapshot too: on Motia 0.x a join
        to a missing item gets no answer, a group join always does.
        """
        groups: dict[tuple[str, str], None] = {}
        for room in self.rooms.values():
            if room.sub_id is not None and room.answered and room.state.synced:
                groups[(room.stream, room.group)] = None
        return list(groups)

    def drift(self, key: RoomKey, truth: dict[str, Any], at: int) -> StateDrift | None:
        """How the room ``key`` differs from ``truth``, its group's items at server time ``at``.

        A difference that a frame at or after ``at`` explains is no drift: the local
        state is then ahead of the snapshot, or the snapshot raced that frame. Frames
        older than ``at`` still in flight are the caller's to wait for (a grace period).
        """
        room = self.rooms.get(key)
        if room is None or room.sub_id is None or not room.state.synced:
            return None
        missing, extra, different = room.state.differences(truth, at, room.item_id)
        if not (missing or extra or different):
            return None
        return StateDrift(room.stream, room.group, room.item_id, missing, extra, different)

    def repair(self, key: RoomKey, truth: dict[str, Any], at: int, drift: StateDrift) -> None:
        """Replace the room's state with ``truth`` (one change, ``resync``), then report ``drift``.

        The caller then reconnects: a socket that missed frames cannot be trusted.
        """
        room = self.rooms.get(key)
        if room is None:
            return
        if room.item_id is None:
            data: Any = list(truth.values())
        else:
            data = truth.get(room.item_id)
        room.resyncing = True
        self._apply(
            room, StateFrame("sync", room.stream, room.group, room.item_id, at, data, room.item_id)
        )
        room.resyncing = False
        logger.warning("%s", drift)
        for sink in list(room.members):
            sink.drifted(drift)

    # -- joins that kill the connection -------------------------------------------------------

    def _judge(self, error: BaseException | None) -> None:
        """The connection died as a join can make it die, before its joins were answered."""
        probing = self._probing
        if probing is not None and not probing.answered:
            self._convict(probing, error)
            return
        unanswered = [r for r in self._joined() if not r.answered and r.refused is None]
        if len(unanswered) == 1:
            room = unanswered[0]
            others_fine = any(r.answered for r in self._joined() if r is not room)
            room.strikes += 1
            if others_fine or room.strikes >= 2:
                self._convict(room, error)
                return
        for room in unanswered:
            room.suspect = True

    def _convict(self, room: Room, error: BaseException | None) -> None:
        room.suspect = False
        if isinstance(error, FrameTooLarge):
            why = (
                f"its sync exceeded the client's max_size of {error.limit} bytes "
                "(raise max_size= on the client)"
            )
        else:
            code = getattr(error, "close_code", None)
            why = f"the server closed the connection (code {code}) each time it was joined"
            if code == 1009:
                why += ": a message exceeded the server's size limit"
        refusal = SubscriptionRefused(
            room.stream, room.group, room.item_id, f"{why}; not joined again"
        )
        refusal.__cause__ = error
        room.convicted = True
        self._refuse(room, refusal)
        logger.info("%s", refusal)
        self._tell_refused(room)

    def _probe_next(self) -> None:
        """Join the next suspect alone (after the other joins; none is being probed now)."""
        while self._suspects:
            room = self._suspects.pop(0)
            if room.key in self.rooms and room.refused is None:
                self._probing = room
                self._join(room)
                self._want("probe", PROBE_SECONDS, room.key)
                return

    def _cleared(self, room: Room) -> None:
        """The probed suspect answered, or the connection outlived its join: innocent."""
        room.suspect = False
        room.strikes = 0
        self._probing = None
        self._probe_next()


def _kills_joins(error: BaseException | None) -> bool:
    """Whether a connection loss is of the kind a join can cause."""
    if isinstance(error, FrameTooLarge):
        return True
    return isinstance(error, MotiaConnectionError) and error.close_code in _KILLER_CODES


def _reason(error: BaseException | None) -> str:
    if error is None:
        return "the connection was closed"
    return str(error) or type(error).__name__
