"""Telling Motia 0.x's state echoes from real custom events, as pure code.

A Motia 0.17 server with its Redis adapter pushes every set and delete twice:
as the real ``create``/``update``/``delete`` frame, and as a custom event of
the same type carrying the item. Logged, the echoes bury the real custom
events. :class:`EchoFilter` recognises an echo by its data: a custom event of
type create/update/delete/sync whose data matches the item as the room now
holds it (for delete: the item is gone). An echo may arrive just before its
real frame, so one that does not match yet is held for ``window`` seconds and
checked again on each change; if it still does not match, it is shown, late.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["MISSING", "STATE_EVENT_TYPES", "EchoFilter", "Lookup"]

STATE_EVENT_TYPES: Final = frozenset({"create", "update", "delete", "sync"})
MISSING: Final[Any] = object()  # what a lookup returns for an id the room does not hold

Lookup = Callable[[str], Any]
"""``lookup(item_id)``: the item as the room holds it now, or :data:`MISSING`."""


@dataclass(frozen=True)
class _Held:
    deadline: float
    event_type: str
    data: Any


class EchoFilter:
    """For one room: which custom events are state echoes (hidden) and which to show."""

    def __init__(self, lookup: Lookup, *, window: float = 0.5, max_held: int = 1_000) -> None:
        self._lookup = lookup
        self._window = window
        self._held: deque[_Held] = deque()
        self._max_held = max_held
        self.hidden = 0  # echoes recognised so far

    def offer(self, event_type: str, data: Any, now: float) -> list[tuple[str, Any]]:
        """Take one custom event; return the events to show now (in order).

        Events of other types are shown at once; an echo is counted in
        :attr:`hidden`; a state-typed event that matches nothing yet is held.
        """
        if event_type not in STATE_EVENT_TYPES or not _item_shaped(data):
            return [(event_type, data)]
        if self._matches(event_type, data):
            self.hidden += 1
            return []
        self._held.append(_Held(now + self._window, event_type, data))
        shown: list[tuple[str, Any]] = []
        while len(self._held) > self._max_held:
            oldest = self._held.popleft()
            shown.append((oldest.event_type, oldest.data))
        return shown

    def settle(self, now: float) -> list[tuple[str, Any]]:
        """Check the held events against the room's state: count the echoes, return the expired."""
        if not self._held:
            return []
        shown: list[tuple[str, Any]] = []
        kept: deque[_Held] = deque()
        for held in self._held:
            if self._matches(held.event_type, held.data):
                self.hidden += 1
            elif held.deadline <= now:
                shown.append((held.event_type, held.data))
            else:
                kept.append(held)
        self._held = kept
        return shown

    @property
    def holding(self) -> int:
        """How many events wait to be told apart."""
        return len(self._held)

    def _matches(self, event_type: str, data: Any) -> bool:
        if data is None:  # an echo of a delete of nothing: it carries nothing to show
            return True
        if isinstance(data, list):
            return all(self._lookup(item["id"]) == item for item in data)
        current = self._lookup(data["id"])
        if event_type == "delete":
            return current is MISSING
        return current is not MISSING and current == data


def _item_shaped(data: Any) -> bool:
    """``None``, an item with a string id, or a list of such items (a sync's data)."""
    if data is None:
        return True
    if isinstance(data, list):
        return all(_is_item(item) for item in data)
    return _is_item(data)


def _is_item(data: Any) -> bool:
    return isinstance(data, Mapping) and isinstance(data.get("id"), str)
