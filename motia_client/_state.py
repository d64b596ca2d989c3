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

Tombstones: a deleted key's timestamp is kept so that a late, older update
cannot resurrect it, but only while such a frame can still arrive: for
:data:`TOMBSTONE_WINDOW_MS` of server time after the delete, and for the
:data:`TOMBSTONE_LIMIT` most recent deletes. A queue-like group that creates
and deletes millions of ids runs in flat memory.

A frame that changes nothing (an exact duplicate) reports no change, so nobody
is notified. Values nested too deeply for Python to compare (``==`` raises
``RecursionError``) count as changed.

The reducers are pure: no I/O, no clock. They say what changed (an ``Op``, with
the previous value in ``old``) so that the views can follow in O(1) or O(log N).

Drift (``differences``): compared with a snapshot of the server's items taken at
server time ``at``, an item differs only if no frame at or after ``at`` explains
it (the local state is then ahead of the snapshot, or the snapshot raced that
frame). Each difference is the snapshot's item missing here, an item here the
snapshot lacks (extra), or both holding other values (different).
"""

from __future__ import annotations

from itertools import repeat
from typing import Any, Final

__all__ = [
    "NEVER",
    "TOMBSTONE_LIMIT",
    "TOMBSTONE_WINDOW_MS",
    "Differences",
    "GroupState",
    "ItemState",
    "Op",
    "same",
]

NEVER: Final = -(1 << 62)  # older than any timestamp
TOMBSTONE_WINDOW_MS: Final = 60_000
TOMBSTONE_LIMIT: Final = 10_000
_ONLY_STR = {str}


class Op:
    """What a change did to a group (``NONE`` is falsy: nothing changed)."""

    NONE: Final = 0
    RESET: Final = 1  # a sync replaced everything
    UPSERT: Final = 2  # one key was inserted or replaced
    REMOVE: Final = 3  # one key was removed


_NONE, _RESET, _UPSERT, _REMOVE = Op.NONE, Op.RESET, Op.UPSERT, Op.REMOVE
Differences = tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]  # missing, extra, different


def _differences(checks: list[tuple[str, Any, Any, int]], at: int) -> Differences:
    """Classify ``(id, theirs, ours, stamp)`` checks against a snapshot taken at ``at``."""
    missing: list[str] = []
    extra: list[str] = []
    different: list[str] = []
    for item_id, theirs, ours, stamp in checks:
        if stamp >= at or same(theirs, ours):
            continue  # explained by a frame at or after the snapshot, or no difference
        if ours is None:
            missing.append(item_id)
        elif theirs is None:
            extra.append(item_id)
        else:
            different.append(item_id)
    return tuple(missing), tuple(extra), tuple(different)


def same(old: Any, new: Any) -> bool:
    """``old == new``; a value too deeply nested to compare is a change, never an error."""
    try:
        return bool(old is new or old == new)
    except RecursionError:
        return False


class ItemState:
    """The state of one item room: the item, or ``None``."""

    __slots__ = ("confirmed", "old", "synced", "timestamp", "value")

    def __init__(self) -> None:
        self.value: Any = None
        self.old: Any = None  # the value before the last change
        self.timestamp = NEVER
        self.synced = False  # a first frame has arrived (even a null sync)
        self.confirmed = False  # a frame has arrived on the current connection

    def rebase(self) -> None:
        """A new connection: its first frame is never stale; the value (kept) is unconfirmed.

        Motia 0.x answers the join of a missing item with nothing: an item deleted while
        the client was away stays unconfirmed with its last value (pending), never
        reported deleted on the strength of a silence.
        """
        self.timestamp = NEVER
        self.confirmed = False

    def differences(self, truth: dict[str, Any], at: int, item_id: str | None) -> Differences:
        """How the item differs from ``truth``, its group's items at server time ``at``."""
        assert item_id is not None
        return _differences([(item_id, truth.get(item_id), self.value, self.timestamp)], at)

    def apply(self, kind: str, timestamp: int, data: Any) -> bool:
        """Apply one state frame to the item; return whether its value changed."""
        if timestamp < self.timestamp:
            return False
        self.timestamp = timestamp
        self.confirmed = True
        new = None if kind == "delete" else data
        if self.synced and same(new, self.value):
            return False
        self.synced = True
        self.old = self.value
        self.value = new
        return True


class GroupState:
    """The state of one group room: items keyed by id, in natural order.

    Natural order is the order of the last sync (the server sorts it), then
    creation order; an update keeps an item's place.
    """

    __slots__ = ("_stamps", "_tombs", "floor", "items", "old", "synced")

    def __init__(self) -> None:
        self.items: dict[str, Any] = {}
        self.old: Any = None  # what the last change replaced: a value, or the items of a reset
        self._stamps: dict[str, int] = {}  # live key -> timestamp of its last applied frame
        self._tombs: dict[str, int] = {}  # deleted key -> timestamp, oldest first (bounded)
        self.floor = NEVER  # timestamp of the last applied sync
        self.synced = False

    def rebase(self) -> None:
        """A new connection: its first frames are never stale (the items are kept)."""
        self.floor = NEVER
        self._stamps = {}
        self._tombs = {}

    def stamp(self, key: str) -> int:
        """The timestamp of the last frame applied to ``key`` (a delete too), or the floor."""
        last = self._stamps.get(key)
        if last is None:
            last = self._tombs.get(key, self.floor)
        return last

    def differences(
        self, truth: dict[str, Any], at: int, item_id: str | None = None
    ) -> Differences:
        """How the items differ from ``truth``, the group's items at server time ``at``."""
        held = self.items
        ids = [*truth, *(k for k in held if k not in truth)]
        return _differences([(k, truth.get(k), held.get(k), self.stamp(k)) for k in ids], at)

    def change(self, kind: str, key: str, timestamp: int, data: Any) -> int:
        """Apply one item-level frame (``create``, ``update`` or ``delete``); return its Op."""
        stamps = self._stamps
        last = stamps.get(key)
        if last is None:
            last = self._tombs.get(key, self.floor)
        if timestamp < last:
            return _NONE  # stale
        items = self.items
        old = items.get(key)
        if kind == "delete":
            self._bury(key, timestamp)
            if old is None:
                return _NONE
            del items[key]
            stamps.pop(key, None)
            self.old = old
            return _REMOVE
        stamps[key] = timestamp
        if old is None:
            if key in self._tombs:
                del self._tombs[key]
        else:
            try:
                if old is data or old == data:
                    return _NONE  # an exact duplicate: no change, nobody notified
            except RecursionError:
                pass  # too deeply nested to compare: a change
        items[key] = data
        self.old = old
        return _UPSERT

    def _bury(self, key: str, timestamp: int) -> None:
        """Remember a delete, forgetting the deletes no late frame can still concern."""
        tombs = self._tombs
        tombs.pop(key, None)  # re-inserted: the dict stays in delete order
        tombs[key] = timestamp
        horizon = timestamp - TOMBSTONE_WINDOW_MS
        while tombs:
            first = next(iter(tombs))
            if len(tombs) <= TOMBSTONE_LIMIT and tombs[first] >= horizon:
                break
            del tombs[first]

    def sync(self, timestamp: int, data: list[Any]) -> int:
        """Apply a group sync; return ``Op.RESET`` if the items changed, else ``Op.NONE``."""
        if timestamp < self.floor:
            return _NONE
        items = _keyed(data)
        self.floor = timestamp
        self._stamps = {}
        self._tombs = {}
        if self.synced and _same_items(items, self.items):
            return _NONE
        self.synced = True
        self.old = self.items
        self.items = items
        return _RESET


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
