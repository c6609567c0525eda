"""Results of one run, gathered once for every output: the HTML report, the JSON summary, the
GitHub Actions step summary and annotations, and the Prometheus metrics.

A collector plugin (registered by `synthetics.reporting.report`) reads each check's report: its
outcome, its
one-line failure reason, the verdict it recorded, the latency samples the latency check recorded,
and, for a failed check, the request and response it was judged on (scrubbed of secrets). All of
it travels on `user_properties`, so it survives pytest-xdist. Samples seen by the probe in this
process are also counted per endpoint for the metrics. `Results.summary()` is the machine-readable
summary (`reports/summary.json`): one entry per documented target, with its measured value and
verdict, plus every check's outcome (a failed check's with who failed: `attribution`), the
failed exchanges by who failed (`failures_by_source`), the first failed exchanges with their
colo and ray id (`failed_exchanges`) and this run's latency by colo (`latency_by_colo`).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pytest

from synthetics.attribution import failed_exchange, ray_of
from synthetics.expectations import AREAS, EXPECTATIONS
from synthetics.plugin import recorded_verdicts
from synthetics.probe import PHASES, Sample
from synthetics.scrub import scrub
from synthetics.worker import Worker

__all__ = [
    "ACCESS_PROPERTY", "EXCHANGE_PROPERTY", "LATENCY_PROPERTY", "RESULTS", "SCHEMA", "CheckResult",
    "EndpointCounts", "Results", "exchange", "latency_record", "split_name",
]

LATENCY_PROPERTY = "synthetics_latency"
EXCHANGE_PROPERTY = "synthetics_exchange"
ACCESS_PROPERTY = "synthetics_access_patterns"  # written by test_review_access_patterns
SCHEMA = "victory36-synthetics/summary/v1"
#: The session's `Results`, filled by the report plugin's collector, read by every output.
RESULTS = pytest.StashKey["Results"]()

#: Failed exchanges kept with their ray id and colo for the report and summary.json.
MAX_FAILED_EXCHANGES = 50
#: Bytes of a failed response's body shown in the report.
BODY_PREVIEW_BYTES = 2048
#: Request and response headers whose values are never shown, whatever they hold.
SECRET_HEADERS = frozenset({
    "authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "x-auth-token",
    "cf-access-client-secret", "cf-access-jwt-assertion", "x-amz-security-token",
})


def split_name(name: str) -> tuple[str, str]:
    """`test_x[subject]` → (`test_x`, `subject`); no brackets → (name, "")."""
    if name.endswith("]") and "[" in name:
        check, _, rest = name.partition("[")
        return check, rest[:-1]
    return name, ""


def _area(check: str) -> str:
    return next((a for a in AREAS if check.startswith(f"test_{a}_")), "")


def _headers(headers: Sequence[tuple[str, str]] | Mapping[str, str]) -> list[list[str]]:
    items = headers.items() if isinstance(headers, Mapping) else headers
    return [[k, "[redacted]" if k.lower() in SECRET_HEADERS else scrub(v)] for k, v in items]


def exchange(sample: Sample, base_url: str) -> dict[str, Any]:
    """The request and response of `sample` as the report shows them, scrubbed of secrets.

    Secret header values are replaced whole; every other value, the URL and the first
    `BODY_PREVIEW_BYTES` of the body pass through `synthetics.scrub.scrub`, which replaces the
    values of secret environment variables (CLOUDFLARE_API_TOKEN, ...).
    """
    req = sample.request
    body = sample.body[:BODY_PREVIEW_BYTES].decode("utf-8", "replace")
    request_body = "" if req.json_body is None else json.dumps(req.json_body)[:BODY_PREVIEW_BYTES]
    return {
        "request": {
            "method": req.method, "url": scrub(base_url.rstrip("/") + req.path),
            "headers": _headers(req.headers), "body": scrub(request_body),
        },
        "response": {
            "status": sample.status, "headers": _headers(sample.headers),
            "body": scrub(body), "body_bytes": len(sample.body),
            "truncated": len(sample.body) > BODY_PREVIEW_BYTES,
            "error": scrub(sample.error) if sample.error else None,
        },
        "started": sample.started,
        "phases_ms": {k: (None if v is None else round(v * 1000, 3))
                      for k, v in sample.phases.as_dict().items()},
        # Who failed (synthetics.attribution): source, code, ray, colo, server.
        "attribution": sample.attribution(judged_wrong=True).as_dict(),
    }


def latency_record(samples: Sequence[Sample], times_ms: Sequence[float], percentile: float,
                   budget_ms: float, value_ms: float | None, endpoint: str) -> dict[str, Any]:
    """What the latency check records for the report's plots: every timed sample's time and
    phases (ms), the percentile, the budget and the measured value."""
    phases: dict[str, list[float | None]] = {name: [] for name in PHASES}
    for s in samples:
        if s.ok:
            for name in PHASES:
                value = getattr(s.phases, name)
                phases[name].append(None if value is None else round(value * 1000, 3))
    return {
        "endpoint": endpoint, "percentile": percentile, "budget_ms": budget_ms,
        "value_ms": value_ms, "times_ms": [round(t, 3) for t in times_ms],
        "failed": sum(1 for s in samples if not s.ok), "phases_ms": phases,
    }


def _rank(ordered: Sequence[float], q: float) -> float:
    """The `q` quantile (nearest rank) of sorted seconds, in ms."""
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 3)


@dataclass
class CheckResult:
    """One check's outcome and everything recorded about it."""

    nodeid: str
    name: str  # test_latency_within_budget[health]
    check: str  # test_latency_within_budget
    subject: str  # health
    area: str
    outcome: str  # passed | failed | skipped | error
    message: str = ""
    duration: float = 0.0
    verdict: dict[str, Any] | None = None
    latency: dict[str, Any] | None = None
    exchange: dict[str, Any] | None = None
    access: dict[str, Any] | None = None  # the access-pattern review's summary table

    @property
    def status(self) -> str:
        """pass | fail | insufficient | skipped: the verdict where one was recorded."""
        if self.outcome in ("failed", "error"):
            return "fail"
        if self.outcome == "skipped":
            return "skipped"
        if self.verdict is not None:
            return str(self.verdict.get("verdict", "pass"))
        return "pass"


