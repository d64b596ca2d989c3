"""The two small uvicorn adaptations the stub needs.

- :class:`AbortableWebSocketProtocol`: uvicorn's websockets (sans-I/O) protocol,
  plus an ASGI scope extension ``motia_stub.abort`` with two calls. ``abort()``
  drops the TCP connection at once (``drop_connections()``). ``close_now(code,
  reason)`` writes a close frame past the flow control and drops the connection if
  the client has not answered within ``CLOSE_GRACE_SECONDS``: ASGI's own close
  waits until a client that does not read has drained its buffer, that is forever,
  which is exactly the client a full send queue points at. The protocol keeps
  uvicorn's ``websocket.http.response`` extension (denial responses: the 401
  before upgrading).
- :class:`EmbeddedServer`: a uvicorn server that leaves signal handling to its
  owner (tests, the CLI), instead of taking over SIGINT/SIGTERM while it runs, and
  that stops in milliseconds: it wakes up as soon as it is asked to exit, and its
  shutdown polls for connections to finish every few ms instead of sleeping in
  0.1 s steps (test suites start and stop hundreds of servers).

Needs uvicorn >= 0.52.1: its websockets-sansio protocol then splits the offered
subprotocols, applies write flow control (what makes a slow client visible as a
full send queue) and sends clean denial responses.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from collections.abc import Iterator

import uvicorn
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

ABORT_EXTENSION = "motia_stub.abort"
SHUTDOWN_POLL_SECONDS = 0.005
CLOSE_GRACE_SECONDS = 2.0

log = logging.getLogger("uvicorn.error")


class AbortableWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websockets protocol with an abort extension in the ASGI scope."""

    _reset_sent = False

    async def run_asgi(self) -> None:
        """Expose ``abort`` and ``close_now`` to the app, then run it as uvicorn does."""
        self.scope["extensions"][ABORT_EXTENSION] = {
            "abort": self._abort_transport,
            "close_now": self._close_now,
        }
        await super().run_asgi()

    def _abort_transport(self) -> None:
        """Reset the TCP connection now: no close frame, no FIN queued behind unsent data.

        A plain close would leave the kernel holding the unsent bytes (and the FIN
        behind them) for minutes when the client does not read; SO_LINGER 0 makes
        it a reset, which frees everything at once.
        """
        transport = self.transport
        if transport is None or self._reset_sent:
            return
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self._reset_sent = True
        transport.abort()

    def _close_now(self, code: int, reason: str) -> None:
        """Send a close frame without waiting for the client to read; abort after a grace."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if not self.close_sent and self.handshake_complete and self.initial_response is None:
            self.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})
            self.conn.send_close(code, reason)
            transport.write(b"".join(self.conn.data_to_send()))
            self.close_sent = True
            if self.read_paused:  # the client's answer to our close must be read
                self.read_paused = False
                transport.resume_reading()
        if self.close_timer is not None:
            self.close_timer.cancel()
        self.close_timer = self.loop.call_later(CLOSE_GRACE_SECONDS, self._abort_transport)


class EmbeddedServer(uvicorn.Server):
    """A uvicorn server that does not install signal handlers and stops promptly."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._exit_requested: asyncio.Event | None = None

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Leave signals alone: whoever embeds the server decides how to stop it."""
        yield

    def request_exit(self) -> None:
        """Ask the main loop to stop now (call on the server's loop)."""
        self.should_exit = True
        if self._exit_requested is not None:
            self._exit_requested.set()

    async def main_loop(self) -> None:
        """uvicorn's housekeeping tick once a second, but exit as soon as requested."""
        self._exit_requested = asyncio.Event()
        if self.should_exit:
            self._exit_requested.set()
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 10) % 864000  # on_tick refreshes headers when counter % 10 == 0
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._exit_requested.wait(), 1.0)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's graceful shutdown, with the same steps and deadline, polled every 5 ms."""
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        loop = asyncio.get_running_loop()
        grace = self.config.timeout_graceful_shutdown
        deadline = loop.time() + (grace if grace is not None else 30.0)
        state = self.server_state
        while (state.connections or state.tasks) and not self.force_exit:
            if loop.time() > deadline:
                log.error(
                    "Cancel %s running task(s), timeout graceful shutdown exceeded",
                    len(state.tasks),
                )
                tasks = list(state.tasks)
                for task in tasks:
                    task.cancel(msg="Task cancelled, timeout graceful shutdown exceeded")
                if tasks:
                    await asyncio.wait(tasks, timeout=1.0)
                break
            await asyncio.sleep(SHUTDOWN_POLL_SECONDS)
        for server in self.servers:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(server.wait_closed(), 1.0)
        if not self.force_exit:
            await self.lifespan.shutdown()
