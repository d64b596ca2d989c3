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

The session (``_session``) holds the state and enforces the table: a transition
it does not list raises :class:`InvalidTransition`, a bug, never a state.

Only the I/O layer has a clock, so the policy here is pure: it says how long
to wait before attempt *n*; the caller sleeps.
"""

from __future__ import annotations

import enum
import math
import random
from dataclasses import dataclass
from typing import Final

__all__ = [
    "TRANSITIONS",
    "ConnectionState",
    "InvalidTransition",
    "ReconnectPolicy",
    "StateChange",
    "check_transition",
]


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


class InvalidTransition(RuntimeError):
    """A state change the lifecycle table does not allow: a bug in the client."""


def check_transition(previous: ConnectionState, new: ConnectionState) -> None:
    """Raise :class:`InvalidTransition` unless the table allows ``previous -> new``."""
    if new not in TRANSITIONS[previous]:
        raise InvalidTransition(f"the connection cannot go from {previous.value} to {new.value}")


@dataclass(frozen=True)
class StateChange:
    """One connection state change, as passed to ``on_state_change`` listeners.

    ``attempt`` counts consecutive failed attempts (0 once open); ``retry_in`` is
    the delay before the next attempt when reconnecting; ``reason`` says why,
    never with a token in it; ``url`` is the server it is about (without its
    query string), which matters when the client has several to fail over to.
    """

    previous: ConnectionState
    state: ConnectionState
    reason: str | None = None
    attempt: int = 0
    retry_in: float | None = None
    error: BaseException | None = None
    url: str | None = None


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
        """Return the wait before retry ``attempt``, or ``None`` when retries are exhausted.

        Any number of attempts is fine: the exponent stops growing once the cap is
        reached, so the power never overflows (it did after 1,024 attempts).
        """
        if self.max_attempts is not None and attempt > self.max_attempts:
            return None
        exponent = max(0, attempt - 1)
        if self.initial == 0 or self.factor == 1 or self.cap <= self.initial:
            exponent = 0
        else:  # past the first exponent at which initial * factor ** n reaches the cap, no more
            exponent = min(exponent, math.ceil(math.log(self.cap / self.initial, self.factor)))
        ceiling = min(self.cap, self.initial * self.factor**exponent)
        if not self.jitter:
            return ceiling
        return (rng or random).uniform(0.0, ceiling)
