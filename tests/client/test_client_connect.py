"""AsyncStreamClient: connecting, closing, connection state, and how the token travels."""

from __future__ import annotations

import asyncio
import string
from collections.abc import Awaitable, Callable

import pytest

from motia_client import (
    AsyncStreamClient,
    AuthenticationError,
    ClientClosedError,
    ConnectionState,
    ConnectRequest,
    MotiaConnectionError,
    MotiaTimeout,
    StreamClient,
    Transport,
)
from motia_client.testing import FakeMotiaServer
from tests.client.conftest import WAIT, StateLog, assert_nothing_left
from tests.client.wsserver import WsServer, free_port

pytestmark = pytest.mark.timeout(30)

S = ConnectionState
MakeServer = Callable[..., Awaitable[WsServer]]
MakeClient = Callable[..., AsyncStreamClient]
TODOS = {"t1": {"id": "t1", "description": "milk"}, "t2": {"id": "t2", "description": "eggs"}}


async def test_connect_and_close_report_each_state(
    server: WsServer, make_client: MakeClient
) -> None:
    client = make_client(server.url)
    log = StateLog(client)
    assert client.state is S.IDLE
    assert not client.is_connected
    async with client:
        assert client.state is S.OPEN
        assert client.is_connected
        await server.wait_conn()
    assert log.states == [S.CONNECTING, S.OPEN, S.CLOSED]
    opened = log.changes[1]
    assert (opened.previous, opened.state, opened.attempt, opened.retry_in) == (
        S.CONNECTING,
        S.OPEN,
        0,
        None,
    )
    assert log.changes[2].previous is S.OPEN
    await server.wait_until(lambda: not server.open_conns)  # the socket really closed
    assert_nothing_left(client)
    await client.close()  # idempotent
    assert log.states == [S.CONNECTING, S.OPEN, S.CLOSED]


async def test_subscribing_before_the_socket_opens(
    server: WsServer, make_client: MakeClient
) -> None:
    server.store[("todo", "inbox")] = dict(TODOS)
    client = make_client(server.url)
    group = client.subscribe_group("todo", "inbox")
    item = client.subscribe_item("todo", "inbox", "t2")
    assert (group.synced, len(group.state), item.synced, item.state) == (False, 0, False, None)
    await client.connect()
    items = await group.wait_for(lambda items: len(items) == 2, timeout=WAIT)
    assert [i["id"] for i in items] == ["t1", "t2"]
    assert await item.wait_for(lambda it: it is not None, timeout=WAIT) == TODOS["t2"]
    joins = server.conns[0].joins
    assert sorted(j.get("id") or "" for j in joins) == ["", "t2"]  # one join per room


async def test_subscriptions_wait_for_a_server_that_is_not_up_yet(make_client: MakeClient) -> None:
    port = free_port()
    client = make_client(f"ws://127.0.0.1:{port}/")
    log = StateLog(client)
    sub = client.subscribe_group("todo", "inbox")
    await client.connect(wait=False)  # keeps trying in the background
    await log.wait(S.RECONNECTING, count=2)
    retries = [c for c in log.changes if c.state is S.RECONNECTING]
    assert [c.attempt for c in retries[:2]] == [1, 2]
    assert all(c.retry_in is not None and c.retry_in >= 0 for c in retries)
    assert all(isinstance(c.error, MotiaConnectionError) and c.reason for c in retries)
    server = WsServer()
    server.store[("todo", "inbox")] = dict(TODOS)
    await server.start(port)
    try:
        assert len(await sub.wait_for(lambda items: len(items) == 2, timeout=WAIT)) == 2
        assert client.state is S.OPEN
        assert log.changes[-1].attempt == 0
    finally:
        await client.close()
        await server.stop()


async def test_connect_fails_at_once_when_nothing_listens(make_client: MakeClient) -> None:
    client = make_client(f"ws://127.0.0.1:{free_port()}/")
    log = StateLog(client)
    with pytest.raises(MotiaConnectionError):
        await client.connect()
    assert S.FAILED in log.states
    assert isinstance(client.error, MotiaConnectionError)
    assert_nothing_left(client)
    with pytest.raises(ClientClosedError):
        await client.connect()
    with pytest.raises(ClientClosedError):
        client.subscribe_group("todo", "inbox")


def test_constructor_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="ws://"):
        AsyncStreamClient("http://127.0.0.1:1/")
    with pytest.raises(ValueError, match="auth"):
        AsyncStreamClient("ws://127.0.0.1:1/", auth="cookie")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="transport"):
        AsyncStreamClient("ws://127.0.0.1:1/", transport="carrier-pigeon")  # type: ignore[arg-type]


# -- the three ways a token travels (PROTOCOL.md section 2) -------------------------

TOKEN = "s3cr3t.Token_1"


