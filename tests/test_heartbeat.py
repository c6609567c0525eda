"""The heartbeat makes the Critical rule decidable: with a /health sample every 15 s in history,
"down for more than 1 minute" fires after 70 s down and not after 50 s, where the 15-minute job
alone leaves the rule "too sparse to judge"."""

from __future__ import annotations

import dataclasses
import http.server
import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from synthetics.expectations import EXPECTATIONS
from synthetics.history import alerts
from synthetics.history.heartbeat import BEAT, Heartbeat
from synthetics.history.store import SqliteHistory
from synthetics.probe import Phases, Probe, Request, Sample
from synthetics.rates import DNS_FAILURES

T0 = 1_900_000_000.0


class FakeClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def _beats(worker_url: str, store: SqliteHistory, clock: FakeClock, seconds: float) -> Heartbeat:
    heart = Heartbeat(worker_url, store, interval=15, clock=clock, log=lambda _: None)
    while clock.now - T0 <= seconds:
        heart.beat()
        clock.now += 15
    return heart


def test_health_down_for_70_seconds_fires_critical(reference_worker, tmp_path: Path) -> None:
    worker = reference_worker("health_degraded")
    store = SqliteHistory(tmp_path / "h.sqlite3")
    clock = FakeClock()
    heart = _beats(worker.url, store, clock, 75)
    result = alerts.evaluate(store, worker.url, clock.now)
    heart.stop()
    assert [e.event for e in result.events] == ["firing"]
    assert result.events[0].severity == "critical"
    assert not any("too sparse" in n for n in result.notes)
    runs = store.runs(T0 - 1, "heartbeat")
    assert len(runs) == 1 and runs[0].outcome == "stopped"


def test_health_down_for_50_seconds_does_not_fire(reference_worker, tmp_path: Path) -> None:
    worker = reference_worker("health_degraded")
    store = SqliteHistory(tmp_path / "h.sqlite3")
    clock = FakeClock()
    heart = _beats(worker.url, store, clock, 50)
    result = alerts.evaluate(store, worker.url, clock.now)
    heart.stop()
    assert result.events == [] and not any("too sparse" in n for n in result.notes)


def test_healthy_worker_beats_record_up(reference_worker, tmp_path: Path) -> None:
    worker = reference_worker()
    store = SqliteHistory(tmp_path / "h.sqlite3")
    clock = FakeClock()
    heart = _beats(worker.url, store, clock, 120)
    samples = store.samples(worker.url, "health", T0 - 1, clock.now)
    heart.stop()
    assert len(samples) == 9 and all(s.ok for s in samples)
    assert [s.t for s in samples] == [T0 + 15 * i for i in range(9)]
    assert alerts.evaluate(store, worker.url, clock.now).events == []


def test_each_beat_resolves_every_domain_a_dns_failure_target_names(reference_worker,
                                                                     tmp_path: Path) -> None:
    """One DNS answer per domain per beat, at the beat's moment, so each domain's DNS-failure
    target gets samples; /health still decides what the beat returns."""
    domains = [t.subject for t in EXPECTATIONS if t.failure is DNS_FAILURES]
    assert [r.subject for r in BEAT if r.endpoint == "dns"] == domains
    assert BEAT[0].endpoint == "health"
    worker = reference_worker()
    store = SqliteHistory(tmp_path / "h.sqlite3")
    clock = FakeClock()
    heart = _beats(worker.url, store, clock, 30)
    heart.stop()
    for domain in domains:
        samples = store.samples(worker.url, "dns", T0 - 1, clock.now, subject=domain,
                                method="GET")
        assert [s.t for s in samples] == [T0, T0 + 15, T0 + 30] and all(s.ok for s in samples)
    assert len(store.samples(worker.url, "dns", T0 - 1, clock.now)) == 3 * len(domains)
    assert len(store.samples(worker.url, "orchestrate", T0 - 1, clock.now)) == 3
    degraded = Heartbeat(reference_worker("health_degraded").url, store, clock=clock,
                         log=lambda _: None)
    assert degraded.beat() is False
    degraded.stop()


