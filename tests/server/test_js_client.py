"""The official JavaScript client against the stub: its group and item state match the server.

Runs where ``node`` and ``npm`` exist: installs ``@motiadev/stream-client-node`` into a
temporary folder (``npm install --ignore-scripts``), starts a small script that
subscribes to the todo inbox and one todo and prints every state change as a JSON
line, then creates, completes and deletes todos over HTTP and compares.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from server_stub import StubServer

PACKAGE = "@motiadev/stream-client-node@0.17.6-beta.187"
INSTALL_TIMEOUT = 300
STATE_TIMEOUT = 10.0

SCRIPT = """
import { Stream } from '@motiadev/stream-client-node'

const [url, todoId, token] = process.argv.slice(2)
const stream = new Stream(url, token ? { protocols: ['Authorization', token] } : undefined)
const emit = (kind, state) => process.stdout.write(JSON.stringify({ kind, state }) + '\\n')
const group = stream.subscribeGroup('todo', 'inbox')
const item = stream.subscribeItem('todo', 'inbox', todoId)
group.addChangeListener((state) => emit('group', state))
item.addChangeListener((state) => emit('item', state))
process.stdin.on('data', () => { stream.close(); process.exit(0) })
"""


@pytest.fixture(scope="module")
def js_client_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the official Node client installed and the test script next to it."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        missing = " and ".join(name for name, path in (("node", node), ("npm", npm)) if not path)
        pytest.skip(f"{missing} not found on PATH: cannot run the official JavaScript client")
    folder = tmp_path_factory.mktemp("js-client")
    (folder / "package.json").write_text('{"name": "stub-js-check", "private": true}')
    result = subprocess.run(
        [
            npm,
            "install",
            "--ignore-scripts",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
            PACKAGE,
        ],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, f"npm install {PACKAGE} failed:\n{result.stderr[-2000:]}"
    (folder / "watch.mjs").write_text(SCRIPT)
    return folder


class JsWatcher:
    """The Node script's latest group and item states, read from its stdout."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.state: dict[str, Any] = {}

    async def until(self, check: Callable[[dict[str, Any]], bool], what: str) -> None:
        """Read state lines until ``check(state)`` holds (bounded in time)."""
        assert self.proc.stdout is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STATE_TIMEOUT
        while not check(self.state):
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"JS client never reached: {what}; last state {self.state}")
            try:
                line = await asyncio.wait_for(self.proc.stdout.readline(), remaining)
            except asyncio.TimeoutError:
                continue
            if not line:
                raise AssertionError(f"JS client exited early; last state {self.state}")
            message = json.loads(line)
            self.state[message["kind"]] = message["state"]


async def _run_scenario(folder: Path, stub: StubServer, token: str | None) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(
        base_url=stub.http_url, trust_env=False, timeout=5, headers=headers
    ) as http:

        async def server_view(todo_id: str) -> dict[str, Any]:
            return {
                "group": await stub.store.list_group("todo", "inbox"),
                "item": await stub.store.get("todo", "inbox", todo_id),
            }

        first = (await http.post("/todo", json={"description": "first"})).json()
        argv = [str(folder / "watch.mjs"), stub.ws_url, first["id"], *([token] if token else [])]
        proc = await asyncio.create_subprocess_exec(
            shutil.which("node") or "node",
            *argv,
            cwd=folder,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        watcher = JsWatcher(proc)
        try:
            expected = await server_view(first["id"])
            await watcher.until(lambda s: s == expected, "the initial syncs")

            # The official item client drops a frame whose timestamp equals the last one
            # (PROTOCOL.md section 5); let the clock move on before each change.
            await asyncio.sleep(0.005)
            second = (await http.post("/todo", json={"description": "second"})).json()
            expected = await server_view(first["id"])
            assert [todo["id"] for todo in expected["group"]] == [first["id"], second["id"]]
            await watcher.until(lambda s: s == expected, "the create")

            await asyncio.sleep(0.005)
            assert (await http.post(f"/todo/{first['id']}/complete")).status_code == 200
            expected = await server_view(first["id"])
            assert expected["item"]["completedAt"]
            await watcher.until(lambda s: s == expected, "the completion")

            await asyncio.sleep(0.005)
            assert (await http.delete(f"/todo/{first['id']}")).status_code == 200
            expected = await server_view(first["id"])
            assert expected["item"] is None
            await watcher.until(lambda s: s == expected, "the delete")
        finally:
            assert proc.stdin is not None
            if proc.returncode is None:
                proc.stdin.write(b"close\n")
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except asyncio.TimeoutError:
                proc.kill()
                await proc.wait()


async def test_official_js_client_state_matches_the_server(js_client_dir: Path) -> None:
    async with StubServer(port=0) as stub:
        await _run_scenario(js_client_dir, stub, token=None)


async def test_official_js_client_with_a_subprotocol_token_on_iii(js_client_dir: Path) -> None:
    async with StubServer(port=0, dialect="iii", token="js-token") as stub:
        await _run_scenario(js_client_dir, stub, token="js-token")
