"""A real ``redis-server`` for tests: on a free loopback port, nothing saved, stopped by PID.

    async with RedisProcess() as redis_server:
        redis_server.url            # redis://127.0.0.1:<port>/0

It runs Debian's ``redis-server`` (the Makefile's system stamp installs it) with
``--save "" --appendonly no``: nothing touches the disk. :func:`require_redis`
skips a test, with the reason, only where ``redis-server`` or the ``redis``
package is missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

__all__ = ["RedisProcess", "free_port", "redis_missing", "require_redis"]

START_TIMEOUT = 10.0


def redis_missing() -> str | None:
    """Why the Redis tests cannot run here, or None when they can."""
    if shutil.which("redis-server") is None:
        return (
            "redis-server is not installed (make install installs it with apt-get: "
            "apt-get install redis-server)"
        )
    try:
        import redis.asyncio  # noqa: F401
    except ImportError:
        return "the redis package is not installed: pip install -e '.[redis]'"
    return None


def require_redis() -> None:
    """Skip the calling test, saying why, when redis-server or redis-py is missing."""
    reason = redis_missing()
    if reason is not None:
        pytest.skip(reason)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisProcess:
    """One ``redis-server`` process on 127.0.0.1; :meth:`start`, then :meth:`stop` (by PID)."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._dir: str | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start_sync(self) -> None:
        """Start it and wait until it answers PING (raises with its log if it does not)."""
        self._dir = tempfile.mkdtemp(prefix="motia-redis-")
        log = Path(self._dir, "redis.log")
        with open(log, "wb") as out:
            self.process = subprocess.Popen(
                [
                    "redis-server",
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    self._dir,
                    "--daemonize",
                    "no",
                    "--protected-mode",
                    "yes",
                ],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while not self._answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                text = log.read_text(errors="replace")
                self.stop_sync()
                raise RuntimeError(f"redis-server did not start on port {self.port}:\n{text}")
            time.sleep(0.02)

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def stop_sync(self) -> None:
        """SIGTERM it by PID (SIGKILL after 5 s), reap it, remove its folder."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(5)
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    async def start(self) -> None:
        await asyncio.to_thread(self.start_sync)

    async def stop(self) -> None:
        await asyncio.to_thread(self.stop_sync)

    async def __aenter__(self) -> RedisProcess:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def __enter__(self) -> RedisProcess:
        self.start_sync()
        return self

    def __exit__(self, *exc_info: object) -> None:
        with contextlib.suppress(Exception):
            self.stop_sync()
