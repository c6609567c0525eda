"""How long each error-rate and balance target takes to become decidable: the sample counts are
the ones the verdicts need, the hours follow from the schedule and the heartbeat, and the
README's table is the one `synthetics decidability` prints."""

from __future__ import annotations

import dataclasses
import random
import re
from collections import Counter
from pathlib import Path

import pytest

from synthetics.balance import BALANCE_ALPHA
from synthetics.expectations import AREAS, ENDPOINTS
from synthetics.history.decidability import (
    PASS_PROBABILITY,
    Decidability,
    decidability,
    default_rows,
    markdown_table,
)
from synthetics.history.heartbeat import INTERVAL
from synthetics.schedule.scheduler import JobSpec, find_job
from synthetics.settings import OPTIONS, Settings
from synthetics.stats import balance_test, judge_rate, samples_to_show_balanced

ROOT = Path(__file__).resolve().parent.parent
DEFAULTS = Settings(**{o.name: o.default for o in OPTIONS})


def test_the_documented_table_is_the_computed_one() -> None:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    blocks = [m.group(1) for page in pages if page.exists()
              for m in re.finditer(r"<!-- decidability:begin -->\n(.*?)<!-- decidability:end -->",
                                   page.read_text(), re.S)]
    assert blocks, "no page carries the decidability markers"
    assert blocks == [markdown_table()] * len(blocks), (
        "the decidability table is out of step: paste `synthetics decidability` between the "
        "markers")


def test_a_rates_count_is_where_a_clean_sample_first_passes() -> None:
    for row in default_rows():
        if row.expectation.area != "error_rate":
            continue
        target = row.expectation.threshold or 0
        pass_alpha = 1 - DEFAULTS.pass_confidence
        assert judge_rate(0, row.needed, target, 1e-4, pass_alpha).verdict == "pass"
        assert judge_rate(0, row.needed - 1, target, 1e-4, pass_alpha).verdict == "insufficient"


def _pass_share(n: int, cells: int, tolerance: float, alpha: float, trials: int,
                seed: int) -> float:
    rng = random.Random(seed)
    passed = sum(balance_test(rng.choices(range(cells), k=n), cells, tolerance, alpha).verdict
                 == "pass" for _ in range(trials))
    return passed / trials


