"""The history plugin (pytest11 entry point `synthetics_history`): record, judge, alert.

On by default: every sample the `probe` fixture takes and every check outcome is written to the
history database (`--history PATH`, default .synthetics/history.sqlite3; `--history off` turns
it off; a given path that cannot be used is a usage error before anything runs). Samples are
committed in batches of at most `FLUSH_EVERY` samples or `FLUSH_SECONDS`, each batch one
transaction, so a killed run keeps every batch it committed. At the end of the
session (in the controller, once) the run is closed, old history pruned, the alert rules
evaluated and their events sent to the sinks, and the terminal summary says what was recorded,
how many of the job's intended runs happened, and what fired.

The `history_window` fixture gives the error-rate checks the counts of a history window so they
can judge a rate over far more samples than one run takes: the 5xx and timeout rates over
`--history-window-hours` (default 24), and the DNS resolution failures (0.01%, ~30,000 answers to
show, a `long_window` kind) over the long DNS window (`--dns-window-days`, default 14), which the
sector-balance check's DNS answers by sector share: an even spread over 200 sectors takes ~72,000
answers to show. `synthetics decidability` says how long the heartbeat takes to fill each.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from synthetics.balance import SectorWindow
from synthetics.history import alerts as alerts_mod
from synthetics.history.alertmanager import sinks_from_config
from synthetics.history.sinks import apprise_sinks, parse_alert_urls
from synthetics.history.store import (
    CheckRecord,
    HistoryStore,
    RateCounts,
    SampleRecord,
    SqliteHistory,
    history_path_problem,
    job_coverage,
    record_from_sample,
)
from synthetics.plugin import SAMPLE_LISTENERS, WORKER, recorded_verdicts
from synthetics.probe import Sample
from synthetics.rates import FailureKind, window_span
from synthetics.schedule.scheduler import JOBS
from synthetics.settings import (
    Option,
    add_options,
    flag,
    positive_float,
    positive_int,
    resolve_values,
)

__all__ = ["DNS_WINDOW_DAYS", "HISTORY", "HistorySettings", "HistoryWindow", "OPTIONS"]

FLUSH_EVERY = 500
FLUSH_SECONDS = 2.0
DEFAULT_PATH = ".synthetics/history.sqlite3"
OFF = ("off", "none", "no", "false", "0")
#: Days of history the DNS resolution failures and the sector balance are judged over: enough for
#: the heartbeat alone to make both decidable for a healthy worker, within the 35 days kept.
DNS_WINDOW_DAYS = 14.0


def _history_path(value: str) -> str | None:
    """A usable history path (checked without creating anything), or None for off."""
    text = value.strip()
    if text.lower() in OFF:
        return None
    if not text:
        raise ValueError("must be a file path, or off")
    problem = history_path_problem(text)
    if problem is not None:
        raise ValueError(f"{problem} (pass a usable path, or --history off)")
    return text


def _due(value: str) -> float:
    text = value.strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("must be epoch seconds or an ISO 8601 time (UTC when no zone)") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


def _name(value: str) -> str:
    text = value.strip()
    if not text or not all(c.isalnum() or c in "-_." for c in text):
        raise ValueError("must be a name of letters, digits, '-', '_' or '.'")
    return text


OPTIONS: tuple[Option, ...] = (
    Option("history", "--history",
           f"SQLite file that keeps every run's samples and check outcomes (default "
           f"{DEFAULT_PATH}); 'off' records nothing.", DEFAULT_PATH, _history_path),
    Option("history_retention_days", "--history-retention-days",
           "Days of history kept; older samples are pruned at the end of each run (default 35).",
           35.0, positive_float),
    Option("history_window_hours", "--history-window-hours",
           "Hours of history the 5xx and timeout checks also judge over (default 24); the DNS "
           "resolution failures and the sector balance have --dns-window-days.", 24.0,
           positive_float),
    Option("dns_window_days", "--dns-window-days",
           f"Days of history the DNS resolution-failure and sector-balance checks also judge "
           f"over, at most --history-retention-days (default {DNS_WINDOW_DAYS:g}, or the "
           f"retention when that is shorter): each takes tens of thousands of DNS answers to "
           f"decide (`synthetics decidability`).", None, positive_float),
    Option("history_job", "--history-job",
           "Name of the scheduled job this run belongs to (set by `synthetics schedule`; "
           "default adhoc).", "adhoc", _name),
    Option("history_due", "--history-due",
           "When this run was due, as epoch seconds or ISO 8601 (default: when it started).",
           None, _due),
    Option("history_run", "--history-run",
           "Id of a run already recorded by the scheduler, to record this session under.",
           None, positive_int),
    Option("alerts", "--alerts",
           "Evaluate the alert rules at the end of the run (default on with history).", True,
           flag),
    Option("alert_log", "--alert-log",
           "JSON-lines file alert events are appended to (default: alerts.jsonl next to the "
           "history file).", None, str),
    Option("alert_webhook", "--alert-webhook",
           "URL alert events are POSTed to as a Slack-compatible JSON body (never logged).",
           None, str),
    Option("alert_reminder_minutes", "--alert-reminder-minutes",
           "Minutes between reminders while an alert keeps firing (default 60).", 60.0,
           positive_float),
    Option("alert_urls", "--alert-url",
           "Apprise URL alert events are also sent to (slack://, pagerduty://, msteams://, "
           "mailto://, json://...); repeat for more; in the environment separated by white "
           "space or commas (never logged).", (), parse_alert_urls, repeat=True),
)


@dataclass(frozen=True)
class HistorySettings:
    """The resolved history and alert settings of one session."""

    history: str | None
    history_retention_days: float
    history_window_hours: float
    history_job: str
    history_due: float | None
    history_run: int | None
    alerts: bool
    alert_log: str | None
    alert_webhook: str | None
    alert_reminder_minutes: float
    alert_urls: tuple[str, ...] = ()
    dns_window_days: float | None = None

    @property
    def dns_days(self) -> float:
        """The DNS window in days: as given, else `DNS_WINDOW_DAYS`, or the retention when that
        is shorter (older answers are pruned)."""
        if self.dns_window_days is not None:
            return self.dns_window_days
        return min(DNS_WINDOW_DAYS, self.history_retention_days)


@dataclass
class _Recorder:
    """Buffers samples and check outcomes; flushes them in transactions.

    Quiet until asked: the database and the run are opened at the first sample, so a session
    that probes nothing (the project's own tests, --collect-only) records and prints nothing.
    Every time it records or asks about (the run, check outcomes, the window, the batches) is
    read from `clock`.
    """

    path: str
    job: str
    due: float | None
    given_run: int | None
    target: str
    clock: Callable[[], float] = time.time  # epoch seconds
    lock: threading.RLock = field(default_factory=threading.RLock)
    store: HistoryStore | None = None
    run_id: int | None = None
    samples: list[SampleRecord] = field(default_factory=list)
    checks: list[CheckRecord] = field(default_factory=list)
    last_flush: float = 0.0  # when the last batch was committed, on `clock`
    recorded_samples: int = 0
    recorded_checks: int = 0
    errors: list[str] = field(default_factory=list)
    broken: bool = False
    #: The health document's `version` this run saw (the first that carried one).
    version: str | None = None

    def __post_init__(self) -> None:
        self.last_flush = self.clock()

    def ensure_open(self) -> bool:
        with self.lock:
            if self.store is not None or self.broken:
                return self.store is not None
            try:
                self.store = SqliteHistory(self.path)
                now = self.clock()
                self.run_id = self.given_run if self.given_run is not None else \
                    self.store.start_run(self.job, self.target,
                                         self.due if self.due is not None else now, now, False)
            except Exception as exc:  # noqa: BLE001 - history must never break the checks
                self.broken = True
                self.errors.append(f"history off for this run: {exc}")
                return False
            return True

    def on_sample(self, sample: Sample) -> None:
        if not self.ensure_open():
            return
        record = record_from_sample(sample, self.target)
        if self.version is None and sample.request.endpoint == "health" and sample.ok:
            try:
                doc = sample.json()
            except ValueError:
                doc = None
            if isinstance(doc, dict) and isinstance(doc.get("version"), str | int | float):
                self.version = str(doc["version"])[:64]
                # Recorded at once, so this run's report (written before the history closes
                # the run) already marks a new version on its trend.
                try:
                    if self.store is not None and self.run_id is not None:
                        self.store.set_run_version(self.run_id, self.version)
                except Exception as exc:  # noqa: BLE001 - history must never break the checks
                    self.errors.append(f"history: could not record the version: {exc}")
        with self.lock:
            self.samples.append(record)
            # a clock set back flushes too rather than holding the batch until it catches up
            due = (len(self.samples) >= FLUSH_EVERY
                   or abs(self.clock() - self.last_flush) >= FLUSH_SECONDS)
        if due:
            self.flush()

    def flush(self) -> None:
        with self.lock:
            if self.store is None or self.run_id is None:
                return
            samples, self.samples = self.samples, []
            checks, self.checks = self.checks, []
            self.last_flush = self.clock()
            try:
                self.store.add_samples(self.run_id, samples)
                self.store.add_checks(self.run_id, checks)
                self.recorded_samples += len(samples)
                self.recorded_checks += len(checks)
            except Exception as exc:  # noqa: BLE001 - a history failure must not fail checks
                self.errors.append(f"history: could not record {len(samples)} samples: {exc}")


HISTORY = pytest.StashKey[_Recorder]()
HSETTINGS = pytest.StashKey[HistorySettings]()
SUMMARY = pytest.StashKey[list[str]]()


class HistoryWindow:
    """What the history windows hold, this run excluded: the rate window (the last `hours`) for
    the 5xx and timeout checks, the DNS window (the last `dns_days`) for the DNS-failure and
    balance checks."""

    def __init__(self, recorder: _Recorder, hours: float,
                 dns_days: float = DNS_WINDOW_DAYS) -> None:
        self.recorder = recorder
        self.hours = hours
        self.dns_days = dns_days

    def hours_for(self, kind: FailureKind) -> float:
        """The window `kind` is judged over, in hours: the DNS window for a `long_window` kind,
        else the rate window."""
        return self.dns_days * 24 if kind.long_window else self.hours

    def span(self, kind: FailureKind) -> str:
        """That window as `kind`'s verdict names it: `24 h`, `14 days`."""
        return window_span(self.hours_for(kind))

    def sectors(self) -> SectorWindow:
        """The DNS answers' sectors over the DNS window, excluding this run, for the sector
        balance; empty when the history cannot be read (the summary says why)."""
        rec = self.recorder
        hours = self.dns_days * 24
        if not rec.ensure_open() or rec.store is None:
            return SectorWindow(hours, {}, 0)
        rec.flush()
        now = rec.clock()
        try:
            counts, runs = rec.store.sector_counts(rec.target, now - hours * 3600, now,
                                                   exclude_run=rec.run_id)
        except Exception as exc:  # noqa: BLE001
            rec.errors.append(f"history: could not read the window: {exc}")
            return SectorWindow(hours, {}, 0)
        return SectorWindow(hours, counts, runs)

    def counts(self, kind: FailureKind, endpoint: str, subject: str | None = None,
               method: str | None = None) -> RateCounts:
        """`kind`'s failures, out of how many, and the samples and runs over its window
        (`hours_for`), excluding this run; all 0 when the history cannot be read (the summary
        says why)."""
        rec = self.recorder
        if not rec.ensure_open() or rec.store is None:
            return RateCounts()
        rec.flush()
        now = rec.clock()
        try:
            return rec.store.rate_counts(kind, rec.target, endpoint,
                                         now - self.hours_for(kind) * 3600,
                                         now, subject=subject, method=method,
                                         exclude_run=rec.run_id)
        except Exception as exc:  # noqa: BLE001
            rec.errors.append(f"history: could not read the window: {exc}")
            return RateCounts()


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser, OPTIONS, "synthetics history",
                "history, alert rules and coverage of the synthetic checks")


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    hs = HistorySettings(**resolve_values(config, OPTIONS))
    if hs.dns_window_days is not None and hs.dns_window_days > hs.history_retention_days:
        raise pytest.UsageError(
            f"the DNS window of {hs.dns_window_days:g} days (--dns-window-days) is "
            f"longer than the {hs.history_retention_days:g} days of history kept "
            f"(--history-retention-days): pass at most {hs.history_retention_days:g}, or keep "
            f"more history")
    config.stash[HSETTINGS] = hs
    config.stash[SUMMARY] = []
    if hs.history is None or WORKER not in config.stash:
        return
    recorder = _Recorder(hs.history, hs.history_job, hs.history_due, hs.history_run,
                         config.stash[WORKER].label)
    config.stash[HISTORY] = recorder
    config.stash.setdefault(SAMPLE_LISTENERS, []).append(recorder.on_sample)
    config.pluginmanager.register(_Session(config, recorder, hs), "synthetics-history-session")


