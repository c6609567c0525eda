"""`synthetics schedule` and the jobs of the maintenance table that are not plain check runs.

Check jobs run `pytest checks -m MARKERS` in a subprocess, recorded in the history under the
scheduler's run id. The others run `python -m synthetics.schedule.jobs NAME`:

- `backup`: the weekly configuration backup (synthetics.schedule.backup).
- `optimisation`: this week's latency per endpoint against last week's, from history; then,
  with CLOUDFLARE_API_TOKEN and CLOUDFLARE_ACCOUNT_ID set, the review checks marked
  `optimisation_review` (CPU time, compatibility date) in a `pytest --review` subprocess.
- `performance`: the monthly analysis: latency and error counts, this month against the last;
  with the credentials, the worker's invocations, errors and CPU quantiles from Cloudflare's
  GraphQL Analytics, the last 30 days against the 30 before, and the checks marked
  `performance_analysis` (CPU time, the real-traffic error rate).
- `drill`: the quarterly disaster-recovery drill: the rollback path in dry-run.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence

from synthetics.clock import format_utc
from synthetics.expectations import SAMPLED_ENDPOINTS
from synthetics.history.alertmanager import OPTIONS as ALERTMANAGER_OPTIONS
from synthetics.history.alertmanager import sinks_from_environment
from synthetics.history.heartbeat import Heartbeat
from synthetics.history.plugin import OFF, HistorySettings, run_alerts
from synthetics.history.plugin import OPTIONS as HISTORY_OPTIONS
from synthetics.history.store import (
    HistoryStore,
    SqliteHistory,
    history_path_problem,
    job_coverage,
)
from synthetics.reference import ReferenceWorker
from synthetics.runner import run_command
from synthetics.schedule.analytics import (
    API_URL,
    ApiError,
    GraphQL,
    Invocations,
    api_credentials,
)
from synthetics.schedule.backup import DEFAULT_FILES, backup
from synthetics.schedule.review import WORKER_NAME
from synthetics.schedule.scheduler import (
    JOBS,
    JobResult,
    JobSpec,
    Runner,
    Scheduler,
    SingleInstance,
    find_job,
    install_stop_signals,
    python_argv,
    utc_now,
)
from synthetics.scrub import redact, scrub
from synthetics.settings import (
    EXIT_USAGE,
    _Parser,
    add_arguments,
    checks_dir,
    resolve_arguments,
)
from synthetics.settings import OPTIONS as CORE_OPTIONS
from synthetics.worker import Worker

__all__ = ["add_schedule_parser", "main", "schedule_command", "schedule_history"]

DEFAULT_HISTORY = ".synthetics/history.sqlite3"
DAY = 86_400.0
#: --target as the checks take it: recorded in history without a trailing slash.
TARGET = tuple(o for o in CORE_OPTIONS if o.name == "target")
#: The options `synthetics schedule` shares with the pytest plugins: the same flags,
#: environment variables and parsers (each declared once, in its plugin's table).
SCHEDULE_OPTIONS = (
    *TARGET,
    *(o for o in HISTORY_OPTIONS if o.name in ("history", "alert_webhook", "alert_urls")),
    *ALERTMANAGER_OPTIONS,
)


# -- the `synthetics schedule` command -------------------------------------------------------
def add_schedule_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("schedule", help="run the maintenance schedule (UTC) unattended")
    p.add_argument("--list", action="store_true",
                   help="show the table with each job's next run time, and exit")
    p.add_argument("--run-now", metavar="JOB", help="run one job at once, and exit")
    p.add_argument("--lock", default=None,
                   help="single-instance lock file (default: next to the history database)")
    p.add_argument("--backup-dir", default="backups", help="where backups go (default backups)")
    p.add_argument("--backup-base", default=".",
                   help="folder the configuration files are read from (default .)")
    p.add_argument("--health-args", default=os.environ.get("SYNTHETICS_HEALTH_ARGS", ""),
                   help="extra pytest arguments for the 15-minute health job, e.g. --redeploy")
    add_arguments(p, SCHEDULE_OPTIONS)
    p.add_argument("--heartbeat-seconds", type=float,
                   default=os.environ.get("SYNTHETICS_HEARTBEAT_SECONDS", "15"),
                   help="with --target and history: sample /health this often into history, "
                        "so the 'down for more than 1 minute' rule can be judged (default 15; "
                        "0 turns it off)")
    p.set_defaults(func=schedule_command)


def _log(line: str) -> None:
    print(f"{format_utc(time.time(), 'second')} {line}", flush=True)


def build_argv_for(args: argparse.Namespace) -> Callable[[JobSpec, int | None], list[str]]:
    def build(spec: JobSpec, run_id: int | None) -> list[str]:
        history = ["--history", args.history]
        if spec.command[0] == "pytest":
            argv = python_argv("pytest", str(checks_dir()), "-p", "no:cacheprovider", "-q",
                               *spec.command[1:], *history, "--history-job", spec.name)
            if run_id is not None:
                argv += ["--history-run", str(run_id)]
            if args.target:
                argv.append(f"--target={args.target}")
            # The webhook URL reaches jobs through SYNTHETICS_ALERT_WEBHOOK (set in
            # schedule_command), never their command line, which `ps` shows to everyone.
            if spec.name == "health" and args.health_args:
                argv += args.health_args.split()
            return argv
        argv = python_argv("synthetics.schedule.jobs", spec.command[1], *history,
                           "--backup-dir", args.backup_dir, "--backup-base", args.backup_base)
        if args.target:
            argv.append(f"--target={args.target}")
        return argv

    return build


def usage_error(prog: str, message: str) -> int:
    """Print a usage error as one line on stderr (secrets redacted); return its exit code."""
    print(f"{prog}: {redact(' '.join(message.split()))}", file=sys.stderr)
    return EXIT_USAGE


def _history_problem(path: str) -> str | None:
    """Why --history PATH cannot be used, as "--history='PATH': reason", or None."""
    problem = history_path_problem(path)
    return None if problem is None else f"--history={path!r}: {problem}"


def schedule_history(args: argparse.Namespace,
                     environ: dict[str, str] | None = None) -> HistorySettings:
    """The scheduler's history and alert settings, resolved as the history plugin resolves
    them (`synthetics.settings.resolve_arguments`: command line, environment, default), under
    the job name "scheduler". ValueError names a bad value and where it came from."""
    values = resolve_arguments(args, HISTORY_OPTIONS, environ)
    return HistorySettings(**{**values, "history_job": "scheduler"})


def schedule_command(args: argparse.Namespace) -> int:
    prog = "synthetics schedule"
    try:
        args.target = resolve_arguments(args, TARGET)["target"]
        hs = schedule_history(args)
    except ValueError as exc:
        return usage_error(prog, str(exc))
    if hs.alert_webhook:
        os.environ["SYNTHETICS_ALERT_WEBHOOK"] = hs.alert_webhook  # jobs inherit it
    if hs.alert_urls:
        os.environ["SYNTHETICS_ALERT_URLS"] = "\n".join(hs.alert_urls)  # and these
    args.history = hs.history or "off"  # what the jobs are given
    history_on = hs.history is not None
    store = None
    if args.list and history_on and not os.path.exists(args.history):
        history_on = False  # listing creates nothing: no folder, no database
    if history_on:
        try:
            store = SqliteHistory(args.history)
        except ValueError as exc:
            return usage_error(prog, str(exc))
    target = Worker.from_target(args.target).label
    scheduler = Scheduler(JOBS, build_argv_for(args),
                          store=store, target=target, log=_log)
    if args.list:
        return _list(scheduler, store, args.history)
    if args.run_now:
        try:
            spec = find_job(args.run_now)
        except ValueError as exc:
            return usage_error(prog, str(exc))
        scheduler.threaded = False
        outcome: list[str] = []

        def log(line: str) -> None:
            outcome.append(line)
            _log(line)

        scheduler.log = log
        scheduler.runner = _relaying(scheduler.runner)
        scheduler.dispatch(spec, utc_now())
        return 0 if outcome and outcome[-1].endswith(": passed") else 1
    lock = SingleInstance(args.lock or (args.history + ".scheduler.lock" if history_on
                                        else ".synthetics/scheduler.lock"))
    try:
        lock.acquire()
    except RuntimeError as exc:
        print(f"synthetics schedule: {exc}", file=sys.stderr)
        return 1
    heart = None
    if store is not None:
        scheduler.housekeeping = _alert_housekeeping(store, target, hs,
                                                     _alertmanager_url(args))
        if args.target and args.heartbeat_seconds > 0:
            heart = Heartbeat(args.target, store, interval=args.heartbeat_seconds,
                              log=_log).start()
    install_stop_signals(scheduler)
    _log(f"scheduler started (pid {os.getpid()}, target {target}, history "
         f"{args.history if history_on else 'off'}); times are UTC")
    for name, due in sorted(scheduler.next_runs().items(), key=lambda kv: kv[1]):
        _log(f"  next {name}: {format_utc(due, 'minute')}")
    try:
        scheduler.run()
    finally:
        if heart is not None:
            heart.stop()
        lock.release()
    _log("scheduler stopped")
    return 0


def _relaying(runner: Runner) -> Runner:
    """`runner`, also showing the end of the job's output (scrubbed) in the terminal: what a
    `--run-now` user came to see (the drill's command lines, the backup's files...)."""
    def run(argv: Sequence[str], timeout: float, env: dict[str, str] | None = None) -> JobResult:
        result = runner(argv, timeout, env) if env is not None else runner(argv, timeout)
        for line in scrub(result.output).splitlines():
            print(f"  | {line}", flush=True)
        return result

    return run


def _alertmanager_url(args: argparse.Namespace) -> str | None:
    """--alertmanager (or SYNTHETICS_ALERTMANAGER); a bad one is logged and not used: the
    scheduler's other alert sinks still run."""
    try:
        url: str | None = resolve_arguments(args, ALERTMANAGER_OPTIONS)["alertmanager"]
    except ValueError as exc:
        _log(scrub(f"alerts: Alertmanager not used: {exc}"))
        return None
    return url


