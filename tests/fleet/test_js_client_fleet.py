"""The official Node client on instance B sees the writes made through instance A.

Uses ``@motiadev/stream-client-node`` from ``benchmarks/.peers`` (installed on first
use by ``benchmarks.setup_peers``; skipped with the reason only where node or npm is
missing) and the watcher script of ``tests/server/test_js_client.py``.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from benchmarks.setup_peers import NODE_DIR, ensure_node_peer
from server_stub import StubServer
from tests.server.test_js_client import SCRIPT, JsWatcher


@pytest.fixture(scope="module")
def node_script() -> Iterator[Path]:
    """The watcher script next to the installed official Node client."""
    status = ensure_node_peer(quiet=True)
    if not status.ok and status.detail.startswith("skipped"):
        pytest.skip(f"{status.name}: {status.detail}")
    assert status.ok, f"{status.name}: {status.detail}"
    script = NODE_DIR / "fleet-watch.mjs"
    script.write_text(SCRIPT)
    yield script
    script.unlink(missing_ok=True)


@pytest.mark.parametrize("dialect", ["motia", "iii"])
async def test_the_official_node_client_on_b_sees_writes_made_through_a(
    node_script: Path, redis_url: str, prefix: str, dialect: str
) -> None:
    async with (
        StubServer(port=0, store=redis_url, redis_prefix=prefix, dialect=dialect) as a,  # type: ignore[arg-type]
        StubServer(port=0, store=redis_url, redis_prefix=prefix, dialect=dialect) as b,  # type: ignore[arg-type]
        httpx.AsyncClient(base_url=a.http_url, trust_env=False, timeout=5) as http,
    ):

        async def truth(todo_id: str) -> dict[str, Any]:
            return {
                "group": await b.store.list_group("todo", "inbox"),
                "item": await b.store.get("todo", "inbox", todo_id),
            }

        first = (await http.post("/todo", json={"description": "first"})).json()
        proc = await asyncio.create_subprocess_exec(
            shutil.which("node") or "node",
            str(node_script),
            b.ws_url,
            first["id"],
            cwd=node_script.parent,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        watcher = JsWatcher(proc)
        try:
            expected = await truth(first["id"])
            await watcher.until(lambda s: s == expected, "the initial syncs from B")
            # The official item client drops a frame whose timestamp equals the last one.
            await asyncio.sleep(0.005)
            second = (await http.post("/todo", json={"description": "second"})).json()
            expected = await truth(first["id"])
            assert [t["id"] for t in expected["group"]] == [first["id"], second["id"]]
            await watcher.until(lambda s: s == expected, "a create made through A")
            await asyncio.sleep(0.005)
            assert (await http.post(f"/todo/{first['id']}/complete")).status_code == 200
            expected = await truth(first["id"])
            await watcher.until(lambda s: s == expected, "a completion made through A")
            await asyncio.sleep(0.005)
            assert (await http.delete(f"/todo/{first['id']}")).status_code == 200
            expected = await truth(first["id"])
            assert expected["item"] is None
            await watcher.until(lambda s: s == expected, "a delete made through A")
        finally:
            assert proc.stdin is not None
            if proc.returncode is None:
                proc.stdin.write(b"close\n")
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except asyncio.TimeoutError:
                proc.kill()
                await proc.wait()
