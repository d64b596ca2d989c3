"""``--demo``: a lively dataset, so a client or the terminal app has something to show.

Every ``tick`` seconds the todo inbox changes: a todo is created (up to a few open
ones), one is completed, an old completed one is deleted, and a ``ping`` custom event
goes out now and then; the seed triggers keep ``stats`` and the notifications going.
In parallel an AI answer is written token by token into ``openai/demo/message``,
paused, and started again with the next prompt. Runs until cancelled.
"""

from __future__ import annotations

import asyncio
import logging
import random

from . import textgen, todos
from .errors import StoreError
from .seeds import OPENAI_STREAM
from .streams import HookContext

log = logging.getLogger("server_stub.demo")

DEMO_GROUP = "demo"
DEMO_ITEM = "message"
MAX_OPEN = 5
DESCRIPTIONS = (
    "Water the plants",
    "Write the release notes",
    "Review the pull request",
    "Book the train tickets",
    "Call the plumber",
    "Plan the team offsite",
    "Renew the passport",
    "Fix the flaky test",
    "Read the streams docs",
    "Buy oat milk",
    "Back up the laptop",
    "Answer the support ticket",
)
PROMPTS = (
    "How do Motia streams work?",
    "Why reconnect with jitter?",
    "What does a group sync contain?",
    "Explain custom events in one paragraph",
)


async def todo_activity(ctx: HookContext, tick: float, rng: random.Random) -> None:
    """Create, complete, delete and ping in the todo inbox, forever."""
    step = 0
    while True:
        step += 1
        try:
            items = await ctx.store.list_group(todos.TODO_STREAM, todos.INBOX)
            open_todos = [item for item in items if not item.get("completedAt")]
            done_todos = [item for item in items if item.get("completedAt")]
            if len(open_todos) < MAX_OPEN:
                await todos.create_todo(ctx, rng.choice(DESCRIPTIONS))
            if step % 2 == 0 and open_todos:
                await todos.complete_todo(ctx, rng.choice(open_todos)["id"])
            if step % 3 == 0 and len(done_todos) > 2:
                await todos.delete_todo(ctx, done_todos[0]["id"])
            if step % 4 == 0:
                await todos.ping(ctx, {"step": step})
        except StoreError as exc:  # e.g. a todo deleted by a client in between
            log.info("demo step %d skipped: %s", step, exc)
        await asyncio.sleep(tick)


async def ai_activity(ctx: HookContext, tick: float) -> None:
    """Write answers token by token into ``openai/demo/message``, one prompt after another."""
    round_ = 0
    while True:
        prompt = PROMPTS[round_ % len(PROMPTS)]
        round_ += 1
        written = ""
        await ctx.store.set(OPENAI_STREAM, DEMO_GROUP, DEMO_ITEM, {"message": ""})
        for piece in textgen.tokens(textgen.reply(prompt)):
            await asyncio.sleep(tick / 10)
            written += piece
            await ctx.store.set(OPENAI_STREAM, DEMO_GROUP, DEMO_ITEM, {"message": written})
        await asyncio.sleep(tick * 3)
