"""The seeds' streams and triggers, declared in Python.

- ``todo``: the Todo schema; ``on_join``/``on_leave`` keep a ``watching`` counter in
  stream ``inbox``, group ``watching``, item ``<the joined groupId>``; the last
  watcher to leave deletes that item, so presence costs nothing once nobody watches.
- ``inbox``: the watching counters.
- ``private-messages``: refuses a join without an authenticated ``userId``, and a
  user outside the group (a group is a user id, or user ids joined by ``:``).
- ``openai``: ``{"message": str}``, filled token by token by the ``open-ai`` flow.
- ``stats``: counters; creating a todo increments ``stats/todo/counters.created``.
- State trigger on ``todos``: a todo getting ``completedAt`` sends a ``notification``
  custom event to that todo (and so to its group).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from .errors import ItemNotFound, StoreError
from .state import StateChange, StateStore
from .store import Change, StreamStore
from .streams import AuthContext, HookContext, JoinResult, StreamConfig, Subscription
from .todos import INBOX, TODO_STREAM, TODOS_STATE

INBOX_STREAM = "inbox"
WATCHING_GROUP = "watching"
STATS_STREAM = "stats"
STATS_GROUP = "todo"
STATS_ID = "counters"
PRIVATE_STREAM = "private-messages"
OPENAI_STREAM = "openai"


class _Schema(BaseModel):
    model_config = ConfigDict(extra="allow")


class Todo(_Schema):
    """A todo item (the seed's ``todoSchema``)."""

    id: str
    description: str
    createdAt: str
    dueDate: str | None = None
    completedAt: str | None = None


class Watching(_Schema):
    """How many subscriptions currently watch a todo group."""

    watching: int


class PrivateMessage(_Schema):
    """A message in a private conversation."""

    message: str


class OpenAiMessage(_Schema):
    """The progressively written AI answer."""

    message: str


class TodoStats(_Schema):
    """Counters kept by stream triggers."""

    created: int = 0


async def _watch(subscription: Subscription, ctx: HookContext, auth: AuthContext | None) -> None:
    try:
        await ctx.store.update(
            INBOX_STREAM,
            WATCHING_GROUP,
            subscription.group_id,
            [{"type": "increment", "path": "watching", "by": 1}],
        )
    except StoreError as exc:  # presence is a courtesy (store full or unreachable): still join
        ctx.logger.warning("not counting a watcher of %s: %s", subscription.group_id, exc)
        return
    ctx.logger.info("todo stream joined: %s", subscription.group_id)


async def _unwatch(subscription: Subscription, ctx: HookContext, auth: AuthContext | None) -> None:
    """Count a watcher out; the last one out removes the presence item altogether."""
    try:
        item = await ctx.store.update(
            INBOX_STREAM,
            WATCHING_GROUP,
            subscription.group_id,
            [{"type": "decrement", "path": "watching", "by": 1}],
            must_exist=True,
        )
    except ItemNotFound:  # its join was not counted (the store was full)
        return
    watching = item.get("watching")
    if isinstance(watching, (int, float)) and watching <= 0:
        # Compare-and-delete: if a join (here or in another process sharing the store)
        # counted a watcher since the decrement, the item differs and stays.
        await ctx.store.delete_if(INBOX_STREAM, WATCHING_GROUP, subscription.group_id, item)
    ctx.logger.info("todo stream left: %s", subscription.group_id)


def user_can_access(user_id: str, group_id: str) -> bool:
    """A user may read the group named after them and any ``a:b`` conversation they are in."""
    return group_id == user_id or user_id in group_id.split(":")


async def _private_join(
    subscription: Subscription, ctx: HookContext, auth: AuthContext | None
) -> JoinResult:
    user_id = (auth or {}).get("userId")
    if not isinstance(user_id, str) or not user_id:
        return JoinResult(unauthorized=True, reason="Not authenticated")
    if not user_can_access(user_id, subscription.group_id):
        return JoinResult(unauthorized=True, reason="Access denied")
    ctx.logger.info("user joined private stream: %s", subscription.group_id)
    return JoinResult(unauthorized=False)


def seed_streams() -> list[StreamConfig]:
    """The declarations of every seed stream."""
    return [
        StreamConfig(TODO_STREAM, Todo, on_join=_watch, on_leave=_unwatch),
        StreamConfig(INBOX_STREAM, Watching),
        StreamConfig(PRIVATE_STREAM, PrivateMessage, on_join=_private_join),
        StreamConfig(OPENAI_STREAM, OpenAiMessage),
        StreamConfig(STATS_STREAM, TodoStats),
    ]


def install_seed_triggers(store: StreamStore, state: StateStore) -> None:
    """Wire the seeds' stream trigger (todo created) and state trigger (todo completed)."""

    async def on_todo_change(change: Change) -> None:
        if change.kind == "create":
            await store.update(
                STATS_STREAM, STATS_GROUP, STATS_ID, [{"type": "increment", "path": "created"}]
            )

    async def on_todo_state(change: StateChange) -> None:
        old: dict[str, Any] = change.old if isinstance(change.old, dict) else {}
        new: dict[str, Any] = change.new if isinstance(change.new, dict) else {}
        if new.get("completedAt") and not old.get("completedAt"):
            description = new.get("description", change.key)
            group = new.get("groupId")
            await store.send_event(
                TODO_STREAM,
                group if isinstance(group, str) and group else INBOX,
                "notification",
                {"todoId": change.key, "message": f"Todo {description!r} is completed"},
                item_id=change.key,
            )

    store.add_trigger(TODO_STREAM, on_todo_change)
    state.add_trigger(TODOS_STATE, on_todo_state)
