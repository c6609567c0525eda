"""The concurrent sampler (`Probe.sample_many`): one sample per request, in order, never more in
flight than the concurrency asked for, breakers and phase timing intact, connections reused.
(Its speed is measured by bench/, not here.)"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from synthetics.probe import Probe, Request, _Run
from synthetics.reference import ReferenceWorker


@dataclass
class Counting:
    """What the counting server saw: requests in flight now and at most, connections accepted."""

    url: str = ""
    delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)
    in_flight: int = 0
    peak: int = 0
    connections: int = 0
    paths: list[str] = field(default_factory=list)


class _CountingHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    state: Counting

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def setup(self) -> None:
        super().setup()
        with self.state.lock:
            self.state.connections += 1

    def do_GET(self) -> None:  # noqa: N802
        state = self.state
        with state.lock:
            state.in_flight += 1
            state.peak = max(state.peak, state.in_flight)
            state.paths.append(self.path)
        try:
            if state.delay:
                time.sleep(state.delay)
            body = json.dumps({"path": self.path}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        finally:
            with state.lock:
                state.in_flight -= 1


@pytest.fixture
def counting_server() -> Iterator[Counting]:
    """A loopback server that echoes the path and counts concurrency and connections."""
    state = Counting()
    handler = type("Handler", (_CountingHandler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()


def numbered(count: int, endpoint: str = "health") -> list[Request]:
    return [Request(endpoint, f"/item/{i}") for i in range(count)]


@pytest.mark.parametrize("concurrency", [1, 3, 16, 500])
def test_one_sample_per_request_in_order(counting_server: Counting, concurrency: int) -> None:
    counting_server.delay = 0.002
    requests = numbered(60)
    with Probe(counting_server.url) as probe:
        samples = probe.sample_many(requests, concurrency)
    assert [s.request for s in samples] == requests
    assert [s.json()["path"] for s in samples] == [r.path for r in requests]
    assert sorted(counting_server.paths) == sorted(r.path for r in requests), "each sent once"
    assert len(probe.log) == 60


def test_no_requests_no_samples(counting_server: Counting) -> None:
    with Probe(counting_server.url) as probe:
        assert probe.sample_many([], 16) == []
    assert counting_server.connections == 0


@pytest.mark.parametrize("concurrency", [2, 5, 16])
def test_slow_target_gets_every_slot_and_never_more(counting_server: Counting,
                                                    concurrency: int) -> None:
    """A target that answers slowly leaves the sampler idle, so it opens all its slots (one
    connection each) and keeps them busy at once, never more."""
    counting_server.delay = 0.1
    with Probe(counting_server.url) as probe:
        samples = probe.sample_many(numbered(8 * concurrency), concurrency)
    assert all(s.ok for s in samples)
    assert counting_server.connections == concurrency
    # The server counts a request from its parsed headers to its answer; on a loaded machine
    # one of the 16 may sit between the two at every instant, hence no exact peak here.
    assert concurrency // 2 < counting_server.peak <= concurrency


def _twice_the_clock() -> float:
    return 2 * time.perf_counter()


@pytest.mark.parametrize(("cpu", "demand"), [
    (time.perf_counter, lambda: 0.0),  # the process uses a whole CPU
    (lambda: 0.0, _twice_the_clock),  # it gets little CPU, but two threads always want one
], ids=["cpu-bound", "cpu-starved"])
def test_busy_process_keeps_to_the_first_workers(counting_server: Counting, cpu, demand) -> None:
    """While the process wants a whole CPU, adding threads would only queue them for the GIL:
    the run stays at its first workers (driven here by clocks that read busy)."""
    counting_server.delay = 0.01
    with Probe(counting_server.url) as probe:
        run = _Run(probe, numbered(40), 16, cpu=cpu, demand=demand)
        samples = run.run()
    assert [s.request.path for s in samples] == [f"/item/{i}" for i in range(40)]
    assert run.peak_workers == _Run.START
    assert counting_server.peak <= _Run.START


def test_idle_process_adds_workers_up_to_the_limit(counting_server: Counting) -> None:
    counting_server.delay = 0.01
    with Probe(counting_server.url) as probe:
        run = _Run(probe, numbered(200), 7, cpu=lambda: 0.0, demand=lambda: 0.0)
        run.run()
    assert run.peak_workers == 7
    assert counting_server.peak <= 7


def test_connections_are_reused_across_calls_and_closed(counting_server: Counting) -> None:
    counting_server.delay = 0.02
    probe = Probe(counting_server.url)
    first = probe.sample_many(numbered(40), 4)
    second = probe.sample_many(numbered(40), 4)
    probe.request(Request("health", "/item/x"))
    assert counting_server.connections <= 4, "slots (and their connections) are lent again"
    opened = [s for s in first + second if s.phases.connect is not None]
    assert len(opened) == counting_server.connections, "connect is timed once per connection"
    probe.close()
    after = probe.request(Request("health", "/item/y"))
    assert after.ok and after.phases.connect is not None, "a closed probe connects afresh"
    probe.close()


def test_every_sample_has_its_phases(counting_server: Counting) -> None:
    counting_server.delay = 0.005
    with Probe(counting_server.url) as probe:
        samples = probe.sample_many(numbered(50), 8)
    for sample in samples:
        p = sample.phases
        assert None not in (p.send, p.wait, p.receive, p.ttfb, p.total), sample
        assert 0 <= p.wait <= p.ttfb <= p.total  # type: ignore[operator]
        assert p.ttfb >= 0.005, "the server's delay is inside the ttfb"  # type: ignore[operator]


def test_breakers_still_trip_under_concurrency() -> None:
    """/health hangs: once 3 timeouts are in, the rest of its samples are abandoned, at most
    the requests already in flight time out on their own, and other endpoints are unharmed."""
    concurrency = 6
    health = [Request("health", "/health")] * 60
    orchestrate = [Request("orchestrate", "/mcp/orchestrate")] * 60
    mixed = [r for pair in zip(health, orchestrate, strict=True) for r in pair]
    with ReferenceWorker("hang") as worker, \
            Probe(worker.url, timeout=1.0, max_consecutive_failures=3) as probe:
        samples = probe.sample_many(mixed, concurrency)
    hung = [s for s in samples if s.request.endpoint == "health"]
    assert all(s.is_timeout for s in hung)
    sent = [s for s in hung if not s.abandoned]
    assert 3 <= len(sent) <= 3 + concurrency - 1
    assert "3 consecutive failures" in (hung[-1].error or "")
    others = [s for s in samples if s.request.endpoint == "orchestrate"]
    assert all(s.ok and s.status == 200 for s in others)


def test_unreachable_target_gives_a_reason_per_request() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    requests = numbered(30)
    with Probe(f"http://127.0.0.1:{port}") as probe:
        samples = probe.sample_many(requests, 8)
    assert [s.request for s in samples] == requests
    assert all(s.error_kind == "connect" and "cannot connect" in (s.error or "") for s in samples)


def test_request_headers_and_json_bodies_are_sent_as_asked(counting_server: Counting) -> None:
    """Requests are built once per slot and re-sent (a JSON body, unhashable, is built each
    time): what arrives must still be exactly what each request says, for requests that differ
    only in a header or only in their body."""
    seen: list[tuple[str, str, str, bytes]] = []

    class Echo(_CountingHandler):
        state = counting_server

        def do_GET(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            seen.append((self.command, self.path, self.headers.get("X-Probe", ""),
                         self.rfile.read(length)))
            super().do_GET()

        do_POST = do_GET

    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                     daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    gets = [Request("health", "/same", headers=(("X-Probe", str(i)),)) for i in range(5)]
    posts = [Request("register", "/same", method="POST", headers=(("X-Probe", str(i)),),
                     json_body={"agentId": f"a{i}"}) for i in range(5)]
    requests = (gets + posts) * 6
    try:
        with Probe(url) as probe:
            samples = probe.sample_many(requests, 4)
    finally:
        server.shutdown()
        server.server_close()
    assert all(s.ok for s in samples)
    expected = [("GET", "/same", str(i), b"") for i in range(5)] + [
        ("POST", "/same", str(i), json.dumps({"agentId": f"a{i}"}, separators=(",", ":")).encode())
        for i in range(5)]
    assert sorted(seen) == sorted(expected * 6)
