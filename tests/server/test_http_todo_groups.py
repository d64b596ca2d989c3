"""The todo steps in any group: ``?groupId=`` on every route, ``GET /todo``, bad group ids."""

from __future__ import annotations

import httpx
import pytest

from server_stub import StubServer
from server_stub.limits import MAX_NAME_CHARS

from .conftest import join, open_client


async def test_a_todo_lives_its_whole_life_in_the_group_given(
    stub: StubServer, http: httpx.AsyncClient
) -> None:
    work = await open_client(stub.ws_url)
    inbox = await open_client(stub.ws_url)
    await work.join_and_sync(join("todo", "work"))
    await inbox.join_and_sync(join("todo", "inbox"))

    created = await http.post("/todo", params={"groupId": "work"}, json={"description": "Ship"})
    assert created.status_code == 200
    todo = created.json()
    assert await stub.store.get("todo", "work", todo["id"]) == todo
    assert await stub.store.get("todo", "inbox", todo["id"]) is None
    assert (await work.recv())["event"] == {"type": "create", "data": todo}

    # The inbox does not know it: completing or deleting it there is a 404.
    assert (await http.post(f"/todo/{todo['id']}/complete")).status_code == 404
    assert (await http.delete(f"/todo/{todo['id']}")).status_code == 404

    done = await http.post(f"/todo/{todo['id']}/complete", params={"groupId": "work"})
    assert done.status_code == 200
    completed = done.json()["todo"]
    assert completed["completedAt"]
    assert (await work.recv_event()) == {"type": "update", "data": completed}
    note = await work.recv()  # the state trigger notifies the todo's own group
    assert note["groupId"] == "work"
    assert note["event"]["event"]["type"] == "notification"

    gone = await http.delete(f"/todo/{todo['id']}", params={"groupId": "work"})
    assert gone.status_code == 200
    assert gone.json() == {"ok": True, "todo": completed}
    assert (await work.recv_event()) == {"type": "delete", "data": completed}
    assert await stub.store.get("todo", "work", todo["id"]) is None
    assert await inbox.silent()
    await work.ws.close()
    await inbox.ws.close()


async def test_get_todo_lists_a_group_in_stream_order(http: httpx.AsyncClient) -> None:
    assert (await http.get("/todo")).json() == []
    first = (await http.post("/todo", json={"description": "one"})).json()
    second = (await http.post("/todo", json={"description": "two"})).json()
    elsewhere = (
        await http.post("/todo", params={"groupId": "work"}, json={"description": "three"})
    ).json()
    await http.post(f"/todo/{first['id']}/complete")

    inbox = await http.get("/todo")
    assert inbox.status_code == 200
    assert [todo["id"] for todo in inbox.json()] == [first["id"], second["id"]]
    assert inbox.json()[0]["completedAt"]
    assert (await http.get("/todo", params={"groupId": "inbox"})).json() == inbox.json()
    assert (await http.get("/todo", params={"groupId": "work"})).json() == [elsewhere]
    assert (await http.get("/todo", params={"groupId": "nobody"})).json() == []


async def test_ping_goes_to_the_group_given(stub: StubServer, http: httpx.AsyncClient) -> None:
    client = await open_client(stub.ws_url)
    await client.join_and_sync(join("todo", "work"))
    response = await http.post("/todo/ping", params={"groupId": "work"}, json={"n": 1})
    assert response.status_code == 200
    frame = await client.recv()
    assert frame["groupId"] == "work"
    assert frame["event"]["event"] == {"type": "ping", "data": {"n": 1}}
    await client.ws.close()


@pytest.mark.parametrize(
    "query",
    [
        "groupId=",
        "groupId=" + "g" * (MAX_NAME_CHARS + 1),
        "groupId=a&groupId=b",
    ],
    ids=["empty", "too-long", "repeated"],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/todo"),
        ("POST", "/todo"),
        ("POST", "/todo/some-id/complete"),
        ("DELETE", "/todo/some-id"),
        ("POST", "/todo/ping"),
    ],
)
async def test_an_invalid_group_id_is_a_400_and_changes_nothing(
    stub: StubServer, http: httpx.AsyncClient, method: str, path: str, query: str
) -> None:
    client = await open_client(stub.ws_url)
    await client.join_and_sync(join("todo", "inbox"))
    response = await http.request(method, f"{path}?{query}", json={"description": "x"})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert "groupId" in body["error"]
    assert [error["field"] for error in body["errors"]] == ["groupId"]
    assert await stub.store.list_groups("todo") == []
    assert await client.silent()
    await client.ws.close()


async def test_the_longest_valid_group_id_works_end_to_end(
    stub: StubServer, http: httpx.AsyncClient
) -> None:
    group = "g" * MAX_NAME_CHARS
    client = await open_client(stub.ws_url)
    await client.join_and_sync(join("todo", group))
    todo = (await http.post("/todo", params={"groupId": group}, json={"description": "x"})).json()
    assert (await client.recv_event()) == {"type": "create", "data": todo}
    assert (await http.get("/todo", params={"groupId": group})).json() == [todo]
    await client.ws.close()
