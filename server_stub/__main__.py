"""Entry point of the ``motia-stub`` console script (``motia-stub --help`` lists everything).

    motia-stub [--host 127.0.0.1] [--port 3000] [--dialect motia|iii] [--token TOKEN]
               [--stream-def NAME ...] [--echo-state-events] [--demo] [--version]
               [--store memory|redis://HOST:PORT/DB] [--redis-prefix PREFIX]

Logs go to stderr; the token is never printed. SIGINT/SIGTERM stop it cleanly.
Installed without the ``server`` extra, it says which extra to install and exits 2.
This module imports the server (starlette, uvicorn) only once the arguments are read.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from importlib import metadata
from typing import TYPE_CHECKING

from .frames import DIALECTS
from .limits import (
    DEFAULT_BODY_TIMEOUT,
    DEFAULT_HEAD_TIMEOUT,
    DEFAULT_MAX_GROUP_BYTES,
    DEFAULT_MAX_GROUP_ITEMS,
    DEFAULT_MAX_QUEUE_BYTES,
    DEFAULT_MAX_STORE_BYTES,
    FD_RESERVE,
)
from .logs import install_redaction
from .names import name_problem
from .redis_url import redact_url
from .stores import (
    MEMORY,
    MISSING_REDIS,
    REDIS_SCHEMES,
    StoreConfigError,
    check_store_url,
    scheme_of,
)

if TYPE_CHECKING:
    from .server import StubServer

log = logging.getLogger("server_stub")

DISTRIBUTION = "motia-client"
SERVER_EXTRA_PACKAGES = ("starlette", "uvicorn", "h11")
MISSING_EXTRA = (
    "motia-stub needs the server extra ({missing} is not installed): "
    "pip install 'motia-client[server]'"
)
SEED_STREAMS = "todo, inbox, private-messages, openai, stats"
AUTH_HELP = (
    "require this token from every client: the stream socket (HTTP 401 before the "
    "upgrade) and the HTTP steps (401) accept it only as 'Authorization: Bearer <token>', "
    "'?authToken=<token>' or (socket only) the subprotocol pair ['Authorization', <token>]; "
    "a client presenting it is the user 'stub-user'. Without --token every client is "
    "anonymous and the private-messages stream refuses every join (default: no token)"
)


def version() -> str:
    """The installed version of the distribution that ships ``motia-stub``."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "unknown"


def auth_summary(token_required: bool) -> str:
    """The startup log's sentence on authentication (never the token itself)."""
    if token_required:
        return (
            "token auth on: the stream socket and the HTTP steps require the token (401 without it)"
        )
    return "token auth off: every client is anonymous; private-messages refuses every join"


def _stream_name(value: str) -> str:
    problem = name_problem(value)
    if problem is not None:
        raise argparse.ArgumentTypeError(f"a stream name {problem}")
    return value


