"""Restart, short: SIGKILL the stub process, start it again on the same port with new
contents; the client converges with no duplicate subscription, listener or task.

The long version (many cycles, both transports and dialects) runs under ``make stress``.
"""

from __future__ import annotations

import pytest

from tests.reliability.scenario_restart import run_restart
from tests.reliability.stub_process import StubProcess


@pytest.mark.parametrize(("transport", "dialect"), [("websockets", "motia"), ("websockets", "iii")])
async def test_client_converges_to_a_restarted_stub(transport: str, dialect: str) -> None:
    result = await run_restart(
        transport=transport, dialect=dialect, cycles=1, todos=8, downtime=(0.6, 0.6), seed=1
    )
    assert result.problems == []
    assert result.cycles == 1
    assert result.attempts >= 1  # it really retried while the port was closed
    assert result.longest_converge < 10


async def test_stub_process_is_killed_by_pid_and_its_port_reused() -> None:
    first = StubProcess()
    await first.start()
    pid, port = first.pid, first.port
    await first.kill()
    assert first.process is not None
    assert first.process.returncode == -9  # SIGKILL, as the restart scenario needs
    second = StubProcess(port=port)
    await second.start()
    try:
        assert second.port == port
        assert second.pid != pid
    finally:
        await second.stop()
    assert second.process is not None
    assert second.process.returncode == 0  # SIGTERM: a clean stop