@pytest.fixture(scope="session")
def history_window(pytestconfig: pytest.Config) -> HistoryWindow | None:
    """The history windows the error-rate and balance checks also judge over; None with
    --history off."""
    recorder = pytestconfig.stash.get(HISTORY, None)
    if recorder is None:
        return None
    hs = pytestconfig.stash[HSETTINGS]
    return HistoryWindow(recorder, hs.history_window_hours, hs.dns_days)


class _Session:
    """Per-session hooks: the xdist hand-over, check outcomes, and the end of the run."""

    def __init__(self, config: pytest.Config, recorder: _Recorder, hs: HistorySettings) -> None:
        self.config = config
        self.recorder = recorder
        self.hs = hs

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call" and not (report.failed or report.skipped):
            return
        outcome = "error" if report.failed and report.when != "call" else report.outcome
        verdict: dict[str, Any] = (recorded_verdicts(report.user_properties) or [{}])[-1]
        with self.recorder.lock:
            self.recorder.checks.append(CheckRecord(
                self.recorder.clock(), report.nodeid, outcome, verdict.get("verdict"),
                verdict.get("measured"), verdict.get("threshold"), verdict.get("detail")))

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        rec, hs = self.recorder, self.hs
        lines = self.config.stash[SUMMARY]
        if rec.store is None or rec.run_id is None:
            lines.extend(rec.errors)
            return  # nothing was probed: nothing to record
        rec.flush()
        store = rec.store
        now = rec.clock()
        try:
            store.finish_run(rec.run_id, now, "passed" if exitstatus == 0 else
                             f"exit {int(exitstatus)}", target=rec.target)
            pruned = store.prune(now - hs.history_retention_days * 86_400)
        except Exception as exc:  # noqa: BLE001
            lines.append(f"history: could not close the run: {exc}")
            pruned = 0
        lines.append(f"recorded {rec.recorded_samples} samples and {rec.recorded_checks} check "
                     f"outcomes as run #{rec.run_id} ({hs.history_job}) in {hs.history}"
                     + (f"; pruned {pruned} samples older than "
                        f"{hs.history_retention_days:g} days" if pruned else ""))
        lines.extend(rec.errors)
        lines.extend(_coverage_lines(store, hs.history_job, now))
        if hs.alerts:
            lines.extend(run_alerts(store, rec.target, now, hs,
                                    extra_sinks=sinks_from_config(self.config)))

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        if self.recorder.store is not None:
            self.recorder.store.close()


