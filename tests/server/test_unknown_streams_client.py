"""A typo in a stream name is a refused subscription for the real client, in both dialects."""

from __future__ import annotations

import asyncio

import pytest

from motia_client import AsyncStreamClient, MotiaError, SubscriptionRefused
from server_stub import StubServer


@pytest.mark.parametrize(
    ("dialect", "said"), [("motia", "Stream todoo not found"), ("iii", "unauthorized")]
)
async def test_the_client_sees_a_refusal_not_an_empty_group(dialect: str, said: str) -> None:
    async with (
        StubServer(port=0, dialect=dialect) as stub,  # type: ignore[arg-type]
        AsyncStreamClient(stub.ws_url) as client,
    ):
        typo = client.subscribe_group("todoo", "inbox")
        typo_item = client.subscribe_item("todoo", "inbox", "t1")
        good = client.subscribe_group("todo", "inbox")
        errors: list[MotiaError] = []
        typo.on_error(errors.append)
        await good.wait_for(lambda items: True, timeout=5)
        for _ in range(100):  # bounded: the refusals follow the good sync within ms
            if typo.error is not None and typo_item.error is not None:
                break
            await asyncio.sleep(0.02)
        assert isinstance(typo.error, SubscriptionRefused)
        assert isinstance(typo_item.error, SubscriptionRefused)
        assert said in str(typo.error)
        await asyncio.sleep(0.1)
        assert len(errors) == 1  # the second 0.x error frame adds nothing
        assert client.is_connected  # refused, not disconnected


async def test_a_declared_stream_is_served() -> None:
    async with (
        StubServer(port=0, streams=["metrics"]) as stub,
        AsyncStreamClient(stub.ws_url) as client,
    ):
        sub = client.subscribe_group("metrics", "cpu")
        await stub.store.set("metrics", "cpu", "m1", {"load": 0.5})
        items = await sub.wait_for(lambda items: len(items) == 1, timeout=5)
        assert items[0]["load"] == 0.5
