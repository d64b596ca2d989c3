"""Shared by the TUI tests: bounded waits, app construction, an in-memory socket."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from textual.pilot import Pilot

from motia_client import ConnectRequest, MotiaConnectionError, ReconnectPolicy, Transport
from motia_client_tui.app import MotiaTui
from motia_client_tui.options import Options

SIZE = (120, 36)
FAST_RECONNECT = ReconnectPolicy(initial=0.05, factor=2.0, cap=0.2, jitter=False)
FIXED_CLOCK = "12:00:00"


async def wait_until(
    pilot: Pilot[Any], predicate: Callable[[], bool], timeout: float = 5.0, what: str = ""
) -> None:
    """Let the app run until ``predicate()`` holds; fail after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        await pilot.pause(0.02)


def make_app(
    url: str,
    *,
    reconnect: ReconnectPolicy | bool = FAST_RECONNECT,
    transport: Any = None,
    **options: Any,
) -> MotiaTui:
    """An app on ``url`` that reconnects fast and stamps log lines with a fixed clock."""
    app = MotiaTui(
        Options(url=url, **options),
        reconnect=reconnect,
        transport=transport,
        clock=lambda: FIXED_CLOCK,
    )
    app.animation_level = "none"
    return app


def log_lines(app: MotiaTui, kind: str | None = None) -> list[str]:
    """What the app's log has written (all kinds, or one)."""
    return [text for k, text in app.events.history if kind is None or k == kind]


def todo(todo_id: str, description: str, **fields: Any) -> dict[str, Any]:
    """A todo item as the seed's CreateTodo step writes it."""
    created = "2026-01-05T09:30:00.000Z"
    return {"id": todo_id, "description": description, "createdAt": created, **fields}


class FakeServer:
    """An in-memory Motia server for the transport hook: a join gets the sync of fixed data.

    ``rooms`` maps ``(stream, group)`` to a list of items and ``(stream, group, id)`` to an
    item. Nothing else ever arrives, so what the app shows is fully deterministic.
    """

    def __init__(self, rooms: dict[tuple[str, ...], Any], *, refuse_connect: bool = False):
        self.rooms = rooms
        self.refuse_connect = refuse_connect

    async def connect(self, request: ConnectRequest) -> Transport:
        """The transport factory."""
        if self.refuse_connect:
            reason = "ConnectionRefused"
            raise MotiaConnectionError(f"could not connect to {request.safe_url}: {reason}")
        return _FakeSocket(self)


class ScriptedServer(FakeServer):
    """A :class:`FakeServer` whose test pushes frames to every socket, in the order given.

    It stands in for a Motia 0.17 server where the stub cannot: frames the test
    writes by hand, such as the state-echo custom events of its Redis adapter.
    """

    def __init__(self, rooms: dict[tuple[str, ...], Any]) -> None:
        super().__init__(rooms)
        self.sockets: list[_FakeSocket] = []
        self.clock = 1_767_605_400_000

    async def connect(self, request: ConnectRequest) -> Transport:
        """The transport factory: remembers each socket."""
        sock = _FakeSocket(self)
        self.sockets.append(sock)
        return sock

    def frame(self, stream: str, group: str, item_id: str | None, event: dict[str, Any]) -> None:
        """Send one envelope with ``event`` (a later timestamp each time) to every socket."""
        self.clock += 1
        envelope = {
            "timestamp": self.clock,
            "streamName": stream,
            "groupId": group,
            "id": item_id,
            "event": event,
        }
        for sock in self.sockets:
            sock.push(json.dumps(envelope))

    def state(self, kind: str, stream: str, group: str, item: dict[str, Any]) -> None:
        """A real state frame: ``create``, ``update`` or ``delete`` of ``item``."""
        self.frame(stream, group, item["id"], {"type": kind, "data": item})

    def custom(self, stream: str, group: str, event_type: str, data: Any) -> None:
        """A custom event (Motia 0.17's state echo is one, with type create/update/delete)."""
        item_id = data.get("id") if isinstance(data, dict) else None
        self.frame(
            stream, group, item_id, {"type": "event", "event": {"type": event_type, "data": data}}
        )


class _FakeSocket:
    def __init__(self, server: FakeServer) -> None:
        self._server = server
        self._inbox: asyncio.Queue[str | None] = asyncio.Queue()

    def push(self, frame: str) -> None:
        self._inbox.put_nowait(frame)

    async def send(self, text: str) -> None:
        message = json.loads(text)
        if message["type"] != "join":
            return
        data = message["data"]
        stream, group, item_id = data["streamName"], data["groupId"], data.get("id")
        key = (stream, group) if item_id is None else (stream, group, item_id)
        if key not in self._server.rooms:
            return  # like Motia 0.x: nothing for a missing item
        envelope = {
            "timestamp": 1_767_605_400_000,
            "streamName": stream,
            "groupId": group,
            "id": item_id,
            "event": {"type": "sync", "data": self._server.rooms[key]},
        }
        self._inbox.put_nowait(json.dumps(envelope))

    async def recv(self) -> str:
        frame = await self._inbox.get()
        if frame is None:
            raise MotiaConnectionError("the fake socket was closed")
        return frame

    async def close(self) -> None:
        self._inbox.put_nowait(None)
