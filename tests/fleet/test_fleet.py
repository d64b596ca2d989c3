"""The fleet scenario's short form (``make test``): 3 stub processes on one Redis, 20
clients failing over between them, 500 writes, SIGKILLs and cuts; the full one is
``make stress`` (``python -m tests.reliability.stress fleet``)."""

from __future__ import annotations

from typing import Any

import pytest

from motia_client import ItemChange
from tests.fleet.redis_process import require_redis
from tests.fleet.scenario_fleet import FleetResult, _Watcher, run_fleet


@pytest.mark.timeout(90)
async def test_a_fleet_under_kills_and_cuts_converges_without_a_stale_frame() -> None:
    require_redis()
    result = await run_fleet(writes=500, kills=2, cuts=2, clients=20, instances=3, seed=1)
    print(result.summary())
    assert result.problems == []
    assert result.stale == []
    assert result.mismatches == 0
    assert result.kills == 2
    assert result.cuts == 2
    assert result.failovers >= 1  # a killed instance's clients moved to another one
    assert result.acked >= 400
    assert result.latencies_ms  # writes were seen live across instances


def test_the_stale_frame_check_sees_a_todo_coming_back() -> None:
    """The scenario's own detector: a deleted todo re-applied, or completed then open."""
    result = FleetResult(instances=1, clients=1)
    watcher = _Watcher(0, client=None, groups=("g",), result=result)  # type: ignore[arg-type]
    todo: dict[str, Any] = {"id": "t", "description": "d", "createdAt": "x"}
    done = {**todo, "completedAt": "y"}
    watcher.on_item("g", ItemChange("added", "t", None, todo))
    watcher.on_item("g", ItemChange("modified", "t", todo, done))
    assert result.stale == []
    watcher.on_item("g", ItemChange("modified", "t", done, todo))
    watcher.on_item("g", ItemChange("removed", "t", todo, None))
    watcher.on_item("g", ItemChange("added", "t", None, todo, resync=True))
    assert len(result.stale) == 2
    watcher.on_stats({"created": 5})
    watcher.on_stats({"created": 4})
    assert len(result.stale) == 3
