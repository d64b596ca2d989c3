"""Restart: the stub process is SIGKILLed and started again on the same port, with new contents.

:func:`run_restart` starts ``motia-stub`` as a subprocess, fills the todo inbox
through its HTTP steps, and follows it with one
:class:`~motia_client.AsyncStreamClient`: the inbox group, the ``watching``
counter item (which the server's ``on_join`` hook increments once per join of
the todo stream, so it counts the client's server-side subscriptions) and, in the iii
dialect, one todo item. Then, ``cycles`` times: SIGKILL the process, wait
``downtime`` seconds, start a new one on the same port, write new todos, and
wait for the client to hold exactly the new contents.

Checked each cycle: the client reconnects with growing, capped backoff; it ends
with exactly the new todos (nothing of the old process), a ``watching`` count
equal to its joins of the todo stream (no duplicate subscription), a listener that never hears the
same state twice in a row (no duplicate listener), and as many asyncio tasks
as before the kill (no leak). After ``close()`` no task of the client is left.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from motia_client import AsyncStreamClient, ConnectionState, ReconnectPolicy, StateChange
from tests.reliability.stub_process import StubProcess

__all__ = ["RestartResult", "run_restart"]


@dataclass
class RestartResult:
    """What one restart run did and found."""

    transport: str
    dialect: str
    cycles: int = 0
    attempts: int = 0  # failed reconnect attempts while the server was down
    longest_converge: float = 0.0  # from the new process listening to the client equal to it
    todos_written: int = 0
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line of figures."""
        return (
            f"restart transport={self.transport} dialect={self.dialect}: {self.cycles} SIGKILL "
            f"restarts, {self.attempts} failed reconnect attempts while down, "
            f"{self.todos_written} todos written, longest convergence "
            f"{self.longest_converge:.2f} s after the new process listened, "
            f"problems={len(self.problems)}"
        )


async def _write_todos(url: str, generation: int, count: int) -> dict[str, dict[str, Any]]:
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        todos = {}
        for index in range(count):
            answer = await http.post("/todo", json={"description": f"gen{generation}-{index}"})
            answer.raise_for_status()
            todo = answer.json()
            todos[todo["id"]] = todo
        return todos


async def run_restart(
    *,
    transport: str = "websockets",
    dialect: str = "motia",
    cycles: int = 1,
    todos: int = 10,
    downtime: tuple[float, float] = (0.5, 1.0),
    seed: int = 0,
    policy: ReconnectPolicy | None = None,
    converge_timeout: float = 20.0,
) -> RestartResult:
    """Run the scenario; the result's ``problems`` must be empty."""
    rng = random.Random(seed)
    policy = policy or ReconnectPolicy(initial=0.1, cap=1.0)
    result = RestartResult(transport, dialect)
    before_client = asyncio.all_tasks()
    server = StubProcess(dialect=dialect)
    await server.start()
    try:
        expected = await _write_todos(server.http_url, 0, todos)
        result.todos_written += todos
        client = AsyncStreamClient(server.ws_url, transport=transport, reconnect=policy)  # type: ignore[arg-type]
        changes: list[StateChange] = []
        client.on_state_change(changes.append)
        await client.connect()
        try:
            inbox = client.subscribe_group("todo", "inbox")
            watching = client.subscribe_item("inbox", "watching", "inbox")
            seen: list[Any] = []
            inbox.add_change_listener(lambda items: seen.append([t["id"] for t in items]))
            watched_id = next(iter(expected))
            todo_item = (
                client.subscribe_item("todo", "inbox", watched_id) if dialect == "iii" else None
            )
            await _converged(inbox, watching, todo_item, expected, converge_timeout)
            for generation in range(1, cycles + 1):
                tasks_before = len(asyncio.all_tasks())
                changes.clear()
                await server.kill()
                await asyncio.sleep(rng.uniform(*downtime))
                server = StubProcess(port=server.port, dialect=dialect)
                await server.start()
                listening = time.perf_counter()
                expected = await _write_todos(server.http_url, generation, todos)
                result.todos_written += todos
                seen.clear()
                await _converged(inbox, watching, todo_item, expected, converge_timeout)
                result.longest_converge = max(
                    result.longest_converge, time.perf_counter() - listening
                )
                result.cycles += 1
                _check_cycle(result, generation, changes, seen, policy)
                await asyncio.sleep(0.05)  # let the old connection's tasks finish
                if len(asyncio.all_tasks()) != tasks_before:
                    result.problems.append(
                        f"cycle {generation}: {len(asyncio.all_tasks())} tasks, "
                        f"{tasks_before} before the kill"
                    )
        finally:
            await client.close()
    finally:
        await server.kill()
    leftover = asyncio.all_tasks() - before_client
    if leftover:
        result.problems.append(f"tasks left after close(): {leftover}")
    return result


async def _converged(
    inbox: Any,
    watching: Any,
    todo_item: Any,
    expected: dict[str, dict[str, Any]],
    timeout: float,
) -> None:
    """Wait until the client holds exactly ``expected``, each todo room joined once."""

    joins = 1 if todo_item is None else 2  # on_join counts every join of the todo stream

    def equal() -> bool:
        return (
            dict(inbox.items_by_id) == expected
            and watching.state is not None
            and watching.state.get("watching") == joins
            and (todo_item is None or todo_item.state == expected.get(todo_item.item_id))
        )

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not equal():
        if loop.time() > deadline:
            raise AssertionError(
                f"not converged in {timeout} s: {len(inbox.items_by_id)} todos "
                f"(expected {len(expected)}), watching={watching.state}, "
                f"item={getattr(todo_item, 'state', '-')}"
            )
        await asyncio.sleep(0.02)


def _check_cycle(
    result: RestartResult,
    generation: int,
    changes: list[StateChange],
    seen: list[Any],
    policy: ReconnectPolicy,
) -> None:
    retries = [c for c in changes if c.state is ConnectionState.RECONNECTING]
    result.attempts += max(0, len(retries) - 1)  # the first one is the loss itself
    attempts = [c.attempt for c in retries]
    if not retries or attempts != sorted(attempts):
        result.problems.append(f"cycle {generation}: reconnect attempts {attempts}")
    if any(c.retry_in is None or c.retry_in > policy.cap for c in retries):
        result.problems.append(f"cycle {generation}: a retry delay over the cap")
    if not changes or changes[-1].state is not ConnectionState.OPEN:
        result.problems.append(f"cycle {generation}: not open at the end")
    repeated = [a for a, b in itertools.pairwise(seen) if a == b]
    if repeated:
        result.problems.append(f"cycle {generation}: a listener heard a state twice in a row")
