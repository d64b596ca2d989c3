"""Runner: the limit of the fast stack, a bare ``picows`` listener decoding with ``orjson``.

Like ``bare_ws`` (no client, no state: decode each frame, read ``sentNs``, stop at
``bench-done``), on picows' Cython WebSocket and uvloop where installed: the ceiling
for a client on the ``fast`` transport.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

from benchmarks.runners._common import Tracker, crashed, finish, parse_args, unavailable
from benchmarks.workload import DONE_EVENT

NAME = "bare_picows_orjson"


async def run(args: argparse.Namespace, tracker: Tracker) -> None:
    import orjson
    from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

    data = {"streamName": args.stream, "groupId": args.group, "subscriptionId": "bench-picows"}
    if args.item:
        data["id"] = args.item
    join = json.dumps({"type": "join", "data": data}).encode()
    finished = asyncio.get_running_loop().create_future()
    loads, time_ns = orjson.loads, time.time_ns
    # Enum members read once, as the client's transport does (~75 ns per lookup).
    text, binary, close = WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.CLOSE
    append = tracker.latencies.append

    class Listener(WSListener):
        def on_ws_connected(self, transport: WSTransport) -> None:
            transport.send(WSMsgType.TEXT, join)

        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            msg_type = frame.msg_type
            if msg_type is not text and msg_type is not binary:
                if msg_type is close:
                    transport.disconnect()
                return
            if not frame.fin:  # the benchmark server never fragments
                tracker.fail("unexpected fragmented frame")
                transport.disconnect()
                return
            msg = loads(frame.get_payload_as_memoryview())
            event = msg["event"]
            kind = event["type"]
            if kind == "update":
                append(time_ns() - event["data"]["sentNs"])
            elif kind == "sync":
                tracker.mark_sync()
            elif kind == "event" and event["event"]["type"] == DONE_EVENT:
                tracker.on_done(event["event"]["data"])
                transport.send_close()
                transport.disconnect()

        def on_ws_disconnected(self, transport: WSTransport) -> None:
            if not finished.done():
                finished.set_result(None)

    transport, _ = await ws_connect(Listener, args.url, max_frame_size=1 << 30)
    try:
        await finished
    finally:
        transport.disconnect()
        await transport.wait_disconnected()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(NAME, argv)
    try:
        import orjson  # noqa: F401
        import picows  # noqa: F401
    except ImportError as exc:
        return unavailable(NAME, f"{exc.name} is not installed (pip install 'motia-client[fast]')")
    tracker = Tracker(NAME, args)
    coro: Any = asyncio.wait_for(run(args, tracker), timeout=args.timeout)
    try:
        try:
            import uvloop
        except ImportError:
            tracker.notes.append("loop=asyncio")
            asyncio.run(coro)
        else:
            tracker.notes.append("loop=uvloop")
            uvloop.run(coro)
    except TimeoutError:
        tracker.fail(f"timed out after {args.timeout} s")
    except Exception as exc:
        return crashed(NAME, exc)
    return finish(tracker)


if __name__ == "__main__":
    sys.exit(main())
