"""`python -m bench.scheduler_memory CYCLES`: the scheduler's resident memory over many job cycles,
in a process of its own, printing one JSON line.

The real `Scheduler` with the real job table, history store (a temporary SQLite file), job
subprocesses (`run_subprocess`, each job a tiny shell command rather than a pytest run) and
alert housekeeping; only the wall clock is moved (time-machine), 15 minutes per cycle, so 1,000
cycles take seconds instead of ten days. RSS is read from /proc/self/status after a warm-up and
at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path

import time_machine

from synthetics.history.store import SqliteHistory
from synthetics.schedule.scheduler import JOBS, JobSpec, Scheduler
from synthetics.worker import BUILTIN_LABEL

WARM_UP = 50


def rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def main(argv: list[str]) -> int:
    cycles = int(argv[0]) if argv else 1000
    clock = time_machine.travel(dt.datetime(2026, 1, 5, 0, 0, tzinfo=dt.timezone.utc),  # Monday
                                tick=False).start()

    def build(spec: JobSpec, run_id: int | None) -> list[str]:
        return ["sh", "-c", f"echo {spec.name} run {run_id}: 28 passed, 2 skipped"]

    with tempfile.TemporaryDirectory(prefix="bench-scheduler-") as tmp:
        store = SqliteHistory(Path(tmp) / "history.sqlite3")
        scheduler = Scheduler(JOBS, build, store=store, log=lambda line: None)
        try:
            from synthetics.schedule.jobs import _alert_housekeeping, schedule_history

            args = argparse.Namespace(synthetics_history=str(Path(tmp) / "history.sqlite3"))
            scheduler.housekeeping = _alert_housekeeping(store, BUILTIN_LABEL,
                                                         schedule_history(args, {}), None)
            housekeeping = "alert rules every cycle"
        except (ImportError, TypeError, AttributeError) as exc:
            housekeeping = f"none ({type(exc).__name__}: {exc})"
        started = time.perf_counter()
        before = 0
        for cycle in range(WARM_UP + cycles):
            if cycle == WARM_UP:
                before = rss_kb()
            clock.shift(dt.timedelta(minutes=15))
            scheduler.tick()
            scheduler.join()
            if scheduler.housekeeping is not None:
                scheduler.housekeeping(dt.datetime.now(dt.timezone.utc))
        after = rss_kb()
        runs = len(store.runs(0))
        store.close()
    print(json.dumps({"cycles": cycles, "warm_up": WARM_UP, "job_runs": runs,
                      "rss_before_kb": before, "rss_after_kb": after,
                      "growth_kb": after - before, "housekeeping": housekeeping,
                      "seconds": time.perf_counter() - started}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