def _store_url(value: str) -> str:
    try:
        return check_store_url(value)
    except StoreConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def _positive_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if not number > 0:
        raise argparse.ArgumentTypeError("must be positive")
    return number


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line, validated by argparse (``--help`` shows every default)."""
    parser = argparse.ArgumentParser(
        prog="motia-stub",
        description="The reference Motia stream server: HTTP steps and streams on one port.",
    )
    add = parser.add_argument
    add("--version", action="version", version=f"motia-stub {version()}")
    add("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    add(
        "--port",
        type=int,
        default=3000,
        help="port to bind; 0 picks a free one (default: %(default)s)",
    )
    add(
        "--dialect",
        choices=DIALECTS,
        default="motia",
        help="envelope dialect: motia (0.x) or iii (1.x engine) (default: %(default)s)",
    )
    add("--token", default=None, help=AUTH_HELP)
    add(
        "--stream-def",
        metavar="NAME",
        action="append",
        type=_stream_name,
        default=[],
        help="declare one more stream (schemaless, no hooks; repeat for several). A join "
        "to a stream that is not declared is refused as Motia refuses it "
        f"(default: only the seeds' {SEED_STREAMS})",
    )
    add(
        "--echo-state-events",
        action="store_true",
        help="also push every create/update/delete as a custom event of that type, as "
        "Motia 0.17's Redis adapter does (default: off)",
    )
    add(
        "--demo",
        action="store_true",
        help="keep a lively demo dataset going in todo/inbox and openai/demo (default: off)",
    )
    add(
        "--store",
        metavar="URL",
        type=_store_url,
        default=MEMORY,
        help="where stream items live: 'memory' (this process only) or a Redis URL such "
        "as redis://127.0.0.1:6379/0, shared by every motia-stub pointed at it (a fleet: "
        "a write through one reaches subscribers of all; needs the redis extra) "
        "(default: %(default)s)",
    )
    add(
        "--redis-prefix",
        metavar="PREFIX",
        default="motia-stub:",
        help="the prefix of every Redis key and channel; fleets sharing one Redis "
        "database need different prefixes (default: %(default)s)",
    )
    add(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="the least severe log records written to stderr; debug shows every frame "
        "and header, tokens redacted (default: %(default)s)",
    )
    limits = parser.add_argument_group("limits")
    limits.add_argument(
        "--max-connections",
        type=_positive_int,
        default=None,
        metavar="N",
        help="open connections (HTTP and stream sockets) at most; over it the oldest one "
        "still sending its request head is dropped, else the newcomer gets 503 "
        f"(default: the open-file limit minus {FD_RESERVE})",
    )
    limits.add_argument(
        "--head-timeout",
        type=_positive_float,
        default=DEFAULT_HEAD_TIMEOUT,
        metavar="SECONDS",
        help="a request head must be complete within this; else 408 and close "
        "(default: %(default)s)",
    )
    limits.add_argument(
        "--body-timeout",
        type=_positive_float,
        default=DEFAULT_BODY_TIMEOUT,
        metavar="SECONDS",
        help="a request body must be complete within this; else the connection is closed "
        "(default: %(default)s)",
    )
    limits.add_argument(
        "--max-queue-bytes",
        type=_positive_int,
        default=DEFAULT_MAX_QUEUE_BYTES,
        metavar="BYTES",
        help="a socket's unsent frames at most; a client letting more pile up is closed "
        "with 1013 (default: %(default)s)",
    )
    limits.add_argument(
        "--max-group-items",
        type=_positive_int,
        default=DEFAULT_MAX_GROUP_ITEMS,
        metavar="N",
        help="items per stream group at most; more get 507 (default: %(default)s)",
    )
    limits.add_argument(
        "--max-group-bytes",
        type=_positive_int,
        default=DEFAULT_MAX_GROUP_BYTES,
        metavar="BYTES",
        help="JSON bytes per stream group at most; more get 507 (default: %(default)s)",
    )
    limits.add_argument(
        "--max-store-bytes",
        type=_positive_int,
        default=DEFAULT_MAX_STORE_BYTES,
        metavar="BYTES",
        help="JSON bytes in all streams at most; more get 507 (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error("--port must be between 0 and 65535")
    if args.token is not None and not args.token:
        parser.error("--token must not be empty")
    return args


def build_server(args: argparse.Namespace) -> StubServer:
    """The server the arguments describe (imports starlette and uvicorn)."""
    from .server import StubServer

    return StubServer(
        host=args.host,
        port=args.port,
        dialect=args.dialect,
        token=args.token,
        demo=args.demo,
        streams=args.stream_def,
        access_log=True,
        max_connections=args.max_connections,
        head_timeout=args.head_timeout,
        body_timeout=args.body_timeout,
        max_queue_bytes=args.max_queue_bytes,
        max_group_items=args.max_group_items,
        max_group_bytes=args.max_group_bytes,
        max_store_bytes=args.max_store_bytes,
        echo_state_events=args.echo_state_events,
        store=args.store,
        redis_prefix=args.redis_prefix,
    )


async def serve(args: argparse.Namespace) -> int:
    """Run until SIGINT or SIGTERM; 1 if the port cannot be bound."""
    from .errors import StoreUnavailable

    stub = build_server(args)
    try:
        await stub.start()
    except StoreUnavailable as exc:
        log.error("%s", exc)
        return 1
    except OSError as exc:
        log.error("cannot listen on %s:%s: %s", args.host, args.port, exc.strerror or exc)
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info(
        "streams at %s, HTTP at %s, dialect %s%s%s",
        stub.ws_url,
        stub.http_url,
        stub.dialect,
        ", state echo events on" if args.echo_state_events else "",
        ", demo data on" if args.demo else "",
    )
    log.info("%s", auth_summary(args.token is not None))
    log.info("streams: %s", ", ".join(stub.stream_names))
    log.info("stream store: %s", redact_url(args.store))
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        log.info("stopping")
        await stub.stop()
    return 0


def missing_server_extra() -> str | None:
    """The first package of the ``server`` extra that cannot be imported, or None."""
    for name in SERVER_EXTRA_PACKAGES:
        try:
            __import__(name)
        except ImportError:
            return name
    return None


def missing_redis_extra() -> bool:
    """Whether the ``redis`` package (the ``redis`` extra) cannot be imported."""
    try:
        __import__("redis.asyncio")
    except ImportError:
        return True
    return False


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the arguments, check the server extra, set up logging on stderr, run."""
    args = parse_args(argv)
    missing = missing_server_extra()
    if missing is not None:
        print(MISSING_EXTRA.format(missing=missing), file=sys.stderr)
        return 2
    if scheme_of(args.store) in REDIS_SCHEMES and missing_redis_extra():
        print(f"motia-stub: {MISSING_REDIS}", file=sys.stderr)
        return 2
    logging.basicConfig(
        stream=sys.stderr,
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    install_redaction()
    return asyncio.run(serve(args))


if __name__ == "__main__":
    raise SystemExit(main())
