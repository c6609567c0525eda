"""Prometheus export: the textfile node_exporter's collector reads, and a push to a real
Pushgateway (Debian's prometheus-pushgateway, started here on a loopback port) read back."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from synthetics.probe import Phases, Request, Sample
from synthetics.reporting.metrics import MetricsSettings, export
from synthetics.reporting.results import Results, latency_record
from synthetics.worker import Worker

PUSHGATEWAY = shutil.which("prometheus-pushgateway") or "/usr/bin/prometheus-pushgateway"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _samples(endpoint: str, count: int, seconds: float, status: int = 200) -> list[Sample]:
    return [Sample(Request(endpoint, "/" + endpoint), started=time.time(), status=status,
                   phases=Phases(wait=seconds, total=seconds)) for _ in range(count)]


def _results(latency_ms: float = 150.0) -> Results:
    results = Results(worker=Worker.from_target("https://worker.example"), started=1000.0,
                      finished=1012.5)
    timed = _samples("health", 20, latency_ms / 1000)
    record = latency_record(timed, [latency_ms] * 20, 95.0, 200.0, latency_ms, "health")
    results.record("checks/test_latency.py::test_latency_within_budget[health]",
                   "test_latency_within_budget[health]",
                   "passed" if latency_ms < 200 else "failed", "", 1.0,
                   [("synthetics_latency", record),
                    ("synthetics_verdict", {"verdict": "pass" if latency_ms < 200 else "fail"})])
    results.record("checks/test_error_rate.py::test_error_rate_5xx[orchestrate]",
                   "test_error_rate_5xx[orchestrate]", "passed", "", 1.0,
                   [("synthetics_verdict", {"verdict": "insufficient"})])
    results.record("checks/test_capacity.py::test_capacity_memory[memory]",
                   "test_capacity_memory[memory]", "skipped", "no memory figure", 0.0, [])
    for s in timed + _samples("orchestrate", 7, 0.3) + _samples("orchestrate", 2, 0.3, 503):
        results.add_sample(s)
    timeout = Sample(Request("dns", "/dns"), started=time.time(), error="timed out",
                     error_kind="timeout")
    results.add_sample(timeout)
    return results


def _families(text: str) -> dict[str, Any]:
    return {f.name: f for f in text_string_to_metric_families(text)}


def _value(families: dict[str, Any], sample_name: str, **labels: str) -> float:
    for family in families.values():
        for s in family.samples:
            if s.name == sample_name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    raise AssertionError(f"no sample {sample_name} {labels}")


def test_textfile_contents(tmp_path: Path) -> None:
    path = tmp_path / "textfile" / "synthetics.prom"
    settings = MetricsSettings(str(path), None, "synthetics", "eu-west", 5.0)
    lines = export(settings, _results())
    assert lines == [f"metrics written to {path}"]
    fam = _families(path.read_text())
    base = {"target": "https://worker.example", "region": "eu-west"}
    assert _value(fam, "synthetics_check_success", check="test_latency_within_budget",
                  subject="health", area="latency", **base) == 1
    assert _value(fam, "synthetics_check_insufficient_evidence", check="test_error_rate_5xx",
                  subject="orchestrate", **base) == 1
    assert not any(s.labels.get("check") == "test_capacity_memory"
                   for s in fam["synthetics_check_success"].samples)  # skipped: no series
    assert _value(fam, "synthetics_latency_seconds", endpoint="health", percentile="95") == 0.15
    assert _value(fam, "synthetics_latency_budget_seconds", endpoint="health") == 0.2
    assert fam["synthetics_requests"].type == "counter"
    assert _value(fam, "synthetics_requests_total", endpoint="orchestrate", result="ok") == 7
    assert _value(fam, "synthetics_requests_total", endpoint="orchestrate", result="5xx") == 2
    assert _value(fam, "synthetics_requests_total", endpoint="dns", result="timeout") == 1
    assert fam["synthetics_request_duration_seconds"].type == "histogram"
    assert _value(fam, "synthetics_request_duration_seconds_count", endpoint="health") == 20
    assert _value(fam, "synthetics_request_duration_seconds_bucket", endpoint="health",
                  le="0.2") == 20
    assert _value(fam, "synthetics_request_duration_seconds_bucket", endpoint="health",
                  le="0.1") == 0
    assert _value(fam, "synthetics_run_success", **base) == 1
    assert _value(fam, "synthetics_run_duration_seconds", **base) == 12.5
    assert _value(fam, "synthetics_run_last_completion_timestamp_seconds", **base) == 1012.5
    assert _value(fam, "synthetics_checks", status="insufficient") == 1
    for name in fam:  # Prometheus conventions: base units spelt out, no milliseconds
        assert "_ms" not in name and "millis" not in name


def test_failed_check_is_zero(tmp_path: Path) -> None:
    path = tmp_path / "m.prom"
    export(MetricsSettings(str(path), None, "synthetics", "r1", 5.0), _results(250.0))
    fam = _families(path.read_text())
    assert _value(fam, "synthetics_check_success", check="test_latency_within_budget") == 0
    assert _value(fam, "synthetics_run_success") == 0


@pytest.fixture
def pushgateway(tmp_path: Path) -> Iterator[str]:
    """A real Pushgateway on a loopback port, without persistence; stopped afterwards."""
    assert Path(PUSHGATEWAY).exists(), (
        "prometheus-pushgateway is needed (Debian package; .ci/run installs it)")
    port = _free_port()
    log = (tmp_path / "pushgateway.log").open("w")
    proc = subprocess.Popen([PUSHGATEWAY, f"--web.listen-address=127.0.0.1:{port}",
                             "--persistence.file=", "--log.level=warn"],
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(url + "/-/ready", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("the Pushgateway did not start: "
                                     + (tmp_path / "pushgateway.log").read_text())
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_push_to_a_real_pushgateway(pushgateway: str) -> None:
    for region, latency in (("us-east", 150.0), ("ap-south", 250.0)):
        lines = export(MetricsSettings(None, pushgateway, "synthetics", region, 5.0),
                       _results(latency))
        assert lines == [f"metrics pushed to {pushgateway} (job synthetics, region {region})"]
    with urllib.request.urlopen(pushgateway + "/metrics", timeout=5) as response:
        fam = _families(response.read().decode())
    # Each region is its own group: the second push did not replace the first.
    assert _value(fam, "synthetics_check_success", job="synthetics", region="us-east",
                  check="test_latency_within_budget") == 1
    assert _value(fam, "synthetics_check_success", job="synthetics", region="ap-south",
                  check="test_latency_within_budget") == 0
    assert _value(fam, "synthetics_latency_seconds", region="ap-south", endpoint="health") == 0.25
    assert _value(fam, "synthetics_requests_total", region="us-east", endpoint="orchestrate",
                  result="5xx") == 2
    assert _value(fam, "push_time_seconds", job="synthetics", region="us-east") > 0


def test_push_with_credentials_keeps_them_out_of_output(pushgateway: str) -> None:
    port = pushgateway.rsplit(":", 1)[1]
    url = f"http://ops:s3cret-pass@127.0.0.1:{port}"
    lines = export(MetricsSettings(None, url, "synthetics", "r-auth", 5.0), _results())
    assert lines == [f"metrics pushed to {pushgateway} (job synthetics, region r-auth)"]
    with urllib.request.urlopen(pushgateway + "/metrics", timeout=5) as response:
        assert 'region="r-auth"' in response.read().decode()
    closed = f"http://ops:s3cret-pass@127.0.0.1:{_free_port()}"
    (line,) = export(MetricsSettings(None, closed, "synthetics", "r1", 2.0), _results())
    assert "s3cret-pass" not in line and "failed" in line


def test_push_failure_is_one_line() -> None:
    url = f"http://127.0.0.1:{_free_port()}"  # nothing listens there
    lines = export(MetricsSettings(None, url, "synthetics", "r1", 2.0), _results())
    assert len(lines) == 1 and lines[0].startswith(f"metrics: push to {url} failed: ")


def test_checks_push_metrics_at_session_end(pushgateway: str, tmp_path: Path,
                                            run_checks: Any, reference_worker: Any) -> None:
    worker = reference_worker("health_degraded")
    textfile = tmp_path / "synthetics.prom"
    run = run_checks(f"--target={worker.url}", "-m", "health or latency", "--history=off",
                     "--latency-samples=10", f"--pushgateway={pushgateway}",
                     f"--metrics-textfile={textfile}", "--region=ci-loopback")
    assert run.ret == 1
    assert f"metrics pushed to {pushgateway} (job synthetics, region ci-loopback)" in run.stdout
    with urllib.request.urlopen(pushgateway + "/metrics", timeout=5) as response:
        pushed = _families(response.read().decode())
    local = _families(textfile.read_text())
    for fam in (pushed, local):
        assert _value(fam, "synthetics_check_success", region="ci-loopback",
                      check="test_health_reports_healthy", target=worker.url) == 0
        assert _value(fam, "synthetics_check_success", region="ci-loopback",
                      check="test_latency_within_budget", subject="dns") == 1
        assert _value(fam, "synthetics_request_duration_seconds_count", endpoint="health",
                      region="ci-loopback") >= 10


def test_bad_pushgateway_is_a_usage_error(run_checks: Any) -> None:
    run = run_checks("--pushgateway=ftp://x", "-m", "health")
    assert run.ret == 4
    assert "--pushgateway='ftp://x': must be a Pushgateway URL" in run.stderr
