"""Latency verdicts: the percentile, the slowest phase, and failed samples that must not let a
check pass for the wrong reason."""

from __future__ import annotations

import pytest

from synthetics.latency import summarize
from synthetics.probe import Phases, Request, Sample

REQ = Request("dns", "/mcp/dns/resolve?domain=mcp.x")


def _ok(ms: float, wait_ms: float | None = None) -> Sample:
    wait = (wait_ms if wait_ms is not None else ms * 0.8) / 1000
    return Sample(REQ, 0.0, status=200, phases=Phases(
        connect=None, send=0.0001, wait=wait, receive=ms / 1000 - wait, ttfb=wait,
        total=ms / 1000))


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
    assert "3 samples failed" in result.describe()


def test_more_failures_than_the_percentile_leaves_out_fail_the_check() -> None:
    samples = [_ok(2.0) for _ in range(87)] + [_failed() for _ in range(13)]
    result = summarize(samples, None, 95, 100)
    assert not result.ok and result.value_ms is None
    assert result.describe().startswith("p95 not reached: 13 of 100 samples got no response")


def test_no_response_at_all() -> None:
    result = summarize([_failed() for _ in range(5)], None, 95, 100)
    assert not result.ok
    assert result.describe() == ("no sample of 5 got a response: "
                                 "timed out after 1 s (ReadTimeout)")
    assert result.extra_info()["value_ms"] is None
