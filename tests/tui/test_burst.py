"""1,000 updates in a second through the store: the app keeps up and converges.

The table follows them through the change feed, at most once a frame."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from server_stub import StubServer
from tests.tui.helpers import SIZE, make_app, todo, wait_until

SEEDED = 50
WRITES = 1_000
BATCHES = 20  # 50 writes every 50 ms: 1,000 in about a second


async def burst(stub: StubServer) -> None:
    """Updates to the seeded todos, creates of new ones, deletes of some new ones."""
    n = 0
    for _ in range(BATCHES):
        for _ in range(WRITES // BATCHES):
            n += 1
            if n % 10 == 0:  # a new todo
                row = f"new{n:04d}"
                await stub.store.set("todo", "inbox", row, todo(row, f"new {n}"))
            elif n % 10 == 5 and n > 20:  # delete a new todo made earlier
                victim = f"new{(n - 15):04d}"
                if await stub.store.get("todo", "inbox", victim) is not None:
                    await stub.store.delete("todo", "inbox", victim)
            else:  # update a seeded todo in place
                row = f"t{n % SEEDED:03d}"
                await stub.store.set("todo", "inbox", row, todo(row, f"todo {row} v{n}"))
        await asyncio.sleep(WRITES / BATCHES / 1000)


async def watch_lag(lags: list[float], running: Callable[[], bool]) -> None:
    """How late a 5 ms sleep wakes up on the shared loop, while ``running()``."""
    loop = asyncio.get_running_loop()
    while running():
        before = loop.time()
        await asyncio.sleep(0.005)
        lags.append(loop.time() - before - 0.005)


async def test_a_burst_of_updates_is_coalesced_and_converges() -> None:
    async with StubServer(host="127.0.0.1", port=0) as stub:
        for i in range(SEEDED):
            await stub.store.set("todo", "inbox", f"t{i:03d}", todo(f"t{i:03d}", f"todo {i}"))
        app = make_app(stub.ws_url)
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: app.table.row_count == SEEDED, what="the seeded rows")
            changes_before, frames_before = app.stats.changes, app.stats.frames
            applied_before, compares_before = app.stats.applied, app.stats.full_compares
            writer = asyncio.create_task(burst(stub))
            lags: list[float] = []
            watcher = asyncio.create_task(watch_lag(lags, lambda: not writer.done()))
            await asyncio.sleep(0.2)
            for _ in range(3):  # keys typed during the burst are handled during the burst
                app.simulate_key("down")
            await wait_until(pilot, lambda: app.table.selected_id == "t003", what="the cursor")
            pressed_during_burst = not writer.done()
            await writer
            await watcher

            expected = await stub.store.list_group("todo", "inbox")
            expected_ids = [item["id"] for item in expected]

            def converged() -> bool:
                return app.table.shown_ids == expected_ids and all(
                    app.table.item(item["id"]) == item for item in expected
                )

            await wait_until(pilot, converged, timeout=5, what="the table to match the store")
            for item in expected:
                assert str(app.table.get_cell(item["id"], "description")) == item["description"]
            assert app.table.selected_id == "t003"  # three rows down, through all that
            assert pressed_during_burst

            changes = app.stats.changes - changes_before
            frames = app.stats.frames - frames_before
            applied = app.stats.applied - applied_before
            max_lag = max(lags)
            print(
                f"\nburst: {changes} changes, {frames} frames, {applied} table updates, "
                f"slowest update {app.stats.max_apply_seconds * 1000:.1f} ms, "
                f"max loop lag {max_lag * 1000:.1f} ms, {app.stats.item_changes} item changes, "
                f"{app.stats.full_compares} full compares"
            )
            assert changes >= WRITES * 0.9  # (deletes of missing ids are skipped)
            assert applied <= frames  # at most one table update per frame
            assert applied < changes / 5  # coalesced: far fewer updates than changes
            assert app.stats.full_compares == compares_before  # every update from the feed
            assert max_lag < 1.0  # never frozen (typically 50-250 ms, on a loaded 2-CPU box)
