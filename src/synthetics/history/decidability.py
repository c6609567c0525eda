"""How long each error-rate target and the sector balance take to become decidable for a healthy
worker, from the settings, the schedule and the heartbeat (`synthetics decidability`).

A target is decidable once the history window plus the judging run hold enough samples for a
healthy worker to pass: for a rate, the count at which a failure-free sample shows the rate
below its threshold at --pass-confidence; for the balance, the count at which an evenly spreading
worker passes with `PASS_PROBABILITY` at the window's alpha. Those checks run only in a default
`synthetics run` (a pre-deploy gate, CI); between such runs the history fills from the heartbeat
(one sample of each of its requests per beat: each endpoint, and the DNS endpoint for each MCP
domain) and the 15-minute job (one sample per check of its areas). The 5xx and timeout rates are
judged over --history-window-hours, the DNS resolution failures and the balance over the longer
--dns-window-days (each needs tens of thousands of answers; `FailureKind.long_window`). The table
says how many of each it takes; a target needing more than its window holds is marked, with the
window that would do.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from synthetics.balance import BALANCE_ALPHA, asks_for_sector
from synthetics.expectations import (
    AREAS,
    ENDPOINTS,
    EXPECTATIONS,
    MCP_DOMAINS,
    REAL_TRAFFIC_CHECKS,
    Expectation,
    dns_endpoint,
)
from synthetics.history.heartbeat import BEAT, INTERVAL
from synthetics.history.plugin import DNS_WINDOW_DAYS
from synthetics.history.plugin import OPTIONS as HISTORY_OPTIONS
from synthetics.plugin import sampled_requests
from synthetics.probe import Request
from synthetics.schedule.scheduler import JobSpec, find_job
from synthetics.settings import OPTIONS as CHECK_OPTIONS
from synthetics.settings import Option, Settings
from synthetics.stats import samples_to_show_balanced, samples_to_show_holds

__all__ = ["PASS_PROBABILITY", "Decidability", "decidability", "markdown_table"]

#: The balance row's "decidable": an evenly spreading worker passes with at least this chance.
PASS_PROBABILITY = 0.99
BALANCE_CHECK = "test_capacity_sector_balance"
#: The scheduled job that runs every 15 minutes.
FREQUENT_JOB = "health"
#: The options that set the 5xx and timeout rates' window (in hours) and the DNS window (in days)
#: of the DNS failures and the balance.
RATE_WINDOW = next(o for o in HISTORY_OPTIONS if o.name == "history_window_hours")
DNS_WINDOW = next(o for o in HISTORY_OPTIONS if o.name == "dns_window_days")


@dataclass(frozen=True)
class Decidability:
    """One target: the samples that decide it, where they come from, and how long that takes."""

    expectation: Expectation
    needed: int  # samples at which a healthy worker passes
    per_run: int  # samples one default run's error-rate pass takes
    per_beat: int  # samples one heartbeat beat takes
    per_job_run: int  # samples one run of the 15-minute job takes
    hours: float | None  # of heartbeat and 15-minute job before a default run decides; None: never
    window_hours: float
    window_option: Option  # the option that sets the window: RATE_WINDOW or DNS_WINDOW
    beat_seconds: float
    job: JobSpec

    @property
    def _in_days(self) -> bool:
        """Whether the window's option counts days (its name says its unit)."""
        return self.window_option.name.endswith("_days")

    @property
    def window(self) -> str:
        """The window's length in its option's unit: `24 h`, `14 days`."""
        return f"{self.window_hours / 24:g} days" if self._in_days else f"{self.window_hours:g} h"

    @property
    def _the_window(self) -> str:
        """`the 24 h window`, `the 14-day window`."""
        if self._in_days:
            return f"the {self.window_hours / 24:g}-day window"
        return f"the {self.window} window"

    @property
    def beats(self) -> int:
        return 0 if not self.hours else math.ceil(self.hours * 3600 / self.beat_seconds)

    @property
    def job_runs(self) -> int:
        return 0 if not self.hours else math.ceil(self.hours * 3600 / self.job.interval)

    def describe(self) -> str:
        """When a default run decides, for a person."""
        if self.hours == 0:
            return "in one default run"
        if self.hours is None:
            return (f"only default runs sample it: {math.ceil(self.needed / self.per_run):,} of "
                    f"them within {self._the_window}")
        when = (f"a default run after {_span(self.hours)} ({self.beats:,} beats, "
                f"{self.job_runs:,} runs of the {self.job.every_minutes}-minute job)")
        if self.hours <= self.window_hours:
            return when
        wider = math.ceil(self.hours / 24 if self._in_days else self.hours)
        return f"never within {self._the_window}: {when} with {self.window_option.flag} {wider}"


