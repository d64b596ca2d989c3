"""``python -m benchmarks``: run the matrix, print medians and ratios, save the results.

Starts the benchmark server once (``benchmarks/server.py``), then for every scenario and
repetition runs each selected runner, one process at a time, and collects the JSON line
each prints. Every child is started and stopped by PID; the server is stopped at the end
even on error or Ctrl-C. See ``benchmarks/README.md`` for what each scenario measures.

    python -m benchmarks                  # the full matrix, 3 repetitions (make bench)
    python -m benchmarks --quick          # a smoke run, well under 30 s
    python -m benchmarks --runners official_py,bare_orjson --n 100 --reps 5
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import select
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.report import fmt_ms, fmt_pct, fmt_rate
from benchmarks.runners import RATIOS, RUNNERS, Runner
from benchmarks.setup_peers import ensure_peers
from benchmarks.workload import Workload, item_id

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(__file__).resolve().parent / "results"
SORT_KEY = "createdAt"
SERVER_START_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class Scenario:
    name: str
    kind: str  # throughput | loss | latency | item
    n: int
    sort_key: str | None
    rate: int
    unique_stamps: bool
    item: str | None = None

    def describe(self) -> str:
        parts = [f"N={self.n:,}" if self.item is None else f"item path (group of {self.n:,})"]
        parts.append(f"sort_key={self.sort_key}" if self.sort_key else "no sort key")
        parts.append(f"{self.rate:,} msgs/s" if self.rate else "as fast as possible")
        parts.append("unique ms stamps" if self.unique_stamps else "wall-clock ms stamps")
        return ", ".join(parts)


def build_scenarios(args: argparse.Namespace) -> list[Scenario]:
    kinds = set(args.scenarios)
    choices: dict[str, list[str | None]] = {"both": [None, SORT_KEY], "yes": [SORT_KEY]}
    sorts = choices.get(args.sort, [None])
    unique = args.stamps == "unique"
    out: list[Scenario] = []
    if "throughput" in kinds:
        for n in args.n:
            for key in sorts:
                name = f"throughput N={n}" + (" sorted" if key else "")
                out.append(Scenario(name, "throughput", n, key, 0, unique))
    if "loss" in kinds:
        n = min(args.n)
        name = f"same-ms loss {args.rate:,}/s N={n}"
        out.append(Scenario(name, "loss", n, None, args.rate, False))
    if "latency" in kinds:
        out.append(
            Scenario(
                f"latency {args.rate:,}/s N={args.latency_n} sorted",
                "latency",
                args.latency_n,
                SORT_KEY,
                args.rate,
                False,
            )
        )
    if "item" in kinds:
        n = min(args.n)
        out.append(Scenario(f"item path N={n}", "item", n, None, 0, unique, item_id(n // 2)))
    return out


def updates_for(runner: Runner, scenario: Scenario, args: argparse.Namespace) -> int:
    """M for this runner: all of it, unless it is known to need longer than the budget."""
    m: int = args.m if scenario.rate == 0 else int(scenario.rate * args.latency_seconds)
    if runner.est_rate is not None and scenario.item is None:
        affordable = int(args.budget * runner.est_rate(scenario.n, scenario.sort_key is not None))
        m = min(m, max(args.min_m, affordable))
    return m


# ---- processes ---------------------------------------------------------------------------


def _stop(proc: subprocess.Popen[Any], grace: float = 3.0) -> None:
    """Stop one child we started, by its PID: SIGTERM, then SIGKILL."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=grace)


@contextlib.contextmanager
def bench_server() -> Iterator[int]:
    cmd = [sys.executable, "-m", "benchmarks.server", "--port", "0"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        port = None
        while port is None and time.monotonic() < deadline and proc.poll() is None:
            ready, _, _ = select.select([proc.stdout], [], [], 0.5)
            if ready:
                line = proc.stdout.readline()
                if line.startswith("READY "):
                    port = int(line.split()[1])
        if port is None:
            raise RuntimeError("the benchmark server did not start")
        yield port
    finally:
        _stop(proc)


def run_one(
    runner: Runner, scenario: Scenario, m: int, port: int, args: argparse.Namespace
) -> dict[str, Any]:
    workload = Workload(scenario.n, m, scenario.rate, args.seed, scenario.unique_stamps)
    cmd = [*runner.command, "--url", f"ws://127.0.0.1:{port}/", "--group", workload.group]
    cmd += ["--timeout", str(max(5.0, args.run_timeout - 5.0))]
    if scenario.sort_key:
        cmd += ["--sort-key", scenario.sort_key]
    if scenario.item:
        cmd += ["--item", scenario.item]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=args.run_timeout)
    except subprocess.TimeoutExpired:
        _stop(proc)
        out, err = b"", b""
        result: dict[str, Any] = {"error": f"killed after {args.run_timeout} s"}
    else:
        result = {}
        for line in reversed(out.decode(errors="replace").splitlines()):
            if line.startswith("{"):
                with contextlib.suppress(ValueError):
                    result = json.loads(line)
                break
        if not result:
            tail = err.decode(errors="replace").strip().splitlines()[-3:]
            result = {"error": f"exit {proc.returncode}, no result line: " + " | ".join(tail)}
    finally:
        _stop(proc)
    result.update(
        runner=runner.name,
        scenario=scenario.name,
        returncode=proc.returncode,
        wall_s=round(time.perf_counter() - started, 3),
    )
    result.setdefault("m", m)
    return result


