"""Latency verdicts: the percentile, the slowest phase, and failed samples that must not let a
check pass for the wrong reason."""

from __future__ import annotations

import math
import random

import pytest

from synthetics.latency import bad_answer, decided, percentile_bounds, summarize
from synthetics.probe import Phases, Request, Sample
from synthetics.stats import percentile

REQ = Request("dns", "/mcp/dns/resolve?domain=mcp.x")


def _ok(ms: float, wait_ms: float | None = None) -> Sample:
    wait = (wait_ms if wait_ms is not None else ms * 0.8) / 1000
    return Sample(REQ, 0.0, status=200, phases=Phases(
        connect=None, send=0.0001, wait=wait, receive=ms / 1000 - wait, ttfb=wait,
        total=ms / 1000))


def _status(status: int, ms: float = 1.0, **headers: str) -> Sample:
    """A fast, complete answer with `status`."""
    return Sample(REQ, 0.0, status=status, headers=headers,
                  phases=Phases(send=0.0001, wait=ms / 2000, receive=ms / 2000,
                                ttfb=ms / 2000, total=ms / 1000))


def _failed() -> Sample:
    return Sample(REQ, 0.0, error="timed out after 1 s (ReadTimeout)", error_kind="timeout",
                  phases=Phases(total=1.0))


def test_percentile_of_benchmark_readings_within_budget() -> None:
    samples = [_ok(float(i)) for i in range(1, 101)]
    readings = [i / 1000 for i in range(1, 101)]
    result = summarize(samples, readings, 95, 100)
    assert result.ok and result.value_ms == pytest.approx(95.05)
    assert "p95 95.0 ms < 100 ms budget over 100 samples" in result.describe()


def test_slow_server_names_the_wait_phase() -> None:
    samples = [_ok(150.0, wait_ms=140.0) for _ in range(20)]
    result = summarize(samples, None, 95, 100)
    assert not result.ok and result.slowest_phase == "wait"
    assert "slowest phase: waiting for the first byte (server time)" in result.describe()


def test_a_few_failures_leave_the_percentile_to_the_answered_samples() -> None:
    samples = [_ok(2.0) for _ in range(97)] + [_failed() for _ in range(3)]
    result = summarize(samples, None, 95, 100)
    assert result.ok and result.value_ms == pytest.approx(2.0)
    assert "3 samples were not a 2xx answer (no response ×3" in result.describe()


def test_more_failures_than_the_percentile_leaves_out_fail_the_check() -> None:
    samples = [_ok(2.0) for _ in range(87)] + [_failed() for _ in range(13)]
    result = summarize(samples, None, 95, 100)
    assert not result.ok and result.value_ms is None
    assert result.describe().startswith(
        "p95 not reached: 13 of 100 samples were not a 2xx answer (no response ×13")


def test_no_response_at_all() -> None:
    result = summarize([_failed() for _ in range(5)], None, 95, 100)
    assert not result.ok
    assert result.describe() == ("no sample of 5 was a 2xx answer (no response ×5): "
                                 "timed out after 1 s (ReadTimeout) [network: timeout]")
    assert result.extra_info()["value_ms"] is None


def test_fast_5xx_answers_are_not_fast_answers() -> None:
    """A worker that answers a 1 ms 503 is not within a 200 ms budget: it is not answering."""
    result = summarize([_status(503) for _ in range(100)], None, 95, 200)
    assert not result.ok and result.value_ms is None
    assert result.describe() == ("no sample of 100 was a 2xx answer (HTTP 503 ×100): "
                                 "HTTP 503, expected 2xx [worker: HTTP 503]")


def test_a_redirect_is_not_an_answer() -> None:
    samples = [_status(302, location="https://elsewhere.example/") for _ in range(100)]
    result = summarize(samples, [0.001] * 100, 95, 200)
    assert not result.ok
    assert "HTTP 302 redirect to https://elsewhere.example/ (not followed)" in result.describe()


