"""The todo HTTP steps of the seeds, for any todo group.

The group is the ``groupId`` query parameter (default ``inbox``), the same on every route:

- ``GET /todo?groupId=work`` -> the group's todos, a JSON array in the stream's order
- ``POST /todo?groupId=work`` ``{"description": str, "dueDate"?: str}`` -> the new todo
- ``POST /todo/{todoId}/complete?groupId=work`` -> ``{"ok": true, "todo": ...}`` (404 if unknown)
- ``DELETE /todo/{todoId}?groupId=work`` -> ``{"ok": true, "todo": <last value>}`` (404 if unknown)
- ``POST /todo/ping?groupId=work`` (optional JSON object) -> a ``ping`` custom event to the group

An invalid ``groupId`` (empty, longer than the name limit, not valid Unicode) is a 400
with a field error; bad bodies are 400/413/415 as everywhere (``http_common``).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from . import todos
from .context import AppContext
from .errors import FieldError, ItemNotFound, StoreError
from .http_common import HttpError, bad_request, from_store_error, read_body, validate
from .limits import MAX_TEXT_CHARS
from .names import name_problem

GROUP_PARAM = "groupId"


class CreateTodoBody(BaseModel):
    """The body of ``POST /todo``."""

    model_config = ConfigDict(extra="ignore")

    description: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    dueDate: str | None = Field(default=None, max_length=100)


def group_of(request: Request) -> str:
    """The ``groupId`` query parameter (``inbox`` when absent), or a 400 saying what is wrong."""
    values = request.query_params.getlist(GROUP_PARAM)
    if not values:
        return todos.INBOX
    if len(values) > 1:
        raise bad_request(
            "invalid query parameter 'groupId'",
            [FieldError(GROUP_PARAM, "must be given once", "value_error")],
        )
    problem = name_problem(values[0])
    if problem is not None:
        raise bad_request(
            f"invalid query parameter 'groupId': {problem}",
            [FieldError(GROUP_PARAM, problem, "value_error")],
        )
    return values[0]


def todo_routes(ctx: AppContext) -> list[BaseRoute]:
    """The routes, bound to ``ctx``."""

    async def list_(request: Request) -> JSONResponse:
        return JSONResponse(await todos.list_todos(ctx.hooks, group_of(request)))

    async def create(request: Request) -> JSONResponse:
        group = group_of(request)
        body = validate(CreateTodoBody, await read_body(request))
        try:
            todo = await todos.create_todo(ctx.hooks, body.description, body.dueDate, group)
        except StoreError as exc:
            raise from_store_error(exc) from None
        return JSONResponse(todo)

    async def complete(request: Request) -> JSONResponse:
        group = group_of(request)
        todo_id = request.path_params["todoId"]
        try:
            todo = await todos.complete_todo(ctx.hooks, todo_id, group)
        except ItemNotFound:
            raise HttpError(404, f"todo {todo_id!r} not found in group {group!r}") from None
        except StoreError as exc:
            raise from_store_error(exc) from None
        return JSONResponse({"ok": True, "todo": todo})

    async def delete(request: Request) -> JSONResponse:
        group = group_of(request)
        todo_id = request.path_params["todoId"]
        try:
            todo = await todos.delete_todo(ctx.hooks, todo_id, group)
        except ItemNotFound:
            raise HttpError(404, f"todo {todo_id!r} not found in group {group!r}") from None
        except StoreError as exc:
            raise from_store_error(exc) from None
        return JSONResponse({"ok": True, "todo": todo})

    async def ping(request: Request) -> JSONResponse:
        group = group_of(request)
        data = await read_body(request)
        try:
            await todos.ping(ctx.hooks, data, group)
        except StoreError as exc:
            raise from_store_error(exc) from None
        return JSONResponse({"ok": True})

    return [
        Route("/todo", list_, methods=["GET"]),
        Route("/todo", create, methods=["POST"]),
        Route("/todo/ping", ping, methods=["POST"]),
        Route("/todo/{todoId}/complete", complete, methods=["POST"]),
        Route("/todo/{todoId}", delete, methods=["DELETE"]),
    ]
