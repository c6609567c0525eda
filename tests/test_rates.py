"""Which samples count against which error rate: a 5xx is a share of responses, 4xx are not 5xx,
a timeout is a share of requests, a DNS failure is anything but a valid resolution."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synthetics.expectations import EXPECTATIONS, fail_alpha
from synthetics.history.store import SqliteHistory, record_from_sample
from synthetics.probe import Request, Sample
from synthetics.rates import (
    DNS_FAILURES,
    FAILURE_KINDS,
    FIVE_XX,
    TIMEOUTS,
    FailureKind,
    dns_failure,
    no_responses,
    window_span,
)

REQ = Request("orchestrate", "/mcp/orchestrate")
DNS = Request("dns", "/mcp/dns/resolve?domain=mcp.x", subject="mcp.x")


def _answer(status: int) -> Sample:
    return Sample(REQ, 0.0, status=status)


def _error(kind: str) -> Sample:
    return Sample(REQ, 0.0, error=f"injected {kind}", error_kind=kind)


def _dns(doc: object, status: int = 200) -> Sample:
    return Sample(DNS, 0.0, status=status, headers={"content-type": "application/json"},
                  body=json.dumps(doc).encode())


def test_4xx_are_not_5xx() -> None:
    samples = [_answer(s) for s in (200, 204, 301, 400, 404, 429, 499, 500, 503, 599)]
    assert FIVE_XX.count(samples) == (3, 10)
    assert FIVE_XX.count([_answer(429)] * 50) == (0, 50)


def test_5xx_is_a_share_of_responses_only() -> None:
    samples = [_answer(500), _answer(200), _error("timeout"), _error("reset"), _error("connect")]
    assert FIVE_XX.count(samples) == (1, 2)
    assert FIVE_XX.count([_error("timeout")] * 3) == (0, 0)
    # a request without a response early in the run does not end the counting
    assert FIVE_XX.count([_error("reset"), _answer(503), _answer(200)]) == (1, 2)


def test_timeouts_are_a_share_of_every_request() -> None:
    samples = [_error("timeout"), _error("timeout"), _error("reset"), _answer(500),
               _answer(200)]
    assert TIMEOUTS.count(samples) == (2, 5)
    assert TIMEOUTS.count([_answer(504)]) == (0, 1)  # a 504 is an answer


def test_dns_failures_count_everything_but_a_valid_resolution() -> None:
    good = {"resolved": True, "ip": "1.1.1.1"}
    samples = [
        _dns(good),
        _dns({"resolved": False, "ip": "1.1.1.1"}),
        _dns({"resolved": "true", "ip": "1.1.1.1"}),  # a string is not True
        _dns({"resolved": True, "ip": "999.1.1.1"}),
        _dns({"resolved": True}),
        _dns(good, status=500),
        _dns(good, status=201),
        _dns([good]),
        Sample(DNS, 0.0, status=200, body=b"{not json"),
        Sample(DNS, 0.0, error="timed out", error_kind="timeout"),
    ]
    assert DNS_FAILURES.count(samples) == (9, 10)
    assert dns_failure(samples[0]) is None
    assert dns_failure(samples[1]) == "not resolved"
    assert dns_failure(samples[2]) == "not resolved"
    assert "999.1.1.1" in (dns_failure(samples[3]) or "")
    assert dns_failure(samples[4]) is not None
    assert "500" in (dns_failure(samples[5]) or "")
    assert "201" in (dns_failure(samples[6]) or "")
    assert dns_failure(samples[7]) == "not resolved"
    assert "JSON" in (dns_failure(samples[8]) or "")
    assert dns_failure(samples[9]) == "timed out"


def test_every_error_rate_row_judged_on_samples_counts_its_checks_kind() -> None:
    """What replaced naming a kind by a string: each sampled error-rate row carries the kind its
    check is named for, and no other row carries one."""
    for row in EXPECTATIONS:
        if row.failure is not None:
            assert row.failure in FAILURE_KINDS
            assert row.check == f"test_error_rate_{row.failure.name}"
        else:
            assert not any(row.check == f"test_error_rate_{k.name}" for k in FAILURE_KINDS)


def test_the_false_alarm_budget_is_split_over_the_error_rate_checks() -> None:
    assert fail_alpha(0.001) == pytest.approx(0.001 / 8)
    assert fail_alpha(0.08) == pytest.approx(0.01)


def test_no_responses_to_judge_only_when_nothing_answered() -> None:
    refused = [_error("connect"), _error("timeout"), _error("reset")]  # the first is quoted
    assert no_responses(refused) == ("no responses to judge: none of 3 requests got a response "
                                     "(e.g. injected connect)")
    # One answer, even a 500, is a response to judge; and no samples at all is not "none answered".
    assert no_responses([*refused, _answer(500)]) is None
    assert no_responses([_answer(200), *refused]) is None
    assert no_responses([]) is None


def _mixed(request: Request) -> list[Sample]:
    """One of each kind of outcome, at distinct times: every rule has something to decide."""
    good = json.dumps({"resolved": True, "ip": "1.1.1.1"}).encode()
    outcomes = [
        {"status": 200, "body": good}, {"status": 200, "body": b'{"resolved": false}'},
        {"status": 200, "body": b"{not json"}, {"status": 404}, {"status": 429},
        {"status": 500, "body": good}, {"status": 503}, {"status": 504},
        {"error": "injected timeout", "error_kind": "timeout"},
        {"error": "injected reset", "error_kind": "reset"},
        {"error": "injected connect", "error_kind": "connect"},
        {"status": 200, "body": good, "error": "cut short", "error_kind": "timeout",
         "abandoned": True},
    ]
    return [Sample(request, 1000.0 + i, headers={"content-type": "application/json"}, **o)
            for i, o in enumerate(outcomes)]


@pytest.mark.parametrize("kind", FAILURE_KINDS, ids=lambda k: k.name)
def test_a_kind_counts_a_run_and_the_history_window_alike(kind: FailureKind,
                                                         tmp_path: Path) -> None:
    """The per-sample rule (a run's samples) and the SQL rule (the history window) agree on
    the same samples, recorded as the history plugin records them."""
    request = DNS if kind is DNS_FAILURES else REQ
    samples = _mixed(request) * 2
    store = SqliteHistory(tmp_path / "h.sqlite3")
    try:
        for _ in range(2):  # two runs, so the window's run count has something to count
            run = store.start_run("adhoc", "t", 1000.0, 1000.0, False)
            store.add_samples(run, [record_from_sample(s, "t") for s in samples])
        window = store.rate_counts(kind, "t", request.endpoint, 0, method="GET")
    finally:
        store.close()
    failures, total = kind.count(samples * 2)
    assert 0 < failures < total, "the samples must hold failures and non-failures of the kind"
    assert (window.failures, window.total) == (failures, total)
    assert (window.samples, window.runs) == (len(samples) * 2, 2)


@pytest.mark.parametrize(("hours", "text"), [
    (1, "1 h"), (24, "24 h"), (47.5, "47.5 h"), (48, "2 days"), (72, "3 days"), (336, "14 days"),
    (30, "30 h"),
])
def test_a_window_is_written_in_hours_below_two_days_and_in_days_from_then(
        hours: float, text: str) -> None:
    assert window_span(hours) == text
