"""Fixtures and helpers for the reference-server tests: a started stub and a small WS client."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from server_stub import StubServer

RECV_TIMEOUT = 3.0
TEST_STREAMS = ("s",)
"""Schemaless streams the fixtures declare next to the seeds' (undeclared ones are refused)."""


@pytest.fixture
async def stub() -> AsyncIterator[StubServer]:
    """A motia-dialect stub on a free port, stopped after the test."""
    async with StubServer(port=0, streams=TEST_STREAMS) as server:
        yield server


@pytest.fixture
async def iii_stub() -> AsyncIterator[StubServer]:
    """An iii-dialect stub on a free port."""
    async with StubServer(port=0, dialect="iii", streams=TEST_STREAMS) as server:
        yield server


@pytest.fixture
async def http(stub: StubServer) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for ``stub``."""
    async with httpx.AsyncClient(base_url=stub.http_url, trust_env=False, timeout=5) as client:
        yield client


def join(
    stream: str, group: str, item_id: str | None = None, sub: str | None = None
) -> dict[str, Any]:
    """A join frame (fresh subscriptionId unless given)."""
    data: dict[str, Any] = {
        "streamName": stream,
        "groupId": group,
        "subscriptionId": sub or str(uuid.uuid4()),
    }
    if item_id is not None:
        data["id"] = item_id
    return {"type": "join", "data": data}


def leave(frame: dict[str, Any]) -> dict[str, Any]:
    """The leave matching a join frame."""
    return {"type": "leave", "data": frame["data"]}


class Client:
    """A thin test client over one websockets connection."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(frame))

    async def recv(self, timeout: float = RECV_TIMEOUT) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        value = json.loads(raw)
        assert isinstance(value, dict)
        return value

    async def recv_event(self, timeout: float = RECV_TIMEOUT) -> dict[str, Any]:
        """The inner ``event`` of the next frame."""
        event = (await self.recv(timeout))["event"]
        assert isinstance(event, dict)
        return event

    async def silent(self, duration: float = 0.15) -> bool:
        """True when nothing arrives for ``duration`` seconds."""
        try:
            await asyncio.wait_for(self.ws.recv(), duration)
        except asyncio.TimeoutError:
            return True
        return False

    async def join_and_sync(self, frame: dict[str, Any]) -> dict[str, Any]:
        """Send a join and return its sync frame."""
        await self.send(frame)
        reply = await self.recv()
        assert reply["event"]["type"] == "sync", reply
        return reply


async def open_client(url: str, **kwargs: Any) -> Client:
    """Connect (no proxy, bounded open) and wrap."""
    ws = await connect(url, proxy=None, open_timeout=5, **kwargs)
    return Client(ws)


async def wait_until(predicate: Any, timeout: float = 3.0, step: float = 0.01) -> None:
    """Poll ``predicate`` until true; fail after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(step)