@dataclass
class EndpointCounts:
    """Samples this process took of one endpoint, for the metrics."""

    requests: int = 0
    ok: int = 0
    status_5xx: int = 0
    timeouts: int = 0
    errors: int = 0  # no complete response (timeouts included)
    durations_s: list[float] = field(default_factory=list)
    #: Failed exchanges by who failed: {("edge", "522"): 3} (synthetics.attribution).
    failures: dict[tuple[str, str], int] = field(default_factory=dict)
    #: Durations of successful samples by the colo that served them (cf-ray).
    colo_durations_s: dict[str, list[float]] = field(default_factory=dict)


@dataclass
class Results:
    """Everything one run found out, in the order the checks finished."""

    started: float = field(default_factory=time.time)
    #: The worker checked (the built-in reference worker unless --target named one).
    worker: Worker = field(default_factory=lambda: Worker.from_target(None))
    checks: dict[str, CheckResult] = field(default_factory=dict)
    endpoints: dict[str, EndpointCounts] = field(default_factory=dict)
    finished: float | None = None
    exitstatus: int | None = None
    #: Further top-level keys of the summary (the region's vote for `synthetics heal`).
    extra: dict[str, Any] = field(default_factory=dict)
    #: The first `MAX_FAILED_EXCHANGES` failed exchanges: what Cloudflare support asks for.
    failed_exchanges: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add_sample(self, sample: Sample) -> None:
        with self._lock:
            counts = self.endpoints.setdefault(sample.request.endpoint, EndpointCounts())
            counts.requests += 1
            if sample.ok:
                counts.ok += 1
                if sample.phases.total is not None:
                    counts.durations_s.append(sample.phases.total)
            else:
                counts.errors += 1
                if sample.is_timeout:
                    counts.timeouts += 1
            if sample.is_5xx:
                counts.status_5xx += 1
            who = failed_exchange(sample)
            if who is not None:
                key = (who.source, who.code)
                counts.failures[key] = counts.failures.get(key, 0) + 1
                if len(self.failed_exchanges) < MAX_FAILED_EXCHANGES:
                    self.failed_exchanges.append({
                        "endpoint": sample.request.endpoint,
                        "request": scrub(sample.request.describe()), "started": sample.started,
                        "status": sample.status, "source": who.source, "code": who.code,
                        "label": who.label(), "ray": who.ray, "colo": who.colo,
                        "server": who.server})
            elif sample.ok and sample.phases.total is not None:
                colo = ray_of(sample.headers)[1]
                if colo is not None:
                    counts.colo_durations_s.setdefault(colo, []).append(sample.phases.total)

    def record(self, nodeid: str, name: str, outcome: str, message: str, duration: float,
               properties: Sequence[tuple[str, object]]) -> CheckResult:
        """Add (or update, for an error in teardown) the result of one check."""
        check, subject = split_name(name)
        result = self.checks.get(nodeid)
        if result is None:
            result = CheckResult(nodeid, name, check, subject, _area(check), outcome, message,
                                 duration)
            self.checks[nodeid] = result
        elif outcome in ("failed", "error") and result.outcome not in ("failed", "error"):
            result.outcome, result.message = outcome, message
        verdicts = recorded_verdicts(properties)
        if verdicts:
            result.verdict = verdicts[-1]
        for key, value in properties:
            if not isinstance(value, dict):
                continue
            if key == LATENCY_PROPERTY:
                result.latency = value
            elif key == EXCHANGE_PROPERTY:
                result.exchange = value
            elif key == ACCESS_PROPERTY:
                result.access = value
        return result

    @property
    def failed(self) -> list[CheckResult]:
        return [c for c in self.checks.values() if c.status == "fail"]

    def target_rows(self) -> list[dict[str, Any]]:
        """One row per documented target (EXPECTATIONS): measured value, threshold and verdict.

        A target whose check did not run this time says so (`not run`); checks that verify a
        fact rather than measure a number show their outcome as the measured value.
        """
        by_name = {c.name: c for c in self.checks.values()}
        rows = []
        for t in EXPECTATIONS:
            c = by_name.get(f"{t.check}[{t.subject}]")
            threshold = (c.verdict or {}).get("threshold") if c else None
            measured = (c.verdict or {}).get("measured") if c else None
            if c is None:
                status, measured = "not run", "—"
            else:
                status = c.status
                if measured is None:
                    measured = {"pass": "as expected", "fail": c.message or "failed",
                                "skipped": f"skipped: {c.message}"}.get(status, status)
            rows.append({
                "check": t.check, "subject": t.subject, "area": t.area,
                "target": t.statement,
                "threshold": threshold or t.threshold_text,
                "measured": scrub(str(measured)), "verdict": status,
                "detail": scrub(str((c.verdict or {}).get("detail", "")) if c else ""),
                "source": t.source, "nodeid": c.nodeid if c else None,
            })
        return rows

    def summary(self) -> dict[str, Any]:
        """The machine-readable summary of the run (see reports/summary.json)."""
        counts: dict[str, int] = {}
        for c in self.checks.values():
            counts[c.status] = counts.get(c.status, 0) + 1
        checks = []
        for c in self.checks.values():
            entry = {k: v for k, v in asdict(c).items()
                     if k not in ("latency", "exchange", "access")}
            entry["verdict"] = c.status
            entry["message"] = scrub(c.message)
            entry["measured"] = (c.verdict or {}).get("measured")
            entry["threshold"] = (c.verdict or {}).get("threshold")
            entry["detail"] = scrub(str((c.verdict or {}).get("detail", "")))
            if c.exchange and c.status == "fail":
                entry["attribution"] = c.exchange.get("attribution")
            if c.latency:
                entry["latency"] = {k: c.latency.get(k) for k in
                                    ("endpoint", "percentile", "budget_ms", "value_ms", "failed")}
                entry["latency"]["samples"] = len(c.latency.get("times_ms", []))
            checks.append(entry)
        return {
            "schema": SCHEMA,
            "target": scrub(self.worker.url or ""),
            "builtin_reference_worker": self.worker.builtin,
            "started": self.started, "finished": self.finished,
            "exit_status": self.exitstatus, "ok": not self.failed,
            "counts": counts, "targets": self.target_rows(), "checks": checks,
            "failures_by_source": self.failures_by_source(),
            "failed_exchanges": list(self.failed_exchanges),
            "latency_by_colo": self.latency_by_colo(),
            **self.extra,
        }

    def failures_by_source(self) -> dict[str, dict[str, int]]:
        """{endpoint: {"edge 522": 3, "network timeout": 1}} over this process's samples."""
        return {endpoint: {f"{source} {code}": n for (source, code), n in
                           sorted(counts.failures.items())}
                for endpoint, counts in sorted(self.endpoints.items()) if counts.failures}

    def latency_by_colo(self) -> dict[str, dict[str, dict[str, float | int]]]:
        """{endpoint: {colo: {"samples", "p50_ms", "p95_ms"}}} of the successful samples."""
        out: dict[str, dict[str, dict[str, float | int]]] = {}
        for endpoint, counts in sorted(self.endpoints.items()):
            for colo, values in sorted(counts.colo_durations_s.items()):
                ordered = sorted(values)
                out.setdefault(endpoint, {})[colo] = {
                    "samples": len(ordered), "p50_ms": _rank(ordered, 0.5),
                    "p95_ms": _rank(ordered, 0.95)}
        return out

    def write_summary(self, path: str | os.PathLike[str]) -> Path:
        """Write `summary()` as JSON to `path` (atomically: a reader never sees half a file)."""
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text(json.dumps(self.summary(), indent=2, default=str) + "\n",
                       encoding="utf-8")
        tmp.replace(out)
        return out
