"""Watch the todo stream of a running motia-stub and print each change (asyncio client).

motia-stub --port 3000 &
python examples/watch_todos_async.py                # ws://localhost:3000, or $MOTIA_URL
python examples/watch_todos_async.py ws://localhost:3000 --seconds 30
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
from collections.abc import Mapping, Sequence
from typing import Any

from motia_client import AsyncStreamClient, StateChange


def describe(todo: Mapping[str, Any]) -> str:
    done = " [done]" if todo.get("completedAt") else ""
    return f"{todo.get('description', '?')}{done} ({todo['id']})"


def print_changes(before: Mapping[str, Any], items: Sequence[Mapping[str, Any]]) -> None:
    """Print what changed between two states of the group: + added, ~ updated, - removed."""
    after = {todo["id"]: todo for todo in items}
    for todo_id, todo in after.items():
        if todo_id not in before:
            print(f"+ {describe(todo)}")
        elif before[todo_id] != todo:
            print(f"~ {describe(todo)}")
    for todo_id, todo in before.items():
        if todo_id not in after:
            print(f"- {describe(todo)}")


def on_state_change(change: StateChange) -> None:
    if change.retry_in is not None:
        print(f"connection {change.state.value}: retrying in {change.retry_in:.1f} s")


async def watch(url: str, seconds: float | None) -> None:
    async with AsyncStreamClient(url) as client:
        client.on_state_change(on_state_change)
        todos = client.subscribe_group("todo", "inbox", sort_key="createdAt")
        print(f"watching todo/inbox at {url}")

        async def follow() -> None:
            before: dict[str, Any] | None = None
            async for items in todos.changes():
                if before is None:
                    print(f"{len(items)} todos")
                print_changes(before or {}, items)
                before = {todo["id"]: todo for todo in items}

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
