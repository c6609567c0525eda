"""The benchmark sections: each runs its measurements and returns a title, table rows and the
targets it judges (name, measured, required, met)."""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import servers, verdicts

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

#: The targets of issue 6, by section: (name, required).
EXPECTATIONS: dict[str, list[tuple[str, str]]] = {
    "sampler": [
        ("throughput vs naive httpx.AsyncClient, c=16", ">= 4x"),
        ("throughput vs aiohttp, c=16", ">= 30%"),
        ("p50 vs wrk's p50, c=1", "within 1 ms"),
        ("phase timing CPU overhead per sample", "<= 10%"),
    ],
    "remote": [
        ("remote-like target (30 ms): c=16 vs sequential", ">= 12x"),
        ("remote-like target: most requests in flight", "<= 16"),
    ],
    "run": [("default run wall time (built-in worker, pytest start-up included)", "<= 15 s")],
    "scheduler": [("scheduler RSS growth over the job cycles", "<= 5 MB")],
    "history": [
        ("history size", ">= 10,000,000 samples"),
        ("history window queries, slowest", "< 100 ms"),
    ],
}


class Unavailable(Exception):
    """A benchmark cannot run here (a missing tool or module); the reason says which."""


def _cpus() -> tuple[int | None, int | None]:
    """(server CPU, client CPU): the first two this process may use, or no pinning."""
    cpus = sorted(os.sched_getaffinity(0))
    return (cpus[0], cpus[1]) if len(cpus) >= 2 else (None, None)


def _target(section: str, index: int, measured: str, met: bool) -> dict[str, Any]:
    name, required = EXPECTATIONS[section][index]
    return {"name": name, "measured": measured, "required": required, "met": met}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _duration_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if not match:
        raise ValueError(f"unreadable duration {text!r}")
    return float(match.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[match.group(2)]


def run_wrk(url: str, concurrency: int, seconds: float, cpu: int | None) -> dict[str, float]:
    argv = ["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", "--latency", url]
    before = _children_cpu()
    out = subprocess.run(servers.pinned(argv, cpu), capture_output=True, text=True, check=True)
    used = _children_cpu() - before
    text = out.stdout
    requests = int(re.search(r"(\d+) requests in", text).group(1))  # type: ignore[union-attr]
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))  # type: ignore[union-attr]
    # The latency distribution's own lines ("     50%   58.00us"), not a "95.99%" stdev column.
    p50 = _duration_ms(re.search(r"^\s*50%\s+(\S+)\s*$", text, re.M).group(1))  # type: ignore[union-attr]
    p99 = _duration_ms(re.search(r"^\s*99%\s+(\S+)\s*$", text, re.M).group(1))  # type: ignore[union-attr]
    if "Non-2xx" in text or "Socket errors" in text:
        raise RuntimeError(f"wrk saw errors:\n{text}")
    return {"rate": rate, "p50_ms": p50, "p99_ms": p99, "cpu_us": used / requests * 1e6}


def run_hey(url: str, concurrency: int, seconds: float, cpu: int | None) -> dict[str, float]:
    argv = ["hey", "-z", f"{seconds:g}s", "-c", str(concurrency), url]
    before = _children_cpu()
    out = subprocess.run(servers.pinned(argv, cpu), capture_output=True, text=True, check=True)
    used = _children_cpu() - before
    text = out.stdout
    ok = re.search(r"\[200\]\s+(\d+) responses", text)
    others = re.search(r"\[(?!200)\d+\]\s+\d+ responses", text)
    if ok is None or others or "Error distribution" in text:
        raise RuntimeError(f"hey saw errors:\n{text}")
    requests = int(ok.group(1))
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))  # type: ignore[union-attr]
    p50 = float(re.search(r"50% in ([\d.]+) secs", text).group(1)) * 1000  # type: ignore[union-attr]
    p99 = float(re.search(r"99% in ([\d.]+) secs", text).group(1)) * 1000  # type: ignore[union-attr]
    return {"rate": rate, "p50_ms": p50, "p99_ms": p99, "cpu_us": used / requests * 1e6}


