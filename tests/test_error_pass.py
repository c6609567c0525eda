"""The curtailed error-rate pass (`synthetics.error_pass`): an endpoint's sampling stops exactly
when one of its error-rate checks is certain to fail, the verdict over the samples taken is then
the full pass's, and a healthy pass takes every sample."""

from __future__ import annotations

import functools
import re
import types
from collections.abc import Callable

import numpy as np
import pytest
from error_pass_helpers import Ticks, row
from scipy import stats as sps

from synthetics.error_pass import Bound, ErrorRatePass, check_alpha
from synthetics.expectations import ENDPOINTS, MCP_DOMAINS, dns_endpoint
from synthetics.plugin import sampled_requests
from synthetics.probe import Probe, Request, Sample
from synthetics.stats import judge_rate

PLANNED = 500  # per endpoint, the default --error-samples


def _fail_count(samples: int, target: float, alpha: float) -> int:
    """The smallest failure count at which `samples` samples fail, from scipy's binomial tail
    (not from synthetics.stats): P(Bin(samples, target) >= k) <= alpha."""
    k = 0
    while sps.binom.sf(k - 1, samples, target) > alpha:
        k += 1
    return k


@functools.cache
def _verdict(failures: int, samples: int, alpha: float) -> str:
    return judge_rate(failures, samples, 0.001, alpha, 0.05).verdict


def _health(status: int) -> Sample:
    return Sample(Request("health", "/health"), 0.0, status=status)


@pytest.mark.parametrize("with_history", [False, True])
@pytest.mark.parametrize("pattern", ["failures first", "every 40th", "failures last"])
def test_a_pass_stops_exactly_when_the_fail_verdict_is_certain(with_history: bool,
                                                               pattern: str) -> None:
    """At every prefix of the pass: /health's sampling has stopped iff its 5xx count already
    reaches the fail count of the whole pass (so the rest of the pass, even all clean, cannot
    change the verdict); then the verdict over the prefix is fail, as is the full pass's; before
    that, an all-clean rest would leave the full pass short of fail."""
    alpha = check_alpha(0.001, with_history)
    assert alpha == pytest.approx(1.25e-4 / (2 if with_history else 1))
    k = _fail_count(PLANNED, 0.001, alpha)
    assert k == 6  # P(Bin(500, 0.001) >= 6) = 1.4e-5, within either alpha
    fails_at = {"failures first": set(range(k)), "every 40th": set(range(0, 40 * k, 40)),
                "failures last": set(range(PLANNED - k, PLANNED))}[pattern]
    rate = ErrorRatePass([], sampled_requests(PLANNED), alpha)
    health = ENDPOINTS["health"].request()
    failures = 0
    for taken in range(1, PLANNED + 1):
        failures += (taken - 1) in fails_at
        rate.observe(_health(500 if (taken - 1) in fails_at else 200))
        stopped = rate.skip(health)
        assert stopped == (failures >= k), (taken, failures)
        full = _verdict(failures, PLANNED, alpha)  # the rest of the pass clean
        assert (full == "fail") == stopped, (taken, failures)
        if stopped:
            assert _verdict(failures, taken, alpha) == "fail"
            break
    assert failures == k
    assert rate.note(row("test_error_rate_5xx", "health")) == (
        f"decided after {taken} of 500 samples")
    # the other endpoints go on; the timeout check of /health says why it has fewer samples
    assert not rate.skip(ENDPOINTS["orchestrate"].request())
    assert rate.note(row("test_error_rate_5xx", "orchestrate")) is None
    assert rate.note(row("test_error_rate_timeouts", "health")) == (
        f"sampling of health stopped after {taken} of 500 samples: "
        "test_error_rate_5xx[health] was certain to fail")


def test_earlier_samples_count_towards_the_stop() -> None:
    """The checks judge every sample of the session: failures before the pass count, and so do
    the earlier samples in the total the fail count is taken at."""
    alpha = check_alpha(0.001, False)
    prior = [_health(500)] * 5 + [_health(200)] * 100
    rate = ErrorRatePass(prior, sampled_requests(PLANNED), alpha)
    assert not rate.skip(ENDPOINTS["health"].request())
    k = _fail_count(PLANNED + 105, 0.001, alpha)
    assert k == 6
    rate.observe(_health(500))
    assert rate.skip(ENDPOINTS["health"].request())
    assert rate.note(row("test_error_rate_5xx", "health")) == "decided after 106 of 605 samples"
    # already certain before the pass: nothing of the endpoint is sampled
    assert ErrorRatePass([_health(500)] * 7, sampled_requests(PLANNED), alpha).skip(
        ENDPOINTS["health"].request())


