"""Regression tests for the bugs the reliability work found, one per fix.

Each test names the symptom it guards against; the fuller scenarios that found
them live in the other modules of this package.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote_plus

import httpx
import pytest
from httpx_sse import ServerSentEvent
from websockets.asyncio.server import ServerConnection, serve
from websockets.typing import Subprotocol

from motia_client import (
    AsyncMotiaHttp,
    AsyncStreamClient,
    ConnectionState,
    ConnectRequest,
    EventDataError,
    HttpError,
    MotiaConnectionError,
    MotiaError,
    MotiaHttp,
    ProtocolError,
    ReconnectPolicy,
    StateChange,
)
from motia_client._auth import Credentials
from motia_client._session import Session
from motia_client.sse import decode_chat_chunk, decode_event
from motia_client.testing import FakeMotiaServer
from server_stub import StubServer
from server_stub.errors import NotJsonError
from tests.client.sinks import RecordingSink
from tests.reliability.chaos import ChaosProxy, Faults
from tests.reliability.harness import ScriptServer, frame, wait_until

TOKEN = "regression-Token-7f3a9c"
BASE64_TOKEN = "c2VjcmV0/dG9r+ZW4=="


def _pick_authorization(ws: ServerConnection, offered: Sequence[Subprotocol]) -> Subprotocol | None:
    return Subprotocol("Authorization") if "Authorization" in offered else None


async def _accept_and_sync(ws: ServerConnection) -> None:
    await ws.recv()
    await ws.send(
        '{"timestamp":1,"streamName":"s","groupId":"g","event":{"type":"sync","data":[]}}'
    )
    await ws.wait_closed()


@pytest.mark.parametrize(
    ("auth", "token"),
    [
        ("subprotocol", TOKEN),
        ("header", TOKEN),
        ("query", TOKEN),
        ("query", BASE64_TOKEN),  # travels percent-encoded in the request line
    ],
)
async def test_websockets_debug_log_masks_the_token(
    auth: str, token: str, caplog: pytest.LogCaptureFixture
) -> None:
    """websockets logs every handshake header at DEBUG: the token must be masked there."""
    caplog.set_level(logging.DEBUG)
    async with serve(
        _accept_and_sync,
        "127.0.0.1",
        0,
        select_subprotocol=_pick_authorization,
    ) as server:
        port = server.sockets[0].getsockname()[1]
        client = AsyncStreamClient(
            f"ws://127.0.0.1:{port}/",
            token=token,
            auth=auth,  # type: ignore[arg-type]
            transport="websockets",
        )
        async with client:
            sub = client.subscribe_group("s", "g")
            await sub.wait_for(lambda items: True, timeout=5)
    handshake = [
        r for r in caplog.records if r.name == "websockets.client" and "> " in r.getMessage()
    ]
    assert handshake, "websockets logged no handshake at DEBUG: the test would prove nothing"
    client_side = [r for r in caplog.records if not r.name.startswith("websockets.server")]
    forms = (token, quote_plus(token), token.split("/")[0])
    leaked = [r.getMessage() for r in client_side if any(f in r.getMessage() for f in forms)]
    assert leaked == []
    assert any("***" in r.getMessage() for r in handshake)


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


def _deep_update(timestamp: int, depth: int) -> str:
    return (
        f'{{"timestamp":{timestamp},"streamName":"s","groupId":"g","id":"i",'
        f'"event":{{"type":"update","data":{{"id":"i","v":{_deep(depth)}}}}}}}'
    )


@pytest.mark.parametrize("depth", [990, 1000, 1020])
def test_the_session_survives_values_too_deep_to_compare(depth: int) -> None:
    """A valid frame nested ~1000 deep made ``==`` (and ``str``) raise RecursionError."""
    session = Session()
    group = RecordingSink().subscribe(session, "s", "g")
    ordered = RecordingSink().subscribe(session, "s", "g", sort_key="v")
    item = RecordingSink().subscribe(session, "s", "g", "i")
    session.connect()
    session.connection_made(0)
    for timestamp in (1, 2, 3):  # the second and third compare against the stored value
        session.receive(_deep_update(timestamp, depth))
    told = (group.changes, ordered.changes, item.changes)
    session.receive(frame("update", {"id": "i", "v": 1}, item_id="i", timestamp=4))
    assert (group.changes, ordered.changes, item.changes) == tuple(n + 1 for n in told)
    assert item.state == {"id": "i", "v": 1}
    assert group.state == [{"id": "i", "v": 1}]


async def test_client_survives_frames_too_deep_to_compare() -> None:
    """Such a frame killed the client's supervisor task: the state froze, silently."""
    server = FakeMotiaServer(answer_joins=False)  # the test sends every frame itself
    async with AsyncStreamClient(server.url, transport=server.transport) as client:
        sub = client.subscribe_group("s", "g", sort_key="v")
        await server.wait_for_joins(1)
        await server.send_raw(frame("sync", [], timestamp=0))
        for timestamp in (1, 2, 3):
            await server.send_raw(_deep_update(timestamp, 1000))
        await server.send_raw(frame("update", {"id": "i", "v": "ok"}, item_id="i", timestamp=4))
        await wait_until(lambda: sub.items_by_id.get("i", {}).get("v") == "ok")
        assert client.is_connected
        supervisor = client._task
        assert supervisor is not None
        assert not supervisor.done()
        assert len(server.attempts) == 1  # no reconnect was needed either