def test_the_balance_count_passes_an_even_spread_with_the_stated_chance() -> None:
    """Simulated on a small configuration: at the count an even spread passes in at least 90% of
    draws (3 standard errors of slack), at two thirds of it clearly less often."""
    cells, tolerance, alpha = 20, 0.3, 1e-3
    n = samples_to_show_balanced(cells, tolerance, alpha, 0.9)
    assert _pass_share(n, cells, tolerance, alpha, 400, 1) >= 0.9 - 3 * (0.09 / 400) ** 0.5
    assert _pass_share(n * 2 // 3, cells, tolerance, alpha, 400, 2) < 0.6
    with pytest.raises(ValueError):
        samples_to_show_balanced(20, 0.0, alpha, 0.9)


def test_the_balance_row_uses_the_windows_alpha_and_the_stated_chance() -> None:
    row = next(r for r in default_rows() if r.expectation.check == "test_capacity_sector_balance")
    assert row.needed == samples_to_show_balanced(DEFAULTS.sectors, 0.05, BALANCE_ALPHA / 2,
                                                  PASS_PROBABILITY)
    # the heartbeat resolves both MCP domains: two answers a beat
    assert row.per_run == DEFAULTS.error_samples and row.per_beat == 2 and row.per_job_run == 0


def test_hours_follow_from_the_run_the_heartbeat_and_the_job() -> None:
    settings = dataclasses.replace(DEFAULTS, error_samples=100, pass_confidence=0.95)
    job = JobSpec("often", "every", "", "", ("pytest", "-m", "health or dns"), 60,
                  every_minutes=10)
    beat = (ENDPOINTS["health"].request(), ENDPOINTS["health"].request())
    rows = {(r.expectation.check, r.expectation.subject): r
            for r in decidability(settings, 24.0, 30.0, job, beat)}
    health = rows[("test_error_rate_5xx", "health")]
    # 2,995 needed, 100 from the run; 2 per beat every 30 s and 4 per run every 10 min: 264/h
    assert (health.needed, health.per_run, health.per_beat, health.per_job_run) == \
        (2995, 100, 2, 4)
    assert health.hours == pytest.approx(2895 / 264)
    assert health.beats == 1316 and health.job_runs == 66
    assert health.describe() == "a default run after 11.0 h (1,316 beats, 66 runs of the " \
        "10-minute job)"
    # the dns area's checks each take one sample: of their domain, or of the first one
    assert rows[("test_error_rate_dns_failures", "mcp.aipub.2100.cool")].per_job_run == 2
    assert rows[("test_error_rate_dns_failures", "mcp.asoos.2100.cool")].per_job_run == 1
    assert rows[("test_error_rate_5xx", "dns")].per_job_run == 3
    orchestrate = rows[("test_error_rate_5xx", "orchestrate")]
    assert orchestrate.hours is None and orchestrate.describe() == \
        "only default runs sample it: 30 of them within the 24 h window"
    timeouts = rows[("test_error_rate_timeouts", "health")]
    assert timeouts.hours == pytest.approx(5890 / 264) and timeouts.describe().startswith(
        "a default run after 22.3 h")
    short = decidability(settings, 10.0, 30.0, job, beat)[0]
    assert short.describe() == ("never within the 10 h window: a default run after 11.0 h "
                                "(1,316 beats, 66 runs of the 10-minute job) with "
                                "--history-window-hours 11")
    many = dataclasses.replace(settings, error_samples=4000)
    assert decidability(many, 24.0, 30.0, job, beat)[0].describe() == "in one default run"


def test_only_simple_marker_expressions_are_counted() -> None:
    odd = JobSpec("odd", "every", "", "", ("pytest", "-m", "health or dns and not cors"), 60,
                  every_minutes=15)
    with pytest.raises(ValueError, match="marker expression 'a or b' of areas is counted, not "
                                         "'health or dns and not cors'"):
        decidability(DEFAULTS, 24.0, job=odd)
    # every area at once is still a simple expression
    every = dataclasses.replace(odd, command=("pytest", "-m", " or ".join(AREAS)))
    assert decidability(DEFAULTS, 24.0, job=every)


SMALL = dataclasses.replace(DEFAULTS, error_samples=100, pass_confidence=0.95)
OFTEN = JobSpec("often", "every", "", "", ("pytest", "-m", "health or dns"), 60, every_minutes=10)
TWO_HEALTH = (ENDPOINTS["health"].request(), ENDPOINTS["health"].request())


def _small_row(check: str, subject: str, settings: Settings = SMALL) -> Decidability:
    """A row of the small schedule of the test above: 30 s beats of two /health requests, a
    10-minute job of the health and dns areas."""
    return next(r for r in decidability(settings, 24.0, 30.0, OFTEN, TWO_HEALTH)
                if (r.expectation.check, r.expectation.subject) == (check, subject))


def test_a_target_decided_as_its_window_ends_is_decided_within_it() -> None:
    """`hours` equal to the window is within it; a span of two days or more is told in days."""
    health = _small_row("test_error_rate_5xx", "health")
    assert dataclasses.replace(health, hours=24.0).describe().startswith(
        "a default run after 24.0 h (2,880 beats, 144 runs")
    assert dataclasses.replace(health, hours=24.5).describe().startswith("never within")
    assert dataclasses.replace(health, hours=47.5, window_hours=48.0).describe().startswith(
        "a default run after 47.5 h")
    assert dataclasses.replace(health, hours=48.0, window_hours=48.0).describe().startswith(
        "a default run after 2.0 days")


def test_a_run_of_exactly_the_needed_samples_decides_alone() -> None:
    """orchestrate is sampled only by default runs: a run of as many samples as it needs
    decides it; one sample fewer never does."""
    needed = _small_row("test_error_rate_5xx", "orchestrate").needed
    exact = dataclasses.replace(SMALL, error_samples=needed)
    row = _small_row("test_error_rate_5xx", "orchestrate", exact)
    assert row.hours == 0.0 and row.describe() == "in one default run"
    short = dataclasses.replace(SMALL, error_samples=needed - 1)
    assert _small_row("test_error_rate_5xx", "orchestrate", short).hours is None


def test_the_table_is_one_line_per_row_under_its_header() -> None:
    """The header states the rows' heartbeat and job; without rows, the defaults'."""
    health = _small_row("test_error_rate_5xx", "health")
    assert markdown_table([health]) == (
        "| target | subject | samples to decide | one default run | per heartbeat beat (every "
        "30 s) | per 10-minute job run | history window | decidable for a healthy worker |\n"
        "|---|---|---|---|---|---|---|---|\n"
        "| HTTP 5xx responses < 0.1% | `health` | 2,995 | 100 | 2 | 4 | 24 h "
        "(`--history-window-hours`) | a default run after 11.0 h (1,316 beats, 66 runs of the "
        "10-minute job) |\n")
    assert markdown_table([]) == (
        f"| target | subject | samples to decide | one default run | per heartbeat beat (every "
        f"{INTERVAL:g} s) | per 15-minute job run | history window | decidable for a healthy "
        f"worker |\n|---|---|---|---|---|---|---|---|\n")
    assert markdown_table() == markdown_table(default_rows())


def test_the_defaults_are_the_schedules_and_the_heartbeats(monkeypatch) -> None:
    for name in ("SYNTHETICS_HEARTBEAT_SECONDS",):
        monkeypatch.delenv(name, raising=False)
    from synthetics.cli import build_parser

    args, _ = build_parser().parse_known_args(["schedule"])
    assert float(args.heartbeat_seconds) == INTERVAL
    row = default_rows()[0]
    assert row.beat_seconds == INTERVAL and row.job == find_job("health")
    assert row.job.interval == 900 and row.window_hours == 24
    # the 15-minute job's checks all sample /health once each
    assert Counter(r.per_job_run for r in default_rows()) == Counter({0: 7, 4: 2})


def test_the_dns_failures_and_the_balance_are_judged_over_the_dns_window() -> None:
    """The DNS failures and the balance share the long window (--dns-window-days, 14): the
    heartbeat, resolving each MCP domain every beat, decides each domain's DNS failures in 5.2
    days and the balance in 6.2, within it; the 5xx and timeout rows keep
    --history-window-hours (24)."""
    rows = default_rows()
    long = [r for r in rows if r.expectation.check in ("test_capacity_sector_balance",
                                                        "test_error_rate_dns_failures")]
    balance, *dns = sorted(long, key=lambda r: r.expectation.check)
    assert [r.expectation.subject for r in dns] == ["mcp.aipub.2100.cool", "mcp.asoos.2100.cool"]
    for row in long:
        assert (row.window_hours, row.window, row.window_option.flag) == \
            (14 * 24, "14 days", "--dns-window-days")
        assert row.hours == pytest.approx((row.needed - row.per_run) * INTERVAL
                                          / (row.per_beat * 3600))
    assert [r.per_beat for r in long] == [1, 1, 2]
    assert balance.describe() == ("a default run after 6.2 days (35,972 beats, 600 runs of "
                                  "the 15-minute job)")
    assert {r.describe() for r in dns} == {"a default run after 5.2 days (29,706 beats, 496 runs "
                                           "of the 15-minute job)"}
    assert "| 14 days (`--dns-window-days`) | a default run after 6.2 days" in \
        markdown_table(rows)
    rates = [r for r in rows if r not in long]
    assert {r.expectation.check for r in rates} == {"test_error_rate_5xx",
                                                    "test_error_rate_timeouts"}
    assert {(r.window, r.window_option.flag) for r in rates} == {("24 h",
                                                                 "--history-window-hours")}
    shorter = decidability(DEFAULTS, 24.0, dns_window_days=5)
    assert [r.describe() for r in shorter if r.expectation.failure is not None
            and not r.expectation.failure.long_window] == [r.describe() for r in rates]
    assert [r.describe() for r in shorter if r.window_option.flag == "--dns-window-days"] == [
        "never within the 5-day window: a default run after 5.2 days (29,706 beats, 496 runs of "
        "the 15-minute job) with --dns-window-days 6"] * 2 + [
        "never within the 5-day window: a default run after 6.2 days (35,972 beats, 600 runs of "
        "the 15-minute job) with --dns-window-days 7"]
