"""A local fleet to try: Redis and several ``motia-stub`` instances sharing it (``make fleet``).

    python -m server_stub.fleet [--instances 3] [--base-port 3001] [--redis-port 6390]
                                [--redis-url URL] [-- MOTIA-STUB OPTIONS...]

Starts ``redis-server`` on 127.0.0.1 (nothing saved to disk) unless ``--redis-url``
points at a running one, then ``--instances`` processes ``motia-stub --store
<redis> --port <base-port + n>``; prints their URLs, process ids and a client line
that fails over between them; prefixes each instance's log lines with its name.
Ctrl-C (or SIGTERM) stops every process it started, by PID: the instances
(SIGTERM, SIGKILL after 10 s), then Redis. An instance that dies (try ``kill -9
<pid>``) is reported and left down, so its clients can be seen failing over.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass

from .redis_url import redact_url

START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
_LISTENING = re.compile(r"streams at (ws://\S+)")


@dataclass
class Child:
    """One process the fleet started."""

    name: str
    process: asyncio.subprocess.Process
    listening: asyncio.Event
    url: str = ""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line; everything after ``--`` goes to each ``motia-stub``."""
    parser = argparse.ArgumentParser(
        prog="python -m server_stub.fleet",
        description="Redis and several motia-stub instances sharing it, until Ctrl-C.",
    )
    parser.add_argument("--instances", type=int, default=3, help="how many (default: 3)")
    parser.add_argument(
        "--base-port", type=int, default=3001, help="the first instance's port (default: 3001)"
    )
    parser.add_argument(
        "--redis-port", type=int, default=6390, help="the Redis started here (default: 6390)"
    )
    parser.add_argument(
        "--redis-url", default=None, help="use this running Redis instead of starting one"
    )
    parser.add_argument(
        "stub_args", nargs=argparse.REMAINDER, help="-- then options for every motia-stub"
    )
    args = parser.parse_args(argv)
    if not 1 <= args.instances <= 26:
        parser.error("--instances must be between 1 and 26")
    if args.stub_args[:1] == ["--"]:
        args.stub_args = args.stub_args[1:]
    return args


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


async def _pipe(child: Child, stream: asyncio.StreamReader | None) -> None:
    """Copy a child's output to ours, each line prefixed with its name."""
    if stream is None:
        return
    while line := await stream.readline():
        text = line.decode(errors="replace").rstrip("\n")
        found = _LISTENING.search(text)
        if found and not child.listening.is_set():
            child.url = found.group(1)
            child.listening.set()
        print(f"[{child.name}] {text}", flush=True)


async def _spawn(name: str, *command: str) -> tuple[Child, asyncio.Task[None]]:
    process = await asyncio.create_subprocess_exec(
        *command,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    child = Child(name, process, asyncio.Event())
    return child, asyncio.get_running_loop().create_task(_pipe(child, process.stdout))


async def _stop(child: Child) -> None:
    """SIGTERM the child by PID, SIGKILL it after STOP_TIMEOUT; reap it."""
    process = child.process
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
        except asyncio.TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGKILL)
            await process.wait()


async def _wait_listening(child: Child) -> None:
    waiter = asyncio.ensure_future(child.listening.wait())
    exited = asyncio.ensure_future(child.process.wait())
    try:
        await asyncio.wait({waiter, exited}, timeout=START_TIMEOUT, return_when="FIRST_COMPLETED")
    finally:
        for task in (waiter, exited):
            task.cancel()
    if not child.listening.is_set():
        raise RuntimeError(f"{child.name} did not start (exit code {child.process.returncode})")


async def _start_redis(port: int, folder: str) -> tuple[Child, asyncio.Task[None], str]:
    if shutil.which("redis-server") is None:
        raise RuntimeError(
            "redis-server is not installed: apt-get install redis-server (make fleet does it), "
            "or pass --redis-url redis://HOST:PORT/DB"
        )
    if not _port_free(port):
        raise RuntimeError(f"port {port} is in use: pass --redis-port PORT or --redis-url URL")
    child, pipe = await _spawn(
        "redis",
        "redis-server",
        *("--port", str(port), "--bind", "127.0.0.1", "--save", ""),
        *("--appendonly", "no", "--dir", folder, "--daemonize", "no"),
    )
    url = f"redis://127.0.0.1:{port}/0"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_TIMEOUT
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return child, pipe, url
        except OSError:
            if child.process.returncode is not None or loop.time() > deadline:
                raise RuntimeError("redis-server did not start") from None
            await asyncio.sleep(0.05)


async def run(args: argparse.Namespace) -> int:
    """Start everything, wait for Ctrl-C/SIGTERM, stop everything by PID."""
    children: list[Child] = []
    pipes: list[asyncio.Task[None]] = []
    folder = tempfile.mkdtemp(prefix="motia-fleet-")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        redis: Child | None = None
        if args.redis_url is None:
            redis, pipe, url = await _start_redis(args.redis_port, folder)
            children.append(redis)
            pipes.append(pipe)
        else:
            url = args.redis_url
        ports = [args.base_port + n for n in range(args.instances)]
        taken = [port for port in ports if not _port_free(port)]
        if taken:
            raise RuntimeError(f"ports in use: {taken}; pass --base-port PORT")
        instances = []
        for n, port in enumerate(ports):
            command = [sys.executable, "-m", "server_stub", "--port", str(port), "--store", url]
            child, pipe = await _spawn(chr(ord("a") + n), *command, *args.stub_args)
            children.append(child)
            instances.append(child)
            pipes.append(pipe)
        for child in instances:
            await _wait_listening(child)
        urls = [child.url for child in instances]
        print(f"\nfleet ready: Redis at {redact_url(url)}", flush=True)
        if redis is not None:
            print(f"  redis: pid {redis.process.pid}", flush=True)
        for child in instances:
            http = child.url.replace("ws://", "http://").rstrip("/")
            print(f"  {child.name}: {child.url}  {http}  pid {child.process.pid}", flush=True)
        first = urls[0].replace("ws://", "http://").rstrip("/")
        print(
            f"try: curl -XPOST {first}/todo -H 'content-type: application/json' "
            '-d \'{"description": "hello"}\'\n'
            f"     python -c 'from motia_client import StreamClient; ...' with "
            f"StreamClient({urls!r})\n"
            "Ctrl-C stops every process.\n",
            flush=True,
        )
        waits = {asyncio.ensure_future(child.process.wait()): child for child in children}
        stopping = asyncio.ensure_future(stop.wait())
        while not stop.is_set():
            done, _ = await asyncio.wait({stopping, *waits}, return_when="FIRST_COMPLETED")
            for finished in done - {stopping}:
                child = waits.pop(finished)
                print(f"[fleet] {child.name} exited ({child.process.returncode})", flush=True)
                if child is redis:
                    print("[fleet] Redis is gone: stopping the fleet", flush=True)
                    stop.set()
            if not waits:
                stop.set()
        for task in waits:
            task.cancel()
        stopping.cancel()
        return 0
    except RuntimeError as exc:
        print(f"[fleet] {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        print("[fleet] stopping", flush=True)
        for child in reversed(children):  # the instances first, Redis last
            await _stop(child)
        for pipe in pipes:
            pipe.cancel()
        await asyncio.gather(*pipes, return_exceptions=True)
        shutil.rmtree(folder, ignore_errors=True)
        print("[fleet] stopped", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the fleet until Ctrl-C."""
    return asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
