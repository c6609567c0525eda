"""Every check can fail: each named fault of the reference worker fails exactly the checks of the
target it violates, and every unrelated check stays green.

Each case runs checks/ in a pytest subprocess against a reference worker with one fault, the way
a user points --target at a broken server. `must` are the checks that have to fail; `may` are
checks of the same target that may or may not notice (e.g. a 3% 5xx burst may or may not hit the
one request of a functional check); everything else must pass or be skipped.
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


CASES = [
    Case("health_degraded", {"test_health_reports_healthy[health]"}),
    Case("wrong_capacity", {"test_health_reports_capacity[health]",
                            "test_orchestration_capacity[orchestrate]"}),
    Case("wrong_sectors", {"test_health_reports_capacity[health]",
                           "test_orchestration_capacity[orchestrate]"}),
    Case("healing_disabled", {"test_orchestration_operational[orchestrate]"}),
    Case("orchestration_degraded", {"test_orchestration_operational[orchestrate]"}),
    Case("html_instead_of_json", ORCH),
    Case("broken_json", HEALTH),
    # Oversized bodies trip the endpoint's breaker: a later CORS request to it is abandoned.
    Case("huge_body", ORCH | {"test_latency_within_budget[orchestrate]"},
         may={"test_cors_allow_origin[orchestrate]"}, args=FAST),
    Case("redirect", HEALTH | {"test_latency_within_budget[health]"}),
    Case("hang", HEALTH | {"test_cors_allow_origin[health]", "test_latency_within_budget[health]",
                           "test_error_rate_timeouts[health]"}),
    Case("reset", DNS_RESOLVES | DNS_FAILURES | {
        "test_dns_requires_domain[missing-domain]", DNS_FRESH, "test_cors_allow_origin[dns]",
        "test_latency_within_budget[dns]", BALANCE}),
    Case("slow_health", {"test_latency_within_budget[health]"}, args=FAST),
    Case("slow_orchestrate", {"test_latency_within_budget[orchestrate]"},
         args=(*FAST, "--latency-samples", "20")),
    Case("slow_dns", {"test_latency_within_budget[dns]"}, args=FAST),
    Case("unresolved_domain", {"test_dns_resolves[mcp.asoos.2100.cool]",
                               "test_error_rate_dns_failures[mcp.asoos.2100.cool]"}),
    Case("bad_ip", DNS_RESOLVES | DNS_FAILURES),
    Case("sector_out_of_range", DNS_RESOLVES | {BALANCE}),
    Case("sector_skew", {BALANCE}),
    Case("dns_missing_domain_500", {"test_dns_requires_domain[missing-domain]"}),
    Case("burst_5xx", {"test_error_rate_5xx[orchestrate]"}, may=ORCH),
    Case("timeouts", {"test_error_rate_timeouts[dns]"} | DNS_FAILURES,
         may=DNS_RESOLVES | {"test_dns_requires_domain[missing-domain]", DNS_FRESH,
                             "test_cors_allow_origin[dns]", "test_cors_preflight[dns]"},
         args=("--request-timeout", "1")),
    Case("missing_cors_header", ALLOW_ORIGIN | PREFLIGHT),
    Case("broken_preflight", PREFLIGHT),
    Case("dashboard_down", DASHBOARD),
    Case("dashboard_untitled", {"test_dashboard_page[dashboard]"}),
    Case("registration_failing", {"test_capacity_registration_success[register]"},
         args=("--register-agents",)),
    Case("memory", {"test_capacity_memory[memory]"}, args=("--memory-field",
                                                            "health:memoryUsagePercent")),
    # A fast 503 is not a fast answer: latency is timed on 2xx answers only.
    Case("orchestrate_unavailable", ORCH | {"test_latency_within_budget[orchestrate]",
                                            "test_error_rate_5xx[orchestrate]"}),
    Case("reflected_credentials", ALLOW_ORIGIN | PREFLIGHT),
    Case("no_environment", {"test_health_reports_environment[health]",
                            "test_orchestration_environment[orchestrate]",
                            "test_orchestration_operational[orchestrate]"}),
    Case("stale_timestamp", {"test_health_timestamp_fresh[health]",
                             "test_orchestration_timestamp_fresh[orchestrate]",
                             "test_dns_timestamp_fresh[dns]"}),
    # Hostile targets: each is held to the one wall-clock deadline and the breakers, and run
    # with short timeouts; tests/test_hostile.py runs one of them with every default.
    Case("slow_headers", HEALTH | {"test_cors_allow_origin[health]",
                                   "test_latency_within_budget[health]",
                                   "test_error_rate_timeouts[health]"}, args=HOSTILE),
    Case("trickle_body", ORCH | {"test_latency_within_budget[orchestrate]",
                                 "test_error_rate_timeouts[orchestrate]"},
         may={"test_cors_allow_origin[orchestrate]"}, args=HOSTILE),
    Case("endless_chunked", DNS_RESOLVES | DNS_FAILURES | {
        "test_dns_requires_domain[missing-domain]", "test_latency_within_budget[dns]",
        "test_error_rate_timeouts[dns]", BALANCE, DNS_FRESH}, may={"test_cors_allow_origin[dns]"},
         args=HOSTILE),
    Case("deep_json", HEALTH, args=HOSTILE),
    Case("nan_json", HEALTH, args=HOSTILE),
    Case("utf16_json", HEALTH, args=HOSTILE),
    # Cloudflare's error answers on /health (synthetics.attribution); test_cloudflare_faults.py
    # checks that each reason names the class, the code and the ray id.
    *[Case(fault, CF_HEALTH | extra, may={"test_cors_preflight[health]"}, args=CF_ARGS)
      for fault, extra in (("cf_1101", CF_5XX), ("cf_1102", CF_5XX), ("cf_1015", set()),
                           ("cf_1027", set()), ("cf_522", CF_5XX), ("cf_no_ray", CF_5XX))],
]


def test_every_fault_has_a_case() -> None:
    # delay: a healthy but remote-like worker; cloudflare_like: healthy answers with cf-ray
    # (tests/test_cloudflare_faults.py runs it)
    covered = {c.fault for c in CASES} | {"delay", "cloudflare_like"}
    assert covered == set(FAULTS)


def test_healthy_reference_worker_passes_everything(run_checks, reference_worker) -> None:
    worker = reference_worker()
    run = run_checks(f"--target={worker.url}")
    assert run.ret == 0, run.stdout
    assert run.ids("failed") == set() and run.ids("error") == set()
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
