"""The one table of targets: every documented expectation, written once, as data.

Each row names the check function that enforces it, the subject it is parametrized over (an
endpoint or a domain: that becomes the pytest id, `test_latency_within_budget[health]`), the
threshold, and where in the operators' maintenance document (or the worker's contract) it comes
from. A threshold is one number in its unit's terms (milliseconds, days, or a share: 0.001 for
0.1%), which the checks use as it is and the row's statement is worded from; an error-rate row
also names the `FailureKind` it counts. The checks in `checks/` are parametrized from `params()`,
the README's table is rendered by `markdown_table()`, and a test keeps the two in step. Changing
a threshold is one edit here; adding an MCP domain is one line in `MCP_DOMAINS` (and the split of
the false-alarm budget, `fail_alpha`, follows the table).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from synthetics.probe import Request
from synthetics.rates import DNS_FAILURES, FIVE_XX, TIMEOUTS, FailureKind

#: The production configuration (`[env.production]` vars of wrangler-production-simple.toml).
AGENT_CAPACITY = 20_000_000
SECTORS = 200
#: The MCP domains the document tests in "DNS Resolution Issues › Diagnostic Steps".
MCP_DOMAINS: tuple[str, ...] = ("mcp.aipub.2100.cool", "mcp.asoos.2100.cool")
#: The endpoints every run samples for the error rates (and the heartbeat, the alerts and the
#: latency trends watch); `dns` is sampled for each of the MCP domains in turn.
SAMPLED_ENDPOINTS: tuple[str, ...] = ("health", "orchestrate", "dns")
DASHBOARD_TITLE = "Victory36 MCP Orchestrator Dashboard"

DOC = "maintenance-procedures.md"
#: The areas; each is also a pytest marker, and every check's name carries one.
AREAS = ("health", "orchestration", "dns", "dashboard", "cors", "latency", "error_rate", "capacity",
         "tls", "review")


@dataclass(frozen=True)
class Endpoint:
    """A path on the worker that checks probe, with the query it is probed with."""

    name: str
    path: str
    params: tuple[tuple[str, str], ...] = ()

    def url_path(self) -> str:
        query = "&".join(f"{k}={v}" for k, v in self.params)
        return f"{self.path}?{query}" if query else self.path

    def request(self, method: str = "GET", headers: tuple[tuple[str, str], ...] = ()) -> Request:
        """A probe request to this endpoint; DNS requests carry their domain as the subject."""
        return Request(self.name, self.url_path(), method=method, headers=headers,
                       subject=dict(self.params).get("domain", ""))


ENDPOINTS: dict[str, Endpoint] = {
    "health": Endpoint("health", "/health"),
    "orchestrate": Endpoint("orchestrate", "/mcp/orchestrate"),
    "dns": Endpoint("dns", "/mcp/dns/resolve", (("domain", MCP_DOMAINS[0]),)),
    "dashboard": Endpoint("dashboard", "/"),
}


def dns_endpoint(domain: str) -> Endpoint:
    """The DNS-resolve endpoint for one domain (sampled under the endpoint name `dns`)."""
    return Endpoint("dns", "/mcp/dns/resolve", (("domain", domain),))


#: The units a threshold is written in; a share is a fraction of 1, worded as a percentage.
UNITS = ("ms", "days", "share")


def _worded(value: float, unit: str) -> str:
    return f"{value * 100:g}%" if unit == "share" else f"{value:g} {unit}"


@dataclass(frozen=True)
class Expectation:
    """One documented expectation on one subject."""

    check: str  # the test function that enforces it
    subject: str  # endpoint or domain: the pytest parameter id
    text: str  # what must hold, in words, with {threshold} where the threshold goes
    source: str  # where it is documented
    threshold: float | None = None  # the number, in `unit`, where there is one
    unit: str = ""  # one of UNITS, where there is a threshold
    failure: FailureKind | None = None  # what an error-rate row counts in our samples

    def __post_init__(self) -> None:
        if (self.threshold is None) != ("{threshold}" not in self.text):
            raise ValueError(f"{self.check}[{self.subject}]: the statement must word its "
                             "threshold as {threshold}, and only a row with a threshold can")
        if self.threshold is not None and self.unit not in UNITS:
            raise ValueError(f"{self.check}[{self.subject}]: unit {self.unit!r} is not one of "
                             f"{UNITS}")

    @property
    def threshold_text(self) -> str:
        """The threshold in words ("200 ms", "0.1%"), or "—" for a row without one."""
        return "—" if self.threshold is None else _worded(self.threshold, self.unit)

    @property
    def statement(self) -> str:
        """What must hold, in words, with the threshold worded from the number."""
        return self.text.replace("{threshold}", self.threshold_text)

    @property
    def area(self) -> str:
        """The area word the check's name carries (`latency`, `error_rate`, ...)."""
        return next(a for a in AREAS if self.check.startswith(f"test_{a}_"))


