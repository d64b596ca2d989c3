"""Entry point of the ``motia-stub`` console script.

    motia-stub [--host 127.0.0.1] [--port 3000] [--dialect motia|iii] [--token TOKEN] [--demo]

Logs go to stderr; the token is never printed. SIGINT/SIGTERM stop it cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence

from ._guard import DEFAULT_BODY_TIMEOUT, DEFAULT_HEAD_TIMEOUT
from .frames import DIALECTS
from .logs import install_redaction
from .server import StubServer

log = logging.getLogger("server_stub")

AUTH_HELP = (
    "require this token from every client: the stream socket (HTTP 401 before the "
    "upgrade) and the HTTP steps (401) accept it only as 'Authorization: Bearer <token>', "
    "'?authToken=<token>' or (socket only) the subprotocol pair ['Authorization', <token>]; "
    "a client presenting it is the user 'stub-user'. Without --token every client is "
    "anonymous and the private-messages stream refuses every join (default: no token)"
)


def auth_summary(token_required: bool) -> str:
    """The startup log's sentence on authentication (never the token itself)."""
    if token_required:
        return (
            "token auth on: the stream socket and the HTTP steps require the token (401 without it)"
        )
    return "token auth off: every client is anonymous; private-messages refuses every join"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line, validated by argparse."""
    parser = argparse.ArgumentParser(
        prog="motia-stub",
        description="The reference Motia stream server: HTTP steps and streams on one port.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=3000, help="port to bind; 0 picks a free one")
    parser.add_argument("--dialect", choices=DIALECTS, default="motia", help="envelope dialect")
    parser.add_argument("--token", default=None, help=AUTH_HELP)
    parser.add_argument("--demo", action="store_true", help="keep a lively demo dataset going")
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    parser.add_argument(
        "--max-connections",
        type=int,
        default=None,
        metavar="N",
        help="open connections (HTTP and stream sockets) at most; more get 503 "
        "(default: the open-file limit minus 64)",
    )
    parser.add_argument(
        "--head-timeout",
        type=float,
        default=DEFAULT_HEAD_TIMEOUT,
        metavar="SECONDS",
        help="a request head must be complete within this; else 408 and close "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--body-timeout",
        type=float,
        default=DEFAULT_BODY_TIMEOUT,
        metavar="SECONDS",
        help="a request body must be complete within this; else the connection is closed "
        "(default: %(default)s)",
    )
    args = parser.parse_args(argv)
    if args.max_connections is not None and args.max_connections < 1:
        parser.error("--max-connections must be at least 1")
    if not (args.head_timeout > 0 and args.body_timeout > 0):
        parser.error("--head-timeout and --body-timeout must be positive")
    if not 0 <= args.port <= 65535:
        parser.error("--port must be between 0 and 65535")
    if args.token is not None and not args.token:
        parser.error("--token must not be empty")
    return args


async def serve(args: argparse.Namespace) -> int:
    """Run until SIGINT or SIGTERM; 1 if the port cannot be bound."""
    stub = StubServer(
        host=args.host,
        port=args.port,
        dialect=args.dialect,
        token=args.token,
        demo=args.demo,
        access_log=True,
        max_connections=args.max_connections,
        head_timeout=args.head_timeout,
        body_timeout=args.body_timeout,
    )
    try:
        await stub.start()
    except OSError as exc:
        log.error("cannot listen on %s:%s: %s", args.host, args.port, exc.strerror or exc)
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info(
        "streams at %s, HTTP at %s, dialect %s%s",
        stub.ws_url,
        stub.http_url,
        stub.dialect,
        ", demo data on" if args.demo else "",
    )
    log.info("%s", auth_summary(args.token is not None))
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        log.info("stopping")
        await stub.stop()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the arguments, set up logging on stderr, run the server."""
    args = parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    install_redaction()
    return asyncio.run(serve(args))


if __name__ == "__main__":
    raise SystemExit(main())