def _alert_housekeeping(store: HistoryStore, target: str, hs: HistorySettings,
                        alertmanager: str | None) -> Callable[[_dt.datetime], None]:
    last = [0.0]
    extra = sinks_from_environment(alertmanager)

    def tick(now: _dt.datetime) -> None:
        if now.timestamp() - last[0] < 60:
            return
        last[0] = now.timestamp()
        more = {"extra_sinks": extra} if extra else {}
        for line in run_alerts(store, target, now.timestamp(), hs, **more):
            # alert events, sinks that failed, and an evaluation that could not run; not the
            # per-minute notes and "still firing" lines
            if line.startswith(("alert:", "alerts: could not")) or "failed" in line:
                _log(line)

    return tick


def _list(scheduler: Scheduler, store: HistoryStore | None, history: str) -> int:
    nexts = scheduler.next_runs()
    now = utc_now().timestamp()
    print(f"{'job':<22}{'when':<43}{'next run (UTC)':<20}{'timeout':>9}  what")
    for spec in scheduler.jobs:
        print(f"{spec.name:<22}{spec.when:<43}{nexts[spec.name]:%Y-%m-%d %H:%M}    "
              f"{spec.timeout / 60:>6.0f} min  {spec.description}")
    if store is not None:
        print("\ncoverage from history, over 7 days (a monthly or quarterly job over its own "
              "interval), counted from each job's first recorded run:")
        for spec in scheduler.jobs:
            window = max(7 * DAY, spec.interval)
            print("  " + job_coverage(store, spec.name, spec.interval, window, now))
    elif history.lower() not in OFF:
        print(f"\nno history at {history} yet: coverage starts with the first recorded run")
    return 0


