"""The one table of targets: every documented expectation, written once, as data.

Each row names the check function that enforces it, the subject it is parametrized over (an
endpoint or a domain: that becomes the pytest id, `test_latency_within_budget[health]`), the
threshold, and where in the operators' maintenance document (or the worker's contract) it comes
from. The checks in `checks/` are parametrized from `params()`, the README's table is rendered by
`markdown_table()`, and a test keeps the two in step. Changing a threshold is one edit here;
adding an MCP domain is one line in `MCP_DOMAINS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from synthetics.probe import Request

#: The production configuration (`[env.production]` vars of wrangler-production-simple.toml).
AGENT_CAPACITY = 20_000_000
SECTORS = 200
#: The MCP domains the document tests in "DNS Resolution Issues › Diagnostic Steps".
MCP_DOMAINS: tuple[str, ...] = ("mcp.aipub.2100.cool", "mcp.asoos.2100.cool")
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


@dataclass(frozen=True)
class Expectation:
    """One documented expectation on one subject."""

    check: str  # the test function that enforces it
    subject: str  # endpoint or domain: the pytest parameter id
    statement: str  # what must hold, in words
    source: str  # where it is documented
    threshold: float | None = None  # the number, in `unit`, where there is one
    unit: str = ""

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
_SAMPLED = ("health", "orchestrate", "dns")
_CONTRACT_ENV = ("worker-contract.md › Configuration (ENVIRONMENT; a deploy without "
                 "--env production drops it)")
_FRESH = "worker-contract.md › Endpoints (timestamp); a cached or frozen answer is stale"
_CORS_ENDPOINTS = ("health", "orchestrate", "dns", "dashboard")

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
        for name in _CORS_ENDPOINTS
    ),
    *(
        Expectation("test_cors_preflight", name,
               "OPTIONS preflight is 2xx, admits the origin without the credentials risk; "
               "allow-methods includes GET; allow-headers and "
               "max-age present", _CORS)
        for name in _SAMPLED
    ),
    Expectation("test_latency_within_budget", "health",
                "latency percentile of 2xx answers < 200 ms",
           _RESPONSE_TIMES, 200.0, "ms"),
    Expectation("test_latency_within_budget", "orchestrate",
           "latency percentile of 2xx answers < 500 ms",
           _RESPONSE_TIMES, 500.0, "ms"),
    Expectation("test_latency_within_budget", "dns", "latency percentile of 2xx answers < 100 ms",
           _RESPONSE_TIMES, 100.0, "ms"),
    *(
        Expectation("test_error_rate_5xx", name, "HTTP 5xx responses < 0.1%", _ERROR_RATES,
                    0.1, "%")
        for name in _SAMPLED
    ),
    *(
        Expectation("test_error_rate_timeouts", name, "timeouts < 0.05%", _ERROR_RATES, 0.05, "%")
        for name in _SAMPLED
    ),
    *(
        Expectation("test_error_rate_dns_failures", domain, "DNS resolution failures < 0.01%",
               _ERROR_RATES, 0.01, "%")
        for domain in MCP_DOMAINS
    ),
    Expectation("test_capacity_registration_success", "register",
           "agent registration success > 99% (opt-in: --register-agents)", _CAPACITY, 99.0, "%"),
    Expectation("test_capacity_sector_balance", "dns",
           "sector distribution imbalance < 5% (CV of shares, chi-square test)", _CAPACITY,
           5.0, "%"),
    Expectation("test_capacity_memory", "memory",
           "memory usage < 80% of allocated (needs --memory-field)", _CAPACITY, 80.0, "%"),
    Expectation("test_tls_certificate", "certificate",
           "an https target's certificate verifies for its host and stays valid for at least "
           "14 more days (--tls-min-days; skipped for http)",
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
           "agent: DNS-resolve requests for domains outside the MCP domains <= 1%, requests "
           "off the routes <= 5% (opt-in: --review)",
           f"{DOC} › Weekly › Every Monday › 2. Security Audit (review access patterns, check "
           "for unusual DNS resolution requests)", 1.0, "%"),
    Expectation("test_review_compatibility_date", "wrangler-config",
           "the wrangler configuration's compatibility_date is at most 180 days old "
           "(opt-in: --review)",
           f"{DOC} › Weekly › Every Friday › 1. System Optimization (update compatibility "
           "dates if needed)", 180.0, "days"),
    Expectation("test_review_cpu_time", "graphql",
           "CPU time p99 of the last 7 days under the plan's limit (--cpu-limit-ms) and p50/p99 "
           "at most 20% above the 7 days before; exceededResources reported (opt-in: --review)",
           f"{DOC} › Weekly › Every Friday › 1. System Optimization (memory or CPU "
           f"optimizations); {DOC} › Performance Optimization › Monthly Review Items › "
           "1. Worker Performance", 20.0, "%"),
    Expectation("test_error_rate_real_traffic", "graphql",
           "invocation errors / requests of real traffic over the history window < 0.1%, "
           "from Cloudflare's GraphQL Analytics (opt-in: --review)", _ERROR_RATES, 0.1, "%"),
)

#: Error-rate checks judged on Cloudflare's count of real invocations, not on our samples:
#: they are not counted in the split of the false-alarm budget (synthetics.rates.fail_alpha).
REAL_TRAFFIC_CHECKS = frozenset({"test_error_rate_real_traffic"})


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
