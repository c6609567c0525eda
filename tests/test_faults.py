"""Every check can fail: each named fault of the reference worker fails exactly the checks of the
target it violates, and every unrelated check stays green.

Each case runs checks/ in a pytest subprocess against a reference worker with one fault, the way
a user points --target at a broken server. `must` are the checks that have to fail; `may` are
checks of the same target that may or may not notice (e.g. a 3% 5xx burst may or may not hit the
one request of a functional check); everything else must pass or be skipped. `reasons` maps a
must-fail check to a keyword of the target it violates, which its failure message has to carry
(case-insensitively): a check that fails for another reason than the fault's is not caught.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from synthetics.reference import FAULTS

DOMAINS = ("mcp.aipub.2100.cool", "mcp.asoos.2100.cool")
HEALTH = {"test_health_reports_healthy[health]", "test_health_reports_capacity[health]",
          "test_health_reports_environment[health]", "test_health_timestamp_fresh[health]"}
ORCH = {"test_orchestration_operational[orchestrate]", "test_orchestration_capacity[orchestrate]",
        "test_orchestration_environment[orchestrate]",
        "test_orchestration_timestamp_fresh[orchestrate]"}
DNS_FRESH = "test_dns_timestamp_fresh[dns]"
DNS_RESOLVES = {f"test_dns_resolves[{d}]" for d in DOMAINS}
DNS_FAILURES = {f"test_error_rate_dns_failures[{d}]" for d in DOMAINS}
ALLOW_ORIGIN = {f"test_cors_allow_origin[{e}]" for e in ("health", "orchestrate", "dns",
                                                          "dashboard")}
PREFLIGHT = {f"test_cors_preflight[{e}]" for e in ("health", "orchestrate", "dns")}
DASHBOARD = {"test_dashboard_head[dashboard]", "test_dashboard_page[dashboard]"}
BALANCE = "test_capacity_sector_balance[dns]"
# Faults that slow every sample are judged with fewer error-rate samples: they only need latency.
FAST = ("--error-samples", "60")
# Hostile faults cost up to one timeout per failed request until a breaker trips: short ones.
HOSTILE = ("--request-timeout", "0.5", "--error-samples", "30", "--latency-samples", "10")

# A Cloudflare error answer on /health: every check of /health fails, and its 5xx rate for 5xx.
CF_HEALTH = HEALTH | {"test_cors_allow_origin[health]", "test_latency_within_budget[health]"}
CF_5XX = {"test_error_rate_5xx[health]"}
CF_ARGS = ("--error-samples", "60", "--latency-samples", "10")


@dataclass
class Case:
    fault: str
    must: set[str]
    may: set[str] = field(default_factory=set)
    args: tuple[str, ...] = ()
    reasons: dict[str, str] = field(default_factory=dict)  # check -> keyword of its failure


def why(checks: set[str] | str, keyword: str) -> dict[str, str]:
    """`reasons` for every check in `checks`: each failure message must name `keyword`."""
    return {c: keyword for c in ({checks} if isinstance(checks, str) else checks)}


CASES = [
    Case("health_degraded", {"test_health_reports_healthy[health]"},
         reasons=why("test_health_reports_healthy[health]", "healthy")),
    Case("wrong_capacity", {"test_health_reports_capacity[health]",
                            "test_orchestration_capacity[orchestrate]"},
         reasons={"test_health_reports_capacity[health]": "agentCapacity",
                  "test_orchestration_capacity[orchestrate]": "totalAgents"}),
    Case("wrong_sectors", {"test_health_reports_capacity[health]",
                           "test_orchestration_capacity[orchestrate]"},
         reasons={"test_health_reports_capacity[health]": "sectors",
                  "test_orchestration_capacity[orchestrate]": "activeSectors"}),
    Case("healing_disabled", {"test_orchestration_operational[orchestrate]"},
         reasons=why("test_orchestration_operational[orchestrate]", "healingMode")),
    Case("orchestration_degraded", {"test_orchestration_operational[orchestrate]"},
         reasons=why("test_orchestration_operational[orchestrate]", "operational")),
    Case("html_instead_of_json", ORCH, reasons=why(ORCH, "application/json")),
    Case("broken_json", HEALTH, reasons=why(HEALTH, "JSON")),
    # Oversized bodies trip the endpoint's breaker: a later CORS request to it is abandoned.
    Case("huge_body", ORCH | {"test_latency_within_budget[orchestrate]"},
         may={"test_cors_allow_origin[orchestrate]"}, args=FAST,
         reasons=why(ORCH | {"test_latency_within_budget[orchestrate]"}, "bytes")),
    Case("redirect", HEALTH | {"test_latency_within_budget[health]"},
         reasons=why(HEALTH | {"test_latency_within_budget[health]"}, "redirect")),
    Case("hang", HEALTH | {"test_cors_allow_origin[health]", "test_latency_within_budget[health]",
                           "test_error_rate_timeouts[health]"},
         reasons=why(HEALTH | {"test_cors_allow_origin[health]",
                               "test_latency_within_budget[health]"}, "timed out")
         | why("test_error_rate_timeouts[health]", "timeouts")),
    Case("reset", DNS_RESOLVES | DNS_FAILURES | {
        "test_dns_requires_domain[missing-domain]", DNS_FRESH, "test_cors_allow_origin[dns]",
        "test_latency_within_budget[dns]", BALANCE},
         reasons=why(DNS_RESOLVES | {"test_dns_requires_domain[missing-domain]", DNS_FRESH,
                                     "test_cors_allow_origin[dns]",
                                     "test_latency_within_budget[dns]"}, "connection")
         | why(DNS_FAILURES, "DNS resolution failures") | why(BALANCE, "sector")),
    Case("slow_health", {"test_latency_within_budget[health]"}, args=FAST,
         reasons=why("test_latency_within_budget[health]", "p95")),
    Case("slow_orchestrate", {"test_latency_within_budget[orchestrate]"},
         args=(*FAST, "--latency-samples", "20"),
         reasons=why("test_latency_within_budget[orchestrate]", "p95")),
    Case("slow_dns", {"test_latency_within_budget[dns]"}, args=FAST,
         reasons=why("test_latency_within_budget[dns]", "p95")),
    Case("unresolved_domain", {"test_dns_resolves[mcp.asoos.2100.cool]",
                               "test_error_rate_dns_failures[mcp.asoos.2100.cool]"},
         reasons={"test_dns_resolves[mcp.asoos.2100.cool]": "resolved",
                  "test_error_rate_dns_failures[mcp.asoos.2100.cool]":
                      "DNS resolution failures"}),
    Case("bad_ip", DNS_RESOLVES | DNS_FAILURES,
         reasons=why(DNS_RESOLVES, "IPv4") | why(DNS_FAILURES, "DNS resolution failures")),
    Case("sector_out_of_range", DNS_RESOLVES | {BALANCE},
         reasons=why(DNS_RESOLVES, "sector") | why(BALANCE, "outside")),
    Case("sector_skew", {BALANCE}, reasons=why(BALANCE, "tolerance")),
    Case("dns_missing_domain_500", {"test_dns_requires_domain[missing-domain]"},
         reasons=why("test_dns_requires_domain[missing-domain]", "5xx")),
    Case("burst_5xx", {"test_error_rate_5xx[orchestrate]"}, may=ORCH,
         reasons=why("test_error_rate_5xx[orchestrate]", "5xx")),
    Case("timeouts", {"test_error_rate_timeouts[dns]"} | DNS_FAILURES,
         may=DNS_RESOLVES | {"test_dns_requires_domain[missing-domain]", DNS_FRESH,
                             "test_cors_allow_origin[dns]", "test_cors_preflight[dns]"},
         args=("--request-timeout", "1"),
         reasons=why("test_error_rate_timeouts[dns]", "timeouts")
         | why(DNS_FAILURES, "DNS resolution failures")),
    Case("missing_cors_header", ALLOW_ORIGIN | PREFLIGHT,
         reasons=why(ALLOW_ORIGIN | PREFLIGHT, "Access-Control-Allow-Origin")),
    Case("broken_preflight", PREFLIGHT, reasons=why(PREFLIGHT, "preflight")),
    Case("dashboard_down", DASHBOARD, reasons=why(DASHBOARD, "HTTP 503")),
    Case("dashboard_untitled", {"test_dashboard_page[dashboard]"},
         reasons=why("test_dashboard_page[dashboard]", "title")),
    Case("registration_failing", {"test_capacity_registration_success[register]"},
         args=("--register-agents",),
         reasons=why("test_capacity_registration_success[register]", "registration")),
    Case("memory", {"test_capacity_memory[memory]"}, args=("--memory-field",
                                                            "health:memoryUsagePercent"),
         reasons=why("test_capacity_memory[memory]", "memory")),
    # A fast 503 is not a fast answer: latency is timed on 2xx answers only.
    Case("orchestrate_unavailable", ORCH | {"test_latency_within_budget[orchestrate]",
                                            "test_error_rate_5xx[orchestrate]"},
         reasons=why(ORCH | {"test_latency_within_budget[orchestrate]"}, "HTTP 503")
         | why("test_error_rate_5xx[orchestrate]", "5xx")),
    Case("reflected_credentials", ALLOW_ORIGIN | PREFLIGHT,
         reasons=why(ALLOW_ORIGIN | PREFLIGHT, "Access-Control-Allow-Credentials")),
    Case("no_environment", {"test_health_reports_environment[health]",
                            "test_orchestration_environment[orchestrate]",
                            "test_orchestration_operational[orchestrate]"},
         reasons=why({"test_health_reports_environment[health]",
                      "test_orchestration_environment[orchestrate]"}, "environment")
         | why("test_orchestration_operational[orchestrate]", "healingMode")),
    Case("stale_timestamp", {"test_health_timestamp_fresh[health]",
                             "test_orchestration_timestamp_fresh[orchestrate]",
                             "test_dns_timestamp_fresh[dns]"},
         reasons=why({"test_health_timestamp_fresh[health]",
                      "test_orchestration_timestamp_fresh[orchestrate]",
                      "test_dns_timestamp_fresh[dns]"}, "behind the probe's clock")),
    # Hostile targets: each is held to the one wall-clock deadline and the breakers, and run
    # with short timeouts; tests/test_hostile.py runs one of them with every default.
    Case("slow_headers", HEALTH | {"test_cors_allow_origin[health]",
                                   "test_latency_within_budget[health]",
                                   "test_error_rate_timeouts[health]"}, args=HOSTILE,
         reasons=why(HEALTH | {"test_cors_allow_origin[health]",
                               "test_latency_within_budget[health]"}, "timed out")
         | why("test_error_rate_timeouts[health]", "timeouts")),
    Case("trickle_body", ORCH | {"test_latency_within_budget[orchestrate]",
                                 "test_error_rate_timeouts[orchestrate]"},
         may={"test_cors_allow_origin[orchestrate]"}, args=HOSTILE,
         reasons=why(ORCH | {"test_latency_within_budget[orchestrate]"}, "timed out")
         | why("test_error_rate_timeouts[orchestrate]", "timeouts")),
    Case("endless_chunked", DNS_RESOLVES | DNS_FAILURES | {
        "test_dns_requires_domain[missing-domain]", "test_latency_within_budget[dns]",
        "test_error_rate_timeouts[dns]", BALANCE, DNS_FRESH}, may={"test_cors_allow_origin[dns]"},
         args=HOSTILE,
         reasons=why(DNS_RESOLVES | {"test_dns_requires_domain[missing-domain]", DNS_FRESH,
                                     "test_latency_within_budget[dns]"}, "timed out")
         | why(DNS_FAILURES, "DNS resolution failures") | why(BALANCE, "sector")
         | why("test_error_rate_timeouts[dns]", "timeouts")),
    Case("deep_json", HEALTH, args=HOSTILE, reasons=why(HEALTH, "nest")),
    Case("nan_json", HEALTH, args=HOSTILE, reasons=why(HEALTH, "NaN")),
    Case("utf16_json", HEALTH, args=HOSTILE, reasons=why(HEALTH, "not UTF-8")),
    # Only one /health request in ten is slow: the p95 is over budget while the median is not,
    # so a latency check judged at the wrong percentile passes it.
    Case("slow_tail", {"test_latency_within_budget[health]"},
         args=(*FAST, "--latency-samples", "20"),
         reasons=why("test_latency_within_budget[health]", "p95")),
    # A 302 is not the dashboard: each check must say it was a redirect, not pass it.
    Case("dashboard_redirect", DASHBOARD, may={"test_cors_allow_origin[dashboard]"},
         reasons=why(DASHBOARD, "redirect")),
    # Cloudflare's error answers on /health (synthetics.attribution); test_cloudflare_faults.py
    # checks that each reason names the class, the code and the ray id.
    *[Case(fault, CF_HEALTH | extra, may={"test_cors_preflight[health]"}, args=CF_ARGS)
      for fault, extra in (("cf_1101", CF_5XX), ("cf_1102", CF_5XX), ("cf_1015", set()),
                           ("cf_1027", set()), ("cf_522", CF_5XX), ("cf_no_ray", CF_5XX))],
]


def test_every_fault_has_a_case() -> None:
    # delay: a healthy but remote-like worker; burst_429: 4xx that no 5xx check may count;
    # cloudflare_like: healthy answers with cf-ray (tests/test_cloudflare_faults.py runs it).
    covered = {c.fault for c in CASES} | {"delay", "burst_429", "cloudflare_like"}
    assert covered == set(FAULTS)


def test_healthy_reference_worker_passes_everything(run_checks, reference_worker) -> None:
    worker = reference_worker()
    run = run_checks(f"--target={worker.url}")
    assert run.ret == 0, run.stdout
    assert run.ids("failed") == set() and run.ids("error") == set()
    # nothing for a user to wonder about (httpcore, which imports anyio, loads after pytest's
    # plugins: an early import made pytest warn that anyio's plugin cannot be rewritten)
    assert "warnings summary" not in run.stdout, run.stdout[-2000:]
    assert run.ids("skipped") == {"test_capacity_registration_success[register]",
                                  "test_capacity_memory[memory]",
                                  # the evening review is opt-in (--review): tests/test_review.py
                                  "test_review_whoami[whoami]", "test_review_tail[tail]",
                                  "test_review_deployments[deployments]",
                                  # http: no certificate to check (tests/test_tls.py)
                                  "test_tls_certificate[certificate]",
                                  # so are the weekly/monthly reviews: test_review_cloudflare.py
                                  "test_review_access_patterns[tail]",
                                  "test_review_compatibility_date[wrangler-config]",
                                  "test_review_cpu_time[graphql]",
                                  "test_error_rate_real_traffic[graphql]"}
    assert len(run.ids("passed")) >= 33


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.fault)
def test_fault_fails_only_its_target(case: Case, run_checks, reference_worker) -> None:
    worker = reference_worker(case.fault)
    run = run_checks(f"--target={worker.url}", *case.args)
    failed = run.ids("failed")
    assert run.ids("error") == set(), run.stdout[-3000:]
    assert case.must <= failed, f"should fail: {case.must - failed}\n{run.stdout[-3000:]}"
    assert failed <= case.must | case.may, f"unrelated failures: {failed - case.must - case.may}"
    assert run.ret == 1
    for check in case.must:
        message = run.messages[check]
        assert message and "\n" not in message.strip(), f"{check}: not one line: {message!r}"
        assert "Traceback" not in message
    for check, keyword in case.reasons.items():
        message = run.messages.get(check, "")
        assert keyword.lower() in message.lower(), \
            f"{check} failed without naming {keyword!r}: {message!r}"


def test_remote_like_worker_passes(run_checks, reference_worker) -> None:
    worker = reference_worker("delay=30")
    run = run_checks(f"--target={worker.url}", "--latency-samples", "30")
    assert run.ret == 0, run.stdout[-3000:]


def test_memory_check_passes_when_reported_low(run_checks, reference_worker) -> None:
    worker = reference_worker("memory=40")
    run = run_checks(f"--target={worker.url}", "--memory-field", "health:memoryUsagePercent",
                     "-m", "capacity")
    assert run.outcomes["test_capacity_memory[memory]"] == "passed"


def test_registration_passes_on_a_healthy_worker(run_checks, reference_worker) -> None:
    worker = reference_worker()
    run = run_checks(f"--target={worker.url}", "--register-agents", "-m", "write")
    assert run.outcomes == {"test_capacity_registration_success[register]": "passed"}


def test_checks_run_under_xdist(run_checks, reference_worker) -> None:
    """With -n the latency checks time their own samples (pytest-benchmark turns itself off)."""
    worker = reference_worker()
    run = run_checks(f"--target={worker.url}", "-n", "2", "--latency-samples", "30")
    assert run.ret == 0, run.stdout[-3000:]
    assert run.outcomes["test_latency_within_budget[health]"] == "passed"
    assert len(run.ids("passed")) >= 28


def test_latency_fails_when_every_endpoint_answers_but_none_answers_well(
        run_checks, reference_worker) -> None:
    """`-m latency` against a worker whose /health answers only fast redirects and whose
    /mcp/orchestrate answers only fast 503s fails both, each saying why (both passed on these
    fast non-answers before); the healthy DNS endpoint's latency check stays green."""
    worker = reference_worker("redirect,orchestrate_unavailable")
    run = run_checks(f"--target={worker.url}", "-m", "latency", "--latency-samples", "20")
    assert run.ret == 1, run.stdout[-3000:]
    assert run.ids("failed") == {"test_latency_within_budget[health]",
                                 "test_latency_within_budget[orchestrate]"}
    assert run.outcomes["test_latency_within_budget[dns]"] == "passed"
    assert "HTTP 302 redirect" in run.messages["test_latency_within_budget[health]"]
    assert "HTTP 503" in run.messages["test_latency_within_budget[orchestrate]"]


