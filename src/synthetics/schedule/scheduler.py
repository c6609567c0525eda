"""The maintenance schedule: the document's table as data, run unattended with `schedule`.

`JOBS` is the table (every 15 minutes, 09:00 and 21:00 daily, Monday 10:00, Friday 16:00,
monthly, quarterly). `Scheduler` registers it with the `schedule` library and runs each job as a
subprocess with its own timeout, in its own thread:

- Times are UTC whatever the machine's zone: each row is registered at its UTC time, and
  whether a job is due is decided here in UTC (`schedule` keeps due times as naive local time,
  in which an hour repeats when the zone leaves summer time). The clock is the wall clock, the
  one `schedule` reads; tests move it with time-machine and pass a `sleeper`.
- A job that crashes or hangs is killed (its whole process group) and recorded; the scheduler
  carries on. A job never overlaps itself: while it runs, its next due time is recorded as
  skipped. Several overdue slots of one job (the machine slept) run it once, recorded late.
- On start, a daily/weekly/monthly/quarterly job whose last due time passed while the scheduler
  was down runs once, late.
- `SingleInstance` (a `synthetics.filelock.FileLock` next to the history) keeps a second copy
  from running.
- `stop()` (SIGTERM in `synthetics schedule`) lets running jobs finish, then returns.
"""

from __future__ import annotations

import datetime as _dt
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import schedule

from synthetics.clock import format_utc
from synthetics.filelock import FileLock
from synthetics.history.store import HistoryStore
from synthetics.runner import run_command
from synthetics.scrub import redact, scrub
from synthetics.worker import BUILTIN_LABEL

__all__ = [
    "EVENING_MARKERS", "JOBS", "JobResult", "JobSpec", "Scheduler", "SingleInstance", "find_job",
    "previous_due", "run_subprocess",
]

UTC = _dt.timezone.utc
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
QUARTER_MONTHS = (1, 4, 7, 10)


def utc_now() -> _dt.datetime:
    """The scheduler's clock: the wall clock that `schedule` reads too, as aware UTC."""
    return _dt.datetime.now(UTC)


# -- the table -------------------------------------------------------------------------------
@dataclass(frozen=True)
class JobSpec:
    """One row of the maintenance table: when, what, and how long it may take."""

    name: str
    kind: str  # every | daily | weekly | monthly | quarterly
    at: str  # "HH:MM" UTC ("" for `every`)
    description: str
    command: tuple[str, ...]  # ("pytest", *args) or ("job", name)
    timeout: float
    every_minutes: int = 0
    weekday: str = ""

    @property
    def when(self) -> str:
        if self.kind == "every":
            return f"every {self.every_minutes} minutes"
        if self.kind == "weekly":
            return f"{self.weekday.capitalize()} {self.at} UTC"
        if self.kind == "monthly":
            return f"monthly, the 1st at {self.at} UTC"
        if self.kind == "quarterly":
            return f"quarterly, 1 Jan/Apr/Jul/Oct at {self.at} UTC"
        return f"daily {self.at} UTC"

    @property
    def interval(self) -> float:
        """Seconds between intended runs (for coverage)."""
        return {"every": self.every_minutes * 60.0, "daily": 86_400.0, "weekly": 604_800.0,
                "monthly": 30.44 * 86_400, "quarterly": 91.31 * 86_400}[self.kind]


#: The evening review's checks: the review area without the weekly and monthly reviews' checks
#: (synthetics.schedule.review.JOB_MARKERS), which their own jobs run.
EVENING_MARKERS = "review and not (security_audit or optimisation_review or performance_analysis)"

