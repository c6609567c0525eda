"""The error-rate pass bounded in time for an endpoint whose latency check already failed
(`synthetics.error_pass.Bound`, `--error-pass-bound`): the latency checks run first, the pass
stops sending that endpoint's requests once the bound has passed, its checks say what they rest
on, and every other endpoint (and every run whose latency checks pass) takes the full pass."""

from __future__ import annotations

import re

import pytest
from error_pass_helpers import Ticks, row

from conftest import CHECKS
from synthetics.error_pass import Bound, ErrorRatePass, check_alpha
from synthetics.expectations import EXPECTATIONS, dns_endpoint
from synthetics.plugin import sampled_requests
from synthetics.probe import Probe, Sample

# Small passes: these tests are about the bound, not the default sample counts.
SMALL = ("--error-samples", "60", "--latency-samples", "6", "--latency-warmup", "1",
         "--history", "off")




def test_a_bound_stops_only_its_endpoint_and_the_verdicts_say_so(reference_worker) -> None:
    worker = reference_worker()
    bound = Bound("orchestrate", 10, "test_latency_within_budget[orchestrate]")
    with Probe(worker.url, timeout=2.0) as probe:
        rate = ErrorRatePass([], sampled_requests(40), check_alpha(0.001, False), [bound],
                             clock=Ticks()).run(probe, 1)
    taken = {e: sum(s.request.endpoint == e for s in rate.samples)
             for e in ("health", "orchestrate", "dns")}
    # the clock is read at the start (1 s) and at each orchestrate request: at 2 s ... 10 s it
    # is within the bound, at 11 s it is not
    assert taken == {"health": 40, "orchestrate": 9, "dns": 40}
    assert rate.cut == {"orchestrate": bound}
    note = rate.note(row("test_error_rate_5xx", "orchestrate"))
    assert note == ("rests on 9 of 40 planned samples of the error-rate pass: orchestrate failed "
                    "its latency check in this run (test_latency_within_budget[orchestrate]), "
                    "so its error-rate sampling was bounded to 10 s")
    assert rate.note(row("test_error_rate_5xx", "health")) is None
    assert rate.bound_note("dns") is None


def test_a_bound_not_reached_changes_nothing(reference_worker) -> None:
    """An endpoint whose share of the pass ends within its bound is sampled in full, and its
    verdicts say nothing about a bound."""
    worker = reference_worker()
    bound = Bound("dns", 1000, "test_latency_within_budget[dns]")
    with Probe(worker.url, timeout=2.0) as probe:
        rate = ErrorRatePass([], sampled_requests(20), check_alpha(0.001, False), [bound],
                             clock=Ticks()).run(probe, 2)
    assert len(rate.samples) == 60 and rate.cut == {}
    assert rate.note(row("test_error_rate_timeouts", "dns")) is None


def test_a_zero_bound_sends_the_dns_endpoint_nothing(reference_worker) -> None:
    """Bound 0: none of the endpoint's requests; the DNS-failure rows and the balance note say
    on how few of their planned samples they rest."""
    worker = reference_worker()
    bound = Bound("dns", 0, "test_latency_within_budget[dns]")
    with Probe(worker.url, timeout=2.0) as probe:
        rate = ErrorRatePass([], sampled_requests(20), check_alpha(0.001, False),
                             [bound]).run(probe, 2)
    assert {s.request.endpoint for s in rate.samples} == {"health", "orchestrate"}
    domain = next(t.subject for t in EXPECTATIONS if t.check == "test_error_rate_dns_failures")
    assert (rate.note(row("test_error_rate_dns_failures", domain)) or "").startswith(
        "rests on 0 of 10 planned samples")
    assert (rate.bound_note("dns") or "").startswith("rests on 0 of 20 planned samples")


def _group(name: str) -> int:
    """0: neither latency nor the error-rate pass; 1: latency; 2: judges the error-rate pass."""
    if "test_latency_within_budget" in name:
        return 1
    pass_checks = r"test_error_rate_(5xx|timeouts|dns_failures)\[|test_capacity_sector_balance\["
    return 2 if re.search(pass_checks, name) else 0


def _order_ok(ids: list[str]) -> None:
    groups = [_group(i) for i in ids]
    assert 1 in groups and groups == sorted(groups), ids


@pytest.mark.parametrize("selection", [(), ("-m", "error_rate or latency"),
                                       ("-k", "orchestrate"), ("-k", "not health")])