# -- non-pytest jobs -------------------------------------------------------------------------
def _latency_table(store: HistoryStore, target: str, now: float,
                   span: float) -> tuple[list[str], bool]:
    lines, regressed = [], False
    for endpoint in SAMPLED_ENDPOINTS:
        this = store.totals(target, endpoint, now - span, now)
        last = store.totals(target, endpoint, now - 2 * span, now - span)
        if not this or not last:
            lines.append(f"{endpoint:<12} not enough history ({len(this)} samples this period, "
                         f"{len(last)} the period before)")
            continue
        a, b = statistics.median(this), statistics.median(last)
        change = a / b - 1 if b else 0.0
        flag = "  REGRESSION (> 20% slower)" if change > 0.2 else ""
        regressed |= bool(flag)
        lines.append(f"{endpoint:<12} median {a * 1000:7.1f} ms over {len(this):>7} samples, "
                     f"before {b * 1000:7.1f} ms over {len(last):>7} ({change:+.0%}){flag}")
    return lines, regressed


def main(argv: Sequence[str] | None = None) -> int:
    parser = _Parser(prog="python -m synthetics.schedule.jobs")
    parser.add_argument("job", choices=("backup", "optimisation", "performance", "drill"))
    parser.add_argument("--history", default=DEFAULT_HISTORY)
    add_arguments(parser, TARGET)
    parser.add_argument("--backup-dir", default="backups")
    parser.add_argument("--backup-base", default=".")
    parser.add_argument("--backup-retention-days", type=float, default=30.0)
    parser.add_argument("--cloudflare-api-url",
                        default=os.environ.get("SYNTHETICS_CLOUDFLARE_API_URL") or None)
    parser.add_argument("--review-worker",
                        default=os.environ.get("SYNTHETICS_REVIEW_WORKER") or None)
    args = parser.parse_args(argv)
    try:
        target = Worker.from_target(resolve_arguments(args, TARGET)["target"]).label
    except ValueError as exc:
        return usage_error(parser.prog, str(exc))
    if args.job == "backup":
        result = backup(DEFAULT_FILES, args.backup_dir, base=args.backup_base,
                        retention_days=args.backup_retention_days)
        print("\n".join(result.lines()))
        return 0 if result.copied else 1
    if args.job == "drill":
        return _drill(args)
    if args.history.lower() in OFF:
        print("history is off: nothing to compare")
        return _cloudflare_review(args)  # Cloudflare's own data needs no history
    problem = _history_problem(args.history)
    if problem is not None:
        return usage_error(parser.prog, problem)
    if not os.path.exists(args.history):  # a read-only report creates nothing
        print(f"no history at {args.history} yet: nothing to compare")
        return _cloudflare_review(args)
    try:
        store = SqliteHistory(args.history)
    except ValueError as exc:
        return usage_error(parser.prog, str(exc))
    span = 7 * DAY if args.job == "optimisation" else 30 * DAY
    title = "this week against last week" if span == 7 * DAY else \
        "the last 30 days against the 30 before"
    print(f"latency ({target}), {title}:")
    now = time.time()  # one reading: the latency table and the error counts cover one span
    lines, regressed = _latency_table(store, target, now, span)
    print("\n".join("  " + line for line in lines))
    if args.job == "performance":
        print("error counts over the last 30 days:")
        for endpoint in SAMPLED_ENDPOINTS:
            c = store.failure_counts(target, endpoint, now - span, now)
            print(f"  {endpoint:<12} {c['samples']} samples over {c['runs']} runs: "
                  f"{c['5xx']} 5xx, {c['timeouts']} timeouts, {c['not_ok']} not ok")
    store.close()
    code = 1 if regressed else 0
    return max(code, _cloudflare_review(args))


