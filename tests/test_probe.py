"""The probe turns every kind of network trouble into a Sample with a one-line reason, and never
lets a dead endpoint cost a timeout per sample."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from synthetics.probe import MAX_JSON_DEPTH, Probe, Request, Sample, strict_json
from synthetics.reference import ReferenceWorker

HEALTH = Request("health", "/health")


@pytest.fixture
def drip_server() -> Iterator[str]:
    """Answers headers at once, then one body byte every 0.2 s for ever (until closed)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            with conn:
                conn.recv(4096)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
                try:
                    while not stop.wait(0.2):
                        conn.sendall(b"x")
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join(2)
    listener.close()


def test_healthy_sample_has_status_body_and_phases() -> None:
    with ReferenceWorker() as worker:
        probe = Probe(worker.url)
        first, second = probe.request(HEALTH), probe.request(HEALTH)
        probe.close()
    assert first.ok and first.status == 200 and first.json()["status"] == "healthy"
    assert first.phases.connect is not None and first.phases.connect >= 0
    assert second.phases.connect is None, "a reused connection has no connect phase"
    for sample in (first, second):
        p = sample.phases
        assert p.wait is not None and p.ttfb is not None and p.total is not None
        assert 0 <= p.wait <= p.ttfb <= p.total
    assert len(probe.log) == 2 and probe.log.for_endpoint("health") == [first, second]


