"""The two small uvicorn adaptations the stub needs.

- :class:`AbortableWebSocketProtocol`: uvicorn's websockets (sans-I/O) protocol,
  plus an ASGI scope extension ``motia_stub.abort`` whose ``abort()`` drops the TCP
  connection at once. ASGI can only close gracefully, which waits on a client that
  does not read; a slow client, and ``drop_connections()``, need the abrupt way.
  The protocol keeps uvicorn's ``websocket.http.response`` extension (denial
  responses: the 401 before upgrading).
- :class:`EmbeddedServer`: a uvicorn server that leaves signal handling to its
  owner (tests, the CLI), instead of taking over SIGINT/SIGTERM while it runs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import uvicorn
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

ABORT_EXTENSION = "motia_stub.abort"


class AbortableWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websockets protocol with an abort extension in the ASGI scope."""

    async def run_asgi(self) -> None:
        """Expose ``abort`` to the app, then run it as uvicorn does."""
        self.scope["extensions"][ABORT_EXTENSION] = {"abort": self._abort_transport}
        await super().run_asgi()

    def _abort_transport(self) -> None:
        if self.transport is not None:
            self.transport.abort()


class EmbeddedServer(uvicorn.Server):
    """A uvicorn server that does not install signal handlers."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Leave signals alone: whoever embeds the server decides how to stop it."""
        yield
