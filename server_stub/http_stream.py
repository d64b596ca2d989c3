"""The streaming HTTP steps of the seeds: ``/sse``, ``/chat`` and the ``/open-ai`` flow.

- ``POST /sse`` (form or JSON body): ``event: item`` frames, then ``event: done`` with
  ``{"total": N}``. ``?count=`` (0-1000), ``?delay_ms=`` (0-10000) and ``?seed=`` make
  it quick and deterministic; without them it is the seed's 5-10 items, 0.3-1 s apart.
- ``POST /chat`` ``{"message": str}``: OpenAI-style ``data: {"content": ...}`` frames,
  then ``data: [DONE]`` (``?delay_ms=``, default 20).
- ``POST /open-ai`` ``{"message": str}``: creates ``openai/<traceId>/message`` with an
  empty message, answers it with ``traceId`` (also in ``x-trace-id``), then fills it
  token by token in the background (``?delay_ms=``, default 50).
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import AsyncIterator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import BaseRoute, Route

from . import textgen
from .context import AppContext
from .errors import StoreError
from .frames import CLOCK, dumps
from .http_common import HttpError, from_store_error, query_int, read_body, validate
from .limits import MAX_TEXT_CHARS
from .seeds import OPENAI_STREAM
from .tasks import TooManyTasks

log = logging.getLogger("server_stub.http")

SSE_HEADERS = {"cache-control": "no-cache", "connection": "keep-alive", "x-accel-buffering": "no"}
ADJECTIVES = ("swift", "lazy", "bold", "calm", "fierce", "gentle", "sharp", "wild")
NOUNS = ("falcon", "river", "mountain", "crystal", "thunder", "shadow", "ember", "frost")
MAX_DELAY_MS = 10_000
OPENAI_ITEM_ID = "message"


class MessageBody(BaseModel):
    """The body of ``/chat`` and ``/open-ai``."""

    model_config = ConfigDict(extra="ignore")

    message: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)


def random_items(
    params: dict[str, Any], count: int | None, rng: random.Random, seed: int | None
) -> list[dict[str, Any]]:
    """The seed's random items; ids are ``item-<seed>-<i>`` when seeded, else ``item-<ms>-<i>``."""
    fields = [{"name": name, "value": value} for name, value in params.items()]
    total = count if count is not None else 5 + rng.randrange(6)
    prefix = f"item-{seed}" if seed is not None else f"item-{CLOCK.now()}"
    return [
        {
            "id": f"{prefix}-{index}",
            "label": f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}",
            "score": round(rng.random() * 100),
            "source": fields[index % len(fields)] if fields else None,
        }
        for index in range(total)
    ]


def stream_routes(ctx: AppContext) -> list[BaseRoute]:
    """The routes, bound to ``ctx``."""

    async def sse(request: Request) -> StreamingResponse:
        params = await read_body(request)
        count = query_int(request, "count", None, 0, 1000)
        delay_ms = query_int(request, "delay_ms", None, 0, MAX_DELAY_MS)
        seed = query_int(request, "seed", None, -(2**63), 2**63 - 1)
        rng = random.Random(seed)
        items = random_items(params, count, rng, seed)

        async def frames() -> AsyncIterator[str]:
            for item in items:
                yield f"event: item\ndata: {dumps(item)}\n\n"
                delay = delay_ms if delay_ms is not None else 300 + rng.random() * 700
                if not await ctx.pause(delay / 1000):
                    return  # the server is stopping: end the stream now
            yield f"event: done\ndata: {dumps({'total': len(items)})}\n\n"

        return StreamingResponse(frames(), media_type="text/event-stream", headers=SSE_HEADERS)

    async def chat(request: Request) -> StreamingResponse:
        body = validate(MessageBody, await read_body(request))
        delay = (query_int(request, "delay_ms", 20, 0, MAX_DELAY_MS) or 0) / 1000
        pieces = textgen.tokens(textgen.reply(body.message))

        async def frames() -> AsyncIterator[str]:
            for piece in pieces:
                yield f"data: {dumps({'content': piece})}\n\n"
                if not await ctx.pause(delay):
                    return  # the server is stopping: end the stream now
            yield "data: [DONE]\n\n"

        return StreamingResponse(frames(), media_type="text/event-stream", headers=SSE_HEADERS)

    async def open_ai(request: Request) -> JSONResponse:
        body = validate(MessageBody, await read_body(request))
        delay = (query_int(request, "delay_ms", 50, 0, MAX_DELAY_MS) or 0) / 1000
        if ctx.tasks.full:
            raise HttpError(503, "too many answers being written; retry shortly")
        trace_id = str(uuid.uuid4())
        try:
            item = await ctx.store.set(OPENAI_STREAM, trace_id, OPENAI_ITEM_ID, {"message": ""})
        except StoreError as exc:
            raise from_store_error(exc) from None
        try:
            ctx.tasks.spawn(_fill(ctx, trace_id, body.message, delay), name=f"open-ai {trace_id}")
        except TooManyTasks:  # pragma: no cover - checked just above, on the same loop step
            raise HttpError(503, "too many answers being written; retry shortly") from None
        return JSONResponse({**item, "traceId": trace_id}, headers={"x-trace-id": trace_id})

    return [
        Route("/sse", sse, methods=["POST"]),
        Route("/chat", chat, methods=["POST"]),
        Route("/open-ai", open_ai, methods=["POST"]),
    ]


async def _fill(ctx: AppContext, trace_id: str, prompt: str, delay: float) -> None:
    """The ``CallOpenAi`` step: write the answer into the item, one token more each time."""
    written = ""
    for piece in textgen.tokens(textgen.reply(prompt)):
        if not await ctx.pause(delay):
            return
        written += piece
        try:
            await ctx.store.set(OPENAI_STREAM, trace_id, OPENAI_ITEM_ID, {"message": written})
        except StoreError as exc:  # e.g. the store filled up meanwhile: stop writing
            log.warning("the answer %s stopped: %s", trace_id, exc)
            return
