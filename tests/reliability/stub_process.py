"""The reference server as a separate process: ``python -m server_stub`` (the ``motia-stub`` CLI).

:class:`StubProcess` starts it on 127.0.0.1 (port 0, or a given port), learns the
port from its log line, and kills it with SIGKILL by PID. Its log goes to a
temporary file, which is removed when the process is reaped. Used where a test
needs a server that dies for real (restart) or whose CPU and memory are its own
(load).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

__all__ = ["StubProcess"]

_LISTENING = re.compile(r"streams at ws://127\.0\.0\.1:(\d+)/")
START_TIMEOUT = 20.0


class StubProcess:
    """One ``motia-stub`` process; :meth:`start`, then :meth:`kill` or :meth:`stop`."""

    def __init__(
        self,
        port: int = 0,
        *,
        dialect: str = "motia",
        module: str = "server_stub",
        nofile: int | None = None,
    ):
        self.port = port
        self.dialect = dialect
        self.module = module
        self.nofile = nofile  # the process's open-file limit (RLIMIT_NOFILE soft), if given
        self.process: subprocess.Popen[bytes] | None = None
        self._log: Path | None = None

    @property
    def pid(self) -> int:
        """The process id."""
        assert self.process is not None
        return self.process.pid

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> str:
        """What the process has logged so far."""
        return self._log.read_text(errors="replace") if self._log is not None else ""

    async def start(self, extra: tuple[str, ...] = ()) -> None:
        """Start the process and wait until it listens (raises if it exits or times out)."""
        handle, name = tempfile.mkstemp(prefix="motia-stub-", suffix=".log")
        self._log = Path(name)
        command = [
            sys.executable,
            "-m",
            self.module,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--dialect",
            self.dialect,
            *extra,
        ]
        with os.fdopen(handle, "wb") as log:
            self.process = subprocess.Popen(  # noqa: ASYNC220 - returns at once
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                preexec_fn=self._limit if self.nofile is not None else None,
            )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_TIMEOUT
        while True:
            found = _LISTENING.search(self.log)
            if found:
                self.port = int(found.group(1))
                return
            if self.process.poll() is not None:
                log_text = self.log
                self._cleanup()
                raise RuntimeError(f"motia-stub exited ({self.process.returncode}): {log_text}")
            if loop.time() > deadline:
                await self.kill()
                raise TimeoutError("motia-stub did not start in time")
            await asyncio.sleep(0.02)

    def _limit(self) -> None:
        """In the child, before exec: lower the open-file limit (as ``ulimit -n`` would)."""
        import resource

        assert self.nofile is not None
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.nofile, hard))

    async def kill(self) -> None:
        """SIGKILL the process (by its PID) and reap it."""
        process = self.process
        if process is not None and process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
        await self._reap()

    async def stop(self) -> None:
        """SIGTERM the process (a clean stop) and reap it; SIGKILL after 10 s."""
        process = self.process
        if process is not None and process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(asyncio.to_thread(process.wait), 10)
            except asyncio.TimeoutError:
                os.kill(process.pid, signal.SIGKILL)
        await self._reap()

    async def _reap(self) -> None:
        process = self.process
        if process is not None:
            await asyncio.to_thread(process.wait, 10)
        self._cleanup()

    def _cleanup(self) -> None:
        if self._log is not None:
            with contextlib.suppress(OSError):
                self._log.unlink()
            self._log = None

    async def __aenter__(self) -> StubProcess:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.kill()