def run_python(kind: str, url: str, concurrency: int, seconds: float,
               cpu: int | None) -> dict[str, Any]:
    argv = [PYTHON, "-m", "bench.client", kind, url, str(concurrency), f"{seconds:g}"]
    out = subprocess.run(servers.pinned(argv, cpu), capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError(f"bench.client {kind} failed: {out.stderr.strip()[-2000:]}")
    data: dict[str, Any] = json.loads(out.stdout)
    if kind == "overhead":
        return data
    return {"rate": data["requests"] / data["wall_s"], "p50_ms": data["p50_ms"],
            "p99_ms": data["p99_ms"], "cpu_us": data["cpu_s"] / data["requests"] * 1e6}


CLIENTS: dict[str, tuple[str, Callable[..., dict[str, Any]]]] = {
    "wrk": ("wrk 4.1 (C)", run_wrk),
    "hey": ("hey (Go)", run_hey),
    "aiohttp": ("aiohttp, one session", lambda *a: run_python("aiohttp", *a)),
    "httpx-client": ("httpx.Client, sequential", lambda *a: run_python("httpx-client", *a)),
    "httpx-async": ("httpx.AsyncClient, naive loop (one client)",
                    lambda *a: run_python("httpx-async", *a)),
    "httpx-async-many": ("httpx.AsyncClient, one per task (alternative design)",
                         lambda *a: run_python("httpx-async-many", *a)),
    "sampler-all-threads": ("the suite's sampler, all 16 threads from the start",
                            lambda *a: run_python("sampler-all-threads", *a)),
    "threadpool": ("previous sampler: ThreadPoolExecutor of httpx.Clients",
                   lambda *a: run_python("threadpool", *a)),
    "sampler": ("**the suite's sampler** (phase timing on)",
                lambda *a: run_python("sampler", *a)),
    "sampler-untraced": ("the suite's sampler, phase timing off",
                         lambda *a: run_python("sampler-untraced", *a)),
}

PLAN = [
    ("wrk", 1), ("hey", 1), ("aiohttp", 1), ("httpx-client", 1), ("sampler", 1),
    ("wrk", 16), ("hey", 16), ("aiohttp", 16), ("httpx-async", 16), ("httpx-async-many", 16),
    ("threadpool", 16), ("sampler", 16), ("sampler-untraced", 16), ("sampler-all-threads", 16),
]


def _ratio(runs: dict[tuple[str, int], list[dict[str, Any]]], a: tuple[str, int],
           b: tuple[str, int], key: str = "rate") -> float:
    """The median over rounds of a/b, each round's pair measured minutes apart at most."""
    return float(statistics.median(x[key] / y[key]
                                   for x, y in zip(runs[a], runs[b], strict=True)))


def sampler(args: argparse.Namespace) -> dict[str, Any]:
    for tool in ("wrk", "hey"):
        if shutil.which(tool) is None:
            raise Unavailable(f"{tool} is not installed (apt-get install wrk hey nginx-light)")
    server_cpu, client_cpu = _cpus()
    runs: dict[tuple[str, int], list[dict[str, Any]]] = {key: [] for key in PLAN}
    with servers.nginx(server_cpu) as base:
        url = base + "/health"
        for round_ in range(args.rounds):
            for kind, concurrency in PLAN:
                print(f"   round {round_ + 1}: {kind} c={concurrency}", file=sys.stderr,
                      flush=True)
                target = url if kind in ("wrk", "hey") else base
                runs[(kind, concurrency)].append(
                    CLIENTS[kind][1](target, concurrency, args.seconds, client_cpu))
        overhead = run_python("overhead", base, 1, args.seconds * args.rounds * 2, client_cpu)
    rows = []
    for (kind, concurrency), results in runs.items():
        rows.append({
            "client": CLIENTS[kind][0], "concurrency": concurrency,
            "req/s": f"{statistics.median(r['rate'] for r in results):,.0f}",
            "p50": f"{statistics.median(r['p50_ms'] for r in results):.2f} ms",
            "p99": f"{statistics.median(r['p99_ms'] for r in results):.2f} ms",
            "client CPU/request": f"{statistics.median(r['cpu_us'] for r in results):,.0f} µs",
        })
    naive = _ratio(runs, ("sampler", 16), ("httpx-async", 16))
    share = _ratio(runs, ("sampler", 16), ("aiohttp", 16))
    p50_gap = statistics.median(abs(s["p50_ms"] - w["p50_ms"]) for s, w in
                                zip(runs[("sampler", 1)], runs[("wrk", 1)], strict=True))
    cost = overhead["overhead"]
    pinning = ("unpinned" if server_cpu is None
               else f"nginx on CPU {server_cpu}, clients on CPU {client_cpu}")
    note = (f"{pinning}; "
            f"{args.rounds} interleaved rounds of {args.seconds:g} s per client; medians. "
            "The sampler's c=1 latency is the wall time of each `Probe.request` call (the "
            "latency checks time each sample's own total, as at c=16). Phase timing cost: "
            f"{overhead['traced_cpu_us']:.0f} µs vs {overhead['untraced_cpu_us']:.0f} µs of CPU "
            f"per sequential sample (median of {overhead['rounds']} paired rounds).")
    return {
        "title": "Sampler against other clients (nginx, loopback, small JSON)",
        "note": note, "rows": rows, "overhead": overhead,
        "raw": {f"{k}@{c}": v for (k, c), v in runs.items()},
        "targets": [
            _target("sampler", 0, f"{naive:.1f}x", naive >= 4),
            _target("sampler", 1, f"{share:.0%}", share >= 0.30),
            _target("sampler", 2, f"{p50_gap:.2f} ms apart", p50_gap <= 1.0),
            _target("sampler", 3, f"{cost:+.1%}", cost <= 0.10),
        ],
    }


def remote(args: argparse.Namespace) -> dict[str, Any]:
    from synthetics.probe import Probe, Request

    concurrency, count = 16, 160
    request = Request("health", "/health")
    rows, ratios, peaks = [], [], []
    with servers.reference_worker(None, "delay=30") as url, Probe(url) as probe:
        probe.request(request, record=False)
        for round_ in range(args.rounds):
            servers.peak_in_flight(url)
            started = time.perf_counter()
            sequential = [probe.request(request) for _ in range(count)]
            seq_s = time.perf_counter() - started
            servers.peak_in_flight(url)
            started = time.perf_counter()
            concurrent = probe.sample_many([request] * count, concurrency)
            conc_s = time.perf_counter() - started
            peak = servers.peak_in_flight(url)
            bad = [s for s in sequential + concurrent if not s.ok]
            if bad:
                raise RuntimeError(f"remote-like worker failed: {bad[0].summary()}")
            ratios.append(seq_s / conc_s)
            peaks.append(peak)
            rows.append({"round": round_ + 1, "samples": count,
                         "sequential": f"{seq_s:.2f} s", f"c={concurrency}": f"{conc_s:.3f} s",
                         "speed-up": f"{seq_s / conc_s:.1f}x",
                         "most in flight (at the worker)": peak})
    speedup = statistics.median(ratios)
    return {
        "title": "Remote-like target: the reference worker with 30 ms added to every response",
        "note": "The worker runs in its own process (bench/serve.py) and counts the requests it "
                "has in flight; 16x is the ideal speed-up.",
        "rows": rows,
        "targets": [
            _target("remote", 0, f"{speedup:.1f}x", speedup >= 12),
            _target("remote", 1, str(max(peaks)), max(peaks) <= concurrency),
        ],
    }


def default_run(args: argparse.Namespace) -> dict[str, Any]:
    synthetics = Path(PYTHON).with_name("synthetics")
    rows, walls = [], []
    for round_ in range(args.rounds):
        with tempfile.TemporaryDirectory(prefix="bench-run-") as tmp:
            started = time.perf_counter()
            out = subprocess.run([str(synthetics), "run", "--reports", tmp], cwd=tmp,
                                 capture_output=True, text=True)
            wall = time.perf_counter() - started
        summary = next((line.strip("= ") for line in reversed(out.stdout.splitlines())
                        if " in " in line and ("passed" in line or "failed" in line)), "")
        if out.returncode != 0:
            raise RuntimeError(f"synthetics run exited {out.returncode}: {summary}")
        walls.append(wall)
        rows.append({"round": round_ + 1, "wall time": f"{wall:.1f} s", "pytest": summary})
    wall = statistics.median(walls)
    return {
        "title": "Default run: `synthetics run` against the built-in reference worker",
        "note": "Wall time of the whole command (interpreter and pytest start-up, 500 error-rate "
                "samples per sampled endpoint, 5 warm-up and up to 100 timed requests per "
                "latency check (96 for a healthy endpoint), reports), run from an empty folder.",
        "rows": rows,
        "targets": [_target("run", 0, f"{wall:.1f} s", wall <= 15)],
    }


def _module_json(module: str, *args: str) -> dict[str, Any]:
    out = subprocess.run([PYTHON, "-m", module, *args], capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        if "ModuleNotFoundError" in out.stderr or "ImportError" in out.stderr:
            raise Unavailable(out.stderr.strip().splitlines()[-1])
        raise RuntimeError(f"{module} failed: {out.stderr.strip()[-2000:]}")
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def scheduler(args: argparse.Namespace) -> dict[str, Any]:
    data = _module_json("bench.scheduler_memory", str(args.cycles))
    growth_mb = data["growth_kb"] / 1024
    return {
        "title": "Scheduler memory over job cycles",
        "note": "The real Scheduler, job table, SQLite history and job subprocesses (a shell "
                "command each), alert housekeeping after every cycle; a simulated clock "
                f"advances 15 minutes per cycle. RSS after {data['warm_up']} warm-up cycles, "
                "then after the measured ones.",
        "rows": [{"cycles": data["cycles"], "job runs": data["job_runs"],
                  "RSS after warm-up": f"{data['rss_before_kb'] / 1024:.1f} MB",
                  "RSS at the end": f"{data['rss_after_kb'] / 1024:.1f} MB",
                  "growth": f"{growth_mb:+.2f} MB", "housekeeping": data["housekeeping"],
                  "wall time": f"{data['seconds']:.1f} s"}],
        "raw": data,
        "targets": [_target("scheduler", 0, f"{growth_mb:+.2f} MB over {data['cycles']} cycles",
                            growth_mb <= 5)],
    }


def history(args: argparse.Namespace) -> dict[str, Any]:
    data = _module_json("bench.history_bench", str(args.history_samples))
    rows = [{"query": name, "slowest of 5": f"{q['max']:.1f} ms",
             "median": f"{q['median']:.1f} ms"} for name, q in data["queries_ms"].items()]
    if data["evaluate_ms"] is not None:
        rows.append({"query": "alerts.evaluate (all rules, first evaluation)",
                     "slowest of 5": f"{data['evaluate_ms']:.1f} ms (once)", "median": "—"})
    slowest = max(q["max"] for q in data["queries_ms"].values())
    return {
        "title": f"History: {data['samples']:,} samples (a year) in SQLite",
        "note": f"Recorded as {data['runs']:,} runs (one per 15 minutes) in "
                f"{data['insert_s']:.0f} s ({data['insert_per_s']:,.0f} samples/s); file "
                f"{data['file_mb']:,.0f} MB. Queries at the end of the year.",
        "rows": rows, "raw": data,
        "targets": [
            _target("history", 0, f"{data['samples']:,} samples",
                    data["samples"] >= 10_000_000),
            _target("history", 1, f"{slowest:.1f} ms", slowest < 100),
        ],
    }


SECTIONS: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "sampler": sampler, "remote": remote, "run": default_run, "scheduler": scheduler,
    "history": history, **verdicts.SECTIONS,
}
EXPECTATIONS.update(verdicts.EXPECTATIONS)
