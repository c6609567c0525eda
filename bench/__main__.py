"""`python -m bench` (or `make bench`): run every benchmark, print the table, and write it to
bench/results/bench.md and bench/results/bench.json.

Sections (each can be picked with --only or --section): `sampler` (the suite's sampler against
wrk, hey, aiohttp and httpx's AsyncClient on nginx, at concurrency 1 and 16, plus the cost of
phase timing), `remote` (the reference worker 30 ms away), `run` (the default run's wall time),
`scheduler` (resident memory over many job cycles), `history` (10 million samples), and the time
to verdict (bench/verdicts.py): `healthy`, `remote-run`, `slow-health`, `slow-orchestrate`,
`slow-dns`, each run measured in the same round as its floor. Each client
is measured in rounds interleaved with the others, so every ratio compares figures taken under
the same machine load; the table shows medians and the load average before each section.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import sections

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu_model": model, "python": platform.python_version(),
            "system": f"{platform.system()} {platform.release()}",
            "started": time.strftime("%Y-%m-%d %H:%M:%S %Z")}


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        "# Benchmark results",
        "",
        f"{m['started']} · {m['cpus']} CPUs ({m['cpu_model']}) · {m['system']} · "
        f"Python {m['python']} · `{report['command']}`",
        "",
        "## Targets",
        "",
        "| target | measured | required | met |",
        "|---|---|---|---|",
    ]
    for t in report["targets"]:
        met = {True: "yes", False: "**no**", None: "not measured"}[t["met"]]
        lines.append(f"| {t['name']} | {t['measured']} | {t['required']} | {met} |")
    for section in report["sections"]:
        lines += ["", f"## {section['title']}", "", f"Load average before: {section['load']}."]
        if section.get("note"):
            lines += ["", section["note"]]
        if section.get("rows"):
            header = list(section["rows"][0])
            lines += ["", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            for row in section["rows"]:
                lines.append("| " + " | ".join(str(row[k]) for k in header) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--only", "--section", action="append", dest="only",
                        choices=list(sections.SECTIONS), help="run only this section (repeatable)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--seconds", type=float, default=2.0,
                        help="seconds per client per round (default 2)")
    parser.add_argument("--history-samples", type=int, default=10_000_000,
                        help="samples in the history benchmark (default 10,000,000)")
    parser.add_argument("--cycles", type=int, default=1000,
                        help="scheduler job cycles (default 1000)")
    parser.add_argument("--out", type=Path, default=RESULTS,
                        help="folder for bench.md and bench.json (default bench/results)")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.seconds <= 0:
        parser.error("--rounds must be >= 1 and --seconds > 0")
    names = args.only or list(sections.SECTIONS)
    report: dict[str, Any] = {
        "machine": machine(),
        "command": " ".join(["python -m bench", *(argv if argv is not None else sys.argv[1:])]),
        "sections": [], "targets": [],
    }
    for name in names:
        run: Callable[[argparse.Namespace], dict[str, Any]] = sections.SECTIONS[name]
        before = load()
        print(f"== {name} (load {before})", file=sys.stderr, flush=True)
        try:
            result = run(args)
        except sections.Unavailable as exc:
            result = {"title": name, "note": f"not measured: {exc}", "rows": [],
                      "targets": [{"name": t, "measured": "—", "required": r, "met": None}
                                  for t, r in sections.EXPECTATIONS[name]]}
        except Exception as exc:  # noqa: BLE001 - one broken section must not lose the others
            print(f"   {name} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            result = {"title": name, "note": f"failed: {type(exc).__name__}: {exc}", "rows": [],
                      "targets": [{"name": t, "measured": "failed", "required": r, "met": False}
                                  for t, r in sections.EXPECTATIONS[name]]}
        result["load"] = before
        result["load_after"] = load()
        report["targets"] += result.pop("targets")
        report["sections"].append(result)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench.json").write_text(json.dumps(report, indent=2) + "\n")
    text = markdown(report)
    (args.out / "bench.md").write_text(text)
    print(text)
    failed = [t["name"] for t in report["targets"] if t["met"] is False]
    if failed:
        print(f"targets not met: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0




if __name__ == "__main__":
    raise SystemExit(main())