DEEP_JSON = _deep(100_000)


@pytest.mark.parametrize("decode", [decode_event, decode_chat_chunk])
def test_sse_decoders_report_deep_json_as_event_data_error(decode: Any) -> None:
    """json.loads raised RecursionError, which escaped as a non-Motia exception."""
    with pytest.raises(EventDataError):
        decode(ServerSentEvent(data=DEEP_JSON))


@pytest.mark.parametrize(("status", "error"), [(200, ProtocolError), (500, HttpError)])
def test_http_call_reports_deep_json_bodies_as_motia_errors(
    status: int, error: type[MotiaError]
) -> None:
    """A step answering deeply nested JSON raised RecursionError from call()."""

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            status, content=DEEP_JSON.encode(), headers={"content-type": "application/json"}
        )

    with (
        MotiaHttp("http://127.0.0.1:9", transport=httpx.MockTransport(answer)) as http,
        pytest.raises(error),
    ):
        http.call("GET", "/deep")


async def test_sse_stream_reports_deep_json_as_event_data_error() -> None:
    """The same through the streaming path: an EventDataError after the good events."""
    body = f'event: item\ndata: {{"n": 1}}\n\nevent: item\ndata: {DEEP_JSON}\n\n'.encode()

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})

    seen: list[Any] = []

    async def read_all() -> None:
        async for event in http.stream_events("POST", "/sse"):
            seen.append(event.data)

    async with AsyncMotiaHttp("http://127.0.0.1:9", transport=httpx.MockTransport(answer)) as http:
        with pytest.raises(EventDataError):
            await read_all()
    assert seen == [{"n": 1}]


async def test_stub_refuses_lone_surrogates_and_keeps_every_watcher_served() -> None:
    """A ping body holding "\\ud800" got 200, then killed the writer of every watcher:
    their sockets stayed open but went silent. Now it is a 400 and nothing breaks."""
    async with (
        StubServer(port=0) as stub,
        AsyncStreamClient(stub.ws_url, transport="websockets") as client,
        httpx.AsyncClient(base_url=stub.http_url, timeout=5) as http,
    ):
        sub = client.subscribe_group("todo", "inbox")
        pings: list[Any] = []
        sub.on_event("ping", pings.append)
        await sub.wait_for(lambda items: True, timeout=5)
        bad = b'{"note": "lone \\ud800 surrogate"}'
        answer = await http.post(
            "/todo/ping", content=bad, headers={"content-type": "application/json"}
        )
        assert answer.status_code == 400
        assert "surrogate" in answer.json()["errors"][0]["message"]
        with pytest.raises(NotJsonError):
            await stub.store.send_event("todo", "inbox", "ping", {"note": "\ud800"})
        with pytest.raises(NotJsonError):
            await stub.store.set("todo", "inbox", "t-bad", {"description": "\udc00"})
        assert (await http.post("/todo/ping", json={"note": "after"})).status_code == 200
        created = await http.post("/todo", json={"description": "after"})
        await wait_until(lambda: pings == [{"note": "after"}] and len(sub.state) == 1)
        assert sub.state[0]["id"] == created.json()["id"]


async def test_stub_answers_deeply_nested_bodies_with_a_400() -> None:
    """json.loads raised RecursionError: the stub answered 500 "internal server error"."""
    async with (
        StubServer(port=0) as stub,
        httpx.AsyncClient(base_url=stub.http_url, timeout=5) as http,
    ):
        for path in ("/sse?count=1&delay_ms=0", "/todo", "/todo/ping", "/chat"):
            answer = await http.post(
                path, content=DEEP_JSON.encode(), headers={"content-type": "application/json"}
            )
            assert answer.status_code == 400, path
            assert answer.json()["errors"][0]["message"] == "nested too deeply"


@pytest.mark.parametrize("transport", ["websockets"])
async def test_a_connection_closed_during_the_handshake_is_retried(transport: str) -> None:
    """A peer that closes mid-handshake is a retryable loss, never a fatal error."""
    failing = Faults(split_probability=1.0, cut_mid_frame_probability=1.0)  # cut each request
    async with ScriptServer() as server, ChaosProxy(server.port, faults=failing) as proxy:
        with pytest.raises(MotiaConnectionError) as first:
            await AsyncStreamClient(proxy.ws_url, transport=transport).connect()  # type: ignore[arg-type]
        assert type(first.value) is MotiaConnectionError
        client = AsyncStreamClient(
            proxy.ws_url,
            transport=transport,  # type: ignore[arg-type]
            reconnect=ReconnectPolicy(initial=0.01, cap=0.05),
        )
        changes: list[StateChange] = []
        client.on_state_change(changes.append)
        await client.connect(wait=False)
        await wait_until(lambda: proxy.stats.mid_frame_cuts >= 4, what="four failed handshakes")
        assert client.state is ConnectionState.RECONNECTING
        proxy.faults = Faults()
        await wait_until(lambda: client.is_connected, what="connected once the cuts stop")
        errors = [change.error for change in changes if change.error is not None]
        assert errors
        assert all(type(error) is MotiaConnectionError for error in errors)
        await client.close()


