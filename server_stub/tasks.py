"""``TaskSet``: the server's own background tasks, bounded in number and all cancelled on stop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger("server_stub.tasks")


class TooManyTasks(Exception):
    """The set is full; the caller should answer 503 instead of piling up work."""


class TaskSet:
    """Tracks tasks so none outlives the server; their crashes are logged, not lost."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._tasks: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    @property
    def full(self) -> bool:
        """Whether a bounded spawn would be refused now."""
        return len(self._tasks) >= self._limit

    def spawn(self, coro: Coroutine[Any, Any, None], name: str, *, bounded: bool = True) -> None:
        """Start ``coro`` as a tracked task (TooManyTasks when ``bounded`` and full)."""
        if bounded and len(self._tasks) >= self._limit:
            coro.close()
            raise TooManyTasks(f"{len(self._tasks)} background tasks already running")
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task %s failed", task.get_name(), exc_info=task.exception())

    async def cancel_all(self) -> None:
        """Cancel every task and wait until they have all finished."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
