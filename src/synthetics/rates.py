"""Error-rate counting: which samples count against which documented rate.

A 5xx is a response with status >= 500, counted among responses; a timeout is a request that got
no complete answer in time (abandoned samples after a timeout breaker tripped, or once the run
budget was spent, count too), counted among all requests; a DNS resolution failure is a resolve
request that did not end in a valid resolution, whatever the reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from synthetics.expect import valid_ipv4
from synthetics.expectations import EXPECTATIONS, REAL_TRAFFIC_CHECKS
from synthetics.probe import Sample

__all__ = ["count_failures", "dns_failure", "fail_alpha", "no_responses"]


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


def no_responses(samples: Sequence[Sample]) -> str | None:
    """"no responses to judge: …" when samples were taken and none got a response, else None."""
    if not samples or any(s.status is not None for s in samples):
        return None
    return (f"no responses to judge: none of {len(samples)} requests got a response "
            f"(e.g. {samples[0].error})")


def fail_alpha(false_alarm_budget: float) -> float:
    """Each error-rate check's chance of failing a healthy target.

    The run's budget (default 0.1%: "a healthy target raises no error-rate failure in at least
    99.9% of runs") is split evenly over the error-rate checks (Bonferroni), so that the chance
    that *any* of them fails a healthy target stays within it.

    The split is over the synthetic error-rate checks only. The opt-in real-traffic check
    (`REAL_TRAFFIC_CHECKS`, run with --review and Cloudflare credentials) uses the same per-check
    alpha without changing it: a run that includes it may false-alarm with up to (n + 1) / n of
    the budget; its verdicts rest on millions of invocations, where the bound is far from the
    line either way.
    """
    checks = sum(1 for t in EXPECTATIONS
                 if t.area == "error_rate" and t.check not in REAL_TRAFFIC_CHECKS)
    return false_alarm_budget / checks
