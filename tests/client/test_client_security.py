"""Secrets and trust: the token in no log, repr or exception; no redirects; TLS verified."""

from __future__ import annotations

import asyncio
import logging
import traceback
import urllib.parse
from collections.abc import Awaitable, Callable

import pytest

from motia_client import (
    AsyncStreamClient,
    AuthenticationError,
    ConnectionState,
    MotiaConnectionError,
    MotiaError,
    StreamClient,
)
from motia_client.testing import FakeMotiaServer
from tests.client.conftest import FAST, WAIT, StateLog, Tls
from tests.client.wsserver import WsServer

pytestmark = pytest.mark.timeout(30)

S = ConnectionState
MakeServer = Callable[..., Awaitable[WsServer]]
MakeClient = Callable[..., AsyncStreamClient]
SECRET = "tok-SECRET.4242_x"
SECRET2 = "tok-SECRET.9999_y"


def forms(token: str) -> list[str]:
    """Every way the token could show up in text."""
    return [token, urllib.parse.quote(token), urllib.parse.quote_plus(token), token[4:-2]]


def leaks(text: str, *tokens: str) -> list[str]:
    return [f for token in tokens for f in forms(token) if f in text]


@pytest.mark.parametrize("auth", ["subprotocol", "header", "query"])
async def test_the_token_is_in_no_log_line_of_a_full_run(
    make_server: MakeServer,
    make_client: MakeClient,
    caplog: pytest.LogCaptureFixture,
    auth: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    server = await make_server(token=SECRET)
    server.store[("todo", "inbox")] = {"a": {"id": "a"}}
    tokens = iter([SECRET, SECRET2, SECRET2])
    client = make_client(server.url, token=lambda: next(tokens), auth=auth)
    log = StateLog(client)
    errors: list[MotiaError] = []
    async with client:
        sub = client.subscribe_group("todo", "inbox")
        sub.on_error(errors.append)
        await sub.wait_for(lambda items: len(items) == 1, timeout=WAIT)
        await server.set("todo", "inbox", {"id": "b"})
        await server.emit("todo", "inbox", "ping", {"n": 1})
        await sub.wait_for(lambda items: len(items) == 2, timeout=WAIT)
        await server.send_all("not json")
        await server.drop()  # reconnects with SECRET2, which the server refuses: 401
        await log.wait(S.FAILED)
    assert [h.token for h in server.handshakes] == [SECRET, SECRET2]
    assert [type(e) for e in errors] == [AuthenticationError]
    client_side = [r for r in caplog.records if not r.name.startswith("websockets.server")]
    assert any(r.name == "motia_client" for r in client_side)
    assert any(r.levelno == logging.DEBUG for r in client_side)  # DEBUG really was captured
    for record in client_side:
        text = record.getMessage()
        if record.exc_info:
            text += "".join(traceback.format_exception(*record.exc_info))
        assert leaks(text, SECRET, SECRET2) == [], (record.name, text)
    # and in what the client exposes
    exposed = [repr(client), repr(sub), str(client.error), repr(client.error)]
    exposed += [repr(change) for change in log.changes]
    assert leaks("\n".join(exposed), SECRET, SECRET2) == []


async def test_reprs_and_requests_never_show_the_token(fake: FakeMotiaServer) -> None:
    client = AsyncStreamClient(
        "ws://fake.invalid/stream?x=1",
        token=SECRET,
        auth="query",
        transport=fake.transport,
        reconnect=FAST,
    )
    sub = client.subscribe_item("todo", "inbox", "a")
    await client.connect()
    try:
        request = fake.attempts[0].request
        assert SECRET in request.credentials.url  # it does travel...
        shown = [repr(client), repr(sub), repr(request), repr(request.credentials)]
        shown += [request.safe_url, str(client), repr(fake), repr(fake.attempts)]
        assert leaks("\n".join(shown), SECRET) == []  # ...but is never shown
        assert request.safe_url == "ws://fake.invalid/stream"
    finally:
        await client.close()
    blocking = StreamClient("ws://127.0.0.1:1/", token=SECRET, auth="header")
    assert leaks(repr(blocking), SECRET) == []
    blocking.close()


async def test_an_authentication_error_never_quotes_the_token(
    make_server: MakeServer, make_client: MakeClient
) -> None:
    server = await make_server(token="right")
    for auth in ("subprotocol", "header", "query"):
        client = make_client(server.url, token=SECRET, auth=auth)
        with pytest.raises(AuthenticationError) as info:
            await client.connect()
        text = str(info.value) + repr(info.value)
        text += "".join(traceback.format_exception(info.value))
        assert leaks(text, SECRET) == []


# -- redirects ----------------------------------------------------------------------


@pytest.mark.parametrize("auth", ["subprotocol", "header", "query"])
async def test_a_redirect_is_never_followed(
    make_server: MakeServer, make_client: MakeClient, auth: str
) -> None:
    elsewhere = await make_server()
    server = await make_server(redirect_to=elsewhere.url)
    client = make_client(server.url, token=SECRET, auth=auth)
    with pytest.raises(MotiaConnectionError, match="302") as info:
        await client.connect()
    assert leaks(str(info.value), SECRET) == []
    assert [h.status for h in server.handshakes] == [302]
    assert elsewhere.handshakes == []  # the token never reached the other port


# -- TLS ------------------------------------------------------------------------------


async def test_wss_verifies_certificates_by_default(
    make_server: MakeServer, make_client: MakeClient, tls: Tls
) -> None:
    server = await make_server(ssl_context=tls.server_context())
    assert server.url.startswith("wss://")
    client = make_client(server.url)
    with pytest.raises(MotiaConnectionError, match="could not connect"):
        await client.connect()
    assert server.conns == []


async def test_wss_by_default_trusts_the_default_certificate_store(
    make_server: MakeServer, make_client: MakeClient, tls: Tls, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tls.cert))  # our certificate is the "system" store
    server = await make_server(ssl_context=tls.server_context())
    async with make_client(server.url) as client:
        sub = client.subscribe_group("todo", "inbox")
        await sub.wait_for(lambda items: True, timeout=WAIT)
        assert client.state is S.OPEN


async def test_wss_with_a_trusting_ssl_context(
    make_server: MakeServer, make_client: MakeClient, tls: Tls
) -> None:
    server = await make_server(ssl_context=tls.server_context())
    server.store[("todo", "inbox")] = {"a": {"id": "a"}}
    async with make_client(server.url, ssl=tls.client_context(), token=SECRET) as client:
        sub = client.subscribe_group("todo", "inbox")
        assert len(await sub.wait_for(lambda items: len(items) == 1, timeout=WAIT)) == 1
    assert server.handshakes[0].token == SECRET


async def test_wss_with_ssl_false_skips_verification(
    make_server: MakeServer, make_client: MakeClient, tls: Tls
) -> None:
    server = await make_server(ssl_context=tls.server_context())
    async with make_client(server.url, ssl=False) as client:
        sub = client.subscribe_group("todo", "inbox")
        await sub.wait_for(lambda items: True, timeout=WAIT)
        assert client.state is S.OPEN


async def test_the_trusting_context_still_checks_the_host_name(
    make_server: MakeServer, make_client: MakeClient, tls: Tls
) -> None:
    server = await make_server(ssl_context=tls.server_context())
    url = server.url.replace("127.0.0.1", "localhost")  # the certificate names 127.0.0.1 only
    client = make_client(url, ssl=tls.client_context())
    with pytest.raises(MotiaConnectionError):
        await asyncio.wait_for(client.connect(), WAIT)
