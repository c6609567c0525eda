"""The history store and plugin: concurrent writers, a killed writer, pruning, recording a run,
and the error-rate checks judging over the history window."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from synthetics.history.plugin import FLUSH_SECONDS, HistoryWindow, _Recorder, _Session
from synthetics.history.store import (
    CheckRecord,
    SampleRecord,
    SqliteHistory,
    coverage,
    job_coverage,
)
from synthetics.probe import Request, Sample
from synthetics.rates import DNS_FAILURES, FIVE_XX, TIMEOUTS

WRITER = textwrap.dedent("""
    import sys, time
    from synthetics.history.store import SampleRecord, SqliteHistory
    path, name, batches = sys.argv[1], sys.argv[2], int(sys.argv[3])
    store = SqliteHistory(path)
    run = store.start_run(name, "t", time.time(), time.time(), False)
    for b in range(batches):
        store.add_samples(run, [SampleRecord(1000.0 + b * 100 + i, "t", "health", "", "GET",
                                             200, True, None, total=0.01) for i in range(100)])
        print(f"committed {(b + 1) * 100}", flush=True)
""")


def _count(path: Path) -> int:
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return int(db.execute("SELECT count(*) FROM samples").fetchone()[0])
    finally:
        db.close()


def test_concurrent_writers_all_land(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite3"
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(db), f"w{i}", "20"],
                              stdout=subprocess.DEVNULL) for i in range(4)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    assert _count(db) == 4 * 20 * 100
    store = SqliteHistory(db)
    assert len(store.runs(0)) == 4
    assert store.failure_counts("t", "health", 0)["runs"] == 4


def test_a_killed_writer_keeps_what_it_committed(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite3"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(db), "victim", "100000"],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    committed = 0
    for line in proc.stdout:
        committed = int(line.split()[1])
        if committed >= 2000:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    assert _count(db) >= committed  # every reported commit survived; the file is intact
    store = SqliteHistory(db)
    store.add_samples(1, [SampleRecord(1.0, "t", "health", "", "GET", 200, True, None)])
    store.close()  # and it is writable again


def test_prune_removes_only_old_rows(tmp_path: Path) -> None:
    store = SqliteHistory(tmp_path / "h.sqlite3")
    old = store.start_run("health", "t", 100.0, 100.0, False)
    store.finish_run(old, 110.0, "passed")
    new = store.start_run("health", "t", 5000.0, 5000.0, False)
    for run, t0 in ((old, 100.0), (new, 5000.0)):
        store.add_samples(run, [SampleRecord(t0 + i, "t", ep, "", "GET", 200, True, None)
                                for i in range(10) for ep in ("health", "dns")])
        store.add_checks(run, [CheckRecord(t0, "checks/test_health.py::x", "passed")])
    assert store.prune(1000.0) == 20
    assert store.failure_counts("t", "health", 0)["samples"] == 10
    assert [r.id for r in store.runs(0)] == [new]
    assert len(store.checks(0)) == 1


def test_coverage_counts_intended_runs_and_late_ones(tmp_path: Path) -> None:
    store = SqliteHistory(tmp_path / "h.sqlite3")
    for slot in (0, 1, 3):  # slot 2 was dropped; slot 3 ran late
        due = slot * 900.0
        store.start_run("health", "t", due, due + (400 if slot == 3 else 1), slot == 3)
    cov = coverage(store.runs(0), "health", 900, 0, 3600)
    assert (cov.intended, cov.happened, cov.late) == (4, 3, 1)
    assert cov.describe("1 h") == "health: 3/4 intended runs in the last 1 h (75%), 1 late"


def test_coverage_counts_only_from_the_first_recorded_run(tmp_path: Path) -> None:
    store = SqliteHistory(tmp_path / "h.sqlite3")
    now = 30 * 86_400.0
    week = 7 * 86_400.0
    assert job_coverage(store, "health", 900, week, now) == "health: no run recorded yet"
    for ago in (1800.0, 900.0, 0.0):  # a fresh install: three runs in its first half hour
        store.start_run("health", "t", now - ago, now - ago, False)
    assert job_coverage(store, "health", 900, week, now) == (
        "health: 3/3 intended runs in the last 30 min, since its first recorded run (100%), "
        "0 late")
    store.start_run("morning", "t", now - 10 * 86_400, now - 10 * 86_400, False)
    store.start_run("morning", "t", now - 86_400, now - 86_400, False)
    # recorded since before the window: the whole window counts
    assert job_coverage(store, "morning", 86_400, week, now) == (
        "morning: 1/7 intended runs in the last 7 days (14%), 0 late")


def test_a_checks_run_records_samples_checks_and_the_run(run_checks, tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite3"
    first = run_checks("-m", "error_rate", "--error-samples", "20", "--history", str(db))
    assert first.ret == 0, first.stdout
    assert "recorded" in first.stdout and "as run #1 (adhoc)" in first.stdout
    store = SqliteHistory(db)
    assert store.failure_counts("builtin", "health", 0)["samples"] == 20
    assert len(store.checks(0)) == 9  # the 8 synthetic ones and the opt-in real-traffic one
    assert {c.outcome for c in store.checks(0) if "real_traffic" in c.nodeid} == {"skipped"}
    second = run_checks("-m", "error_rate", "--error-samples", "20", "--history", str(db),
                        "--history-job", "health")
    assert "last 24 h, 40 samples over 2 runs" in second.stdout
    assert "coverage: health: 1/1 intended runs in the last 0 min, since its first recorded " \
        "run (100%)" in second.stdout


def test_history_off_records_nothing(run_checks, tmp_path: Path) -> None:
    run = run_checks("-m", "error_rate", "--error-samples", "10", "--history", "off")
    assert run.ret == 0 and "synthetics history" not in run.stdout
    assert not (tmp_path / ".synthetics").exists()


def test_error_rate_judged_over_the_window_catches_what_one_run_cannot(
        run_checks, tmp_path: Path) -> None:
    """Yesterday-to-now history with 1% 5xx on /health fails the check though this run is clean;
    the other endpoints stay green."""
    db = tmp_path / "h.sqlite3"
    store = SqliteHistory(db)
    now = time.time()
    run = store.start_run("health", "builtin", now - 3600, now - 3600, False)
    store.add_samples(run, [SampleRecord(now - 3600 + i * 0.5, "builtin", "health", "", "GET",
                                         503 if i % 100 == 0 else 200, i % 100 != 0, None)
                            for i in range(5000)])
    store.close()
    result = run_checks("-m", "error_rate", "--error-samples", "20", "--history", str(db))
    assert result.outcomes["test_error_rate_5xx[health]"] == "failed"
    assert "last 24 h, 5020 samples over 2 runs" in result.messages["test_error_rate_5xx[health]"]
    assert result.outcomes["test_error_rate_5xx[orchestrate]"] == "passed"
    assert result.outcomes["test_error_rate_timeouts[health]"] == "passed"
    # without history the same run passes: the current behaviour is kept
    plain = run_checks("-m", "error_rate", "--error-samples", "20", "--history", "off")
    assert plain.outcomes["test_error_rate_5xx[health]"] == "passed"


DAY = 86_400.0
AIPUB, ASOOS = "mcp.aipub.2100.cool", "mcp.asoos.2100.cool"


def _dns_history(path: Path, now: float, age: float, n: int = 2000) -> None:
    """`n` resolves of AIPUB from `age` seconds ago, every tenth a 503 that did not resolve: a
    DNS failure and a 5xx."""
    store = SqliteHistory(path)
    run = store.start_run("heartbeat", "builtin", now - age, now - age, False)
    store.add_samples(run, [SampleRecord(now - age + i * 0.01, "builtin", "dns", AIPUB, "GET",
                                         503 if i % 10 == 0 else 200, i % 10 != 0, None)
                            for i in range(n)])
    store.close()


@pytest.mark.parametrize(("age", "dns_failures"), [(3600, 200), (3 * DAY, 200), (20 * DAY, 0)],
                         ids=["an-hour", "three-days", "twenty-days"])
def test_dns_failures_are_counted_over_the_dns_window_and_5xx_over_the_rate_window(
        tmp_path: Path, age: float, dns_failures: int) -> None:
    """DNS failures 3 days old are outside the 24 h rate window but inside the 14-day DNS
    window; 20 days old (retention keeps 35) they are outside both. The same samples' 5xx and
    timeouts are counted over the 24 h only."""
    now = 1_700_000_000.0
    _dns_history(tmp_path / "h.sqlite3", now, age)
    recorder = _Recorder(str(tmp_path / "h.sqlite3"), "adhoc", None, None, "builtin",
                         clock=lambda: now)
    window = HistoryWindow(recorder, 24, dns_days=14)
    assert (window.hours_for(DNS_FAILURES), window.span(DNS_FAILURES)) == (336, "14 days")
    assert (window.hours_for(FIVE_XX), window.span(FIVE_XX)) == (24, "24 h")
    assert window.hours_for(TIMEOUTS) == 24
    dns = window.counts(DNS_FAILURES, "dns", subject=AIPUB, method="GET")
    assert (dns.failures, dns.total) == (dns_failures, 2000 if dns_failures else 0)
    assert window.counts(DNS_FAILURES, "dns", subject=ASOOS, method="GET").total == 0
    recent = age < DAY
    five_xx = window.counts(FIVE_XX, "dns")
    assert (five_xx.failures, five_xx.total) == ((200, 2000) if recent else (0, 0))
    assert window.counts(TIMEOUTS, "dns").total == (2000 if recent else 0)
    assert recorder.store is not None
    recorder.store.close()


def test_the_dns_failure_check_judges_the_dns_window(run_checks, tmp_path: Path) -> None:
    """End to end: 10% DNS failures of one domain 3 days ago fail its check, naming the 14-day
    window, while the DNS endpoint's 5xx check (24 h) and the other domain's stay green; 20 days
    ago they are outside the window and judged by nobody."""
    now = time.time()
    db = tmp_path / "h.sqlite3"
    _dns_history(db, now, 3 * DAY)
    result = run_checks("-m", "error_rate", "--error-samples", "20", "--history", str(db))
    check = f"test_error_rate_dns_failures[{AIPUB}]"
    assert result.outcomes[check] == "failed", result.stdout
    assert "last 14 days, 2010 samples over 2 runs" in result.messages[check]
    assert result.outcomes[f"test_error_rate_dns_failures[{ASOOS}]"] == "passed"
    assert result.outcomes["test_error_rate_5xx[dns]"] == "passed"
    five_xx, = [line for line in result.stdout.splitlines() if "test_error_rate_5xx[dns]:" in line]
    assert five_xx.endswith("(no earlier samples in the last 24 h of history)")
    old = tmp_path / "old.sqlite3"
    _dns_history(old, now, 20 * DAY)
    kept = run_checks("-m", "error_rate", "--error-samples", "20", "--history", str(old))
    assert kept.outcomes[check] == "passed", kept.stdout
    assert "no earlier samples in the last 14 days of history" in kept.stdout


def test_the_recorder_reads_one_clock_for_the_run_the_window_and_its_batches(
        tmp_path: Path) -> None:
    """The run's start, the history window, the batch interval and the check outcomes all
    follow the recorder's clock (a day in 2023: the wall clock would see an empty window)."""
    now = [1_700_000_000.0]
    db = tmp_path / "h.sqlite3"
    store = SqliteHistory(db)
    earlier = store.start_run("health", "T", now[0] - 3600, now[0] - 3600, False)
    store.add_samples(earlier, [SampleRecord(now[0] - 3600, "T", "health", "", "GET", 503, True,
                                             None),
                                SampleRecord(now[0] - 3 * 86_400, "T", "dns", "d", "GET", 200,
                                             True, None, sector=5)])
    store.close()
    recorder = _Recorder(str(db), "adhoc", None, None, "T", clock=lambda: now[0])
    counts = HistoryWindow(recorder, 24).counts(FIVE_XX, "health")
    assert (counts.samples, counts.failures) == (1, 1)
    assert HistoryWindow(recorder, 24, dns_days=14).sectors().counts == {5: 1}
    assert recorder.store is not None
    run, = recorder.store.runs(now[0], "adhoc")
    assert run.started == run.due == now[0]
    sample = Sample(Request("orchestrate", "/mcp/orchestrate"), now[0], status=200)
    recorder.on_sample(sample)
    assert recorder.recorded_samples == 0  # batched
    now[0] += FLUSH_SECONDS
    recorder.on_sample(sample)
    assert recorder.recorded_samples == 2
    recorder.on_sample(sample)
    now[0] -= 3600  # the clock was set back: the batch is not held for an hour
    recorder.on_sample(sample)
    assert recorder.recorded_samples == 4
    session = _Session(None, recorder, None)  # type: ignore[arg-type]  # no config needed here
    session.pytest_runtest_logreport(pytest.TestReport("t.py::t", ("t.py", 0, "t"), {}, "passed",
                                                       None, "call"))
    assert recorder.checks[-1].t == now[0]
    recorder.store.close()


