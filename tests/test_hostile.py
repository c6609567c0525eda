"""Hostile targets: servers that misbehave at the transport and protocol level never hang, crash or
fool the suite.

Each finding is reproduced against a loopback server (a few lines of standard-library socket
server, or the reference worker's hostile faults): headers that trickle in, a body that trickles
or never ends, deeply nested JSON, NaN and UTF-16 bodies. Every place the project sends a request
(the probe, the redeploy plugin's re-probe and control probe, the webhook sink, the Pushgateway
push) ends within its one wall-clock deadline; breakers abandon endpoints whose exchanges never
complete; the run budget ends a run whatever the target does.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from synthetics.deadline import RunBudget
from synthetics.history.alerts import AlertEvent, WebhookSink
from synthetics.history.heartbeat import Heartbeat
from synthetics.history.store import SqliteHistory, record_from_sample
from synthetics.probe import Probe, Request
from synthetics.reference import ReferenceWorker
from synthetics.reporting.metrics import MetricsSettings, export
from synthetics.reporting.results import Results
from synthetics.selfheal.plugin import probe_control, probe_health
from synthetics.worker import Worker

HEALTH = Request("health", "/health")
ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent / "synthetics"
#: Room for a loaded 2-core machine on top of a deadline: far less than one more header line
#: or body byte per timeout would cost without the deadline.
MARGIN = 2.0


#: How long a hostile answer goes on: long enough that any test bound is far below it, short
#: enough that a regression fails its test (elapsed too long) instead of hanging the suite.
GIVE_UP = 20.0
Tick = Callable[[float], bool]  # wait this long; False when the server is to stop


def _slow_headers(conn: socket.socket, tick: Tick) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\n")
    while tick(0.2):
        conn.sendall(b"X-Slow: 1\r\n")


def _trickle(conn: socket.socket, tick: Tick) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 100000\r\n\r\n")
    while tick(0.2):
        conn.sendall(b" ")


def _endless_chunked(conn: socket.socket, tick: Tick) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    while tick(0.05):
        conn.sendall(b"4\r\n[0,]\r\n")


def _truncated(conn: socket.socket, tick: Tick) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"0" * 10)


SERVERS: dict[str, Callable[[socket.socket, Tick], None]] = {
    "slow_headers": _slow_headers, "trickle": _trickle, "endless_chunked": _endless_chunked,
    "truncated": _truncated,
}


@pytest.fixture
def hostile() -> Iterator[Callable[[str], str]]:
    """Factory: a loopback server that answers every request the named hostile way, for ever
    (until the test ends); returns its URL."""
    stop = threading.Event()
    listeners: list[socket.socket] = []
    threads: list[threading.Thread] = []

    def handle(conn: socket.socket, behave: Callable[[socket.socket, Tick], None]) -> None:
        end = time.monotonic() + GIVE_UP

        def tick(seconds: float) -> bool:
            return not stop.wait(seconds) and time.monotonic() < end

        with conn:
            try:
                conn.recv(65536)
                behave(conn, tick)
            except OSError:
                pass  # the client gave up: what a deadline is for

    def serve(listener: socket.socket, behave: Callable[..., None]) -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            thread = threading.Thread(target=handle, args=(conn, behave), daemon=True)
            threads.append(thread)
            thread.start()

    def start(kind: str) -> str:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        listeners.append(listener)
        thread = threading.Thread(target=serve, args=(listener, SERVERS[kind]), daemon=True)
        threads.append(thread)
        thread.start()
        return f"http://127.0.0.1:{listener.getsockname()[1]}"

    yield start
    stop.set()
    for thread in threads:
        thread.join(2)
    for listener in listeners:
        listener.close()


# -- finding 1: one deadline per request, whatever phase ------------------------------------------
@pytest.mark.parametrize(("kind", "phase"), [("slow_headers", "waiting for the response headers"),
                                             ("trickle", "reading the body"),
                                             ("endless_chunked", "reading the body")])
def test_probe_request_ends_at_its_deadline(hostile: Callable[[str], str], kind: str,
                                            phase: str) -> None:
    url = hostile(kind)
    started = time.monotonic()
    with Probe(url, timeout=1.0) as probe:
        sample = probe.request(HEALTH)
    elapsed = time.monotonic() - started
    assert sample.error_kind == "timeout" and not sample.abandoned
    assert sample.error == f"timed out {phase}: the whole request's 1 s deadline passed"
    assert 0.9 <= elapsed < 1.0 + MARGIN, f"took {elapsed:.1f} s"


@pytest.mark.parametrize(("kind", "phase"), [("slow_headers", "waiting for the response headers"),
                                             ("trickle", "reading the body")])
def test_a_latency_stream_sample_ends_at_its_deadline(hostile: Callable[[str], str], kind: str,
                                                       phase: str) -> None:
    """The latency streams' path (`Probe.connection`, one held connection) keeps the same one
    deadline per request as `Probe.request`."""
    url = hostile(kind)
    started = time.monotonic()
    with Probe(url, timeout=1.0) as probe, probe.connection() as take:
        sample = take(HEALTH)
    elapsed = time.monotonic() - started
    assert sample.error_kind == "timeout" and not sample.abandoned
    assert sample.error == f"timed out {phase}: the whole request's 1 s deadline passed"
    assert 0.9 <= elapsed < 1.0 + MARGIN, f"took {elapsed:.1f} s"


def test_redeploy_health_reprobe_ends_at_its_deadline(hostile: Callable[[str], str]) -> None:
    """Before the fix a 2 s re-probe of slow headers took 19.5 s, holding the target's lock."""
    url = hostile("slow_headers")
    started = time.monotonic()
    healthy, why = probe_health(url, 1.5)
    elapsed = time.monotonic() - started
    assert not healthy and "timed out waiting for the response headers" in why
    assert elapsed < 1.5 + MARGIN, f"took {elapsed:.1f} s"


