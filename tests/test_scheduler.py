"""The maintenance scheduler, with the wall clock moved by time-machine: UTC times whatever the
zone (and when the zone changes its clocks), crashing and hanging jobs, no overlap, missed runs
once and late, restart catch-up, SIGTERM, a single instance."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from time_machine import TimeMachineFixture

from synthetics.history.store import SqliteHistory
from synthetics.schedule.scheduler import (
    JOBS,
    JobResult,
    JobSpec,
    Scheduler,
    SingleInstance,
    find_job,
    run_subprocess,
)

UTC = dt.timezone.utc
NEW_YORK = ZoneInfo("America/New_York")


def utc() -> dt.datetime:
    return dt.datetime.now(UTC)


class Recorder:
    """A runner that records (job argv, time) and returns a scripted result."""

    def __init__(self, exit_code: int = 0) -> None:
        self.calls: list[tuple[str, dt.datetime]] = []
        self.result = JobResult(exit_code)

    def __call__(self, argv: Sequence[str], timeout: float,
                 env: dict[str, str] | None = None) -> JobResult:
        self.calls.append((argv[0], utc()))
        return self.result


def build(spec: JobSpec, run_id: int | None) -> list[str]:
    return [spec.name]


def drive(scheduler: Scheduler, time_machine: TimeMachineFixture, until: dt.datetime) -> None:
    """The scheduler's loop, with each sleep a jump of the wall clock."""
    while utc() < until:
        idle = scheduler.tick()
        time_machine.shift(max(idle, 1.0))


def in_new_york(time_machine: TimeMachineFixture, when: dt.datetime) -> None:
    """Stop the wall clock at `when` on a machine whose zone is New York (UTC-4, UTC-5)."""
    time_machine.move_to(when.astimezone(NEW_YORK), tick=False)
    assert time.localtime().tm_gmtoff in (-4 * 3600, -5 * 3600)


def test_every_job_fires_at_its_utc_time_whatever_the_zone(
        time_machine: TimeMachineFixture) -> None:
    in_new_york(time_machine, dt.datetime(2025, 9, 28, 23, 59, 30, tzinfo=UTC))  # Sunday night
    runner = Recorder()
    scheduler = Scheduler(JOBS, build, runner=runner, threaded=False, log=lambda line: None)
    drive(scheduler, time_machine, dt.datetime(2025, 10, 4, 0, 0, tzinfo=UTC))
    fired: dict[str, list[str]] = {}
    for name, when in runner.calls:
        fired.setdefault(name, []).append(when.strftime("%a %m-%d %H:%M"))
    assert len(fired["health"]) == 4 * 24 * 5
    assert {w[-5:] for w in fired["health"]} >= {"00:00", "00:15", "00:30", "00:45"}
    assert all(w[-2:] in ("00", "15", "30", "45") for w in fired["health"])
    assert fired["morning"] == [f"{d} 09:00" for d in
                                ("Mon 09-29", "Tue 09-30", "Wed 10-01", "Thu 10-02", "Fri 10-03")]
    assert [w[-5:] for w in fired["evening-review"]] == ["21:00"] * 5
    assert fired["security-audit"] == ["Mon 09-29 10:00"]
    assert fired["config-backup"] == ["Mon 09-29 10:00"]
    assert fired["optimisation-review"] == ["Fri 10-03 16:00"]
    assert fired["performance-analysis"] == ["Wed 10-01 03:00"]
    assert fired["dr-drill"] == ["Wed 10-01 04:00"]


@pytest.mark.parametrize("day", [dt.date(2025, 11, 2), dt.date(2026, 3, 8)],
                         ids=["back-to-winter-time", "on-to-summer-time"])
