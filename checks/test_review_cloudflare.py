"""The weekly and monthly reviews from Cloudflare's own data (opt-in with --review).

- Monday security audit (`-m security_audit`): a bounded `wrangler tail` sample summarised by
  path, method, origin, colo, country and user agent; DNS-resolve requests for domains outside
  the MCP domains, and requests off the worker's routes, above their shares fail.
- Friday optimisation review (`-m optimisation_review`): the wrangler configuration's
  compatibility_date age; CPU time p50/p99 from the GraphQL Analytics API against the plan's
  limit and against the 7 days before.
- Monthly performance analysis (`-m performance_analysis`): CPU time again, and the worker's
  real error share over the history window judged with the synthetic error-rate checks' bounds.

Skipped with the reason without --review, without wrangler, or without CLOUDFLARE_API_TOKEN and
CLOUDFLARE_ACCOUNT_ID. What the API and the tail return is described in synthetics/analytics.py.
"""

import datetime as dt

import pytest

from synthetics import expect
from synthetics.expectations import MCP_DOMAINS, Expectation, fail_alpha, params
from synthetics.reporting.results import ACCESS_PROPERTY
from synthetics.schedule.analytics import (
    ApiError,
    GraphQL,
    Invocations,
    compatibility_date,
    summarise_tail,
)
from synthetics.schedule.review import ReviewSettings, Wrangler, now_utc, parse_json_stream
from synthetics.settings import Settings
from synthetics.stats import judge_rate

WEEK = dt.timedelta(days=7)


def _invocations(api: GraphQL, since: dt.datetime, until: dt.datetime) -> Invocations:
    """The window's invocations; a rate limit skips, any other API failure fails, one line."""
    try:
        return api.invocations(since, until)
    except ApiError as exc:
        error = exc  # reported outside the handler: a one-line reason, no chained traceback
    if error.kind == "rate_limited":
        pytest.skip(f"Cloudflare GraphQL API: {error.reason}")
    expect.fail(f"Cloudflare GraphQL API: {error.reason}")


def _top(counter, n: int = 3) -> str:
    return ", ".join(f"{k} ({v})" for k, v in counter.most_common(n))


@pytest.mark.review
@pytest.mark.security_audit
@pytest.mark.parametrize("expectation", params("test_review_access_patterns"))
def test_review_access_patterns(expectation: Expectation, wrangler_cli: Wrangler,
                                review_settings: ReviewSettings, record_verdict, request,
                                pytestconfig: pytest.Config) -> None:
    s = review_settings
    result = wrangler_cli.sample(s.review_tail_seconds, "tail", s.review_worker, "--format",
                                 "json")
    if not result.timed_out and result.code not in (0, None):
        expect.fail(f"wrangler tail {s.review_worker} failed: {result.reason()}")
    events, _ = parse_json_stream(result.stdout)
    summary = summarise_tail(events, MCP_DOMAINS)
    record = summary.record(now_utc().timestamp())
    request.node.user_properties.append((ACCESS_PROPERTY, record))
    _keep_in_history(pytestconfig, record)
    problems = []
    if summary.unusual_dns_share > s.max_unusual_dns_share:
        problems.append(f"{summary.unusual_dns_share:.1%} of {summary.dns_requests} DNS-resolve "
                        f"requests name domains outside {', '.join(MCP_DOMAINS)} (over "
                        f"{s.max_unusual_dns_share:.1%}): {_top(summary.unusual_domains)}")
    if summary.unusual_request_share > s.max_unusual_request_share:
        problems.append(f"{summary.unusual_request_share:.1%} of {summary.events} requests are "
                        f"off the worker's routes or use unusual methods (over "
                        f"{s.max_unusual_request_share:.1%}): {_top(summary.unusual_requests)}")
    measured = (f"{summary.events} request(s): unusual DNS domains "
                f"{summary.unusual_dns_share:.1%} of {summary.dns_requests}, unusual requests "
                f"{summary.unusual_request_share:.1%}; top paths {_top(summary.paths)}; "
                f"colos {_top(summary.colos)}")
    record_verdict(measured=measured,
                   threshold=f"unusual DNS <= {s.max_unusual_dns_share:.1%}, unusual requests "
                             f"<= {s.max_unusual_request_share:.1%}",
                   verdict="fail" if problems else "pass" if summary.events else "insufficient",
                   detail="; ".join(problems) or ("" if summary.events else
                                                  "no requests during the tail sample"))
    if problems:
        expect.fail("; ".join(problems))


def _keep_in_history(config: pytest.Config, record: dict) -> None:
    """Append the summary to the history's `access_patterns` state (the last 52 kept)."""
    from synthetics.history import plugin as history_plugin

    recorder = config.stash.get(history_plugin.HISTORY, None)
    if recorder is None or not recorder.ensure_open() or recorder.store is None:
        return
    try:
        kept = (recorder.store.load_state("access_patterns") or {}).get("samples", [])
        recorder.store.save_state("access_patterns", {"samples": [*kept, record][-52:]})
    except Exception as exc:  # noqa: BLE001 - history must never break the checks
        recorder.errors.append(f"history: could not keep the access patterns: {exc}")


