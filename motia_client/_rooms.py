"""Local rooms and frame routing: the sans-I/O session of one client.

A *room* is one server-side subscription: ``(stream, group, None)`` for a group,
``(stream, group, id)`` for an item. Any number of local subscribers share a
room (one join, one leave), each through its own view. The router:

- says which frames to send: a join when a room gains its first subscriber
  while connected, a leave when it loses its last, every join again (with fresh
  subscription ids) when a connection opens;
- routes each received frame to the rooms it concerns (PROTOCOL.md section 4):
  a frame with an ``id`` to that item's room and its group's room, one without
  to the group's room only, a sync to the room that asked for it; frames that
  match no local room are ignored;
- suppresses the identical copies a server sends once per matching server-side
  subscription, so that every local subscriber sees each change and each custom
  event exactly once.

It never touches a socket: the caller sends what it returns and feeds it what
the socket receives.
"""

from __future__ import annotations

import types
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any, Generic, NamedTuple, TypeVar, cast

from pydantic import BaseModel

from motia_client._exceptions import ItemValidationError
from motia_client._protocol import (
    CustomEvent,
    Frame,
    MalformedFrame,
    Refusal,
    StateFrame,
    decode_frame,
    encode_join,
    encode_leave,
    loads,
)
from motia_client._state import GroupDelta, GroupState, ItemState, Op
from motia_client._views import GroupView, ItemView

__all__ = ["Delivery", "Room", "RoomKey", "Router"]

S = TypeVar("S")
RoomKey = tuple[str, str, str | None]
View = ItemView[Any] | GroupView[Any]
_PENDING_LIMIT = 256  # identical-copy counters kept at most (oldest dropped first)
_NO_ERRORS: Mapping[Any, Sequence[ItemValidationError]] = types.MappingProxyType({})
_RESET = Op.RESET


class Room(Generic[S]):
    """One server-side subscription and the local subscribers sharing it."""

    __slots__ = ("group", "item_id", "key", "members", "refused", "state", "stream", "sub_id")

    def __init__(self, stream: str, group: str, item_id: str | None) -> None:
        self.stream = stream
        self.group = group
        self.item_id = item_id
        self.key: RoomKey = (stream, group, item_id)
        self.state: ItemState | GroupState = ItemState() if item_id is not None else GroupState()
        self.members: dict[S, View] = {}
        self.sub_id: str | None = None  # the subscriptionId of the join on this connection
        self.refused = False

    @property
    def is_group(self) -> bool:
        """Whether this room follows a whole group (rather than one item)."""
        return self.item_id is None

    def apply(self, frame: StateFrame) -> Mapping[S, Sequence[ItemValidationError]] | None:
        """Apply a state frame to the shared reducer and every view.

        Returns ``None`` when nothing changed, else the validation errors per
        subscriber (an empty mapping when there are none, the usual case).
        """
        state = self.state
        if type(state) is GroupState:
            self._freeze()
            return self._follow(state.apply(frame))
        assert type(state) is ItemState
        if not state.apply(frame):
            return None
        errors: dict[S, Sequence[ItemValidationError]] | None = None
        for sub, view in self.members.items():
            found = view.refresh()  # type: ignore[union-attr]
            if found:
                errors = errors or {}
                errors[sub] = found
        return errors or _NO_ERRORS

    def change(
        self, kind: str, key: str, timestamp: int, data: Any
    ) -> Mapping[S, Sequence[ItemValidationError]] | None:
        """:meth:`apply` for an item-level frame of a group room, given by its fields."""
        state = self.state
        assert type(state) is GroupState
        detail = not self._freeze()
        return self._follow(state.change(kind, key, timestamp, data, detail))

    def _freeze(self) -> bool:
        """Before the group changes: a snapshot someone holds keeps its items.

        Returns whether every view is plain (no order, no model to follow).
        """
        plain = True
        for view in self.members.values():
            group_view = cast(GroupView[Any], view)
            group_view.freeze()
            plain = plain and group_view._plain
        return plain

    def _follow(self, delta: GroupDelta | None) -> Mapping[S, Sequence[ItemValidationError]] | None:
        """Bring every view of a group room up to date with ``delta``."""
        if delta is None:
            return None
        errors: dict[S, Sequence[ItemValidationError]] | None = None
        plain_ok = delta.op != _RESET  # an item change: plain views only drop their cache
        for sub, view in self.members.items():
            group_view = cast(GroupView[Any], view)
            if plain_ok and group_view._plain:  # GroupView.apply, inlined
                group_view._cache = None
                continue
            found = group_view.apply(delta)
            if found:
                errors = errors or {}
                errors[sub] = found
        return errors or _NO_ERRORS

    def __repr__(self) -> str:
        name = "/".join(part for part in self.key if part is not None)
        return f"<Room {name} members={len(self.members)} joined={self.sub_id is not None}>"


