"""Prometheus export (pytest11 entry point `synthetics_metrics`): every run's figures as a textfile
for node_exporter's textfile collector and/or a push to a Pushgateway, with the official client.

Off unless `--metrics-textfile PATH` or `--pushgateway URL` is given. Written once, by the
controller, at the end of the session; the push ends within `--push-timeout` on the wall clock
whatever the gateway does (`synthetics.deadline`). Names follow Prometheus conventions (base
units in the name, `_seconds`, counters end in `_total`); every series carries `target` and
`region` labels, so runs from several regions land side by side in one Prometheus (the
Pushgateway groups by job and region, so one region's push never replaces another's).

- `synthetics_check_success{check,subject,area}`: gauge, 1 pass / 0 fail
- `synthetics_check_insufficient_evidence{check,subject,area}`: gauge, 1 when the data could
  not show the target met
- `synthetics_latency_seconds{endpoint,percentile}`: gauge, the judged percentile
- `synthetics_latency_budget_seconds{endpoint}`: gauge, the documented budget
- `synthetics_request_duration_seconds{endpoint}`: histogram of this run's successful samples
- `synthetics_requests_total{endpoint,result}`: counter of this run's samples by result
  (ok, 5xx, timeout, error)
- `synthetics_request_failures_total{endpoint,reason,code}`: counter of this run's failed
  exchanges by who failed (`reason`: worker, limit, edge, network; `code`: Cloudflare's 1101,
  1015, 522, ..., an HTTP status, or a network error kind; `synthetics.attribution`)
- `synthetics_checks{status}`: gauge, the run's checks by status
- `synthetics_control_probe_success`: gauge, 1/0 whether the region's control URL answered,
  present when it was probed (the run's health checks failed; see `synthetics.selfheal.heal`)
- `synthetics_run_success`, `synthetics_run_duration_seconds`,
  `synthetics_run_last_completion_timestamp_seconds`: gauges of the run

Samples are counted in the process that took them: under pytest-xdist the request counts and
histogram cover the controller only, while check results and latency figures cover every worker.
"""

from __future__ import annotations

import base64
import os
import socket
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from synthetics.deadline import send
from synthetics.plugin import is_controller
from synthetics.reporting.results import RESULTS, Results
from synthetics.scrub import redact
from synthetics.settings import Option, add_options, positive_float, resolve_values

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

__all__ = ["MetricsSettings", "build_registry", "export"]

#: Buckets of `synthetics_request_duration_seconds`, around the documented budgets (0.1-0.5 s).
BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0)


def _gateway(value: str) -> str:
    """A Pushgateway URL (user:password@ allowed: it becomes basic auth). The messages never
    repeat the value; `resolve_values` quotes it redacted."""
    text = value.strip().rstrip("/")
    parsed = urllib.parse.urlsplit(text if "://" in text else "http://" + text)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValueError("must be a Pushgateway URL such as http://127.0.0.1:9091")
    try:
        parsed.port  # noqa: B018 - raises on a port that is not a number in range
    except ValueError:
        raise ValueError("has an invalid port (a Pushgateway URL such as "
                         "http://127.0.0.1:9091)") from None
    if parsed.query or parsed.fragment:
        raise ValueError("must not have a query or fragment")
    return urllib.parse.urlunsplit(parsed)


def _label(value: str) -> str:
    text = value.strip()
    if not text or len(text) > 128 or any(c in text for c in "/\n"):
        raise ValueError("must be a short name without '/' (e.g. us-east)")
    return text


OPTIONS: tuple[Option, ...] = (
    Option("metrics_textfile", "--metrics-textfile",
           "Write the run's figures in Prometheus text format to this file (e.g. "
           "/var/lib/node_exporter/textfile/synthetics.prom), atomically.", None, str),
    Option("pushgateway", "--pushgateway",
           "Push the run's figures to this Prometheus Pushgateway (e.g. http://127.0.0.1:9091).",
           None, _gateway),
    Option("metrics_job", "--metrics-job",
           "The Pushgateway job name (default synthetics).", "synthetics", _label),
    Option("region", "--region",
           "Where the checks ran from: the `region` label and the Pushgateway grouping key "
           "(default: the host name).", None, _label),
    Option("push_timeout", "--push-timeout",
           "Seconds a push to the Pushgateway may take, on the wall clock (default 10).", 10.0,
           positive_float),
)


