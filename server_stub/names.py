"""The one rule for stream, group and item names, shared by the store, the socket and HTTP.

A name is a non-empty string of at most ``MAX_NAME_CHARS`` characters that can be
encoded as UTF-8 (no lone surrogates: a frame holding one could not be sent). A
name the socket would refuse in a join is refused by the store and the HTTP steps
too, so nothing can be written where no client could ever subscribe.
"""

from __future__ import annotations

from .limits import MAX_NAME_CHARS


def name_problem(value: object) -> str | None:
    """Why ``value`` is not a valid name (a short phrase), or None when it is one."""
    if not isinstance(value, str) or not value:
        return "must be a non-empty string"
    if len(value) > MAX_NAME_CHARS:
        return f"must be at most {MAX_NAME_CHARS} characters"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "is not valid Unicode"
    return None
