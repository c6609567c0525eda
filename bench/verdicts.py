"""Time to verdict (issue 14): how long a default `synthetics run` takes against a healthy, a
remote-like and a slow reference worker, each measured in the same round as its floor.

- `healthy`: `synthetics run` against the built-in worker; its floor is `bench.floor` (the same
  samples with nothing else, interpreter start-up included) against the reference worker in its
  own process. Target: the run's wall time.
- `remote-run`: the reference worker with 30 ms added to every response (`delay=30`) in its own
  process, `synthetics run --target` against it and `bench.floor` against it. Target: the run's
  wall time over its floor, the median of each round's ratio.
- `slow-health`, `slow-orchestrate`, `slow-dns`: each named slow fault at its default value;
  the run must end within 20 s with that endpoint's latency check failing, and only that one
  (the fault tests' verdicts). Its floor is the
  samples that make the verdict certain (warm-up plus (100 - p)% of the timed samples plus one,
  on the slow endpoint), shown for comparison. One round each: the target is absolute.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import servers

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
SLOW_RUN_LIMIT = 20.0

#: The targets of issue 14, by section: (name, required).
EXPECTATIONS: dict[str, list[tuple[str, str]]] = {
    "healthy": [("healthy reference worker: default run wall time", "<= 4 s")],
    "remote-run": [("remote-like worker (30 ms): default run vs its floor", "<= 1.3x")],
    **{f"slow-{name}": [(f"slow {name} (slow_{name}): run ends, latency[{name}] failing",
                         f"<= {SLOW_RUN_LIMIT:g} s, fails, no other check fails")]
       for name in ("health", "orchestrate", "dns")},
}


def _target(section: str, measured: str, met: bool) -> dict[str, Any]:
    name, required = EXPECTATIONS[section][0]
    return {"name": name, "measured": measured, "required": required, "met": met}


def _failed_checks(junit: Path) -> set[str]:
    if not junit.exists():
        return set()
    return {case.get("name", "") for case in ET.parse(junit).getroot().iter("testcase")
            if case.find("failure") is not None or case.find("error") is not None}


def run_synthetics(*extra: str) -> dict[str, Any]:
    """One `synthetics run` from an empty folder: wall time, exit code, summary, failed checks."""
    synthetics = Path(PYTHON).with_name("synthetics")
    with tempfile.TemporaryDirectory(prefix="bench-verdict-") as tmp:
        started = time.perf_counter()
        out = subprocess.run([str(synthetics), "run", "--reports", tmp, *extra], cwd=tmp,
                             capture_output=True, text=True, timeout=900)
        wall = time.perf_counter() - started
        failed = _failed_checks(Path(tmp) / "junit.xml")
    summary = next((line.strip("= ") for line in reversed(out.stdout.splitlines())
                    if " in " in line and ("passed" in line or "failed" in line)), "")
    return {"wall": wall, "code": out.returncode, "summary": summary, "failed": failed}


def run_floor(url: str, *extra: str) -> float:
    """Wall time of `bench.floor` against `url`, interpreter start-up included."""
    started = time.perf_counter()
    out = subprocess.run([PYTHON, "-m", "bench.floor", url, *extra], cwd=ROOT,
                         capture_output=True, text=True, timeout=900)
    wall = time.perf_counter() - started
    if out.returncode != 0:
        raise RuntimeError(f"bench.floor failed: {out.stderr.strip()[-2000:]}")
    return wall


def rounds(url: str, count: int, *extra: str) -> tuple[list[dict[str, Any]], list[float],
                                                      list[float]]:
    """`count` rounds of `bench.floor` against `url`, then `synthetics run` with `extra`: the
    table's rows, the runs' wall times and each round's run / floor ratio."""
    rows: list[dict[str, Any]] = []
    walls: list[float] = []
    ratios: list[float] = []
    for round_ in range(count):
        floor = run_floor(url)
        run = run_synthetics(*extra)
        if run["code"] != 0:
            raise RuntimeError(f"synthetics run exited {run['code']}: {run['summary']}")
        walls.append(run["wall"])
        ratios.append(run["wall"] / floor)
        rows.append({"round": round_ + 1, "run": f"{run['wall']:.1f} s",
                     "floor": f"{floor:.1f} s", "run / floor": f"{ratios[-1]:.2f}x",
                     "pytest": run["summary"]})
    return rows, walls, ratios


def healthy(args: argparse.Namespace) -> dict[str, Any]:
    with servers.reference_worker(None) as url:
        rows, walls, _ = rounds(url, args.rounds)
    wall = statistics.median(walls)
    return {
        "title": "Time to verdict: healthy reference worker, default run",
        "note": "`synthetics run` against the built-in worker, from an empty folder; floor: "
                "`bench.floor` (the three latency streams side by side, then the error-rate "
                "pass at concurrency 16, interpreter start-up included) against the reference "
                "worker in its own process. Medians over rounds.",
        "rows": rows,
        "targets": [_target("healthy", f"{wall:.1f} s", wall <= 4)],
    }


def remote_run(args: argparse.Namespace) -> dict[str, Any]:
    with servers.reference_worker(None, "delay=30") as url:
        rows, _, ratios = rounds(url, args.rounds, "--target", url)
    ratio = statistics.median(ratios)
    return {
        "title": "Time to verdict: the reference worker 30 ms away (delay=30), default run",
        "note": "`synthetics run --target` and `bench.floor` against the same worker in its own "
                "process, in the same round; the target is the median of each round's ratio.",
        "rows": rows,
        "targets": [_target("remote-run", f"{ratio:.2f}x", ratio <= 1.3)],
    }


def slow(endpoint: str) -> Callable[[argparse.Namespace], dict[str, Any]]:
    section = f"slow-{endpoint}"
    check = f"test_latency_within_budget[{endpoint}]"

    def measure(args: argparse.Namespace) -> dict[str, Any]:
        with servers.reference_worker(None, f"slow_{endpoint}") as url:
            floor = run_floor(url, "--decisive", endpoint)
            run = run_synthetics("--target", url)
        right = check in run["failed"]
        others = sorted(run["failed"] - {check})
        met = run["wall"] <= SLOW_RUN_LIMIT and right and not others
        return {
            "title": f"Time to verdict: slow_{endpoint} (default delay), default run",
            "note": "`synthetics run --target` against the reference worker with the fault, in "
                    "its own process; floor: `bench.floor --decisive` (the warm-up and the slow "
                    "samples that make the verdict certain, start-up included).",
            "rows": [{"run": f"{run['wall']:.1f} s", "floor": f"{floor:.1f} s",
                      f"{check} failed": "yes" if right else "**no**",
                      "other failures": ", ".join(others) or "none",
                      "pytest": run["summary"]}],
            "targets": [_target(section, f"{run['wall']:.1f} s, "
                                + ("fails" if right else "does not fail")
                                + (f", {len(others)} other checks fail" if others else ""),
                                met)],
        }

    return measure


SECTIONS: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "healthy": healthy, "remote-run": remote_run,
    **{f"slow-{name}": slow(name) for name in ("health", "orchestrate", "dns")},
}
