"""Assembles the server: the shared context and the Starlette app on one port.

``/`` serves both the stream WebSocket and ``GET /`` (a small JSON description, handy
as a readiness probe); the seed steps are mounted next to it. Every error answer is
JSON.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route, WebSocketRoute

from .auth import Authenticator, AuthFunction, RequireToken
from .context import AppContext
from .frames import Dialect, FrameEncoder
from .http_admin import admin_routes
from .http_common import HttpError, http_error_handler
from .http_stream import stream_routes
from .http_todo import todo_routes
from .limits import DEFAULT_MAX_QUEUE, DEFAULT_MAX_QUEUE_BYTES, MAX_BACKGROUND_TASKS
from .seeds import install_seed_triggers, seed_streams
from .state import StateStore
from .store import StoreLimits, StreamStore
from .stores import MEMORY, store_from_url
from .streams import StreamConfig, StreamRegistry
from .tasks import TaskSet
from .ws import StreamEndpoint


def build_context(
    *,
    dialect: Dialect = "motia",
    token: str | None = None,
    auth: AuthFunction | None = None,
    streams: Iterable[StreamConfig | str] = (),
    max_queue: int = DEFAULT_MAX_QUEUE,
    strict_streams: bool = True,
    store: StreamStore | str | None = None,
    redis_prefix: str | None = None,
    max_queue_bytes: int = DEFAULT_MAX_QUEUE_BYTES,
    limits: StoreLimits | None = None,
    echo_state_events: bool = False,
) -> AppContext:
    """Seed streams (plus ``streams``), a store validating against them, the seed triggers.

    ``store`` is a store object, or a URL for :func:`~server_stub.stores.store_from_url`
    (``"memory"``, ``"redis://..."``); None is a new in-memory store.
    """
    if max_queue < 1:
        raise ValueError("max_queue must be at least 1")
    if max_queue_bytes < 1:
        raise ValueError("max_queue_bytes must be at least 1")
    if isinstance(streams, str):
        raise TypeError("streams= takes a list of stream names or StreamConfigs, not one string")
    registry = StreamRegistry([*seed_streams(), *streams], strict=strict_streams)
    if store is None or isinstance(store, str):
        the_store = store_from_url(
            store or MEMORY, validator=registry.validate, limits=limits, redis_prefix=redis_prefix
        )
    else:
        the_store = store
    state = StateStore()
    install_seed_triggers(the_store, state)
    return AppContext(
        store=the_store,
        state=state,
        streams=registry,
        auth=Authenticator(token=token, auth=auth),
        encoder=FrameEncoder(dialect),
        max_queue=max_queue,
        tasks=TaskSet(MAX_BACKGROUND_TASKS),
        max_queue_bytes=max_queue_bytes,
        echo_state_events=echo_state_events,
    )


def build_app(ctx: AppContext, endpoint: StreamEndpoint) -> Starlette:
    """The ASGI app: stream socket and info at ``/``, then the seed steps."""

    async def info(request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "name": "motia-stub",
                "dialect": ctx.dialect,
                "auth": ctx.auth.enabled,
                "streams": ctx.streams.names(),
            }
        )

    routes: list[BaseRoute] = [
        WebSocketRoute("/", endpoint.handle),
        Route("/", info, methods=["GET"]),
        *todo_routes(ctx),
        *stream_routes(ctx),
        *admin_routes(ctx, endpoint),
    ]
    return Starlette(
        routes=routes,
        middleware=[Middleware(RequireToken, auth=ctx.auth)],
        exception_handlers={
            HttpError: http_error_handler,
            HTTPException: http_error_handler,
            Exception: http_error_handler,
        },
    )
