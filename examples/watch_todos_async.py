"""Watch the todo stream of a running motia-stub and print each change (asyncio client).

motia-stub --port 3000 &
python examples/watch_todos_async.py                # ws://localhost:3000, or $MOTIA_URL
python examples/watch_todos_async.py ws://localhost:3000 --seconds 30

Each line is one change of the change feed: ``+`` added, ``~`` modified,
``-`` removed; ``(resync)`` marks what changed while the connection was lost.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
from collections.abc import Sequence

from pydantic import BaseModel

from motia_client import AsyncStreamClient, ItemChange, StateChange

MARKS = {"added": "+", "modified": "~", "removed": "-"}


class Todo(BaseModel):
    """A todo as the stub's steps write it (other fields are ignored)."""

    id: str
    description: str
    completedAt: str | None = None


def change_line(change: ItemChange[Todo]) -> str:
    """One change as a line: ``+``/``~``/``-``, the todo as it is now (as it was, if removed)."""
    todo = change.old if change.kind == "removed" else change.new
    assert todo is not None  # an added or modified item has a new value, a removed one an old
    done = " [done]" if todo.completedAt else ""
    resync = " (resync)" if change.resync else ""
    return f"{MARKS[change.kind]} {todo.description}{done} ({todo.id}){resync}"


def on_state_change(change: StateChange) -> None:
    if change.retry_in is not None:
        print(f"connection {change.state.value}: retrying in {change.retry_in:.1f} s")


async def watch(url: str, seconds: float | None) -> None:
    async with AsyncStreamClient(url) as client:
        client.on_state_change(on_state_change)
        todos = client.subscribe_group("todo", "inbox", model=Todo)
        print(f"watching todo/inbox at {url}")

        async def follow() -> None:
            items = await todos.wait_for(lambda items: True)  # the first sync
            print(f"{len(items)} todo{'' if len(items) == 1 else 's'}")
            async for change in todos.item_changes():  # a "+" per todo held, then each change
                print(change_line(change))

        with contextlib.suppress(asyncio.TimeoutError):  # --seconds elapsed
            await asyncio.wait_for(follow(), seconds)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "url", nargs="?", default=os.environ.get("MOTIA_URL", "ws://localhost:3000")
    )
    parser.add_argument("--seconds", type=float, default=None, help="stop after this long")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(watch(args.url, args.seconds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
