"""The real console script in a real terminal: ``motia-tui`` inside tmux.

tmux runs on a private socket in the test's temporary directory, so the test
never sees or touches anyone else's tmux; it kills only that server. Without
tmux the test is skipped, and the skip says why (``-ra`` prints it).
"""

from __future__ import annotations

import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
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


def console_script(name: str = "motia-tui") -> Path:
    script = Path(sys.executable).with_name(name)
    assert script.exists(), f"the {name} console script is not installed next to {sys.executable}"
    return script


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def stub_url(tmp_path: Path) -> Iterator[str]:
    """A ``motia-stub`` process on a free loopback port; its HTTP URL. Stopped by its PID."""
    port = free_port()
    with (tmp_path / "stub.log").open("w") as log:
        process = subprocess.Popen(
            [str(console_script("motia-stub")), "--host", "127.0.0.1", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            assert process.poll() is None, (tmp_path / "stub.log").read_text()
            try:
                httpx.get(f"{url}/todo", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "motia-stub did not answer within 20 s"
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def wait_for_screen(tmux: Tmux, done: Callable[[str], bool], what: str, exit_file: Path) -> str:
    """Capture the pane until ``done(screen)``; fail after 30 s or if the app exited."""
    screen = ""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        screen = tmux.capture()
        if done(screen):
            return screen
        assert not exit_file.exists(), f"motia-tui exited early:\n{screen}"
        time.sleep(0.2)
    pytest.fail(f"{what}: not on screen within 30 s; the screen was:\n{screen}")


def quit_and_get_status(tmux: Tmux, exit_file: Path) -> str:
    tmux.run("send-keys", "-t", "tui", "q")
    status = ""
    deadline = time.monotonic() + 15
    while not status and time.monotonic() < deadline:
        time.sleep(0.1)
        status = exit_file.read_text().strip() if exit_file.exists() else ""
    assert status, f"motia-tui did not exit after q; the screen was:\n{tmux.capture()}"
    return status


def test_motia_tui_demo_in_a_real_terminal(tmux: Tmux, tmp_path: Path) -> None:
    exit_file = tmp_path / "exit-status"
    command = (
        f"{shlex.quote(str(console_script()))} --demo; echo $? > {shlex.quote(str(exit_file))}"
    )
    started = tmux.run(
        "new-session", "-d", "-s", "tui", "-x", str(COLUMNS), "-y", str(LINES), command
    )
    assert started.returncode == 0, started.stderr
    # The footer may paint a frame after the table: wait for the whole screen.
    screen = wait_for_screen(
        tmux,
        lambda s: "● connected" in s and "q Quit" in s and any(t in s for t in DESCRIPTIONS),
        "the demo's todos",
        exit_file,
    )
    assert "todo/inbox" in screen
    assert "Traceback" not in screen
    assert quit_and_get_status(tmux, exit_file) == "0"


def test_at_80x24_a_completed_todo_shows_its_done_mark(
    tmux: Tmux, tmp_path: Path, stub_url: str
) -> None:
    """The default terminal size: every column shows, c completes, a burst adds a todo."""
    params = {"groupId": "work"}
    long = "Water the plants on the balcony, in the kitchen and then in the garden"
    created = httpx.post(f"{stub_url}/todo", params=params, json={"description": long})
    todo_id = created.raise_for_status().json()["id"]
    exit_file = tmp_path / "exit-status"
    ws_url = stub_url.replace("http://", "ws://")
    command = (
        f"{shlex.quote(str(console_script()))} --url {ws_url} --group work; "
        f"echo $? > {shlex.quote(str(exit_file))}"
    )
    started = tmux.run("new-session", "-d", "-s", "tui", "-x", "80", "-y", "24", command)
    assert started.returncode == 0, started.stderr

    screen = wait_for_screen(
        tmux, lambda s: "Water the plants" in s and "q Quit" in s, "the todo", exit_file
    )
    for header in ("description", "created (UTC)", "due", "done"):
        assert header in screen
    assert "✓" not in screen

    tmux.run("send-keys", "-t", "tui", "c")
    screen = wait_for_screen(tmux, lambda s: "✓" in s, "the done mark", exit_file)
    (row,) = [line for line in screen.splitlines() if line.startswith("│ Water the plants")]
    assert "✓" in row
    assert httpx.get(f"{stub_url}/todo", params=params).json()[0]["completedAt"]

    # Typed in one burst, as a terminal without bracketed paste delivers a paste.
    tmux.run("send-keys", "-t", "tui", "-l", "aBuy bread, quick\t2026-03-01\r")
    wait_for_screen(tmux, lambda s: "Buy bread, quick" in s, "the added todo", exit_file)
    added = [t for t in httpx.get(f"{stub_url}/todo", params=params).json() if t["id"] != todo_id]
    assert [(t["description"], t.get("dueDate")) for t in added] == [
        ("Buy bread, quick", "2026-03-01")
    ]
    assert "Traceback" not in tmux.capture()
    assert quit_and_get_status(tmux, exit_file) == "0"
