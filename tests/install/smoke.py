"""What a new user does first, run inside a fresh venv where the wheel is installed.

    python smoke.py WS_URL HTTP_URL

Connects to a running motia-stub, subscribes to the todo group and to one
item, creates, updates (completes) and deletes a todo through the stub's HTTP
steps, sees each change on both subscriptions, and closes. Then follows a group
on ``motia_client.testing``'s in-memory server (what a user's tests do). Exits 0 and prints
``smoke ok`` on success; any failure is an exception and a non-zero exit.

Standalone on purpose: it imports only the installed ``motia_client`` and the
standard library, and checks that ``motia_client`` is the installed one, not a
checkout that happens to be on ``sys.path``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

WAIT = 15.0  # seconds for each change to arrive


def main(ws_url: str, http_url: str) -> None:
    import motia_client
    from motia_client import MotiaHttp, StreamClient

    where = Path(motia_client.__file__).resolve()
    assert where.is_relative_to(Path(sys.prefix).resolve()), f"not the installed copy: {where}"

    def ids(items: Any) -> set[str]:
        return {todo["id"] for todo in items}

    with StreamClient(ws_url, proxy=None) as client, MotiaHttp(http_url) as http:
        group = client.subscribe_group("todo", "inbox", sort_key="createdAt")
        before = ids(group.wait_for(lambda items: True, timeout=WAIT))  # the initial sync

        todo = http.call("POST", "/todo", json={"description": "smoke test"})
        todo_id = todo["id"]
        group.wait_for(lambda items: todo_id in ids(items), timeout=WAIT)  # create
        item = client.subscribe_item("todo", "inbox", todo_id)
        assert item.wait_for(lambda it: it is not None, timeout=WAIT)["description"] == "smoke test"

        http.call("POST", f"/todo/{todo_id}/complete")  # update
        done = item.wait_for(lambda it: it is not None and "completedAt" in it, timeout=WAIT)
        group.wait_for(
            lambda items: any(t["id"] == todo_id and "completedAt" in t for t in items),
            timeout=WAIT,
        )

        http.call("DELETE", f"/todo/{todo_id}")  # delete
        item.wait_for(lambda it: it is None, timeout=WAIT)
        group.wait_for(lambda items: todo_id not in ids(items), timeout=WAIT)
        assert ids(group.state) == before
        item.close()
        group.close()
    assert client.state.value == "closed", client.state
    in_memory()
    print(f"smoke ok: motia_client {motia_client.__version__} from {where.parent}")
    print(f"  created, completed at {done['completedAt']}, deleted {todo_id}")
    print("  motia_client.testing: the blocking client followed the in-memory server")


def in_memory() -> None:
    """The same client against ``motia_client.testing.FakeMotiaServer``: no socket."""
    from motia_client import StreamClient
    from motia_client.testing import FakeMotiaServer

    server = FakeMotiaServer()
    server.seed("todo", "inbox", {"id": "t1", "description": "in memory"})
    with StreamClient(server.url, transport=server.transport) as client:
        todos = client.subscribe_group("todo", "inbox")
        todos.wait_for(lambda items: len(items) == 1, timeout=WAIT)
        server.call(server.set, "todo", "inbox", {"id": "t2", "description": "added"})
        items = todos.wait_for(lambda items: len(items) == 2, timeout=WAIT)
        assert [todo["id"] for todo in items] == ["t1", "t2"], items


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2])