def test_reflected_origin_with_credentials_names_the_risk(run_checks, reference_worker) -> None:
    worker = reference_worker("reflected_credentials")
    run = run_checks(f"--target={worker.url}", "-m", "cors")
    assert run.ret == 1
    for check in ALLOW_ORIGIN | PREFLIGHT:
        message = run.messages[check]
        assert "Access-Control-Allow-Credentials: true" in message, message
        assert "credentials misconfiguration" in message and "reflection" in message


def test_tail_latency_is_judged_at_the_configured_percentile(run_checks,
                                                            reference_worker) -> None:
    """One /health request in ten is slow: p90 (configured) is within budget, p99 is not."""
    worker = reference_worker("slow_tail")
    args = (f"--target={worker.url}", "-m", "latency", "--latency-samples", "20")
    p90 = run_checks(*args, "--latency-percentile", "90")
    assert p90.outcomes["test_latency_within_budget[health]"] == "passed", p90.stdout[-3000:]
    p99 = run_checks(*args, "--latency-percentile", "99")
    assert p99.outcomes["test_latency_within_budget[health]"] == "failed", p99.stdout[-3000:]
    assert "p99" in p99.messages["test_latency_within_budget[health]"]


def test_a_429_burst_is_not_a_5xx(run_checks, reference_worker) -> None:
    """10% of /mcp/orchestrate answers are 429: client errors, which the 5xx target ignores."""
    worker = reference_worker("burst_429=10")
    run = run_checks(f"--target={worker.url}", "-m", "error_rate", "--error-samples", "100")
    assert run.ids("failed") == set(), run.stdout[-3000:]
    assert run.outcomes["test_error_rate_5xx[orchestrate]"] == "passed"
