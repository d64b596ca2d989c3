"""Connect-time auth over real sockets: accepted and refused all three ways, anonymous, contexts."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus

from server_stub import StubServer

from .conftest import join, open_client

TOKEN = "s3cret-token"

WAYS: dict[str, Any] = {
    "subprotocol": lambda url, token: (url, {"subprotocols": ["Authorization", token]}),
    "header": lambda url, token: (
        url,
        {"additional_headers": {"Authorization": f"Bearer {token}"}},
    ),
    "query": lambda url, token: (f"{url}?authToken={token}", {}),
}


@pytest.fixture
async def secured() -> Any:
    async with StubServer(port=0, token=TOKEN) as server:
        yield server


@pytest.mark.parametrize("way", sorted(WAYS))
async def test_the_right_token_is_accepted(secured: StubServer, way: str) -> None:
    url, kwargs = WAYS[way](secured.ws_url, TOKEN)
    client = await open_client(url, **kwargs)
    if way == "subprotocol":
        assert client.ws.subprotocol == "Authorization"
    await client.join_and_sync(join("todo", "inbox"))
    await client.ws.close()


@pytest.mark.parametrize("way", sorted(WAYS))
async def test_a_wrong_token_gets_401_before_the_upgrade(
    secured: StubServer, way: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    url, kwargs = WAYS[way](secured.ws_url, "wrong-token-value")
    with pytest.raises(InvalidStatus) as info:
        await open_client(url, **kwargs)
    assert info.value.response.status_code == 401
    assert b"invalid token" in info.value.response.body
    assert secured.connection_count == 0
    assert "wrong-token-value" not in caplog.text


NOT_A_WAY: dict[str, Any] = {
    "none": lambda url, token: (url, {}),
    "basic": lambda url, token: (url, {"additional_headers": {"Authorization": f"Basic {token}"}}),
    "AuthToken-query": lambda url, token: (f"{url}?AuthToken={token}", {}),
    "x-authorization": lambda url, token: (
        url,
        {"additional_headers": {"X-Authorization": f"Bearer {token}"}},
    ),
    "empty-bearer": lambda url, token: (url, {"additional_headers": {"Authorization": "Bearer "}}),
}


@pytest.mark.parametrize("way", sorted(NOT_A_WAY))
async def test_with_a_token_configured_no_other_form_gets_in(
    secured: StubServer, way: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    url, kwargs = NOT_A_WAY[way](secured.ws_url, TOKEN)
    with pytest.raises(InvalidStatus) as info:
        await open_client(url, **kwargs)
    response = info.value.response
    assert response.status_code == 401
    body = json.loads(response.body)
    assert body["error"].startswith("a token is required: send the subprotocol pair")
    assert "Authorization: Bearer <token>" in body["error"]
    assert secured.connection_count == 0
    assert TOKEN not in caplog.text
    assert "refused a stream connection" in caplog.text


@pytest.mark.parametrize("dialect", ["motia", "iii"])
async def test_without_a_token_configured_private_refuses_everyone(dialect: str) -> None:
    async with StubServer(port=0, dialect=dialect) as stub:  # type: ignore[arg-type]
        for url, kwargs in (WAYS["header"](stub.ws_url, TOKEN), (stub.ws_url, {})):
            client = await open_client(url, **kwargs)  # a token is ignored: anonymous
            await client.join_and_sync(join("todo", "inbox"))
            for group in ("stub-user", "alice", "alice:bob"):
                await client.send(join("private-messages", group))
                event = await client.recv_event()
                if dialect == "iii":
                    assert event == {"type": "unauthorized"}
                else:
                    assert event["event"]["data"]["code"] == "STREAM_ACCESS_DENIED"
            await client.ws.close()


async def test_the_shared_token_user_can_read_its_private_group(secured: StubServer) -> None:
    client = await open_client(secured.ws_url, subprotocols=["Authorization", TOKEN])
    await client.join_and_sync(join("private-messages", "stub-user"))
    await client.ws.close()


async def test_the_subprotocol_is_selected_even_without_auth(stub: StubServer) -> None:
    client = await open_client(stub.ws_url, subprotocols=["Authorization", "whatever"])
    assert client.ws.subprotocol == "Authorization"
    await client.ws.close()
    other = await open_client(stub.ws_url, subprotocols=["chat"])
    assert other.ws.subprotocol is None
    await other.ws.close()


async def test_an_auth_function_gives_the_hooks_a_user() -> None:
    users = {"tok-alice": {"userId": "alice"}, "tok-bob": {"userId": "bob"}}

    async def auth(token: str) -> dict[str, Any] | None:
        return users.get(token)

    async with StubServer(port=0, auth=auth, dialect="iii") as stub:
        alice = await open_client(stub.ws_url, subprotocols=["Authorization", "tok-alice"])
        await alice.join_and_sync(join("private-messages", "alice"))
        await alice.join_and_sync(join("private-messages", "alice:bob"))
        await alice.send(join("private-messages", "bob"))
        assert (await alice.recv_event()) == {"type": "unauthorized"}
        await stub.store.set("private-messages", "alice:bob", "m1", {"message": "hi"})
        assert (await alice.recv_event())["type"] == "create"
        with pytest.raises(InvalidStatus):
            await open_client(stub.ws_url, subprotocols=["Authorization", "tok-eve"])
        await alice.ws.close()


async def test_tokens_never_reach_the_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with StubServer(port=0, token=TOKEN) as stub:
        for way in WAYS:
            url, kwargs = WAYS[way](stub.ws_url, TOKEN)
            client = await open_client(url, **kwargs)
            await client.join_and_sync(join("todo", "inbox"))
            await client.ws.close()
    server_lines = [
        record.getMessage()
        for record in caplog.records
        if record.name.startswith(("uvicorn", "server_stub"))
    ]
    assert any("WebSocket" in line for line in server_lines)  # handshakes were logged...
    assert any("sec-websocket-protocol" in line.lower() for line in server_lines)  # headers too
    assert not [line for line in server_lines if TOKEN in line]  # ...without the token