@pytest.mark.parametrize("auth", ["subprotocol", "header", "query"])
async def test_the_token_reaches_the_server_as_documented(
    make_server: MakeServer, make_client: MakeClient, auth: str
) -> None:
    server = await make_server(token=TOKEN)
    client = make_client(server.url + "?app=demo", token=TOKEN, auth=auth, headers={"X-App": "a"})
    async with client:
        conn = await server.wait_conn()
    seen = conn.handshake
    assert seen.token == TOKEN
    assert seen.headers["X-App"] == "a"
    if auth == "subprotocol":
        assert seen.subprotocols == ["Authorization", TOKEN]
        assert conn.ws.subprotocol == "Authorization"  # selected, so the handshake held
        assert "Authorization" not in seen.headers
        assert seen.path == "/?app=demo"
    elif auth == "header":
        assert seen.headers["Authorization"] == f"Bearer {TOKEN}"
        assert seen.subprotocols == []
        assert seen.path == "/?app=demo"
    else:
        assert seen.path == f"/?app=demo&authToken={TOKEN}"
        assert seen.subprotocols == []
        assert "Authorization" not in seen.headers


async def test_no_token_sends_no_credentials(server: WsServer, make_client: MakeClient) -> None:
    async with make_client(server.url):
        conn = await server.wait_conn()
    assert (conn.handshake.token, conn.handshake.subprotocols) == (None, [])


@pytest.mark.parametrize("token", ["abc/def==", "a=b", "with space", "tab\there", "caf\u00e9"])
def test_a_token_unfit_for_a_subprotocol_is_refused_at_construction(token: str) -> None:
    for cls in (AsyncStreamClient, StreamClient):
        with pytest.raises(ValueError, match="subprotocol") as info:
            cls("ws://127.0.0.1:1/", token=token)
        message = str(info.value)
        assert "auth='header'" in message
        assert "auth='query'" in message
        assert token not in message
    AsyncStreamClient("ws://127.0.0.1:1/", token=token, auth="query")


async def test_every_tchar_may_travel_as_a_subprotocol(
    make_server: MakeServer, make_client: MakeClient
) -> None:
    # RFC 7230 tchar includes "+" (PROTOCOL.md lists it among base64's bad characters).
    every_tchar = "!#$%&'*+-.^_`|~" + string.digits + string.ascii_letters
    server = await make_server(token=every_tchar)
    async with make_client(server.url, token=every_tchar):
        conn = await server.wait_conn()
    assert conn.handshake.subprotocols == ["Authorization", every_tchar]
    assert conn.handshake.token == every_tchar
    assert conn.ws.subprotocol == "Authorization"  # selected: the handshake held


def test_a_header_token_must_not_break_the_header() -> None:
    with pytest.raises(ValueError, match="line breaks") as info:
        AsyncStreamClient("ws://127.0.0.1:1/", token="abc\r\nX-Evil: 1", auth="header")
    assert "Evil" not in str(info.value)
    AsyncStreamClient("ws://127.0.0.1:1/", token="abc/def==", auth="header")


async def test_a_callable_returning_an_unfit_token_fails_connect(fake: FakeMotiaServer) -> None:
    client = AsyncStreamClient(fake.url, token=lambda: "bad/token", transport=fake.transport)
    with pytest.raises(ValueError, match="subprotocol") as info:
        await client.connect()
    assert "bad/token" not in str(info.value)
    assert fake.attempts == []  # refused before any connection attempt
    assert_nothing_left(client)


async def test_a_401_at_connect_raises_authentication_error(
    make_server: MakeServer, make_client: MakeClient
) -> None:
    server = await make_server(token="right")
    client = make_client(server.url, token="wrong")
    log = StateLog(client)
    with pytest.raises(AuthenticationError) as info:
        await client.connect()
    assert info.value.status == 401
    assert "wrong" not in str(info.value)
    assert S.FAILED in log.states
    assert len(server.handshakes) == 1
    assert_nothing_left(client)


async def test_a_401_in_the_background_leaves_the_client_failed(
    make_server: MakeServer, make_client: MakeClient
) -> None:
    server = await make_server(token="right")
    client = make_client(server.url, token="wrong")
    log = StateLog(client)
    errors: list[Exception] = []
    sub = client.subscribe_group("todo", "inbox")
    sub.on_error(errors.append)
    await client.connect(wait=False)
    await log.wait(S.FAILED)
    assert client.state is S.FAILED
    assert isinstance(client.error, AuthenticationError)
    assert isinstance(log.changes[-1].error, AuthenticationError)
    assert [type(e) for e in errors] == [AuthenticationError]
    with pytest.raises(AuthenticationError):
        await sub.wait_for(lambda items: True, timeout=WAIT)
    assert client._task is not None
    assert client._task.done()  # no further attempt
    assert len(server.handshakes) == 1


# -- close() leaves nothing behind -------------------------------------------------------