@dataclass(frozen=True)
class MetricsSettings:
    """The resolved metrics settings of one session."""

    metrics_textfile: str | None
    pushgateway: str | None
    metrics_job: str
    region: str | None
    push_timeout: float


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser, OPTIONS, "synthetics metrics", "Prometheus export of the run's figures")


METRICS_SETTINGS = pytest.StashKey[MetricsSettings]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[METRICS_SETTINGS] = MetricsSettings(**resolve_values(config, OPTIONS))


def build_registry(results: Results, region: str, target: str) -> CollectorRegistry:
    """A registry holding this run's figures."""
    # Deferred for start-up: only a run that writes or pushes metrics needs prometheus_client.
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

    registry = CollectorRegistry()
    base = {"target": target, "region": region}
    names = ["target", "region"]
    success = Gauge("synthetics_check_success", "1 when the check passed, 0 when it failed.",
                    names + ["check", "subject", "area"], registry=registry)
    unsure = Gauge("synthetics_check_insufficient_evidence",
                   "1 when the check passed without enough data to show the target is met.",
                   names + ["check", "subject", "area"], registry=registry)
    for c in results.checks.values():
        if c.status == "skipped":
            continue
        labels = dict(base, check=c.check, subject=c.subject, area=c.area)
        success.labels(**labels).set(0 if c.status == "fail" else 1)
        unsure.labels(**labels).set(1 if c.status == "insufficient" else 0)
    latency = Gauge("synthetics_latency_seconds",
                    "The judged latency percentile of the endpoint in this run.",
                    names + ["endpoint", "percentile"], registry=registry)
    budget = Gauge("synthetics_latency_budget_seconds", "The documented latency budget.",
                   names + ["endpoint"], registry=registry)
    for c in results.checks.values():
        rec = c.latency
        if not rec:
            continue
        endpoint = str(rec.get("endpoint") or c.subject)
        if rec.get("value_ms") is not None:
            latency.labels(**base, endpoint=endpoint, percentile=f"{rec['percentile']:g}").set(
                float(rec["value_ms"]) / 1000)
        budget.labels(**base, endpoint=endpoint).set(float(rec.get("budget_ms") or 0) / 1000)
    durations = Histogram("synthetics_request_duration_seconds",
                          "Time of each successful sample of this run, request to body read.",
                          names + ["endpoint"], buckets=BUCKETS, registry=registry)
    requests = Counter("synthetics_requests", "Samples this run took, by result.",
                       names + ["endpoint", "result"], registry=registry)
    for endpoint, counts in sorted(results.endpoints.items()):
        for seconds in counts.durations_s:
            durations.labels(**base, endpoint=endpoint).observe(seconds)
        other_errors = counts.errors - counts.timeouts
        ok_not_5xx = counts.ok - counts.status_5xx
        for result, n in (("ok", ok_not_5xx), ("5xx", counts.status_5xx),
                          ("timeout", counts.timeouts), ("error", other_errors)):
            requests.labels(**base, endpoint=endpoint, result=result).inc(max(0, n))
    failures = Counter("synthetics_request_failures",
                       "Failed exchanges this run saw, by who failed (reason: worker, limit, "
                       "edge, network) and code (a Cloudflare code, HTTP status or error kind).",
                       names + ["endpoint", "reason", "code"], registry=registry)
    for endpoint, counts in sorted(results.endpoints.items()):
        for (reason, code), n in sorted(counts.failures.items()):
            failures.labels(**base, endpoint=endpoint, reason=reason, code=code).inc(n)
    checks = Gauge("synthetics_checks", "Checks of this run by status.", names + ["status"],
                   registry=registry)
    for status in ("pass", "fail", "insufficient", "skipped"):
        checks.labels(**base, status=status).set(
            sum(1 for c in results.checks.values() if c.status == status))
    control = (results.extra.get("heal") or {}).get("control")
    if isinstance(control, dict):
        Gauge("synthetics_control_probe_success",
              "1 when the region's control URL answered (probed when health checks failed).",
              names, registry=registry).labels(**base).set(1 if control.get("reachable") else 0)
    Gauge("synthetics_run_success", "1 when every check of the run passed.", names,
          registry=registry).labels(**base).set(0 if results.failed else 1)
    finished = results.finished or results.started
    Gauge("synthetics_run_duration_seconds", "How long the run took.", names,
          registry=registry).labels(**base).set(max(0.0, finished - results.started))
    Gauge("synthetics_run_last_completion_timestamp_seconds",
          "When the run finished, in epoch seconds.", names,
          registry=registry).labels(**base).set(finished)
    return registry