_RESPONSE_TIMES = f"{DOC} › Monitoring and Alerting › Key Metrics › 1. Response Times"
_ERROR_RATES = f"{DOC} › Monitoring and Alerting › Key Metrics › 3. Error Rates"
_CAPACITY = f"{DOC} › Monitoring and Alerting › Key Metrics › 2. System Capacity"
_MORNING = f"{DOC} › Daily Maintenance Checklist › Morning Health Check (09:00 UTC)"
_EVENING = f"{DOC} › Daily Maintenance Checklist › Evening System Review (21:00 UTC)"
_CORS = f"{DOC} › Weekly › Every Monday › 2. Security Audit (verify CORS headers)"
_CONTRACT_ENV = ("worker-contract.md › Configuration (ENVIRONMENT; a deploy without "
                 "--env production drops it)")
_FRESH = "worker-contract.md › Endpoints (timestamp); a cached or frozen answer is stale"

EXPECTATIONS: tuple[Expectation, ...] = (
    Expectation("test_health_reports_healthy", "health",
           'GET /health is 200 JSON with status == "healthy"', f"{_MORNING}, step 1"),
    Expectation("test_health_reports_capacity", "health",
           f"agentCapacity == {AGENT_CAPACITY:,} and sectors == {SECTORS}",
           f"{DOC} › title: 20M Agents, 200 Sectors"),
    Expectation("test_health_reports_environment", "health",
           "environment == the configured environment (production)", _CONTRACT_ENV),
    Expectation("test_health_timestamp_fresh", "health",
           "timestamp within the allowed clock skew (5 min) of the probe's clock", _FRESH),
    Expectation("test_orchestration_operational", "orchestrate",
           'GET /mcp/orchestrate is 200 JSON, status == "operational", healingMode true',
           f"{_MORNING}, step 2"),
    Expectation("test_orchestration_capacity", "orchestrate",
           "totalAgents and activeSectors equal the configured capacity and sectors",
           f"{DOC} › Emergency › Agent Capacity Issues › 1. Capacity Check"),
    Expectation("test_orchestration_environment", "orchestrate",
           "environment == the configured environment (production)", _CONTRACT_ENV),
    Expectation("test_orchestration_timestamp_fresh", "orchestrate",
           "timestamp within the allowed clock skew (5 min) of the probe's clock", _FRESH),
    Expectation("test_dns_timestamp_fresh", "dns",
           "timestamp within the allowed clock skew (5 min) of the probe's clock", _FRESH),
    *(
        Expectation("test_dns_resolves", domain,
               "200, resolved and mcpEnabled true, IPv4 ip, ttl > 0, recordType A, "
               "sector in [0, sectors)",
               f"{_MORNING}, step 3; {DOC} › DNS Resolution Issues › Diagnostic Steps")
        for domain in MCP_DOMAINS
    ),
    Expectation("test_dns_requires_domain", "missing-domain",
           "no domain → 400 with a JSON error, never a 5xx",
           "worker-contract.md › /mcp/dns/resolve"),
    Expectation("test_dashboard_head", "dashboard", "HEAD / is 200",
                f"{_MORNING}, step 4 (curl -I)"),
    Expectation("test_dashboard_page", "dashboard",
           f'GET / is text/html carrying "{DASHBOARD_TITLE}"', f"{_MORNING}, step 4"),
    *(
        Expectation("test_cors_allow_origin", name,
               "the response carries Access-Control-Allow-Origin, and never a wildcard or "
               "reflected origin with Access-Control-Allow-Credentials: true", _CORS)
        for name in ENDPOINTS
    ),
    *(
        Expectation("test_cors_preflight", name,
               "OPTIONS preflight is 2xx, admits the origin without the credentials risk; "
               "allow-methods includes GET; allow-headers and "
               "max-age present", _CORS)
        for name in SAMPLED_ENDPOINTS
    ),
    *(
        Expectation("test_latency_within_budget", name,
                    "latency percentile of 2xx answers < {threshold}", _RESPONSE_TIMES, budget,
                    "ms")
        for name, budget in (("health", 200.0), ("orchestrate", 500.0), ("dns", 100.0))
    ),
    *(
        Expectation("test_error_rate_5xx", name, "HTTP 5xx responses < {threshold}",
                    _ERROR_RATES, 0.001, "share", FIVE_XX)
        for name in SAMPLED_ENDPOINTS
    ),
    *(
        Expectation("test_error_rate_timeouts", name, "timeouts < {threshold}", _ERROR_RATES,
                    0.0005, "share", TIMEOUTS)
        for name in SAMPLED_ENDPOINTS
    ),
    *(
        Expectation("test_error_rate_dns_failures", domain,
                    "DNS resolution failures < {threshold}", _ERROR_RATES, 0.0001, "share",
                    DNS_FAILURES)
        for domain in MCP_DOMAINS
    ),
    Expectation("test_capacity_registration_success", "register",
           "agent registration success > {threshold} (opt-in: --register-agents)", _CAPACITY,
           0.99, "share"),
    Expectation("test_capacity_sector_balance", "dns",
           "sector distribution imbalance < {threshold} (CV of shares, chi-square test)",
           _CAPACITY, 0.05, "share"),
    Expectation("test_capacity_memory", "memory",
           "memory usage < {threshold} of allocated (needs --memory-field)", _CAPACITY, 0.8,
           "share"),
    Expectation("test_tls_certificate", "certificate",
           "an https target's certificate verifies for its host and stays valid for at least "
           "another {threshold} (--tls-min-days; skipped for http)",
           "not in maintenance-procedures.md: certificate expiry, which every peer monitor "
           "checks", 14.0, "days"),
    Expectation("test_review_whoami", "whoami",
           "wrangler whoami --json reports an authenticated account (opt-in: --review)",
           f"{_EVENING}, step 1"),
    Expectation("test_review_deployments", "deployments",
           "wrangler deployments list --json shows a deployment in the last 30 days "
           "(opt-in: --review)", f"{_EVENING}, step 2"),
    Expectation("test_review_tail", "tail",
           "a bounded wrangler tail --format json sample has no exceptions or error outcomes "
           "(opt-in: --review)", f"{_EVENING}, step 3"),
    Expectation("test_review_access_patterns", "tail",
           "a bounded tail sample summarised by path, method, origin, colo/country, user "
           "agent: DNS-resolve requests for domains outside the MCP domains <= {threshold}, "
           "requests off the routes <= 5% (opt-in: --review)",
           f"{DOC} › Weekly › Every Monday › 2. Security Audit (review access patterns, check "
           "for unusual DNS resolution requests)", 0.01, "share"),
    Expectation("test_review_compatibility_date", "wrangler-config",
           "the wrangler configuration's compatibility_date is at most {threshold} old "
           "(opt-in: --review)",
           f"{DOC} › Weekly › Every Friday › 1. System Optimization (update compatibility "
           "dates if needed)", 180.0, "days"),
    Expectation("test_review_cpu_time", "graphql",
           "CPU time p99 of the last 7 days under the plan's limit (--cpu-limit-ms) and p50/p99 "
           "at most {threshold} above the 7 days before; exceededResources reported "
           "(opt-in: --review)",
           f"{DOC} › Weekly › Every Friday › 1. System Optimization (memory or CPU "
           f"optimizations); {DOC} › Performance Optimization › Monthly Review Items › "
           "1. Worker Performance", 0.2, "share"),
    Expectation("test_error_rate_real_traffic", "graphql",
           "invocation errors / requests of real traffic over the history window < {threshold}, "
           "from Cloudflare's GraphQL Analytics (opt-in: --review)", _ERROR_RATES, 0.001,
           "share"),
)

