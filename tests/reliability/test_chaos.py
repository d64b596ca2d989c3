"""Chaos, short: random writes while the proxy cuts, delays and splits; states must converge.

The long version (10,000 operations on 1,000 items, cuts every 0.2-2 s) runs
under ``make stress``.
"""

from __future__ import annotations

import asyncio

import pytest

from motia_client import AsyncStreamClient, ReconnectPolicy
from server_stub import StubServer
from tests.reliability.harness import wait_until
from tests.reliability.scenario_chaos import run_chaos

FAST = ReconnectPolicy(initial=0.05, cap=0.3)


@pytest.mark.parametrize("transport", ["websockets", "picows"])
@pytest.mark.parametrize(("seed", "dialect"), [(1, "motia"), (2, "iii")])
async def test_states_equal_the_servers_after_random_cuts(
    seed: int, dialect: str, transport: str
) -> None:
    before = asyncio.all_tasks()
    result = await run_chaos(
        seed=seed,
        transport=transport,
        dialect=dialect,
        operations=500,
        items=100,
        watched=3,
        rate=400,
        cut_every=(0.1, 0.35),
        policy=FAST,
        converge_timeout=10,
    )
    assert result.problems == []
    assert result.mismatches == 0
    assert result.operations == 500
    assert result.cuts + result.mid_frame_cuts >= 2, result.summary()  # really under fire
    assert result.reconnects >= 2
    assert 0 < result.events_seen <= result.events_sent
    assert result.converge_seconds < 10
    assert asyncio.all_tasks() == before  # client, proxy and stub left nothing behind


async def test_motia_dialect_item_deleted_while_disconnected() -> None:
    """Motia 0.x answers the rejoin of a missing item with nothing: the client settles it."""
    async with StubServer(port=0, dialect="motia", streams=["s"]) as stub:
        await stub.store.set("s", "g", "i", {"v": 1})
        async with AsyncStreamClient(stub.ws_url, reconnect=FAST) as client:
            item = client.subscribe_item("s", "g", "i")
            await item.wait_for(lambda state: state is not None, timeout=5)
            await stub.drop_connections()
            await stub.store.delete("s", "g", "i")
            await wait_until(lambda: stub.connection_count == 1, what="reconnected")
            await item.wait_for(lambda state: state is None, timeout=5)
            await stub.store.set("s", "g", "i", {"v": 2})  # and it can come back
            back = await item.wait_for(lambda state: state is not None, timeout=5)
            assert back["v"] == 2


async def test_iii_dialect_item_deleted_while_disconnected_is_none() -> None:
    """The same scenario in the iii dialect converges (a missing item syncs as null)."""
    async with StubServer(port=0, dialect="iii", streams=["s"]) as stub:
        await stub.store.set("s", "g", "i", {"v": 1})
        async with AsyncStreamClient(stub.ws_url, reconnect=FAST) as client:
            item = client.subscribe_item("s", "g", "i")
            await item.wait_for(lambda state: state is not None, timeout=5)
            await stub.drop_connections()
            await stub.store.delete("s", "g", "i")
            await item.wait_for(lambda state: state is None, timeout=5)