def _span(hours: float) -> str:
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} days"


def _counter(expectation: Expectation) -> Callable[[Request], bool]:
    """Which requests' samples a row's verdict counts (as the checks select them)."""
    if expectation.check == BALANCE_CHECK:
        return asks_for_sector
    if expectation.check == "test_error_rate_dns_failures":
        return lambda r: (r.endpoint, r.subject, r.method) == ("dns", expectation.subject, "GET")
    return lambda r: r.endpoint == expectation.subject


def _job_requests(job: JobSpec) -> list[Request]:
    """One request per check of the job's areas (`-m a or b`), of the check's subject (an
    endpoint, or the DNS endpoint for a domain)."""
    expression = job.command[job.command.index("-m") + 1]
    words = expression.split(" or ")
    if not set(words) <= set(AREAS):
        raise ValueError(f"job {job.name}: only a marker expression 'a or b' of areas is "
                         f"counted, not {expression!r}")
    return [(ENDPOINTS[t.subject] if t.subject in ENDPOINTS else dns_endpoint(t.subject)).request()
            for t in EXPECTATIONS
            if t.area in words and (t.subject in ENDPOINTS or t.subject in MCP_DOMAINS)]


def decidability(settings: Settings, window_hours: float, beat_seconds: float = INTERVAL,
                 job: JobSpec | None = None, beat: Sequence[Request] = BEAT,
                 probability: float = PASS_PROBABILITY, *,
                 dns_window_days: float = DNS_WINDOW_DAYS) -> list[Decidability]:
    """One row per synthetic error-rate target and the balance target: the 5xx and timeout rates
    over `window_hours`, the DNS failures (a `long_window` kind) and the balance over
    `dns_window_days`."""
    job = job or find_job(FREQUENT_JOB)
    run = sampled_requests(settings.error_samples)
    job_requests = _job_requests(job)
    rows = []
    for t in EXPECTATIONS:
        if t.check == BALANCE_CHECK:
            needed = samples_to_show_balanced(settings.sectors, t.threshold or 0,
                                              BALANCE_ALPHA / 2, probability)
        elif t.area == "error_rate" and t.check not in REAL_TRAFFIC_CHECKS:
            needed = samples_to_show_holds(0, 0, t.threshold or 0,
                                           1 - settings.pass_confidence)
        else:
            continue
        counts = _counter(t)
        per_run = sum(map(counts, run))
        per_beat = sum(map(counts, beat))
        per_job = sum(map(counts, job_requests))
        per_hour = per_beat * 3600 / beat_seconds + per_job * 3600 / job.interval
        hours = (0.0 if needed <= per_run else
                 None if per_hour == 0 else (needed - per_run) / per_hour)
        long = t.check == BALANCE_CHECK or (t.failure is not None and t.failure.long_window)
        rows.append(Decidability(t, needed, per_run, per_beat, per_job, hours,
                                 dns_window_days * 24 if long else window_hours,
                                 DNS_WINDOW if long else RATE_WINDOW, beat_seconds, job))
    return rows


def default_rows() -> list[Decidability]:
    """`decidability` at the default settings, windows, heartbeat and schedule."""
    settings = Settings(**{o.name: o.default for o in CHECK_OPTIONS})
    return decidability(settings, float(RATE_WINDOW.default),
                        dns_window_days=DNS_WINDOW_DAYS)


def markdown_table(rows: Sequence[Decidability] | None = None) -> str:
    """The README's table of how long each target takes to become decidable."""
    rows = default_rows() if rows is None else rows
    beat = rows[0].beat_seconds if rows else INTERVAL
    minutes = rows[0].job.every_minutes if rows else 15
    lines = [
        f"| target | subject | samples to decide | one default run | per heartbeat beat "
        f"(every {beat:g} s) | per {minutes}-minute job run | history window | "
        f"decidable for a healthy worker |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r.expectation.statement} | `{r.expectation.subject}` | {r.needed:,} | "
                     f"{r.per_run:,} | {r.per_beat} | {r.per_job_run} | "
                     f"{r.window} (`{r.window_option.flag}`) | {r.describe()} |")
    return "\n".join(lines) + "\n"
