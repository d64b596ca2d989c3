"""The stall fault switch: one group stops delivering to open sockets; pings and syncs go on."""

from __future__ import annotations

import httpx
import pytest

from server_stub import StubServer
from server_stub.app import build_app, build_context
from server_stub.ws import StreamEndpoint

from .conftest import join, open_client


async def _todo(http: httpx.AsyncClient, description: str) -> dict[str, object]:
    response = await http.post("/todo", json={"description": description})
    assert response.status_code == 200
    body: dict[str, object] = response.json()
    return body


@pytest.mark.parametrize("how", ["method", "admin-route"])
async def test_a_stalled_group_goes_silent_while_pings_and_syncs_work(how: str) -> None:
    async with (
        StubServer(port=0) as stub,
        httpx.AsyncClient(base_url=stub.http_url, trust_env=False, timeout=5) as http,
    ):
        watcher = await open_client(stub.ws_url)
        await watcher.join_and_sync(join("todo", "inbox"))
        bystander = await open_client(stub.ws_url)
        await bystander.join_and_sync(join("todo", "work"))

        room = {"stream": "todo", "groupId": "inbox"}
        if how == "method":
            stub.stall("todo", "inbox")
        else:
            answer = await http.post("/_admin/stall", params=room)
            assert answer.json() == {"ok": True, "stalled": [["todo", "inbox"]]}
        missed = await _todo(http, "missed")
        await stub.store.send_event("todo", "inbox", "ping", {})
        assert await watcher.silent(0.3)  # nothing of the stalled group arrives
        pong = await watcher.ws.ping()
        await pong  # the socket itself is healthy
        work = await http.post("/todo", params={"groupId": "work"}, json={"description": "w"})
        assert (await bystander.recv_event())["data"] == work.json()  # other groups flow

        late = await open_client(stub.ws_url)
        sync = await late.join_and_sync(join("todo", "inbox"))
        assert sync["event"]["data"] == [missed]  # a new join sees the truth

        if how == "method":
            assert stub.unstall("todo", "inbox")
            assert not stub.unstall("todo", "inbox")
        else:
            assert (await http.post("/_admin/unstall", params=room)).json()["stalled"] == []
            assert (await http.post("/_admin/unstall", params=room)).status_code == 404
        after = await _todo(http, "after")
        assert (await watcher.recv_event()) == {"type": "create", "data": after}
        assert (await late.recv_event()) == {"type": "create", "data": after}
        # The watcher never got "missed": the drift a detector must find.
        for client in (watcher, bystander, late):
            await client.ws.close()


async def test_admin_parameters_are_checked() -> None:
    async with (
        StubServer(port=0) as stub,
        httpx.AsyncClient(base_url=stub.http_url, trust_env=False, timeout=5) as http,
    ):
        missing = await http.post("/_admin/stall", params={"stream": "todo"})
        assert missing.status_code == 400
        assert missing.json()["errors"][0]["field"] == "groupId"
        unknown = await http.post("/_admin/stall", params={"stream": "nope", "groupId": "g"})
        assert unknown.status_code == 404
        assert (await http.get("/_admin/stalls")).json() == {"stalled": []}


async def test_the_admin_routes_refuse_clients_off_loopback() -> None:
    ctx = build_context()
    app = build_app(ctx, StreamEndpoint(ctx))
    transport = httpx.ASGITransport(app=app, client=("192.0.2.7", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://stub") as http:
        refused = await http.post("/_admin/stall", params={"stream": "todo", "groupId": "inbox"})
        assert refused.status_code == 403
        assert refused.json()["error"] == "the admin routes answer loopback clients only"
        assert not ctx.stalls


async def test_the_admin_routes_need_the_token_when_one_is_set() -> None:
    async with (
        StubServer(port=0, token="adm1n-t0ken") as stub,
        httpx.AsyncClient(base_url=stub.http_url, trust_env=False, timeout=5) as http,
    ):
        room = {"stream": "todo", "groupId": "inbox"}
        assert (await http.post("/_admin/stall", params=room)).status_code == 401
        bearer = {"Authorization": "Bearer adm1n-t0ken"}
        assert (await http.post("/_admin/stall", params=room, headers=bearer)).status_code == 200
