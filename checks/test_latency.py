"""Latency: a percentile of each endpoint's response times within its documented budget.

Samples are taken with pytest-benchmark (`benchmark.pedantic`, warm-up first) so the figures land
in the benchmark JSON; the percentile is computed from its raw data, over the endpoint's real
answers only (a 503 or a redirect ranks above every 2xx answer: `synthetics.latency`). When
pytest-benchmark is disabled (under xdist, or with --benchmark-disable) the same samples are
timed by the probe.
"""

import pytest

from synthetics import expect
from synthetics.expectations import ENDPOINTS, Expectation, params
from synthetics.latency import summarize
from synthetics.probe import Probe, Sample
from synthetics.settings import Settings

pytestmark = pytest.mark.latency


@pytest.mark.parametrize("expectation", params("test_latency_within_budget"))
def test_latency_within_budget(
    expectation: Expectation, probe: Probe, benchmark, synthetics_settings: Settings,
    record_verdict,
    record_latency,
) -> None:
    s = synthetics_settings
    request = ENDPOINTS[expectation.subject].request()
    samples: list[Sample] = []

    def sample_once() -> Sample:
        # Not recorded inside the timed call: the session log's listeners (history) write to
        # disk, and that time is not the worker's. Recorded below, once timing is done.
        sample = probe.request(request, record=False)
        samples.append(sample)
        return sample

    benchmark.pedantic(sample_once, rounds=s.latency_samples, warmup_rounds=s.latency_warmup,
                       iterations=1)
    stats = getattr(benchmark, "stats", None)
    if stats is None:  # benchmark disabled: it ran once; take the rest ourselves
        while len(samples) < s.latency_samples:
            sample_once()
        times = None
    else:
        times = list(stats.stats.data)
    for sample in samples:
        probe.log.add(sample)
    timed = samples[-s.latency_samples:]
    result = summarize(timed, times, s.latency_percentile, expectation.threshold)
    benchmark.extra_info.update(result.extra_info())
    record_latency(timed, times, result)
    measured = (f"p{s.latency_percentile:g} {result.value_ms:.1f} ms"
                if result.value_ms is not None
                else f"{result.failed} of {result.samples} not a 2xx answer")
    record_verdict(measured=measured, threshold=f"< {expectation.threshold_text}",
                   verdict="pass" if result.ok else "fail", detail=result.describe())
    if not result.ok:
        expect.fail(f"{request.describe()}: {result.describe()}")