async def _wait_for_close(ws: ServerConnection) -> None:
    await ws.wait_closed()


@pytest.mark.parametrize("steps", [0, 1, 2, 3])
async def test_websockets_keepalive_stops_even_when_close_is_cancelled(steps: int) -> None:
    """The keepalive was a task looping on asyncio.wait_for, which swallowed a cancellation
    arriving with a pong: the loop went on pinging and close() waited on it. It is now a
    timer: close(), even cancelled at any step, stops the pings and the socket still closes."""
    from motia_client._websockets_transport import WebsocketsTransport, websockets_transport

    async with serve(_wait_for_close, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        request = ConnectRequest(
            Credentials.build(f"ws://127.0.0.1:{port}/", None, "subprotocol"),
            ping_interval=0.001,
            ping_timeout=5,
        )
        transport = await websockets_transport(request)
        assert isinstance(transport, WebsocketsTransport)
        connection = transport._connection
        await wait_until(lambda: connection.ping_payload is not None, what="a ping in flight")
        closing = asyncio.ensure_future(transport.close())
        for _ in range(steps + 1):  # close() has started: it is cancelled while it waits
            await asyncio.sleep(0)
        closing.cancel()
        await asyncio.gather(closing, return_exceptions=True)
        assert connection.timer is None  # no ping, no pong deadline any more
        await wait_until(lambda: connection.closed, what="the socket closed")
        assert connection.timer is None


async def test_stub_takes_a_client_leaving_mid_body_quietly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A client that disconnected mid-body made the stub log two ERROR tracebacks
    ("unexpected error on POST /todo", "Exception in ASGI application") and build a
    500 for nobody: any client could flood the log with them."""
    caplog.set_level(logging.INFO)
    async with StubServer(port=0) as stub:
        for head in (
            b'POST /todo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"desc',
            b"POST /todo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        ):
            _, writer = await asyncio.open_connection("127.0.0.1", stub.port)
            writer.write(head)
            await writer.drain()
            writer.close()
            await writer.wait_closed()
        async with httpx.AsyncClient(base_url=stub.http_url, timeout=5) as http:
            await asyncio.sleep(0.1)  # the stub notices both disconnects
            assert (await http.post("/todo", json={"description": "next"})).status_code == 200
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in errors] == []


def test_a_new_connection_is_never_stale_against_the_last_one() -> None:
    """After a reconnect to a server whose clock is behind the last one's (another
    process or host, a clock stepped back), its syncs and updates were all dropped
    as stale, until its clock caught up: the state froze with no error at all."""
    session = Session()
    group = RecordingSink().subscribe(session, "s", "g")
    item = RecordingSink().subscribe(session, "s", "g", "i")
    session.connect()
    session.connection_made(0)
    session.receive(frame("sync", [{"id": "old"}], timestamp=2_000_000))
    session.receive(frame("sync", {"id": "i", "v": "old"}, item_id="i", timestamp=2_000_000))
    session.connection_lost(None)
    session.retrying()
    session.connection_made(0)  # the next server's clock is 1000 s behind
    session.receive(frame("sync", [{"id": "new"}], timestamp=1_000_000))
    session.receive(frame("sync", {"id": "i", "v": "new"}, item_id="i", timestamp=1_000_000))
    session.receive(frame("create", {"id": "more"}, item_id="more", timestamp=1_000_001))
    assert [i["id"] for i in group.state] == ["new", "more"]
    assert item.state == {"id": "i", "v": "new"}
    session.receive(frame("update", {"id": "more", "n": 1}, item_id="more", timestamp=999_999))
    assert [i.get("n") for i in group.state] == [None, None]


async def test_client_follows_a_restarted_server_whose_clock_is_behind() -> None:
    """The same through a real socket: the next server's clock is 100 s behind the first's."""
    now = int(time.time() * 1000)
    first, behind = now, now - 100_000
    stamps = iter([first, behind])

    async def serve_one(ws: ServerConnection) -> None:
        stamp = next(stamps, behind)
        await ws.recv()
        items = [{"id": "old"}] if stamp == first else [{"id": "new"}]
        await ws.send(frame("sync", items, timestamp=stamp))
        if items[0]["id"] == "old":
            await ws.close()  # the first server goes away
        else:
            await ws.wait_closed()

    async with (
        serve(serve_one, "127.0.0.1", 0) as server,
        AsyncStreamClient(
            f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/",
            reconnect=ReconnectPolicy(initial=0.01, cap=0.05),
        ) as client,
    ):
        group = client.subscribe_group("s", "g")
        await group.wait_for(lambda items: [i["id"] for i in items] == ["new"], timeout=5)