def test_unreachable_target_is_recorded_down_not_raised(tmp_path: Path) -> None:
    store = SqliteHistory(tmp_path / "h.sqlite3")
    heart = Heartbeat("http://127.0.0.1:9", store, clock=FakeClock(), log=lambda _: None)
    assert heart.beat() is False
    heart.stop()
    [sample] = store.samples("http://127.0.0.1:9", "health", T0 - 1, T0 + 1)
    assert not sample.ok and sample.error_kind == "connect"


def test_beats_see_the_worker_come_back_after_an_outage(reference_worker,
                                                      tmp_path: Path) -> None:
    faults = tmp_path / "faults"
    faults.write_text("hang")
    worker = reference_worker(faults_file=faults)
    store = SqliteHistory(tmp_path / "h.sqlite3")
    heart = Heartbeat(worker.url, store, timeout=0.2, clock=FakeClock(), log=lambda _: None)
    assert [heart.beat() for _ in range(4)] == [False] * 4
    faults.write_text("")
    os.utime(faults, (1, 1))
    assert heart.beat() is True
    heart.stop()


def test_a_failing_store_is_reported_once_and_the_beat_goes_on(reference_worker,
                                                               tmp_path: Path) -> None:
    worker = reference_worker()
    store = SqliteHistory(tmp_path / "h.sqlite3")
    lines: list[str] = []

    def broken(run_id: int, samples: object) -> None:
        raise OSError("disk full")

    heart = Heartbeat(worker.url, store, clock=FakeClock(), log=lines.append)
    store.add_samples = broken  # type: ignore[method-assign]
    assert heart.beat() and heart.beat()
    heart.stop()
    assert lines == ["heartbeat: could not record a beat: disk full"]


def test_thread_starts_and_stops(reference_worker, tmp_path: Path) -> None:
    worker = reference_worker()
    store = SqliteHistory(tmp_path / "h.sqlite3")
    heart = Heartbeat(worker.url, store, interval=0.05, log=lambda _: None).start()
    for _ in range(500):
        if heart.beats >= 3:
            break
        time.sleep(0.01)
    heart.stop()
    assert len(store.samples(worker.url, "health", 0, 4e9)) >= 3


@pytest.mark.parametrize(("interval", "step"), [(30.0, 30.0), (0.05, -3600.0)],
                         ids=["a-beat-that-took-the-interval", "a-clock-set-back"])
def test_the_loop_paces_itself_on_the_heartbeats_clock(
        reference_worker, tmp_path: Path, interval: float, step: float) -> None:
    """Each read of this clock moves it by `step`: a beat that took the whole interval is
    followed by the next at once, and a clock set back an hour waits one interval, not an hour."""
    worker = reference_worker()
    store = SqliteHistory(tmp_path / "h.sqlite3")
    reads = itertools.count()
    heart = Heartbeat(worker.url, store, interval=interval, log=lambda _: None,
                      clock=lambda: T0 + step * next(reads)).start()
    for _ in range(500):
        if heart.beats >= 3:
            break
        time.sleep(0.01)
    heart.stop()
    assert heart.beats >= 3


