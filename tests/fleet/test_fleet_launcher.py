"""``make fleet`` (``python -m server_stub.fleet``): Redis and instances that share it, all
stopped by PID on Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys

import httpx

from tests.fleet.redis_process import free_port, require_redis


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_the_fleet_serves_one_set_of_streams_and_ctrl_c_stops_every_process() -> None:
    require_redis()
    base = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "server_stub.fleet", "--instances", "2", "--base-port", str(base)),
        *("--redis-port", str(free_port())),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        while not any(line.startswith("Ctrl-C stops") for line in lines):
            raw = await asyncio.wait_for(proc.stdout.readline(), 30)
            assert raw, "\n".join(lines)
            lines.append(raw.decode().rstrip())
        pids = [int(pid) for pid in re.findall(r"pid (\d+)", "\n".join(lines))]
        assert len(pids) == 3  # redis and two instances
        assert all(_alive(pid) for pid in pids)
        async with httpx.AsyncClient(trust_env=False, timeout=10) as http:
            todo = (
                await http.post(f"http://127.0.0.1:{base}/todo", json={"description": "hi"})
            ).json()
            listed = (await http.get(f"http://127.0.0.1:{base + 1}/todo")).json()
        assert listed == [todo]
        proc.send_signal(signal.SIGINT)
        rest, _ = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0
        assert rest.decode().rstrip().endswith("[fleet] stopped")
        assert not any(_alive(pid) for pid in pids)
    finally:
        if proc.returncode is None:  # a failure above: let the fleet stop its own processes
            proc.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(proc.communicate(), 30)
            except asyncio.TimeoutError:
                proc.kill()
                await proc.wait()
