"""Stream declarations: name, optional pydantic schema, optional join/leave hooks.

This is the Python form of a Motia ``StreamConfig``::

    StreamConfig(name="todo", schema=Todo, on_join=count_watcher, on_leave=uncount_watcher)

``on_join(subscription, context, auth_context)`` may refuse by returning
``JoinResult(unauthorized=True, reason=...)``; returning None allows. Writes to a
stream with a schema are validated (extra fields are kept). Which streams exist is
configuration, as in a Motia app: a join to a stream that is not declared is refused
the way Motia refuses it (``frames.not_found_events``), unless the registry is
open (``strict=False``). A plain name declares a schemaless stream without hooks.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from .errors import SchemaError, pydantic_field_errors
from .frames import Item
from .names import name_problem
from .state import StateStore
from .store import StreamStore

AuthContext = dict[str, Any]
"""What the connect-time authentication said about a socket (None: anonymous)."""


@dataclass(frozen=True)
class Subscription:
    """One client's join, as hooks see it."""

    stream_name: str
    group_id: str
    item_id: str | None
    subscription_id: str


@dataclass(frozen=True)
class JoinResult:
    """What ``on_join`` decided; ``reason`` is logged, the client gets the dialect's refusal."""

    unauthorized: bool = False
    reason: str | None = None


@dataclass
class HookContext:
    """What hooks and steps may touch: the streams, the state and a logger."""

    store: StreamStore
    state: StateStore
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("server_stub.hooks"))


OnJoin = Callable[[Subscription, HookContext, "AuthContext | None"], Awaitable["JoinResult | None"]]
OnLeave = Callable[[Subscription, HookContext, "AuthContext | None"], Awaitable[None]]


@dataclass(frozen=True)
class StreamConfig:
    """A declared stream."""

    name: str
    schema: type[BaseModel] | None = None
    on_join: OnJoin | None = None
    on_leave: OnLeave | None = None


class StreamRegistry:
    """The declared streams; later declarations of a name replace earlier ones."""

    def __init__(self, configs: Iterable[StreamConfig | str] = (), *, strict: bool = True) -> None:
        self._configs: dict[str, StreamConfig] = {}
        self.strict = strict
        for config in configs:
            self.declare(config)

    def declare(self, config: StreamConfig | str) -> None:
        """Add or replace a stream declaration (a name alone: schemaless, no hooks)."""
        if isinstance(config, str):
            config = StreamConfig(config)
        if not isinstance(config, StreamConfig):
            raise TypeError(f"expected a StreamConfig or a name, got {type(config).__name__}")
        problem = name_problem(config.name)
        if problem is not None:
            raise ValueError(f"stream name {config.name!r} {problem}")
        self._configs[config.name] = config

    def get(self, name: str) -> StreamConfig | None:
        """The declaration of ``name``, if any."""
        return self._configs.get(name)

    def names(self) -> list[str]:
        """Declared stream names, in declaration order."""
        return list(self._configs)

    def accepts_joins(self, name: str) -> bool:
        """Whether a client may join ``name``: a declared stream (any, when not strict)."""
        return not self.strict or name in self._configs

    def validate(self, stream: str, item: Item) -> None:
        """Raise SchemaError when ``item`` does not match the stream's schema."""
        config = self._configs.get(stream)
        if config is None or config.schema is None:
            return
        try:
            config.schema.model_validate(item)
        except PydanticValidationError as exc:
            errors = pydantic_field_errors(exc.errors())
            first = errors[0]
            raise SchemaError(
                f"item does not match the {stream!r} schema: {first.field}: {first.message}", errors
            ) from None