def _coverage_lines(store: HistoryStore, job: str, now: float) -> list[str]:
    spec = next((j for j in JOBS if j.name == job), None)
    if spec is None:
        n = len(store.runs(now - 86_400, job))
        return [f"coverage: {n} '{job}' run(s) in the last 24 h (not a scheduled job, so there "
                "is no intended count to compare with)"]
    window = max(86_400.0, spec.interval)
    return ["coverage: " + job_coverage(store, job, spec.interval, window, now)]


def run_alerts(store: HistoryStore, target: str, now: float, hs: HistorySettings,
               write: Any = None, extra_sinks: Sequence[Any] = ()) -> list[str]:
    """Evaluate the rules, send the events, and return lines for a summary."""
    config = alerts_mod.AlertConfig(reminder_seconds=hs.alert_reminder_minutes * 60)
    try:
        result = alerts_mod.evaluate(store, target, now, config)
    except Exception as exc:  # noqa: BLE001 - alerting must not break the run
        return [f"alerts: could not evaluate the rules: {exc}"]
    log = hs.alert_log or (str(Path(hs.history or ".").parent / "alerts.jsonl"))
    sinks = [*alerts_mod.default_sinks(log, hs.alert_webhook, write=write), *extra_sinks]
    sinks += apprise_sinks(hs.alert_urls)
    failures = alerts_mod.dispatch(result.events, sinks)
    lines = [f"alert: {e.message}" for e in result.events]
    lines += [f"still firing: {f}" for f in result.firing
              if not any(e.event == "firing" for e in result.events)]
    lines += [f"note: {n}" for n in result.notes]
    lines += failures
    if not result.events and not result.firing:
        lines.append("alerts: no rule firing")
    return lines


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    lines = config.stash.get(SUMMARY, [])
    if not lines:
        return
    terminalreporter.section("synthetics history")
    for line in lines:
        terminalreporter.write_line(line)

