"""Runner: the official Python client, ``motia.stream_client`` of PyPI ``motia==1.0.4rc1``.

Its package ``__init__`` imports the iii engine SDK, which ``--no-deps`` does not
install, so the module file is loaded by path from ``benchmarks/.peers/py``.

Two accommodations, both reported in the result's ``notes``:

* The client connects with websockets' default 1 MiB frame limit, so a 10,000-item
  sync (about 1.5 MB) kills its connection for good (and it never reconnects). Unless
  ``--stock-max-size`` is given, ``websockets.connect`` is wrapped to pass
  ``max_size=None`` so the run can measure anything at all.
* It swallows a dead connection (a debug log line, then its receive task cancels
  itself); a log handler turns that line into a failed run instead of a hang.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import importlib.util
import logging
import sys
from types import ModuleType
from typing import Any

from benchmarks.runners._common import (
    crashed,
    finish,
    parse_args,
    tracker_for,
    unavailable,
)
from benchmarks.setup_peers import PY_STREAM_CLIENT
from benchmarks.workload import DONE_EVENT

NAME = "official_py"


def load_stream_client() -> ModuleType:
    """Import ``motia/stream_client.py`` from the peers dir without its package."""
    spec = importlib.util.spec_from_file_location("motia_official_stream_client", PY_STREAM_CLIENT)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {PY_STREAM_CLIENT}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


class _DeathWatch(logging.Handler):
    """The client logs "Stream receive loop ended: <exc>" at DEBUG when its socket dies."""

    def __init__(self, on_death: Any) -> None:
        super().__init__(logging.DEBUG)
        self._on_death = on_death

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("Stream receive loop ended"):
            self._on_death(f"the official client's connection died: {message}")


async def run(args: Any, module: ModuleType) -> int:
    tracker = tracker_for(NAME, args)
    finished = asyncio.Event()

    def on_death(message: str) -> None:
        tracker.fail(message)
        finished.set()

    def on_done(data: Any) -> None:
        tracker.on_done(data)
        finished.set()

    log = logging.getLogger("motia.stream_client")
    log.setLevel(logging.DEBUG)
    log.propagate = False
    log.addHandler(_DeathWatch(on_death))

    client = module.StreamClient(args.url)
    if args.item:
        sub = client.subscribe_item(args.stream, args.group, args.item)
    else:
        sub = client.subscribe_group(args.stream, args.group, sort_key=args.sort_key)
    sub.add_change_listener(tracker.on_change)
    sub.on_event(DONE_EVENT, on_done)
    try:
        await asyncio.wait_for(finished.wait(), timeout=args.timeout)
    except TimeoutError:
        tracker.fail(f"timed out after {args.timeout} s")
    finally:
        await client.disconnect()
    if not args.stock_max_size:
        tracker.notes.append("websockets max_size raised from 1 MiB to unlimited")
    return finish(tracker)


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stock-max-size",
        action="store_true",
        help="keep the client's 1 MiB frame limit (a 10,000-item sync then kills it)",
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(NAME, argv, _options)
    try:
        module = load_stream_client()
    except (ImportError, OSError) as exc:
        return unavailable(NAME, f"{exc}; run python -m benchmarks.setup_peers")
    if not args.stock_max_size:
        import websockets

        websockets.connect = functools.partial(websockets.connect, max_size=None)  # type: ignore[misc,assignment]
    try:
        return asyncio.run(run(args, module))
    except Exception as exc:  # report, never a bare traceback the harness cannot parse
        return crashed(NAME, exc)


if __name__ == "__main__":
    sys.exit(main())