def _latency_history(path: Path, hours: int = 30) -> tuple[SqliteHistory, list[SampleRecord]]:
    import random

    store = SqliteHistory(path)
    run = store.start_run("adhoc", "T", 0, 0, False)
    rng = random.Random(5)
    records = [SampleRecord(1_000_000 + i * 20.0, "T", "health", "", "GET", 200, True, None,
                            total=rng.lognormvariate(-5, 0.6))
               for i in range(hours * 180)]
    store.add_samples(run, records)
    return store, records


def test_baseline_median_from_the_rollup_is_within_half_a_percent(tmp_path: Path) -> None:
    import statistics

    store, records = _latency_history(tmp_path / "h.sqlite3")
    since, until = 1_000_000 + 1234.5, 1_000_000 + 29 * 3600 - 77
    exact = statistics.median(r.total for r in records if since <= r.t < until)
    median, n = store.median_total("T", "health", since, until)
    assert n == sum(1 for r in records if since <= r.t < until)
    assert median is not None and abs(median / exact - 1) <= 0.005
    # under an hour: read sample by sample, exact
    short = statistics.median(r.total for r in records if 1_000_000 <= r.t < 1_000_600)
    assert store.median_total("T", "health", 1_000_000, 1_000_600) == (short, 30)


def test_prune_drops_the_rollup_too(tmp_path: Path) -> None:
    store, _ = _latency_history(tmp_path / "h.sqlite3")
    store.prune(1_000_000 + 40 * 3600)
    assert store.median_total("T", "health", 0, 2_000_000) == (None, 0)