@pytest.mark.parametrize("bad", [5, 6])
def test_bad_answers_rank_above_good_ones_at_the_percentile(bad: int) -> None:
    """p95 over 100 samples interpolates between the 95th and 96th: 4 bad ones leave it to the
    good answers, 5 or more put it out of reach."""
    samples = [_ok(2.0) for _ in range(100 - bad)] + [_status(500) for _ in range(bad)]
    result = summarize(samples, None, 95, 200)
    assert not result.ok and result.value_ms is None
    assert f"{bad} of 100 samples were not a 2xx answer (HTTP 500 ×{bad}" in result.describe()


def test_a_few_bad_answers_are_named_but_do_not_fail() -> None:
    samples = [_ok(2.0) for _ in range(96)] + [_status(404), _status(404), _failed(), _status(204)]
    result = summarize(samples, None, 95, 200)
    assert result.ok and result.value_ms == pytest.approx(2.0)
    assert result.failed == 3
    assert dict(result.bad_kinds) == {"HTTP 404": 2, "no response": 1}
    assert "3 samples were not a 2xx answer (HTTP 404 ×2, no response ×1" in result.describe()


def test_phases_come_from_good_answers_only() -> None:
    samples = [_ok(150.0, wait_ms=140.0) for _ in range(20)] + [_status(503, ms=1.0)]
    result = summarize(samples, None, 50, 100)
    assert result.phases_ms["wait"] == pytest.approx(140.0)


def test_result_carries_every_figure_and_saves_them() -> None:
    samples = [_ok(float(i), wait_ms=i / 2) for i in range(1, 101)]
    result = summarize(samples, None, 90, 50)
    assert (result.percentile, result.budget_ms, result.samples, result.failed) == (90, 50, 100, 0)
    assert result.value_ms == pytest.approx(90.1)
    assert result.p50_ms == pytest.approx(50.5) and result.p99_ms == pytest.approx(99.01)
    assert result.first_error is None
    assert result.phases_ms["wait"] == pytest.approx(45.05)
    assert result.phases_ms["receive"] == pytest.approx(45.05)
    assert result.phases_ms["send"] == pytest.approx(0.1)
    assert "connect" not in result.phases_ms  # reused connections: no connect phase at all
    assert not result.ok and result.slowest_phase in ("wait", "receive")
    assert result.extra_info() == {
        "percentile": 90, "budget_ms": 50, "value_ms": result.value_ms,
        "p50_ms": result.p50_ms, "p99_ms": result.p99_ms, "samples": 100, "failed": 0,
        "phases_ms": result.phases_ms, "slowest_phase": result.slowest_phase, "ok": False,
        "bad_kinds": {}, "planned": 100, "bound_ms": None,
    }
    text = result.describe()
    assert "p90 90.1 ms >= 50 ms budget over 100 samples" in text
    assert "p50 50.5 ms" in text and "p99 99.0 ms" in text


def test_readings_are_used_only_when_there_is_one_per_sample() -> None:
    samples = [_ok(10.0) for _ in range(10)]
    assert summarize(samples, [0.001] * 10, 95, 100).value_ms == pytest.approx(1.0)
    assert summarize(samples, [0.001] * 9, 95, 100).value_ms == pytest.approx(10.0)
    assert summarize(samples, None, 95, 100).value_ms == pytest.approx(10.0)
    untimed = Sample(REQ, 0.0, status=200, phases=Phases())  # no total: counts as 0 ms
    assert summarize([untimed], None, 95, 100).value_ms == 0.0


def test_a_fast_result_names_no_slowest_phase_in_its_text() -> None:
    result = summarize([_ok(2.0, wait_ms=1.5) for _ in range(20)], None, 95, 100)
    text = result.describe()
    assert result.ok and "p95 2.0 ms < 100 ms budget" in text and "slowest" not in text
    assert text.startswith("p95 ") and "failed" not in text


