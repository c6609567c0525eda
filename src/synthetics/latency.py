"""Latency verdicts: a percentile of timed samples against a budget, and which phase was slow.

The times are each sample's own exchange as the probe timed it (`synthetics.streams` hands them
to pytest-benchmark afterwards, which has no percentiles of its own), and the phase breakdown
comes from the samples' httpx trace marks, so that a failure says whether the time went into
connecting, TLS, the server's wait, or reading the body.

Only the endpoint's real answers are timed: a sample counts toward the percentile when it is a
complete 2xx response (what the endpoint's functional check accepts at the status level; a
redirect is never followed, so it is not an answer). A fast 503 or a 302 is not a fast answer:
like a request that got no response, it ranks above every good sample, so a run in which more
than (100 - percentile)% of the samples are bad fails, and says why.

The verdict is sequential: a check plans `--latency-samples` samples and stops as soon as the
ones taken decide the verdict whatever the others would be (`decided`). The percentile never
falls when a sample's time grows (`synthetics.stats.percentile`), so the samples not taken can
move it no lower than if they all took 0 ms and no higher than if they were all bad:
`percentile_bounds` computes both, and the verdict is certain once both sit on the same side of
the budget. That is exact, interpolation between two order statistics included: a run stopped
early gets the verdict the full run would have got, whatever its remaining samples.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from synthetics.probe import PHASES, Sample
from synthetics.stats import percentile

__all__ = ["LatencyResult", "bad_answer", "decided", "judged_ms", "percentile_bounds",
           "summarize"]

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
    value_ms: float | None  # the percentile of the samples taken; None when bad ones reach it
    p50_ms: float | None
    p99_ms: float | None
    phases_ms: dict[str, float] = field(default_factory=dict)  # each phase at the percentile
    first_error: str | None = None  # why the first bad sample was bad
    #: How many bad samples of each kind ("HTTP 503", "no response"), most frequent first.
    bad_kinds: tuple[tuple[str, int], ...] = ()
    #: Samples the run planned; more than `samples` when the verdict was decided early.
    planned: int | None = None
    #: In a run decided early, the bound on the full run's percentile that decided it: its
    #: least value if it failed, its greatest if it passed (None: infinite, bad samples).
    bound_ms: float | None = None

    @property
    def decisive_ms(self) -> float | None:
        """What the verdict compares with the budget: the percentile, or the bound that decided
        a run stopped early."""
        return self.bound_ms if self.not_taken else self.value_ms

    @property
    def ok(self) -> bool:
        decisive = self.decisive_ms
        return decisive is not None and decisive < self.budget_ms

    @property
    def slowest_phase(self) -> str | None:
        if not self.phases_ms:
            return None
        return max(self.phases_ms, key=lambda k: self.phases_ms[k])

    @property
    def not_taken(self) -> int:
        """Planned samples not taken: the verdict was certain without them."""
        return 0 if self.planned is None else self.planned - self.samples

    def _bad(self) -> str:
        """The bad samples by kind: "HTTP 503 ×90, no response ×15"."""
        return ", ".join(f"{kind} ×{count}" for kind, count in self.bad_kinds)

    def describe(self) -> str:
        label = f"p{self.percentile:g}"
        rest = self.not_taken
        decided = f"; decided after {self.samples} of {self.planned} samples" if rest else ""
        decisive = self.decisive_ms
        if decisive is None:
            if self.failed == self.samples:
                return (f"no sample of {self.samples} was a 2xx answer ({self._bad()}): "
                        f"{self.first_error}{decided}")
            of = f"the {self.planned} planned" if rest else f"{self.samples}"
            return (f"{label} not reached: {self.failed} of {of} samples were not a "
                    f"2xx answer ({self._bad()}; e.g. {self.first_error}), more than the "
                    f"{100 - self.percentile:g}% a {label} leaves out{decided}")
        if rest:
            text = (f"{label} {'at most' if self.ok else 'at least'} {decisive:.1f} ms "
                    f"{'<' if self.ok else '>='} {self.budget_ms:g} ms budget whatever the "
                    f"other {rest} samples{decided} ({label} {_ms(self.value_ms)}, p50 "
                    f"{_ms(self.p50_ms)}, p99 {_ms(self.p99_ms)} of those taken)")
        else:
            text = (f"{label} {decisive:.1f} ms {'<' if self.ok else '>='} "
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

    def measured(self) -> str:
        """The figure the verdict rests on, for the table of targets ("p95 12.3 ms"; "p95 ≥
        240.0 ms" or "p95 ≤ 12.3 ms" when the run was decided early)."""
        decisive = self.decisive_ms
        if decisive is None:
            return f"{self.failed} of {self.samples} not a 2xx answer"
        bound = ("≤ " if self.ok else "≥ ") if self.not_taken else ""
        return f"p{self.percentile:g} {bound}{decisive:.1f} ms"

    def extra_info(self) -> dict[str, object]:
        """The figures saved in the benchmark JSON."""
        return {
            "percentile": self.percentile, "budget_ms": self.budget_ms,
            "value_ms": self.value_ms, "p50_ms": self.p50_ms, "p99_ms": self.p99_ms,
            "samples": self.samples, "failed": self.failed, "phases_ms": self.phases_ms,
            "slowest_phase": self.slowest_phase, "ok": self.ok,
            "bad_kinds": dict(self.bad_kinds),
            "planned": self.samples if self.planned is None else self.planned,
            "bound_ms": self.bound_ms,
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


def judged_ms(sample: Sample, reading_s: float | None = None) -> float:
    """What `sample` counts as toward the percentile, in ms: its time (the timer's reading when
    there is one, else the sample's own total), or infinity when it is not a good answer."""
    # A request that got no good answer took "for ever" as far as its caller is concerned: it
    # counts above every good one, so a p95 over a run with 13% bad samples is not reached.
    if bad_answer(sample) is not None:
        return math.inf
    return (reading_s if reading_s is not None else (sample.phases.total or 0.0)) * 1000


def percentile_bounds(times_ms: Sequence[float], planned: int, q: float) -> tuple[float, float]:
    """The least and the greatest value the q-th percentile of `planned` samples can take when
    `times_ms` (`judged_ms`) are the first of them.

    The percentile never falls when a time grows, so the samples not yet taken pull it lowest
    when they all take 0 ms and push it highest when they are all bad (infinite): every way
    the run can end lies between the two, and both can happen.
    """
    rest = planned - len(times_ms)
    if rest < 0:
        raise ValueError(f"{len(times_ms)} samples taken of {planned} planned")
    return (percentile([*times_ms, *[0.0] * rest], q),
            percentile([*times_ms, *[math.inf] * rest], q))


def decided(times_ms: Sequence[float], planned: int, q: float, budget_ms: float) -> bool:
    """Whether the first `times_ms` of `planned` samples settle the verdict at percentile `q`:
    fail once samples of 0 ms could not bring the percentile under `budget_ms`, pass once bad
    samples could not lift it to the budget. Always true once every planned sample is in."""
    least, most = percentile_bounds(times_ms, planned, q)
    return least >= budget_ms or most < budget_ms


def summarize(
    samples: Sequence[Sample],
    times_s: Sequence[float] | None,
    q: float,
    budget_ms: float,
    planned: int | None = None,
) -> LatencyResult:
    """Judge `samples` (one per timed round) at percentile `q` against `budget_ms`.

    `times_s` are the timer's raw readings for the same rounds (pytest-benchmark's data); when
    absent, each sample's own total time is used. Bad samples (no response, or not a 2xx:
    `bad_answer`) rank above every good one: when more of them are bad than the percentile
    leaves out, it is not reached (value_ms None) and the check fails.

    `planned` is the number of samples the run planned, when it stopped early because the ones
    taken decided the verdict (`decided`; a ValueError if they do not): the result is the full
    run's verdict, decided by `bound_ms`, the bound on the full run's percentile.
    """
    bad = [bad_answer(s) for s in samples]
    good = [i for i, why in enumerate(bad) if why is None]
    failed = len(samples) - len(good)
    first_error = next((why[1] for why in bad if why is not None), None)
    kinds = tuple(Counter(why[0] for why in bad if why is not None).most_common())
    readings = times_s if times_s is not None and len(times_s) == len(samples) else None
    times = [judged_ms(sample, readings[i] if readings is not None else None)
             for i, sample in enumerate(samples)]
    if planned is not None and not decided(times, planned, q, budget_ms):
        raise ValueError(f"{len(samples)} of {planned} samples do not decide the verdict")
    if not samples:
        return LatencyResult(q, budget_ms, 0, 0, None, None, None)
    phases: dict[str, float] = {}
    for name in PHASES:
        values = [getattr(samples[i].phases, name) for i in good]
        present = [v * 1000 for v in values if v is not None]
        if present:
            phases[name] = percentile(present, q)
    return LatencyResult(
        q, budget_ms, len(samples), failed, _finite(percentile(times, q)),
        _finite(percentile(times, 50)), _finite(percentile(times, 99)), phases, first_error,
        kinds, planned, _bound(times, planned, q, budget_ms),
    )


def _bound(times_ms: list[float], planned: int | None, q: float, budget_ms: float) -> float | None:
    """The bound on the planned run's percentile that decided a run stopped early."""
    if planned is None or planned == len(times_ms):
        return None
    least, most = percentile_bounds(times_ms, planned, q)
    return _finite(least if least >= budget_ms else most)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