# ---- reporting ---------------------------------------------------------------------------


def _median(values: Sequence[float | None]) -> float | None:
    clean = [v for v in values if v is not None]
    return statistics.median(clean) if clean else None


def _ok(result: dict[str, Any]) -> bool:
    return "error" not in result


def summarize(
    scenarios: list[Scenario], runners: list[Runner], runs: list[dict[str, Any]]
) -> tuple[list[str], dict[str, Any]]:
    lines: list[str] = []
    summary: dict[str, Any] = {}
    for scenario in scenarios:
        lines += ["", f"## {scenario.name}: {scenario.describe()}", ""]
        lines.append(
            "| runner | msgs/s median | min-max | p50 ms | p99 ms | applied/sent | lost "
            "| stale | CPU us/msg | RSS MB | M |"
        )
        lines.append(
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        )
        summary[scenario.name] = {"scenario": asdict(scenario), "runners": {}, "ratios": {}}
        for runner in runners:
            mine = [
                r for r in runs if r["scenario"] == scenario.name and r["runner"] == runner.name
            ]
            good = [r for r in mine if _ok(r)]
            if not good:
                reason = mine[0].get("error", "not run") if mine else "not run"
                status = "n/a" if mine and mine[0].get("unavailable") else "FAILED"
                lines.append(f"| {runner.name} | {status}: {reason} |" + " |" * 9)
                summary[scenario.name]["runners"][runner.name] = {"error": reason}
                continue
            rates = [r.get("msgs_per_s") for r in good]
            clean_rates = [x for x in rates if x is not None]
            applied = sum(r.get("applied") or 0 for r in good)
            sent = sum(r.get("sent") or 0 for r in good)
            stale = [r.get("stale_items") for r in good]
            row = {
                "msgs_per_s": _median(rates),
                "min": min(clean_rates, default=None),
                "max": max(clean_rates, default=None),
                "p50_ms": _median([r.get("p50_ms") for r in good]),
                "p99_ms": _median([r.get("p99_ms") for r in good]),
                "cpu_us_per_msg": _median([r.get("cpu_us_per_msg") for r in good]),
                "rss_mb": _median([r.get("rss_mb") for r in good]),
                "applied": applied,
                "sent": sent,
                "lost": sent - applied,
                "stale_items_max": max((s for s in stale if s is not None), default=None),
                "m": good[0].get("m"),
                "reps": len(good),
                "failed_reps": len(mine) - len(good),
            }
            summary[scenario.name]["runners"][runner.name] = row
            lost = f"**{row['lost']:,} ({fmt_pct(row['lost'] / sent)})**" if row["lost"] else "0"
            stale_txt = "-" if row["stale_items_max"] is None else str(row["stale_items_max"])
            lines.append(
                f"| {runner.name} | {fmt_rate(row['msgs_per_s'])} "
                f"| {fmt_rate(row['min'])}-{fmt_rate(row['max'])} "
                f"| {fmt_ms(row['p50_ms'])} | {fmt_ms(row['p99_ms'])} "
                f"| {applied:,}/{sent:,} | {lost} | {stale_txt} "
                f"| {row['cpu_us_per_msg'] or '-'} | {row['rss_mb'] or '-'} | {row['m']:,} |"
            )
        if scenario.rate == 0:
            lines += _ratio_lines(scenario, runners, runs, summary[scenario.name]["ratios"])
    return lines, summary


