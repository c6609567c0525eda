"""The scheduler's own jobs and plumbing, end to end on loopback.

- The optimisation review and the performance analysis read seeded history: a regression of
  more than 20% fails the job, a smaller change passes, too little history is said plainly, and
  the error counts cover the window only.
- `synthetics schedule --run-now health` runs the health checks against a reference worker,
  passes or fails with it, and records the run and its samples in history.
- The scheduler's alert housekeeping evaluates at most once a minute and logs the alert.
- The webhook sink posts its Slack-compatible body to a real HTTP server; a failing webhook is
  reported without stopping the other sinks; its URL appears in no output.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from time_machine import TimeMachineFixture

from synthetics.history.alerts import JsonLinesSink, TerminalSink, WebhookSink, dispatch, evaluate
from synthetics.history.plugin import HistorySettings
from synthetics.history.store import SampleRecord, SqliteHistory
from synthetics.schedule import jobs
from synthetics.schedule.jobs import _alert_housekeeping, add_schedule_parser, schedule_history
from synthetics.schedule.jobs import main as jobs_main
from synthetics.schedule.scheduler import Scheduler

UTC = dt.timezone.utc
DAY = 86_400.0
TARGET = "http://127.0.0.1:9"
SECRET = "T0SECRET/B0SECRET/xoxb-hook-SECRET-path"


# -- helpers ---------------------------------------------------------------------------------
def seed(store: SqliteHistory, target: str, endpoint: str, start: float, count: int,
         total: float, *, step: float = 60.0, status: int | None = 200, ok: bool = True,
         error_kind: str | None = None) -> None:
    """`count` GET samples of one endpoint, `step` seconds apart from `start`, in one run."""
    run = store.start_run("seed", target, start, start, False)
    store.add_samples(run, [
        SampleRecord(start + i * step, target, endpoint, "", "GET", status, ok, error_kind,
                     total=total if ok else None)
        for i in range(count)])
    store.finish_run(run, start + count * step, "passed")


def seed_weeks(db: Path, now: float, this_week: dict[str, float],
               last_week: dict[str, float], span: float = 7 * DAY) -> None:
    """Median response time (s) per endpoint this period and the period before."""
    store = SqliteHistory(db)
    for endpoint, total in this_week.items():
        seed(store, TARGET, endpoint, now - span / 2, 30, total)
    for endpoint, total in last_week.items():
        seed(store, TARGET, endpoint, now - span * 1.5, 30, total)
    store.close()


def run_job(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = jobs_main(list(argv))
    out = capsys.readouterr()
    return code, out.out + out.err


def line_of(output: str, endpoint: str) -> str:
    return next(line for line in output.splitlines() if line.strip().startswith(endpoint + " "))


# -- the optimisation review and the performance analysis ------------------------------------
def test_optimisation_review_flags_a_regression_of_more_than_20_percent(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "h.sqlite3"
    seed_weeks(db, time.time(), {"health": 0.050, "orchestrate": 0.140, "dns": 0.080},
               {"health": 0.050, "orchestrate": 0.100, "dns": 0.080})
    code, out = run_job(capsys, "optimisation", "--history", str(db), "--target", TARGET)
    assert code == 1, out
    assert "this week against last week" in out
    assert "REGRESSION" in line_of(out, "orchestrate") and "+40%" in line_of(out, "orchestrate")
    assert "REGRESSION" not in line_of(out, "health") + line_of(out, "dns")
    assert "140.0 ms" in line_of(out, "orchestrate") and "100.0 ms" in line_of(out, "orchestrate")


def test_optimisation_review_passes_a_change_within_20_percent(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "h.sqlite3"
    seed_weeks(db, time.time(), {"health": 0.055, "orchestrate": 0.090, "dns": 0.095},
               {"health": 0.050, "orchestrate": 0.100, "dns": 0.080})
    code, out = run_job(capsys, "optimisation", "--history", str(db), "--target", TARGET)
    assert code == 0, out
    assert "REGRESSION" not in out
    assert "+10%" in line_of(out, "health") and "-10%" in line_of(out, "orchestrate")
    assert "+19%" in line_of(out, "dns")


def test_optimisation_review_says_when_history_is_too_short(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "h.sqlite3"
    # this week only (a fresh install), and far slower: no baseline, so no verdict either way
    seed_weeks(db, time.time(), {"health": 0.500, "orchestrate": 0.500}, {})
    code, out = run_job(capsys, "optimisation", "--history", str(db), "--target", TARGET)
    assert code == 0, out
    assert "REGRESSION" not in out
    assert "not enough history (30 samples this period, 0 the period before)" in \
        line_of(out, "health")
    assert "not enough history (0 samples this period, 0 the period before)" in \
        line_of(out, "dns")


def test_optimisation_review_reads_only_its_target(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "h.sqlite3"
    seed_weeks(db, time.time(), {"health": 0.200}, {"health": 0.050})
    code, out = run_job(capsys, "optimisation", "--history", str(db),
                        "--target", "http://127.0.0.1:10")
    assert code == 0 and "not enough history (0 samples" in line_of(out, "health")


def test_analysis_jobs_read_the_target_as_the_checks_record_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The checks record `--target http://host/` as `http://host`; the jobs must read that."""
    db = tmp_path / "h.sqlite3"
    seed_weeks(db, time.time(), {"health": 0.200}, {"health": 0.050})
    code, out = run_job(capsys, "optimisation", "--history", str(db), "--target", TARGET + "/")
    assert code == 1 and "REGRESSION" in line_of(out, "health"), out
    assert f"latency ({TARGET})" in out


