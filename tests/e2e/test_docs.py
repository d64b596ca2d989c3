"""Every Python block of the README and the user guide runs, or says it is a fragment.

The blocks are read from ``README.md``, ``CONTRIBUTING.md``, ``RELIABILITY.md``
and ``docs/**/*.md``. A ```python block is a fragment when the line before it
(blank lines aside) is an HTML comment ``<!-- fragment -->`` or
``<!-- fragment: why -->``: it is shown, never run. Every other block runs as a
script, in a fresh interpreter, against a reference server this test starts on
127.0.0.1 in demo mode: the placeholder address ``localhost:3000`` in a block
becomes the server's ``127.0.0.1:<port>`` (``ws://localhost:3000`` and
``http://localhost:3000`` are what ``motia-stub --demo`` serves, so a reader can
run a block as written). A block must exit 0 within ``BLOCK_TIMEOUT`` seconds.
CONTRIBUTING.md describes the marker for writers.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from server_stub import StubServer
from server_stub.demo import DESCRIPTIONS

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PLACEHOLDER = "localhost:3000"
BLOCK_TIMEOUT = 60.0  # seconds a block may take (the slowest waits a few seconds on purpose)
_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`\s]*)")
_FRAGMENT = re.compile(r"^\s*<!--\s*fragment(?::[^>]*)?\s*-->\s*$")
_PYTHON = frozenset({"python", "py", "python3", "pycon", "pyi"})


@dataclass(frozen=True)
class Block:
    """One fenced code block of a Markdown file."""

    path: Path
    line: int  # 1-based line of the opening fence
    info: str
    code: str
    fragment: bool

    @property
    def name(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def doc_files() -> list[Path]:
    """The Markdown files whose blocks are checked."""
    files = [README, ROOT / "CONTRIBUTING.md", ROOT / "RELIABILITY.md"]
    return [path for path in files if path.exists()] + sorted((ROOT / "docs").rglob("*.md"))


def blocks_of(path: Path) -> Iterator[Block]:
    """The fenced blocks of ``path``; raises ``ValueError`` for an unclosed fence or a
    fragment marker that is not followed by a Python block."""
    lines = path.read_text(encoding="utf-8").splitlines()
    index = 0
    pending_marker: int | None = None  # line of a fragment marker waiting for its block
    while index < len(lines):
        line = lines[index]
        opening = _FENCE.match(line)
        if _FRAGMENT.match(line):
            if pending_marker is not None:
                raise ValueError(f"{path}:{pending_marker + 1}: a fragment marker without a block")
            pending_marker = index
            index += 1
            continue
        if opening is None:
            if line.strip() and pending_marker is not None:
                raise ValueError(f"{path}:{pending_marker + 1}: a fragment marker without a block")
            index += 1
            continue
        fence = opening["fence"]
        body: list[str] = []
        end = index + 1
        while end < len(lines):
            stripped = lines[end].strip()
            if stripped.startswith(fence[0] * len(fence)) and not stripped.strip(fence[0]):
                break
            body.append(lines[end])
            end += 1
        else:
            raise ValueError(f"{path}:{index + 1}: a code block that is never closed")
        info = opening["info"].lower()
        marked = pending_marker is not None
        if pending_marker is not None and info not in _PYTHON:
            where = f"{path}:{pending_marker + 1}"
            raise ValueError(f"{where}: a fragment marker before a {info!r} block")
        indent = len(opening["indent"])
        code = "\n".join(text[indent:] if text[:indent].isspace() else text for text in body)
        yield Block(path, index + 1, info, code + "\n", marked)
        pending_marker = None
        index = end + 1
    if pending_marker is not None:
        raise ValueError(f"{path}:{pending_marker + 1}: a fragment marker without a block")


def python_blocks() -> list[Block]:
    return [b for path in doc_files() for b in blocks_of(path) if b.info in _PYTHON]


RUNNABLE = [block for block in python_blocks() if not block.fragment]


@pytest.fixture(scope="module")
def stub() -> Iterator[StubServer]:
    """The reference server in demo mode (todos and an AI answer keep changing), fast."""
    with StubServer(host="127.0.0.1", port=0, demo=True, demo_tick=0.3).in_thread() as server:
        yield server


def run_block(block: Block, stub: StubServer, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run ``block`` as a script against ``stub``; stopped after ``BLOCK_TIMEOUT``."""
    code = block.code.replace(PLACEHOLDER, f"127.0.0.1:{stub.port}")
    script = tmp_path / "block.py"
    script.write_text(code, encoding="utf-8")
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=BLOCK_TIMEOUT,
        check=False,
    )


def test_every_python_block_is_found_and_the_markers_are_well_placed() -> None:
    blocks = python_blocks()  # raises on a stray marker or an unclosed fence
    assert len(RUNNABLE) >= 10, "the docs should show code that runs"
    readme = [b for b in blocks if b.path == README]
    assert readme, "the README shows a quick start"
    assert not readme[0].fragment, "the README's first block is the quick start: it runs"


@pytest.mark.timeout(BLOCK_TIMEOUT + 30)
@pytest.mark.parametrize("block", RUNNABLE, ids=lambda b: b.name)
def test_the_block_runs(block: Block, stub: StubServer, tmp_path: Path) -> None:
    try:
        result = run_block(block, stub, tmp_path)
    except subprocess.TimeoutExpired as exc:
        output = [o.decode() if isinstance(o, bytes) else o or "" for o in (exc.stdout, exc.stderr)]
        pytest.fail(f"{block.name} ran longer than {BLOCK_TIMEOUT} s:\n" + "\n".join(output))
    assert result.returncode == 0, (
        f"{block.name} failed (mark it `<!-- fragment -->` if it is not meant to run):\n"
        f"{block.code}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    )
    if block == RUNNABLE[0]:  # the README's quick start: it shows the demo's todos
        assert any(text in result.stdout for text in DESCRIPTIONS), result.stdout


def test_a_block_that_fails_is_reported(stub: StubServer, tmp_path: Path) -> None:
    """The check can fail: a block that raises exits non-zero."""
    block = Block(README, 1, "python", "raise SystemExit('no')\n", False)
    assert run_block(block, stub, tmp_path).returncode != 0


def test_markers_and_fences_are_parsed(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "<!-- fragment -->\n\n```python\nx = 1\n```\n\n"
        "```python\ny = 2\n```\n\n"
        "<!-- fragment: needs a kernel -->\n```py\nawait z\n```\n\n"
        "- a list\n\n    ```python\n    w = 3\n    ```\n\n"
        "```sh\nmake test\n```\n",
        encoding="utf-8",
    )
    found = [(b.info, b.code, b.fragment) for b in blocks_of(page)]
    assert found == [
        ("python", "x = 1\n", True),
        ("python", "y = 2\n", False),
        ("py", "await z\n", True),
        ("python", "w = 3\n", False),
        ("sh", "make test\n", False),
    ]
    page.write_text("<!-- fragment -->\nSome words.\n\n```python\nx = 1\n```\n", encoding="utf-8")
    with pytest.raises(ValueError, match="marker without a block"):
        list(blocks_of(page))
    page.write_text("<!-- fragment -->\n```sh\nls\n```\n", encoding="utf-8")
    with pytest.raises(ValueError, match="before a 'sh' block"):
        list(blocks_of(page))
    page.write_text("```python\nx = 1\n", encoding="utf-8")
    with pytest.raises(ValueError, match="never closed"):
        list(blocks_of(page))