def _split_credentials(url: str) -> tuple[str, str | None, str | None]:
    """(URL without user:password@, user, password): credentials go to basic auth, never to
    any output."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None:
        return url, None, None
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return (urllib.parse.urlunsplit(parts._replace(netloc=netloc)),
            urllib.parse.unquote(parts.username), urllib.parse.unquote(parts.password or ""))


def push_handler(user: str | None = None, password: str | None = None) -> Callable[..., Any]:
    """A prometheus_client push handler whose request ends within the push timeout on the wall
    clock (its own handlers bound each socket operation only), with basic auth when given."""
    def handler(url: str, method: str, timeout: float | None, headers: list[tuple[str, str]],
                data: bytes) -> Callable[[], None]:
        def handle() -> None:
            sent = list(headers)
            if user is not None:
                token = base64.b64encode(f"{user}:{password or ''}".encode()).decode()
                sent.append(("Authorization", f"Basic {token}"))
            status = send(method, url, timeout=timeout or 30.0, body=data, headers=sent)
            if status >= 400:
                raise OSError(f"error talking to pushgateway: HTTP {status}")
        return handle
    return handler


def export(settings: MetricsSettings, results: Results,
           push: Callable[..., None] | None = None,
           hostname: Callable[[], str] = socket.gethostname) -> list[str]:
    """Write the textfile and push to the Pushgateway (with `push`, default prometheus_client's
    `push_to_gateway`) as configured; one line per thing done or failed (a metrics failure
    never fails the checks)."""
    # Deferred for start-up: only a run that writes or pushes metrics needs prometheus_client.
    from prometheus_client.exposition import push_to_gateway, write_to_textfile

    region = settings.region or hostname()
    registry = build_registry(results, region, results.worker.label)
    lines = []
    if settings.metrics_textfile:
        try:
            directory = os.path.dirname(os.path.abspath(settings.metrics_textfile))
            os.makedirs(directory, exist_ok=True)
            write_to_textfile(settings.metrics_textfile, registry)
            lines.append(f"metrics written to {settings.metrics_textfile}")
        except OSError as exc:
            lines.append(f"metrics: could not write {settings.metrics_textfile}: {exc}")
    if settings.pushgateway:
        gateway, user, password = _split_credentials(settings.pushgateway)
        try:
            (push or push_to_gateway)(gateway, job=settings.metrics_job, registry=registry,
                 grouping_key={"region": region}, timeout=settings.push_timeout,
                 handler=push_handler(user, password))
            lines.append(f"metrics pushed to {gateway} "
                         f"(job {settings.metrics_job}, region {region})")
        except Exception as exc:  # noqa: BLE001 - any push failure is one line, not a traceback
            text = str(exc).replace(settings.pushgateway, gateway)
            if password:
                text = text.replace(password, "[redacted]")
            lines.append(redact(f"metrics: push to {gateway} failed: {type(exc).__name__}: "
                                f"{text}"))
    return lines


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter: Any, exitstatus: int,
                            config: pytest.Config) -> None:
    settings = config.stash.get(METRICS_SETTINGS, None)
    results = config.stash.get(RESULTS, None)
    if settings is None or results is None or not is_controller(config):
        return
    if not (settings.metrics_textfile or settings.pushgateway):
        return
    for line in export(settings, results):
        terminalreporter.write_line(line)

