"""Proxies: the environment by default, ``proxy=None`` and ``NO_PROXY``, auth, refusals.

Every test runs a :class:`ConnectProxy` (an HTTP CONNECT proxy on 127.0.0.1)
in front of a :class:`WsServer`, on both transports. On Linux urllib's
``proxy_bypass`` does not exempt loopback, so ``HTTPS_PROXY`` alone sends the
tests' 127.0.0.1 connections to the proxy, as it would with websockets.connect.
"""

from __future__ import annotations

import asyncio
import base64
import inspect
import logging
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from motia_client import (
    AsyncStreamClient,
    AuthenticationError,
    ConnectionState,
    ConnectRequest,
    MotiaConnectionError,
    MotiaTimeout,
    StreamClient,
)
from motia_client._auth import Credentials
from motia_client._proxy import proxy_for, redact_proxy
from tests.client.conftest import FAST, WAIT, StateLog, Tls, assert_nothing_left
from tests.client.connectproxy import ConnectProxy
from tests.client.wsserver import ThreadedServer, WsServer, free_port

pytestmark = pytest.mark.timeout(30)

S = ConnectionState
MakeServer = Callable[..., Awaitable[WsServer]]
MakeClient = Callable[..., AsyncStreamClient]
USER, PASSWORD = "alice", "pr0xy-s3cret"
TOKEN = "motia-t0ken-abc"


@pytest.fixture
async def proxy() -> AsyncIterator[ConnectProxy]:
    async with ConnectProxy() as running:
        yield running


@pytest.fixture
async def auth_proxy() -> AsyncIterator[ConnectProxy]:
    async with ConnectProxy(user=USER, password=PASSWORD) as running:
        yield running


def target(server: WsServer) -> str:
    return f"CONNECT 127.0.0.1:{server.port} HTTP/1.1"


