"""Evening review (21:00 UTC): the account, the deployments, and a bounded sample of the log.

Opt-in with --review (the scheduler's evening job passes it); skipped with the reason when
wrangler or Cloudflare credentials are missing. What each wrangler command prints is described
in synthetics/review.py.
"""

import json

import pytest

from synthetics import expect
from synthetics.expectations import Expectation, params
from synthetics.schedule.review import (
    ReviewSettings,
    Wrangler,
    latest_deployment,
    now_utc,
    parse_json_stream,
    tail_problems,
)

pytestmark = pytest.mark.review


@pytest.mark.parametrize("expectation", params("test_review_whoami"))
def test_review_whoami(expectation: Expectation, wrangler_cli: Wrangler, record_verdict) -> None:
    result = wrangler_cli.run("whoami", "--json")
    values, _ = parse_json_stream(result.stdout)
    doc = next((v for v in values if isinstance(v, dict) and "loggedIn" in v), None)
    if doc is None:
        expect.fail(f"wrangler whoami --json printed no account document: {result.reason()}")
    if doc.get("loggedIn") is not True or result.code != 0:
        expect.fail("wrangler is not authenticated (whoami --json: loggedIn false); run "
                    "`wrangler login` or set a valid CLOUDFLARE_API_TOKEN")
    accounts = [a.get("name", "?") for a in doc.get("accounts") or [] if isinstance(a, dict)]
    if not accounts:
        expect.fail("wrangler is authenticated but sees no Cloudflare account")
    record_verdict(measured=f"logged in ({doc.get('authType', 'unknown auth')}), "
                   f"{len(accounts)} account(s)", threshold="authenticated", verdict="pass")


@pytest.mark.parametrize("expectation", params("test_review_deployments"))
def test_review_deployments(expectation: Expectation, wrangler_cli: Wrangler,
                            review_settings: ReviewSettings, record_verdict) -> None:
    name = review_settings.review_worker
    result = wrangler_cli.run("deployments", "list", "--name", name, "--json")
    if result.code != 0:
        expect.fail(f"wrangler deployments list --name {name} failed: {result.reason()}")
    try:
        deployments = json.loads(result.stdout)
    except ValueError:
        expect.fail(f"wrangler deployments list --json printed no JSON: {result.reason()}")
    latest = latest_deployment(deployments if isinstance(deployments, list) else [])
    if latest is None:
        expect.fail(f"{name} has no deployment")
    age = now_utc() - latest[0]
    days = age.total_seconds() / 86_400
    limit = review_settings.review_deployment_days
    record_verdict(measured=f"latest deployment {latest[0]:%Y-%m-%d %H:%M} UTC "
                   f"({days:.1f} days ago)", threshold=f"<= {limit:g} days",
                   verdict="pass" if days <= limit else "fail")
    if days > review_settings.review_deployment_days:
        expect.fail(f"{name}: latest deployment is {days:.0f} days old "
                    f"({latest[0]:%Y-%m-%d} UTC), over {review_settings.review_deployment_days:g}")


@pytest.mark.parametrize("expectation", params("test_review_tail"))
def test_review_tail(expectation: Expectation, wrangler_cli: Wrangler,
                     review_settings: ReviewSettings,
                     record_verdict) -> None:
    s = review_settings
    result = wrangler_cli.sample(s.review_tail_seconds, "tail", s.review_worker, "--format",
                                 "json")
    events, _ = parse_json_stream(result.stdout)
    if not result.timed_out and result.code not in (0, None):
        expect.fail(f"wrangler tail {s.review_worker} failed: {result.reason()}")
    problems = tail_problems(events)
    record_verdict(measured=f"{len(events)} event(s) in {s.review_tail_seconds:g} s, "
                   f"{len(problems)} with errors", threshold="no exceptions or error outcomes",
                   verdict="fail" if problems else "pass" if events else "insufficient",
                   detail="" if events else "no traffic during the sample")
    if problems:
        expect.fail(f"{len(problems)} of {len(events)} tail events show errors; e.g. "
                    f"{problems[0]}")
