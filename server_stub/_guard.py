"""Connection limits below the ASGI app: request-head and body timeouts, a connection cap.

uvicorn's HTTP/1.1 protocol waits forever for a request head that never ends, and
for a body that trickles in; a few hundred such sockets (slowloris) exhaust the
process's file descriptors, after which ``accept()`` fails in a hot loop. The
protocol here is uvicorn's h11 protocol plus three rules, all per server:

- **Head timeout**: a connection must send a complete request head within
  ``head_timeout`` seconds of opening (or of its previous response, on keep-alive);
  otherwise it gets ``408`` and is closed. Trickling bytes does not extend it.
- **Body timeout**: a request body must be complete within ``body_timeout`` seconds
  of its head; otherwise the connection is closed (the app sees a disconnect).
- **Connection cap**: at most ``max_connections`` connections (HTTP and WebSocket)
  are open, a number kept below the open-file limit. A connection over the cap
  first evicts the oldest connection still waiting for its request head (``503``,
  closed: those cost the attacker nothing to reopen and serve nobody); when every
  open connection is a real request or a stream socket, the newcomer gets ``503``.

Every refusal is logged through a rate limiter: one line per few seconds, with a count.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from dataclasses import dataclass, field
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from .limits import DEFAULT_BODY_TIMEOUT, DEFAULT_HEAD_TIMEOUT, FD_RESERVE
from .logs import RateLimitedLog

log = logging.getLogger("server_stub.connections")

FALLBACK_FD_LIMIT = 1024


def open_file_limit() -> int:
    """The process's soft open-file limit (RLIMIT_NOFILE), or 1024 where it cannot be read."""
    if sys.platform == "win32":  # pragma: no cover - no RLIMIT on Windows
        return FALLBACK_FD_LIMIT
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def connection_ceiling() -> int:
    """The most connections this process can hold: the open-file limit minus a reserve."""
    return max(1, open_file_limit() - FD_RESERVE)


@dataclass
class ConnectionGuard:
    """The limits of one server and the connections still waiting for a request head."""

    max_connections: int
    head_timeout: float = DEFAULT_HEAD_TIMEOUT
    body_timeout: float = DEFAULT_BODY_TIMEOUT
    waiting: dict[GuardedH11Protocol, None] = field(default_factory=dict)
    """Connections without a complete request head, oldest first (an ordered set)."""
    limiter: RateLimitedLog = field(default_factory=lambda: RateLimitedLog(log))
    evicted: int = 0
    refused: int = 0
    timed_out: int = 0

    def __post_init__(self) -> None:
        if self.max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        if self.head_timeout <= 0 or self.body_timeout <= 0:
            raise ValueError("head_timeout and body_timeout must be positive")

    def protocol(self) -> type[H11Protocol]:
        """uvicorn's ``http=`` protocol class bound to this guard."""
        return type("GuardedH11Protocol", (GuardedH11Protocol,), {"guard": self})

    def evict_oldest_waiting(self, newcomer: GuardedH11Protocol) -> bool:
        """Close the oldest connection still waiting for its head (not ``newcomer``)."""
        for victim in self.waiting:
            if victim is not newcomer:
                self.evicted += 1
                victim.reply_and_close(503, "server busy: too many connections")
                return True
        return False


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with the guard's head/body timeouts and connection cap."""

    guard: ConnectionGuard  # set on the per-server subclass made by ConnectionGuard.protocol()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Count the connection; over the cap, evict a head-waiting one or refuse this one."""
        super().connection_made(transport)
        guard = self.guard
        if len(self.connections) > guard.max_connections and not guard.evict_oldest_waiting(self):
            guard.refused += 1
            guard.limiter.log(
                logging.WARNING,
                "refused",
                "refused a connection: %d open, the limit is %d (503)",
                len(self.connections) - 1,
                guard.max_connections,
            )
            self.reply_and_close(503, "server busy: too many connections")
            return
        self._track()

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the timers, then let uvicorn clean up."""
        self._untrack()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Parse as uvicorn does, then move the head/body timers to the new state."""
        super().data_received(data)
        self._track()

    def on_response_complete(self) -> None:
        """After a response, a keep-alive connection waits for a new head: time it again."""
        super().on_response_complete()
        self._track()

    def handle_websocket_upgrade(self, event: h11.Request) -> None:
        """The head is complete and the socket is a stream socket from now on: stop timing it."""
        self._untrack()
        super().handle_websocket_upgrade(event)

    def reply_and_close(self, status: int, error: str) -> None:
        """Write a minimal JSON error response and close (used before any response started)."""
        self._untrack()
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        body = json.dumps({"error": error, "status": status}).encode()
        phrase = {408: "Request Timeout", 503: "Service Unavailable"}.get(status, "Error")
        head = (
            f"HTTP/1.1 {status} {phrase}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
        ).encode("ascii")
        cycle = self.cycle
        if cycle is None or cycle.response_complete or not cycle.response_started:
            transport.write(head + body)
        transport.close()

    # -- timers ------------------------------------------------------------------

    def _track(self) -> None:
        """Arm or cancel the head and body timers for the parser's current state."""
        transport = self.transport
        if transport is None or transport.is_closing() or transport.get_protocol() is not self:
            self._untrack()
            return
        state = self.conn.their_state
        if state is h11.IDLE:  # waiting for a (next) request head
            if self._head_timer is None:
                self._head_timer = self.loop.call_later(self.guard.head_timeout, self._head_late)
                self.guard.waiting[self] = None
            self._cancel_body()
        elif state is h11.SEND_BODY:
            self._cancel_head()
            if self._body_timer is None:
                self._body_timer = self.loop.call_later(self.guard.body_timeout, self._body_late)
        else:
            self._cancel_head()
            self._cancel_body()

    def _untrack(self) -> None:
        self._cancel_head()
        self._cancel_body()

    def _cancel_head(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        self.guard.waiting.pop(self, None)

    def _cancel_body(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _head_late(self) -> None:
        self._head_timer = None
        self.guard.timed_out += 1
        self.guard.limiter.log(
            logging.INFO,
            "head",
            "closed a connection that sent no complete request head within %.0f s (408)",
            self.guard.head_timeout,
        )
        self.reply_and_close(408, "request head not received in time")

    def _body_late(self) -> None:
        self._body_timer = None
        self.guard.timed_out += 1
        self.guard.limiter.log(
            logging.INFO,
            "body",
            "closed a connection whose request body was not complete within %.0f s",
            self.guard.body_timeout,
        )
        self._untrack()
        if self.transport is not None:
            self.transport.close()
