"""End to end: the examples, as users run them.

examples/watch_todos.py and watch_todos_async.py run against a running motia-stub.

``motia-stub --port <free>`` runs as a subprocess; both examples run as
subprocesses too (one given the URL on its command line, the other through
``MOTIA_URL``), and print each change while todos are created, completed and
deleted over HTTP. ``--seconds`` makes them stop by themselves.
examples/test_with_fake_server.py (tests against ``motia_client.testing``) runs
in a pytest of its own, configured as a user's would be. Every process is
stopped by the test, by PID.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.client.wsserver import free_port

pytestmark = pytest.mark.timeout(90)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
STUB = Path(sys.executable).with_name("motia-stub")
SECONDS = 4  # how long each example watches


async def stop(process: asyncio.subprocess.Process) -> None:
    """Terminate ``process`` (by its PID), then kill it if it lingers."""
    if process.returncode is None:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except asyncio.TimeoutError:
            process.kill()
            await process.wait()


@pytest.fixture
async def stub() -> AsyncIterator[tuple[str, str]]:
    """``motia-stub`` on a free port; yields its ``(ws_url, http_url)``."""
    port = free_port()
    command = [str(STUB)] if STUB.exists() else [sys.executable, "-m", "server_stub"]
    process = await asyncio.create_subprocess_exec(
        *command,
        "--port",
        str(port),
        "--log-level",
        "warning",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    http_url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(timeout=2) as http:
            for _ in range(300):  # up to ~15 s for the server to listen
                assert process.returncode is None, "motia-stub exited while starting"
                try:
                    await http.get(f"{http_url}/")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
            else:
                pytest.fail("motia-stub did not start listening")
        yield f"ws://127.0.0.1:{port}/", http_url
    finally:
        await stop(process)


async def start_example(script: str, ws_url: str, *, via_env: bool) -> asyncio.subprocess.Process:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    args = [str(EXAMPLES / script), "--seconds", str(SECONDS)]
    if via_env:
        env["MOTIA_URL"] = ws_url
    else:
        args.insert(1, ws_url)
    return await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def read_until(process: asyncio.subprocess.Process, wanted: str, seen: list[str]) -> None:
    """Read stdout lines into ``seen`` until one equals ``wanted``."""
    assert process.stdout is not None
    while wanted not in seen:
        line = await process.stdout.readline()
        assert line, f"the example ended before printing {wanted!r}: {seen}"
        seen.append(line.decode().rstrip("\n"))


async def test_both_examples_print_each_change(stub: tuple[str, str]) -> None:
    ws_url, http_url = stub
    runs = {
        "watch_todos.py": await start_example("watch_todos.py", ws_url, via_env=False),
        "watch_todos_async.py": await start_example("watch_todos_async.py", ws_url, via_env=True),
    }
    printed: dict[str, list[str]] = {name: [] for name in runs}
    try:
        ready = [read_until(p, "0 todos", printed[name]) for name, p in runs.items()]
        await asyncio.wait_for(asyncio.gather(*ready), 30)
        async with httpx.AsyncClient(base_url=http_url, timeout=10) as http:
            milk = (await http.post("/todo", json={"description": "buy milk"})).json()
            dog = (await http.post("/todo", json={"description": "walk the dog"})).json()
            (await http.post(f"/todo/{milk['id']}/complete")).raise_for_status()
            (await http.delete(f"/todo/{dog['id']}")).raise_for_status()
        for name, process in runs.items():  # --seconds: each stops by itself
            out, err = await asyncio.wait_for(process.communicate(), 30)
            printed[name] += out.decode().splitlines()
            assert process.returncode == 0, err.decode()
    finally:
        for process in runs.values():
            await stop(process)
    for lines in printed.values():
        assert lines == [
            f"watching todo/inbox at {ws_url}",
            "0 todos",
            f"+ buy milk ({milk['id']})",
            f"+ walk the dog ({dog['id']})",
            f"~ buy milk [done] ({milk['id']})",
            f"- walk the dog ({dog['id']})",
        ]


async def test_the_testing_example_passes_under_a_users_plain_pytest(tmp_path: Path) -> None:
    """examples/test_with_fake_server.py, the "Testing your code" page's example, run as a
    user would: its own pytest run, with pytest-asyncio in its default (strict) mode."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pytest",
        str(EXAMPLES / "test_with_fake_server.py"),
        "-q",
        "-p",
        "no:cacheprovider",
        "-c",
        str(tmp_path / "pytest.ini"),
        "--rootdir",
        str(tmp_path),
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out, _ = await asyncio.wait_for(process.communicate(), 60)
    finally:
        await stop(process)
    text = out.decode()
    assert process.returncode == 0, text
    assert "7 passed" in text, text
    assert "warning" not in text.lower(), text
