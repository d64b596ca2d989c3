"""Errors stay isolated: raising listeners, malformed frames, refused joins, large frames.

Most run on the in-memory ``FakeMotiaServer``; the frame size tests and a connect
failure need a real socket (``WsServer``, a closed port).
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
from collections.abc import Callable
from typing import Any

import pydantic
import pytest

from motia_client import (
    AsyncStreamClient,
    ConnectionState,
    FrameTooLarge,
    MotiaError,
    SubscriptionRefused,
)
from motia_client.testing import FakeMotiaServer
from tests.client.conftest import WAIT, StateLog
from tests.client.wsserver import WsServer, envelope, free_port

pytestmark = pytest.mark.timeout(60)

S = ConnectionState
MakeClient = Callable[..., AsyncStreamClient]


def todo(todo_id: str, **extra: Any) -> dict[str, Any]:
    return {"id": todo_id, **extra}


def client_records(caplog: pytest.LogCaptureFixture, level: int) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "motia_client" and r.levelno >= level]


async def test_an_internal_error_on_one_frame_skips_that_frame_only(
    fake: FakeMotiaServer, fake_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    # Something raising while one frame is handled (here a model validator with a bug:
    # not a ValidationError, so it is nobody's to catch) must not stop the reader: the
    # official Python client's state silently freezes in that case.
    class Todo(pydantic.BaseModel):
        id: str

        @pydantic.field_validator("id")
        @classmethod
        def buggy(cls, value: str) -> str:
            if value == "b":
                raise RuntimeError("a bug in the model")
            return value

    server = fake
    server.seed("todo", "inbox", todo("a"))
    client = fake_client(server)
    log = StateLog(client)
    async with client:
        sub = client.subscribe_group("todo", "inbox", model=Todo)
        await sub.wait_for(lambda items: len(items) == 1, timeout=WAIT)
        seen: list[list[str]] = []
        sub.add_change_listener(lambda items: seen.append([t.id for t in items]))
        await server.set("todo", "inbox", todo("b"))  # its validation hits the bug
        await server.set("todo", "inbox", todo("c"))
        items = await sub.wait_for(lambda items: len(items) == 2, timeout=WAIT)
        assert [t.id for t in items] == ["a", "c"]
        assert seen[-1] == ["a", "c"]  # the reader went on: the next frame was applied
        assert ["a", "b"] not in seen
        assert client.state is S.OPEN
        assert S.RECONNECTING not in log.states
        assert any("frame was skipped" in r.getMessage() for r in caplog.records)


async def test_raising_listeners_are_logged_and_isolated(
    fake: FakeMotiaServer, fake_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    server = fake
    server.seed("todo", "inbox", todo("a"))
    client = fake_client(server)
    log = StateLog(client)

    def boom(*args: Any) -> None:
        raise RuntimeError("listener bug")

    async def async_boom(*args: Any) -> None:
        await asyncio.sleep(0)
        raise RuntimeError("async listener bug")

    client.on_state_change(boom)
    async with client:
        sub = client.subscribe_group("todo", "inbox")
        other = client.subscribe_group("todo", "inbox")
        got: list[int] = []
        pings: list[Any] = []
        sub.add_change_listener(boom)
        sub.add_change_listener(async_boom)
        sub.add_change_listener(lambda items: got.append(len(items)))
        other.add_change_listener(boom)
        sub.on_event("ping", boom)
        sub.on_event("ping", async_boom)
        sub.on_event("ping", pings.append)
        sub.on_error(boom)
        await sub.wait_for(lambda items: len(items) == 1, timeout=WAIT)
        await server.set("todo", "inbox", todo("b"))
        await server.send_event("todo", "inbox", "ping", 1)
        await server.set("todo", "inbox", todo("c"))
        await sub.wait_for(lambda items: len(items) == 3, timeout=WAIT)
        assert got == [1, 2, 3]  # every change, despite the listeners before it
        assert pings == [1]
        assert len(other.state) == 3
        assert client.state is S.OPEN
        assert len(server.connections) == 1  # no reconnect
        assert S.RECONNECTING not in log.states
        await asyncio.sleep(0)  # the async listeners raise
        raised = [r for r in client_records(caplog, logging.ERROR) if r.exc_info]
        assert any("listener" in r.getMessage() for r in raised)
        assert {str(r.exc_info[1]) for r in raised if r.exc_info} >= {"listener bug"}


async def test_async_listener_errors_are_logged(
    fake: FakeMotiaServer, fake_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    fake.seed("todo", "inbox", {"id": "a"})
    client = fake_client(fake)
    sub = client.subscribe_item("todo", "inbox", "a")
    finished = asyncio.Event()

    async def failing(state: Any) -> None:
        await asyncio.sleep(0)
        finished.set()
        raise ValueError("async boom")

    sub.add_change_listener(failing)
    await client.connect()  # the join's sync calls the listener
    await asyncio.wait_for(finished.wait(), WAIT)
    await fake.set("todo", "inbox", {"id": "a", "n": 1})
    await sub.wait_for(lambda it: it is not None and it.get("n") == 1, timeout=WAIT)
    errors = [r for r in client_records(caplog, logging.ERROR) if r.exc_info]
    assert any(str(r.exc_info[1]) == "async boom" for r in errors if r.exc_info)


MALFORMED: list[str | bytes] = [
    "not json at all",
    "[1, 2, 3]",
    '{"streamName": "todo"}',
    '{"timestamp": 1, "streamName": "todo", "groupId": "inbox", "event": {"type": "explode"}}',
    '{"timestamp": "x", "streamName": "todo", "groupId": "inbox", "event": {"type": "sync"}}',
    '{"timestamp": 1, "streamName": "todo", "groupId": "inbox", "event": {"type": "sync", '
    '"data": "nope"}}',
    '{"timestamp": 1, "streamName": "todo", "groupId": "inbox", "event": {"type": "update", '
    '"data": [1]}}',
    '{"timestamp": 1, "streamName": "todo", "groupId": "inbox", "event": {"type": ["sync"]}}',
    b"\xff\xfe not utf-8",
    "[" * 100_000 + "]" * 100_000,  # nested too deeply for any parser
]


async def test_malformed_frames_are_logged_and_skipped(
    fake: FakeMotiaServer, fake_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="motia_client")
    server = fake
    server.seed("todo", "inbox", todo("a"))
    client = fake_client(server)
    log = StateLog(client)
    async with client:
        sub = client.subscribe_group("todo", "inbox")
        await sub.wait_for(lambda items: len(items) == 1, timeout=WAIT)
        for raw in MALFORMED:
            await server.send_raw(raw)
        await server.set("todo", "inbox", todo("b"))
        items = await sub.wait_for(lambda items: len(items) == 2, timeout=WAIT)
        assert [t["id"] for t in items] == ["a", "b"]  # no state lost
        assert client.state is S.OPEN
        assert S.RECONNECTING not in log.states
        assert len(server.connections) == 1
    warnings = [r for r in client_records(caplog, logging.WARNING) if "malformed" in r.getMessage()]
    assert len(warnings) == len(MALFORMED)
    assert all(len(r.getMessage()) < 400 for r in warnings)  # a preview, not the frame


async def test_frames_are_logged_at_debug_only(
    fake: FakeMotiaServer, fake_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server = fake
    async with fake_client(server) as client:
        sub = client.subscribe_group("todo", "inbox")
        await sub.wait_for(lambda items: True, timeout=WAIT)
        before = len(caplog.records)
        for n in range(20):
            await server.set("todo", "inbox", todo(f"t{n}"))
            await server.send_event("todo", "inbox", "ping", n)
        await sub.wait_for(lambda items: len(items) == 20, timeout=WAIT)
        noisy = [r for r in caplog.records[before:] if r.levelno >= logging.INFO]
        assert noisy == []


@pytest.mark.parametrize("dialect", ["motia", "iii"])
async def test_a_refused_join_ends_that_subscription_only(
    fake_client: MakeClient, dialect: str
) -> None:
    server = FakeMotiaServer(dialect)  # type: ignore[arg-type]
    server.refuse("todo", "secret")
    server.seed("todo", "inbox", todo("a"))
    server.seed("todo", "secret", todo("s"))
    async with fake_client(server) as client:
        secret_group = client.subscribe_group("todo", "secret")
        secret_item = client.subscribe_item("todo", "secret", "s")
        inbox = client.subscribe_group("todo", "inbox")
        errors: list[MotiaError] = []
        custom_errors: list[Any] = []
        secret_group.on_error(errors.append)
        secret_item.on_error(errors.append)
        secret_group.on_event("error", custom_errors.append)
        with pytest.raises(SubscriptionRefused) as info:
            await secret_group.wait_for(lambda items: True, timeout=WAIT)
        refused = info.value
        assert (refused.stream, refused.group_id, refused.item_id) == ("todo", "secret", None)
        assert "todo/secret" in str(refused)
        with pytest.raises(SubscriptionRefused) as info:
            await secret_item.wait_for(lambda items: True, timeout=WAIT)
        assert info.value.item_id == "s"
        assert all(isinstance(e, SubscriptionRefused) for e in errors)
        assert sorted(e.item_id or "" for e in errors) == ["", "s"]  # type: ignore[attr-defined]
        assert custom_errors == []  # a refusal, not a custom event
        assert secret_group.error is not None
        # the others carry on
        await inbox.wait_for(lambda items: len(items) == 1, timeout=WAIT)
        await server.set("todo", "inbox", todo("b"))
        await inbox.wait_for(lambda items: len(items) == 2, timeout=WAIT)
        assert client.state is S.OPEN
        assert len(server.connections[0].joins) == 3


async def test_a_late_subscriber_of_a_refused_room_is_refused_too(
    fake: FakeMotiaServer, fake_client: MakeClient
) -> None:
    server = fake
    server.refuse("todo", "secret")
    async with fake_client(server) as client:
        first = client.subscribe_item("todo", "secret", "s")
        with pytest.raises(SubscriptionRefused):
            await first.wait_for(lambda item: True, timeout=WAIT)
        late = client.subscribe_item("todo", "secret", "s")
        assert isinstance(late.error, SubscriptionRefused)  # at once, not a silent wait
        assert late.error.item_id == "s"
        with pytest.raises(SubscriptionRefused):
            await late.wait_for(lambda item: True, timeout=WAIT)
        probe = client.subscribe_group("todo", "inbox")
        await probe.wait_for(lambda items: True, timeout=WAIT)
        assert len(server.connections[0].joins) == 2  # no second, doomed join for the secret room


async def test_a_100000_item_group_sync_arrives_whole(
    server: WsServer, make_client: MakeClient
) -> None:
    count = 100_000
    server.store[("todo", "inbox")] = {
        f"todo-{n:06d}": {"id": f"todo-{n:06d}", "description": f"item {n}", "createdAt": n}
        for n in range(count)
    }
    async with make_client(server.url) as client:
        sub = client.subscribe_group("todo", "inbox", sort_key="createdAt")
        items = await sub.wait_for(lambda items: len(items) == count, timeout=30)
        assert items[0]["id"] == "todo-000000"
        assert items[-1]["id"] == f"todo-{count - 1:06d}"
        assert sub.items_by_id["todo-050000"]["description"] == "item 50000"


async def test_a_frame_over_max_size_is_reported_then_the_client_recovers(
    server: WsServer, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    limit = 64 * 1024
    server.store[("todo", "inbox")] = {"a": todo("a")}
    client = make_client(server.url, max_size=limit)
    log = StateLog(client)
    async with client:
        sub = client.subscribe_group("todo", "inbox")
        await sub.wait_for(lambda items: len(items) == 1, timeout=WAIT)
        huge = envelope("todo", "inbox", None, {"type": "event", "event": {"type": "big"}}, 1)
        huge["event"]["event"]["data"] = "x" * (2 * limit)
        await server.send_all(huge)
        await log.wait(S.RECONNECTING)
        change = log.changes[-1]
        assert isinstance(change.error, FrameTooLarge)
        assert change.error.limit == limit
        assert str(limit) in str(change.error)
        assert "max_size" in str(change.error)
        assert any(
            "max_size" in r.getMessage() for r in client_records(caplog, logging.ERROR)
        )  # reported clearly in the log too
        # it recovers: rejoins, resyncs, and follows again
        conn = await server.wait_conn(2)
        await server.wait_until(lambda: len(conn.joins) == 1)
        await server.set("todo", "inbox", todo("b"))
        await sub.wait_for(lambda items: len(items) == 2, timeout=WAIT)
        assert client.state is S.OPEN


async def test_a_frame_just_under_max_size_is_accepted(
    server: WsServer, make_client: MakeClient
) -> None:
    limit = 64 * 1024
    async with make_client(server.url, max_size=limit) as client:
        sub = client.subscribe_group("todo", "inbox")
        await sub.wait_for(lambda items: True, timeout=WAIT)
        got: list[Any] = []
        arrived = asyncio.Event()

        def on_big(data: Any) -> None:
            got.append(data)
            arrived.set()

        sub.on_event("big", on_big)
        frame = envelope("todo", "inbox", None, {"type": "event", "event": {"type": "big"}}, 1)
        frame["event"]["event"]["data"] = ""
        room = limit - len(json.dumps(frame))
        frame["event"]["event"]["data"] = "y" * room
        await server.send_all(json.dumps(frame))
        await asyncio.wait_for(arrived.wait(), WAIT)
        assert len(got[0]) == room
        assert client.state is S.OPEN


async def test_a_background_connect_failure_leaves_no_unretrieved_future(transport: str) -> None:
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda loop, context: reported.append(context))
    quiet = logging.getLogger("motia_client")
    quiet.propagate = False  # pytest's log capture would keep the error, and the client, alive
    try:
        url = f"ws://127.0.0.1:{free_port()}/"
        client = AsyncStreamClient(url, reconnect=False, transport=transport)  # type: ignore[arg-type]
        failed = asyncio.Event()
        client.on_state_change(lambda change: failed.set() if change.state is S.FAILED else None)
        await client.connect(wait=False)
        await asyncio.wait_for(failed.wait(), WAIT)
        await client.close()
        del client
        gc.collect()
        assert [c["message"] for c in reported] == []
    finally:
        quiet.propagate = True
        loop.set_exception_handler(None)
