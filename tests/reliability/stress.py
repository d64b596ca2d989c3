"""The long reliability runs behind ``make stress``: chaos, restart, fuzz and load at scale.

    python -m tests.reliability.stress [chaos] [restart] [fuzz] [load] [fleet] [--json PATH]

With no names, all five run, in that order. Each run prints one line of figures
and each category a summary line; the exit status is 1 if anything was lost or
broke. ``--json`` also writes every figure to a file (``RELIABILITY.md`` quotes
them). The scenarios are the same functions the short tests in this package
run, with the scale of issue 9.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import logging
import os
import random
import sys
import time
from collections.abc import Callable
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server_stub import StubServer
from tests.fleet.redis_process import redis_missing
from tests.fleet.scenario_fleet import run_fleet
from tests.reliability.fuzz_server import (
    HTTP_REQUESTS,
    ServerErrors,
    http_request_is_handled,
    stub_socket_survives,
    stub_tcp_survives,
)
from tests.reliability.fuzz_sse import (
    SSE_EVENTS,
    SSE_RESPONSES,
    sse_event_is_handled,
    sse_stream_is_handled,
)
from tests.reliability.fuzzing import (
    FRAMES,
    client_survives,
    production_recursion_limit,
    session_survives,
    session_survives_frames,
    socket_client_survives,
)
from tests.reliability.scenario_chaos import run_chaos
from tests.reliability.scenario_load import run_load
from tests.reliability.scenario_restart import run_restart

TRANSPORTS = ("websockets",)
CATEGORIES = ("chaos", "restart", "fuzz", "load", "fleet")
Report = dict[str, Any]


def _say(line: str) -> None:
    print(line, flush=True)


# -- chaos ------------------------------------------------------------------------------------


async def chaos(quick: bool = False) -> Report:
    """10,000 random operations on 1,000 items, cuts every 0.2-2 s, per seed and transport."""
    seeds = 1 if quick else 4
    runs = []
    for seed in range(1, seeds + 1):
        for transport in TRANSPORTS:
            result = await run_chaos(
                seed=seed,
                transport=transport,
                dialect="motia" if seed % 2 else "iii",
                operations=1_000 if quick else 10_000,
                items=100 if quick else 1_000,
                watched=5,
                rate=400,
                cut_every=(0.2, 2.0),
            )
            _say(
                "  "
                + result.summary()
                + (f" PROBLEMS {result.problems}" if result.problems else "")
            )
            runs.append(result)
    report = {
        "runs": len(runs),
        "operations": sum(r.operations for r in runs),
        "cuts": sum(r.cuts + r.mid_frame_cuts for r in runs),
        "mid_frame_cuts": sum(r.mid_frame_cuts for r in runs),
        "reconnects": sum(r.reconnects for r in runs),
        "events_sent": sum(r.events_sent for r in runs),
        "events_heard": sum(r.events_seen for r in runs),
        "mismatches": sum(r.mismatches for r in runs),
        "longest_convergence_s": round(max(r.converge_seconds for r in runs), 3),
        "problems": [p for r in runs for p in r.problems],
        "per_run": [r.summary() for r in runs],
    }
    _say(
        f"CHAOS: {report['runs']} runs ({seeds} seeds x {len(TRANSPORTS)} transports), "
        f"{report['operations']} operations, {report['cuts']} connection cuts survived "
        f"({report['mid_frame_cuts']} mid-frame), {report['reconnects']} reconnects, "
        f"mismatches {report['mismatches']}, longest convergence after the last cut "
        f"{report['longest_convergence_s']:.2f} s"
    )
    return report


# -- restart ----------------------------------------------------------------------------------


async def restart(quick: bool = False) -> Report:
    """SIGKILL and restart the stub process 10 times per transport and dialect."""
    cycles = 1 if quick else 10
    runs = []
    for seed, (transport, dialect) in enumerate(
        (t, d) for t in TRANSPORTS for d in ("motia", "iii")
    ):
        result = await run_restart(
            transport=transport,
            dialect=dialect,
            cycles=cycles,
            todos=50,
            downtime=(0.2, 3.0),
            seed=seed,
        )
        _say("  " + result.summary() + (f" PROBLEMS {result.problems}" if result.problems else ""))
        runs.append(result)
    report = {
        "runs": len(runs),
        "restarts": sum(r.cycles for r in runs),
        "failed_attempts_while_down": sum(r.attempts for r in runs),
        "todos_written": sum(r.todos_written for r in runs),
        "longest_convergence_s": round(max(r.longest_converge for r in runs), 3),
        "problems": [p for r in runs for p in r.problems],
        "per_run": [r.summary() for r in runs],
    }
    _say(
        f"RESTART: {report['restarts']} SIGKILL restarts on the same port "
        f"({len(TRANSPORTS)} transports x 2 dialects), {report['failed_attempts_while_down']} "
        f"failed reconnect attempts while down, {report['todos_written']} todos written, "
        f"longest convergence {report['longest_convergence_s']:.2f} s after the new process "
        f"listened, problems {sum(len(r.problems) for r in runs)}"
    )
    return report


# -- fuzz -------------------------------------------------------------------------------------


def _hypothesis(examples: int, strategy: Any, check: Callable[[Any], object]) -> int:
    """Run ``check`` on ``examples`` hypothesis examples; return how many ran."""
    ran = 0

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def run(value: Any) -> None:
        nonlocal ran
        ran += 1
        check(value)

    run()
    return ran


def _n(count: int, scale: float) -> int:
    return max(5, int(count * scale))


def _socket_client_runs(transport: str, count: int) -> int:
    return sum(
        asyncio.run(socket_client_survives(seed, transport, count))["frames"] for seed in range(3)
    )


def _stub_socket_run(dialect: str, count: int) -> int:
    return asyncio.run(stub_socket_survives(7, count, 5, dialect))["frames"]


def fuzz(quick: bool = False) -> Report:
    """Every fuzz property of the short tests, with many more examples."""
    scale = 0.02 if quick else 1
    figures: Report = {}
    started = time.perf_counter()
    seeds = st.tuples(st.integers(0, 2**64 - 1), st.integers(20, 60))

    def timed(name: str, run: Callable[[], object], unit: str) -> None:
        began = time.perf_counter()
        figures[name] = run()
        _say(f"  fuzz {name}: {figures[name]} {unit}, {time.perf_counter() - began:.1f} s")

    timed(
        "session_generated",
        lambda: _hypothesis(
            _n(5000, scale), st.lists(FRAMES, min_size=1, max_size=20), session_survives_frames
        ),
        "examples (hypothesis frames, up to 20 each)",
    )
    timed(
        "session_mutated",
        lambda: _hypothesis(
            _n(5000, scale), seeds, lambda s: session_survives(random.Random(s[0]), s[1])
        ),
        "examples (20-60 seeded hostile frames each)",
    )
    timed(
        "client_in_memory",
        lambda: _hypothesis(
            _n(1000, scale),
            seeds,
            lambda s: asyncio.run(client_survives(random.Random(s[0]), s[1])),
        ),
        "examples through a running client",
    )
    for transport in TRANSPORTS:
        timed(
            f"client_socket_{transport}",
            functools.partial(_socket_client_runs, transport, _n(5000, scale)),
            "hostile frames over a real socket (3 runs)",
        )
    for dialect in ("motia", "iii"):
        timed(
            f"stub_socket_{dialect}",
            functools.partial(_stub_socket_run, dialect, _n(2000, scale)),
            "hostile client frames from 5 sockets",
        )
    timed(
        "stub_tcp",
        lambda: asyncio.run(stub_tcp_survives(11, _n(500, scale)))["connections"],
        "raw TCP connections with garbage",
    )
    with (
        ServerErrors() as errors,
        StubServer(port=0).in_thread() as stub,
        httpx.Client(base_url=stub.http_url, timeout=30) as http,
    ):
        timed(
            "stub_http",
            lambda: _hypothesis(
                _n(3000, scale), HTTP_REQUESTS, lambda r: http_request_is_handled(http, r)
            ),
            "hostile HTTP requests",
        )
        assert http.get("/").status_code == 200
    assert errors.messages == [], errors.messages

    def sse_event(event: Any) -> None:
        with production_recursion_limit():
            sse_event_is_handled(event)

    def sse_stream(response: Any) -> None:
        with production_recursion_limit():
            sse_stream_is_handled(response)

    timed("sse_events", lambda: _hypothesis(_n(5000, scale), SSE_EVENTS, sse_event), "SSE events")
    timed(
        "sse_streams",
        lambda: _hypothesis(_n(2000, scale), SSE_RESPONSES, sse_stream),
        "SSE responses",
    )
    figures["seconds"] = round(time.perf_counter() - started, 1)
    frames = figures["client_socket_websockets"]
    _say(
        f"FUZZ: {figures['session_generated'] + figures['session_mutated']} session examples, "
        f"{figures['client_in_memory']} running-client examples, {frames} frames over real "
        f"sockets, {figures['stub_socket_motia'] + figures['stub_socket_iii']} hostile frames "
        f"and {figures['stub_tcp']} raw TCP connections into the stub, {figures['stub_http']} "
        f"HTTP requests, {figures['sse_events']} SSE events and {figures['sse_streams']} SSE "
        f"responses: no exception escaped, every valid frame after the garbage applied, "
        f"the stub kept serving ({figures['seconds']:.0f} s)"
    )
    figures["problems"] = []
    return figures


# -- load -------------------------------------------------------------------------------------


async def load(quick: bool = False) -> Report:
    """500 sockets, 50 updates a second for 60 s, clients in worker processes."""
    before = os.getloadavg()[0]
    result = await run_load(
        sockets=60 if quick else 500,
        rate=50,
        duration=5 if quick else 60,
        items=100,
        workers=2,
        probes=20,
    )
    after = os.getloadavg()[0]
    _say("  " + result.summary() + (f" PROBLEMS {result.problems}" if result.problems else ""))
    report = {
        "sockets": result.sockets,
        "updates": result.updates,
        "rate_per_s": result.rate,
        "duration_s": result.duration,
        "frames_fanned_out": result.updates * result.sockets,
        "converged": result.converged,
        "reconnects": result.reconnects,
        "probe_deliveries": result.deliveries,
        "latency_p50_ms": round(result.percentile(0.5), 1),
        "latency_p99_ms": round(result.percentile(0.99), 1),
        "latency_max_ms": round(result.percentile(1.0), 1),
        "stub_peak_rss_mb": round(result.peak_rss_mb, 1),
        "stub_peak_cpu_percent": round(result.peak_cpu_percent),
        "stub_mean_cpu_percent": round(result.mean_cpu_percent),
        "loadavg_before_after": [round(before, 2), round(after, 2)],
        "problems": result.problems,
    }
    _say(
        f"LOAD: {result.sockets} sockets, {result.updates} updates at {result.rate:g}/s for "
        f"{result.duration:g} s ({report['frames_fanned_out']} frames fanned out), "
        f"{result.converged}/{result.sockets} converged, {result.reconnects} reconnects, "
        f"p99 delivery {report['latency_p99_ms']:.0f} ms (p50 {report['latency_p50_ms']:.0f} ms), "
        f"stub peak RSS {report['stub_peak_rss_mb']:.0f} MB, CPU peak "
        f"{report['stub_peak_cpu_percent']}% mean {report['stub_mean_cpu_percent']}% of a core "
        f"(load average {before:.1f} -> {after:.1f} on {os.cpu_count()} cores)"
    )
    return report


# -- fleet ------------------------------------------------------------------------------------


async def fleet(quick: bool = False) -> Report:
    """3 stub processes on one Redis, 20 clients, 5,000 writes, 10 SIGKILLs and 20 cuts."""
    missing = redis_missing()
    if missing is not None:
        raise RuntimeError(f"cannot run the fleet: {missing}")
    result = await run_fleet(
        instances=3,
        clients=20,
        writes=500 if quick else 5_000,
        kills=2 if quick else 10,
        cuts=2 if quick else 20,
        seed=3,
        converge_timeout=60,
    )
    problems = [*result.problems, *result.stale[:20]]
    _say("  " + result.summary() + (f" PROBLEMS {problems}" if problems else ""))
    report = {
        "instances": result.instances,
        "clients": result.clients,
        "writes": result.writes,
        "acked": result.acked,
        "not_found": result.not_found,
        "lost_with_a_killed_instance": result.failed,
        "kills": result.kills,
        "cuts": result.cuts,
        "sockets_cut": result.sockets_cut,
        "reconnects": result.reconnects,
        "failovers": result.failovers,
        "converge_after_last_fault_s": round(result.converge_after_last_fault, 3),
        "converge_after_last_write_s": round(result.converge_after_last_write, 3),
        "cross_instance_deliveries": len(result.latencies_ms),
        "latency_p50_ms": round(result.percentile(0.5), 1),
        "latency_p99_ms": round(result.percentile(0.99), 1),
        "latency_max_ms": round(result.percentile(1.0), 1),
        "stale_frames": len(result.stale),
        "mismatches": result.mismatches,
        "seconds": round(result.seconds, 1),
        "problems": problems,
    }
    _say(
        f"FLEET: {result.instances} instances on one Redis, {result.clients} clients, "
        f"{result.writes} writes, {result.kills} SIGKILL restarts, {result.cuts} cuts "
        f"({result.sockets_cut} sockets), {result.failovers} failovers, mismatches "
        f"{result.mismatches}, stale frames {len(result.stale)}, converged "
        f"{result.converge_after_last_fault:.2f} s after the last fault, cross-instance "
        f"write-to-listener p99 {report['latency_p99_ms']:.0f} ms "
        f"(p50 {report['latency_p50_ms']:.0f} ms)"
    )
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.reliability.stress")
    parser.add_argument("names", nargs="*", help="chaos, restart, fuzz, load, fleet (default: all)")
    parser.add_argument("--json", help="also write every figure to this file")
    parser.add_argument("--quick", action="store_true", help="a small smoke run of each")
    args = parser.parse_args(argv)
    names = args.names or list(CATEGORIES)
    unknown = set(names) - set(CATEGORIES)
    if unknown:
        parser.error(f"unknown categories: {', '.join(sorted(unknown))}")
    reports: dict[str, Report] = {}
    failed: list[str] = []
    started = time.perf_counter()
    for name in names:
        _say(f"== {name}")
        try:
            if name == "fuzz":
                reports[name] = fuzz(args.quick)
            else:
                runner = {"chaos": chaos, "restart": restart, "load": load, "fleet": fleet}[name]
                reports[name] = asyncio.run(runner(args.quick))
        except Exception as exc:  # report it and go on with the other categories
            _say(f"{name.upper()}: FAILED: {type(exc).__name__}: {exc}")
            reports[name] = {"problems": [f"{type(exc).__name__}: {exc}"]}
        if reports[name].get("problems") or reports[name].get("mismatches"):
            failed.append(name)
    total = time.perf_counter() - started
    _say(
        f"STRESS: {', '.join(names)} in {total / 60:.1f} min; failed: {', '.join(failed) or 'none'}"
    )
    if args.json:
        with open(args.json, "w") as out:
            json.dump(
                {"seconds": round(total), "python": sys.version.split()[0], **reports},
                out,
                indent=2,
            )
    return 1 if failed else 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.CRITICAL)  # the runs' expected warnings are not news
    raise SystemExit(main())