class Delivery(NamedTuple):
    """A frame that concerns ``room``: a state change, a custom event or a refusal.

    For a state change, ``errors`` holds the validation errors per subscriber.
    """

    room: Room[Any]
    frame: StateFrame | CustomEvent | Refusal
    errors: Mapping[Any, Sequence[ItemValidationError]] | None


def _delivery(fields: tuple[Room[Any], StateFrame | CustomEvent | Refusal, Any]) -> Delivery:
    """Build a Delivery on the hot path, without NamedTuple's argument handling."""
    delivery: Delivery = tuple.__new__(Delivery, fields)
    return delivery


class Router(Generic[S]):
    """Rooms, ref-counted joins and frame routing for one client (sans-I/O)."""

    def __init__(self) -> None:
        self.rooms: dict[RoomKey, Room[S]] = {}
        self._member_room: dict[S, Room[S]] = {}
        # (stream, id) -> item rooms the server holds a subscription for (not refused)
        self._item_rooms: dict[tuple[str, str], int] = {}
        self._iii: bool | None = None  # this connection's dialect, learned when it matters
        self._pending: OrderedDict[str | bytes, int] = OrderedDict()
        self._last_group: Room[S] | None = None  # the group room direct_room found last
        self.connected = False

    # -- membership -----------------------------------------------------------

    def add(
        self,
        sub: S,
        stream: str,
        group: str,
        item_id: str | None = None,
        *,
        sort_key: str | None = None,
        model: type[BaseModel] | None = None,
    ) -> tuple[Room[S], View, str | None]:
        """Add a local subscriber; return its room, its view and a join frame to send.

        The view starts from the room's current state, so a subscriber joining a
        room that is already synced sees the items at once. The join frame is
        ``None`` when the room was already joined or the client is offline (the
        join is then sent by :meth:`connection_made`).
        """
        key: RoomKey = (stream, group, item_id)
        room = self.rooms.get(key)
        join = None
        if room is None:
            room = self.rooms[key] = Room(stream, group, item_id)
            if item_id is not None:
                self._count_item_room(room, 1)
            if self.connected:
                join = self._join(room)
        state = room.state
        view: View
        if isinstance(state, GroupState):
            view = GroupView(state, sort_key, model)
        else:
            view = ItemView(state, model)
        room.members[sub] = view
        self._member_room[sub] = room
        return room, view, join

    def remove(self, sub: S) -> str | None:
        """Remove a local subscriber; return the leave frame to send, if any."""
        room = self._member_room.pop(sub, None)
        if room is None:
            return None
        room.members.pop(sub, None)
        if room.members:
            return None
        self._drop(room)
        if room.sub_id is None or room.refused:
            return None
        leave = encode_leave(room.stream, room.group, room.item_id, room.sub_id)
        room.sub_id = None
        return leave

    def room_of(self, sub: S) -> Room[S] | None:
        """Return the room a subscriber belongs to, if it is still subscribed."""
        return self._member_room.get(sub)

    def _drop(self, room: Room[S]) -> None:
        if self.rooms.get(room.key) is room:
            del self.rooms[room.key]
        if self._last_group is room:
            self._last_group = None
        if room.item_id is not None and not room.refused:
            self._count_item_room(room, -1)

    def _count_item_room(self, room: Room[S], change: int) -> None:
        assert room.item_id is not None
        pair = (room.stream, room.item_id)
        left = self._item_rooms.get(pair, 0) + change
        if left > 0:
            self._item_rooms[pair] = left
        else:
            self._item_rooms.pop(pair, None)

    def _join(self, room: Room[S]) -> str:
        frame, room.sub_id = encode_join(room.stream, room.group, room.item_id)
        if type(room.state) is ItemState:
            room.state.answered = False
        return frame

    def item_joins(self) -> list[tuple[RoomKey, str]]:
        """The live item joins, as ``(room key, subscriptionId)``: what :meth:`settle` takes."""
        return [
            (room.key, room.sub_id)
            for room in self.rooms.values()
            if room.item_id is not None and room.sub_id is not None and not room.refused
        ]

    def settle(self, joins: list[tuple[RoomKey, str]]) -> list[Delivery | MalformedFrame]:
        """Treat item joins still unanswered as joins to a missing item.

        Motia 0.x answers a join to a missing item with nothing at all, so an item
        deleted while the client was away would otherwise stay forever. The
        caller calls this a grace period after sending the joins; a join is
        named by its subscriptionId, so a later rejoin of the same room is never
        settled early. The item becomes ``None`` through an ordinary ``delete``.
        """
        deliveries: list[Delivery | MalformedFrame] = []
        for key, sub_id in joins:
            room = self.rooms.get(key)
            if room is None or room.sub_id != sub_id or room.refused:
                continue
            state = room.state
            if type(state) is not ItemState or state.answered:
                continue
            assert room.item_id is not None
            stamp = max(state.timestamp, 0)
            frame = StateFrame("delete", room.stream, room.group, room.item_id, stamp, None, key[2])
            errors = room.apply(frame)
            if errors is not None:
                deliveries.append(_delivery((room, frame, errors)))
        return deliveries

    # -- connection -----------------------------------------------------------

    def connection_made(self, *, retry_refused: bool = False) -> list[str]:
        """A socket opened: return one join per live room (fresh subscription ids).

        Refused rooms are joined again only with ``retry_refused`` (a new token).
        """
        self.connected = True
        self._pending.clear()
        self._iii = None
        frames = []
        for room in self.rooms.values():
            room.state.rebase()  # this server's clock may be behind the last one's
            if room.refused:
                if not retry_refused:
                    continue
                room.refused = False
                if room.item_id is not None:
                    self._count_item_room(room, 1)
            frames.append(self._join(room))
        return frames

    def connection_lost(self) -> None:
        """The socket closed: every room is unjoined until the next connection."""
        self.connected = False
        self._pending.clear()
        for room in self.rooms.values():
            room.sub_id = None

    # -- receiving ------------------------------------------------------------

    def receive(self, raw: str | bytes) -> list[Delivery | MalformedFrame]:
        """Decode one received frame and apply it; return what the subscribers must hear.

        The sans-I/O entry point. A running client goes through
        ``_fanout.Dispatcher`` instead, which takes :meth:`direct_room` for the
        usual frame and :meth:`route` for the rest.
        """
        return self.route(raw, decode_frame(raw))

    def direct_room(self, stream: str, group: str) -> Room[S] | None:
        """The group room an item-level state frame goes to when no copy can arrive, or None.

        The hot path: with no item rooms, an item-level frame concerns its group's
        room only, and the server sends one copy. ``None`` means :meth:`route`
        decides (it also ignores the frames of rooms that are unknown or refused).
        """
        if self._item_rooms:
            return None
        room = self._last_group
        if room is None or room.group != group or room.stream != stream:
            # Comparing two names is cheaper than hashing them: each frame's are new strings.
            room = self.rooms.get((stream, group, None))
            if room is None:
                return None
            self._last_group = room
        return None if room.refused else room

    def route(self, raw: str | bytes, frame: Frame) -> list[Delivery | MalformedFrame]:
        """Route a decoded frame to the rooms it concerns (the general case of receive)."""
        kind = type(frame)
        if kind is MalformedFrame:
            return [frame]  # type: ignore[list-item]
        assert not isinstance(frame, MalformedFrame)
        rooms = self.rooms
        stream = frame.stream
        group = frame.group
        item_id = frame.item_id
        if kind is Refusal:
            return self._refuse(frame)  # type: ignore[arg-type]
        if item_id is None:
            room = rooms.get((stream, group, None))
            if room is None:
                return []
            matched: tuple[Room[S], ...] = (room,)
        elif kind is StateFrame and frame.kind == "sync":  # type: ignore[union-attr]
            room = rooms.get((stream, group, item_id))
            if room is None:
                return []
            matched = (room,)
        else:
            item_room = rooms.get((stream, group, item_id)) if self._item_rooms else None
            group_room = rooms.get((stream, group, None))
            # Copies need an item room: a group-only client never pays for the check.
            if self._item_rooms and self._is_copy(raw, (stream, item_id), item_room, group_room):
                return []
            if item_room is None:
                if group_room is None:
                    return []
                matched = (group_room,)
            elif group_room is None:
                matched = (item_room,)
            else:
                matched = (item_room, group_room)
        deliveries: list[Delivery | MalformedFrame] = []
        if kind is StateFrame:
            for room in matched:
                if not room.refused:
                    errors = room.apply(frame)  # type: ignore[arg-type]
                    if errors is not None:
                        deliveries.append(_delivery((room, frame, errors)))
        else:
            for room in matched:
                if not room.refused:
                    deliveries.append(_delivery((room, frame, None)))
        return deliveries

    def _is_copy(
        self,
        raw: str | bytes,
        pair: tuple[str, str],
        item_room: Room[S] | None,
        group_room: Room[S] | None,
    ) -> bool:
        """Whether ``raw`` is a further copy of a frame already handled.

        A server sends one copy per matching server-side subscription: the
        group's room, the item's room and, on Motia 0.x (which keys item rooms
        without the group), the rooms of the same item id in other groups.
        Refused rooms have no server-side subscription. The first copy is
        handled; the next ``copies - 1`` identical frames are skipped.
        """
        own = item_room is not None and not item_room.refused
        copies = own + (group_room is not None and not group_room.refused)
        others = self._item_rooms.get(pair, 0) - own
        if others and not self._is_iii(raw):
            copies += others
        if copies < 2:
            return False
        pending = self._pending
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

    def _is_iii(self, raw: str | bytes) -> bool:
        """Whether this connection speaks the iii dialect (top-level ``"type": "stream"``)."""
        if self._iii is None:
            message = loads(raw)  # decode_frame parsed it already: a JSON object
            self._iii = message.get("type") == "stream"
        return self._iii

    def _refuse(self, frame: Refusal) -> list[Delivery | MalformedFrame]:
        room = self.rooms.get((frame.stream, frame.group, frame.item_id))
        if room is None and frame.item_id is None:
            # A refusal without an id: the unsynced rooms of that group asked for it.
            candidates = [
                r
                for r in self.rooms.values()
                if r.stream == frame.stream and r.group == frame.group and not r.state.synced
            ]
            room = candidates[0] if len(candidates) == 1 else None
        if room is None or room.refused:
            return []
        room.refused = True
        if room.item_id is not None:
            self._count_item_room(room, -1)
        return [Delivery(room, frame, None)]
