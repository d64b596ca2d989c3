"""A fault switch for drift detection: rooms that stop delivering to open sockets.

``stall(stream, group)`` makes the group (its group room and every item room in it)
deliver no more change or custom-event frames to any socket; syncs still go out,
so a new join gets the correct current state, and pings are answered as usual (they
never leave uvicorn's protocol). The store keeps changing: a client that was
subscribed before the stall silently drifts from the truth, which is what a drift
detector must notice. ``unstall`` resumes delivery; what was missed stays missed.
"""

from __future__ import annotations

import threading


class Stalls:
    """The stalled (stream, group) pairs; thread-safe, cheap to test when empty."""

    def __init__(self) -> None:
        self._rooms: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def __bool__(self) -> bool:
        return bool(self._rooms)

    def __contains__(self, room: object) -> bool:
        return room in self._rooms

    def stall(self, stream: str, group: str) -> None:
        """Stop delivering the group's frames (syncs excepted)."""
        with self._lock:
            self._rooms = {*self._rooms, (stream, group)}

    def unstall(self, stream: str, group: str) -> bool:
        """Deliver the group's frames again; False if it was not stalled."""
        with self._lock:
            if (stream, group) not in self._rooms:
                return False
            self._rooms = self._rooms - {(stream, group)}
            return True

    def rooms(self) -> list[tuple[str, str]]:
        """The stalled groups, sorted."""
        return sorted(self._rooms)
