"""The evening review (the document's 21:00 steps), as checks that drive wrangler; and the
weekly and monthly reviews from Cloudflare's own data.

pytest11 entry point `synthetics_review`: options, the `wrangler_cli` fixture the checks in
checks/test_review.py use, the `cloudflare_graphql` and `review_opt_in` fixtures of
checks/test_review_cloudflare.py (GraphQL Analytics and tail plumbing in
synthetics.schedule.analytics),
and the markers that select each scheduled job's review checks (`JOB_MARKERS`). The reviews are
opt-in (`--review`; the scheduler's review jobs pass it) because they read account data from
Cloudflare and sample the live log for a while.

What each step relies on, from wrangler 4 itself:
- `wrangler whoami --json` prints `{"loggedIn": true, ...}` or `{"loggedIn": false}` and exits 1
  when not authenticated; the plain `wrangler whoami` exits 0 even then, so it is never used.
- `wrangler deployments list --name NAME --json` prints a JSON array of deployments (oldest
  first), each with `created_on` and `versions`.
- `wrangler tail NAME --format json` prints each event as a pretty-printed JSON object over many
  lines (not one object per line) until it is stopped; the sample is bounded in time and the
  stream is parsed object by object.

With no wrangler on PATH or no Cloudflare credentials (CLOUDFLARE_API_TOKEN, CLOUDFLARE_API_KEY,
or a `wrangler login` OAuth file), the checks are skipped with that reason; the GraphQL checks
need CLOUDFLARE_API_TOKEN and CLOUDFLARE_ACCOUNT_ID.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import signal
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from synthetics.runner import run_command
from synthetics.schedule.analytics import API_URL, GraphQL, api_credentials
from synthetics.selfheal.settings import WRANGLER
from synthetics.settings import (
    Option,
    add_options,
    flag,
    parse_target,
    positive_float,
    resolve_values,
)

__all__ = ["OPTIONS", "ReviewSettings", "Wrangler", "credentials_source", "parse_json_stream",
           "tail_problems"]

WORKER_NAME = "wfa-orchestration-worker-production"
#: The checks each scheduled review job runs, by marker (jobs pass `-m MARKER --review`).
JOB_MARKERS = {
    "security_audit": "the Monday security audit runs it (access patterns from the tail)",
    "optimisation_review": "the Friday optimisation review runs it (CPU time, compatibility "
                           "date)",
    "performance_analysis": "the monthly performance analysis runs it (CPU time, real-traffic "
                            "error rate)",
}


def _share(value: str) -> float:
    number = float(value)
    if not 0 <= number < 1:
        raise ValueError("must be a share between 0 and 1 (0.01 is 1%)")
    return number


def _api_url(value: str) -> str:
    return parse_target(value)


OPTIONS: tuple[Option, ...] = (
    Option("review", "--review",
           "Run the review checks (the evening review through wrangler; the weekly and "
           "monthly reviews from the tail and Cloudflare's GraphQL Analytics); they read "
           "account data from Cloudflare.", False, flag, is_flag=True),
    Option("review_worker", "--review-worker",
           f"Name of the deployed worker (default {WORKER_NAME}).", WORKER_NAME, str),
    Option("review_tail_seconds", "--review-tail-seconds",
           "Seconds of `wrangler tail` sampled by the evening review (default 20).", 20.0,
           positive_float),
    Option("review_deployment_days", "--review-deployment-days",
           "A deployment at most this many days old counts as recent (default 30).", 30.0,
           positive_float),
    Option("review_timeout", "--review-timeout",
           "Seconds each wrangler command may take, and each Cloudflare API request "
           "(default 60).", 60.0, positive_float),
    Option("cloudflare_api_url", "--cloudflare-api-url",
           f"Base URL of Cloudflare's API the reviews read analytics from (default {API_URL}).",
           API_URL, _api_url),
    Option("max_unusual_dns_share", "--max-unusual-dns-share",
           "Largest share of the tail sample's DNS-resolve requests that may name domains "
           "outside the MCP domains (default 0.01: 1%).", 0.01, _share),
    Option("max_unusual_request_share", "--max-unusual-request-share",
           "Largest share of the tail sample's requests that may use paths outside the "
           "worker's routes or unusual methods (default 0.05: 5%).", 0.05, _share),
    Option("max_compat_age_days", "--max-compat-age-days",
           "Oldest the wrangler configuration's compatibility_date may be, in days "
           "(default 180).", 180.0, positive_float),
    Option("cpu_limit_ms", "--cpu-limit-ms",
           "CPU time per invocation the worker's plan allows, in ms (default 10, Workers "
           "Free; Workers Paid allows 30000 unless limits.cpu_ms says otherwise).", 10.0,
           positive_float),
    Option("max_cpu_regression", "--max-cpu-regression",
           "Largest rise of CPU time p50 or p99 over the 7 days before that passes "
           "(default 0.2: 20%).", 0.2, positive_float),
)


@dataclass(frozen=True)
class ReviewSettings:
    review: bool
    wrangler: str  # --wrangler, declared with the self-healing options (`WRANGLER`)
    review_worker: str
    review_tail_seconds: float
    review_deployment_days: float
    review_timeout: float
    cloudflare_api_url: str
    max_unusual_dns_share: float
    max_unusual_request_share: float
    max_compat_age_days: float
    cpu_limit_ms: float
    max_cpu_regression: float


REVIEW_SETTINGS = pytest.StashKey[ReviewSettings]()


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser, OPTIONS, "synthetics review", "the evening review through wrangler")


def pytest_configure(config: pytest.Config) -> None:
    config.stash[REVIEW_SETTINGS] = ReviewSettings(**resolve_values(config, OPTIONS),
                                                   **resolve_values(config, (WRANGLER,)))
    for marker, text in JOB_MARKERS.items():
        config.addinivalue_line("markers", f"{marker}: {text}")


def credentials_source(environ: Mapping[str, str], home: Path) -> str | None:
    """Where wrangler would find credentials, or None (never the credentials themselves)."""
    if environ.get("CLOUDFLARE_API_TOKEN"):
        return "CLOUDFLARE_API_TOKEN"
    if environ.get("CLOUDFLARE_API_KEY") and environ.get("CLOUDFLARE_EMAIL"):
        return "CLOUDFLARE_API_KEY"
    xdg = Path(environ.get("XDG_CONFIG_HOME") or home / ".config")
    for path in (xdg / ".wrangler" / "config" / "default.toml",
                 home / ".wrangler" / "config" / "default.toml"):
        if path.is_file():
            return f"wrangler login ({path})"
    return None


@dataclass(frozen=True)
class Result:
    code: int | None
    stdout: str
    stderr: str
    timed_out: bool = False

    def reason(self) -> str:
        """The last meaningful line of stderr/stdout, for a one-line failure."""
        for text in (self.stderr, self.stdout):
            lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
            if lines:
                return lines[-1][:300]
        return f"exit code {self.code}"


class Wrangler:
    """Runs wrangler with metrics off; every command has a deadline."""

    def __init__(self, command: str, timeout: float, environ: Mapping[str, str]) -> None:
        self.command = command
        self.timeout = timeout
        self.env = dict(environ)
        self.env["WRANGLER_SEND_METRICS"] = "false"
        self.env.setdefault("NO_COLOR", "1")

    def run(self, *args: str) -> Result:
        done = run_command([self.command, *args], timeout=self.timeout, env=self.env,
                           merge_stderr=False)
        return Result(None if done.timed_out else done.exit_code, done.stdout, done.stderr,
                      timed_out=done.timed_out)

    def sample(self, seconds: float, *args: str) -> Result:
        """Run a command that streams until stopped; stop it after `seconds` (SIGINT to its
        process group, then SIGKILL after 5 s)."""
        done = run_command([self.command, *args], timeout=seconds, env=self.env,
                           merge_stderr=False, stop_signals=(signal.SIGINT, signal.SIGKILL),
                           grace=5.0)
        return Result(done.exit_code, done.stdout, done.stderr, timed_out=done.timed_out)


@pytest.fixture(scope="session")
def wrangler_cli(pytestconfig: pytest.Config) -> Wrangler:
    """wrangler, ready for the evening review; skips with the reason when it cannot run."""
    s = pytestconfig.stash[REVIEW_SETTINGS]
    if not s.review:
        pytest.skip("the evening review runs with --review (the scheduler's 21:00 job passes "
                    "it): it reads account data from Cloudflare")
    found = shutil.which(s.wrangler)
    if found is None:
        pytest.skip(f"no wrangler: {s.wrangler!r} is not on PATH (npm install -g "
                    "wrangler, or pass --wrangler PATH)")
    if credentials_source(os.environ, Path.home()) is None:
        pytest.skip("no Cloudflare credentials: set CLOUDFLARE_API_TOKEN or run `wrangler "
                    "login` on this machine")
    return Wrangler(found, s.review_timeout, os.environ)


def _opt_in(s: ReviewSettings) -> None:
    if not s.review:
        pytest.skip("the Cloudflare reviews run with --review (the scheduled review jobs pass "
                    "it): they read account data from Cloudflare")


@pytest.fixture(scope="session")
def cloudflare_graphql(pytestconfig: pytest.Config) -> GraphQL:
    """Cloudflare's GraphQL Analytics API for the worker; skips with the reason when the
    review is not asked for or the credentials are missing."""
    s = pytestconfig.stash[REVIEW_SETTINGS]
    _opt_in(s)
    found = api_credentials(os.environ)
    if isinstance(found, str):
        pytest.skip(found)
    token, account = found
    return GraphQL(s.cloudflare_api_url, token, account, s.review_worker, s.review_timeout)


@pytest.fixture(scope="session")
def review_opt_in(pytestconfig: pytest.Config) -> ReviewSettings:
    """The review settings; skips unless --review."""
    s = pytestconfig.stash[REVIEW_SETTINGS]
    _opt_in(s)
    return s


@pytest.fixture(scope="session")
def review_settings(pytestconfig: pytest.Config) -> ReviewSettings:
    """The resolved evening-review settings."""
    return pytestconfig.stash[REVIEW_SETTINGS]


# -- parsing -------------------------------------------------------------------------------
def parse_json_stream(text: str) -> tuple[list[Any], list[str]]:
    """Every JSON value in `text` (pretty-printed objects back to back), and any stray text."""
    decoder = json.JSONDecoder()
    values: list[Any] = []
    stray: list[str] = []
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            break
        if text[i] in "{[":
            try:
                value, end = decoder.raw_decode(text, i)
            except ValueError:
                end = text.find("\n", i)
                end = n if end < 0 else end
                stray.append(text[i:end])
            else:
                values.append(value)
            i = end
        else:
            end = text.find("\n", i)
            end = n if end < 0 else end
            stray.append(text[i:end].strip())
            i = end
    return values, [s for s in stray if s]


ERROR_OUTCOMES = {"exception", "exceededCpu", "exceededMemory", "unknown", "scriptNotFound"}


def tail_problems(events: Sequence[Any]) -> list[str]:
    """One line per tail event that shows an exception or an error outcome."""
    problems = []
    for event in events:
        if not isinstance(event, dict):
            continue
        request = (event.get("event") or {}).get("request") or {}
        where = f"{request.get('method', '')} {request.get('url', '')}".strip() or "an event"
        outcome = event.get("outcome")
        for exc in event.get("exceptions") or []:
            if isinstance(exc, dict):
                problems.append(f"{where}: exception {exc.get('name', 'Error')}: "
                                f"{exc.get('message', '')}"[:300])
        if outcome in ERROR_OUTCOMES and not event.get("exceptions"):
            problems.append(f"{where}: outcome {outcome}")
        for log in event.get("logs") or []:
            if isinstance(log, dict) and log.get("level") == "error":
                message = " ".join(str(m) for m in log.get("message") or [])
                problems.append(f"{where}: console.error {message}"[:300])
        status = ((event.get("event") or {}).get("response") or {}).get("status")
        if isinstance(status, int) and status >= 500:
            problems.append(f"{where}: HTTP {status}")
    return problems


def latest_deployment(deployments: Sequence[Any]) -> tuple[_dt.datetime, dict[str, Any]] | None:
    """The most recent deployment and its time, or None."""
    best: tuple[_dt.datetime, dict[str, Any]] | None = None
    for d in deployments:
        if not isinstance(d, dict) or not isinstance(d.get("created_on"), str):
            continue
        try:
            when = _dt.datetime.fromisoformat(d["created_on"].replace("Z", "+00:00"))
        except ValueError:
            continue
        if when.tzinfo is None:
            when = when.replace(tzinfo=_dt.timezone.utc)
        if best is None or when > best[0]:
            best = (when, d)
    return best


def now_utc() -> _dt.datetime:
    return _dt.datetime.fromtimestamp(time.time(), _dt.timezone.utc)