@pytest.mark.parametrize("variable", ["HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "ALL_PROXY"])
async def test_the_proxy_from_the_environment_is_used_by_default(
    server: WsServer,
    make_client: MakeClient,
    proxy: ConnectProxy,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
) -> None:
    if variable == "ALL_PROXY":  # urllib reads it as the "all" scheme: websockets ignores it
        monkeypatch.setenv(variable, proxy.url)
        assert proxy_for(server.url, True) is None
        return
    monkeypatch.setenv(variable, proxy.url)
    server.store[("todo", "inbox")] = {"a": {"id": "a"}}
    client = make_client(server.url)
    async with client:
        sub = client.subscribe_group("todo", "inbox")
        await sub.wait_for(lambda items: len(items) == 1, timeout=WAIT)
    assert [r.split("\r\n")[0] for r in proxy.requests] == [target(server)]
    assert proxy.tunnels == 1
    assert_nothing_left(client)


async def test_proxy_none_connects_directly_whatever_the_environment(
    server: WsServer,
    make_client: MakeClient,
    proxy: ConnectProxy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    async with make_client(server.url, proxy=None):
        await server.wait_conn()
    assert proxy.requests == []


@pytest.mark.parametrize("no_proxy", ["127.0.0.1", "localhost,127.0.0.1", "*"])
async def test_no_proxy_is_honoured(
    server: WsServer,
    make_client: MakeClient,
    proxy: ConnectProxy,
    monkeypatch: pytest.MonkeyPatch,
    no_proxy: str,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", no_proxy)
    async with make_client(server.url):
        await server.wait_conn()
    assert proxy.requests == []


async def test_an_explicit_proxy_is_used_without_any_environment(
    server: WsServer, make_client: MakeClient, proxy: ConnectProxy
) -> None:
    async with make_client(server.url, proxy=proxy.url):
        await server.wait_conn()
    assert proxy.tunnels == 1


async def test_wss_goes_through_the_tunnel_with_tls_to_the_server(
    make_server: MakeServer, make_client: MakeClient, proxy: ConnectProxy, tls: Tls
) -> None:
    server = await make_server(ssl_context=tls.server_context())
    server.store[("todo", "inbox")] = {"a": {"id": "a"}}
    client = make_client(server.url, ssl=tls.client_context(), proxy=proxy.url)
    async with client:
        sub = client.subscribe_group("todo", "inbox")
        await sub.wait_for(lambda items: len(items) == 1, timeout=WAIT)
    assert [r.split("\r\n")[0] for r in proxy.requests] == [target(server)]


async def test_proxy_credentials_travel_as_proxy_authorization_and_nowhere_else(
    make_server: MakeServer,
    make_client: MakeClient,
    auth_proxy: ConnectProxy,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    server = await make_server(token=TOKEN)
    server.store[("todo", "inbox")] = {"a": {"id": "a"}}
    url = auth_proxy.url_with(USER, PASSWORD)
    monkeypatch.setenv("HTTPS_PROXY", url)
    client = make_client(server.url, token=TOKEN, auth="query")
    log = StateLog(client)
    async with client:
        sub = client.subscribe_group("todo", "inbox")
        await sub.wait_for(lambda items: len(items) == 1, timeout=WAIT)
        await server.drop()  # a reconnect through the proxy, logged at DEBUG
        await log.wait(S.OPEN, count=2)
        shown = [repr(client), str(client.state)]
    basic = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert auth_proxy.header(0, "Proxy-Authorization") == f"Basic {basic}"
    assert auth_proxy.tunnels == 2
    # The CONNECT line names host:port only: the query token never reaches the proxy.
    assert all(TOKEN not in request for request in auth_proxy.requests)
    request = ConnectRequest(Credentials.build(server.url, TOKEN, "query"), proxy=url)
    shown += [repr(request), request.safe_url, redact_proxy(url)]
    shown += [str(c.reason) + repr(c.error) for c in log.changes]
    for record in caplog.records:
        if record.name.startswith("websockets.server"):  # the test server's own log
            continue
        text = record.getMessage()
        if record.exc_info:
            text += "".join(traceback.format_exception(*record.exc_info))
        shown.append(text)
    assert any("through the proxy http://127.0.0.1:" in text for text in shown)
    for text in shown:
        for secret in (PASSWORD, basic, TOKEN):
            assert secret not in text, text


async def test_wrong_proxy_credentials_fail_with_a_clear_407(
    server: WsServer, make_client: MakeClient, auth_proxy: ConnectProxy
) -> None:
    wrong = "not-the-password"
    client = make_client(server.url, proxy=auth_proxy.url_with(USER, wrong))
    with pytest.raises(MotiaConnectionError) as info:
        await client.connect()
    assert not isinstance(info.value, AuthenticationError)  # not the server's token
    message = str(info.value)
    assert "HTTP 407" in message
    assert f"http://127.0.0.1:{auth_proxy.port}" in message
    assert "user:password" in message
    assert wrong not in message
    assert USER not in message
    chain = "".join(traceback.format_exception(info.value))
    assert wrong not in chain
    assert server.handshakes == []


@pytest.mark.parametrize("status", [403, 502])
async def test_a_proxy_refusing_the_tunnel_is_a_connection_error(
    server: WsServer, make_client: MakeClient, proxy: ConnectProxy, status: int
) -> None:
    proxy.refuse = status
    with pytest.raises(MotiaConnectionError, match=f"refused to open a tunnel.*HTTP {status}"):
        await make_client(server.url, proxy=proxy.url).connect()


async def test_an_unreachable_proxy_is_a_connection_error(
    server: WsServer, make_client: MakeClient
) -> None:
    port = free_port()
    with pytest.raises(MotiaConnectionError, match=f"proxy http://127.0.0.1:{port}"):
        await make_client(server.url, proxy=f"http://u:hidden@127.0.0.1:{port}").connect()


async def test_a_proxy_that_never_answers_is_bounded_by_open_timeout(
    server: WsServer, make_client: MakeClient, proxy: ConnectProxy
) -> None:
    proxy.silent = True
    client = make_client(server.url, proxy=proxy.url, open_timeout=0.3)
    with pytest.raises(MotiaTimeout):
        await asyncio.wait_for(client.connect(), WAIT)
    assert len(proxy.requests) == 1


async def test_a_refusing_proxy_is_retried_with_backoff_then_reconnects(
    server: WsServer, make_client: MakeClient, proxy: ConnectProxy
) -> None:
    server.store[("todo", "inbox")] = {"a": {"id": "a"}}
    client = make_client(server.url, proxy=proxy.url)
    log = StateLog(client)
    async with client:
        sub = client.subscribe_group("todo", "inbox")
        await sub.wait_for(lambda items: len(items) == 1, timeout=WAIT)
        proxy.refuse = 502
        proxy.drop()  # the tunnel goes: the client retries through the refusing proxy
        await log.wait(S.RECONNECTING, count=3)
        reasons = [c.reason for c in log.changes if c.state is S.RECONNECTING]
        assert any("HTTP 502" in str(reason) for reason in reasons), reasons
        assert client.state is not S.FAILED
        proxy.refuse = None
        await log.wait(S.OPEN, count=2)
        await server.set("todo", "inbox", {"id": "b"})
        await sub.wait_for(lambda items: len(items) == 2, timeout=WAIT)
    assert proxy.tunnels == 2


async def test_reconnects_through_the_proxy_after_the_server_drops(
    server: WsServer, make_client: MakeClient, proxy: ConnectProxy
) -> None:
    client = make_client(server.url, proxy=proxy.url)
    log = StateLog(client)
    async with client:
        for round_ in range(2, 4):
            await server.drop()
            await log.wait(S.OPEN, count=round_)
    assert proxy.tunnels == 3
    assert len(server.handshakes) == 3


def test_the_blocking_client_takes_the_proxy_option(transport: str) -> None:
    with ThreadedServer() as threaded:
        proxy = ConnectProxy()
        threaded.run(lambda _server: proxy.__aenter__())
        try:
            url = threaded.server.url
            with StreamClient(url, transport=transport, reconnect=FAST, proxy=proxy.url) as client:
                assert client.is_connected
            assert proxy.tunnels == 1
        finally:
            threaded.run(lambda _server: proxy.stop())


# -- options and the transports' choice ---------------------------------------------------


def test_an_invalid_proxy_is_refused_at_construction_without_its_password() -> None:
    for bad in ("ftp://user:hunter2@proxy:21", "http://user:hunter2@proxy/path", "hunter2"):
        with pytest.raises(ValueError, match="not a valid proxy") as info:
            AsyncStreamClient("ws://127.0.0.1:1/", proxy=bad)
        assert "hunter2" not in str(info.value)
    with pytest.raises(TypeError):
        AsyncStreamClient("ws://127.0.0.1:1/", proxy=8080)  # type: ignore[arg-type]


async def test_an_invalid_proxy_in_the_environment_fails_without_its_password(
    server: WsServer, make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "alice:hunter2@proxy.example:3128")  # no scheme
    with pytest.raises(ValueError, match="not a valid proxy") as info:
        await make_client(server.url).connect()
    assert "hunter2" not in str(info.value)


def test_proxy_for_follows_websockets_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    assert proxy_for("ws://127.0.0.1:3000/", True) is None
    monkeypatch.setenv("HTTP_PROXY", "http://plain:1")
    assert proxy_for("ws://127.0.0.1:3000/", True) == "http://plain:1"
    assert proxy_for("wss://127.0.0.1:3000/", True) is None  # HTTP_PROXY is not for wss
    monkeypatch.setenv("HTTPS_PROXY", "http://secure:1")
    assert proxy_for("ws://127.0.0.1:3000/", True) == "http://secure:1"
    assert proxy_for("wss://127.0.0.1:3000/", True) == "http://secure:1"
    monkeypatch.setenv("SOCKS_PROXY", "http://socks:1")
    assert proxy_for("wss://host/", True) == "socks5h://socks:1"
    monkeypatch.setenv("NO_PROXY", "host")
    assert proxy_for("wss://host/", True) is None
    assert proxy_for("wss://other/", None) is None
    assert proxy_for("wss://other/", False) is None
    assert proxy_for("wss://other/", "http://given:1") == "http://given:1"


def test_redact_proxy_keeps_scheme_host_and_port_only() -> None:
    assert redact_proxy("http://u:p@proxy:3128") == "http://proxy:3128"
    assert redact_proxy("socks5h://u:p@[::1]:1080") == "socks5h://[::1]:1080"
    assert redact_proxy("https://proxy") == "https://proxy"
    assert "p" not in redact_proxy("u:p@x:99999").replace("parsable", "").replace("proxy", "")


def test_the_websockets_proxy_helpers_keep_the_signatures_we_call() -> None:
    """We reuse websockets' proxy helpers (not all public API): an upgrade that changes
    them must fail here, not in a user's connection."""
    from websockets.asyncio import client
    from websockets.proxy import get_proxy, parse_proxy

    http = inspect.signature(client.connect_http_proxy).parameters
    assert list(http)[:2] == ["proxy", "ws_uri"]
    assert "user_agent_header" in http
    assert any(p.kind is inspect.Parameter.VAR_KEYWORD for p in http.values())
    assert list(inspect.signature(client.connect_socks_proxy).parameters)[:2] == [
        "proxy",
        "ws_uri",
    ]
    assert list(inspect.signature(get_proxy).parameters) == ["uri"]
    assert list(inspect.signature(parse_proxy).parameters) == ["proxy"]