def test_each_due_time_fires_once_when_the_zone_changes_its_clocks(
        time_machine: TimeMachineFixture, day: dt.date) -> None:
    """New York's clocks go back (01:00-02:00 local happens twice) or on (02:00-03:00 never
    happens) between 06:00 and 07:00 UTC; a row at 06:30 UTC is in that hour."""
    night = JobSpec("night", "daily", "06:30", "night", ("job", "night"), 60)
    start = dt.datetime.combine(day, dt.time(6, 40), UTC) - dt.timedelta(days=1)
    in_new_york(time_machine, start)
    runner = Recorder()
    scheduler = Scheduler([find_job("health"), night], build, runner=runner, threaded=False,
                          log=lambda line: None)
    drive(scheduler, time_machine, start + dt.timedelta(days=1, hours=1))
    fired = [when for name, when in runner.calls if name == "health"]
    first = start + dt.timedelta(minutes=5)
    assert fired == [first + k * dt.timedelta(minutes=15) for k in range(100)]
    assert [when for name, when in runner.calls if name == "night"] == [
        dt.datetime.combine(day, dt.time(6, 30), UTC)]


def test_next_run_times_are_listed(time_machine: TimeMachineFixture) -> None:
    in_new_york(time_machine, dt.datetime(2025, 9, 2, 17, 1, tzinfo=UTC))
    nexts = Scheduler(JOBS, build, log=lambda line: None).next_runs()
    assert nexts["health"] == dt.datetime(2025, 9, 2, 17, 15, tzinfo=UTC)
    assert nexts["evening-review"] == dt.datetime(2025, 9, 2, 21, 0, tzinfo=UTC)
    assert nexts["security-audit"] == dt.datetime(2025, 9, 8, 10, 0, tzinfo=UTC)
    assert nexts["performance-analysis"] == dt.datetime(2025, 10, 1, 3, 0, tzinfo=UTC)
    assert nexts["dr-drill"] == dt.datetime(2025, 10, 1, 4, 0, tzinfo=UTC)


def _one(name: str, argv: list[str], timeout: float) -> tuple[JobSpec, list[str]]:
    return JobSpec(name, "every", "", name, ("job", name), timeout, every_minutes=15), argv


def test_hanging_and_crashing_jobs_are_killed_recorded_and_the_scheduler_carries_on(
        tmp_path: Path, time_machine: TimeMachineFixture) -> None:
    store = SqliteHistory(tmp_path / "h.sqlite3")
    argvs = {
        "hangs": [sys.executable, "-c", "import time; time.sleep(120)"],
        "crashes": [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), 9)"],
        "fine": [sys.executable, "-c", "print('ok')"],
    }
    specs = [JobSpec(n, "every", "", n, ("job", n), 1.0, every_minutes=15) for n in argvs]
    time_machine.move_to(dt.datetime(2025, 9, 1, 11, 59, 59, tzinfo=UTC), tick=False)
    scheduler = Scheduler(specs, lambda spec, run_id: argvs[spec.name], runner=run_subprocess,
                          store=store, threaded=False, log=lambda line: None)
    time_machine.shift(1)
    scheduler.tick()
    outcomes = {r.job: r.outcome for r in store.runs(0)}
    assert outcomes == {"hangs": "killed after its timeout", "crashes": "crashed (signal 9)",
                        "fine": "passed"}


def test_a_job_never_overlaps_itself(tmp_path: Path, time_machine: TimeMachineFixture) -> None:
    store = SqliteHistory(tmp_path / "h.sqlite3")
    release = threading.Event()
    started: list[str] = []

    def slow(argv: Sequence[str], timeout: float, env: dict[str, str] | None = None) -> JobResult:
        started.append(argv[0])
        release.wait(30)
        return JobResult(0)

    time_machine.move_to(dt.datetime(2025, 9, 1, 12, 0, tzinfo=UTC), tick=False)
    spec = find_job("health")
    scheduler = Scheduler([spec], build, runner=slow, store=store, log=lambda line: None)
    scheduler.dispatch(spec, utc())
    time_machine.shift(900)
    scheduler.dispatch(spec, utc())  # due again while the first is still running
    release.set()
    scheduler.join(30)
    assert started == ["health"]
    assert [r.outcome for r in store.runs(0)] == ["passed", "skipped"]