JOBS: tuple[JobSpec, ...] = (
    JobSpec("health", "every", "", "auto health check (with redeploy when enabled)",
            ("pytest", "-m", "health"), 300, every_minutes=15),
    JobSpec("morning", "daily", "09:00", "morning checks: health, orchestration, DNS, dashboard",
            ("pytest", "-m", "health or orchestration or dns or dashboard"), 900),
    JobSpec("evening-review", "daily", "21:00",
            "evening review: wrangler whoami, deployments, a bounded tail sample",
            ("pytest", "-m", EVENING_MARKERS, "--review"), 900),
    JobSpec("security-audit", "weekly", "10:00",
            "security audit: CORS headers, DNS checks, and access patterns of real traffic "
            "from a tail sample (unusual DNS domains, paths off the routes; needs Cloudflare "
            "credentials)",
            ("pytest", "-m", "cors or dns or security_audit", "--review"), 1800,
            weekday="monday"),
    JobSpec("config-backup", "weekly", "10:00", "configuration backup into backups/YYYYMMDD/",
            ("job", "backup"), 600, weekday="monday"),
    JobSpec("optimisation-review", "weekly", "16:00",
            "optimisation review: this week's latency against last week's; with Cloudflare "
            "credentials, CPU time p50/p99 against the plan's limit and last week, and the "
            "compatibility_date's age",
            ("job", "optimisation"), 2700, weekday="friday"),
    JobSpec("performance-analysis", "monthly", "03:00",
            "performance analysis: latency and error rates, this month against the last; with "
            "Cloudflare credentials, invocations, errors and CPU quantiles month over month, "
            "CPU time and the real-traffic error rate",
            ("job", "performance"), 7200),
    JobSpec("dr-drill", "quarterly", "04:00",
            "disaster-recovery drill: the rollback path in dry-run", ("job", "drill"), 14_400),
)


def find_job(name: str, jobs: Sequence[JobSpec] = JOBS) -> JobSpec:
    for job in jobs:
        if job.name == name:
            return job
    raise ValueError(f"no job named {redact(name)!r}; the jobs are: "
                     f"{', '.join(j.name for j in jobs)}")


