"""Watch the todo stream of a running motia-stub and print each change (blocking client).

    motia-stub --port 3000 &
    python examples/watch_todos.py                      # ws://localhost:3000, or $MOTIA_URL
    python examples/watch_todos.py ws://localhost:3000 --seconds 30

Then add, complete and delete todos, and watch them appear:

    curl -X POST localhost:3000/todo -H 'content-type: application/json' \\
         -d '{"description": "buy milk"}'

Each line is one change of the change feed: ``+`` added, ``~`` modified,
``-`` removed. The feed starts with a ``+`` for each todo already there; after a
lost connection it gives what changed meanwhile (its net difference), marked
``(resync)``.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence

from pydantic import BaseModel

from motia_client import ItemChange, MotiaTimeout, StateChange, StreamClient

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
    deadline = None if args.seconds is None else time.monotonic() + args.seconds

    with StreamClient(args.url) as client:
        client.on_state_change(on_state_change)
        todos = client.subscribe_group("todo", "inbox", model=Todo)
        print(f"watching todo/inbox at {args.url}")
        try:
            items = todos.wait_for(lambda items: True, timeout=args.seconds)  # the first sync
            count = len(items)
            print(f"{count} todo{'' if count == 1 else 's'}")
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            for change in todos.item_changes(timeout=left):  # stops after --seconds
                print(change_line(change))
        except MotiaTimeout as exc:  # --seconds elapsed before the first sync
            print(exc)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