@pytest.mark.review
@pytest.mark.optimisation_review
@pytest.mark.parametrize("expectation", params("test_review_compatibility_date"))
def test_review_compatibility_date(expectation: Expectation, review_opt_in: ReviewSettings,
                                   pytestconfig: pytest.Config, record_verdict) -> None:
    from synthetics.selfheal.settings import REDEPLOY_SETTINGS

    deploy = pytestconfig.stash[REDEPLOY_SETTINGS]
    path, env = deploy.deploy_config, deploy.deploy_env
    import os

    if not os.path.isfile(path):
        pytest.skip(f"no wrangler configuration at {path} (pass --deploy-config PATH)")
    try:
        date = compatibility_date(path, env)
    except ValueError as exc:
        problem = str(exc)
    else:
        problem = ""
    if problem:
        expect.fail(problem)
    age = (now_utc().date() - date).days
    limit = review_opt_in.max_compat_age_days
    record_verdict(measured=f"compatibility_date {date} ({age} days old)",
                   threshold=f"<= {limit:g} days", verdict="pass" if age <= limit else "fail")
    if age > limit:
        expect.fail(f"{path}: compatibility_date {date} is {age} days old, over {limit:g}: "
                    "review the runtime changes since then and update it")


@pytest.mark.review
@pytest.mark.optimisation_review
@pytest.mark.performance_analysis
@pytest.mark.parametrize("expectation", params("test_review_cpu_time"))
def test_review_cpu_time(expectation: Expectation, cloudflare_graphql: GraphQL,
                         review_settings: ReviewSettings, record_verdict) -> None:
    s = review_settings
    now = now_utc()
    this = _invocations(cloudflare_graphql, now - WEEK, now)
    before = _invocations(cloudflare_graphql, now - 2 * WEEK, now - WEEK)
    if not this.requests or this.cpu_p50_ms is None or this.cpu_p99_ms is None:
        record_verdict(measured="no invocations in the last 7 days",
                       threshold=f"p99 < {s.cpu_limit_ms:g} ms", verdict="insufficient")
        return
    problems = []
    if this.cpu_p99_ms > s.cpu_limit_ms:
        problems.append(f"CPU p99 {this.cpu_p99_ms:.2f} ms is over the plan's "
                        f"{s.cpu_limit_ms:g} ms limit")
    rises = []
    if before.requests and before.cpu_p50_ms and before.cpu_p99_ms:
        for name, a, b in (("p50", this.cpu_p50_ms, before.cpu_p50_ms),
                           ("p99", this.cpu_p99_ms, before.cpu_p99_ms)):
            change = a / b - 1
            rises.append(f"{name} {b:.2f} → {a:.2f} ms ({change:+.0%})")
            if change > s.max_cpu_regression:
                problems.append(f"CPU {name} rose {change:+.0%} over the 7 days before "
                                f"({b:.2f} → {a:.2f} ms, over {s.max_cpu_regression:+.0%})")
    compared = "; ".join(rises) if rises else "no invocations the 7 days before to compare"
    measured = (f"last 7 days: {this.describe()}; {compared}")
    record_verdict(measured=measured,
                   threshold=f"p99 < {s.cpu_limit_ms:g} ms, rise <= {s.max_cpu_regression:.0%}",
                   verdict="fail" if problems else "pass",
                   detail=f"{this.exceeded_resources} exceededResources invocation(s) (the "
                          "only memory signal Cloudflare gives)")
    if problems:
        expect.fail(f"{s.review_worker}: {'; '.join(problems)} "
                    f"({this.exceeded_resources} exceededResources invocations)")


@pytest.mark.review
@pytest.mark.performance_analysis
@pytest.mark.error_rate
@pytest.mark.parametrize("expectation", params("test_error_rate_real_traffic"))
def test_error_rate_real_traffic(expectation: Expectation, cloudflare_graphql: GraphQL,
                                 synthetics_settings: Settings, pytestconfig: pytest.Config,
                                 record_verdict) -> None:
    from synthetics.history.plugin import HSETTINGS

    hours = pytestconfig.stash[HSETTINGS].history_window_hours
    now = now_utc()
    inv = _invocations(cloudflare_graphql, now - dt.timedelta(hours=hours), now)
    if inv.errors > inv.requests:
        expect.fail(f"Cloudflare GraphQL API: {inv.errors} errors out of {inv.requests} "
                    "invocations: an inconsistent answer")
    if not inv.requests:
        record_verdict(measured=f"no invocations in the last {hours:g} h",
                       threshold=f"< {expectation.threshold_text}", verdict="insufficient")
        return
    # The same exact bounds and per-check alpha as the synthetic error-rate checks; this row is
    # not counted in their split of the budget (see synthetics.expectations.fail_alpha).
    verdict = judge_rate(inv.errors, inv.requests, expectation.threshold,
                         fail_alpha(synthetics_settings.false_alarm_budget),
                         1 - synthetics_settings.pass_confidence)
    text = f"last {hours:g} h: {verdict.describe('invocation errors')}"
    record_verdict(measured=f"{inv.errors}/{inv.requests} ({verdict.rate:.3%})",
                   threshold=f"< {expectation.threshold_text}", verdict=verdict.verdict,
                   detail=f"{text}; by status: "
                          + ", ".join(f"{k} {v}" for k, v in sorted(inv.by_status.items())))
    if verdict.verdict == "fail":
        statuses = ", ".join(f"{k} {v}" for k, v in sorted(inv.by_status.items())
                             if k not in ("success", "clientDisconnected"))
        expect.fail(f"{cloudflare_graphql.script}: {text}; statuses: {statuses or 'none'}")
