"""A process holding many stream clients for the load scenario (``scenario_load``).

    python -m tests.reliability.load_worker URL CLIENTS ITEMS TRANSPORT

It connects CLIENTS clients to URL, each subscribed to the todo inbox, waits for
ITEMS todos in each, prints ``READY``, then answers commands read from stdin,
one per line:

- ``CHECK <json>``: wait (up to 60 s) until every client holds exactly the todos
  of the JSON object (id -> todo), then print ``CONVERGED <n> RECONNECTS <r>``;
- ``QUIT``: close every client and exit.

Spreading the clients over a few processes keeps one Python process from being
what limits a 500-socket run.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from motia_client import AsyncStreamClient, ConnectionState, ReconnectPolicy

BATCH = 25


async def main(url: str, count: int, items: int, transport: str) -> None:
    loop = asyncio.get_running_loop()
    reconnects = 0

    def count_reconnect(change: Any) -> None:
        nonlocal reconnects
        reconnects += change.previous is ConnectionState.RECONNECTING

    clients: list[AsyncStreamClient] = []
    groups = []
    for first in range(0, count, BATCH):
        batch = [
            AsyncStreamClient(
                url,
                transport=transport,  # type: ignore[arg-type]
                reconnect=ReconnectPolicy(initial=0.2, cap=2.0),
            )
            for _ in range(min(BATCH, count - first))
        ]
        await asyncio.gather(*(client.connect() for client in batch))
        clients.extend(batch)
    for client in clients:
        client.on_state_change(count_reconnect)
        groups.append(client.subscribe_group("todo", "inbox"))
    for group in groups:
        await group.wait_for(lambda todos: len(todos) == items, timeout=60)
    print("READY", flush=True)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    try:
        while line := (await reader.readline()).decode():
            command, _, argument = line.strip().partition(" ")
            if command == "CHECK":
                expected = json.loads(argument)
                converged = 0
                for _ in range(600):
                    converged = sum(dict(group.items_by_id) == expected for group in groups)
                    if converged == len(groups):
                        break
                    await asyncio.sleep(0.1)
                print(f"CONVERGED {converged} RECONNECTS {reconnects}", flush=True)
            elif command == "QUIT":
                break
    finally:
        await asyncio.gather(*(client.close() for client in clients))


if __name__ == "__main__":
    try:  # the workers are measuring apparatus: the less CPU they take, the better
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]))
