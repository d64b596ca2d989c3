"""Regression tests for the bugs the reliability work found, one per fix.

Each test names the symptom it guards against; the fuller scenarios that found
them live in the other modules of this package.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from urllib.parse import quote_plus

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.typing import Subprotocol

from motia_client import AsyncStreamClient

TOKEN = "regression-Token-7f3a9c"
BASE64_TOKEN = "c2VjcmV0/dG9r+ZW4=="


def _pick_authorization(ws: ServerConnection, offered: Sequence[Subprotocol]) -> Subprotocol | None:
    return Subprotocol("Authorization") if "Authorization" in offered else None


async def _accept_and_sync(ws: ServerConnection) -> None:
    await ws.recv()
    await ws.send(
        '{"timestamp":1,"streamName":"s","groupId":"g","event":{"type":"sync","data":[]}}'
    )
    await ws.wait_closed()


@pytest.mark.parametrize(
    ("auth", "token"),
    [
        ("subprotocol", TOKEN),
        ("header", TOKEN),
        ("query", TOKEN),
        ("query", BASE64_TOKEN),  # travels percent-encoded in the request line
    ],
)
async def test_websockets_debug_log_masks_the_token(
    auth: str, token: str, caplog: pytest.LogCaptureFixture
) -> None:
    """websockets logs every handshake header at DEBUG: the token must be masked there."""
    caplog.set_level(logging.DEBUG)
    async with serve(
        _accept_and_sync,
        "127.0.0.1",
        0,
        select_subprotocol=_pick_authorization,
    ) as server:
        port = server.sockets[0].getsockname()[1]
        client = AsyncStreamClient(
            f"ws://127.0.0.1:{port}/",
            token=token,
            auth=auth,
            transport="websockets",  # type: ignore[arg-type]
        )
        async with client:
            sub = client.subscribe_group("s", "g")
            await sub.wait_for(lambda items: True, timeout=5)
    handshake = [
        r for r in caplog.records if r.name == "websockets.client" and "> " in r.getMessage()
    ]
    assert handshake, "websockets logged no handshake at DEBUG: the test would prove nothing"
    client_side = [r for r in caplog.records if not r.name.startswith("websockets.server")]
    forms = (token, quote_plus(token), token.split("/")[0])
    leaked = [r.getMessage() for r in client_side if any(f in r.getMessage() for f in forms)]
    assert leaked == []
    assert any("***" in r.getMessage() for r in handshake)
