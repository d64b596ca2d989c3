"""What the AI panel shows, as pure code: which item of a group, and its text.

A Motia app that streams AI answers writes each answer as a stream item: the
seeds write ``openai/<traceId>/message``, the real Motia 0.17 app a new
``openai/openai/<uuid>`` per answer. :class:`Newest` follows the item that
appeared last in a group; :func:`answer_text` finds the text in an item.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .rows import compact

__all__ = ["TEXT_FIELDS", "Newest", "answer_text"]

TEXT_FIELDS = ("message", "content", "text")
"""The fields an answer's text is read from, the first string one wins."""
MAX_SHOWN = 100_000  # an item without a text field is shown as JSON, up to this many characters


def answer_text(item: Any) -> str:
    """The item's text (``message``, ``content`` or ``text``), else the item as JSON."""
    if item is None:
        return ""
    if isinstance(item, Mapping):
        for key in TEXT_FIELDS:
            value = item.get(key)
            if isinstance(value, str):
                return value
        item = {k: v for k, v in item.items() if not (isinstance(k, str) and k.startswith("_"))}
    return compact(item, MAX_SHOWN)


class Newest:
    """The id of a group's newest item: the one that appeared last.

    In the first state seen, that is the last id in the group's order (Motia
    orders a group sync by creation); after that, an id not seen before is
    newer than every id seen. When the newest item is deleted, the newest
    remaining one is followed.
    """

    def __init__(self) -> None:
        self._seen: dict[str, int] = {}  # id -> when it first appeared
        self._counter = 0

    def update(self, ids: Iterable[str]) -> str | None:
        """Take the group's ids (in its order); return the newest, ``None`` when empty."""
        present: dict[str, int] = {}
        for item_id in ids:
            seen = self._seen.get(item_id)
            if seen is None:
                self._counter += 1
                seen = self._counter
            present[item_id] = seen
        self._seen = present  # forget deleted ids: the memory stays the group's size
        if not present:
            return None
        return max(present, key=present.__getitem__)
