"""Error-rate counting: which samples count against which documented rate.

A 5xx is a response with status >= 500, counted among responses; a timeout is a request that got
no complete answer in time (abandoned samples after a timeout breaker tripped, or once the run
budget was spent, count too), counted among all requests; a DNS resolution failure is a resolve
request that did not end in a valid resolution, whatever the reason.
"""

from __future__ import annotations

from collections.abc import Iterable

from synthetics.expect import valid_ipv4
from synthetics.probe import Sample

__all__ = ["dns_failure", "count_failures"]


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


def count_failures(samples: Iterable[Sample], kind: str) -> tuple[int, int]:
    """(failures, out of how many) for kind "5xx", "timeouts" or "dns_failures".

    A 5xx rate is a share of *responses*: a request that got none (a reset, a refused
    connection, a timeout) is no evidence about 5xx either way, and counting it would let an
    endpoint that never answers look shown-below-target.
    """
    total = failures = 0
    for sample in samples:
        if kind == "5xx":
            if sample.status is None:
                continue
            total += 1
            failures += sample.is_5xx
            continue
        total += 1
        if kind == "timeouts":
            failures += sample.is_timeout
        elif kind == "dns_failures":
            failures += dns_failure(sample) is not None
        else:
            raise ValueError(f"unknown failure kind {kind!r}")
    return failures, total


def fail_alpha(false_alarm_budget: float) -> float:
    """Each error-rate check's chance of failing a healthy target.

    The run's budget (default 0.1%: "a healthy target raises no error-rate failure in at least
    99.9% of runs") is split evenly over the error-rate checks (Bonferroni), so that the chance
    that *any* of them fails a healthy target stays within it.
    """
    from synthetics.targets import TARGETS

    checks = sum(1 for t in TARGETS if t.area == "error_rate")
    return false_alarm_budget / checks
