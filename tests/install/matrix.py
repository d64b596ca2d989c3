"""The install matrix: the built wheel, installed as users install it, on each supported Python.

    python -m tests.install.matrix                     # the default cells (make install-matrix)
    python -m tests.install.matrix --cell 3.11:        # one cell: Python 3.11, no extras
    python -m tests.install.matrix --wheel dist/x.whl  # test a wheel built elsewhere

Every other test runs in the dev venv: Python 3.11, every extra, an editable
install. Users get none of that. This builds the wheel once, then for each
cell creates a fresh venv under a temporary directory, installs the wheel
(not editable) with the cell's extras, and checks, from a directory outside
the checkout:

- the smoke script (``smoke.py``) against a motia-stub started from the dev
  venv: subscribe to a group and an item, see a create, an update and a
  delete, close;
- ``motia_client.__version__`` is the wheel's version;
- ``import motia_client`` imports none of the heavy libraries (HEAVY), except
  those listed in STILL_IMPORTED_EAGERLY;
- with no extras: ``motia-tui`` and ``motia-stub`` exit 2 with one line that
  names the extra to install.

The default cells: Python 3.10 with no extras, 3.13 with ``[fast]``, and the dev
Python with ``[all]``. Interpreters come from pyenv (``$(pyenv root)/versions``,
else ``~/.pyenv/versions``), then from PATH; a missing one is a failure that
says how to install it, never a skip. pip's cache lives in the dev venv
(``.venv/pip-cache``), so a second run downloads nothing. Prints one line per
check and ends with ``matrix: N passed, M failed``; exits 1 if any failed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SMOKE = Path(__file__).with_name("smoke.py")

# Libraries that `import motia_client` must not import: a script that only
# watches streams should not pay for HTTP, Rx, the terminal app, the notebook or DataFrames.
HEAVY = frozenset(
    {
        "httpx",
        "httpx_sse",
        "pydantic",
        "rich",
        "click",
        "textual",
        "reactivex",
        "sortedcontainers",
        "IPython",
        "starlette",
        "uvicorn",
        "pandas",
        "polars",
        "numpy",
    }
)
# Heavy modules ``import motia_client`` may still import (none): the check fails both
# when an unlisted heavy module is imported and when a listed one no longer is.
STILL_IMPORTED_EAGERLY: frozenset[str] = frozenset()

# The console scripts and the extra each needs (checked in a venv without extras).
SCRIPTS = {"motia-tui": "tui", "motia-stub": "server"}

DEFAULT_CELLS = ("3.10:", "3.13:fast", "dev:all")
STEP_TIMEOUT = 300  # seconds for one pip or venv command (a cold cache downloads)
STUB_START_TIMEOUT = 20.0
_LISTENING = re.compile(r"streams at (ws://127\.0\.0\.1:(\d+)/)")


class MatrixError(Exception):
    """A step of the matrix could not run (not a failed check): reported, then exit 1."""


@dataclass
class Report:
    """The checks run so far, printed as they complete."""

    passed: int = 0
    failed: list[str] = field(default_factory=list)

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        """Record and print one check."""
        mark = "ok  " if ok else "FAIL"
        print(f"  {mark} {name}" + (f": {detail}" if detail else ""), flush=True)
        if ok:
            self.passed += 1
        else:
            self.failed.append(name)
        return ok


@dataclass(frozen=True)
class Cell:
    """One venv: an interpreter (a version such as "3.10", or "dev") and extras."""

    python: str
    extras: str

    @classmethod
    def parse(cls, text: str) -> Cell:
        python, _, extras = text.partition(":")
        if not python:
            raise argparse.ArgumentTypeError(f"{text!r}: expected PYTHON:EXTRAS, e.g. 3.10:fast")
        return cls(python, extras)

    @property
    def label(self) -> str:
        return f"Python {self.python} [{self.extras}]" if self.extras else f"Python {self.python}"


# -- interpreters --------------------------------------------------------------------


def pyenv_root() -> Path:
    """pyenv's root: ``pyenv root``, else $PYENV_ROOT, else ~/.pyenv."""
    pyenv = shutil.which("pyenv")
    if pyenv is not None:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            done = subprocess.run(
                [pyenv, "root"], capture_output=True, text=True, timeout=30, check=True
            )
            return Path(done.stdout.strip())
    return Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")


def _patch(path: Path) -> tuple[int, ...]:
    """The version numbers of a pyenv version directory (3.10.13 -> (3, 10, 13))."""
    return tuple(int(part) for part in re.findall(r"\d+", path.name))