def _ratio_lines(
    scenario: Scenario, runners: list[Runner], runs: list[dict[str, Any]], out: dict[str, Any]
) -> list[str]:
    selected = {r.name for r in runners}
    lines: list[str] = []
    for top, bottom in RATIOS:
        if top not in selected or bottom not in selected:
            continue
        per_rep: list[float] = []
        per_rep_cpu: list[float] = []
        for rep in sorted({r["rep"] for r in runs if r["scenario"] == scenario.name}):
            pair = {
                r["runner"]: r
                for r in runs
                if r["scenario"] == scenario.name and r["rep"] == rep and _ok(r)
            }
            a, b = pair.get(top, {}), pair.get(bottom, {})
            if a.get("msgs_per_s") and b.get("msgs_per_s"):
                per_rep.append(a["msgs_per_s"] / b["msgs_per_s"])
            if a.get("cpu_us_per_msg") and b.get("cpu_us_per_msg"):
                per_rep_cpu.append(b["cpu_us_per_msg"] / a["cpu_us_per_msg"])
        label = f"{top} / {bottom}"
        if per_rep:
            med = statistics.median(per_rep)
            cpu = statistics.median(per_rep_cpu) if per_rep_cpu else None
            out[label] = {"median": med, "per_rep": per_rep, "cpu_median": cpu}
            reps = ", ".join(f"{x:.2f}" for x in per_rep)
            cpu_txt = f"; by CPU time per msg {cpu:.2f}x" if cpu is not None else ""
            lines.append(f"- {label}: {med:.2f}x (per repetition {reps}{cpu_txt})")
        else:
            out[label] = None
            lines.append(f"- {label}: pending (not both measured)")
    return ["", *lines] if lines else []


