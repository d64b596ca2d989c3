"""The real console script in a real terminal: ``motia-tui --demo`` inside tmux.

tmux runs on a private socket in the test's temporary directory, so the test
never sees or touches anyone else's tmux; it kills only that server. Without
tmux the test is skipped, and the skip says why (``-ra`` prints it).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from server_stub.demo import DESCRIPTIONS

TMUX = shutil.which("tmux")
COLUMNS, LINES = 120, 36

pytestmark = pytest.mark.skipif(
    TMUX is None,
    reason="tmux is not installed: the real-terminal check of motia-tui needs it "
    "(apt-get install tmux)",
)


class Tmux:
    """A private tmux server (its own socket) running one detached session."""

    def __init__(self, socket: Path) -> None:
        assert TMUX is not None
        self._base = [TMUX, "-S", str(socket), "-f", os.devnull]
        self._env = {k: v for k, v in os.environ.items() if k != "TMUX"}

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self._base, *args],
            capture_output=True,
            text=True,
            timeout=10,
            env=self._env,
            check=False,
        )

    def capture(self) -> str:
        return self.run("capture-pane", "-p", "-t", "tui").stdout

    def kill_server(self) -> None:
        self.run("kill-server")


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[Tmux]:
    server = Tmux(tmp_path / "tmux.sock")
    try:
        yield server
    finally:
        server.kill_server()  # ends our session and whatever still runs in it


def console_script() -> Path:
    script = Path(sys.executable).with_name("motia-tui")
    assert script.exists(), (
        f"the motia-tui console script is not installed next to {sys.executable}"
    )
    return script


def test_motia_tui_demo_in_a_real_terminal(tmux: Tmux, tmp_path: Path) -> None:
    exit_file = tmp_path / "exit-status"
    command = (
        f"{shlex.quote(str(console_script()))} --demo; echo $? > {shlex.quote(str(exit_file))}"
    )
    started = tmux.run(
        "new-session", "-d", "-s", "tui", "-x", str(COLUMNS), "-y", str(LINES), command
    )
    assert started.returncode == 0, started.stderr

    screen = ""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        screen = tmux.capture()
        # The footer may paint a frame after the table: wait for the whole screen.
        if (
            "● connected" in screen
            and "q Quit" in screen
            and any(text in screen for text in DESCRIPTIONS)
        ):
            break
        assert not exit_file.exists(), f"motia-tui exited early:\n{screen}"
        time.sleep(0.2)
    else:
        pytest.fail(f"no todos listed within 30 s; the screen was:\n{screen}")
    assert "todo/inbox" in screen
    assert "q Quit" in screen
    assert "Traceback" not in screen

    tmux.run("send-keys", "-t", "tui", "q")
    status = ""
    deadline = time.monotonic() + 15
    while not status and time.monotonic() < deadline:
        time.sleep(0.1)
        status = exit_file.read_text().strip() if exit_file.exists() else ""
    assert status, f"motia-tui did not exit after q; the screen was:\n{tmux.capture()}"
    assert status == "0"
