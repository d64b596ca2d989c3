"""Errors raised by the stub's store and steps, with field-level details for 400s.

StubError
├── StoreError            a write could not be applied
│   ├── ItemNotFound      update(must_exist=True) on a missing item
│   ├── SchemaError       the new value does not match the stream's schema
│   ├── OpError           an update op does not apply (bad path, not a number...)
│   ├── NotJsonError      data that cannot travel as JSON
│   ├── StoreFull         the write would pass a documented store limit (HTTP 507)
│   └── StoreUnavailable  the backing service (Redis) cannot be reached or is too busy (503)
└── (HTTP errors live in http_common, they are responses, not failures)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FieldError:
    """One problem with one field: where (dotted path), what, and a machine-readable kind."""

    field: str
    message: str
    type: str = "value_error"

    def to_json(self) -> dict[str, str]:
        """The JSON form used in 400 bodies."""
        return {"field": self.field, "message": self.message, "type": self.type}


class StubError(Exception):
    """Base class of every error the stub raises on purpose."""


class StoreError(StubError):
    """A stream write could not be applied; nothing was changed and nothing was sent."""

    def __init__(self, message: str, errors: list[FieldError] | None = None) -> None:
        super().__init__(message)
        self.errors: list[FieldError] = list(errors or [])

    def errors_json(self) -> list[dict[str, str]]:
        """The field errors as JSON objects (for an HTTP 400 body)."""
        return [error.to_json() for error in self.errors]


class ItemNotFound(StoreError):
    """The item does not exist (raised by ``update(..., must_exist=True)``)."""


class SchemaError(StoreError):
    """The value does not match the stream's declared pydantic schema."""


class OpError(StoreError):
    """An update operation cannot be applied to the current value."""


class NotJsonError(StoreError):
    """Data that is not representable as JSON (NaN, sets, objects...)."""


class StoreFull(StoreError):
    """The write would take a group or the store past its limits (``StoreLimits``)."""


class StoreUnavailable(StoreError):
    """The store's backing service cannot be reached, or an item changed too often to
    update it; nothing was written (HTTP 503: retry)."""


def pydantic_field_errors(errors: list[Any]) -> list[FieldError]:
    """Convert ``ValidationError.errors()`` into FieldErrors with dotted field paths."""
    out = []
    for error in errors:
        loc = ".".join(str(part) for part in error.get("loc", ())) or "body"
        out.append(FieldError(loc, str(error.get("msg", "invalid")), str(error.get("type", ""))))
    return out
