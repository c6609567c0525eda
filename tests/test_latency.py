"""Latency verdicts: the percentile, the slowest phase, and failed samples that must not let a
check pass for the wrong reason."""

from __future__ import annotations

import pytest

from synthetics.latency import bad_answer, summarize
from synthetics.probe import Phases, Request, Sample

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