#: Error-rate checks judged on Cloudflare's count of real invocations, not on our samples (their
#: rows count no `FailureKind`): they are not counted in the split of the false-alarm budget.
REAL_TRAFFIC_CHECKS = frozenset(t.check for t in EXPECTATIONS
                                if t.area == "error_rate" and t.failure is None)


def fail_alpha(false_alarm_budget: float) -> float:
    """Each error-rate check's chance of failing a healthy target.

    The run's budget (default 0.1%: "a healthy target raises no error-rate failure in at least
    99.9% of runs") is split evenly over the error-rate checks (Bonferroni), so that the chance
    that *any* of them fails a healthy target stays within it.

    The split is over the rows judged on our samples (those that count a `FailureKind`). The
    opt-in real-traffic check (`REAL_TRAFFIC_CHECKS`, run with --review and Cloudflare
    credentials) uses the same per-check alpha without changing it: a run that includes it may
    false-alarm with up to (n + 1) / n of the budget; its verdicts rest on millions of
    invocations, where the bound is far from the line either way.
    """
    return false_alarm_budget / sum(1 for t in EXPECTATIONS if t.failure is not None)


def expectations_for(check: str) -> list[Expectation]:
    """Every row enforced by the check function `check`."""
    rows = [t for t in EXPECTATIONS if t.check == check]
    if not rows:
        raise LookupError(f"no target rows for {check}")
    return rows


def params(check: str) -> list[Any]:
    """pytest parameters for `check`: one per row, with the subject as the readable id."""
    return [pytest.param(t, id=t.subject) for t in expectations_for(check)]


def markdown_table() -> str:
    """The README's table of targets, rendered from EXPECTATIONS."""
    lines = [
        "| check | subject | target | source |",
        "|---|---|---|---|",
    ]
    for t in EXPECTATIONS:
        lines.append(f"| `{t.check}` | `{t.subject}` | {t.statement} | {t.source} |")
    return "\n".join(lines) + "\n"