@pytest.mark.parametrize("argv, message", [
    (["--target", "not a url"], "must not contain white space"),
    (["--target", "ftp://127.0.0.1"], "must start with http:// or https://"),
    (["--history", "{tmp}"], "is a folder, not a database file"),
])
def test_analysis_jobs_reject_bad_input_in_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
        message: str) -> None:
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]  # a folder is no database
    if "--history" not in argv:
        argv += ["--history", str(tmp_path / "h.sqlite3")]
    code, out = run_job(capsys, "optimisation", *argv)
    assert code == 4
    assert message in out and "Traceback" not in out and len(out.strip().splitlines()) == 1


def test_performance_analysis_compares_months_and_counts_errors_in_the_window(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "h.sqlite3"
    now = time.time()
    seed_weeks(db, now, {"health": 0.130, "orchestrate": 0.100, "dns": 0.080},
               {"health": 0.100, "orchestrate": 0.100, "dns": 0.080}, span=30 * DAY)
    store = SqliteHistory(db)
    recent = now - 3 * DAY
    seed(store, TARGET, "health", recent, 4, 0, status=503, ok=False)
    seed(store, TARGET, "health", recent + 600, 2, 0, status=None, ok=False,
         error_kind="timeout")
    seed(store, TARGET, "orchestrate", recent, 3, 0, status=404, ok=False)
    seed(store, TARGET, "dns", now - 40 * DAY, 9, 0, status=500, ok=False)  # last month's
    store.close()
    code, out = run_job(capsys, "performance", "--history", str(db), "--target", TARGET)
    assert code == 1, out  # health +30%
    assert "the last 30 days against the 30 before" in out
    latency, errors = out.split("error counts over the last 30 days:")
    assert "REGRESSION" in line_of(latency, "health") and "+30%" in line_of(latency, "health")
    assert "REGRESSION" not in line_of(latency, "orchestrate") + line_of(latency, "dns")
    assert line_of(errors, "health").split(None, 1)[1] == \
        "36 samples over 3 runs: 4 5xx, 2 timeouts, 6 not ok"
    assert line_of(errors, "orchestrate").split(None, 1)[1] == \
        "33 samples over 2 runs: 0 5xx, 0 timeouts, 3 not ok"
    assert line_of(errors, "dns").split(None, 1)[1] == \
        "30 samples over 1 runs: 0 5xx, 0 timeouts, 0 not ok"


def test_performance_analysis_without_regression_passes(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "h.sqlite3"
    seed_weeks(db, time.time(), {"health": 0.100}, {"health": 0.100}, span=30 * DAY)
    code, out = run_job(capsys, "performance", "--history", str(db), "--target", TARGET)
    assert code == 0, out
    assert "+0%" in line_of(out, "health") and "REGRESSION" not in out
    assert "not enough history" in line_of(out.split("error counts")[0], "orchestrate")


def test_analysis_jobs_from_the_command_line(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite3"
    seed_weeks(db, time.time(), {"dns": 0.300}, {"dns": 0.100})
    ran = subprocess.run([sys.executable, "-m", "synthetics.schedule.jobs", "optimisation",
                          "--history",
                          str(db), "--target", TARGET], capture_output=True, text=True,
                         timeout=60)
    assert ran.returncode == 1 and "REGRESSION" in ran.stdout, ran.stdout + ran.stderr


# -- `synthetics schedule --run-now` with a checks job ---------------------------------------
class Webhook:
    """A webhook receiver on loopback: records each POST; answers `status`."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.received: list[tuple[str, dict[str, object]]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                owner.received.append((self.path, json.loads(body)))
                self.send_response(owner.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/{SECRET}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


@pytest.fixture
def webhook() -> Iterator[Callable[..., Webhook]]:
    started: list[Webhook] = []

    def start(status: int = 200) -> Webhook:
        started.append(Webhook(status))
        return started[-1]

    yield start
    for hook in started:
        hook.close()


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/hooks/{SECRET}"


def schedule(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "synthetics.cli", "schedule", *args],
                          capture_output=True, text=True, timeout=120)


def test_run_now_health_passes_against_a_healthy_worker_and_is_recorded(
        tmp_path: Path, reference_worker) -> None:
    worker = reference_worker()
    db = tmp_path / "h.sqlite3"
    ran = schedule("--run-now", "health", "--target", worker.url, "--history", str(db))
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "health: starting" in ran.stdout and "health: passed" in ran.stdout
    store = SqliteHistory(db)
    run = store.last_run("health")
    assert run is not None and run.outcome == "passed" and run.target == worker.url
    assert run.finished is not None and run.finished >= run.started
    samples = store.samples(worker.url, "health", run.started - 1)
    assert samples and all(s.ok for s in samples)
    checks = [c for c in store.checks(run.started - 1) if "test_health" in c.nodeid]
    assert checks and {c.outcome for c in checks} == {"passed"}
    store.close()


def test_run_now_health_fails_against_a_degraded_worker_and_alerts_without_leaking(
        tmp_path: Path, reference_worker, webhook) -> None:
    worker = reference_worker("health_degraded")
    hook = webhook()
    db = tmp_path / "h.sqlite3"
    # /health has been down for two minutes before this run: the Critical rule is due to fire
    store = SqliteHistory(db)
    now = time.time()
    seed(store, worker.url, "health", now - 130, 25, 0, step=5, ok=False)
    store.close()
    ran = schedule("--run-now", "health", "--target", worker.url, "--history", str(db),
                   "--alert-webhook", hook.url)
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert "health: checks failed (exit 1)" in ran.stdout
    store = SqliteHistory(db)
    run = store.last_run("health")
    assert run is not None and run.outcome == "checks failed (exit 1)"
    samples = [s for s in store.samples(worker.url, "health", run.started - 1)]
    assert samples and not any(s.ok for s in samples)
    failed = [c for c in store.checks(run.started - 1) if c.outcome == "failed"]
    assert any("test_health_reports_healthy" in c.nodeid for c in failed)
    # the job's own alert evaluation reached the webhook, and the URL is nowhere
    assert [body["alert"]["rule"] for _, body in hook.received] == ["health_down"]  # type: ignore[index]
    assert hook.received[0][0] == f"/hooks/{SECRET}"
    assert "SECRET" not in ran.stdout + ran.stderr + (run.detail or "")
    assert "SECRET" not in (tmp_path / "alerts.jsonl").read_text()
    store.close()


def test_schedule_normalises_and_checks_its_target(tmp_path: Path) -> None:
    db, base = tmp_path / "h.sqlite3", tmp_path / "config"
    base.mkdir()
    (base / "worker.js").write_text("export default {}\n")
    ran = schedule("--run-now", "config-backup", "--target", TARGET + "/", "--history", str(db),
                   "--backup-base", str(base), "--backup-dir", str(tmp_path / "backups"))
    assert ran.returncode == 0, ran.stdout + ran.stderr
    run = SqliteHistory(db).last_run("config-backup")
    assert run is not None and run.target == TARGET  # as the checks and the jobs record it
    bad = schedule("--list", "--target", "127.0.0.1:8787", "--history", str(db))
    assert bad.returncode == 4 and "must start with http:// or https://" in bad.stderr
    assert "Traceback" not in bad.stderr


# -- the scheduler's once-a-minute alert evaluation ------------------------------------------
def housekeeping_args(db: Path, webhook_url: str | None = None) -> HistorySettings:
    """The scheduler's history settings for `--history DB [--alert-webhook URL]`."""
    return schedule_history(argparse.Namespace(synthetics_history=str(db),
                                               synthetics_alert_webhook=webhook_url), {})


def down_history(db: Path, start: float, seconds: float) -> SqliteHistory:
    store = SqliteHistory(db)
    seed(store, TARGET, "health", start, int(seconds // 5), 0, step=5, ok=False)
    return store


@pytest.fixture
def evaluations(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The times the rules were evaluated at (the real evaluation runs)."""
    seen: list[float] = []
    real = jobs.run_alerts

    def counting(store, target, now, hs, write=None):  # type: ignore[no-untyped-def]
        seen.append(now)
        return real(store, target, now, hs, write)

    monkeypatch.setattr(jobs, "run_alerts", counting)  # the name the scheduler calls
    return seen


def test_the_schedulers_history_settings_resolve_as_the_history_plugins(tmp_path: Path) -> None:
    """Command line, then environment, then the plugin's defaults; the same names and errors."""
    db = str(tmp_path / "h.sqlite3")
    hs = schedule_history(argparse.Namespace(synthetics_history=db), {})
    assert hs == HistorySettings(db, 35.0, 24.0, "scheduler", None, None, True, None, None, 60.0,
                                 ())
    parser = argparse.ArgumentParser()
    add_schedule_parser(parser.add_subparsers())
    args = parser.parse_args(["schedule", "--alert-url", "json://127.0.0.1/a",
                              "--alert-url", "json://127.0.0.1/b"])
    hs = schedule_history(args, {"SYNTHETICS_HISTORY": db, "SYNTHETICS_ALERT_REMINDER_MINUTES": "5",
                                 "SYNTHETICS_ALERT_URLS": "json://127.0.0.1/env",
                                 "SYNTHETICS_ALERT_WEBHOOK": "http://127.0.0.1:9/hook"})
    assert (hs.history, hs.alert_reminder_minutes, hs.alert_webhook, hs.alert_urls) == (
        db, 5.0, "http://127.0.0.1:9/hook", ("json://127.0.0.1/a", "json://127.0.0.1/b"))
    assert schedule_history(argparse.Namespace(), {"SYNTHETICS_HISTORY": "off"}).history is None
    with pytest.raises(ValueError, match="^SYNTHETICS_ALERT_REMINDER_MINUTES='0': must be"):
        schedule_history(argparse.Namespace(), {"SYNTHETICS_ALERT_REMINDER_MINUTES": "0"})
    with pytest.raises(ValueError, match="^--history=.*is a folder, not a database file"):
        schedule_history(argparse.Namespace(synthetics_history=str(tmp_path)), {})


def test_housekeeping_evaluates_at_most_once_a_minute_and_logs_the_alert(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], evaluations: list[float],
        time_machine: TimeMachineFixture) -> None:
    time_machine.move_to(dt.datetime(2025, 9, 5, 12, 0, 10, tzinfo=UTC), tick=False)
    db = tmp_path / "h.sqlite3"
    store = down_history(db, time.time() - 120, 120)  # down for the last 2 minutes
    ticks = 0

    def sleeper(seconds: float) -> None:
        nonlocal ticks
        ticks += 1
        time_machine.shift(20)  # the loop wakes every 20 s
        if ticks == 9:
            scheduler.stop()

    scheduler = Scheduler([], lambda spec, run_id: [], sleeper=sleeper,
                          store=store, target=TARGET, log=lambda line: None,
                          housekeeping=_alert_housekeeping(store, TARGET,
                                                           housekeeping_args(db), None))
    scheduler.run()  # housekeeping at +0, +20, ..., +160 s
    t0 = dt.datetime(2025, 9, 5, 12, 0, 10, tzinfo=UTC).timestamp()
    assert [t - t0 for t in evaluations] == [0, 60, 120]
    out = capsys.readouterr().out.splitlines()
    alerts = [line for line in out if "alert: CRITICAL health_down" in line]
    assert len(alerts) == 1, out  # fired once; no repeat while firing
    assert f"[{TARGET} health]" in alerts[0] and alerts[0].endswith(
        "since 2025-09-05 11:58:10 UTC")
    logged = [json.loads(line) for line in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    assert [(e["rule"], e["event"]) for e in logged] == [("health_down", "firing")]
    store.close()


def test_housekeeping_logs_nothing_while_healthy(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], evaluations: list[float]) -> None:
    db = tmp_path / "h.sqlite3"
    now = dt.datetime(2025, 9, 5, 12, 0, tzinfo=UTC)
    store = SqliteHistory(db)
    seed(store, TARGET, "health", now.timestamp() - 120, 24, 0.05, step=5)
    tick = _alert_housekeeping(store, TARGET, housekeeping_args(db), None)
    tick(now)
    tick(now + dt.timedelta(seconds=59))
    assert len(evaluations) == 1
    assert capsys.readouterr().out == ""
    assert not (tmp_path / "alerts.jsonl").exists()
    store.close()


def test_housekeeping_reports_an_evaluation_that_fails(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "h.sqlite3"
    store = SqliteHistory(db)
    tick = _alert_housekeeping(store, TARGET, housekeeping_args(db), None)
    store.close()  # the store is gone: the rules cannot be evaluated
    tick(dt.datetime(2025, 9, 5, 12, 0, tzinfo=UTC))
    out = capsys.readouterr().out
    assert "alerts: could not evaluate the rules" in out


def test_housekeeping_posts_to_the_webhook_and_reports_a_failing_one_without_its_url(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], webhook) -> None:
    now = dt.datetime(2025, 9, 5, 12, 0, tzinfo=UTC)
    for hook_url, expect_failure in ((webhook(500).url, "answered HTTP 500"),
                                     (closed_port_url(), "refused"),
                                     (webhook(200).url, None)):
        db = tmp_path / f"{expect_failure or 'ok'}.sqlite3".replace(" ", "")
        store = down_history(db, now.timestamp() - 120, 120)
        alert_log = tmp_path / "alerts.jsonl"
        alert_log.unlink(missing_ok=True)
        _alert_housekeeping(store, TARGET, housekeeping_args(db, hook_url), None)(now)
        out = capsys.readouterr().out
        assert "alert: CRITICAL health_down" in out  # the terminal sink still spoke
        assert json.loads(alert_log.read_text())["rule"] == "health_down"  # so did the log
        failures = [line for line in out.splitlines() if "alert sink webhook failed" in line]
        if expect_failure:
            assert len(failures) == 1 and expect_failure in failures[0], out
        else:
            assert failures == []
        assert "SECRET" not in out
        store.close()


# -- the webhook sink against a real HTTP server ---------------------------------------------
def firing_event(tmp_path: Path):  # type: ignore[no-untyped-def]
    now = 1_757_073_600.0
    store = down_history(tmp_path / "events.sqlite3", now - 120, 120)
    events = evaluate(store, TARGET, now).events
    store.close()
    assert [e.event for e in events] == ["firing"]
    return events


def test_webhook_sink_posts_a_slack_compatible_body(tmp_path: Path, webhook) -> None:
    hook = webhook()
    events = firing_event(tmp_path)
    assert dispatch(events, [WebhookSink(hook.url)]) == []
    (path, body), = hook.received
    assert path == f"/hooks/{SECRET}"
    assert body["text"] == events[0].message and body["text"].startswith("CRITICAL health_down")
    attachment, = body["attachments"]  # type: ignore[misc]
    assert attachment["color"] == "#d00000" and attachment["fallback"] == body["text"]
    assert {f["title"]: f["value"] for f in attachment["fields"]} == {
        "rule": "health_down", "state": "firing", "target": f"{TARGET} health"}
    assert body["alert"]["rule"] == "health_down"  # type: ignore[index]


@pytest.mark.parametrize("failure", ["500", "closed"])
def test_a_failing_webhook_is_reported_and_the_other_sinks_still_run(
        tmp_path: Path, webhook, failure: str) -> None:
    url = webhook(500).url if failure == "500" else closed_port_url()
    events = firing_event(tmp_path)
    terminal, log = TerminalSink(), tmp_path / "alerts.jsonl"
    failures = dispatch(events, [WebhookSink(url, timeout=5), JsonLinesSink(log), terminal])
    assert len(failures) == 1 and failures[0].startswith("alert sink webhook failed")
    assert ("answered HTTP 500" if failure == "500" else "refused") in failures[0]
    assert "SECRET" not in failures[0] and "127.0.0.1" not in failures[0]
    assert terminal.lines == [events[0].message]
    assert json.loads(log.read_text())["event"] == "firing"


@pytest.mark.parametrize("suffix", [" copied-with-a-space", "\tand-a-tab", "?token=SECRET2 x"])
def test_a_malformed_webhook_url_is_reported_without_any_of_it(
        tmp_path: Path, webhook, suffix: str) -> None:
    """http.client quotes a bad URL's path in its error: that path is the secret."""
    url = webhook().url + suffix
    failures = dispatch(firing_event(tmp_path), [WebhookSink(url, timeout=5)])
    assert len(failures) == 1 and failures[0].startswith("alert sink webhook failed"), failures
    assert "SECRET" not in failures[0] and "xoxb" not in failures[0], failures[0]


def test_a_failing_webhook_says_how_many_events_it_missed(tmp_path: Path, webhook) -> None:
    hook = webhook(500)
    first = firing_event(tmp_path)[0]
    second = dataclasses.replace(first, rule="slow_responses", severity="warning")
    terminal = TerminalSink()
    failures = dispatch([first, second], [WebhookSink(hook.url, timeout=5), terminal])
    assert len(hook.received) == 1  # not hammered once it failed
    assert failures == [failures[0]] and "1 more event(s) not sent to it" in failures[0]
    assert terminal.lines == [first.message, second.message]
