"""Item and group state reducers: the client state rules of PROTOCOL.md section 5.

Everything that decides what a frame does to the state lives in this file:

==========  ==============================  ======================================
frame       item state                      group state
==========  ==============================  ======================================
sync        value = data                    replace all, unless older than last sync
create      value = data                    upsert by key
update      value = data                    upsert by key
delete      value = None                    remove key, keep its timestamp (tombstone)
==========  ==============================  ======================================

Staleness: a frame strictly older than the last one applied (to the item, or to
that key of the group, or than the group's last sync) is dropped. Equal
timestamps are applied in arrival order: Motia servers stamp in milliseconds and
token-by-token output shares them. Staleness holds within one connection only:
``rebase`` (called when a connection opens) forgets the timestamps, because the
next server may be another process whose clock is behind the last one's, and
the syncs after a reconnect replace the state (PROTOCOL.md section 6).

A frame that changes nothing (an exact duplicate) reports no change, so nobody
is notified. Values nested too deeply for Python to compare (``==`` raises
``RecursionError``) count as changed.

The reducers are pure: no I/O, no clock. ``apply`` returns what changed so the
views (ordering, models) can follow in O(1) or O(log N).
"""

from __future__ import annotations

from itertools import repeat
from typing import Any, Final, final

from motia_client._protocol import StateFrame

__all__ = ["CHANGED", "NEVER", "GroupDelta", "GroupState", "ItemState", "Op"]

NEVER = _NEVER = -(1 << 62)  # older than any timestamp
_ONLY_STR = {str}


def _same(old: Any, new: Any) -> bool:
    """``old == new``; a value too deeply nested to compare is a change, never an error."""
    try:
        return bool(old == new)
    except RecursionError:
        return False


class Op:
    """What a :class:`GroupDelta` did to the group."""

    RESET: Final = 0  # a sync replaced everything
    UPSERT: Final = 1  # one key was inserted or replaced
    REMOVE: Final = 2  # one key was removed


@final
class GroupDelta:
    """One change to a group: ``op`` on ``key`` (``None`` for a reset), ``old`` and ``new``.

    A plain class rather than a NamedTuple: one is built per change, and a
    compiled class is built several times faster.
    """

    __slots__ = ("key", "new", "old", "op")

    def __init__(self, op: int, key: str | None, old: Any, new: Any) -> None:
        self.op = op
        self.key = key
        self.old = old
        self.new = new

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, GroupDelta):
            return NotImplemented
        return (self.op, self.key, self.old, self.new) == (
            other.op,
            other.key,
            other.old,
            other.new,
        )

    def __repr__(self) -> str:
        return f"GroupDelta(op={self.op!r}, key={self.key!r}, old={self.old!r}, new={self.new!r})"


_UPSERT = Op.UPSERT
_REMOVE = Op.REMOVE
# What GroupState.change returns without detail: an item changed (which, and how, untold).
CHANGED: Final = GroupDelta(_UPSERT, None, None, None)


class ItemState:
    """The state of one item subscription: the item, or ``None``."""

    __slots__ = ("answered", "synced", "timestamp", "value")

    def __init__(self) -> None:
        self.value: Any = None
        self.timestamp = _NEVER
        self.synced = False  # a first frame has arrived (even a null sync)
        self.answered = False  # a frame has arrived since the current join was sent

    def rebase(self) -> None:
        """A new connection: its first frame is never stale (the value is kept)."""
        self.timestamp = _NEVER

    def apply(self, frame: StateFrame) -> bool:
        """Apply one state frame; return whether the value changed."""
        self.answered = True
        if frame.timestamp < self.timestamp:
            return False
        self.timestamp = frame.timestamp
        new = None if frame.kind == "delete" else frame.data
        if self.synced and _same(new, self.value):
            return False
        self.synced = True
        self.value = new
        return True


class GroupState:
    """The state of one group subscription: items keyed by id, in natural order.

    Natural order is the order of the last sync (the server sorts it), then
    creation order; an update keeps an item's place.
    """

    __slots__ = ("_stamps", "floor", "items", "synced")

    def __init__(self) -> None:
        self.items: dict[str, Any] = {}
        self._stamps: dict[str, int] = {}  # key -> timestamp of its last applied frame
        self.floor = _NEVER  # timestamp of the last applied sync
        self.synced = False

    def rebase(self) -> None:
        """A new connection: its first frames are never stale (the items are kept)."""
        self.floor = _NEVER
        self._stamps = {}

    def apply(self, frame: StateFrame) -> GroupDelta | None:
        """Apply one state frame; return what changed, or ``None`` if nothing did."""
        if frame.kind == "sync":
            return self._sync(frame.timestamp, frame.data)
        assert frame.key is not None  # decode_frame guarantees a key for item-level kinds
        return self.change(frame.kind, frame.key, frame.timestamp, frame.data)

    def change(
        self, kind: str, key: str, timestamp: int, new: Any, detail: bool = True
    ) -> GroupDelta | None:
        """Apply one item-level frame (``create``, ``update`` or ``delete``) given by its fields.

        Without ``detail`` a change returns :data:`CHANGED` rather than a new
        delta: enough for views with no order and no model, and one object less.
        """
        stamps = self._stamps
        if timestamp < stamps.get(key, self.floor):
            return None
        stamps[key] = timestamp
        items = self.items
        old = items.get(key)
        if kind == "delete":
            if old is None:
                return None
            del items[key]
            return GroupDelta(_REMOVE, key, old, None) if detail else CHANGED
        if old is not None:
            try:
                if old is new or old == new:
                    return None  # an exact duplicate: no change, nobody notified
            except RecursionError:
                pass  # too deeply nested to compare: treat it as a change
        items[key] = new
        return GroupDelta(_UPSERT, key, old, new) if detail else CHANGED

    def _sync(self, timestamp: int, data: list[Any]) -> GroupDelta | None:
        if timestamp < self.floor:
            return None
        items = _keyed(data)
        self.floor = timestamp
        self._stamps = {}
        if self.synced and _same_items(items, self.items):
            return None
        self.synced = True
        old = self.items
        self.items = items
        return GroupDelta(Op.RESET, None, old, items)


def _keyed(data: list[dict[str, Any]]) -> dict[str, Any]:
    """The items of a sync keyed by their ``id``, in sync order; items without a string id skipped.

    Built with ``map`` and ``zip`` (C loops), about twice as fast as a Python loop.
    A repeated id keeps its first place and its last value, like assignment.
    """
    ids: list[Any] = list(map(dict.get, data, repeat("id")))
    if ids and set(map(type, ids)) != _ONLY_STR:  # some item names no string id
        return {key: item for key, item in zip(ids, data, strict=True) if type(key) is str}
    return dict(zip(ids, data, strict=True))


def _same_items(new: dict[str, Any], old: dict[str, Any]) -> bool:
    """Whether a resync leaves a group's items as they are, order included.

    Every key is its value's ``id``, so equal value lists in the same order mean
    equal groups; comparing the two lists walks both sequentially. The same items
    in another order are a change: the sync's order is the group's natural order.
    """
    if len(new) != len(old):
        return False
    try:
        return list(new.values()) == list(old.values())
    except RecursionError:  # nested too deeply to compare: a change
        return False
