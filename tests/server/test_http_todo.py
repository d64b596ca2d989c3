"""The todo steps over HTTP: success paths, every 4xx, the stream frames and the triggers."""

from __future__ import annotations

import re

import httpx
import pytest

from server_stub import StubServer
from server_stub.limits import MAX_BODY_BYTES

from .conftest import join, open_client

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


async def test_create_returns_the_todo_and_writes_stream_state_and_stats(
    stub: StubServer, http: httpx.AsyncClient
) -> None:
    client = await open_client(stub.ws_url)
    await client.join_and_sync(join("todo", "inbox"))
    response = await http.post("/todo", json={"description": "Buy milk", "dueDate": "2030-01-01"})
    assert response.status_code == 200
    todo = response.json()
    assert re.match(r"^todo-\d+-[a-z0-9]{7}$", todo["id"])
    assert todo["description"] == "Buy milk"
    assert todo["dueDate"] == "2030-01-01"
    assert ISO.match(todo["createdAt"])
    assert "completedAt" not in todo
    assert await stub.store.get("todo", "inbox", todo["id"]) == todo
    assert await stub.state.get("todos", todo["id"]) == {**todo, "groupId": "inbox"}
    frame = await client.recv()
    assert frame["id"] == todo["id"]
    assert frame["event"] == {"type": "create", "data": todo}
    stats = await stub.store.get("stats", "todo", "counters")
    assert stats == {"created": 1, "id": "counters"}
    await client.ws.close()


async def test_create_accepts_a_form_body(http: httpx.AsyncClient) -> None:
    response = await http.post("/todo", data={"description": "from a form"})
    assert response.status_code == 200
    assert response.json()["description"] == "from a form"
    assert "dueDate" not in response.json()


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, ["description"]),
        ({"description": ""}, ["description"]),
        ({"description": 42}, ["description"]),
        ({"description": "ok", "dueDate": 5}, ["dueDate"]),
        ({"description": None, "dueDate": []}, ["description", "dueDate"]),
        ({"description": "x" * 10_001}, ["description"]),
    ],
)
async def test_create_with_bad_fields_is_a_400_listing_them(
    http: httpx.AsyncClient, body: dict[str, object], fields: list[str]
) -> None:
    response = await http.post("/todo", json=body)
    assert response.status_code == 400
    payload = response.json()
    assert isinstance(payload["error"], str)
    assert [error["field"] for error in payload["errors"]] == fields
    assert all(error["message"] for error in payload["errors"])


@pytest.mark.parametrize(
    ("content", "headers", "status"),
    [
        (b"{not json", {"content-type": "application/json"}, 400),
        (b"[1, 2]", {"content-type": "application/json"}, 400),
        (b'"text"', {"content-type": "application/json"}, 400),
        (b"\xff\xfe", {"content-type": "application/json"}, 400),
        (b"a=%zz&&&", {"content-type": "application/x-www-form-urlencoded"}, 400),
        (b"<todo/>", {"content-type": "application/xml"}, 415),
    ],
)
async def test_bodies_that_cannot_be_read_are_4xx(
    http: httpx.AsyncClient, content: bytes, headers: dict[str, str], status: int
) -> None:
    response = await http.post("/todo", content=content, headers=headers)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]