def test_redeploy_control_probe_ends_at_its_deadline(hostile: Callable[[str], str]) -> None:
    url = hostile("slow_headers")
    started = time.monotonic()
    reachable, why = probe_control(url, 1.5)
    elapsed = time.monotonic() - started
    assert not reachable and why.startswith("ReadTimeout") and "\n" not in why
    assert elapsed < 1.5 + MARGIN, f"took {elapsed:.1f} s"


def test_heartbeat_beat_ends_at_its_deadlines(hostile: Callable[[str], str],
                                              tmp_path: Path) -> None:
    store = SqliteHistory(tmp_path / "h.sqlite3")
    heart = Heartbeat(hostile("slow_headers"), store, interval=15, timeout=0.5,
                      log=lambda _: None)
    started = time.monotonic()
    up = heart.beat()
    elapsed = time.monotonic() - started
    heart.stop()
    assert not up
    # /health, /mcp/orchestrate and one resolve per MCP domain, side by side: one deadline
    assert elapsed < 0.5 + MARGIN, f"took {elapsed:.1f} s for {len(heart.requests)} requests"


def test_webhook_sink_ends_at_its_deadline(hostile: Callable[[str], str]) -> None:
    url = hostile("slow_headers") + "/hooks/SECRETPART"
    event = AlertEvent("health_down", "critical", "health", "https://w.example", "firing",
                       1000.0, 900.0, 100.0, "CRITICAL health_down")
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="ReadTimeout") as raised:
        WebhookSink(url, timeout=1.0).emit(event)
    elapsed = time.monotonic() - started
    assert "SECRETPART" not in str(raised.value)
    assert elapsed < 1.0 + MARGIN, f"took {elapsed:.1f} s"


def test_pushgateway_push_ends_at_its_deadline(hostile: Callable[[str], str]) -> None:
    url = hostile("slow_headers")
    results = Results(worker=Worker.from_target("https://w.example"), started=1000.0,
                      finished=1010.0)
    started = time.monotonic()
    (line,) = export(MetricsSettings(None, url, "synthetics", "r1", 1.0), results)
    elapsed = time.monotonic() - started
    assert line.startswith(f"metrics: push to {url} failed: ReadTimeout")
    assert elapsed < 1.0 + MARGIN, f"took {elapsed:.1f} s"


