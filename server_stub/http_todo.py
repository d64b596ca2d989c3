"""The todo HTTP steps of the seeds.

- ``POST /todo`` ``{"description": str, "dueDate"?: str}`` -> the new todo (400 on bad input)
- ``POST /todo/{todoId}/complete`` -> ``{"ok": true, "todo": ...}`` (404 if unknown)
- ``DELETE /todo/{todoId}`` -> ``{"ok": true, "todo": <last value>}`` (404 if unknown)
- ``POST /todo/ping`` (optional JSON object) -> a ``ping`` custom event to the inbox group
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from . import todos
from .context import AppContext
from .errors import ItemNotFound, StoreError
from .http_common import HttpError, from_store_error, read_body, validate
from .limits import MAX_TEXT_CHARS


class CreateTodoBody(BaseModel):
    """The body of ``POST /todo``."""

    model_config = ConfigDict(extra="ignore")

    description: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    dueDate: str | None = Field(default=None, max_length=100)


def todo_routes(ctx: AppContext) -> list[BaseRoute]:
    """The routes, bound to ``ctx``."""

    async def create(request: Request) -> JSONResponse:
        body = validate(CreateTodoBody, await read_body(request))
        try:
            todo = await todos.create_todo(ctx.hooks, body.description, body.dueDate)
        except StoreError as exc:
            raise from_store_error(exc) from None
        return JSONResponse(todo)

    async def complete(request: Request) -> JSONResponse:
        todo_id = request.path_params["todoId"]
        try:
            todo = await todos.complete_todo(ctx.hooks, todo_id)
        except ItemNotFound:
            raise HttpError(404, f"todo {todo_id!r} not found") from None
        except StoreError as exc:
            raise from_store_error(exc) from None
        return JSONResponse({"ok": True, "todo": todo})

    async def delete(request: Request) -> JSONResponse:
        todo_id = request.path_params["todoId"]
        try:
            todo = await todos.delete_todo(ctx.hooks, todo_id)
        except ItemNotFound:
            raise HttpError(404, f"todo {todo_id!r} not found") from None
        return JSONResponse({"ok": True, "todo": todo})

    async def ping(request: Request) -> JSONResponse:
        data = await read_body(request)
        try:
            await todos.ping(ctx.hooks, data)
        except StoreError as exc:
            raise from_store_error(exc) from None
        return JSONResponse({"ok": True})

    return [
        Route("/todo", create, methods=["POST"]),
        Route("/todo/ping", ping, methods=["POST"]),
        Route("/todo/{todoId}/complete", complete, methods=["POST"]),
        Route("/todo/{todoId}", delete, methods=["DELETE"]),
    ]
