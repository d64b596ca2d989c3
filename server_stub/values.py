"""What every store checks on the way in: names, and values that can travel as JSON.

Shared by :mod:`~server_stub.memory_store` and :mod:`~server_stub.redis_store`, so a
write refused by one store is refused by the other with the same message.
"""

from __future__ import annotations

import json
from typing import Any

from .errors import NotJsonError, StoreError
from .names import name_problem


def dumps_item(value: Any) -> str:
    """The compact JSON a store keeps and measures (its UTF-8 bytes count toward the limits)."""
    return json.dumps(value, allow_nan=False, ensure_ascii=False, separators=(",", ":"))


def to_json(value: Any, what: str) -> tuple[Any, str, int]:
    """A deep, JSON-only copy of ``value``, its compact JSON and that JSON's bytes.

    Raises NotJsonError for anything JSON cannot carry, including strings that
    cannot be encoded as UTF-8 (lone surrogates): a frame holding one could not be
    sent to any subscriber.
    """
    try:
        text = dumps_item(value)
        size = len(text.encode("utf-8"))
        return json.loads(text), text, size
    except (TypeError, ValueError) as exc:
        raise NotJsonError(f"{what} is not JSON-serializable: {exc}") from None
    except RecursionError:
        raise NotJsonError(f"{what} is nested too deeply") from None


def check_names(**names: str | None) -> None:
    """Raise StoreError naming the first argument that is not a valid name (None is skipped)."""
    for label, value in names.items():
        problem = name_problem(value) if value is not None else None
        if problem is not None:
            shown = value if not isinstance(value, str) or len(value) <= 40 else value[:40] + "..."
            raise StoreError(f"{label} {problem}, got {shown!r}")
