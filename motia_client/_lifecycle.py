"""The connection lifecycle: its states, the allowed transitions, the retry policy.

Everything that decides the client's connection state lives here, as data:

==============  ==========================================================
state           reached from
==============  ==========================================================
``idle``        start; nothing has been attempted yet
``connecting``  idle (``connect()``)
``open``        connecting, reconnecting (the handshake succeeded)
``reconnecting`` connecting, open (a failure or loss that may be retried)
``closed``      any (``close()`` by the user); terminal
``failed``      connecting, open, reconnecting (a fatal error, or no retry allowed); terminal
==============  ==========================================================

Only the I/O layer has a clock, so the policy here is pure: it says how long
to wait before attempt *n*; the caller sleeps.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass
from typing import Final

__all__ = ["TRANSITIONS", "ConnectionState", "ReconnectPolicy", "StateChange"]


class ConnectionState(str, enum.Enum):
    """Where a client's connection stands."""

    IDLE = "idle"
    CONNECTING = "connecting"
    OPEN = "open"
    RECONNECTING = "reconnecting"
    CLOSED = "closed"
    FAILED = "failed"

    @property
    def is_terminal(self) -> bool:
        """Whether no further state can follow."""
        return self in (ConnectionState.CLOSED, ConnectionState.FAILED)


_S = ConnectionState
TRANSITIONS: Final[dict[ConnectionState, frozenset[ConnectionState]]] = {
    _S.IDLE: frozenset({_S.CONNECTING, _S.CLOSED}),
    _S.CONNECTING: frozenset({_S.OPEN, _S.RECONNECTING, _S.CLOSED, _S.FAILED}),
    _S.OPEN: frozenset({_S.RECONNECTING, _S.CLOSED, _S.FAILED}),
    _S.RECONNECTING: frozenset({_S.OPEN, _S.RECONNECTING, _S.CLOSED, _S.FAILED}),
    _S.CLOSED: frozenset(),
    _S.FAILED: frozenset({_S.CLOSED}),
}


@dataclass(frozen=True)
class StateChange:
    """One connection state change, as passed to ``on_state_change`` listeners.

    ``attempt`` counts consecutive failed attempts (0 once open); ``retry_in`` is
    the delay before the next attempt when reconnecting; ``reason`` says why,
    never with a token in it.
    """

    previous: ConnectionState
    state: ConnectionState
    reason: str | None = None
    attempt: int = 0
    retry_in: float | None = None
    error: BaseException | None = None


@dataclass(frozen=True)
class ReconnectPolicy:
    """Capped exponential backoff with full jitter.

    The delay before retry *n* (1-based) is uniform in ``[0, min(cap, initial *
    factor ** (n - 1))]``. ``max_attempts=None`` retries forever.
    """

    initial: float = 0.5
    factor: float = 2.0
    cap: float = 30.0
    max_attempts: int | None = None
    jitter: bool = True

    def __post_init__(self) -> None:
        if self.initial < 0 or self.cap < 0 or self.factor < 1:
            raise ValueError("ReconnectPolicy needs initial >= 0, cap >= 0 and factor >= 1")
        if self.max_attempts is not None and self.max_attempts < 0:
            raise ValueError("ReconnectPolicy.max_attempts must be None or >= 0")

    def delay(self, attempt: int, rng: random.Random | None = None) -> float | None:
        """Return the wait before retry ``attempt``, or ``None`` when retries are exhausted."""
        if self.max_attempts is not None and attempt > self.max_attempts:
            return None
        ceiling = min(self.cap, self.initial * self.factor ** max(0, attempt - 1))
        if not self.jitter:
            return ceiling
        return (rng or random).uniform(0.0, ceiling)
