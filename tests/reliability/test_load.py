"""Load, short: 100 sockets on one stub process, 50 updates a second for 3 s.

The long version (500 sockets for 60 s, clients spread over worker processes,
latency measured on probe clients) runs under ``make stress``.
"""

from __future__ import annotations

from tests.reliability.scenario_load import run_load


async def test_every_client_converges_under_load() -> None:
    result = await run_load(sockets=100, rate=50, duration=3, items=50)
    assert result.problems == []
    assert result.converged == 100
    assert result.updates == 150
    # Every listener saw every update, each once (the watchers count them in order).
    assert result.deliveries == 100 * 150, result.summary()
    assert len(result.latencies) == result.deliveries
    # Kept up: each todo changes once a second (50 todos, 50 updates/s), so a listener
    # later than that is falling behind, not just slow (measured: p99 about 11 ms).
    assert result.percentile(0.99) < 1000 * 50 / 50, result.summary()
    # The stub's peak memory for 100 sockets (measured: 44 MB, mostly the interpreter
    # and its web stack); about 3x that means something grows with sockets or frames.
    assert result.peak_rss_mb < 128, result.summary()
    assert result.reconnects == 0


async def test_load_with_worker_processes_and_probes() -> None:
    """The long version's layout, small: clients in a worker process, probes measured here."""
    result = await run_load(sockets=30, rate=20, duration=1, items=10, workers=1, probes=5)
    assert result.problems == []
    assert result.converged == 30  # the worker's 25 clients and the 5 probes
    assert result.updates == 20
    assert result.deliveries == 5 * 20, result.summary()  # only probes are measured
    assert len(result.latencies) == result.deliveries
    assert result.reconnects == 0