# -- the reviews from Cloudflare's own data --------------------------------------------------
REVIEW_MARKERS = {"optimisation": "optimisation_review", "performance": "performance_analysis"}


def _cloudflare_review(args: argparse.Namespace) -> int:
    """With Cloudflare credentials: the monthly invocation report (performance) and the job's
    review checks (`pytest -m MARKER --review`); without, one line saying why not."""
    found = api_credentials(os.environ)
    if isinstance(found, str):
        print(f"Cloudflare review: skipped: {found}")
        return 0
    code = _monthly_invocations(args, *found) if args.job == "performance" else 0
    return max(code, _review_checks(args))


def _monthly_invocations(args: argparse.Namespace, token: str, account: str) -> int:
    worker = args.review_worker or WORKER_NAME
    deadline = float(os.environ.get("SYNTHETICS_REVIEW_TIMEOUT") or 60)
    api = GraphQL(args.cloudflare_api_url or API_URL, token, account, worker, deadline)
    now = _dt.datetime.now(_dt.timezone.utc)
    month = _dt.timedelta(days=30)
    print(f"Cloudflare analytics ({worker}), the last 30 days against the 30 before:")
    try:
        this = api.invocations(now - month, now)
        last = api.invocations(now - 2 * month, now - month)
    except ApiError as exc:
        print(f"  {'skipped' if exc.kind == 'rate_limited' else 'FAILED'}: {exc.reason}")
        return 0 if exc.kind == "rate_limited" else 1

    def row(name: str, a: float | None, b: float | None, fmt: str) -> str:
        if a is None or b is None:
            return f"  {name:<20} {'—' if a is None else format(a, fmt)} (before: " \
                   f"{'—' if b is None else format(b, fmt)})"
        change = f"{a / b - 1:+.0%}" if b else "new"
        return f"  {name:<20} {format(a, fmt):>14} before {format(b, fmt):>14} ({change})"

    def share(inv: Invocations) -> float | None:
        return inv.errors / inv.requests * 100 if inv.requests else None

    print(row("invocations", this.requests, last.requests, ",d"))
    print(row("errors", this.errors, last.errors, ",d"))
    print(row("error share %", share(this), share(last), ".4f"))
    print(row("exceededResources", this.exceeded_resources, last.exceeded_resources, ",d"))
    print(row("CPU p50 ms", this.cpu_p50_ms, last.cpu_p50_ms, ".2f"))
    print(row("CPU p99 ms", this.cpu_p99_ms, last.cpu_p99_ms, ".2f"))
    return 0


