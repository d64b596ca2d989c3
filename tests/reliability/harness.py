"""Small test utilities shared by the reliability tests.

- :class:`ScriptServer`: a WebSocket server on 127.0.0.1:0 that accepts any
  client, records what each one sends, and lets a test push exact frames (text
  or binary, valid or not) to every open connection.
- :func:`wait_until`: poll a condition with a deadline.
- :func:`frame`: build one server frame (PROTOCOL.md section 4) as JSON text.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Sequence
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

__all__ = ["ScriptServer", "frame", "wait_until"]


def frame(
    kind: str,
    data: Any,
    *,
    stream: str = "s",
    group: str = "g",
    item_id: str | None = None,
    timestamp: int = 1,
) -> str:
    """One server frame as JSON text (``kind`` is the event type)."""
    envelope: dict[str, Any] = {"timestamp": timestamp, "streamName": stream, "groupId": group}
    if item_id is not None:
        envelope["id"] = item_id
    envelope["event"] = {"type": kind, "data": data}
    return json.dumps(envelope)


async def wait_until(
    predicate: Callable[[], bool], timeout: float = 5.0, step: float = 0.01, what: str = ""
) -> float:
    """Poll ``predicate`` until it holds; return the seconds it took, fail after ``timeout``."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while not predicate():
        if loop.time() - start > timeout:
            raise AssertionError(f"not true within {timeout} s: {what or predicate}")
        await asyncio.sleep(step)
    return loop.time() - start


def _pick_authorization(
    conn: ServerConnection, offered: Sequence[Subprotocol]
) -> Subprotocol | None:
    return Subprotocol("Authorization") if "Authorization" in offered else None


class ScriptServer:
    """A scripted stream server: ``async with ScriptServer() as server: server.url``."""

    def __init__(self, max_size: int | None = 64 * 1024 * 1024) -> None:
        self.connections: list[ServerConnection] = []
        self.received: list[str | bytes] = []
        self.handshakes = 0
        self._max_size = max_size
        self._server: Server | None = None

    @property
    def port(self) -> int:
        """The port it listens on."""
        assert self._server is not None
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def url(self) -> str:
        """``ws://127.0.0.1:<port>/``."""
        return f"ws://127.0.0.1:{self.port}/"

    @property
    def open_connections(self) -> list[ServerConnection]:
        """The connections still open."""
        return [c for c in self.connections if c.close_code is None]

    async def _handle(self, conn: ServerConnection) -> None:
        self.handshakes += 1
        self.connections.append(conn)
        try:
            async for message in conn:
                self.received.append(message)
        except ConnectionClosed:
            pass

    async def send_all(self, message: str | bytes) -> None:
        """Send one frame to every open connection."""
        for conn in self.open_connections:
            with contextlib.suppress(ConnectionClosed):
                await conn.send(message)

    async def __aenter__(self) -> ScriptServer:
        self._server = await serve(
            self._handle,
            "127.0.0.1",
            0,
            select_subprotocol=_pick_authorization,
            max_size=self._max_size,
            compression=None,
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        await asyncio.wait_for(self._server.wait_closed(), 5)
