"""Latency streams: each latency check's samples are one sequential stream on a connection of its
own, the selected checks' streams run side by side, and each ends once its verdict is decided.

Sequential within a stream, so that its figures compare with a single-connection wrk run's; side
by side across endpoints, so that the run waits about one stream's time instead of three. pytest
runs the parametrized latency checks one after another, so the first of them to run takes the
streams of every latency check selected in the session at once (one thread each, while nothing
else samples) and each check then judges its own (`LatencyStreams.take`). An xdist worker cannot
know which checks it will be sent, so there each check takes its own stream alone, as before.

A stream warms its connection up (untimed requests), then takes timed samples until the verdict
over the planned number is certain (`synthetics.latency.decided`). The times are the probe's own
(`Phases.total`, the exchange on the perf_counter clock): pytest-benchmark times only calls made
inside the check that asked for it, so `save_timings` hands them to it afterwards for its JSON.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest

from synthetics.expectations import ENDPOINTS, Expectation
from synthetics.latency import decided, judged_ms
from synthetics.probe import Probe, Request, Sample
from synthetics.settings import Settings

__all__ = ["LatencyStreams", "Stream", "StreamPlan", "save_timings", "take_stream",
           "take_streams"]


@dataclass(frozen=True)
class StreamPlan:
    """What one stream samples and the verdict that ends it."""

    request: Request
    warmup: int  # untimed requests first, on the stream's connection
    planned: int  # timed samples at most
    percentile: float
    budget_ms: float


@dataclass
class Stream:
    """One stream's samples, in the order taken."""

    plan: StreamPlan
    warmup: list[Sample] = field(default_factory=list)
    timed: list[Sample] = field(default_factory=list)

    @property
    def samples(self) -> list[Sample]:
        return [*self.warmup, *self.timed]


def take_stream(probe: Probe, plan: StreamPlan) -> Stream:
    """Warm-up, then timed samples on one connection until the verdict is certain (at least one,
    at most `plan.planned`). Nothing is recorded in the probe's log: the judging check does it."""
    stream = Stream(plan)
    times: list[float] = []
    with probe.connection() as take:
        stream.warmup = [take(plan.request) for _ in range(plan.warmup)]
        while len(stream.timed) < plan.planned:
            sample = take(plan.request)
            stream.timed.append(sample)
            times.append(judged_ms(sample))
            if decided(times, plan.planned, plan.percentile, plan.budget_ms):
                break
    return stream


def take_streams(probe: Probe, plans: Mapping[str, StreamPlan]) -> dict[str, Stream]:
    """Every plan's stream, side by side: one thread each."""
    if len(plans) <= 1:
        return {key: take_stream(probe, plan) for key, plan in plans.items()}
    with ThreadPoolExecutor(len(plans), thread_name_prefix="latency-stream") as pool:
        futures = {key: pool.submit(take_stream, probe, plan) for key, plan in plans.items()}
        return {key: future.result() for key, future in futures.items()}


class LatencyStreams:
    """The session's latency streams, by expectation subject. The first check to ask takes its
    own stream and those of the other checks in `together` not yet taken, side by side; each
    stream is handed out once (a check run again takes a fresh one, alone)."""

    def __init__(self, probe: Probe, plan: Callable[[Expectation], StreamPlan],
                 together: Iterable[Expectation] = ()) -> None:
        self._probe = probe
        self._plan = plan
        self._pending = {e.subject: e for e in together}
        self._taken: dict[str, Stream] = {}

    @classmethod
    def for_session(cls, probe: Probe, settings: Settings,
                    items: Sequence[pytest.Item]) -> LatencyStreams:
        """Streams planned from the settings; taken together for every check of `items` that
        uses the `latency_streams` fixture (the plugin passes none on an xdist worker: each check
        alone there)."""
        s = settings

        def plan(expectation: Expectation) -> StreamPlan:
            return StreamPlan(ENDPOINTS[expectation.subject].request(), s.latency_warmup,
                              s.latency_samples, s.latency_percentile,
                              expectation.threshold or 0.0)

        return cls(probe, plan, _selected(items))

    def take(self, expectation: Expectation) -> Stream:
        """`expectation`'s stream, taken now (with the pending others) unless already taken."""
        key = expectation.subject
        if key not in self._taken:
            batch = {key: expectation}
            if key in self._pending:
                batch.update(self._pending)
                self._pending.clear()
            self._taken.update(
                take_streams(self._probe, {k: self._plan(e) for k, e in batch.items()}))
        return self._taken.pop(key)


def _selected(items: Sequence[pytest.Item]) -> list[Expectation]:
    """The expectations of the selected checks that judge a latency stream."""
    chosen = [item.callspec.params.get("expectation") for item in items
              if isinstance(item, pytest.Function) and hasattr(item, "callspec")
              and "latency_streams" in item.fixturenames]
    return [e for e in chosen if isinstance(e, Expectation)]


def save_timings(benchmark: Any, times_s: Sequence[float]) -> None:
    """Hand timings measured elsewhere to pytest-benchmark, one round each, so that its table and
    JSON show them as if it had timed the calls (as `benchmark.pedantic` records its own
    readings). It has no public way to take outside timings (ionelmc/pytest-benchmark#52), so
    this uses what `pedantic` does inside; disabled (--benchmark-disable, xdist), it saves none.
    """
    benchmark._mode = "benchmark.pedantic(...)"  # the fixture counts as used, once
    if benchmark.disabled:
        return
    stats = benchmark._make_stats(1)
    for seconds in times_s:
        stats.update(seconds)
