"""End to end: the examples, as users run them.

examples/watch_todos.py and watch_todos_async.py run against a running motia-stub.

``motia-stub --port <free>`` runs as a subprocess; both examples run as
subprocesses too (one given the URL on its command line, the other through
``MOTIA_URL``), and print each change while todos are created, completed and
deleted over HTTP, and again after a dropped connection (a resync). ``--seconds``
makes them stop by themselves. examples/test_with_fake_server.py (tests against
``motia_client.testing``) runs in a pytest of its own, configured as a user's would
be. Every process is stopped by the test, by PID.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from tests.client.wsserver import free_port

pytestmark = pytest.mark.timeout(90)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
STUB = Path(sys.executable).with_name("motia-stub")
SECONDS = 8  # how long each example watches (it stops by itself)


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


async def read_until(
    process: asyncio.subprocess.Process, wanted: Callable[[list[str]], bool], seen: list[str]
) -> None:
    """Read stdout lines into ``seen`` until ``wanted(seen)`` holds."""
    assert process.stdout is not None
    while not wanted(seen):
        line = await process.stdout.readline()
        assert line, f"the example ended early: {seen}"
        seen.append(line.decode().rstrip("\n"))


def change_lines(lines: list[str]) -> list[str]:
    """The change-feed lines (``+``, ``~``, ``-``) of an example's output."""
    return [line for line in lines if line[:2] in ("+ ", "~ ", "- ")]


async def test_both_examples_print_the_change_feed(stub: tuple[str, str]) -> None:
    ws_url, http_url = stub
    async with httpx.AsyncClient(base_url=http_url, timeout=10) as http:

        async def admin(action: str, **params: str) -> None:
            (await http.post(f"/_admin/{action}", params=params)).raise_for_status()

        news = (await http.post("/todo", json={"description": "read the news"})).json()
        runs = {
            "watch_todos.py": await start_example("watch_todos.py", ws_url, via_env=False),
            "watch_todos_async.py": await start_example(
                "watch_todos_async.py", ws_url, via_env=True
            ),
        }
        printed: dict[str, list[str]] = {name: [] for name in runs}

        async def until(count: int) -> None:
            """Wait until each example printed ``count`` change lines."""
            reads = [
                read_until(p, lambda seen: len(change_lines(seen)) >= count, printed[name])
                for name, p in runs.items()
            ]
            await asyncio.wait_for(asyncio.gather(*reads), 30)

        try:
            await until(1)  # synced: the todo already there, as an "added"
            # Live changes made through the todo steps: one line each, in order.
            milk = (await http.post("/todo", json={"description": "buy milk"})).json()
            dog = (await http.post("/todo", json={"description": "walk the dog"})).json()
            (await http.post(f"/todo/{milk['id']}/complete")).raise_for_status()
            (await http.delete(f"/todo/{dog['id']}")).raise_for_status()
            await until(5)
            # Changes the examples cannot see (the room stops delivering), then a dropped
            # connection: after the rejoin, the feed gives the net difference, as a resync.
            await admin("stall", stream="todo", groupId="inbox")
            (await http.post(f"/todo/{news['id']}/complete")).raise_for_status()
            (await http.delete(f"/todo/{milk['id']}")).raise_for_status()
            plants = (await http.post("/todo", json={"description": "water plants"})).json()
            brief = (await http.post("/todo", json={"description": "gone again"})).json()
            (await http.delete(f"/todo/{brief['id']}")).raise_for_status()
            await admin("unstall", stream="todo", groupId="inbox")
            await admin("drop")
            await until(8)
            for name, process in runs.items():  # --seconds: each stops by itself
                out, err = await asyncio.wait_for(process.communicate(), 30)
                printed[name] += out.decode().splitlines()
                assert process.returncode == 0, err.decode()
        finally:
            for process in runs.values():
                await stop(process)
    for lines in printed.values():
        assert lines[:2] == [f"watching todo/inbox at {ws_url}", "1 todo"]
        changes = change_lines(lines)
        assert changes[:5] == [
            f"+ read the news ({news['id']})",
            f"+ buy milk ({milk['id']})",
            f"+ walk the dog ({dog['id']})",
            f"~ buy milk [done] ({milk['id']})",
            f"- walk the dog ({dog['id']})",
        ]
        assert sorted(changes[5:]) == sorted(  # one resync: its order is not specified
            [
                f"~ read the news [done] ({news['id']}) (resync)",
                f"- buy milk [done] ({milk['id']}) (resync)",
                f"+ water plants ({plants['id']}) (resync)",
            ]
        )
        assert any(line.startswith("connection reconnecting: retrying in ") for line in lines)


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