def test_a_missed_run_runs_once_and_is_recorded_late(
        tmp_path: Path, time_machine: TimeMachineFixture) -> None:
    store = SqliteHistory(tmp_path / "h.sqlite3")
    time_machine.move_to(dt.datetime(2025, 9, 1, 8, 50, tzinfo=UTC), tick=False)
    runner = Recorder()
    jobs = [find_job("health"), find_job("morning")]
    scheduler = Scheduler(jobs, build, runner=runner, store=store, threaded=False,
                          log=lambda line: None)
    time_machine.shift(3 * 3600)  # the machine slept from 08:50 to 11:50
    scheduler.tick()
    assert [name for name, _ in runner.calls] == ["health", "morning"]
    runs = {r.job: r for r in store.runs(0)}
    assert runs["health"].late and runs["morning"].late
    assert dt.datetime.fromtimestamp(runs["morning"].due, UTC).strftime("%H:%M") == "09:00"
    assert dt.datetime.fromtimestamp(runs["health"].due, UTC).strftime("%H:%M") == "09:00"


def test_a_restart_catches_up_a_daily_job_missed_while_down(
        tmp_path: Path, time_machine: TimeMachineFixture) -> None:
    store = SqliteHistory(tmp_path / "h.sqlite3")
    yesterday = dt.datetime(2025, 9, 1, 9, 0, tzinfo=UTC).timestamp()
    store.start_run("morning", "builtin", yesterday, yesterday, False)
    time_machine.move_to(dt.datetime(2025, 9, 2, 11, 0, tzinfo=UTC), tick=False)
    runner = Recorder()
    scheduler = Scheduler([find_job("morning"), find_job("evening-review")], build,
                          runner=runner, store=store, threaded=False, log=lambda line: None)
    scheduler.catch_up()
    assert [name for name, _ in runner.calls] == ["morning"]  # evening never ran: no evidence
    assert store.last_run("morning").late


SIGTERM_SCRIPT = textwrap.dedent("""
    import datetime as dt, sys, time_machine
    from synthetics.history.store import SqliteHistory
    from synthetics.schedule.scheduler import JobSpec, Scheduler, install_stop_signals
    marker, db = sys.argv[1], sys.argv[2]
    # the wall clock runs from a second before a quarter hour; the scheduler sleeps for real
    time_machine.travel(dt.datetime(2025, 9, 1, 11, 59, 59, tzinfo=dt.timezone.utc)).start()
    job = [sys.executable, "-c",
           f"import time, pathlib; pathlib.Path({marker!r} + '.started').touch(); "
           f"time.sleep(2); pathlib.Path({marker!r} + '.done').touch()"]
    spec = JobSpec("slow", "every", "", "slow", ("job", "slow"), 60, every_minutes=15)
    s = Scheduler([spec], lambda spec, run_id: job, store=SqliteHistory(db))
    install_stop_signals(s)
    s.run()
    print("scheduler stopped cleanly", flush=True)
""")