def test_failures_keep_the_answered_figures_in_the_text() -> None:
    samples = [_ok(2.0) for _ in range(97)] + [_failed() for _ in range(3)]
    text = summarize(samples, None, 95, 100).describe()
    assert text.startswith("p95 2.0 ms < 100 ms budget")
    assert "p50 2.0 ms, p99 —" in text  # 3% failed: the p99 is not reached
    assert ("3 samples were not a 2xx answer (no response ×3; e.g. timed out after 1 s "
            "(ReadTimeout) [network: timeout])") in text


def test_too_many_failures_name_the_share_the_percentile_leaves_out() -> None:
    samples = [_ok(2.0) for _ in range(80)] + [_failed() for _ in range(20)]
    result = summarize(samples, None, 90, 100)
    text = result.describe()
    assert "p90 not reached" in text and "20 of 100" in text and " 10% " in text
    assert result.p50_ms == pytest.approx(2.0) and result.p99_ms is None
    assert result.first_error == "timed out after 1 s (ReadTimeout) [network: timeout]"


def test_no_response_result_keeps_its_budget() -> None:
    result = summarize([_failed() for _ in range(5)], [0.001] * 5, 99, 250)
    assert (result.budget_ms, result.phases_ms, result.value_ms) == (250, {}, None)


@pytest.mark.parametrize(("status", "verdict"), [
    (200, None), (299, None),
    (300, ("HTTP 300", "HTTP 300 redirect to nowhere (not followed)")),
    (399, ("HTTP 399", "HTTP 399 redirect to nowhere (not followed)")),
    (400, ("HTTP 400", "HTTP 400, expected 2xx [worker: HTTP 400]")),
])
def test_only_a_2xx_is_an_answer_to_time(status: int, verdict: tuple[str, str] | None) -> None:
    """The 2xx range's edges; a redirect without a Location says it goes nowhere."""
    assert bad_answer(_status(status)) == verdict


def test_a_status_below_200_is_not_an_answer() -> None:
    kind, reason = bad_answer(_status(199)) or ("", "")
    assert kind == "HTTP 199" and reason.startswith("HTTP 199, expected 2xx")


def test_an_answer_cut_off_mid_body_is_an_incomplete_response_not_a_missing_one() -> None:
    cut = Sample(REQ, 0.0, status=200, error="connection reset while reading the body",
                 error_kind="reset", phases=Phases(total=0.001))
    result = summarize([cut] * 3 + [_failed()] * 2, None, 50, 200)
    assert result.bad_kinds == (("incomplete response", 3), ("no response", 2))
    assert "incomplete response ×3, no response ×2" in result.describe()


# The sequential verdict: a run stops once the samples taken decide it, and must then get the
# verdict the full run would have got, whatever the samples it did not take.

BUDGET = 100.0
#: Sample times (ms) against BUDGET: 0, well under, just under, at, just over, far over, bad.
TIMES = (0.0, 40.0, 99.0, 100.0, 101.0, 400.0, math.inf)


def _full_verdicts(prefix: list[float], planned: int, q: float) -> set[bool]:
    """Every verdict (pass True) a run of `planned` samples starting with `prefix` can end in,
    its other samples drawn from TIMES; checks `decided` at every prefix on the way."""
    if len(prefix) == planned:
        return {percentile(prefix, q) < BUDGET}
    verdicts: set[bool] = set()
    for t in TIMES:
        verdicts |= _full_verdicts([*prefix, t], planned, q)
    least, most = percentile_bounds(prefix, planned, q)
    assert decided(prefix, planned, q, BUDGET) == (len(verdicts) == 1), (prefix, planned, q)
    if len(verdicts) == 1:
        assert verdicts == {most < BUDGET}, (prefix, planned, q)  # the verdict it stops with
    return verdicts