# -- finding 2: breakers count exchanges that did not complete ------------------------------------
@pytest.mark.parametrize(("kind", "error_kind", "reason"), [
    ("trickle", "timeout", "timed out reading the body"),
    ("endless_chunked", "timeout", "timed out reading the body"),
    ("truncated", "reset", "connection closed without a complete response"),
])
def test_breaker_abandons_an_endpoint_whose_bodies_never_complete(
        hostile: Callable[[str], str], kind: str, error_kind: str, reason: str) -> None:
    url = hostile(kind)
    started = time.monotonic()
    with Probe(url, timeout=0.3, max_consecutive_failures=3) as probe:
        samples = [probe.request(HEALTH) for _ in range(50)]
    elapsed = time.monotonic() - started
    assert [s.abandoned for s in samples] == [False] * 3 + [True] * 47
    assert all(s.error_kind == error_kind for s in samples)
    assert samples[0].status == 200, "the headers came: a response that did not complete"
    assert "3 consecutive failures on GET health" in (samples[-1].error or "")
    assert reason in (samples[-1].error or "")
    assert elapsed < 3 * 0.3 + MARGIN, f"took {elapsed:.1f} s: not one timeout per sample"


def test_host_breaker_abandons_a_target_that_never_completes_an_exchange(
        hostile: Callable[[str], str]) -> None:
    """Every endpoint answers headers, then trickles: the whole target is abandoned."""
    with Probe(hostile("trickle"), timeout=0.2, max_consecutive_failures=2) as probe:
        for endpoint in ("health", "orchestrate"):
            for _ in range(2):
                probe.request(Request(endpoint, f"/{endpoint}"))
        sample = probe.request(Request("dns", "/mcp/dns/resolve"))
    assert sample.abandoned and sample.is_timeout
    assert "has not answered any request completely" in (sample.error or "")


def test_oversized_bodies_trip_the_breaker() -> None:
    with ReferenceWorker("huge_body=2") as worker, Probe(worker.url) as probe:
        samples = [probe.request(Request("orchestrate", "/mcp/orchestrate")) for _ in range(5)]
        health = probe.request(HEALTH)
    assert [s.abandoned for s in samples] == [False] * 3 + [True] * 2
    assert all(s.error_kind == "too_large" for s in samples)
    assert health.ok, "one endpoint's failures do not abandon the others"


def test_a_complete_exchange_resets_the_streak() -> None:
    """Failures that are not consecutive never trip it: a healthy-but-flaky endpoint."""
    with ReferenceWorker() as worker, Probe(worker.url, max_consecutive_failures=3) as probe:
        samples = []
        for i in range(12):
            worker.set_faults("huge_body=2" if i % 3 else None)  # two bad, one good, ...
            samples.append(probe.request(Request("orchestrate", "/mcp/orchestrate")))
    assert not any(s.abandoned for s in samples)
    assert sum(s.error_kind == "too_large" for s in samples) == 8


# -- the run budget ----------------------------------------------------------------------------
def test_run_budget_ends_requests_in_flight_and_abandons_the_rest(
        hostile: Callable[[str], str]) -> None:
    url = hostile("slow_headers")
    started = time.monotonic()
    with Probe(url, timeout=30.0, max_consecutive_failures=100,
               budget=RunBudget(1.0)) as probe:
        first = probe.request(HEALTH)
        rest = probe.sample_many([HEALTH] * 200, 16)
    elapsed = time.monotonic() - started
    assert first.error == "timed out waiting for the response headers: run budget of 1 s spent"
    assert first.is_timeout and not first.abandoned
    assert all(s.abandoned and s.is_timeout for s in rest)
    assert rest[0].error == "abandoned: run budget of 1 s spent"
    assert elapsed < 1.0 + MARGIN, f"took {elapsed:.1f} s"


def test_run_budget_fails_every_unfinished_check_with_its_reason(
        run_checks, silent_target: str) -> None:
    """A target that never answers with a 5 s timeout and a breaker that never trips would take
    hours; a 4 s budget ends the run, and each unfinished check fails saying why."""
    started = time.monotonic()
    run = run_checks(f"--target={silent_target}", "--run-budget=4",
                     "--max-consecutive-failures=100000", "--history=off", timeout=120)
    elapsed = time.monotonic() - started
    assert run.ret == 1 and run.ids("error") == set(), run.stdout[-3000:]
    assert elapsed < 60, f"took {elapsed:.0f} s"
    failed = run.ids("failed")
    assert len(failed) >= 20 and run.ids("passed") == set()
    budget = [m for m in (run.messages[t] for t in failed) if "run budget of 4 s spent" in m]
    assert len(budget) >= 20, run.messages
    assert all("\n" not in m.strip() for m in run.messages.values())


