"""The drift check (``verify_interval``) against the real stub (issue 18, section 3).

The stub's fault switch (``StubServer.stall``) makes a group stop delivering to open
sockets while pings keep working, like the iii engine's adapter swap: the client must
find it within one interval, repair from the server's snapshot and reconnect. Under a
steady write load it must find nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest

from motia_client import (
    AsyncStreamClient,
    ConnectionState,
    ItemChange,
    MotiaError,
    ReconnectPolicy,
    StateChange,
    StateDrift,
)
from motia_client._config import Config
from motia_client._transport import Transport
from motia_client._verify import FETCH_TIMEOUT, fetch
from server_stub import StubServer
from tests.reliability.harness import wait_until

pytestmark = pytest.mark.timeout(90)
FAST = ReconnectPolicy(initial=0.05, cap=0.2)


def todo(todo_id: str, **extra: Any) -> dict[str, Any]:
    return {"description": f"todo {todo_id}", "createdAt": "2026-01-01T00:00:00Z", **extra}


async def test_a_stalled_group_is_found_within_one_interval_repaired_and_reconnected() -> None:
    interval = 1.0
    async with StubServer(port=0) as stub:
        await stub.store.set("todo", "inbox", "t1", todo("t1"))
        await stub.store.set("todo", "inbox", "t2", todo("t2"))
        client = AsyncStreamClient(stub.ws_url, verify_interval=interval, reconnect=FAST)
        changes: list[StateChange] = []
        client.on_state_change(changes.append)
        async with client:
            sub = client.subscribe_group("todo", "inbox")
            await sub.wait_for(lambda items: len(items) == 2, timeout=5)
            errors: list[MotiaError] = []
            feed: list[ItemChange[Any]] = []
            sub.on_error(errors.append)
            sub.on_item_change(feed.append)
            feed.clear()  # the items held now, as "added": not what this test is about
            stub.stall("todo", "inbox")
            stalled_at = time.monotonic()
            await stub.store.set("todo", "inbox", "t3", todo("t3"))
            await stub.store.set("todo", "inbox", "t1", todo("t1", done=True))
            await stub.store.delete("todo", "inbox", "t2")
            await asyncio.sleep(0.2)
            assert {i["id"] for i in sub.state} == {"t1", "t2"}  # the live socket is silent
            await wait_until(lambda: bool(errors), timeout=10, what="the drift reported")
            # An interval, then the check itself: two snapshots and their grace periods.
            assert time.monotonic() - stalled_at <= interval + 2.0
            (drift,) = errors
            assert isinstance(drift, StateDrift)
            assert (drift.missing, drift.extra, drift.different) == (("t3",), ("t2",), ("t1",))
            assert sorted((c.kind, c.id, c.resync) for c in feed) == [
                ("added", "t3", True),
                ("modified", "t1", True),
                ("removed", "t2", True),
            ]
            truth = {i["id"]: i for i in await stub.store.list_group("todo", "inbox")}
            assert dict(sub.items_by_id) == truth
            await wait_until(
                lambda: any(isinstance(c.error, StateDrift) for c in changes),
                what="the live socket replaced",
            )
            retry = next(c for c in changes if isinstance(c.error, StateDrift))
            assert retry.state is ConnectionState.RECONNECTING
            await wait_until(lambda: client.is_connected, what="reconnected")
            stub.unstall("todo", "inbox")
            await stub.store.set("todo", "inbox", "t4", todo("t4"))
            await sub.wait_for(lambda items: {i["id"] for i in items} == {*truth, "t4"}, 5)


async def test_no_drift_is_reported_under_a_steady_write_load(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """500 writes/s while 20 checks run: every difference is explained by frames in flight."""
    async with StubServer(port=0) as stub:
        for n in range(20):
            await stub.store.set("todo", "inbox", f"t{n}", todo(f"t{n}", n=0))
        client = AsyncStreamClient(stub.ws_url, verify_interval=0.25, reconnect=FAST)
        async with client:
            sub = client.subscribe_group("todo", "inbox")
            item = client.subscribe_item("todo", "inbox", "t0")
            await sub.wait_for(lambda items: len(items) == 20, timeout=5)
            errors: list[MotiaError] = []
            sub.on_error(errors.append)
            item.on_error(errors.append)
            writes = 0
            stop = asyncio.Event()

            async def write() -> None:
                nonlocal writes
                started = time.monotonic()
                while not stop.is_set():
                    target = started + writes / 500  # 500 writes a second
                    await asyncio.sleep(max(0.0, target - time.monotonic()))
                    key = f"t{writes % 20}"
                    await stub.store.set("todo", "inbox", key, todo(key, n=writes))
                    writes += 1

            def checks() -> int:
                return sum("in step with the server" in r.getMessage() for r in caplog.records)

            with caplog.at_level(logging.DEBUG, logger="motia_client"):
                writer = asyncio.ensure_future(write())
                began = time.monotonic()
                try:
                    await wait_until(lambda: checks() >= 20, timeout=60, what="20 checks")
                finally:
                    stop.set()
                    await writer
                elapsed = time.monotonic() - began
            assert errors == []
            assert writes / elapsed >= 400  # the load really was about 500 writes/s
            assert not any(
                isinstance(r.msg, str) and "out of step" in r.getMessage() for r in caplog.records
            )
            truth = {i["id"]: i for i in await stub.store.list_group("todo", "inbox")}
            await sub.wait_for(lambda items: {i["id"]: i for i in items} == truth, 5)


async def test_a_snapshot_returns_once_every_group_answered_a_refused_one_too() -> None:
    """A group the server refuses answers too: the check neither waits for it until its
    timeout nor reports it, and the other groups' items come back."""
    async with StubServer(port=0) as stub:
        await stub.store.set("todo", "inbox", "t1", todo("t1"))
        config = Config.build(stub.ws_url, {})

        async def open_transport() -> Transport:
            return await config.factory(config.request(stub.ws_url, None))

        started = time.monotonic()
        snapshot = await fetch(open_transport, [("todo", "inbox"), ("no-such-stream", "g")])
        assert time.monotonic() - started < FETCH_TIMEOUT / 2
        assert list(snapshot) == [("todo", "inbox")]
        items, at = snapshot[("todo", "inbox")]
        assert items == {"t1": {**todo("t1"), "id": "t1"}}
        assert at > 0