async def test_a_body_over_the_limit_is_413(http: httpx.AsyncClient) -> None:
    big = b'{"description": "' + b"x" * MAX_BODY_BYTES + b'"}'
    response = await http.post("/todo", content=big, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert str(MAX_BODY_BYTES) in response.json()["error"]


async def test_a_chunked_body_over_the_limit_is_413(http: httpx.AsyncClient) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(MAX_BODY_BYTES // 65_536 + 2):
            yield b"x" * 65_536

    response = await http.post("/todo", content=chunks())
    assert response.status_code == 413


async def test_complete_sets_completed_at_and_notifies(
    stub: StubServer, http: httpx.AsyncClient
) -> None:
    todo = (await http.post("/todo", json={"description": "Walk"})).json()
    client = await open_client(stub.ws_url)
    await client.join_and_sync(join("todo", "inbox"))
    response = await http.post(f"/todo/{todo['id']}/complete")
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True
    assert ISO.match(body["todo"]["completedAt"])
    assert body["todo"]["description"] == "Walk"
    update = await client.recv()
    assert update["event"] == {"type": "update", "data": body["todo"]}
    note = await client.recv()
    assert note["id"] == todo["id"]
    assert note["event"]["type"] == "event"
    assert note["event"]["event"]["type"] == "notification"
    assert note["event"]["event"]["data"]["todoId"] == todo["id"]
    assert (await stub.state.get("todos", todo["id"]))["completedAt"] == body["todo"]["completedAt"]
    again = await http.post(f"/todo/{todo['id']}/complete")
    assert again.status_code == 200
    assert (await client.recv_event())["type"] == "update"
    assert await client.silent()  # no second notification
    await client.ws.close()


async def test_complete_and_delete_of_unknown_todos_are_404(
    stub: StubServer, http: httpx.AsyncClient
) -> None:
    client = await open_client(stub.ws_url)
    await client.join_and_sync(join("todo", "inbox"))
    for response in (
        await http.post("/todo/nope/complete"),
        await http.delete("/todo/nope"),
    ):
        assert response.status_code == 404
        assert "nope" in response.json()["error"]
    assert await stub.store.get("todo", "inbox", "nope") is None
    assert await client.silent()
    await client.ws.close()


async def test_delete_removes_the_todo_everywhere(
    stub: StubServer, http: httpx.AsyncClient
) -> None:
    todo = (await http.post("/todo", json={"description": "Gone soon"})).json()
    client = await open_client(stub.ws_url)
    await client.join_and_sync(join("todo", "inbox"))
    response = await http.delete(f"/todo/{todo['id']}")
    assert response.status_code == 200
    assert response.json() == {"ok": True, "todo": todo}
    assert await client.recv_event() == {"type": "delete", "data": todo}
    assert await stub.store.get("todo", "inbox", todo["id"]) is None
    assert await stub.state.get("todos", todo["id"]) is None
    assert (await http.delete(f"/todo/{todo['id']}")).status_code == 404
    await client.ws.close()


async def test_ping_sends_a_custom_event_to_the_group(
    stub: StubServer, http: httpx.AsyncClient
) -> None:
    client = await open_client(stub.ws_url)
    await client.join_and_sync(join("todo", "inbox"))
    response = await http.post("/todo/ping", json={"from": "test"})
    assert response.status_code == 200
    assert response.json() == {"ok": True}
    frame = await client.recv()
    assert frame.get("id") is None
    assert frame["event"] == {"type": "event", "event": {"type": "ping", "data": {"from": "test"}}}
    assert (await http.post("/todo/ping")).status_code == 200
    assert (await client.recv_event())["event"] == {"type": "ping", "data": {}}
    await client.ws.close()


async def test_unknown_routes_and_methods_answer_json(http: httpx.AsyncClient) -> None:
    missing = await http.get("/nope")
    assert missing.status_code == 404
    assert missing.json() == {"error": "Not Found"}
    wrong_method = await http.put("/todo")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]


async def test_root_describes_the_server(stub: StubServer, http: httpx.AsyncClient) -> None:
    info = (await http.get("/")).json()
    assert info["name"] == "motia-stub"
    assert info["dialect"] == "motia"
    assert info["auth"] is False
    assert {"todo", "inbox", "private-messages", "openai", "stats"} <= set(info["streams"])


async def test_deeply_nested_bodies_are_400_not_500(http: httpx.AsyncClient) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    for path in ("/todo", "/todo/ping", "/sse", "/chat"):
        response = await http.post(
            path, content=deep.encode(), headers={"content-type": "application/json"}
        )
        assert response.status_code == 400, path
        assert response.json()["errors"][0]["message"] == "nested too deeply"
