"""`python -m bench.history_bench SAMPLES`: the history store at a year's size, in a process of its
own, printing one JSON line: insert rate, file size, and the time of each window query the alert
rules and the error-rate checks make.

SAMPLES probes are spread evenly over 365 days (10 million: one every ~3 s) across the sampled
series (health, orchestrate, DNS for two domains, a few registrations), recorded the way runs
record them: one run per 15 minutes, its samples in one `add_samples` call. Then, at the end of
the year, each query runs five times; the slowest time is judged.
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from synthetics.expectations import SAMPLED_ENDPOINTS
from synthetics.history.store import SampleRecord, SqliteHistory

TARGET = "https://worker.example.invalid"
YEAR = 365 * 86_400.0
RUN_EVERY = 900.0
SERIES = (  # (endpoint, subject, method, share)
    ("health", "", "GET", 0.30),
    ("orchestrate", "", "GET", 0.30),
    ("dns", "mcp.aipub.2100.cool", "GET", 0.175),
    ("dns", "mcp.asoos.2100.cool", "GET", 0.175),
    ("register", "", "POST", 0.05),
)
DAY = 86_400.0


def _sample(t: float, endpoint: str, subject: str, method: str, rnd: random.Random) -> SampleRecord:
    roll = rnd.random()
    total = 0.02 + rnd.expovariate(1 / 0.03)
    if roll < 0.0005:
        return SampleRecord(t, TARGET, endpoint, subject, method, None, False, "timeout",
                            total=5.0)
    status = 500 if roll < 0.0015 else 200
    return SampleRecord(t, TARGET, endpoint, subject, method, status, status == 200, None,
                        None, None, 0.0001, total * 0.8, total * 0.1, total * 0.9, total)


def fill(store: SqliteHistory, count: int, start: float) -> tuple[float, int]:
    """Record `count` samples over a year from `start`; returns (seconds, runs)."""
    rnd = random.Random(6)
    step = YEAR / count
    bounds: list[tuple[float, str, str, str]] = []
    acc = 0.0
    for endpoint, subject, method, share in SERIES:
        acc += share
        bounds.append((acc, endpoint, subject, method))
    began = time.perf_counter()
    runs = 0
    slot_end = start + RUN_EVERY
    batch: list[SampleRecord] = []
    run_id = store.start_run("health", TARGET, start, start, False)
    for i in range(count):
        t = start + i * step
        if t >= slot_end:
            store.add_samples(run_id, batch)
            store.finish_run(run_id, slot_end, "passed")
            runs += 1
            batch = []
            run_id = store.start_run("health", TARGET, slot_end, slot_end, False)
            slot_end += RUN_EVERY
        pick = rnd.random()
        series = next((b for b in bounds if pick < b[0]), bounds[-1])
        batch.append(_sample(t, *series[1:], rnd))
    store.add_samples(run_id, batch)
    store.finish_run(run_id, slot_end, "passed")
    return time.perf_counter() - began, runs + 1


def queries(store: SqliteHistory, now: float) -> dict[str, Callable[[], Any]]:
    """The window queries of alerts.evaluate and of the error-rate checks' history window."""
    hour, week = 3600.0, 7 * DAY
    out: dict[str, Callable[[], Any]] = {
        "health_down: /health samples, last hour":
            lambda: store.samples(TARGET, "health", now - hour, now, method="GET"),
    }
    for endpoint in SAMPLED_ENDPOINTS:
        out[f"slow_responses: {endpoint} 7-day median"] = partial(
            store.median_total, TARGET, endpoint, now - hour - week, now - hour)
        out[f"slow_responses: {endpoint} samples, last hour"] = partial(
            store.samples, TARGET, endpoint, now - hour, now, method="GET")
    out["registration_drop: 7-day counts"] = partial(
        store.failure_counts, TARGET, "register", now - week, now, method="POST")
    out["registration_drop: samples, last hour"] = partial(
        store.samples, TARGET, "register", now - hour, now, method="POST")
    for endpoint in SAMPLED_ENDPOINTS:
        out[f"error-rate window: {endpoint} 24-hour counts"] = partial(
            store.failure_counts, TARGET, endpoint, now - DAY, now)
    return out


def main(argv: list[str]) -> int:
    count = int(argv[0]) if argv else 10_000_000
    start = 1_767_225_600.0  # 2026-01-01 UTC
    now = start + YEAR
    with tempfile.TemporaryDirectory(prefix="bench-history-") as tmp:
        path = Path(tmp) / "history.sqlite3"
        store = SqliteHistory(path)
        insert_s, runs = fill(store, count, start)
        size = sum(f.stat().st_size for f in Path(tmp).iterdir())
        times: dict[str, list[float]] = {}
        for name, query in queries(store, now).items():
            times[name] = []
            for _ in range(5):
                began = time.perf_counter()
                query()
                times[name].append((time.perf_counter() - began) * 1000)
        evaluate_ms = None
        try:
            from synthetics.history.alerts import evaluate

            began = time.perf_counter()
            evaluate(store, TARGET, now)
            evaluate_ms = (time.perf_counter() - began) * 1000
        except ImportError:
            pass
        store.close()
    print(json.dumps({
        "samples": count, "runs": runs, "insert_s": insert_s,
        "insert_per_s": count / insert_s, "file_mb": size / 1e6,
        "queries_ms": {name: {"max": max(v), "median": statistics.median(v), "first": v[0]}
                       for name, v in times.items()},
        "evaluate_ms": evaluate_ms,
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