def test_schedule_command_runs_the_heartbeat(reference_worker, tmp_path: Path) -> None:
    worker = reference_worker()
    db = tmp_path / "h.sqlite3"
    proc = subprocess.Popen(
        [sys.executable, "-m", "synthetics.cli", "schedule", "--target", worker.url,
         "--history", str(db), "--heartbeat-seconds", "0.2"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for _ in range(300):
            if db.exists() and len(SqliteHistory(db).samples(worker.url, "health", 0, 4e9)) >= 3:
                break
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    runs = SqliteHistory(db).runs(0, "heartbeat")
    assert len(runs) == 1 and runs[0].outcome == "stopped"
    assert len(SqliteHistory(db).samples(worker.url, "health", 0, 4e9)) >= 3


def test_bad_heartbeat_value_is_a_usage_error(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "synthetics.cli", "schedule", "--list",
                             "--heartbeat-seconds", "often"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 4
    assert "argument --heartbeat-seconds: invalid float value: 'often'" in result.stderr


class InjectedLatency:
    """The heartbeat's probe with latencies from a table: the worker's real answers, but each
    sample takes exactly `ms[endpoint]`, so a rule judging response times never sees how busy
    the machine running the tests was."""

    def __init__(self, probe: Probe, ms: dict[str, float]) -> None:
        self.probe, self.ms = probe, ms

    def request(self, request: Request, record: bool = True) -> Sample:
        sample = self.probe.request(request, record=record)
        assert sample.ok, sample.summary()
        seconds = self.ms[request.endpoint] / 1000
        return dataclasses.replace(sample, phases=Phases(
            send=0.0, wait=seconds, receive=0.0, ttfb=seconds, total=seconds))

    def close(self) -> None:
        self.probe.close()


def _slow_spell(reference_worker, tmp_path: Path, minutes: float) -> list[str]:
    """53+ normal beats, an hour's gap, then `minutes` of /mcp/orchestrate at 20x its normal
    time (every other endpoint as normal)."""
    worker = reference_worker()
    store = SqliteHistory(tmp_path / "h.sqlite3")
    clock = FakeClock()
    heart = Heartbeat(worker.url, store, interval=15, clock=clock, log=lambda _: None)
    ms = {"health": 2.0, "orchestrate": 2.0, "dns": 2.0}
    heart.probe = InjectedLatency(heart.probe, ms)  # type: ignore[assignment]
    for _ in range(60):  # 15 minutes of normal beats: the baseline
        heart.beat()
        clock.now += 15
    ms["orchestrate"] = 40.0
    clock.now = T0 + 4000
    end = clock.now + minutes * 60
    while clock.now <= end:
        heart.beat()
        clock.now += 15
    result = alerts.evaluate(store, worker.url, clock.now + 30)
    heart.stop()
    return [f"{e.event} {e.severity} {e.key}" for e in result.events]


def test_a_six_minute_slow_spell_fires_the_warning(reference_worker, tmp_path: Path) -> None:
    assert _slow_spell(reference_worker, tmp_path, 6) == ["firing warning orchestrate"]


def test_a_four_minute_slow_spell_does_not(reference_worker, tmp_path: Path) -> None:
    assert _slow_spell(reference_worker, tmp_path, 4) == []


def test_a_beat_sends_its_requests_side_by_side(tmp_path: Path) -> None:
    """A worker that answers only once every request of the beat is in flight at once: a beat
    that sent them one after another would see only timeouts. Side by side, a beat lasts one
    request's time, so four timeouts never outlast the interval when the worker goes silent."""
    gate = threading.Barrier(len(BEAT), timeout=5)

    class AllAtOnce(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            try:
                gate.wait()
            except threading.BrokenBarrierError:
                return  # closed unanswered
            body = b'{"status": "healthy"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), AllAtOnce)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    store = SqliteHistory(tmp_path / "h.sqlite3")
    heart = Heartbeat(url, store, interval=15, timeout=2, clock=FakeClock(), log=lambda _: None)
    try:
        heart.beat()
    finally:
        heart.stop()
        server.shutdown()
        server.server_close()
    samples = [s for endpoint in ("health", "orchestrate", "dns")
               for s in store.samples(url, endpoint, T0 - 1, T0 + 1)]
    assert len(samples) == len(BEAT)
    assert [s.status for s in samples] == [200] * len(BEAT), [s.error_kind for s in samples]


def test_a_beat_after_stop_still_samples(reference_worker, tmp_path: Path) -> None:
    worker = reference_worker()
    heart = Heartbeat(worker.url, SqliteHistory(tmp_path / "h.sqlite3"), clock=FakeClock(),
                      log=lambda _: None)
    assert heart.beat() is True
    heart.stop()
    assert heart.beat() is True  # a new pool, not "cannot schedule new futures"
    heart.stop()
