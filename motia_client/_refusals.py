"""Refusal probation: telling an expired token from real refusals after a reconnect.

PROTOCOL.md section 2: the iii engine accepts any upgrade, so an expired token
only shows as every join being refused right after a reconnect. When the
client reconnects with a token callable, refusals are held here for a short
while instead of being reported:

- every join refused: refresh the token once (the caller reconnects if it changed);
- a state frame arrives, or the deadline passes: the refusals are real; report them.

Pure bookkeeping, no clock: the client arms the deadline and says when it fired.
"""

from __future__ import annotations

from typing import Generic, TypeVar

__all__ = ["PROBATION_SECONDS", "RefusalProbation"]

S = TypeVar("S")
# A join refused by canAccess costs a 0.x server up to a second; allow for two.
PROBATION_SECONDS = 2.0


class RefusalProbation(Generic[S]):
    """Holds the refusals of one connection until they can be judged."""

    def __init__(self) -> None:
        self._held: list[tuple[S, str | None]] | None = None
        self._joined = 0
        self.refreshed = False  # a refresh was tried since the token last changed
        self.active = False  # whether refusals are being held (read once per state frame)

    def start(self, *, reconnected: bool, token_callable: bool, token_changed: bool) -> None:
        """A connection opened: hold refusals only after a reconnect with a token callable."""
        if token_changed:
            self.refreshed = False
        hold = reconnected and token_callable and not self.refreshed
        self._held = [] if hold else None
        self.active = hold
        self._joined = 0

    def joined(self, count: int) -> None:
        """Record how many joins were sent when the connection opened."""
        self._joined = count

    def hold(self, subs: tuple[S, ...], reason: str | None, refused_rooms: int) -> bool:
        """Hold refusals; return True when every join is refused and a refresh is due."""
        assert self._held is not None
        self._held.extend((sub, reason) for sub in subs)
        if refused_rooms >= self._joined and not self.refreshed:
            self.refreshed = True
            return True
        return False

    def add(self, sub: S) -> None:
        """A new subscriber joined a room already refused on this connection."""
        assert self._held is not None
        self._held.append((sub, None))

    def release(self) -> list[tuple[S, str | None]]:
        """End the probation; return the held refusals, now to be reported."""
        held, self._held = self._held or [], None
        self.active = False
        return held
