"""The runner registry: every client the harness can measure, by name.

A runner is a command that the harness starts once per run, appending ``--url``,
``--group``, ``--timeout`` and optionally ``--sort-key`` / ``--item`` (the contract is in
``_common.py``). Adding a client is one ``Runner(...)`` line in ``RUNNERS``.

``est_rate`` is a rough msgs/s this machine reaches for (N, sorted): the harness sends a
slow client fewer updates (``--budget`` seconds' worth) so that an O(N)-per-update client
at N=10,000 does not take minutes. ``None``: the client keeps up, it always gets all M.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

RUNNERS_DIR = Path(__file__).resolve().parent
ROOT = RUNNERS_DIR.parents[1]
# The release wheel (core compiled with mypyc), installed in .venv-compiled by `make bench`
# (or `make pytest-compiled`).
COMPILED_PYTHON = ROOT / ".venv-compiled" / "bin" / "python"


def _py(module: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", f"benchmarks.runners.{module}", *extra]


def _py_installed(python: Path, module: str, *extra: str) -> list[str]:
    """Run a runner with ``python``, importing motia_client from its site-packages.

    ``-P`` keeps the checkout off the front of ``sys.path``; it is appended instead, so
    that ``benchmarks`` is found but the installed ``motia_client`` wins.
    """
    code = (
        f"import runpy, sys; sys.path.append({str(ROOT)!r}); "
        f"sys.argv[0] = {module!r}; runpy.run_module('benchmarks.runners.{module}', "
        "run_name='__main__')"
    )
    return [str(python), "-P", "-c", code, *extra]


# Another build of ours to compare with, side by side (e.g. an older commit's venv).
BASELINE_PYTHON = Path(os.environ.get("BENCH_BASELINE_PYTHON", "/nonexistent"))


def _needs_baseline() -> str | None:
    if BASELINE_PYTHON.exists():
        return None
    return "set BENCH_BASELINE_PYTHON to the python of a venv with another build installed"


def _needs_compiled() -> str | None:
    if COMPILED_PYTHON.exists():
        return None
    return "no compiled build: run `make bench` (or `make .venv-compiled/.stamp`) first"


def _node(script: str) -> list[str]:
    return ["node", str(RUNNERS_DIR / script)]


def _official_py_rate(n: int, sorted_: bool) -> float:
    # O(N) list rebuild per update, plus an O(N log N) sort with a sort key.
    return min(60_000.0, (8e6 if sorted_ else 2e7) / n)


def _official_node_rate(n: int, sorted_: bool) -> float:
    return min(250_000.0, (1.5e7 if sorted_ else 6e7) / n)


def _needs_node() -> str | None:
    return None if shutil.which("node") else "node is not installed"


@dataclass(frozen=True)
class Runner:
    name: str
    command: list[str]
    description: str
    #: "client" (keeps state, notifies a listener) or "limit" (decode only: a ceiling)
    kind: str = "client"
    est_rate: Callable[[int, bool], float] | None = None
    #: returns why the runner cannot start on this machine, or None
    missing: Callable[[], str | None] = field(default=lambda: None)


RUNNERS: dict[str, Runner] = {
    r.name: r
    for r in (
        # ---- ours: motia_client (add a variant here: one Runner line) -----------------
        Runner(
            "ours",
            _py_installed(COMPILED_PYTHON, "ours", "--transport", "websockets"),
            "motia_client.AsyncStreamClient, release wheel (core compiled), asyncio loop",
            missing=_needs_compiled,
        ),
        Runner(
            "ours_baseline",
            _py_installed(
                BASELINE_PYTHON, "ours", "--transport", "websockets", "--name", "ours_baseline"
            ),
            "motia_client.AsyncStreamClient from $BENCH_BASELINE_PYTHON (another build)",
            missing=_needs_baseline,
        ),
        Runner(
            "ours_pure",
            _py("ours", "--transport", "websockets", "--name", "ours_pure"),
            "motia_client.AsyncStreamClient, pure Python (a plain install), asyncio loop",
        ),
        # ---- the official clients ---------------------------------------------------
        Runner(
            "official_py",
            _py("official_py"),
            "motia.stream_client (PyPI motia==1.0.4rc1), StreamGroupSubscription",
            est_rate=_official_py_rate,
        ),
        Runner(
            "official_node",
            _node("official_node.mjs"),
            "@motiadev/stream-client-node@0.17.6-beta.187, StreamGroupSubscription",
            est_rate=_official_node_rate,
            missing=_needs_node,
        ),
        # ---- the limits: decode every frame, keep no state ---------------------------
        Runner(
            "bare_json",
            _py("bare_ws", "--decoder", "json"),
            "bare websockets recv loop + stdlib json",
            kind="limit",
        ),
        Runner(
            "bare_orjson",
            _py("bare_ws", "--decoder", "orjson"),
            "bare websockets recv loop + orjson",
            kind="limit",
        ),
    )
}

#: Ratios printed for every repetition of a throughput scenario (numerator / denominator).
#: A ratio whose runners did not both complete is reported as pending.
RATIOS: list[tuple[str, str]] = [
    ("ours", "bare_orjson"),
    ("ours", "official_py"),
    ("ours", "official_node"),
    ("ours_pure", "official_node"),
    ("ours", "ours_pure"),
    ("ours", "ours_baseline"),
]
