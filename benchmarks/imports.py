"""``python -m benchmarks.imports``: what ``import motia_client`` costs, next to websockets.

Each measurement is a fresh interpreter (``python -I``, so the checkout's
directory is not on ``sys.path``) that times one import statement with
``time.perf_counter``; interpreter start-up is outside the timing. The
statements run interleaved, rotating their order each repetition, so a busy
moment on the machine falls on all of them alike. Prints the medians, the
ratio of ``import motia_client`` to ``import websockets`` (the target of issue
15 is at most 1.5x), and which heavy libraries ``import motia_client`` brought
in (tests/install/matrix.py's HEAVY).

    python -m benchmarks.imports            # 20 repetitions, this interpreter
    python -m benchmarks.imports --reps 50 --python /tmp/venv/bin/python

The dev venv's editable install adds its import hook (about 10 ms, pathlib
included) to the first ``motia_client`` import; ``--python`` measures another
environment, e.g. a venv where the wheel is installed (``python -m
tests.install.matrix --keep`` leaves some).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from collections.abc import Sequence

from tests.install.matrix import HEAVY

STATEMENTS = {
    "websockets": "import websockets",
    "websockets.asyncio.client": "from websockets.asyncio.client import connect",
    "motia_client": "import motia_client",
    "motia_client.MotiaHttp": "from motia_client import MotiaHttp",
}
BASELINE, SUBJECT = "websockets", "motia_client"
TARGET_RATIO = 1.5

_PROBE = """
import json, sys, time
start = time.perf_counter()
{statement}
elapsed = time.perf_counter() - start
print(json.dumps({{"seconds": elapsed, "heavy": sorted(m for m in {heavy!r} if m in sys.modules)}}))
"""


def measure(python: str, statement: str) -> tuple[float, list[str]]:
    """Seconds ``statement`` took in a fresh interpreter, and the heavy modules it imported."""
    code = _PROBE.format(statement=statement, heavy=sorted(HEAVY))
    done = subprocess.run(
        [python, "-I", "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    result = json.loads(done.stdout)
    return float(result["seconds"]), list(result["heavy"])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=20, help="repetitions of each statement")
    parser.add_argument("--python", default=sys.executable, help="the interpreter to measure")
    args = parser.parse_args(argv)
    if not 1 <= args.reps <= 1000:
        parser.error("--reps must be between 1 and 1000")

    names = list(STATEMENTS)
    times: dict[str, list[float]] = {name: [] for name in names}
    heavy: dict[str, list[str]] = {}
    for rep in range(args.reps):
        shift = rep % len(names)
        for name in names[shift:] + names[:shift]:  # a rotating order: interleaved
            seconds, imported = measure(args.python, STATEMENTS[name])
            times[name].append(seconds)
            heavy[name] = imported

    print(f"{args.python}: {args.reps} fresh interpreters per statement, median (min-max):")
    for name in names:
        values = times[name]
        print(
            f"  {STATEMENTS[name]:<48} {statistics.median(values) * 1000:7.1f} ms "
            f"({min(values) * 1000:.1f}-{max(values) * 1000:.1f})"
            f"  heavy: {', '.join(heavy[name]) or '-'}"
        )
    ratio = statistics.median(times[SUBJECT]) / statistics.median(times[BASELINE])
    verdict = "within" if ratio <= TARGET_RATIO else "over"
    print(
        f"{STATEMENTS[SUBJECT]} / {STATEMENTS[BASELINE]}: {ratio:.2f}x "
        f"({verdict} the {TARGET_RATIO}x target)"
    )
    client = statistics.median(times[SUBJECT]) / statistics.median(
        times["websockets.asyncio.client"]
    )
    print(f"{STATEMENTS[SUBJECT]} / {STATEMENTS['websockets.asyncio.client']}: {client:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
