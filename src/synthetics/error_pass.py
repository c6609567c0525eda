"""The error-rate sampling pass, curtailed: an endpoint's sampling stops as soon as one of its
error-rate checks is certain to fail, whatever the rest of the pass would show.

A check's failure count only grows as samples come in, and the count at which it fails
(`stats.failure_threshold`) never falls as samples are added. So "certain to fail" is exactly
"the failures already reach the fail count of the largest sample the check could judge" (every
remaining request answered, cleanly): from then on the verdict over the samples taken is the
verdict over the full pass, and a run keeps the full pass's false-alarm budget and power. The
other checks of a stopped endpoint are judged over the samples taken, and their verdicts say so
(the run fails whatever they show).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

from synthetics.expectations import EXPECTATIONS, Expectation, fail_alpha
from synthetics.probe import Probe, Request, Sample
from synthetics.rates import DNS_FAILURES
from synthetics.stats import failure_threshold

__all__ = ["Decision", "ErrorRatePass", "check_alpha", "judged"]


def check_alpha(false_alarm_budget: float, with_history: bool) -> float:
    """The alpha at which one error-rate check judges this run's samples: `fail_alpha`, halved
    when the check also judges the history window (either verdict failing fails the check, so
    each gets half and a healthy worker's false-alarm chance stays within the budget)."""
    return fail_alpha(false_alarm_budget) / (2 if with_history else 1)


def judged(expectation: Expectation, request: Request) -> bool:
    """Whether the error-rate row `expectation` judges samples of `request`: a 5xx or timeout row
    every sample of its endpoint, a DNS-failure row the GET resolves of its domain."""
    if expectation.failure is DNS_FAILURES:
        return (request.endpoint == "dns" and request.subject == expectation.subject
                and request.method == "GET")
    return request.endpoint == expectation.subject


@dataclass(frozen=True)
class Decision:
    """An error-rate check that became certain to fail during the pass, which stopped its
    endpoint's sampling (for a DNS-failure check, only its domain's samples)."""

    expectation: Expectation
    failures: int
    taken: int  # samples the check judged when its verdict became certain
    planned: int  # samples it would have judged had the pass run to the end

    @property
    def domain(self) -> str:
        """The DNS domain whose samples stopped, or "" when the whole endpoint did."""
        return self.expectation.subject if self.expectation.failure is DNS_FAILURES else ""

    @property
    def endpoint(self) -> str:
        return "dns" if self.domain else self.expectation.subject

    def stops(self, request: Request) -> bool:
        return request.endpoint == self.endpoint and self.domain in ("", request.subject)

    def describe(self) -> str:
        return f"decided after {self.taken} of {self.planned} samples"


class _Watch:
    """One error-rate check's running count during the pass."""

    def __init__(self, expectation: Expectation, prior: Sequence[Sample],
                 planned: Sequence[Request], alpha: float) -> None:
        assert expectation.failure is not None
        self.expectation, self.kind = expectation, expectation.failure
        self.failures, self.taken = self.kind.count(s for s in prior
                                                    if judged(expectation, s.request))
        # The most samples the check can judge: every planned request answered. The fail count
        # of any smaller total is no larger, so reaching this one decides every outcome.
        self.planned = self.taken + sum(judged(expectation, r) for r in planned)
        self.threshold = failure_threshold(self.planned, expectation.threshold or 0.0, alpha)

    def observe(self, sample: Sample) -> bool:
        """Count `sample`; True when this makes the check certain to fail."""
        if judged(self.expectation, sample.request):
            failures, taken = self.kind.count([sample])
            self.failures, self.taken = self.failures + failures, self.taken + taken
        return self.certain()

    def certain(self) -> bool:
        return self.failures >= self.threshold

    def decision(self) -> Decision:
        return Decision(self.expectation, self.failures, self.taken, self.planned)


class ErrorRatePass:
    """The error-rate sampling pass, curtailed per endpoint (see the module's docstring).

    Built with the samples the session already took (the checks judge those too), the planned
    requests and the alpha the checks judge at. `samples` are the pass's samples once `run`;
    `decisions` the checks that became certain to fail, in the order they did.
    """

    def __init__(self, prior: Sequence[Sample], planned: Sequence[Request], alpha: float) -> None:
        self._lock = threading.Lock()
        self._watches = [_Watch(t, prior, planned, alpha) for t in EXPECTATIONS
                         if t.failure is not None]
        self.decisions = [w.decision() for w in self._watches if w.certain()]
        self.planned = list(planned)
        self.samples: list[Sample] = []

    def observe(self, sample: Sample) -> None:
        """Count one sample of the pass (called from the sampler's threads)."""
        with self._lock:
            decided = {d.expectation for d in self.decisions}
            for watch in self._watches:
                if watch.observe(sample) and watch.expectation not in decided:
                    self.decisions.append(watch.decision())

    def skip(self, request: Request) -> bool:
        """True once `request`'s endpoint (or DNS domain) has a check certain to fail."""
        with self._lock:
            return any(d.stops(request) for d in self.decisions)

    def run(self, probe: Probe, concurrency: int) -> ErrorRatePass:
        """Take the planned samples with `probe`, at most `concurrency` in flight."""
        probe.log.listeners.append(self.observe)
        try:
            self.samples = probe.sample_many(self.planned, concurrency, skip=self.skip)
        finally:
            probe.log.listeners.remove(self.observe)
        return self

    def note(self, expectation: Expectation) -> str | None:
        """What the verdict of the error-rate row `expectation` says about a stop, or None."""
        for d in self.decisions:
            if d.expectation == expectation:
                return d.describe()
        for d in self.decisions:
            if any(d.stops(r) and judged(expectation, r) for r in self.planned):
                return (f"sampling of {d.endpoint}{f' ({d.domain})' if d.domain else ''} "
                        f"stopped after {d.taken} of {d.planned} samples: "
                        f"{d.expectation.check}[{d.expectation.subject}] was certain to fail")
        return None
