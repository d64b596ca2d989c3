"""Security: secrets stay secret, refusals hold, a 401 ends the retries, no redirect is
followed, and the stub enforces its documented size limits with clear errors."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from motia_client import (
    AsyncMotiaHttp,
    AsyncStreamClient,
    AuthenticationError,
    ConnectionState,
    ConnectRequest,
    HttpError,
    MotiaConnectionError,
    MotiaError,
    ReconnectPolicy,
    StateChange,
    SubscriptionRefused,
    Transport,
)
from motia_client._auth import AuthMode, Credentials
from motia_client._picows_transport import picows_transport
from motia_client._transport import websockets_transport
from server_stub import Room, StubServer
from server_stub.limits import MAX_BODY_BYTES, MAX_CLIENT_FRAME_BYTES, MAX_NAME_CHARS
from tests.reliability.harness import wait_until

TOKEN = "sEcReT-7f3a9c-token"
WRONG = "wrong-7f3a9c-token"
TRANSPORTS = ["websockets", "picows"]
FACTORIES = {"websockets": websockets_transport, "picows": picows_transport}
FAST = ReconnectPolicy(initial=0.01, cap=0.05)


def _leaks(texts: list[str]) -> list[str]:
    return [text[:200] for text in texts if TOKEN in text or WRONG in text]


def _exception_texts(error: BaseException) -> list[str]:
    return ["".join(traceback.format_exception(error)), repr(error), str(error)]


class Recording:
    """A transport factory that counts connection attempts and keeps every frame received."""

    def __init__(self, transport: str) -> None:
        self.factory = FACTORIES[transport]
        self.attempts = 0
        self.frames: list[str] = []

    async def __call__(self, request: ConnectRequest) -> Transport:
        self.attempts += 1
        inner = await self.factory(request)
        frames = self.frames

        class Recorded:
            async def send(self, text: str) -> None:
                await inner.send(text)

            async def recv(self) -> str | bytes:
                frame = await inner.recv()
                frames.append(frame.decode() if isinstance(frame, bytes) else frame)
                return frame

            async def close(self) -> None:
                await inner.close()

        return Recorded()


# -- secrets ----------------------------------------------------------------------------------


async def _token_run(stub: StubServer, transport: Any, texts: list[str]) -> None:
    """Everything a token touches, one way after the other; collect every text it produced."""
    for auth, token in (("subprotocol", TOKEN), ("header", lambda: TOKEN), ("query", _async_token)):
        await _one_way(stub, transport, auth, token, texts)
    ways: tuple[AuthMode, ...] = ("subprotocol", "header", "query")
    for auth in ways:
        with pytest.raises(AuthenticationError) as refused_token:
            await AsyncStreamClient(
                stub.ws_url, token=WRONG, auth=auth, transport=transport
            ).connect()
        texts += _exception_texts(refused_token.value)
    url_with_token = f"{stub.ws_url}?authToken={TOKEN}"  # a token the user put in the URL
    async with AsyncStreamClient(url_with_token, transport=transport) as client:
        texts.append(repr(client))
    for bad in ("has/slash+and=", "has space"):
        with pytest.raises(ValueError, match="subprotocol") as unfit:
            AsyncStreamClient(stub.ws_url, token=bad + TOKEN, auth="subprotocol")
        texts += _exception_texts(unfit.value)
    request = ConnectRequest(Credentials.build(stub.ws_url, TOKEN, "query"))
    texts += [repr(request), repr(request.credentials)]


async def _one_way(
    stub: StubServer, transport: Any, auth: Any, token: Any, texts: list[str]
) -> None:
    """Connect, be served and refused, reconnect and close, with the token traveling ``auth``."""
    changes: list[StateChange] = []
    client = AsyncStreamClient(
        stub.ws_url, token=token, auth=auth, transport=transport, reconnect=FAST
    )
    client.on_state_change(changes.append)
    async with client:
        group = client.subscribe_group("todo", "inbox")
        private = client.subscribe_item("private-messages", "stub-user", "m1")
        refused = client.subscribe_group("private-messages", "alice:bob")
        errors: list[MotiaError] = []
        refused.on_error(errors.append)
        await stub.store.set("private-messages", "stub-user", "m1", {"message": "hi"})
        await private.wait_for(lambda item: item is not None, timeout=5)
        await wait_until(lambda: bool(errors), what="the refusal")
        await stub.drop_connections()  # a reconnect, with the token again
        await wait_until(lambda: client.is_connected and stub.connection_count == 1)
        texts += [repr(client), repr(group), repr(private), repr(refused)]
        texts += [str(error) for error in errors]
    texts += [repr(change) for change in changes]
    texts += [str(change.error) for change in changes if change.error is not None]


async def _async_token() -> str:
    await asyncio.sleep(0)
    return TOKEN


async def _http_run(stub: StubServer, texts: list[str]) -> None:
    async with AsyncMotiaHttp(stub.http_url, token=TOKEN) as http:
        texts.append(repr(http))
        await http.call("POST", "/todo", json={"description": "secret run"})
        with pytest.raises(HttpError) as missing:
            await http.call("POST", "/todo/nope/complete")
        texts += _exception_texts(missing.value)
        events = [
            e async for e in http.stream_events("POST", "/sse", params={"count": 2, "delay_ms": 0})
        ]
        assert len(events) == 3
        assert await http.chat_text("POST", "/chat", json={"message": "hi"}, params={"delay_ms": 0})


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_the_token_is_in_no_log_record_repr_or_exception(
    transport: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    async with StubServer(port=0, token=TOKEN) as stub:
        await _token_run(stub, transport, texts)
        await _http_run(stub, texts)
    formatter = logging.Formatter("%(name)s %(message)s")
    logged = [formatter.format(record) for record in caplog.records]
    assert len(logged) > 100, "DEBUG logging captured too little for the test to mean anything"
    assert any(
        record.name.startswith("websockets") or "picows" in record.name for record in caplog.records
    )
    assert _leaks(logged) == []
    assert _leaks(texts) == []


# -- refused joins --------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("dialect", ["motia", "iii"])
async def test_a_refused_join_receives_no_data_of_that_stream(transport: str, dialect: str) -> None:
    recording = Recording(transport)
    async with (
        StubServer(port=0, token=TOKEN, dialect=dialect) as stub,  # type: ignore[arg-type]
        AsyncStreamClient(stub.ws_url, token=TOKEN, transport=recording) as client,
    ):
        mine = client.subscribe_group("private-messages", "stub-user")  # allowed: the control
        theirs = client.subscribe_group("private-messages", "alice:bob")
        item = client.subscribe_item("private-messages", "alice:bob", "m1")
        heard: list[Any] = []
        for sub in (theirs, item):
            sub.add_change_listener(heard.append)
            sub.on_event("note", heard.append)
        errors: list[MotiaError] = []
        theirs.on_error(errors.append)
        item.on_error(errors.append)
        await mine.wait_for(lambda items: True, timeout=5)
        await wait_until(lambda: len(errors) == 2, what="both refusals")
        assert all(isinstance(error, SubscriptionRefused) for error in errors)
        store = stub.store
        for n in range(3):
            await store.set("private-messages", "alice:bob", "m1", {"message": f"secret {n}"})
            await store.send_event("private-messages", "alice:bob", "note", {"n": n}, item_id="m1")
            await store.set("private-messages", "stub-user", f"m{n}", {"message": f"mine {n}"})
        await mine.wait_for(lambda items: len(items) == 3, timeout=5)  # the socket did deliver
        memory: Any = store
        assert memory.subscriber_count(Room("private-messages", "alice:bob")) == 0
        assert memory.subscriber_count(Room("private-messages", "alice:bob", "m1")) == 0
    assert heard == []
    assert theirs.state == []
    assert item.state is None
    leaked = [f for f in recording.frames if "alice:bob" in f and "secret" in f]
    assert leaked == []
    refusals = [json.loads(f) for f in recording.frames if "alice:bob" in f]
    assert len(refusals) == 2  # the two refusals, and nothing else about that group


# -- 401 ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_401_stops_the_retries(transport: str) -> None:
    async with StubServer(port=0, token=TOKEN) as stub:
        for token in (WRONG, lambda: WRONG):
            recording = Recording(transport)
            client = AsyncStreamClient(
                stub.ws_url, token=token, transport=recording, reconnect=FAST
            )
            sub = client.subscribe_group("todo", "inbox")
            await client.connect(wait=False)
            await wait_until(functools.partial(_failed, client), what="failed")
            await asyncio.sleep(0.3)  # time for many retries, had there been any
            assert recording.attempts == 1
            assert isinstance(client.error, AuthenticationError)
            assert client.error.status == 401
            assert isinstance(sub.error, AuthenticationError)
            await client.close()
        tokens = iter([WRONG, TOKEN])  # a provider that refreshes: one more attempt, then in
        recording = Recording(transport)
        client = AsyncStreamClient(
            stub.ws_url, token=lambda: next(tokens, TOKEN), transport=recording, reconnect=FAST
        )
        await client.connect(wait=False)
        await wait_until(lambda: client.is_connected, what="connected with the new token")
        assert recording.attempts == 2
        await client.close()


def _failed(client: AsyncStreamClient) -> bool:
    return client.state is ConnectionState.FAILED


# -- redirects ----------------------------------------------------------------------------------


class Redirector:
    """Answers every request with a redirect to ``target``; records what it was sent."""

    def __init__(self, status: int) -> None:
        self.status = status
        self.requests: list[bytes] = []
        self.target = ""
        self.server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.TimeoutError):
            self.requests.append(await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5))
            writer.write(
                f"HTTP/1.1 {self.status} Moved\r\nLocation: {self.target}\r\n"
                "Content-Length: 0\r\nConnection: close\r\n\r\n".encode()
            )
            await writer.drain()
        writer.close()


class Listener:
    """Counts every connection made to it (it must get none)."""

    def __init__(self) -> None:
        self.connections = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        writer.close()


async def _serve(handle: Callable[..., Awaitable[None]]) -> tuple[asyncio.Server, int]:
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_no_redirect_is_followed_with_the_token(transport: str, status: int) -> None:
    elsewhere = Listener()
    redirector = Redirector(status)
    other, other_port = await _serve(elsewhere.handle)
    server, port = await _serve(redirector.handle)
    try:
        redirector.target = f"ws://127.0.0.1:{other_port}/"
        for auth in ("subprotocol", "header", "query"):
            client = AsyncStreamClient(
                f"ws://127.0.0.1:{port}/",
                token=TOKEN,
                auth=auth,
                transport=transport,  # type: ignore[arg-type]
            )
            with pytest.raises(MotiaConnectionError) as refused:
                await client.connect()
            assert not isinstance(refused.value, AuthenticationError)
            assert str(status) in str(refused.value)
            assert _leaks(_exception_texts(refused.value)) == []
        redirector.target = f"http://127.0.0.1:{other_port}/"
        async with AsyncMotiaHttp(f"http://127.0.0.1:{port}", token=TOKEN) as http:
            with pytest.raises(HttpError) as answered:
                await http.call("GET", "/step")
            assert answered.value.status == status
        await asyncio.sleep(0.1)
        assert len(redirector.requests) == 4  # the configured host did get each request
        assert elsewhere.connections == 0  # and nothing, token or not, went elsewhere
    finally:
        for listener in (server, other):
            listener.close()
            await listener.wait_closed()


# -- the stub's limits --------------------------------------------------------------------------


async def test_the_stub_closes_a_socket_sending_a_frame_over_its_limit() -> None:
    async with StubServer(port=0, streams=["s"]) as stub:
        ws = await connect(stub.ws_url)
        await ws.send("x" * MAX_CLIENT_FRAME_BYTES)  # at the limit: ignored, socket kept
        await ws.send("y" * (MAX_CLIENT_FRAME_BYTES + 1))
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1009
        assert f"limit of {MAX_CLIENT_FRAME_BYTES} bytes" in closed.value.rcvd.reason
        async with AsyncStreamClient(stub.ws_url) as client:  # others are still served
            sub = client.subscribe_group("s", "g")
            await sub.wait_for(lambda items: True, timeout=5)


async def test_the_stub_ignores_names_over_their_limit() -> None:
    async with StubServer(port=0) as stub:
        ws = await connect(stub.ws_url)
        for length in (MAX_NAME_CHARS + 1, MAX_NAME_CHARS):
            join = {
                "type": "join",
                "data": {
                    "streamName": "s" * length,
                    "groupId": "g",
                    "subscriptionId": f"x{length}",
                },
            }
            await ws.send(json.dumps(join))
        frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert len(frame["streamName"]) == MAX_NAME_CHARS  # only the join within the limit
        await ws.close()


@pytest.mark.parametrize("chunked", [False, True])
async def test_the_stub_refuses_a_body_over_its_limit(chunked: bool) -> None:
    body = b'{"description": "' + b"x" * MAX_BODY_BYTES + b'"}'

    async def chunks() -> Any:
        for start in range(0, len(body), 65536):
            yield body[start : start + 65536]

    async with (
        StubServer(port=0) as stub,
        httpx.AsyncClient(base_url=stub.http_url, timeout=10) as http,
    ):
        content: Any = chunks() if chunked else body
        answer = await http.post(
            "/todo", content=content, headers={"content-type": "application/json"}
        )
        assert answer.status_code == 413
        assert answer.json() == {"error": f"request body too large (limit {MAX_BODY_BYTES} bytes)"}
        small = await http.post("/todo", json={"description": "x" * 1000})
        assert small.status_code == 200  # the same step, within the limit
