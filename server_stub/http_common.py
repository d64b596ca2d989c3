"""Request parsing for the HTTP steps: bounded bodies, JSON or form, validated into models.

Every failure is an :class:`HttpError` rendered as JSON::

    {"error": "invalid request: description: Field required",
     "errors": [{"field": "description", "message": "Field required", "type": "missing"}]}

A write the store refuses because it is full is a 507 (``StoreLimits``); a store that
cannot be reached (Redis down) is a 503 on any route.
Bodies are limited to ``MAX_BODY_BYTES`` (413), must be a JSON object or
``application/x-www-form-urlencoded`` (415 otherwise) and are validated by a pydantic
model (400 with one entry per bad field).
"""

from __future__ import annotations

import json
import logging
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from .errors import FieldError, StoreError, StoreFull, StoreUnavailable, pydantic_field_errors
from .limits import MAX_BODY_BYTES

log = logging.getLogger("server_stub.http")

M = TypeVar("M", bound=BaseModel)

JSON_TYPES = ("application/json", "text/json")
FORM_TYPE = "application/x-www-form-urlencoded"


class HttpError(Exception):
    """An error answer: status, a one-line summary and optional field errors."""

    def __init__(self, status: int, error: str, errors: list[FieldError] | None = None) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.errors = list(errors or [])

    def response(self) -> JSONResponse:
        """The JSON response for this error."""
        body: dict[str, Any] = {"error": self.error}
        if self.errors:
            body["errors"] = [error.to_json() for error in self.errors]
        return JSONResponse(body, status_code=self.status)


def bad_request(error: str, errors: list[FieldError]) -> HttpError:
    """A 400 with field errors."""
    return HttpError(400, error, errors)


def from_store_error(exc: StoreError) -> HttpError:
    """A refused store write: 507 when the store is full, 503 when it is unavailable,
    else 400 with its field errors."""
    if isinstance(exc, StoreFull):
        return HttpError(507, str(exc))
    if isinstance(exc, StoreUnavailable):
        return HttpError(503, str(exc))
    return HttpError(400, str(exc), exc.errors)


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> dict[str, Any]:
    """The body as a dict: ``{}`` when empty, else a JSON object or a form (last value wins)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HttpError(413, f"request body too large (limit {limit} bytes)")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise HttpError(413, f"request body too large (limit {limit} bytes)")
            chunks.append(chunk)
    except ClientDisconnect:  # not a server error: nobody is left to answer
        raise HttpError(400, "the client disconnected before the whole body arrived") from None
    raw = b"".join(chunks)
    if not raw.strip():
        return {}
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == FORM_TYPE:
        return _parse_form(raw)
    if content_type in JSON_TYPES or content_type.endswith("+json"):
        return _parse_json(raw)
    if content_type in ("", "text/plain"):
        try:
            return _parse_json(raw)
        except HttpError:
            return _parse_form(raw)
    raise HttpError(415, f"unsupported content type {content_type!r}; send JSON or a form")


def _parse_json(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise bad_request(
            "body is not valid JSON", [FieldError("body", str(exc), "json_invalid")]
        ) from None
    except RecursionError:
        raise bad_request(
            "body is not valid JSON", [FieldError("body", "nested too deeply", "json_invalid")]
        ) from None
    try:  # a lone surrogate escape ("\ud800") decodes to a str no frame can carry
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise bad_request(
            "body is not valid JSON",
            [FieldError("body", "a string holds a lone surrogate escape", "json_invalid")],
        ) from None
    if not isinstance(value, dict):
        raise bad_request(
            "body must be a JSON object",
            [FieldError("body", "must be a JSON object", "model_type")],
        )
    return value


def _parse_form(raw: bytes) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=True)
    except (UnicodeDecodeError, ValueError) as exc:
        raise bad_request(
            "body is not a valid form", [FieldError("body", str(exc), "form_invalid")]
        ) from None
    return dict(pairs)


def validate(model: type[M], data: dict[str, Any]) -> M:
    """``data`` as ``model``, or a 400 listing every bad field."""
    try:
        return model.model_validate(data)
    except PydanticValidationError as exc:
        errors = pydantic_field_errors(exc.errors())
        raise bad_request(
            f"invalid request: {errors[0].field}: {errors[0].message}", errors
        ) from None


def query_int(request: Request, name: str, default: int | None, low: int, high: int) -> int | None:
    """An integer query parameter within [low, high], ``default`` when absent, else 400."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise bad_request(
            f"invalid query parameter {name!r}",
            [FieldError(name, f"must be an integer from {low} to {high}", "int_range")],
        )
    return value


async def http_error_handler(request: Request, exc: Exception) -> Response:
    """Render HttpError, and starlette's own HTTPException (404, 405...), as JSON."""
    if isinstance(exc, HttpError):
        return exc.response()
    if isinstance(exc, HTTPException):
        return JSONResponse(
            {"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers
        )
    if isinstance(exc, StoreUnavailable):  # a read on a step that does not catch it
        log.warning("%s %s: %s", request.method, request.url.path, exc)
        return from_store_error(exc).response()
    log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"error": "internal server error"}, status_code=500)