def test_a_dns_failure_stops_only_its_domain() -> None:
    alpha = check_alpha(0.001, False)
    requests = sampled_requests(PLANNED)
    first, second = MCP_DOMAINS
    k = _fail_count(PLANNED // 2, 0.0001, alpha)
    rate = ErrorRatePass([], requests, alpha)
    failed = Sample(dns_endpoint(first).request(), 0.0, error="timed out", error_kind="reset")
    for _ in range(k):
        assert not rate.skip(dns_endpoint(first).request())
        rate.observe(failed)
    assert rate.skip(dns_endpoint(first).request())
    assert not rate.skip(dns_endpoint(second).request())
    assert not rate.skip(ENDPOINTS["health"].request())
    assert rate.note(row("test_error_rate_dns_failures", first)) == (
        f"decided after {k} of 250 samples")
    assert "sampling of dns (mcp.aipub.2100.cool) stopped" in (
        rate.note(row("test_error_rate_timeouts", "dns")) or "")
    assert rate.note(row("test_error_rate_dns_failures", second)) is None


def test_stopping_early_changes_no_verdict() -> None:
    """Simulated passes at the target rate (false alarms) and at 3% (power): the verdict over
    the samples up to the stop equals the verdict over the full pass in every one."""
    alpha = check_alpha(0.001, False)
    k = _fail_count(PLANNED, 0.001, alpha)
    rng = np.random.default_rng(14)
    for rate in (0.001, 0.03):
        counts = (rng.random((2_000, PLANNED)) < rate).cumsum(axis=1)
        for run in counts:
            stop = int(np.argmax(run >= k)) + 1 if run[-1] >= k else PLANNED
            assert _verdict(int(run[stop - 1]), stop, alpha) == _verdict(int(run[-1]), PLANNED,
                                                                         alpha)


@pytest.mark.parametrize("concurrency", [1, 4])
def test_the_pass_stops_sampling_an_endpoint_that_answers_5xx(reference_worker,
                                                              concurrency: int) -> None:
    """Against a worker whose /mcp/orchestrate always answers 500, the pass stops sampling it
    after the fail count (plus what was in flight); the healthy endpoints get every sample."""
    worker = reference_worker("burst_5xx=1")
    with Probe(worker.url, timeout=2.0) as probe:
        rate = ErrorRatePass([], sampled_requests(100), check_alpha(0.001, False)).run(
            probe, concurrency)
    taken = {e: sum(s.request.endpoint == e for s in rate.samples)
             for e in ("health", "orchestrate", "dns")}
    k = _fail_count(100, 0.001, check_alpha(0.001, False))
    assert taken["health"] == taken["dns"] == 100
    assert k <= taken["orchestrate"] <= k + concurrency - 1
    assert [d.expectation for d in rate.decisions] == [row("test_error_rate_5xx", "orchestrate")]
    assert rate.note(row("test_error_rate_5xx", "orchestrate")) == (
        f"decided after {k} of 100 samples")


def test_a_healthy_pass_takes_every_sample(reference_worker) -> None:
    worker = reference_worker()
    with Probe(worker.url, timeout=2.0) as probe:
        rate = ErrorRatePass([], sampled_requests(50), check_alpha(0.001, False)).run(probe, 4)
        assert len(rate.samples) == 150 and rate.decisions == []
        assert probe.log.listeners == []  # the pass's listener is gone


def test_a_5xx_fault_is_decided_early_and_fails_only_its_check(run_checks,
                                                               reference_worker) -> None:
    """Half of /mcp/orchestrate's answers are 500: its 5xx check fails, saying it was decided
    early; the other error-rate checks pass (insufficient evidence counts as a pass)."""
    worker = reference_worker("burst_5xx=2")
    run = run_checks(f"--target={worker.url}", "-m", "error_rate", "--history", "off")
    assert run.ids("failed") == {"test_error_rate_5xx[orchestrate]"}, run.stdout[-3000:]
    message = run.messages["test_error_rate_5xx[orchestrate]"]
    decided = re.search(r"decided after (\d+) of 500 samples", message)
    assert decided and int(decided[1]) < 500, message
    assert "5xx" in message
    # only that check was decided early; the other checks of the endpoint say why they rest on
    # fewer samples, and the other endpoints were sampled in full
    lines = [line for line in run.stdout.splitlines() if "decided after" in line]
    assert lines and all("orchestrate" in line for line in lines), lines
    assert "test_error_rate_timeouts[orchestrate]: " in run.stdout
    assert "sampling of orchestrate stopped after" in run.stdout
    assert "test_error_rate_5xx[health]: 0/500 " in run.stdout


def test_a_dns_endpoint_decision_is_named_by_its_other_checks() -> None:
    """500s of the first domain's resolves decide the DNS endpoint's 5xx check and, being failed
    resolves, that domain's DNS-failure check; the endpoint's timeout check names the
    endpoint-wide decision, and the second domain's resolves go on, their check undecided."""
    first, second = MCP_DOMAINS
    alpha = check_alpha(0.001, False)
    prior = [Sample(dns_endpoint(first).request(), 0.0, status=500)] * 6
    rate = ErrorRatePass(prior, sampled_requests(PLANNED), alpha)
    assert [(d.expectation, d.failures, d.taken, d.planned) for d in rate.decisions] == [
        (row("test_error_rate_5xx", "dns"), 6, 6, 506),
        (row("test_error_rate_dns_failures", first), 6, 6, 256)]
    assert rate.note(row("test_error_rate_timeouts", "dns")) == (
        "sampling of dns stopped after 6 of 506 samples: test_error_rate_5xx[dns] was certain "
        "to fail")
    assert rate.skip(dns_endpoint(first).request())
    assert not rate.skip(dns_endpoint(second).request())
    assert rate.note(row("test_error_rate_dns_failures", second)) is None



class AnsweringProbe:
    """Stands in for `Probe` in `ErrorRatePass.run`: answers each request it is not told to skip
    200 at once, one at a time, and hands each sample to the log's listeners as the probe does."""

    def __init__(self) -> None:
        self.log = types.SimpleNamespace(listeners=[])

    def sample_many(self, requests: list[Request], concurrency: int,
                    skip: Callable[[Request], bool]) -> list[Sample]:
        samples = []
        for request in requests:
            if not skip(request):
                samples.append(Sample(request, 0.0, status=200))
                for listener in self.log.listeners:
                    listener(samples[-1])
        return samples


def test_a_bound_and_a_decision_both_show_in_the_verdicts_note() -> None:
    """The DNS endpoint is bounded to 3 s and its 5xx check is already decided: the first
    domain sends nothing, the second's resolves (their own check undecided) go on until the bound
    has passed; each note says both what decided and on how few samples it rests."""
    first, second = MCP_DOMAINS
    bound = Bound("dns", 3, "test_latency_within_budget[dns]")
    prior = [Sample(dns_endpoint(first).request(), 0.0, status=500)] * 6
    rate = ErrorRatePass(prior, sampled_requests(PLANNED), check_alpha(0.001, False), [bound],
                         clock=Ticks()).run(AnsweringProbe(), 1)  # type: ignore[arg-type]
    # the clock reads 1 s at the start, then 2 s and 3 s for the two resolves within the bound
    assert [s.request.subject for s in rate.samples if s.request.endpoint == "dns"] == \
        [second, second]
    assert sum(s.request.endpoint == "health" for s in rate.samples) == PLANNED
    assert rate.cut == {"dns": bound}
    bounded = ("failed its latency check in this run (test_latency_within_budget[dns]), so its "
               "error-rate sampling was bounded to 3 s")
    assert rate.note(row("test_error_rate_dns_failures", first)) == (
        f"decided after 6 of 256 samples; rests on 0 of 250 planned samples of the error-rate "
        f"pass: dns {bounded}")
    assert rate.note(row("test_error_rate_dns_failures", second)) == (
        f"rests on 2 of 250 planned samples of the error-rate pass: dns {bounded}")
    assert rate.note(row("test_error_rate_5xx", "dns")) == (
        f"decided after 6 of 506 samples; rests on 2 of {PLANNED} planned samples of the "
        f"error-rate pass: dns {bounded}")
    assert rate.bound_note("health") is None and rate.note(row("test_error_rate_5xx",
                                                               "health")) is None