def test_a_plain_http_target_is_probed_without_loading_the_ca_bundle(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading the CA bundle is tens of ms before a run's first request: an http target, whose
    requests never shake hands, skips it (https targets load it: tests/test_tls.py)."""
    loads: list[object] = []
    monkeypatch.setattr("synthetics.probe.ssl.create_default_context",
                        lambda *args, **kwargs: loads.append(kwargs))
    with ReferenceWorker("redirect") as worker, Probe(worker.url.upper()) as probe:
        samples = [probe.request(HEALTH), *probe.sample_many([HEALTH] * 4, concurrency=2)]
    assert all(s.ok and s.status == 302 for s in samples), [s.summary() for s in samples]
    assert loads == []


def test_connection_refused_is_a_reason() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with Probe(f"http://127.0.0.1:{port}") as probe:
        sample = probe.request(HEALTH)
    assert not sample.ok and sample.error_kind == "connect"
    assert sample.summary().startswith("GET /health: cannot connect")


def test_redirect_is_not_followed() -> None:
    with ReferenceWorker("redirect") as worker, Probe(worker.url) as probe:
        sample = probe.request(HEALTH)
    assert sample.ok and sample.status == 302
    assert sample.headers["location"] == "https://status.example.invalid/health"


def test_reset_is_a_reason() -> None:
    with ReferenceWorker("reset") as worker, Probe(worker.url) as probe:
        sample = probe.request(Request("dns", "/mcp/dns/resolve?domain=mcp.x"))
    assert not sample.ok and sample.error_kind == "reset"
    assert "\n" not in (sample.error or "")


def test_huge_body_is_capped() -> None:
    with ReferenceWorker("huge_body=2") as worker, Probe(worker.url) as probe:
        sample = probe.request(Request("orchestrate", "/mcp/orchestrate"))
    assert sample.error_kind == "too_large" and sample.status == 200
    assert len(sample.body) <= 1 << 20
    assert "exceeds 1048576 bytes" in (sample.error or "")


def test_drip_fed_body_hits_the_overall_deadline(drip_server: str) -> None:
    started = time.monotonic()
    with Probe(drip_server, timeout=1.0) as probe:
        sample = probe.request(HEALTH)
    assert sample.error_kind == "timeout"
    assert time.monotonic() - started < 10  # a deadline, not a read timeout per byte


def test_broken_json_says_so() -> None:
    with ReferenceWorker("broken_json") as worker, Probe(worker.url) as probe:
        sample = probe.request(HEALTH)
    with pytest.raises(ValueError, match="body is not valid JSON"):
        sample.json()


def test_breaker_abandons_a_dead_endpoint_after_consecutive_timeouts() -> None:
    with ReferenceWorker("hang") as worker:
        probe = Probe(worker.url, timeout=0.3, max_consecutive_failures=3)
        samples = [probe.request(HEALTH) for _ in range(20)]
        other = probe.request(Request("orchestrate", "/mcp/orchestrate"))
        preflight = probe.request(Request("health", "/health", method="OPTIONS"))
        probe.close()
    assert [s.abandoned for s in samples] == [False] * 3 + [True] * 17
    assert all(s.is_timeout for s in samples)
    assert "3 consecutive failures" in (samples[-1].error or "")
    assert other.ok and other.status == 200, "other endpoints are not abandoned"
    assert preflight.ok, "the breaker is per endpoint and method"


def test_host_breaker_opens_when_the_target_never_answered(silent_target: str) -> None:
    with Probe(silent_target, timeout=0.2, max_consecutive_failures=2) as probe:
        for endpoint in ("health", "orchestrate"):
            for _ in range(2):
                probe.request(Request(endpoint, f"/{endpoint}"))
        sample = probe.request(Request("dns", "/mcp/dns/resolve"))
    assert sample.abandoned and "has not answered any request" in (sample.error or "")
    assert sample.phases.total is None, "abandoned: never sent"


def test_scattered_timeouts_under_concurrency_do_not_trip_the_breaker() -> None:
    """Every 10th request hangs: the hung ones finish last, but later requests succeeded."""
    with ReferenceWorker("timeouts=10") as worker:
        probe = Probe(worker.url, timeout=1.0, max_consecutive_failures=3)
        requests = [Request("dns", "/mcp/dns/resolve?domain=mcp.a")] * 100
        samples = probe.sample_many(requests, 16)
        after = probe.request(Request("dns", "/mcp/dns/resolve?domain=mcp.a"))
        probe.close()
    assert sum(s.is_timeout for s in samples) == 10
    assert not any(s.abandoned for s in samples)
    assert after.ok or after.is_timeout and not after.abandoned


def test_sample_many_keeps_order_and_records_everything() -> None:
    with ReferenceWorker() as worker:
        probe = Probe(worker.url)
        requests = [Request("dns", f"/mcp/dns/resolve?domain=mcp.sector-{i}.x") for i in range(40)]
        samples = probe.sample_many(requests, 8)
        probe.close()
    assert [s.json()["sector"] for s in samples] == list(range(40))
    assert len(probe.log) == 40


# -- strict JSON -----------------------------------------------------------------------------
DOC = {"status": "healthy", "agentCapacity": 20_000_000}


@pytest.mark.parametrize(("body", "reason"), [
    (b'{"uptime": NaN}', "NaN is not a JSON value"),
    (b'[Infinity]', "Infinity is not a JSON value"),
    (b'{"a": -Infinity}', "-Infinity is not a JSON value"),
    (json.dumps(DOC).encode("utf-16"), "it is UTF-16, not UTF-8"),
    (json.dumps(DOC).encode("utf-16-le"), "it is UTF-16 or UTF-32, not UTF-8"),
    (json.dumps(DOC).encode("utf-16-be"), "it is UTF-16 or UTF-32, not UTF-8"),
    (json.dumps(DOC).encode("utf-32"), "it is UTF-32, not UTF-8"),
    (b'{"status": "\xe9"}', "not UTF-8: invalid continuation byte at byte 12"),
    (b'{"status": "healthy", "status": "degraded"}', "duplicate key 'status'"),
    (b"[" * 1000 + b"]" * 1000, "arrays and objects nest 1000 deep, more than the 64 accepted"),
    (b"[" * 100_000, "arrays and objects nest 100000 deep"),
    (b'{"a": [' * 65 + b"1" + b"]}" * 65, "nest 130 deep"),
    (b"", "Expecting value"),
    (b'{"a": 1} {"b": 2}', "Extra data"),
])
def test_strict_json_refuses_with_one_line(body: bytes, reason: str) -> None:
    with pytest.raises(ValueError) as raised:
        Sample(HEALTH, started=0.0, body=body).json()
    message = str(raised.value)
    assert message.startswith("body is not valid JSON (") and reason in message, message
    assert "\n" not in message and len(message) < 300


def test_strict_json_accepts_what_json_parse_accepts() -> None:
    assert strict_json(json.dumps(DOC).encode()) == DOC
    assert strict_json(b"\xef\xbb\xbf" + json.dumps(DOC).encode()) == DOC, "UTF-8 BOM ignored"
    assert strict_json('{"name": "Zürich ✓"}'.encode()) == {"name": "Zürich ✓"}
    assert strict_json(b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH) is not None
    # Brackets inside strings (escaped quotes too) are text, not nesting.
    tricky = b'{"a": "' + b"[" * 500 + b'\\" {{{", "b": [1e400, -0.0]}'
    assert strict_json(tricky)["a"].startswith("[[[")
    assert strict_json(b' "plain" ') == "plain"


def test_strict_json_is_cheap_on_a_large_flat_body() -> None:
    body = b"[" + b'{"k":"v","n":1},' * 60_000 + b"0]"  # ~1 MiB, the body cap
    started = time.perf_counter()
    assert len(strict_json(body)) == 60_001
    assert time.perf_counter() - started < 2.0
