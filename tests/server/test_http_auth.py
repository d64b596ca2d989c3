"""With a token configured, every HTTP step needs it (401, a JSON error); GET / stays open."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from server_stub import StubServer

TOKEN = "http-s3cret"

STEPS = [
    ("GET", "/todo", None),
    ("POST", "/todo", {"description": "x"}),
    ("POST", "/todo/ping", {}),
    ("POST", "/todo/some-id/complete", None),
    ("DELETE", "/todo/some-id", None),
    ("POST", "/sse?count=1&delay_ms=0", {}),
    ("POST", "/chat?delay_ms=0", {"message": "hi"}),
    ("POST", "/open-ai?delay_ms=0", {"message": "hi"}),
    ("GET", "/nope", None),
]


@pytest.fixture
async def secured() -> AsyncIterator[StubServer]:
    async with StubServer(port=0, token=TOKEN) as server:
        yield server


@pytest.fixture
async def http(secured: StubServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=secured.http_url, trust_env=False, timeout=5) as client:
        yield client


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": f"Basic {TOKEN}"},
        {"X-Authorization": f"Bearer {TOKEN}"},
        {"Authorization": "Bearer wrong-token"},
    ],
    ids=["none", "basic", "x-authorization", "wrong"],
)
@pytest.mark.parametrize(("method", "path", "body"), STEPS, ids=[f"{m} {p}" for m, p, _ in STEPS])
async def test_a_step_without_the_token_is_401_and_does_nothing(
    secured: StubServer,
    http: httpx.AsyncClient,
    method: str,
    path: str,
    body: object,
    headers: dict[str, str],
) -> None:
    response = await http.request(method, path, json=body, headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/json"
    assert response.headers["www-authenticate"].startswith("Bearer")
    error = response.json()["error"]
    assert error in (
        "invalid token",
        "a token is required: send 'Authorization: Bearer <token>' or '?authToken=<token>'",
    )
    assert TOKEN not in response.text
    assert await secured.store.list_groups("todo") == []
    assert await secured.store.list_groups("openai") == []


async def test_the_query_form_must_be_spelled_auth_token(http: httpx.AsyncClient) -> None:
    assert (await http.get("/todo", params={"AuthToken": TOKEN})).status_code == 401
    assert (await http.get("/todo", params={"authToken": TOKEN})).status_code == 200


async def test_the_token_opens_every_step(secured: StubServer, http: httpx.AsyncClient) -> None:
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    todo = (await http.post("/todo", json={"description": "x"}, headers=bearer)).json()
    assert (await http.get("/todo", headers=bearer)).json() == [todo]
    assert (await http.post(f"/todo/{todo['id']}/complete", headers=bearer)).status_code == 200
    assert (await http.post("/todo/ping", headers=bearer)).status_code == 200
    chat = await http.post("/chat?delay_ms=0", json={"message": "hi"}, headers=bearer)
    assert chat.status_code == 200
    query = {"authToken": TOKEN}
    assert (await http.delete(f"/todo/{todo['id']}", params=query)).status_code == 200


async def test_the_description_stays_open_and_says_auth_is_on(http: httpx.AsyncClient) -> None:
    info = await http.get("/")
    assert info.status_code == 200
    assert info.json()["auth"] is True


async def test_without_a_token_configured_the_steps_are_open() -> None:
    async with (
        StubServer(port=0) as stub,
        httpx.AsyncClient(base_url=stub.http_url, trust_env=False, timeout=5) as http,
    ):
        assert (await http.post("/todo", json={"description": "x"})).status_code == 200
        bearer = {"Authorization": "Bearer anything"}  # ignored: nobody checks tokens
        assert (await http.get("/todo", headers=bearer)).status_code == 200
