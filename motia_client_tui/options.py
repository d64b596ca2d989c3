"""What ``motia-tui`` was asked to show: the :class:`Options` the command line produces.

A module of its own so that the command line (``cli``) and the app (``app``)
both depend on it and not on each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "DEFAULT_AI_STREAM",
    "DEFAULT_FPS",
    "DEFAULT_URL",
    "TODO_STREAM",
    "AuthMode",
    "Options",
    "derive_http_url",
]

AuthMode = Literal["subprotocol", "header", "query"]
DEFAULT_URL = "ws://localhost:3000"
DEFAULT_FPS = 25
DEFAULT_AI_STREAM = "openai"
TODO_STREAM = "todo"  # the seeds' todo app: its steps are what the a/c/d keys call


@dataclass(frozen=True)
class Options:
    """Everything the app needs to know from the command line."""

    url: str = DEFAULT_URL
    http_url: str | None = None  # derived from url when None
    token: str | None = None
    auth: AuthMode = "subprotocol"
    stream: str = TODO_STREAM
    group: str = "inbox"
    item: str | None = None
    sort: str | None = None
    ai_stream: str = DEFAULT_AI_STREAM
    ai_group: str | None = None  # the AI panel follows a group's newest item...
    ai_item: str | None = None  # ...or this one item of it
    demo: bool = False
    fps: int = DEFAULT_FPS

    def __repr__(self) -> str:  # the token is a secret: never in a repr
        token = "***" if self.token else None
        return (
            f"Options(url={self.url!r}, stream={self.stream!r}, group={self.group!r}, "
            f"item={self.item!r}, ai={self.ai_source!r}, token={token}, demo={self.demo})"
        )

    @property
    def base_http_url(self) -> str:
        """The HTTP steps' base URL: ``--http-url``, or derived from ``--url``."""
        return self.http_url or derive_http_url(self.url)

    @property
    def room(self) -> str:
        """``stream/group`` or ``stream/group/item``: what the table shows."""
        path = f"{self.stream}/{self.group}"
        return f"{path}/{self.item}" if self.item is not None else path

    @property
    def ai_source(self) -> str | None:
        """What the AI panel follows: ``stream/group`` (its newest item), ``stream/group/item``."""
        if self.ai_group is None:
            return None
        path = f"{self.ai_stream}/{self.ai_group}"
        return f"{path}/{self.ai_item}" if self.ai_item is not None else path

    @property
    def todo_keys(self) -> bool:
        """Whether the a/c/d keys apply: the table shows the seeds' todo stream."""
        return self.stream == TODO_STREAM


def derive_http_url(ws_url: str) -> str:
    """``ws://host:port/path?q`` -> ``http://host:port`` (``wss`` -> ``https``)."""
    parts = urlsplit(ws_url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    netloc = parts.netloc.rpartition("@")[2]  # never carry user info over
    return urlunsplit((scheme, netloc, "", "", ""))
