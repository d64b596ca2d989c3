"""Watch the todo stream of a running motia-stub and print each change (blocking client).

    motia-stub --port 3000 &
    python examples/watch_todos.py                      # ws://localhost:3000, or $MOTIA_URL
    python examples/watch_todos.py ws://localhost:3000 --seconds 30

Then add, complete and delete todos, and watch them appear:

    curl -X POST localhost:3000/todo -H 'content-type: application/json' \\
         -d '{"description": "buy milk"}'
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from typing import Any

from motia_client import StateChange, StreamClient


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
    # Runs on the client's private thread, like every listener of StreamClient.
    if change.retry_in is not None:
        print(f"connection {change.state.value}: retrying in {change.retry_in:.1f} s")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "url", nargs="?", default=os.environ.get("MOTIA_URL", "ws://localhost:3000")
    )
    parser.add_argument("--seconds", type=float, default=None, help="stop after this long")
    args = parser.parse_args(argv)

    with StreamClient(args.url) as client:
        client.on_state_change(on_state_change)
        todos = client.subscribe_group("todo", "inbox", sort_key="createdAt")
        print(f"watching todo/inbox at {args.url}")
        before: dict[str, Any] | None = None
        try:
            for items in todos.changes(timeout=args.seconds):  # stops after --seconds
                if before is None:
                    print(f"{len(items)} todos")
                print_changes(before or {}, items)
                before = {todo["id"]: todo for todo in items}
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
