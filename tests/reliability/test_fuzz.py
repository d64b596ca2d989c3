"""Fuzz, short: hostile frames into the client's receive path, the stub's socket and HTTP
steps, and the SSE parser. Nothing raises out, nothing stops serving, and valid
input that follows the garbage is still applied.

Two kinds of generators: hypothesis strategies (``FRAMES``: shrinkable) and a
seeded generator (``hostile_frame``: mutations, huge strings, deep nesting), whose
seed hypothesis picks. ``make stress`` runs the same properties with many more
examples.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator

import httpx
import pytest
from httpx_sse import ServerSentEvent
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server_stub import StubServer
from tests.reliability.fuzz_server import (
    HTTP_REQUESTS,
    ServerErrors,
    http_request_is_handled,
    stub_socket_survives,
    stub_tcp_survives,
)
from tests.reliability.fuzz_sse import (
    SSE_EVENTS,
    SSE_RESPONSES,
    sse_event_is_handled,
    sse_stream_is_handled,
)
from tests.reliability.fuzzing import (
    FRAMES,
    client_survives,
    production_recursion_limit,
    session_survives,
    session_survives_frames,
    socket_client_survives,
)

SHORT = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    database=None,
)
SEEDS = st.integers(min_value=0, max_value=2**64 - 1)


@SHORT
@given(st.lists(FRAMES, min_size=1, max_size=20))
def test_session_receive_survives_generated_frames(frames: list[str | bytes]) -> None:
    session_survives_frames(frames)


@SHORT
@given(SEEDS, st.integers(20, 60))
def test_session_receive_survives_mutated_frames(seed: int, count: int) -> None:
    session_survives(random.Random(seed), count)


@settings(SHORT, max_examples=60)
@given(SEEDS, st.integers(20, 60))
def test_running_client_survives_hostile_frames(seed: int, count: int) -> None:
    asyncio.run(client_survives(random.Random(seed), count))


@pytest.mark.parametrize("transport", ["websockets"])
async def test_client_survives_hostile_frames_over_a_real_socket(transport: str) -> None:
    sent = await socket_client_survives(seed=9, transport=transport, count=300)
    assert sent["frames"] == 300
    assert sent["oversize"] == 1
    assert sent["reconnects"] >= 1  # the oversized frame, at least, cost a reconnect


# -- the stub ---------------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", ["motia", "iii"])
async def test_stub_socket_survives_hostile_frames(dialect: str) -> None:
    figures = await stub_socket_survives(seed=3, count=60, sockets=3, dialect=dialect)
    assert figures["frames"] == 180
    assert figures["probes_ok"] >= 2  # every socket the server had no reason to close


async def test_stub_port_survives_raw_tcp_garbage() -> None:
    await stub_tcp_survives(seed=5, count=40)


@pytest.fixture(scope="module")
def stub_http() -> Iterator[httpx.Client]:
    with (
        ServerErrors() as errors,
        StubServer(port=0).in_thread() as stub,
        httpx.Client(base_url=stub.http_url, timeout=10) as http,
    ):
        yield http
        assert http.get("/").status_code == 200  # still serving after all of it
    assert errors.messages == []


@settings(SHORT, max_examples=80)
@given(HTTP_REQUESTS)
def test_stub_http_steps_answer_hostile_requests_below_500(
    stub_http: httpx.Client, request: tuple[str, str, list[tuple[str, str]], str, bytes]
) -> None:
    http_request_is_handled(stub_http, request)


# -- the SSE parser -----------------------------------------------------------------------------


@SHORT
@given(SSE_EVENTS)
def test_sse_decoders_raise_only_motia_errors(sse: ServerSentEvent) -> None:
    with production_recursion_limit():
        sse_event_is_handled(sse)


@settings(SHORT, max_examples=60)
@given(SSE_RESPONSES)
def test_sse_streams_raise_only_motia_errors(response: tuple[int, str, list[bytes]]) -> None:
    with production_recursion_limit():
        sse_stream_is_handled(response)
