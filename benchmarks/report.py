"""Print a results file as the compact markdown table used in ``benchmarks/README.md``.

python -m benchmarks.report                       # the newest benchmarks/results/*.json
python -m benchmarks.report benchmarks/results/bench-20250101-120000.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def fmt_rate(value: float | None) -> str:
    """A rate as ``12.3k`` (or a plain number below 1,000); ``-`` when missing."""
    if value is None:
        return "-"
    return f"{value / 1000:.1f}k" if value >= 1000 else f"{value:.0f}"


def fmt_ms(value: float | None) -> str:
    """Milliseconds: two decimals below 10, whole numbers above; ``-`` when missing."""
    if value is None:
        return "-"
    return f"{value:.2f}" if value < 10 else f"{value:,.0f}"


def fmt_pct(fraction: float) -> str:
    """A fraction as a percentage, with more digits when it is small."""
    return f"{fraction:.1%}" if fraction >= 0.001 else f"{fraction:.2%}"


def cell(row: dict[str, Any] | None, kind: str) -> str:
    if row is None:
        return "-"
    if "error" in row:
        return "n/a"
    lost = row.get("lost") or 0
    loss = f", **lost {fmt_pct(lost / row['sent'])}**" if lost and row.get("sent") else ""
    if kind in ("latency", "loss"):
        return f"{fmt_ms(row['p50_ms'])} / {fmt_ms(row['p99_ms'])}{loss}"
    return f"{fmt_rate(row['msgs_per_s'])} ({fmt_rate(row['min'])}-{fmt_rate(row['max'])}){loss}"


def table(document: dict[str, Any]) -> list[str]:
    summary: dict[str, Any] = document["summary"]
    scenarios = list(summary)
    runners: list[str] = []
    for entry in summary.values():
        runners += [name for name in entry["runners"] if name not in runners]
    heads = []
    for name in scenarios:
        kind = summary[name]["scenario"]["kind"]
        unit = "p50 / p99 ms" if kind in ("latency", "loss") else "msgs/s"
        heads.append(f"{name} ({unit})")
    lines = ["| client | " + " | ".join(heads) + " |"]
    lines.append("| --- |" + " ---: |" * len(scenarios))
    for runner in runners:
        cells = [
            cell(summary[name]["runners"].get(runner), summary[name]["scenario"]["kind"])
            for name in scenarios
        ]
        lines.append(f"| {runner} | " + " | ".join(cells) + " |")
    meta = document.get("meta", {})
    machine = meta.get("machine", {})
    lines += [
        "",
        f"{document['args'].get('reps')} repetitions, {meta.get('started')} to "
        f"{meta.get('finished')}, commit {machine.get('commit', '?')}, load average "
        f"{_load(machine.get('loadavg'))} before and {_load(meta.get('loadavg_end'))} after.",
    ]
    return lines


def _load(values: list[float] | None) -> str:
    return f"{values[0]:.1f}" if values else "?"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args:
        path = Path(args[0])
    else:
        files = sorted(RESULTS_DIR.glob("bench-*.json"))
        if not files:
            print("no results yet: run python -m benchmarks", file=sys.stderr)
            return 1
        path = files[-1]
    print("\n".join(table(json.loads(path.read_text()))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
