"""Capacity: agent registration success, sector balance, and memory use (Key Metrics › 2).

Registration is a write, so it runs only with --register-agents, and every agent it registers is
named `synthetic-…` and flagged synthetic. The worker exposes no memory figure, so the memory
check is skipped with that reason until --memory-field names one. Sector balance is judged over
this run and, with history on, over the long DNS window too (--dns-window-days,
`synthetics.balance`): one run's answers can show a skew but not an even spread.
"""

import math
import uuid

import pytest

from synthetics import expect
from synthetics.balance import judge_balance, sector_of
from synthetics.error_pass import ErrorRatePass
from synthetics.expectations import ENDPOINTS, Expectation, fail_alpha, params
from synthetics.probe import Probe, Request, Sample
from synthetics.settings import Settings
from synthetics.stats import judge_rate

pytestmark = pytest.mark.capacity


def _registered(sample: Sample) -> bool:
    if not sample.ok or sample.status != 200:
        return False
    try:
        doc = sample.json()
    except ValueError:
        return False
    return isinstance(doc, dict) and doc.get("success") is True


@pytest.mark.write
@pytest.mark.parametrize("expectation", params("test_capacity_registration_success"))
def test_capacity_registration_success(expectation: Expectation, probe: Probe,
                                       synthetics_settings: Settings, record_verdict) -> None:
    s = synthetics_settings
    if not s.register_agents:
        pytest.skip("agent registration writes to the worker: opt in with --register-agents")
    requests = [
        Request("register", "/mcp/agent/register", method="POST",
                headers=(("X-Synthetic-Check", "true"),),
                json_body={"agentId": f"synthetic-{uuid.uuid4()}", "synthetic": True})
        for _ in range(s.registration_samples)
    ]
    samples = probe.sample_many(requests, s.concurrency)
    failures = sum(not _registered(x) for x in samples)
    target_rate = 1 - expectation.threshold
    verdict = judge_rate(failures, len(samples), target_rate, fail_alpha(s.false_alarm_budget),
                         1 - s.pass_confidence)
    success = 1 - verdict.rate
    text = verdict.describe("registrations failed")
    record_verdict(measured=f"{success:.2%} success over {len(samples)}",
                   threshold=f"> {expectation.threshold_text}", verdict=verdict.verdict,
                   detail=text)
    if verdict.verdict == "fail":
        first = next(x.summary() for x in samples if not _registered(x))
        expect.fail(f"registration success below {expectation.threshold_text}: {text}; "
                    f"e.g. {first}")


@pytest.mark.parametrize("expectation", params("test_capacity_sector_balance"))
def test_capacity_sector_balance(expectation: Expectation, probe: Probe,
                                 error_rate_pass: ErrorRatePass, synthetics_settings: Settings,
                                 record_verdict, history_window) -> None:
    sectors = [sector for sector in map(sector_of, probe.log.for_endpoint("dns"))
               if sector is not None]
    if not sectors:
        expect.fail("no DNS-resolve sample handed out a sector to judge the balance by")
    window = None if history_window is None else history_window.sectors()
    result = judge_balance(sectors, synthetics_settings.sectors,
                           expectation.threshold, window)
    bounded = error_rate_pass.bound_note("dns")  # its DNS samples cut short: say so
    detail = result.detail + (f" ({bounded})" if bounded else "")
    record_verdict(measured=result.measured, threshold=f"< {expectation.threshold_text}",
                   verdict=result.verdict, detail=detail)
    if result.verdict == "fail":
        expect.fail(f"sector distribution: {detail}")


@pytest.mark.parametrize("expectation", params("test_capacity_memory"))
def test_capacity_memory(expectation: Expectation, probe: Probe, synthetics_settings: Settings,
                         record_verdict) -> None:
    where = synthetics_settings.memory_field
    if where is None:
        pytest.skip("the worker exposes no memory figure; pass --memory-field ENDPOINT:FIELD "
                    "(e.g. health:memoryUsagePercent) once it reports one. Cloudflare gives "
                    "no memory figure either: its only memory signal is the count of "
                    "exceededResources invocations, which test_review_cpu_time reports "
                    "(--review)")
    endpoint, _, field = where.partition(":")
    sample = expect.response(probe.request(ENDPOINTS[endpoint].request()))
    doc = expect.json_object(sample)
    value = doc.get(field)
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        expect.fail(f"{sample.request.describe()}: memory field {field!r} is {value!r}, "
                    "not a percentage")
    share = value / 100  # the field is a percentage
    record_verdict(measured=f"{value:g}%", threshold=f"< {expectation.threshold_text}",
                   verdict="pass" if share < expectation.threshold else "fail")
    if share >= expectation.threshold:
        expect.fail(f"{sample.request.describe()}: memory use {value:g}% >= "
                    f"{expectation.threshold_text} of allocated")
