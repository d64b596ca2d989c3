"""A deterministic local stand-in for an LLM: the same prompt always gets the same answer.

Nothing external is called. :func:`reply` builds a few sentences from word lists,
seeded by a hash of the prompt; :func:`tokens` cuts text into word-sized chunks that
join back to exactly the text, like the deltas of a streamed chat completion.
"""

from __future__ import annotations

import hashlib
import random
import re

_OPENERS = (
    "Here is what I think about",
    "Let me walk through",
    "A short answer on",
    "Some notes about",
)
_SUBJECTS = (
    "the stream",
    "your todo list",
    "the inbox",
    "each update",
    "the client",
    "a reconnect",
    "the group sync",
    "every subscriber",
    "the server",
    "this flow",
)
_VERBS = (
    "keeps",
    "replaces",
    "carries",
    "sends",
    "watches",
    "orders",
    "merges",
    "restores",
)
_OBJECTS = (
    "the latest state",
    "one frame at a time",
    "a fresh timestamp",
    "the whole group",
    "every custom event",
    "the item it was given",
    "a small counter",
    "the message so far",
)
_CLOSERS = (
    "That is all there is to it.",
    "Nothing else is needed.",
    "Try it and watch the stream update.",
    "Each step is deterministic.",
)
_TOKEN = re.compile(r"\s*\S+|\s+")


def _rng(prompt: str) -> random.Random:
    digest = hashlib.sha256(prompt.encode("utf-8", "replace")).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def reply(prompt: str, sentences: int | None = None) -> str:
    """A deterministic answer to ``prompt``: an opener naming it, a few sentences, a closer."""
    rng = _rng(prompt)
    topic = " ".join(prompt.split()[:6]) or "nothing"
    count = sentences if sentences is not None else rng.randint(2, 4)
    parts = [f'{rng.choice(_OPENERS)} "{topic}".']
    for _ in range(count):
        subject = rng.choice(_SUBJECTS)
        parts.append(f"{subject.capitalize()} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)}.")
    parts.append(rng.choice(_CLOSERS))
    return " ".join(parts)


def tokens(text: str) -> list[str]:
    """Word-sized chunks (each with its leading spaces) whose concatenation is ``text``."""
    return _TOKEN.findall(text)
