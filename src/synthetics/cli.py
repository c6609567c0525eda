"""The `synthetics` command: run the checks with reports, serve the reference worker, show targets.

`synthetics run [--target URL] [pytest args]` runs the checks and writes reports/report.html
(self-contained), reports/junit.xml, reports/benchmark.json and reports/summary.json (every
check's measured value and verdict, for other tools); its exit code is pytest's, so a
pipeline can act on it (0 all targets met, 1 a check failed, 4 a usage error...).
`synthetics serve` starts the reference worker, optionally with faults, for manual runs.
`synthetics targets` prints the table of targets; `synthetics decidability` how long each
error-rate and balance target takes to become decidable over the history window.
`synthetics status-page` writes a static status page and badges from history (read-only).
`synthetics heal` decides once for many regions (`synthetics.selfheal.heal`).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import ipaddress
import os
import re
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from synthetics.expectations import AREAS, markdown_table
from synthetics.history import decidability
from synthetics.reference import FAULTS, ReferenceWorker
from synthetics.reporting.status_page import add_status_page_parser
from synthetics.schedule.jobs import add_schedule_parser
from synthetics.scrub import redact
from synthetics.selfheal.heal import add_heal_parser
from synthetics.settings import EXIT_USAGE, _Parser, checks_dir

__all__ = ["console_main", "main"]


def _run(args: argparse.Namespace, extra: list[str]) -> int:
    reports = Path(args.reports)
    try:
        reports.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(redact(f"synthetics run: --reports={args.reports!r}: cannot make the folder "
                     f"({exc.strerror or exc})"), file=sys.stderr)
        return EXIT_USAGE
    argv = [
        str(checks_dir()),
        "-p", "no:cacheprovider",
        f"--html={reports / 'report.html'}",
        "--self-contained-html",
        f"--junitxml={reports / 'junit.xml'}",
        f"--benchmark-json={reports / 'benchmark.json'}",
        f"--summary-json={reports / 'summary.json'}",
        "--benchmark-columns=min,median,max,rounds",
        "-o", "junit_family=xunit2",
        # pytest-benchmark warns when a selection (-m health) has no latency check to save;
        # that is not a problem of the run, whatever the surrounding warning filters say.
        "-W", "ignore::pytest_benchmark.logger.PytestBenchmarkWarning",
        "-rfEs",
    ]
    if args.target:
        argv.append(f"--target={args.target}")
    # pytest's own usage errors (an unknown option) quote the arguments, passwords included.
    stderr, sys.stderr = sys.stderr, _Redacting(sys.stderr)
    try:
        return int(pytest.main(argv + extra))
    finally:
        sys.stderr = stderr


class _Redacting:
    """A text stream that passes everything written through `redact` (whole lines: pytest
    writes its messages a line at a time); everything else is the wrapped stream's."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(redact(text))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _serve(args: argparse.Namespace) -> int:
    try:
        loopback = ipaddress.ip_address(args.host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        print(redact(f"synthetics serve: --host {args.host!r} is not a loopback address: the "
                     "reference worker serves 127.0.0.1 or ::1 only"), file=sys.stderr)
        return EXIT_USAGE
    try:
        worker = ReferenceWorker(args.faults, host=args.host, port=args.port,
                                 faults_file=args.faults_file).start()
    except ValueError as exc:
        print(redact(f"synthetics serve: {exc}"), file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"synthetics serve: cannot listen on {args.host}:{args.port}: {exc}",
              file=sys.stderr)
        return EXIT_USAGE
    print(f"reference worker listening on {worker.url} (faults: {args.faults or 'none'})",
          flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    with contextlib.suppress(KeyboardInterrupt):
        done.wait()
    worker.stop()
    return 0


def _targets(args: argparse.Namespace) -> int:
    sys.stdout.write(markdown_table())
    return 0


def _decidability(args: argparse.Namespace) -> int:
    sys.stdout.write(decidability.markdown_table())
    return 0


def _faults(args: argparse.Namespace) -> int:
    for name, what in FAULTS.items():
        print(f"{name:<24} {what}")
    return 0


#: The plugins' option tables, as `pytest --help` groups them (each option declared once, in
#: its module; this only lists them).
OPTION_GROUPS = (("synthetics.settings", "checks"), ("synthetics.reporting.report", "reports"),
                 ("synthetics.history.plugin", "history and alerts"),
                 ("synthetics.reporting.metrics", "metrics"),
                 ("synthetics.selfheal.settings", "self-healing"),
                 ("synthetics.schedule.review", "evening review"))


def run_epilog() -> str:
    """The synthetics options by group, from the plugins' own tables, and where the rest is."""
    lines = ["synthetics options; each also from the environment (SYNTHETICS_<NAME>) or the ini",
             "file (synthetics_<name>): docs/options.md."]
    for module, title in OPTION_GROUPS:
        options = getattr(importlib.import_module(module), "OPTIONS", ())
        lines.append(f"\n{title}:")
        for option in options:
            first = re.split(r"\.\s+(?=[A-Z`])", option.help)[0].split(" (default")[0]
            first = first.rstrip(".")
            if len(first) > 70:
                first = first[:69].rsplit(" ", 1)[0] + " …"
            lines.append(f"  {option.flag:<28} {first}")
    lines += ["", f"markers (-m): {', '.join(AREAS)}.",
              "", "Every other argument goes to pytest, e.g. -m \"health or dns\", -k latency, "
              "-x, -n 4 (pytest-xdist);",
              "`pytest --help` lists pytest's own options, and these in its groups "
              "\"synthetics ...\"."]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="synthetics", description=__doc__.split("\n")[0])
    sub: Any = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the checks and write reports (extra args go to pytest)",
                         usage="synthetics run [--target URL] [--reports DIR] "
                               "[synthetics or pytest options ...]",
                         description="Run the checks (pytest) and write the reports. Every "
                                     "argument not listed here goes to pytest unchanged.",
                         epilog=run_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("--target", help="the worker to check, by its base URL (default: the "
                     "built-in reference worker)")
    run.add_argument("--reports", default=os.environ.get("SYNTHETICS_REPORTS", "reports"),
                     help="folder for report.html, junit.xml and benchmark.json "
                          "(default ./reports)")
    run.set_defaults(func=_run)
    serve = sub.add_parser("serve", help="serve the reference worker on loopback")
    serve.add_argument("--host", default="127.0.0.1", help="loopback address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8787, help="port (default 8787; 0 = any)")
    serve.add_argument("--faults", default=None, help="comma-separated faults, e.g. slow_health")
    serve.add_argument("--faults-file", default=None,
                       help="file of faults re-read on every request (one per line)")
    serve.set_defaults(func=_serve)
    targets = sub.add_parser("targets", help="print the table of targets (Markdown)")
    targets.set_defaults(func=_targets)
    decidable = sub.add_parser("decidability",
                               help="print how long each error-rate and balance target takes to "
                                    "become decidable over its history window (Markdown)")
    decidable.set_defaults(func=_decidability)
    faults = sub.add_parser("faults", help="list the reference worker's named faults")
    faults.set_defaults(func=_faults)
    add_schedule_parser(sub)
    add_status_page_parser(sub)
    add_heal_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.command != "run" and extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return int(args.func(args, extra) if args.command == "run" else args.func(args))
    except FileNotFoundError as exc:
        print(redact(f"synthetics: {exc}"), file=sys.stderr)
        return EXIT_USAGE


def console_main() -> int:
    """`main` as the `synthetics` command runs it: then the interpreter's exit skips searching
    the whole run's objects for reference cycles (a tenth of a second or more at every exit), as
    the process ends anyway. Every report and the history are written and closed by then;
    `main` itself leaves the collector alone, for callers that carry on."""
    code = main()
    gc.freeze()
    return code


if __name__ == "__main__":
    raise SystemExit(console_main())