def test_a_version_1_database_gets_its_rollup_built(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "h.sqlite3"
    store, _ = _latency_history(path)
    before = store.median_total("T", "health", 0, 2_000_000)
    store.close()
    db = sqlite3.connect(path)
    db.execute("DELETE FROM rollup")
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    assert SqliteHistory(path).median_total("T", "health", 0, 2_000_000) == before


def _seed_ages(db: Path, days: tuple[float, ...]) -> None:
    store = SqliteHistory(db)
    now = time.time()
    for age in days:
        t = now - age * 86_400
        run = store.start_run("health", "seeded", t, t, False)
        store.add_samples(run, [SampleRecord(t + i, "seeded", "health", "", "GET", 200, True,
                                             None, total=0.01) for i in range(5)])
        store.finish_run(run, t + 10, "passed")
    store.close()


def _seeded_left(db: Path) -> int:
    return int(SqliteHistory(db).failure_counts("seeded", "health", 0)["samples"])


def test_a_run_prunes_history_older_than_the_retention_in_days(run_checks,
                                                               tmp_path: Path) -> None:
    """Seeded samples 2 and 40 days old: a run keeps 35 days (the default), so only the
    40-day-old ones go; with --history-retention-days 1 the 2-day-old ones go too."""
    db = tmp_path / "h.sqlite3"
    _seed_ages(db, (2.0, 40.0))
    assert _seeded_left(db) == 10
    run = run_checks("-m", "dashboard", "--history", str(db))
    assert run.ret == 0, run.stdout[-3000:]
    assert _seeded_left(db) == 5
    run = run_checks("-m", "dashboard", "--history", str(db), "--history-retention-days", "1")
    assert run.ret == 0, run.stdout[-3000:]
    assert _seeded_left(db) == 0
