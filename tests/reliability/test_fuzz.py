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

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.reliability.fuzzing import (
    FRAMES,
    client_survives,
    router_survives,
    router_survives_frames,
    socket_client_survives,
)

SHORT = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)
SEEDS = st.integers(min_value=0, max_value=2**64 - 1)


@SHORT
@given(st.lists(FRAMES, min_size=1, max_size=20))
def test_router_receive_survives_generated_frames(frames: list[str | bytes]) -> None:
    router_survives_frames(frames)


@SHORT
@given(SEEDS, st.integers(20, 60))
def test_router_receive_survives_mutated_frames(seed: int, count: int) -> None:
    router_survives(random.Random(seed), count)


@settings(SHORT, max_examples=60)
@given(SEEDS, st.integers(20, 60))
def test_running_client_survives_hostile_frames(seed: int, count: int) -> None:
    asyncio.run(client_survives(random.Random(seed), count))


@pytest.mark.parametrize("transport", ["websockets", "picows"])
async def test_client_survives_hostile_frames_over_a_real_socket(transport: str) -> None:
    sent = await socket_client_survives(seed=9, transport=transport, count=300)
    assert sent["frames"] == 300
    assert sent["oversize"] == 1
    assert sent["reconnects"] >= 1  # the oversized frame, at least, cost a reconnect