def find_python(version: str) -> Path:
    """The interpreter for ``version`` ("3.10", or "dev": the one behind this venv)."""
    if version == "dev":
        base = Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
        if base.exists():
            return base
        raise MatrixError(f"the dev venv's base interpreter is missing: {base}")
    if not re.fullmatch(r"3\.\d+", version):
        raise MatrixError(f"not a Python version: {version!r} (expected e.g. 3.10, or dev)")
    root = pyenv_root()
    candidates = sorted(
        (p for p in (root / "versions").glob(f"{version}.*") if re.fullmatch(r"[\d.]+", p.name)),
        key=_patch,
    )
    for candidate in reversed(candidates):
        exe = candidate / "bin" / f"python{version}"
        if exe.exists():
            return exe
    on_path = shutil.which(f"python{version}")
    if on_path is not None:
        return Path(on_path)
    raise MatrixError(
        f"Python {version} is not installed: looked in {root}/versions/{version}.* and on PATH. "
        f"Install it (pyenv install {version}) and run again; the matrix does not skip it."
    )


# -- processes -----------------------------------------------------------------------


def run(
    command: Sequence[str | Path], *, cwd: Path, timeout: float = STEP_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` with no PYTHONPATH (only what the venv holds); never raises on status."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    try:
        return subprocess.run(
            [str(part) for part in command],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise MatrixError(f"{' '.join(map(str, command))} took over {timeout:g} s") from exc


def tail(done: subprocess.CompletedProcess[str], lines: int = 12) -> str:
    """The end of a command's output, for a failure message."""
    text = (done.stdout + done.stderr).strip().splitlines()
    relevant = [line for line in text if not line.startswith("WARNING: Location")]
    return "\n      ".join(["", *relevant[-lines:]])


@contextlib.contextmanager
def stub_server(workdir: Path) -> Iterator[tuple[str, str]]:
    """motia-stub from the dev venv on 127.0.0.1 and a free port; yields (ws_url, http_url).

    Stopped by PID on exit: SIGTERM, then SIGKILL after 10 s.
    """
    log_path = workdir / "stub.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "server_stub", "--host", "127.0.0.1", "--port", "0"],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
    try:
        deadline = time.monotonic() + STUB_START_TIMEOUT
        while True:
            found = _LISTENING.search(log_path.read_text(errors="replace"))
            if found:
                break
            if process.poll() is not None:
                raise MatrixError(f"motia-stub exited: {log_path.read_text(errors='replace')}")
            if time.monotonic() > deadline:
                raise MatrixError("motia-stub did not start in time")
            time.sleep(0.05)
        yield found.group(1), f"http://127.0.0.1:{found.group(2)}"
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(10)


# -- the wheel -----------------------------------------------------------------------


def source_files() -> list[Path]:
    """The checkout's files as git sees them (tracked and new, not ignored)."""
    done = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        raise MatrixError("cannot list the checkout's files (git ls-files); pass --wheel")
    names = [name for name in done.stdout.decode().split("\0") if name]
    return [ROOT / name for name in names if (ROOT / name).is_file()]


def build_wheel(workdir: Path, pip: list[str]) -> Path:
    """Build the project's wheel from a copy of the checkout (the checkout stays clean)."""
    source = workdir / "source"
    for path in source_files():
        target = source / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    dist = workdir / "dist"
    done = run([*pip, "wheel", "--no-deps", "--wheel-dir", dist, source], cwd=workdir)
    wheels = sorted(dist.glob("*.whl"))
    if done.returncode != 0 or len(wheels) != 1:
        raise MatrixError(f"building the wheel failed:{tail(done)}")
    return wheels[0]


def wheel_version(wheel: Path) -> str:
    """The version in a wheel's file name (name-version-python-abi-platform.whl)."""
    return wheel.name.split("-")[1]


# -- one cell ------------------------------------------------------------------------


def check_cell(
    cell: Cell, wheel: Path, pip_cache: Path, workdir: Path, urls: tuple[str, str], report: Report
) -> None:
    """Create the cell's venv, install the wheel, run every check of that cell."""
    print(f"{cell.label}:", flush=True)
    started = time.monotonic()
    try:
        python = find_python(cell.python)
    except MatrixError as exc:
        report.check(f"{cell.label}: interpreter", False, str(exc))
        return
    venv = workdir / f"venv-{cell.python}-{cell.extras or 'none'}"
    done = run([python, "-m", "venv", venv], cwd=workdir)
    ok = done.returncode == 0
    if not report.check(f"{cell.label}: venv with {python}", ok, "" if ok else tail(done)):
        return
    bin_dir = venv / "bin"
    requirement = f"{wheel.name}[{cell.extras}]" if cell.extras else wheel.name
    done = run(
        [
            bin_dir / "python",
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--quiet",
            "--cache-dir",
            pip_cache,
            wheel.with_name(requirement),
        ],
        cwd=workdir,
    )
    ok = done.returncode == 0
    if not report.check(f"{cell.label}: pip install {requirement}", ok, "" if ok else tail(done)):
        return

    # From the temp dir, never the checkout: the venv's copy is the one imported.
    done = run([bin_dir / "python", SMOKE, *urls], cwd=workdir, timeout=120)
    ok = done.returncode == 0
    report.check(f"{cell.label}: smoke", ok, done.stdout.strip() if ok else tail(done))

    expected = wheel_version(wheel)
    done = run(
        [bin_dir / "python", "-c", "import motia_client; print(motia_client.__version__)"],
        cwd=workdir,
    )
    version = done.stdout.strip()
    report.check(
        f"{cell.label}: motia_client.__version__",
        done.returncode == 0 and version == expected,
        f"{version!r}, the wheel's {expected!r}" + (tail(done) if done.returncode else ""),
    )

    check_imports(cell, bin_dir / "python", workdir, report)
    if not cell.extras:
        for script, extra in SCRIPTS.items():
            check_missing_extra(cell, bin_dir / script, extra, workdir, report)
    print(f"  ({time.monotonic() - started:.1f} s)", flush=True)


def check_imports(cell: Cell, python: Path, workdir: Path, report: Report) -> None:
    """``import motia_client`` imports no heavy library beyond STILL_IMPORTED_EAGERLY."""
    code = (
        "import json, sys; import motia_client; "
        f"print(json.dumps(sorted(m for m in {sorted(HEAVY)!r} if m in sys.modules)))"
    )
    done = run([python, "-c", code], cwd=workdir)
    if done.returncode != 0:
        report.check(f"{cell.label}: import cost", False, tail(done))
        return
    imported = set(json.loads(done.stdout))
    report.check(f"{cell.label}: import cost", *judge_imports(imported))


def judge_imports(imported: set[str]) -> tuple[bool, str]:
    """(ok, detail) for the heavy modules ``import motia_client`` imported."""
    unexpected = sorted(imported - STILL_IMPORTED_EAGERLY)
    stale = sorted(STILL_IMPORTED_EAGERLY - imported)
    detail = f"imports {', '.join(sorted(imported)) or 'no heavy module'}"
    if unexpected:
        detail += f"; must not import {', '.join(unexpected)}"
    if stale:
        detail += f"; {', '.join(stale)} no longer imported: remove from STILL_IMPORTED_EAGERLY"
    return not unexpected and not stale, detail


def check_missing_extra(
    cell: Cell, script: Path, extra: str, workdir: Path, report: Report
) -> None:
    """A console script run without its extra exits 2 with one line naming the extra."""
    done = run([script], cwd=workdir, timeout=60)
    lines = (done.stdout + done.stderr).strip().splitlines()
    ok = done.returncode == 2 and len(lines) == 1 and f"[{extra}]" in lines[0]
    shown = lines[0] if len(lines) == 1 else f"{len(lines)} lines:{tail(done, 4)}"
    report.check(
        f"{cell.label}: {script.name} without [{extra}] exits 2 naming it",
        ok,
        f"exit {done.returncode}, {shown}",
    )


# -- main ----------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cell",
        dest="cells",
        action="append",
        type=Cell.parse,
        help=f"PYTHON:EXTRAS, repeatable (default: {' '.join(DEFAULT_CELLS)})",
    )
    parser.add_argument("--wheel", type=Path, help="test this wheel instead of building one")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    cells: list[Cell] = args.cells or [Cell.parse(c) for c in DEFAULT_CELLS]
    pip_cache = Path(sys.prefix) / "pip-cache"  # the dev venv's: reused across runs
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    pip += ["--cache-dir", str(pip_cache)]

    report = Report()
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="motia-install-matrix-"))
    try:
        wheel = args.wheel.resolve() if args.wheel is not None else build_wheel(workdir, pip)
        print(f"wheel: {wheel.name}", flush=True)
        with stub_server(workdir) as urls:
            for cell in cells:
                check_cell(cell, wheel, pip_cache, workdir, urls, report)
    except MatrixError as exc:
        report.check("matrix setup", False, str(exc))
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    elapsed = time.monotonic() - started
    if report.failed:
        print(f"failed: {', '.join(report.failed)}")
    print(f"({elapsed:.0f} s)")
    print(f"matrix: {report.passed} passed, {len(report.failed)} failed")
    return 1 if report.failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
