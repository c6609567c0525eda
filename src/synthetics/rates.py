"""Error-rate counting: which samples count against which documented rate.

Each documented kind of failure is one `FailureKind`, and it owns both ways of counting: the
per-sample test the checks apply to this run's samples, and the same rule as SQL over the
history's samples table (`synthetics.history.store`), so a run and the history window are counted
alike. A 5xx is a response with status >= 500, counted among responses; a timeout is a request
that got no complete answer in time (abandoned samples after a timeout breaker tripped, or once
the run budget was spent, count too), counted among all requests; a DNS resolution failure is a
resolve request that did not end in a valid resolution, whatever the reason (history stores that
verdict as the sample's `ok`, see `record_from_sample`). A kind whose documented rate takes tens
of thousands of samples to show (DNS failures: 0.01%, ~30,000) is `long_window`: history judges it
over the long --dns-window-days window, which the sector balance shares, not the rate window.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from synthetics.expect import valid_ipv4
from synthetics.probe import Sample

__all__ = ["DNS_FAILURES", "FAILURE_KINDS", "FIVE_XX", "TIMEOUTS", "FailureKind", "dns_failure",
           "no_responses", "window_span"]


def dns_failure(sample: Sample) -> str | None:
    """Why this DNS-resolve sample is not a valid resolution, or None when it is."""
    if sample.error is not None:
        return sample.error
    if sample.status != 200:
        return f"HTTP {sample.status}"
    try:
        doc = sample.json()
    except ValueError as exc:
        return str(exc)
    if not isinstance(doc, dict) or doc.get("resolved") is not True:
        return "not resolved"
    if not valid_ipv4(doc.get("ip")):
        return f"invalid ip {doc.get('ip')!r}"
    return None


@dataclass(frozen=True)
class FailureKind:
    """One kind of failure a documented rate counts: which samples count toward the rate (the
    denominator), which of those failed, and both rules again as SQL expressions over the
    columns of history's samples table (status, ok, error_kind)."""

    name: str  # the check's suffix: test_error_rate_<name>
    what: str  # how verdicts name the failures: "5xx responses"
    counts: Callable[[Sample], bool]
    fails: Callable[[Sample], bool]
    counts_sql: str
    fails_sql: str
    #: False when a request without any response is itself a failure (a DNS failure), so a run
    #: in which nothing answered is still judged; True when it is no evidence either way.
    needs_responses: bool = True
    #: True when history judges the kind over the long --dns-window-days window (its rate takes
    #: tens of thousands of samples to show), False for the --history-window-hours window.
    long_window: bool = False

    def count(self, samples: Iterable[Sample]) -> tuple[int, int]:
        """(failures, out of how many) among `samples`."""
        total = failures = 0
        for sample in samples:
            if self.counts(sample):
                total += 1
                failures += self.fails(sample)
        return failures, total


#: A 5xx rate is a share of *responses*: a request that got none (a reset, a refused connection,
#: a timeout) is no evidence about 5xx either way, and counting it would let an endpoint that
#: never answers look shown-below-target.
FIVE_XX = FailureKind("5xx", "5xx responses", lambda s: s.status is not None,
                      lambda s: s.is_5xx, "status IS NOT NULL", "status >= 500")
TIMEOUTS = FailureKind("timeouts", "timeouts", lambda s: True, lambda s: s.is_timeout,
                       "1", "error_kind = 'timeout'")
DNS_FAILURES = FailureKind("dns_failures", "DNS resolution failures", lambda s: True,
                           lambda s: dns_failure(s) is not None, "1", "ok = 0",
                           needs_responses=False, long_window=True)
FAILURE_KINDS = (FIVE_XX, TIMEOUTS, DNS_FAILURES)


def no_responses(samples: Sequence[Sample]) -> str | None:
    """"no responses to judge: …" when samples were taken and none got a response, else None."""
    if not samples or any(s.status is not None for s in samples):
        return None
    return (f"no responses to judge: none of {len(samples)} requests got a response "
            f"(e.g. {samples[0].error})")


def window_span(hours: float) -> str:
    """A history window's length as the verdicts state it: `24 h`, `14 days` (days from 48 h)."""
    return f"{hours:g} h" if hours < 48 else f"{hours / 24:g} days"
