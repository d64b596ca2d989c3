"""Runner: ours, ``motia_client.AsyncStreamClient``, one subscription, one change listener.

Exits with ``EXIT_UNAVAILABLE`` and a one-line reason while the client does not exist.
``--transport NAME`` is passed to the client as ``transport=NAME``; ``--uvloop`` runs it
on uvloop.

The group's ordered items are a lazy snapshot, built only when read (O(N)), so the
listener finds the touched item through ``sub.items_by_id`` (O(1)), the way a listener
that does not render the whole list would. ``--read-items`` reads it from the ordered
items instead, which costs the O(N) snapshot on every change (a UI re-rendering a list).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from benchmarks.runners._common import (
    GroupTracker,
    ItemTracker,
    crashed,
    finish,
    parse_args,
    unavailable,
)
from benchmarks.workload import DONE_EVENT

NAME = "ours"


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--transport", default=None, help="AsyncStreamClient(transport=...)")
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop")
    parser.add_argument("--name", default=NAME, help="runner name in the result")
    parser.add_argument(
        "--read-items", action="store_true", help="locate updates in the ordered items"
    )


async def run(args: argparse.Namespace, client_class: Any) -> int:
    options: dict[str, Any] = {"reconnect": False}
    if args.transport is not None:
        options["transport"] = args.transport
    finished = asyncio.Event()
    async with client_class(args.url, **options) as client:
        tracker: GroupTracker | ItemTracker
        if args.item:
            sub = client.subscribe_item(args.stream, args.group, args.item)
            tracker = ItemTracker(args.name, args)
        else:
            sub = client.subscribe_group(args.stream, args.group, sort_key=args.sort_key)
            lookup = None if args.read_items else (lambda: sub.items_by_id)
            tracker = GroupTracker(args.name, args, lookup)

        def on_done(data: Any) -> None:
            tracker.on_done(data)
            finished.set()

        sub.add_change_listener(tracker.on_change)
        sub.on_event(DONE_EVENT, on_done)
        try:
            await asyncio.wait_for(finished.wait(), timeout=args.timeout)
        except TimeoutError:
            tracker.fail(f"timed out after {args.timeout} s")
    return finish(tracker)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(NAME, argv, _options)
    try:
        from motia_client import AsyncStreamClient

        if args.name == NAME:  # the release wheel: its core must be the compiled one
            from motia_client import _session

            if not (_session.__file__ or "").endswith((".so", ".pyd")):
                return unavailable(args.name, f"expected a compiled core: {_session.__file__}")
    except ImportError as exc:
        return unavailable(args.name, f"motia_client.AsyncStreamClient not available yet ({exc})")
    try:
        if args.uvloop:
            import uvloop

            return uvloop.run(run(args, AsyncStreamClient))
        return asyncio.run(run(args, AsyncStreamClient))
    except Exception as exc:
        return crashed(args.name, exc)


if __name__ == "__main__":
    sys.exit(main())
