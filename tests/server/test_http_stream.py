"""The streaming steps: ``/sse`` items then done, ``/chat`` tokens then [DONE], the open-ai flow."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from server_stub import StubServer, textgen
from server_stub.http_stream import ADJECTIVES, NOUNS
from server_stub.limits import MAX_BACKGROUND_TASKS

from .conftest import join, open_client


def sse_frames(text: str) -> list[dict[str, str]]:
    """Parse an SSE body into frames of ``{"event": ..., "data": ...}``."""
    frames = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        frame: dict[str, str] = {}
        for line in block.split("\n"):
            field, _, value = line.partition(": ")
            frame[field] = value
        frames.append(frame)
    return frames


async def test_sse_streams_items_then_done(http: httpx.AsyncClient) -> None:
    response = await http.post("/sse?count=3&delay_ms=0&seed=7", data={"a": "1", "b": "2"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-cache"
    frames = sse_frames(response.text)
    assert [frame["event"] for frame in frames] == ["item", "item", "item", "done"]
    items = [json.loads(frame["data"]) for frame in frames[:3]]
    assert [item["id"] for item in items] == ["item-7-0", "item-7-1", "item-7-2"]
    assert [item["source"] for item in items] == [
        {"name": "a", "value": "1"},
        {"name": "b", "value": "2"},
        {"name": "a", "value": "1"},
    ]
    for item in items:
        adjective, noun = item["label"].split(" ")
        assert adjective in ADJECTIVES
        assert noun in NOUNS
        assert 0 <= item["score"] <= 100
    assert json.loads(frames[3]["data"]) == {"total": 3}
    assert response.text.endswith("\n\n")


async def test_sse_is_deterministic_with_a_seed_and_takes_json_bodies(
    http: httpx.AsyncClient,
) -> None:
    first = await http.post("/sse?delay_ms=0&seed=42", json={"topic": "x"})
    second = await http.post("/sse?delay_ms=0&seed=42", json={"topic": "x"})
    assert first.text == second.text
    frames = sse_frames(first.text)
    total = json.loads(frames[-1]["data"])["total"]
    assert 5 <= total <= 10
    assert len(frames) == total + 1
    assert json.loads(frames[0]["data"])["source"] == {"name": "topic", "value": "x"}


async def test_sse_without_body_has_no_source(http: httpx.AsyncClient) -> None:
    response = await http.post("/sse?count=2&delay_ms=0")
    frames = sse_frames(response.text)
    assert [json.loads(frame["data"])["source"] for frame in frames[:2]] == [None, None]
    assert json.loads(frames[0]["data"])["id"].startswith("item-")


async def test_sse_delay_spaces_the_frames(http: httpx.AsyncClient) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    response = await http.post("/sse?count=3&delay_ms=60&seed=1")
    assert loop.time() - started >= 0.15
    assert len(sse_frames(response.text)) == 4


async def test_sse_count_zero_is_just_done(http: httpx.AsyncClient) -> None:
    response = await http.post("/sse?count=0&delay_ms=0")
    assert sse_frames(response.text) == [{"event": "done", "data": '{"total":0}'}]


@pytest.mark.parametrize(
    "query", ["count=-1", "count=1001", "count=many", "delay_ms=99999", "seed=1.5"]
)
async def test_sse_rejects_bad_query_parameters(http: httpx.AsyncClient, query: str) -> None:
    response = await http.post(f"/sse?{query}")
    assert response.status_code == 400
    field = query.split("=")[0]
    assert response.json()["errors"][0]["field"] == field


async def test_chat_streams_openai_style_tokens_then_done(http: httpx.AsyncClient) -> None:
    response = await http.post("/chat?delay_ms=0", json={"message": "Tell me about streams"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    frames = sse_frames(response.text)
    assert all(set(frame) == {"data"} for frame in frames)
    assert frames[-1]["data"] == "[DONE]"
    pieces = [json.loads(frame["data"])["content"] for frame in frames[:-1]]
    assert len(pieces) > 5
    assert "".join(pieces) == textgen.reply("Tell me about streams")


async def test_chat_accepts_forms_and_rejects_missing_messages(http: httpx.AsyncClient) -> None:
    form = await http.post("/chat?delay_ms=0", data={"message": "hi"})
    assert sse_frames(form.text)[-1]["data"] == "[DONE]"
    for body in ({}, {"message": ""}, {"message": ["a"]}):
        response = await http.post("/chat", json=body)
        assert response.status_code == 400
        assert response.json()["errors"][0]["field"] == "message"


async def test_open_ai_creates_the_item_then_fills_it_token_by_token(
    stub: StubServer, http: httpx.AsyncClient
) -> None:
    response = await http.post("/open-ai?delay_ms=1", json={"message": "Write a haiku"})
    assert response.status_code == 200
    body = response.json()
    trace_id = body["traceId"]
    assert response.headers["x-trace-id"] == trace_id
    assert body == {"id": "message", "message": "", "traceId": trace_id}

    client = await open_client(stub.ws_url)
    await client.send(join("openai", trace_id, "message"))
    expected = textgen.reply("Write a haiku")
    seen: list[str] = []
    for _ in range(500):  # bounded: one frame per token
        frame = await client.recv()
        assert frame["id"] == "message"
        assert frame["groupId"] == trace_id
        message = frame["event"]["data"]["message"]
        assert expected.startswith(message)
        seen.append(message)
        if message == expected:
            break
    assert seen[-1] == expected
    assert len(seen) > 3
    assert await stub.store.get("openai", trace_id, "message") == {
        "id": "message",
        "message": expected,
    }
    await client.ws.close()


async def test_open_ai_rejects_bad_bodies(http: httpx.AsyncClient) -> None:
    response = await http.post("/open-ai", json={"prompt": "hi"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "message"


async def test_open_ai_is_503_when_too_many_answers_are_being_written(
    stub: StubServer, http: httpx.AsyncClient
) -> None:
    answers: list[Any] = []
    for _ in range(MAX_BACKGROUND_TASKS):
        answers.append(await http.post("/open-ai?delay_ms=5000", json={"message": "slow"}))
    assert all(answer.status_code == 200 for answer in answers)
    refused = await http.post("/open-ai?delay_ms=5000", json={"message": "one more"})
    assert refused.status_code == 503
    assert "retry" in refused.json()["error"]
    # stop() cancels the pending generations; the fixture's teardown proves it returns