def warnings_for(runs: list[dict[str, Any]]) -> list[str]:
    out: list[str] = []
    for r in runs:
        where = f"{r['runner']} in '{r['scenario']}' rep {r['rep']}"
        if "error" in r:
            if not r.get("unavailable"):
                out.append(f"FAILED: {where}: {r['error']}")
            continue
        lost, sent, stale = r.get("lost"), r.get("sent"), r.get("stale_items")
        if lost:
            out.append(
                f"LOST UPDATES: {where}: {lost:,} of {sent:,} ({fmt_pct(lost / sent)}) "
                f"never reached the change listener; {stale} items hold a stale value at the end"
            )
        elif stale:
            out.append(f"STALE STATE: {where}: {stale} items differ from the server's")
        server = r.get("server") or {}
        send_s = float(server.get("send_s") or 0.0)
        blocked_s = float(server.get("blocked_s") or 0.0)
        elapsed = float(r.get("elapsed_s") or 0.0)
        measurable = r.get("rate") == 0 and send_s > 0 and elapsed > 0
        if measurable and blocked_s < 0.1 * send_s and send_s > 0.5 * elapsed:
            out.append(
                f"SERVER-BOUND?: {where}: the server wrote for {send_s:.3f} s of the "
                f"client's {elapsed:.3f} s and waited on the client only {blocked_s:.3f} s"
            )
    return out


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "loadavg": os.getloadavg(),
    }
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        node = subprocess.run(["node", "--version"], capture_output=True, text=True, timeout=10)
        info["node"] = node.stdout.strip()
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        git = ["git", "rev-parse", "--short", "HEAD"]
        info["commit"] = subprocess.run(
            git, cwd=ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()
    return info


# ---- main --------------------------------------------------------------------------------


def _csv(kind: type) -> Any:
    def parse(text: str) -> list[Any]:
        return [kind(part) for part in text.split(",") if part]

    return parse


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--runners", type=_csv(str), default=list(RUNNERS), help="comma list")
    parser.add_argument("--n", type=_csv(int), default=[100, 10_000], help="group sizes")
    parser.add_argument("--m", type=int, default=100_000, help="updates per throughput run")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument(
        "--scenarios",
        type=_csv(str),
        default=["throughput", "loss", "latency"],
        help="throughput,loss,latency,item",
    )
    parser.add_argument("--sort", choices=["both", "yes", "no"], default="both")
    parser.add_argument(
        "--stamps",
        choices=["unique", "wall"],
        default="unique",
        help="envelope timestamps of throughput/item runs (loss and latency: always wall)",
    )
    parser.add_argument("--rate", type=int, default=10_000, help="latency run: msgs/s")
    parser.add_argument("--latency-n", type=int, default=10_000)
    parser.add_argument("--latency-seconds", type=float, default=3.0)
    parser.add_argument(
        "--budget", type=float, default=3.0, help="seconds of updates for a known-slow client"
    )
    parser.add_argument(
        "--min-m", type=int, default=1000, help="fewest updates a budget-capped client gets"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--run-timeout", type=float, default=120.0)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run: 1 rep, N=100 unsorted, M=20,000, 0.5 s paced runs",
    )
    parser.add_argument("--no-setup", action="store_true", help="do not install the peers")
    parser.add_argument("--no-save", action="store_true", help="do not write results JSON")
    parser.add_argument("--list", action="store_true", help="list the runners and exit")
    args = parser.parse_args(argv)
    if args.quick:  # smaller defaults; options given explicitly still win
        quick = {"reps": 1, "n": [100], "sort": "no", "m": 20_000, "budget": 0.5, "min_m": 300}
        quick["latency_seconds"] = 0.5
        parser.set_defaults(**quick)
        args = parser.parse_args(argv)
    unknown = [name for name in args.runners if name not in RUNNERS]
    if unknown:
        parser.error(f"unknown runners {unknown}; known: {', '.join(RUNNERS)}")
    bad = set(args.scenarios) - {"throughput", "loss", "latency", "item"}
    if bad:
        parser.error(f"unknown scenarios {sorted(bad)}")
    return args


def _terminate(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally blocks that stop children


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _terminate)
    args = parse_args(argv)
    if args.list:
        for runner in RUNNERS.values():
            print(f"{runner.name:<20} {runner.kind:<7} {runner.description}")
        return 0
    if not args.no_setup:
        for status in ensure_peers(quiet=True).values():
            if not status.ok:
                print(f"peer {status.name}: {status.detail}")
    runners = [RUNNERS[name] for name in args.runners]
    scenarios = build_scenarios(args)
    meta: dict[str, Any] = {"started": time.strftime("%Y-%m-%dT%H:%M:%S")}
    meta["machine"] = machine_info()
    print(
        f"{len(scenarios)} scenarios x {args.reps} reps x {len(runners)} runners on "
        f"{meta['machine'].get('cpu', '?')} ({meta['machine']['cpus']} CPUs, "
        f"load {meta['machine']['loadavg'][0]:.2f})",
        flush=True,
    )
    runs: list[dict[str, Any]] = []
    unavailable: set[str] = set()
    with bench_server() as port:
        for scenario in scenarios:
            print(f"\n{scenario.name}: {scenario.describe()}", flush=True)
            for rep in range(args.reps):
                order = runners[rep % len(runners) :] + runners[: rep % len(runners)]
                for runner in order:
                    reason = runner.missing() or (
                        f"{runner.name} unavailable" if runner.name in unavailable else None
                    )
                    if reason is not None:
                        result: dict[str, Any] = {"error": reason, "unavailable": True}
                        result.update(runner=runner.name, scenario=scenario.name)
                    else:
                        m = updates_for(runner, scenario, args)
                        result = run_one(runner, scenario, m, port, args)
                        if result.get("unavailable"):
                            unavailable.add(runner.name)
                    result["rep"] = rep
                    runs.append(result)
                    print("  " + _progress(result), flush=True)
    meta["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    meta["loadavg_end"] = os.getloadavg()
    lines, summary = summarize(scenarios, runners, runs)
    print("\n".join(lines))
    warnings = warnings_for(runs)
    if warnings:
        print("\n" + "!" * 78)
        print(f"!!! {len(warnings)} warnings: lost updates, failures, suspicious runs")
        print("!" * 78)
        for warning in warnings:
            print("  " + warning)
    if not args.no_save:
        RESULTS_DIR.mkdir(exist_ok=True)
        path = RESULTS_DIR / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json"
        document = {"meta": meta, "args": _jsonable(vars(args)), "summary": summary, "runs": runs}
        path.write_text(json.dumps(document, indent=1))
        print(f"\nresults: {path.relative_to(ROOT)}")
    failed = [r for r in runs if "error" in r and not r.get("unavailable")]
    return 1 if failed else 0


def _progress(r: dict[str, Any]) -> str:
    head = f"rep {r['rep']} {r['runner']:<19}"
    if "error" in r:
        return f"{head} {'n/a' if r.get('unavailable') else 'FAILED'}: {r['error']}"
    lost = f"  LOST {r['lost']:,}" if r.get("lost") else ""
    return (
        f"{head} {fmt_rate(r.get('msgs_per_s')):>7} msgs/s  p50 {fmt_ms(r.get('p50_ms'))} ms  "
        f"p99 {fmt_ms(r.get('p99_ms'))} ms  {r.get('applied'):,}/{r.get('sent'):,}{lost}  "
        f"{r.get('rss_mb')} MB"
    )


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v for k, v in values.items() if isinstance(v, (str, int, float, bool, list, type(None)))
    }


if __name__ == "__main__":
    sys.exit(main())