def test_run_budget_is_an_option(run_checks) -> None:
    run = run_checks("--run-budget=0", "-m", "health")
    assert run.ret == 4 and "--run-budget='0': must be a number above 0" in run.stderr


# -- findings 3 and 8: strict, bounded JSON, never an exception anywhere ------------------------
@pytest.mark.parametrize(("fault", "reason"), [
    ("deep_json", "arrays and objects nest 1000 deep, more than the 64 accepted"),
    ("nan_json", "NaN is not a JSON value"),
    ("utf16_json", "it is UTF-16, not UTF-8"),
])
def test_hostile_health_json_is_a_one_line_failure_everywhere(fault: str, reason: str) -> None:
    with ReferenceWorker(fault) as worker:
        with Probe(worker.url) as probe:
            sample = probe.request(HEALTH)
        healthy, why = probe_health(worker.url, 2.0)
    assert sample.ok and sample.status == 200, "the exchange itself completed"
    with pytest.raises(ValueError) as raised:
        sample.json()
    message = str(raised.value)
    assert reason in message and "\n" not in message
    # The history listener inside the sampler, and the redeploy plugin's re-probe.
    record = record_from_sample(sample, worker.url)
    assert not record.ok
    assert not healthy and reason in why


# -- "Done when": a default run against a hostile fault ------------------------------------------
def test_default_run_against_a_hostile_target_ends_within_two_minutes(tmp_path: Path) -> None:
    """Every default (5 s timeout, 500 error samples, 100 latency samples, 90 s budget): the run
    exits 1 within 2 minutes, writes every report, shows no traceback, and fails exactly the
    checks of the broken endpoint. The other hostile faults run in tests/test_faults.py."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SYNTHETICS_", "PYTEST_XDIST", "PYTEST_CURRENT"))}
    env["SYNTHETICS_HISTORY"] = "off"
    reports = tmp_path / "reports"
    with ReferenceWorker("slow_headers") as worker:
        started = time.monotonic()
        result = subprocess.run([str(BIN), "run", "--target", worker.url, "--reports",
                                 str(reports)], cwd=ROOT, env=env, capture_output=True,
                                text=True, timeout=180, check=False)
        elapsed = time.monotonic() - started
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    assert elapsed < 120, f"took {elapsed:.0f} s"
    assert "Traceback" not in output and " ERROR " not in output
    for name in ("report.html", "summary.json", "junit.xml"):
        assert (reports / name).stat().st_size > 0, name
    failed = {case.get("name") for case in ET.parse(reports / "junit.xml").getroot().iter(
        "testcase") if case.find("failure") is not None or case.find("error") is not None}
    assert failed == {"test_health_reports_healthy[health]",
                      "test_health_reports_capacity[health]",
                      "test_health_reports_environment[health]",
                      "test_health_timestamp_fresh[health]", "test_cors_allow_origin[health]",
                      "test_latency_within_budget[health]", "test_error_rate_timeouts[health]"}
    summary = json.loads((reports / "summary.json").read_text())
    assert summary["exit_status"] == 1 and summary["counts"]["fail"] == len(failed)


# -- the reference worker's hostile handlers end with it ------------------------------------------
@pytest.mark.parametrize(("fault", "path"), [("slow_headers", "/health"),
                                             ("trickle_body=1000", "/mcp/orchestrate"),
                                             ("endless_chunked", "/mcp/dns/resolve?domain=x")])
def test_hostile_handlers_end_when_the_worker_stops(fault: str, path: str) -> None:
    before = set(threading.enumerate())
    worker = ReferenceWorker(fault).start()
    with socket.create_connection(("127.0.0.1", worker.port), timeout=5) as conn:
        conn.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert conn.recv(100).startswith(b"HTTP/1.1 200")  # the handler is in its loop
        worker.stop()
        deadline = time.monotonic() + 5
        while set(threading.enumerate()) - before and time.monotonic() < deadline:
            time.sleep(0.05)
    assert set(threading.enumerate()) - before == set()
