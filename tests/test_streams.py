"""Latency streams (`synthetics.streams`): one sequential stream per endpoint on its own
connection, the streams side by side, each ending once its verdict is decided; and the latency
checks that judge them, run as users run them. (Their speed is measured by bench/, not here.)"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from synthetics.expectations import ENDPOINTS, EXPECTATIONS, Expectation
from synthetics.history.store import SqliteHistory
from synthetics.probe import Probe, Sample
from synthetics.reference import ReferenceWorker
from synthetics.streams import LatencyStreams, Stream, StreamPlan, take_stream, take_streams

LATENCY = {e.subject: e for e in EXPECTATIONS if e.check == "test_latency_within_budget"}
PATHS = {"health": "/health", "orchestrate": "/mcp/orchestrate", "dns": "/mcp/dns/resolve"}


def _plan(subject: str, planned: int = 10, warmup: int = 2) -> StreamPlan:
    return StreamPlan(ENDPOINTS[subject].request(), warmup, planned, 95.0,
                      LATENCY[subject].threshold or 0.0)


def _span(samples: list[Sample]) -> tuple[float, float]:
    """When the first sample started and the last one ended (epoch seconds)."""
    return samples[0].started, max(s.started + (s.phases.total or 0.0) for s in samples)


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _unseen(worker: ReferenceWorker, path: str) -> bool:
    """No request reached `path`: `count` numbers the next one, so it gives 1."""
    return worker.count(path) == 1


def test_a_stream_stops_once_a_slow_endpoint_is_certain_to_fail(reference_worker) -> None:
    worker = reference_worker("slow_dns")  # 150 ms against a 100 ms budget
    with Probe(worker.url) as probe:
        stream = take_stream(probe, _plan("dns", planned=100))
    assert (len(stream.warmup), len(stream.timed)) == (2, 6)
    assert all(s.request.endpoint == "dns" and s.status == 200 for s in stream.samples)
    assert len(probe.log) == 0  # the judging check records them


def test_a_healthy_stream_takes_what_its_verdict_needs(reference_worker) -> None:
    """A p95 over 10 samples can pass only once all 10 are in; over 100, after 96."""
    worker = reference_worker()
    with Probe(worker.url) as probe:
        assert len(take_stream(probe, _plan("health", planned=10)).timed) == 10
        assert len(take_stream(probe, _plan("health", planned=100)).timed) == 96


def test_streams_run_side_by_side_each_on_its_own_connection(reference_worker) -> None:
    worker = reference_worker("delay=20")
    with Probe(worker.url) as probe:
        streams = take_streams(probe, {s: _plan(s, planned=5) for s in PATHS})
    spans = {subject: _span(stream.samples) for subject, stream in streams.items()}
    for a in spans:
        for b in spans:
            assert _overlap(spans[a], spans[b]), spans
    for stream in streams.values():  # one connection each, opened by its first request
        connects = [s.phases.connect is not None for s in stream.samples]
        assert connects == [True] + [False] * (len(connects) - 1)


def test_the_first_check_to_ask_takes_the_other_streams_along(reference_worker) -> None:
    worker = reference_worker()
    together = [LATENCY["health"], LATENCY["dns"]]
    planned: list[str] = []

    def plan(expectation: Expectation) -> StreamPlan:
        planned.append(expectation.subject)
        return _plan(expectation.subject, planned=3, warmup=0)

    with Probe(worker.url) as probe:
        streams = LatencyStreams(probe, plan, together)
        first = streams.take(LATENCY["dns"])
        assert sorted(planned) == ["dns", "health"]
        health = streams.take(LATENCY["health"])
        assert sorted(planned) == ["dns", "health"]  # taken with the first, not now
        assert [s.request.endpoint for s in health.timed] == ["health"] * 3
        assert [s.request.endpoint for s in first.timed] == ["dns"] * 3
        again: Stream = streams.take(LATENCY["health"])  # a check run again: a fresh stream
        assert planned[2:] == ["health"] and again is not health
        streams.take(LATENCY["orchestrate"])  # not selected: alone
        assert planned[3:] == ["orchestrate"]


def test_latency_checks_sample_side_by_side(run_checks, reference_worker, tmp_path: Path) -> None:
    """In a run of the checks, the three streams' samples overlap in time (from history)."""
    worker = reference_worker("delay=20")
    history = tmp_path / "history.sqlite3"
    run = run_checks(f"--target={worker.url}", "-m", "latency", "--latency-samples=10",
                     f"--history={history}")
    assert run.ret == 0, run.stdout[-3000:]
    store = SqliteHistory(history)
    try:
        spans = {}
        for endpoint in PATHS:
            samples = store.samples(worker.url, endpoint, 0.0)
            assert len(samples) == 15  # 5 warm-up, 10 timed
            spans[endpoint] = (samples[0].t, max(s.t + (s.total or 0.0) for s in samples))
    finally:
        store.close()
    for a in spans:
        for b in spans:
            assert _overlap(spans[a], spans[b]), spans


def test_a_slow_endpoint_fails_its_own_check_early(run_checks, reference_worker,
                                                   tmp_path: Path) -> None:
    worker = reference_worker("slow_health")  # 300 ms against a 200 ms budget
    bench = tmp_path / "benchmark.json"
    run = run_checks(f"--target={worker.url}", "-m", "latency", "--history=off",
                     f"--benchmark-json={bench}")
    assert run.outcomes == {"test_latency_within_budget[health]": "failed",
                            "test_latency_within_budget[orchestrate]": "passed",
                            "test_latency_within_budget[dns]": "passed"}, run.stdout[-3000:]
    message = run.messages["test_latency_within_budget[health]"]
    assert "GET /health: p95 at least 30" in message, message
    assert (" ms >= 200 ms budget whatever the other 94 samples; decided after 6 of 100 samples"
            in message), message
    info = {b["name"]: b for b in json.loads(bench.read_text())["benchmarks"]}
    health = info["test_latency_within_budget[health]"]
    assert health["stats"]["rounds"] == 6 and health["stats"]["min"] >= 0.3
    assert health["extra_info"]["planned"] == 100 and health["extra_info"]["ok"] is False
    assert info["test_latency_within_budget[dns]"]["stats"]["rounds"] == 96


def test_selecting_one_latency_check_samples_only_its_endpoint(
        run_checks, reference_worker: Callable[..., ReferenceWorker]) -> None:
    worker = reference_worker()
    run = run_checks(f"--target={worker.url}", "-k", "test_latency_within_budget and dns",
                     "--history=off", "--latency-samples=10")
    assert run.outcomes == {"test_latency_within_budget[dns]": "passed"}, run.stdout[-3000:]
    assert _unseen(worker, PATHS["health"]) and _unseen(worker, PATHS["orchestrate"])
    assert worker.count(PATHS["dns"]) == 16  # 5 warm-up and 10 timed came before
