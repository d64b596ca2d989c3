"""End to end: MotiaHttp and AsyncMotiaHttp against the reference server's HTTP steps.

The seed steps ``POST /todo``, ``POST /todo/{id}/complete``, ``DELETE /todo/{id}``,
``POST /sse`` (form or JSON body; ``?count=&delay_ms=&seed=``), ``POST /chat``
(OpenAI-style SSE) and ``POST /open-ai``. The server runs in its own thread so
the blocking client can be driven from the test.

Skipped, with the reason printed, while ``server_stub.StubServer`` does not exist.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Iterator
from typing import Any

import pydantic
import pytest

from motia_client import AsyncMotiaHttp, HttpError, MotiaHttp
from tests.client.test_http_harness import FLAVORS, Driver

try:
    StubServer: Any = importlib.import_module("server_stub").StubServer
except (ImportError, AttributeError) as exc:
    pytest.skip(
        f"server_stub.StubServer is not available ({exc}); the HTTP end-to-end tests need it",
        allow_module_level=True,
    )


class Todo(pydantic.BaseModel):
    """The seed's CreateTodo response schema (extra fields allowed)."""

    model_config = pydantic.ConfigDict(extra="allow")
    id: str
    description: str
    createdAt: str


@pytest.fixture(scope="module")
def stub_url() -> Iterator[str]:
    """One reference server for the module, on 127.0.0.1 and a free port."""
    with StubServer(host="127.0.0.1", port=0).in_thread() as stub:
        yield stub.http_url


@FLAVORS
async def test_todo_lifecycle(flavor: str, stub_url: str) -> None:
    """Create (validated into a model), complete, delete; a second delete is a 404."""
    driver = Driver(flavor, stub_url)
    todo = await driver.call("POST", "/todo", json={"description": "buy milk"}, response_model=Todo)
    assert todo.description == "buy milk"
    assert todo.id.startswith("todo-")
    completed = await driver.call("POST", f"/todo/{todo.id}/complete")
    assert completed["ok"] is True
    assert completed["todo"]["completedAt"]
    deleted = await driver.call("DELETE", f"/todo/{todo.id}")
    assert deleted["todo"]["id"] == todo.id
    with pytest.raises(HttpError) as info:
        await driver.call("DELETE", f"/todo/{todo.id}")
    assert info.value.status == 404
    assert todo.id in info.value.body["error"]
    assert (info.value.method, info.value.url) == ("DELETE", f"{stub_url}/todo/{todo.id}")


@FLAVORS
async def test_todo_without_description_is_a_400_with_a_json_body(
    flavor: str, stub_url: str
) -> None:
    with pytest.raises(HttpError) as info:
        await Driver(flavor, stub_url).call("POST", "/todo", json={})
    assert info.value.status == 400
    assert isinstance(info.value.body, dict)
    assert info.value.url == stub_url + "/todo"


@FLAVORS
@pytest.mark.parametrize("body", ["form", "json"])
async def test_sse_items_then_done(flavor: str, body: str, stub_url: str) -> None:
    """The seed's shape: `item` frames carrying the body's fields, then `done` with the total."""
    fields = {"color": "red"}
    kwargs: dict[str, Any] = {"data": fields} if body == "form" else {"json": fields}
    params = {"count": 4, "delay_ms": 0, "seed": 7}
    events = await Driver(flavor, stub_url).events("POST", "/sse", params=params, **kwargs)
    assert [e.event for e in events] == ["item"] * 4 + ["done"]
    assert events[-1].data == {"total": 4}
    for event in events[:-1]:
        assert {"id", "label", "score"} <= set(event.data)
        assert event.data["source"] == {"name": "color", "value": "red"}


@FLAVORS
async def test_sse_early_break_then_the_client_still_works(flavor: str, stub_url: str) -> None:
    """Leaving a slow stream (50 items, 100 ms apart) after one event returns at once
    and leaves the client usable for the next call."""
    params = {"count": 50, "delay_ms": 100, "seed": 1}
    started = time.monotonic()
    if flavor == "sync":
        with MotiaHttp(stub_url) as http:
            for _ in http.stream_events("POST", "/sse", params=params):
                break
            answer = http.call("POST", "/todo", json={"description": "after"})
    else:
        async with AsyncMotiaHttp(stub_url) as ahttp:
            async for _ in ahttp.stream_events("POST", "/sse", params=params):
                break
            answer = await ahttp.call("POST", "/todo", json={"description": "after"})
    assert answer["description"] == "after"
    assert time.monotonic() - started < 3.0


@FLAVORS
async def test_chat_streams_text_up_to_done(flavor: str, stub_url: str) -> None:
    """The deterministic local "AI" answers the same text for the same message, JSON or form."""
    driver = Driver(flavor, stub_url)
    quick = {"delay_ms": 0}
    chunks = await driver.chat("POST", "/chat", json={"message": "hello"}, params=quick)
    assert len(chunks) > 1
    text = "".join(c.content for c in chunks)
    assert text.strip()
    again = await driver.chat_text("POST", "/chat", data={"message": "hello"}, params=quick)
    assert again == text


@FLAVORS
async def test_chat_with_a_bad_body_is_a_400_before_any_chunk(flavor: str, stub_url: str) -> None:
    with pytest.raises(HttpError) as info:
        await Driver(flavor, stub_url).chat("POST", "/chat", json={"message": ""})
    assert info.value.status == 400
    assert "message" in info.value.body["error"]


@FLAVORS
async def test_open_ai_step_answers_the_empty_item_and_its_trace_id(
    flavor: str, stub_url: str
) -> None:
    answer = await Driver(flavor, stub_url).call("POST", "/open-ai", json={"message": "hi"})
    assert answer["message"] == ""
    assert answer["traceId"]
