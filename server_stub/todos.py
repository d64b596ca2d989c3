"""The todo app of the seeds, as plain async functions shared by the HTTP steps and the demo.

A todo lives in stream ``todo``, in a group (``inbox`` unless another is given), and
is mirrored in state namespace ``todos`` under its id (as the seed's CreateTodo step
does), with a ``groupId`` field added so the state trigger knows where to notify.
Completing sets ``completedAt`` through an update op, which is what the seed's
"stream updates" example shows.
"""

from __future__ import annotations

import random
import string
from datetime import datetime, timezone
from typing import Any

from .errors import ItemNotFound
from .frames import CLOCK, Item
from .streams import HookContext

TODO_STREAM = "todo"
INBOX = "inbox"
TODOS_STATE = "todos"
_ID_CHARS = string.ascii_lowercase + string.digits


def iso_now() -> str:
    """The current UTC time as an ISO-8601 string with milliseconds, like JS ``toISOString``."""
    now = datetime.now(timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def new_todo_id() -> str:
    """``todo-<ms>-<7 random base36 chars>``, the seed's id scheme."""
    suffix = "".join(random.choices(_ID_CHARS, k=7))
    return f"todo-{CLOCK.now()}-{suffix}"


def _mirror(item: Item, group: str) -> dict[str, Any]:
    """The state value of a todo: the item plus the group it lives in."""
    return {**item, "groupId": group}


async def create_todo(
    ctx: HookContext, description: str, due_date: str | None = None, group: str = INBOX
) -> Item:
    """Write a new todo to the group's stream and to state; return it."""
    todo_id = new_todo_id()
    todo: dict[str, Any] = {"id": todo_id, "description": description, "createdAt": iso_now()}
    if due_date is not None:
        todo["dueDate"] = due_date
    item = await ctx.store.set(TODO_STREAM, group, todo_id, todo)
    await ctx.state.set(TODOS_STATE, todo_id, _mirror(item, group))
    ctx.logger.info("todo created: %s in %s", todo_id, group)
    return item


async def complete_todo(ctx: HookContext, todo_id: str, group: str = INBOX) -> Item:
    """Set ``completedAt`` on a todo of ``group`` (raises ItemNotFound); mirror it to state."""
    ops = [{"type": "set", "path": "completedAt", "value": iso_now()}]
    item = await ctx.store.update(TODO_STREAM, group, todo_id, ops, must_exist=True)
    await ctx.state.set(TODOS_STATE, todo_id, _mirror(item, group))
    ctx.logger.info("todo completed: %s in %s", todo_id, group)
    return item


async def delete_todo(ctx: HookContext, todo_id: str, group: str = INBOX) -> Item:
    """Delete a todo of ``group`` from the stream and state; return its last value."""
    if await ctx.store.get(TODO_STREAM, group, todo_id) is None:
        raise ItemNotFound(f"no todo {todo_id!r}")
    old = await ctx.store.delete(TODO_STREAM, group, todo_id)
    await ctx.state.delete(TODOS_STATE, todo_id)
    ctx.logger.info("todo deleted: %s from %s", todo_id, group)
    if old is None:  # deleted concurrently by someone else
        raise ItemNotFound(f"no todo {todo_id!r}")
    return old


async def list_todos(ctx: HookContext, group: str = INBOX) -> list[Item]:
    """The todos of ``group``, in the stream's order (oldest first)."""
    return await ctx.store.list_group(TODO_STREAM, group)


async def ping(ctx: HookContext, data: Any, group: str = INBOX) -> None:
    """Send a ``ping`` custom event to a todo group (the inbox by default)."""
    await ctx.store.send_event(TODO_STREAM, group, "ping", data)