def test_sigterm_stops_after_the_running_job(tmp_path: Path) -> None:
    marker, db = str(tmp_path / "job"), tmp_path / "h.sqlite3"
    proc = subprocess.Popen([sys.executable, "-c", SIGTERM_SCRIPT, marker, str(db)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not Path(marker + ".started").exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert Path(marker + ".done").exists()  # the running job was allowed to finish
    assert "received SIGTERM" in out and "scheduler stopped cleanly" in out
    runs = SqliteHistory(db).runs(0)
    assert [(r.job, r.outcome) for r in runs] == [("slow", "passed")]


def test_a_second_instance_refuses_to_start(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite3"
    lock = SingleInstance(str(db) + ".scheduler.lock")
    lock.acquire()
    try:
        result = subprocess.run([sys.executable, "-m", "synthetics.cli", "schedule",
                                 "--history", str(db)], capture_output=True, text=True,
                                timeout=60)
    finally:
        lock.release()
    assert result.returncode == 1
    assert "another scheduler is already running" in result.stderr
    assert f"pid {os.getpid()}" in result.stderr
    assert "Traceback" not in result.stderr


def test_list_and_run_now_from_the_command_line(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite3"
    listed = subprocess.run([sys.executable, "-m", "synthetics.cli", "schedule", "--list",
                             "--history", str(db)], capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0
    for spec in JOBS:
        assert spec.name in listed.stdout
    assert f"no history at {db} yet" in listed.stdout and not db.exists()  # listing made none
    base = tmp_path / "config"
    base.mkdir()
    (base / "worker.js").write_text("export default {}\n")
    ran = subprocess.run([sys.executable, "-m", "synthetics.cli", "schedule", "--run-now",
                          "config-backup", "--history", str(db), "--backup-base", str(base),
                          "--backup-dir", str(tmp_path / "backups")], capture_output=True,
                         text=True, timeout=120)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "config-backup: passed" in ran.stdout
    assert "  | backup in " in ran.stdout  # the job's own output is shown
    relisted = subprocess.run([sys.executable, "-m", "synthetics.cli", "schedule", "--list",
                               "--history", str(db)], capture_output=True, text=True,
                              timeout=60)
    assert "config-backup: 1/1 intended runs in the last " in relisted.stdout
    assert "since its first recorded run (100%)" in relisted.stdout
    assert len(list((tmp_path / "backups").iterdir())) == 1
    assert SqliteHistory(db).last_run("config-backup").outcome == "passed"
    heading = ("coverage from history, over 7 days (a monthly or quarterly job over its own "
               "interval), counted from each job's first recorded run:")
    assert heading in relisted.stdout
    # the jobs that never ran: not "0/672 ... (0%)"
    assert relisted.stdout.count("no run recorded yet") == len(JOBS) - 1
    bad = subprocess.run([sys.executable, "-m", "synthetics.cli", "schedule", "--run-now",
                          "nope", "--history", str(db)], capture_output=True, text=True,
                         timeout=60)
    assert bad.returncode == 4 and "no job named 'nope'" in bad.stderr


def test_dr_drill_walks_the_rollback_path_in_dry_run() -> None:
    """`schedule --run-now dr-drill` shows, in the terminal, the command lines it would run."""
    ran = subprocess.run([sys.executable, "-m", "synthetics.cli", "schedule", "--run-now",
                          "dr-drill", "--history", "off"], capture_output=True, text=True,
                         timeout=300)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    out = ran.stdout
    assert "  | drill: the command lines it would run:" in out
    assert "  |   wrangler deploy --config wrangler-production-simple.toml --env production" in out
    assert "  |   wrangler rollback --config wrangler-production-simple.toml --env production " \
        "--message" in out
    assert "dr-drill: passed" in out
    assert "127.0.0.1" in out  # a loopback stand-in, never the production worker


def test_job_command_lines_never_carry_the_webhook_url() -> None:
    """`ps` shows command lines to every local user: the webhook reaches jobs by environment."""
    import argparse

    from synthetics.schedule.jobs import build_argv_for
    from synthetics.schedule.scheduler import find_job

    args = argparse.Namespace(history="h.sqlite3", target="http://127.0.0.1:9",
                              alert_webhook="http://127.0.0.1:9/hooks/SECRET-PATH",
                              alert_urls=["ntfy://SECRET-TOPIC"],
                              health_args="", backup_dir="backups", backup_base=".")
    for name in ("health", "morning", "evening-review", "config-backup", "dr-drill"):
        argv = build_argv_for(args)(find_job(name), 1)
        assert not any("SECRET-PATH" in part or "SECRET-TOPIC" in part for part in argv), (
            name, argv)