@pytest.mark.parametrize("q", [0.0, 37.5, 50.0, 90.0, 95.0, 99.0, 100.0])
@pytest.mark.parametrize("planned", [1, 2, 3, 4, 5])
def test_decided_exactly_when_every_ending_gives_the_same_verdict(planned: int, q: float) -> None:
    """Every sequence of up to five samples over times that straddle the budget, the extremes
    (0 ms, bad) included: the rule stops at the first prefix whose endings all agree, never
    earlier, and with their verdict."""
    _full_verdicts([], planned, q)


def _draw(rng: random.Random, count: int, mix: tuple[float, float, float, float]) -> list[float]:
    """`count` times from a mixture of fast, near-budget, slow and bad samples."""
    kinds = rng.choices(range(4), weights=mix, k=count)
    ranges = ((0.0, 0.9 * BUDGET), (0.9 * BUDGET, 1.1 * BUDGET), (BUDGET, 30 * BUDGET))
    return [math.inf if k == 3 else rng.uniform(*ranges[k]) for k in kinds]


@pytest.mark.parametrize(("planned", "q"), [(100, 95.0), (105, 95.0), (20, 95.0), (100, 99.0),
                                            (50, 50.0), (30, 90.0)])
def test_a_decided_run_gets_the_full_runs_verdict_whatever_follows(planned: int, q: float) -> None:
    """Random runs at the default sizes: wherever the rule stops, random and adversarial
    endings (all 0 ms, all bad, all just under or over the budget) give its verdict; where it
    does not stop, the two extreme endings disagree."""
    rng = random.Random(planned * 1000 + int(q))
    for _ in range(300):
        mix = (rng.random(), rng.random() / 4, rng.random() / 4, rng.random() / 8)
        run = _draw(rng, planned, mix)
        stop = next(n for n in range(planned + 1) if decided(run[:n], planned, q, BUDGET))
        prefix = run[:stop]
        verdict = percentile_bounds(prefix, planned, q)[1] < BUDGET
        assert (percentile(run, q) < BUDGET) == verdict
        rest = planned - stop
        endings = [[0.0] * rest, [math.inf] * rest, [BUDGET - 1e-9] * rest, [BUDGET] * rest,
                   *(_draw(rng, rest, mix) for _ in range(20))]
        for ending in endings:
            assert (percentile(prefix + ending, q) < BUDGET) == verdict, (prefix, ending)
        if stop:
            shorter = prefix[:-1]
            rest = planned - len(shorter)
            assert (percentile(shorter + [0.0] * rest, q) < BUDGET) != \
                (percentile(shorter + [math.inf] * rest, q) < BUDGET)


def test_interpolation_decides_how_many_slow_samples_fail_a_p95() -> None:
    """p95 of 105 lies 0.8 of the way from the 99th to the 100th order statistic: six samples
    over budget fail it only when 0.8 of their least is over (six at 1.3 × budget do, six at 1.1
    × do not, a seventh does). Of 100 it lies 0.05 past the 95th: five very slow samples
    (21 ×) already decide it, six slow ones always do."""
    assert decided([130.0] * 6, 105, 95, BUDGET)
    assert not decided([110.0] * 6, 105, 95, BUDGET)
    assert decided([110.0] * 7, 105, 95, BUDGET)
    assert not decided([1900.0] * 5, 100, 95, BUDGET)
    assert decided([2100.0] * 5, 100, 95, BUDGET)
    assert decided([101.0] * 6, 100, 95, BUDGET)
    assert decided([math.inf] * 5, 100, 95, BUDGET)
    assert not decided([math.inf] * 4, 100, 95, BUDGET)
    # passing needs 96 good answers of 100: four bad ones could still reach the p95
    assert decided([1.0] * 96, 100, 95, BUDGET) and not decided([1.0] * 95, 100, 95, BUDGET)
    assert percentile_bounds([1.0] * 95, 100, 95) == (1.0, math.inf)


