"""Fixtures for the fleet tests: one real redis-server per session, a key prefix per test.

Every test gets its own key prefix (``--redis-prefix``), so tests share the
server without seeing each other's items, sequence numbers or channel.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from server_stub import StubServer
from tests.fleet.redis_process import RedisProcess, redis_missing

TEST_STREAMS = ("s",)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisProcess]:
    """A redis-server on a free loopback port for the whole session (skips, saying why,
    only where redis-server or the redis package cannot be had)."""
    reason = redis_missing()
    if reason is not None:
        pytest.skip(reason)
    with RedisProcess() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisProcess) -> str:
    return redis_server.url


@pytest.fixture
def prefix() -> str:
    """A key prefix of this test's own."""
    return f"test-{uuid.uuid4().hex[:12]}:"


@pytest.fixture
async def pair(redis_url: str, prefix: str) -> AsyncIterator[tuple[StubServer, StubServer]]:
    """Two stub servers (A, B) sharing one Redis: a fleet of two in this process."""
    async with (
        StubServer(port=0, store=redis_url, redis_prefix=prefix, streams=TEST_STREAMS) as a,
        StubServer(port=0, store=redis_url, redis_prefix=prefix, streams=TEST_STREAMS) as b,
    ):
        yield a, b
