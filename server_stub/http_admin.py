"""Admin routes for tests and tools, answered to loopback clients only.

- ``POST /_admin/stall?stream=todo&groupId=inbox``: the group stops delivering
  frames to open sockets (syncs still go out; see ``stalls``);
  answers ``{"ok": true, "stalled": [["todo", "inbox"]]}``
- ``POST /_admin/unstall?stream=todo&groupId=inbox``: delivery resumes (404 if it
  was not stalled)
- ``GET /_admin/stalls``: ``{"stalled": [["todo", "inbox"], ...]}``
- ``POST /_admin/drop?count=N``: abort N stream sockets picked at random (every one
  without ``count``), with no close frame, as a network failure would; answers
  ``{"ok": true, "dropped": k}``. The fleet tests cut client connections with it.

A client that is not on a loopback address gets 403; with ``--token`` the token is
required as on every HTTP route. Bad or missing parameters are a 400; a stream the
server does not declare is a 404.
"""

from __future__ import annotations

import ipaddress

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from .context import AppContext
from .errors import FieldError
from .http_common import HttpError, bad_request, query_int
from .names import name_problem
from .ws import StreamEndpoint


def _loopback_only(request: Request) -> None:
    host = request.client.host if request.client is not None else ""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise HttpError(403, "the admin routes answer loopback clients only")


def _room(request: Request, ctx: AppContext) -> tuple[str, str]:
    errors = []
    values = {}
    for name in ("stream", "groupId"):
        value = request.query_params.get(name)
        problem = name_problem(value) if value is not None else "is required"
        if problem is not None:
            errors.append(FieldError(name, problem, "value_error"))
        values[name] = value or ""
    if errors:
        raise bad_request(
            f"invalid query parameter {errors[0].field!r}: {errors[0].message}", errors
        )
    if not ctx.streams.accepts_joins(values["stream"]):
        raise HttpError(404, f"no stream {values['stream']!r}")
    return values["stream"], values["groupId"]


def admin_routes(ctx: AppContext, endpoint: StreamEndpoint) -> list[BaseRoute]:
    """The admin routes, bound to ``ctx`` and the stream endpoint."""

    def _listing() -> list[list[str]]:
        return [list(room) for room in ctx.stalls.rooms()]

    async def stall(request: Request) -> JSONResponse:
        _loopback_only(request)
        ctx.stalls.stall(*_room(request, ctx))
        return JSONResponse({"ok": True, "stalled": _listing()})

    async def unstall(request: Request) -> JSONResponse:
        _loopback_only(request)
        stream, group = _room(request, ctx)
        if not ctx.stalls.unstall(stream, group):
            raise HttpError(404, f"{stream}/{group} is not stalled")
        return JSONResponse({"ok": True, "stalled": _listing()})

    async def stalls(request: Request) -> JSONResponse:
        _loopback_only(request)
        return JSONResponse({"stalled": _listing()})

    async def drop(request: Request) -> JSONResponse:
        _loopback_only(request)
        count = query_int(request, "count", None, 0, 1_000_000)
        return JSONResponse({"ok": True, "dropped": await endpoint.drop_some(count)})

    return [
        Route("/_admin/drop", drop, methods=["POST"]),
        Route("/_admin/stall", stall, methods=["POST"]),
        Route("/_admin/unstall", unstall, methods=["POST"]),
        Route("/_admin/stalls", stalls, methods=["GET"]),
    ]
