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
    assert result.deliveries >= 0.9 * 100 * 150, result.summary()  # listeners kept up
    assert result.percentile(0.99) > 0
    assert result.peak_rss_mb > 0
    assert result.reconnects == 0


async def test_load_with_worker_processes_and_probes() -> None:
    """The long version's layout, small: clients in a worker process, probes measured here."""
    result = await run_load(sockets=30, rate=20, duration=1, items=10, workers=1, probes=5)
    assert result.problems == []
    assert result.converged == 30
    assert result.deliveries >= 0.9 * 5 * 20, result.summary()  # only probes are measured
