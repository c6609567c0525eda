"""Latency: a percentile of each endpoint's response times within its documented budget.

Each endpoint is sampled as one sequential stream on its own connection, warm-up first; the
selected endpoints' streams run side by side, taken when the first latency check runs, and each
stops as soon as its verdict is certain ("decided after 6 of 100 samples": `synthetics.streams`,
`synthetics.latency.decided`). The percentile is computed over the endpoint's real answers only
(a 503 or a redirect ranks above every 2xx answer: `synthetics.latency`). The probe's timings
are handed to pytest-benchmark, so the figures land in the benchmark JSON.
"""

import pytest

from synthetics import expect
from synthetics.expectations import Expectation, params
from synthetics.latency import summarize
from synthetics.probe import Probe
from synthetics.settings import Settings
from synthetics.streams import LatencyStreams, save_timings

pytestmark = pytest.mark.latency


@pytest.mark.parametrize("expectation", params("test_latency_within_budget"))
def test_latency_within_budget(
    expectation: Expectation, probe: Probe, latency_streams: LatencyStreams, benchmark,
    synthetics_settings: Settings, record_verdict, record_latency,
) -> None:
    s = synthetics_settings
    stream = latency_streams.take(expectation)
    # Recorded here, not while timing: the session log's listeners (history) write to disk, and
    # that time is not the worker's.
    for sample in stream.samples:
        probe.log.add(sample)
    timed = stream.timed
    save_timings(benchmark, [sample.phases.total or 0.0 for sample in timed])
    result = summarize(timed, None, s.latency_percentile, expectation.threshold,
                       planned=s.latency_samples)
    benchmark.extra_info.update(result.extra_info())
    record_latency(timed, None, result)
    record_verdict(measured=result.measured(), threshold=f"< {expectation.threshold_text}",
                   verdict="pass" if result.ok else "fail", detail=result.describe())
    if not result.ok:
        expect.fail(f"{stream.plan.request.describe()}: {result.describe()}")