def test_a_run_decided_early_says_so() -> None:
    slow = [_ok(300.0, wait_ms=290.0) for _ in range(6)]
    result = summarize(slow, None, 95, 200, planned=100)
    assert not result.ok and result.samples == 6 and result.not_taken == 94
    assert result.describe().startswith(
        "p95 at least 300.0 ms >= 200 ms budget whatever the other 94 samples; decided after 6 "
        "of 100 samples (p95 300.0 ms, p50 300.0 ms, p99 300.0 ms of those taken); slowest "
        "phase: waiting for the first byte")
    assert result.measured() == "p95 ≥ 300.0 ms"
    info = result.extra_info()
    assert (info["planned"], info["bound_ms"], info["samples"]) == (100, 300.0, 6)


def test_a_pass_decided_early_names_the_worst_the_rest_could_do() -> None:
    samples = [_ok(float(i)) for i in range(1, 97)]
    result = summarize(samples, None, 95, 200, planned=100)
    assert result.ok and result.bound_ms == pytest.approx(95 * 0.95 + 96 * 0.05)
    assert result.value_ms == pytest.approx(percentile([float(i) for i in range(1, 97)], 95))
    assert result.describe().startswith(
        "p95 at most 95.0 ms < 200 ms budget whatever the other 4 samples; decided after 96 of "
        "100 samples")
    assert result.measured() == "p95 ≤ 95.0 ms"


def test_bad_answers_decided_early_count_against_the_planned_samples() -> None:
    only_bad = summarize([_status(503)] * 5, None, 95, 200, planned=100)
    assert not only_bad.ok and only_bad.describe() == (
        "no sample of 5 was a 2xx answer (HTTP 503 ×5): HTTP 503, expected 2xx [worker: HTTP "
        "503]; decided after 5 of 100 samples")
    mixed = summarize([_ok(2.0)] + [_failed()] * 5, None, 95, 200, planned=100)
    assert not mixed.ok and mixed.bound_ms is None
    assert mixed.describe().startswith(
        "p95 not reached: 5 of the 100 planned samples were not a 2xx answer (no response ×5; ")
    assert mixed.describe().endswith(
        "more than the 5% a p95 leaves out; decided after 6 of 100 samples")
    # slow and bad together: the slow ones, not only the bad, put the p95 over
    both = summarize([_ok(300.0)] * 4 + [_failed()] * 2, None, 95, 200, planned=100)
    assert not both.ok and both.value_ms is None and both.bound_ms == 300.0
    assert both.describe().startswith("p95 at least 300.0 ms >= 200 ms budget whatever the "
                                      "other 94 samples; decided after 6 of 100 samples")


def test_a_run_stopped_before_its_verdict_is_certain_is_refused() -> None:
    with pytest.raises(ValueError, match="^5 of 100 samples do not decide the verdict$"):
        summarize([_ok(300.0)] * 5, None, 95, 200, planned=100)
    with pytest.raises(ValueError, match="6 samples taken of 5 planned"):
        percentile_bounds([1.0] * 6, 5, 95)
    full = summarize([_ok(2.0)] * 10, None, 95, 200, planned=10)
    assert full.ok and full.not_taken == 0 and full.bound_ms is None
    assert "decided" not in full.describe() and full.measured() == "p95 2.0 ms"


def test_a_percentile_exactly_at_the_budget_fails_early_and_says_so() -> None:
    """p95 of 101 samples is the 96th exactly: six at the budget put it there for good."""
    result = summarize([_ok(200.0)] * 6, [0.2] * 6, 95, 200, planned=101)
    assert not result.ok and result.bound_ms == 200.0
    assert result.describe().startswith("p95 at least 200.0 ms >= 200 ms budget whatever the "
                                        "other 95 samples; decided after 6 of 101 samples")


def test_no_samples_at_all() -> None:
    result = summarize([], None, 95, 200)
    assert not result.ok and result.extra_info() == {
        "percentile": 95, "budget_ms": 200, "value_ms": None, "p50_ms": None, "p99_ms": None,
        "samples": 0, "failed": 0, "phases_ms": {}, "slowest_phase": None, "ok": False,
        "bad_kinds": {}, "planned": 0, "bound_ms": None}
