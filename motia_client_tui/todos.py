"""The todo steps the a/c/d keys call, as pure code: requests and the due-date check.

Every request names the group the view shows as the ``groupId`` query
parameter (the stub's and the seeds' steps default it to ``inbox``), so a
todo is added to, completed in and deleted from the group on screen.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

__all__ = ["TodoRequest", "add_todo", "check_due_date", "complete_todo", "delete_todo"]

GROUP_PARAM = "groupId"

_DUE = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:[T ](?P<h>\d{2}):(?P<m>\d{2})(?::(?P<s>\d{2})(?:\.(?P<f>\d{1,6}))?)?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2})?)?"
)


@dataclass(frozen=True)
class TodoRequest:
    """One HTTP call of a todo step."""

    method: str
    path: str
    params: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None


def add_todo(group: str, description: str, due_date: str | None = None) -> TodoRequest:
    """``POST /todo?groupId=`` with ``{"description", "dueDate"?}``."""
    body: dict[str, Any] = {"description": description}
    if due_date is not None:
        body["dueDate"] = due_date
    return TodoRequest("POST", "/todo", {GROUP_PARAM: group}, body)


def complete_todo(group: str, todo_id: str) -> TodoRequest:
    """``POST /todo/{id}/complete?groupId=``."""
    return TodoRequest("POST", f"/todo/{quote(todo_id, safe='')}/complete", {GROUP_PARAM: group})


def delete_todo(group: str, todo_id: str) -> TodoRequest:
    """``DELETE /todo/{id}?groupId=``."""
    return TodoRequest("DELETE", f"/todo/{quote(todo_id, safe='')}", {GROUP_PARAM: group})


def check_due_date(text: str) -> str | None:
    """The due date as typed (trimmed), ``None`` when empty; ``ValueError`` when it is no date.

    Accepted: ``YYYY-MM-DD``, or that date with a time ``THH:MM[:SS[.fff]]`` and
    an optional ``Z`` or ``±HH:MM`` offset (ISO 8601, what the seeds' app stores).
    """
    value = text.strip()
    if not value:
        return None
    match = _DUE.fullmatch(value)
    try:
        if match is None:
            raise ValueError(value)
        day = date.fromisoformat(match["date"])
        if match["h"] is not None:
            offset = match["tz"]
            tzinfo = None
            if offset and offset != "Z":
                sign = -1 if offset[0] == "-" else 1
                hours, minutes = int(offset[1:3]), int(offset[4:6])
                tzinfo = timezone(sign * timedelta(hours=hours, minutes=minutes))
            datetime(
                day.year,
                day.month,
                day.day,
                int(match["h"]),
                int(match["m"]),
                int(match["s"] or 0),
                tzinfo=tzinfo,
            )
    except ValueError:
        raise ValueError(
            f"due date {_shown(value)} is not a date: use YYYY-MM-DD, "
            "optionally with a time (2026-01-31 or 2026-01-31T17:00Z)"
        ) from None
    return value


def _shown(value: str, limit: int = 30) -> str:
    return repr(value if len(value) <= limit else value[: limit - 1] + "…")
