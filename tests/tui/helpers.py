"""Shared by the TUI tests: bounded waits, app construction, an in-memory Motia server."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Any

from textual.pilot import Pilot

from motia_client import MotiaConnectionError, ReconnectPolicy
from motia_client.testing import FakeMotiaServer
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


URL_SHOWN = "ws://motia.test:3000/"  # the URL the TUI tests use, as an error shows it


def fake_server(
    rooms: dict[tuple[str, str], list[dict[str, Any]]], *, refuse_connect: bool = False
) -> FakeMotiaServer:
    """An in-memory Motia 0.x server holding ``rooms`` (``(stream, group)`` to its items).

    Its clock counts milliseconds from a fixed moment, one per frame, so what the app
    shows is fully deterministic. ``refuse_connect``: every connection attempt fails as
    a refused connection does. Pass ``transport=server.transport`` to :func:`make_app`.
    """
    server = FakeMotiaServer(clock=itertools.count(1_767_605_400_000).__next__)
    for (stream, group), items in rooms.items():
        server.seed(stream, group, *items)
    if refuse_connect:
        refused = MotiaConnectionError(f"could not connect to {URL_SHOWN}: ConnectionRefused")
        server.fail_next(10**6, refused)
    return server


async def echo(server: FakeMotiaServer, stream: str, group: str, kind: str, data: Any) -> None:
    """A custom event (Motia 0.17's state echo is one, with type create/update/delete).

    Like the echo, it carries the item's id when ``data`` is an item.
    """
    item_id = data.get("id") if isinstance(data, dict) else None
    await server.send_event(stream, group, kind, data, item_id=item_id)