def _review_checks(args: argparse.Namespace) -> int:
    argv = python_argv("pytest", str(checks_dir()), "-p", "no:cacheprovider", "-q", "-m",
                       REVIEW_MARKERS[args.job], "--review", "--history", args.history,
                       "--history-job", f"review-{args.job}")
    if args.cloudflare_api_url:
        argv.append(f"--cloudflare-api-url={args.cloudflare_api_url}")
    if args.review_worker:
        argv.append(f"--review-worker={args.review_worker}")
    print(f"Cloudflare review checks: pytest -m {REVIEW_MARKERS[args.job]} --review", flush=True)
    # In this job's process group: the scheduler's timeout stops the checks with the job.
    done = run_command(argv, timeout=None, merge_stderr=False, own_group=False)
    print(done.stdout[-4000:], done.stderr[-2000:], sep="\n", flush=True)
    return 0 if done.exit_code == 0 else 1


def _drill(args: argparse.Namespace) -> int:
    """Exercise the rollback path in dry-run, against a broken stand-in (never production).

    A reference worker with its health degraded is started on loopback, and the health checks
    run against it with the redeploy plugin's --redeploy-dry-run: the failure is confirmed, the
    redeploy and the rollback are walked through and their command lines printed, nothing is
    deployed. The drill passes when that output shows the rollback step.
    """
    with ReferenceWorker("health_degraded") as worker, tempfile.TemporaryDirectory() as state:
        # the control URL must answer: the stand-in's dashboard does (and it stays on loopback)
        argv = python_argv("pytest", str(checks_dir()), "-p", "no:cacheprovider", "-q", "-m",
                           "health", f"--target={worker.url}", "--redeploy-dry-run",
                           f"--control-url={worker.url}/", "--confirm-seconds=3",
                           "--verify-seconds=3", f"--state-dir={state}", "--history", "off")
        print("disaster-recovery drill (dry run, against a broken stand-in at "
              f"{worker.url}): pytest " + " ".join(argv[3:]), flush=True)
        done = run_command(argv, timeout=None, merge_stderr=False, own_group=False)
    print(done.stdout[-4000:], done.stderr[-2000:], sep="\n", flush=True)
    # The command lines last, where a terminal (and the scheduler's output tail) shows them.
    commands = []
    for line in (done.stdout + done.stderr).splitlines():
        _, found, command = line.partition("would run: ")
        if found and command not in commands:
            commands.append(command)
    if commands:
        print("drill: the command lines it would run:", flush=True)
        for command in commands:
            print(f"  {command}", flush=True)
    if not any(c.startswith("wrangler rollback") for c in commands):
        print("drill FAILED: the rollback path was not exercised", flush=True)
        return 1
    print("drill passed: the rollback path ran in dry-run", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

