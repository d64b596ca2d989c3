"""Runner: the limit of the default stack, a bare ``websockets`` receive loop.

No client and no state: it joins, JSON-decodes every frame (stdlib ``json`` on the
received ``str``, or ``orjson`` on the raw bytes: ``--decoder``), reads the update's
``sentNs`` for the latency and stops at ``bench-done``. Anything a real client does on
top of this costs time, so this is the ceiling for a client built on ``websockets``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import connect

from benchmarks.runners._common import Tracker, crashed, finish, parse_args, unavailable
from benchmarks.workload import DONE_EVENT


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--decoder", choices=["json", "orjson"], default="json")


def join_frame(args: argparse.Namespace) -> str:
    data = {"streamName": args.stream, "groupId": args.group, "subscriptionId": "bench-bare"}
    if args.item:
        data["id"] = args.item
    return json.dumps({"type": "join", "data": data})


async def run(args: argparse.Namespace, tracker: Tracker, loads: Callable[[Any], Any]) -> None:
    raw_bytes = args.decoder == "orjson"
    time_ns = time.time_ns
    append = tracker.latencies.append
    async with connect(args.url, max_size=None, compression=None) as ws:
        await ws.send(join_frame(args))
        while True:
            msg = loads(await ws.recv(decode=not raw_bytes))
            event = msg["event"]
            kind = event["type"]
            if kind == "update":
                append(time_ns() - event["data"]["sentNs"])
            elif kind == "sync":
                tracker.mark_sync()
            elif kind == "event" and event["event"]["type"] == DONE_EVENT:
                tracker.on_done(event["event"]["data"])
                return


def main(argv: list[str] | None = None) -> int:
    args = parse_args("bare_ws", argv, _options)
    name = f"bare_{args.decoder}"
    loads: Callable[[Any], Any] = json.loads
    if args.decoder == "orjson":
        try:
            import orjson
        except ImportError:
            return unavailable(name, "orjson is not installed (pip install 'motia-client[fast]')")
        loads = orjson.loads
    tracker = Tracker(name, args)
    try:
        asyncio.run(asyncio.wait_for(run(args, tracker, loads), timeout=args.timeout))
    except TimeoutError:
        tracker.fail(f"timed out after {args.timeout} s")
    except Exception as exc:
        return crashed(name, exc)
    return finish(tracker)


if __name__ == "__main__":
    sys.exit(main())