def previous_due(spec: JobSpec, now: _dt.datetime) -> _dt.datetime | None:
    """The latest due time of a timed job at or before `now` (None for `every` jobs)."""
    if spec.kind == "every":
        return None
    hour, minute = (int(x) for x in spec.at.split(":"))
    at = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if spec.kind == "daily":
        return at if at <= now else at - _dt.timedelta(days=1)
    if spec.kind == "weekly":
        cand = at - _dt.timedelta(days=(now.weekday() - WEEKDAYS.index(spec.weekday)) % 7)
        return cand if cand <= now else cand - _dt.timedelta(days=7)
    month = now.month if spec.kind == "monthly" else QUARTER_MONTHS[(now.month - 1) // 3]
    cand = at.replace(month=month, day=1)
    if cand > now:
        step = 1 if spec.kind == "monthly" else 3
        year, month0 = divmod(cand.year * 12 + cand.month - 1 - step, 12)
        cand = cand.replace(year=year, month=month0 + 1)
    return cand


# -- `schedule`'s due times, in UTC --------------------------------------------------------------
class _Slot:
    """One `schedule` job of a row (an `every` row has one per start in the hour) and, in UTC,
    when it is next due."""

    def __init__(self, spec: JobSpec, job: schedule.Job,
                 on_due: Callable[[_Slot], None]) -> None:
        self.spec = spec
        self.job = job
        job.do(on_due, self)  # `schedule` computes the first due time
        self.reschedule()

    def reschedule(self) -> None:
        """Read the due time `schedule` has just computed.

        `schedule` keeps it as naive local time, which reads two ways in the hour a zone
        repeats when it leaves summer time. The due time is the reading at the row's UTC time
        of day (at its minute, for a row run every hour) that is still ahead."""
        at, naive = self.job.at_time, self.job.next_run
        assert at is not None and naive is not None  # set by .at() and by .do() or .run()
        readings = sorted({naive.replace(fold=fold).astimezone(UTC) for fold in (0, 1)})
        now = utc_now()
        fits = [r for r in readings
                if r.minute == at.minute and (self.job.unit == "hours" or r.hour == at.hour)]
        self.due: _dt.datetime = next((r for r in fits if r > now), fits[-1])


# -- running one job -------------------------------------------------------------------------
@dataclass(frozen=True)
class JobResult:
    """How one job's subprocess ended."""

    exit_code: int | None
    timed_out: bool = False
    output: str = ""
    error: str | None = None

    @property
    def outcome(self) -> str:
        if self.error is not None:
            return f"could not start: {self.error}"
        if self.timed_out:
            return "killed after its timeout"
        if self.exit_code is None:
            return "unknown"
        if self.exit_code < 0:
            return f"crashed (signal {-self.exit_code})"
        if self.exit_code == 0:
            return "passed"
        if self.exit_code == 1:
            return "checks failed (exit 1)"
        return f"error (exit {self.exit_code})"


class Runner(Protocol):
    def __call__(self, argv: Sequence[str], timeout: float,
                 env: dict[str, str] | None = None) -> JobResult: ...


def run_subprocess(argv: Sequence[str], timeout: float,
                   env: dict[str, str] | None = None) -> JobResult:
    """Run argv in its own process group; on timeout stop the whole group (TERM, then KILL after
    5 s). The output's last lines are kept, scrubbed of secrets (`synthetics.runner`)."""
    try:
        done = run_command(argv, timeout=timeout, env=env,
                           stop_signals=(signal.SIGTERM, signal.SIGKILL), grace=5.0)
    except OSError as exc:
        return JobResult(None, error=str(exc))
    return JobResult(done.exit_code, timed_out=done.timed_out, output=_tail(done.stdout))


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


# -- single instance -------------------------------------------------------------------------
class SingleInstance:
    """The scheduler's `FileLock` on `path`, held by its pid; released when the process ends,
    however it ends."""

    def __init__(self, path: str | Path) -> None:
        self.lock = FileLock(path)

    def acquire(self) -> None:
        """Take the lock or raise RuntimeError naming the holder."""
        if not self.lock.acquire(str(os.getpid())):
            raise RuntimeError(f"another scheduler is already running (pid {self.lock.holder()}"
                               f", lock {self.lock.path}); not starting a second one")

    def release(self) -> None:
        self.lock.release()


# -- the scheduler ---------------------------------------------------------------------------
ArgvBuilder = Callable[[JobSpec, int | None], list[str]]


class Scheduler:
    """Runs `jobs` on the wall clock; see the module docstring for the guarantees."""

    def __init__(self, jobs: Sequence[JobSpec], build_argv: ArgvBuilder, *,
                 runner: Runner = run_subprocess,
                 sleeper: Callable[[float], Any] | None = None, store: HistoryStore | None = None,
                 target: str = BUILTIN_LABEL, late_after: float = 60.0,
                 log: Callable[[str], None] = print,
                 housekeeping: Callable[[_dt.datetime], None] | None = None,
                 threaded: bool = True) -> None:
        self.jobs = tuple(jobs)
        self.build_argv = build_argv
        self.runner = runner
        self.store = store
        self.target = target
        self.late_after = late_after
        self.log = log
        self.housekeeping = housekeeping
        self.threaded = threaded
        self._stop = threading.Event()
        self.sleeper = sleeper or self._stop.wait
        self._running: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()
        self._fired_this_tick: set[str] = set()
        self.sched = schedule.Scheduler()
        self._slots: list[_Slot] = []
        for spec in self.jobs:
            self._slots += [_Slot(spec, job, self._on_due) for job in self._schedule_jobs(spec)]

    def _schedule_jobs(self, spec: JobSpec) -> list[schedule.Job]:
        if spec.kind == "every":
            return [self.sched.every().hour.at(f":{m:02d}", "UTC")
                    for m in range(0, 60, spec.every_minutes)]
        if spec.kind == "weekly":
            return [getattr(self.sched.every(), spec.weekday).at(spec.at, "UTC")]
        # daily; monthly/quarterly filter by date
        return [self.sched.every().day.at(spec.at, "UTC")]

    # -- when -----------------------------------------------------------------------------
    def next_runs(self) -> dict[str, _dt.datetime]:
        """Each job's next due time (UTC)."""
        out: dict[str, _dt.datetime] = {}
        for slot in self._slots:
            spec, due = slot.spec, slot.due
            while not self._date_matches(spec, due):
                due += _dt.timedelta(days=1)
            if spec.name not in out or due < out[spec.name]:
                out[spec.name] = due
        return out

    @staticmethod
    def _date_matches(spec: JobSpec, due: _dt.datetime) -> bool:
        if spec.kind == "monthly":
            return due.day == 1
        if spec.kind == "quarterly":
            return due.day == 1 and due.month in QUARTER_MONTHS
        return True

    def _on_due(self, slot: _Slot) -> None:
        spec = slot.spec
        if not self._date_matches(spec, slot.due) or spec.name in self._fired_this_tick:
            return  # not this job's date, or several overdue slots collapsed into one run
        self._fired_this_tick.add(spec.name)
        self.dispatch(spec, slot.due)

    def tick(self) -> float:
        """Run what is due; return seconds until something is next due (at most 60)."""
        self._fired_this_tick = set()
        now = utc_now()
        for slot in sorted((s for s in self._slots if s.due <= now), key=lambda s: s.due):
            slot.job.run()  # type: ignore[no-untyped-call]  # _on_due, then the next due time
            slot.reschedule()
        if not self._slots:
            return 60.0
        idle = (min(s.due for s in self._slots) - utc_now()).total_seconds()
        return max(0.0, min(60.0, idle))

    def catch_up(self) -> None:
        """Run once, late, each timed job whose last due time passed while we were down."""
        if self.store is None:
            return
        now = utc_now()
        for spec in self.jobs:
            prev = previous_due(spec, now)
            last = self.store.last_run(spec.name)
            if prev is None or last is None or now - prev < _dt.timedelta(seconds=1):
                continue
            if last.due < prev.timestamp() - 1:
                self.log(f"{spec.name}: missed its run due {format_utc(prev, 'minute')} while the "
                         "scheduler was down; running it now")
                self.dispatch(spec, prev)

    # -- what -----------------------------------------------------------------------------
    def dispatch(self, spec: JobSpec, due: _dt.datetime) -> None:
        """Start one run of `spec` (due at `due`), unless it is still running."""
        now = utc_now()
        with self._lock:
            running = self._running.get(spec.name)
            busy = running is not None and running.is_alive()
        late = (now - due).total_seconds() > self.late_after
        run_id = None
        if self.store is not None:
            run_id = self.store.start_run(spec.name, self.target, due.timestamp(),
                                          now.timestamp(), late)
        if busy:
            self.log(f"{spec.name}: due {format_utc(due, 'minute')} but the previous run is still "
                     "running; skipped")
            if self.store is not None and run_id is not None:
                self.store.finish_run(run_id, now.timestamp(), "skipped",
                                      "the previous run was still running")
            return
        self.log(f"{spec.name}: starting (due {format_utc(due, 'minute')}"
                 + (f", late by {(now - due).total_seconds():.0f} s" if late else "") + ")")
        thread = threading.Thread(target=self._run_one, args=(spec, run_id),
                                  name=f"job-{spec.name}", daemon=True)
        with self._lock:
            self._running[spec.name] = thread
        if self.threaded:
            thread.start()
        else:
            thread.run()

    def _run_one(self, spec: JobSpec, run_id: int | None) -> None:
        try:
            argv = self.build_argv(spec, run_id)
            result = self.runner(argv, spec.timeout)
        except Exception as exc:  # noqa: BLE001 - a broken job must not stop the scheduler
            result = JobResult(None, error=f"{type(exc).__name__}: {exc}")
        finished = utc_now()
        self.log(f"{spec.name}: {result.outcome}")
        if self.store is not None and run_id is not None:
            detail = scrub(result.output[-2000:])  # a job's output may echo a token
            try:
                self.store.finish_run(run_id, finished.timestamp(), result.outcome, detail)
            except Exception as exc:  # noqa: BLE001
                self.log(f"{spec.name}: could not record the outcome: {exc}")

    # -- the loop -------------------------------------------------------------------------
    def run(self) -> None:
        """Run until `stop()`; then wait for running jobs and return."""
        self.catch_up()
        while not self._stop.is_set():
            idle = self.tick()
            if self.housekeeping is not None:
                try:
                    self.housekeeping(utc_now())
                except Exception as exc:  # noqa: BLE001
                    self.log(f"housekeeping failed: {exc}")
            if self._stop.is_set():
                break
            self.sleeper(max(idle, 0.05))
        self.join()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        """Wait for running jobs to end."""
        with self._lock:
            threads = list(self._running.values())
        for thread in threads:
            if thread.is_alive():
                thread.join(timeout)

    @property
    def running(self) -> list[str]:
        with self._lock:
            return [name for name, t in self._running.items() if t.is_alive()]


def install_stop_signals(scheduler: Scheduler) -> None:
    """SIGTERM and SIGINT stop the scheduler after its running jobs, cleanly."""

    def handler(signum: int, frame: Any) -> None:
        scheduler.log(f"received {signal.Signals(signum).name}: stopping after the running "
                      f"job(s) {', '.join(scheduler.running) or '(none)'}")
        scheduler.stop()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def python_argv(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]
