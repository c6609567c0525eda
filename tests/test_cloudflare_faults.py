"""Who failed: each Cloudflare error class of the reference worker fails /health's checks with a
reason naming the class (worker, limit, edge), Cloudflare's code and the ray id (colo included);
a healthy Cloudflare-like worker passes everything. tests/test_faults.py checks that exactly the
right checks fail."""

from __future__ import annotations

import re

import pytest

HEALTH = {"test_health_reports_healthy[health]", "test_health_reports_capacity[health]",
          "test_health_reports_environment[health]", "test_health_timestamp_fresh[health]"}
CF_ARGS = ("--error-samples", "60", "--latency-samples", "10")

RAY = r"ray [0-9a-f]{16}-LHR\]"

REASONS = {
    "cf_1101": r"\[worker: Cloudflare 1101 \(Worker threw exception\), " + RAY,
    "cf_1102": r"\[worker: Cloudflare 1102 \(Worker exceeded resource limits\), " + RAY,
    "cf_1015": r"\[limit: Cloudflare 1015 \(rate limited\), " + RAY,
    "cf_1027": r"\[limit: Cloudflare 1027 \(the plan's daily request limit for Workers\), " + RAY,
    "cf_522": r"\[edge: Cloudflare 522 \(connection timed out\), " + RAY,
    "cf_no_ray": r"\[edge: not served by Cloudflare \(no cf-ray; server nginx\)\]",
}


@pytest.mark.parametrize("fault", sorted(REASONS))
def test_reason_names_class_code_and_ray(fault: str, run_checks, reference_worker) -> None:
    worker = reference_worker(fault)
    run = run_checks(f"--target={worker.url}", *CF_ARGS)
    assert run.ret == 1, run.stdout[-3000:]
    for check in HEALTH | {"test_latency_within_budget[health]"}:
        message = run.messages[check]
        assert re.search(REASONS[fault], message), f"{check}: {message!r}"
        assert "\n" not in message.strip()


def test_healthy_cloudflare_like_worker_passes(run_checks, reference_worker) -> None:
    worker = reference_worker("cloudflare_like=SJC")
    run = run_checks(f"--target={worker.url}", *CF_ARGS)
    assert run.ret == 0, run.stdout[-3000:]


def test_worker_json_5xx_is_the_workers_own(run_checks, reference_worker) -> None:
    """The worker's own JSON 503 behind Cloudflare: worker, HTTP 503, with the ray id."""
    worker = reference_worker("orchestrate_unavailable", cloudflare_like="AMS")
    run = run_checks(f"--target={worker.url}", "-m", "orchestration")
    message = run.messages["test_orchestration_operational[orchestrate]"]
    assert re.search(r"\[worker: HTTP 503, ray [0-9a-f]{16}-AMS\]", message), message