async def test_close_leaves_no_task_listener_or_socket(
    server: WsServer, make_client: MakeClient
) -> None:
    server.store[("todo", "inbox")] = dict(TODOS)
    client = make_client(server.url)
    gate = asyncio.Event()

    async def slow_listener(state: object) -> None:
        await gate.wait()  # still running when the client closes

    client.on_state_change(lambda change: None)
    await client.connect()
    group = client.subscribe_group("todo", "inbox")
    item = client.subscribe_item("todo", "inbox", "t1")
    group.add_change_listener(slow_listener)
    item.add_change_listener(lambda state: None)
    group.on_event("ping", lambda data: None)
    group.on_error(lambda error: None)
    await group.wait_for(lambda items: len(items) == 2, timeout=WAIT)
    changes = group.changes()
    assert len(await anext(changes)) == 2  # an iterator left open
    await client.close()
    assert_nothing_left(client)
    for sub in (group, item):
        assert sub.closed
        assert not sub._sink.change_listeners
        assert sub._sink.event_listeners == {}
        assert not sub._sink.error_listeners
    with pytest.raises(StopAsyncIteration):
        await anext(changes)
    assert group._sink.waiters == []
    await server.wait_until(lambda: not server.open_conns)


async def test_close_during_backoff_stops_retrying(make_client: MakeClient) -> None:
    client = make_client(f"ws://127.0.0.1:{free_port()}/")
    log = StateLog(client)
    client.subscribe_item("todo", "inbox", "t1")
    await client.connect(wait=False)
    await log.wait(S.RECONNECTING)
    await client.close()
    assert log.states[-1] is S.CLOSED
    assert_nothing_left(client)


async def test_close_before_connect(make_client: MakeClient) -> None:
    client = make_client("ws://127.0.0.1:1/")
    sub = client.subscribe_group("todo", "inbox")
    await client.close()
    assert sub.closed
    assert_nothing_left(client)


# -- the transport interface -------------------------------------------------------------


async def test_a_transport_factory_gets_every_connect_setting(fake: FakeMotiaServer) -> None:
    client = AsyncStreamClient(
        "ws://fake.invalid/",
        token=TOKEN,
        auth="header",
        headers={"X-App": "a"},
        ssl=False,
        ping_interval=3.0,
        ping_timeout=4.0,
        open_timeout=5.0,
        max_size=1234,
        transport=fake.transport,
    )
    async with client:
        request = fake.attempts[0].request
        assert request.credentials.url == "ws://fake.invalid/"
        assert request.credentials.subprotocols == ()
        assert dict(request.credentials.headers) == {
            "X-App": "a",
            "Authorization": f"Bearer {TOKEN}",
        }
        assert (request.ssl, request.ping_interval, request.ping_timeout) == (False, 3.0, 4.0)
        assert (request.open_timeout, request.max_size) == (5.0, 1234)
    defaults = AsyncStreamClient("ws://fake.invalid/", transport=fake.transport)
    async with defaults:
        request = fake.attempts[1].request
        assert (request.ping_interval, request.ping_timeout) == (20.0, 20.0)
        assert request.max_size == 64 * 1024 * 1024
        assert request.ssl is None


async def test_a_handshake_that_never_completes_times_out(make_client: MakeClient) -> None:
    accepted: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)  # accept the TCP connection, never answer the upgrade

    listener = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        client = make_client(f"ws://127.0.0.1:{port}/", open_timeout=0.2)
        with pytest.raises(MotiaTimeout, match="timed out"):
            await asyncio.wait_for(client.connect(), WAIT)
        assert_nothing_left(client)
    finally:
        for writer in accepted:
            writer.close()
        listener.close()
        await listener.wait_closed()


async def test_a_tls_handshake_that_never_completes_times_out(make_client: MakeClient) -> None:
    """A wss:// server that accepts the TCP connection and never answers the TLS
    ClientHello: open_timeout bounds the TLS handshake too, and says so (MotiaTimeout)."""
    accepted: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)  # plain TCP: the ClientHello is read by nobody

    listener = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        client = make_client(f"wss://127.0.0.1:{port}/", open_timeout=0.3, ssl=False)
        began = asyncio.get_running_loop().time()
        with pytest.raises(MotiaTimeout, match="timed out"):
            await asyncio.wait_for(client.connect(), WAIT)
        assert asyncio.get_running_loop().time() - began < 2.0
        assert accepted  # it did reach the TLS stage
        assert_nothing_left(client)
    finally:
        for writer in accepted:
            writer.close()
        listener.close()
        await listener.wait_closed()


async def test_close_while_connect_is_waiting() -> None:
    started = asyncio.Event()

    async def hanging(request: ConnectRequest) -> Transport:
        started.set()
        await asyncio.Event().wait()  # never opens
        raise AssertionError("unreachable")

    client = AsyncStreamClient("ws://fake.invalid/", transport=hanging)
    connecting = asyncio.get_running_loop().create_task(client.connect())
    await asyncio.wait_for(started.wait(), WAIT)
    await client.close()
    with pytest.raises(ClientClosedError):
        await asyncio.wait_for(connecting, WAIT)
    assert_nothing_left(client)
