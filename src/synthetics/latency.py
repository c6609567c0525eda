"""Latency verdicts: a percentile of timed samples against a budget, and which phase was slow.

The times come from pytest-benchmark's raw data where it ran (it has no percentiles of its own),
and the phase breakdown from the samples' httpx trace marks, so that a failure says whether the
time went into connecting, TLS, the server's wait, or reading the body.

Only the endpoint's real answers are timed: a sample counts toward the percentile when it is a
complete 2xx response (what the endpoint's functional check accepts at the status level; a
redirect is never followed, so it is not an answer). A fast 503 or a 302 is not a fast answer:
like a request that got no response, it ranks above every good sample, so a run in which more
than (100 - percentile)% of the samples are bad fails, and says why.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from synthetics.probe import PHASES, Sample
from synthetics.stats import percentile

__all__ = ["LatencyResult", "bad_answer", "summarize"]

_PHASE_WORDS = {
    "connect": "connect (TCP set-up)",
    "tls": "TLS handshake",
    "send": "sending the request",
    "wait": "waiting for the first byte (server time)",
    "receive": "reading the body",
}


@dataclass(frozen=True)
class LatencyResult:
    """The judged latency of one endpoint."""

    percentile: float
    budget_ms: float
    samples: int
    failed: int  # samples that were not a good answer: no response, or not a 2xx
    value_ms: float | None  # the percentile; None when bad samples reach it
    p50_ms: float | None
    p99_ms: float | None
    phases_ms: dict[str, float] = field(default_factory=dict)  # each phase at the percentile
    first_error: str | None = None  # why the first bad sample was bad
    #: How many bad samples of each kind ("HTTP 503", "no response"), most frequent first.
    bad_kinds: tuple[tuple[str, int], ...] = ()

    @property
    def ok(self) -> bool:
        return self.value_ms is not None and self.value_ms < self.budget_ms

    @property
    def slowest_phase(self) -> str | None:
        if not self.phases_ms:
            return None
        return max(self.phases_ms, key=lambda k: self.phases_ms[k])

    def _bad(self) -> str:
        """The bad samples by kind: "HTTP 503 ×90, no response ×15"."""
        return ", ".join(f"{kind} ×{count}" for kind, count in self.bad_kinds)

    def describe(self) -> str:
        label = f"p{self.percentile:g}"
        if self.value_ms is None:
            if self.failed == self.samples:
                return (f"no sample of {self.samples} was a 2xx answer ({self._bad()}): "
                        f"{self.first_error}")
            return (f"{label} not reached: {self.failed} of {self.samples} samples were not a "
                    f"2xx answer ({self._bad()}; e.g. {self.first_error}), more than the "
                    f"{100 - self.percentile:g}% a {label} leaves out")
        text = (f"{label} {self.value_ms:.1f} ms {'<' if self.ok else '>='} "
                f"{self.budget_ms:g} ms budget over {self.samples} samples "
                f"(p50 {_ms(self.p50_ms)}, p99 {_ms(self.p99_ms)})")
        slowest = self.slowest_phase
        if not self.ok and slowest is not None:
            text += (f"; slowest phase: {_PHASE_WORDS[slowest]} at {label} "
                     f"{self.phases_ms[slowest]:.1f} ms")
        if self.failed:
            text += (f"; {self.failed} samples were not a 2xx answer ({self._bad()}; e.g. "
                     f"{self.first_error})")
        return text

    def extra_info(self) -> dict[str, object]:
        """The figures saved in the benchmark JSON."""
        return {
            "percentile": self.percentile, "budget_ms": self.budget_ms,
            "value_ms": self.value_ms, "p50_ms": self.p50_ms, "p99_ms": self.p99_ms,
            "samples": self.samples, "failed": self.failed, "phases_ms": self.phases_ms,
            "slowest_phase": self.slowest_phase, "ok": self.ok,
            "bad_kinds": dict(self.bad_kinds),
        }


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} ms"


def bad_answer(sample: Sample) -> tuple[str, str] | None:
    """(kind, one-line reason) when `sample` is not a good answer to time, else None.

    Good: a complete response with a 2xx status. Everything else is bad: no response or an
    incomplete one (its error), a redirect (never followed), any other status.
    """
    who = f" [{sample.attribution().label()}]"
    if not sample.ok:
        kind = "no response" if sample.status is None else "incomplete response"
        return kind, (sample.error or kind) + who
    status = sample.status
    if status is not None and 200 <= status < 300:
        return None
    if status is not None and 300 <= status < 400:
        location = sample.headers.get("location", "nowhere")
        return f"HTTP {status}", f"HTTP {status} redirect to {location} (not followed)"
    return f"HTTP {status}", f"HTTP {status}, expected 2xx{who}"


def summarize(
    samples: Sequence[Sample],
    times_s: Sequence[float] | None,
    q: float,
    budget_ms: float,
) -> LatencyResult:
    """Judge `samples` (one per timed round) at percentile `q` against `budget_ms`.

    `times_s` are the timer's raw readings for the same rounds (pytest-benchmark's data); when
    absent, each sample's own total time is used. Bad samples (no response, or not a 2xx:
    `bad_answer`) rank above every good one: when more of them are bad than the percentile
    leaves out, it is not reached (value_ms None) and the check fails.
    """
    bad = [bad_answer(s) for s in samples]
    good = [i for i, why in enumerate(bad) if why is None]
    failed = len(samples) - len(good)
    first_error = next((why[1] for why in bad if why is not None), None)
    kinds = tuple(Counter(why[0] for why in bad if why is not None).most_common())
    if not good:
        return LatencyResult(q, budget_ms, len(samples), failed, None, None, None, {},
                             first_error, kinds)
    readings = times_s if times_s is not None and len(times_s) == len(samples) else None
    # A request that got no good answer took "for ever" as far as its caller is concerned: it
    # counts above every good one, so a p95 over a run with 13% bad samples is not reached.
    times = [
        math.inf if bad[i] is not None
        else (readings[i] if readings is not None else (sample.phases.total or 0.0)) * 1000
        for i, sample in enumerate(samples)
    ]
    phases: dict[str, float] = {}
    for name in PHASES:
        values = [getattr(samples[i].phases, name) for i in good]
        present = [v * 1000 for v in values if v is not None]
        if present:
            phases[name] = percentile(present, q)
    return LatencyResult(
        q, budget_ms, len(samples), failed, _finite(percentile(times, q)),
        _finite(percentile(times, 50)), _finite(percentile(times, 99)), phases, first_error,
        kinds,
    )


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