def test_latency_checks_run_before_the_error_rate_pass(pytester: pytest.Pytester,
                                                       selection: tuple[str, ...]) -> None:
    """Whatever -k/-m selects: the other checks, then the latency checks, then the checks that
    judge the error-rate pass, each group in file order."""
    result = pytester.runpytest_subprocess(str(CHECKS), "-p", "no:cacheprovider",
                                           "--collect-only", "-q", *selection)
    ids = [line for line in result.stdout.lines if "::" in line]
    _order_ok(ids)
    for group in (0, 1, 2):
        files = [i.split("::")[0] for i in ids if _group(i) == group]
        assert files == sorted(files), files
    if selection == ("-m", "error_rate or latency"):
        assert all("test_error_rate" in i or "test_latency" in i for i in ids), ids
        assert 2 in map(_group, ids), ids
    if selection == ("-k", "orchestrate"):
        assert all("orchestrate" in i for i in ids) and 0 in map(_group, ids), ids


def test_a_slow_endpoint_bounds_its_own_pass_only(run_checks, reference_worker) -> None:
    """slow_orchestrate: its latency check fails first, its error-rate pass is bounded, its
    error-rate checks say on how many samples they rest; /health and DNS are sampled in full."""
    worker = reference_worker("slow_orchestrate")
    run = run_checks(f"--target={worker.url}", "-m", "latency or error_rate or capacity",
                     *SMALL, "--error-pass-bound", "0.5")
    assert run.ids("failed") == {"test_latency_within_budget[orchestrate]"}, run.stdout[-3000:]
    _order_ok(list(run.outcomes))
    lines = [line for line in run.stdout.splitlines() if "bounded to 0.5 s" in line]
    assert {re.search(r"(test_\w+\[[\w.]+\])", line)[1] for line in lines} == {  # type: ignore[index]
        "test_error_rate_5xx[orchestrate]", "test_error_rate_timeouts[orchestrate]"}, lines
    for line in lines:
        taken = re.search(r"rests on (\d+) of 60 planned samples of the error-rate pass: "
                          r"orchestrate failed its latency check in this run "
                          r"\(test_latency_within_budget\[orchestrate\]\)", line)
        assert taken and int(taken[1]) < 60, line
    assert re.search(r"test_error_rate_5xx\[health\]: 0/6\d ", run.stdout), run.stdout[-3000:]


def test_a_healthy_run_is_not_bounded(run_checks, reference_worker) -> None:
    """With every latency check passing, even a zero bound changes nothing: full pass."""
    worker = reference_worker()
    run = run_checks(f"--target={worker.url}", "-m", "latency or error_rate or capacity",
                     *SMALL, "--error-pass-bound", "0")
    assert run.ret == 0, run.stdout[-3000:]
    assert "error-rate sampling was bounded" not in run.stdout
    for endpoint in ("health", "orchestrate", "dns"):
        assert re.search(rf"test_error_rate_5xx\[{endpoint}\]: 0/6\d ", run.stdout), endpoint


def test_a_dns_domain_goes_on_until_its_own_check_is_decided() -> None:
    """The latency stream (first domain) alone made the DNS endpoint's timeouts certain: the
    first domain stops, the second domain's resolves go on until its DNS-failure check is
    certain too, and only then does the DNS endpoint stop for it."""
    first, second = (t.subject for t in EXPECTATIONS if t.check == "test_error_rate_dns_failures")
    timed_out = [Sample(dns_endpoint(first).request(), 0.0, error="timed out",
                        error_kind="timeout")] * 11
    rate = ErrorRatePass(timed_out, sampled_requests(60), check_alpha(0.001, False))
    assert {d.expectation.check for d in rate.decisions} >= {"test_error_rate_timeouts"}
    assert rate.skip(dns_endpoint(first).request())
    assert not rate.skip(dns_endpoint(second).request())
    assert rate.note(row("test_error_rate_dns_failures", second)) is None
    failed = Sample(dns_endpoint(second).request(), 0.0, error="timed out", error_kind="timeout")
    while not rate.skip(dns_endpoint(second).request()):
        rate.observe(failed)
    # P(Bin(30, 0.0001) >= 2) = 4.4e-6 <= 1.25e-4 < P(>= 1): two failures of 30 decide it
    assert rate.note(row("test_error_rate_dns_failures", second)) == (
        "decided after 2 of 30 samples")
