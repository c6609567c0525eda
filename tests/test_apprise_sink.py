"""Alert channels through Apprise: an alert fired from history reaches a loopback JSON endpoint
through a `json://` URL; a broken, a hanging and an unknown channel are each reported in one
scrubbed line without stopping the others; severities map to Apprise's notify types; the URLs
never appear in any output.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from synthetics.history.alerts import AlertEvent, dispatch
from synthetics.history.plugin import HSETTINGS, HistorySettings, run_alerts
from synthetics.history.sinks import AppriseSink, apprise_sinks, parse_alert_urls
from synthetics.history.store import SampleRecord, SqliteHistory
from synthetics.scrub import scrub

TARGET = "https://worker.example.invalid"


class _Receiver(ThreadingHTTPServer):
    received: list[tuple[str, dict[str, Any]]]


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    """A loopback HTTP server that records every JSON body POSTed to it."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server API
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            server.received.append((self.path, json.loads(body)))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = _Receiver(("127.0.0.1", 0), Handler)
    server.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def hanging_port(silent_target: str) -> int:
    """Accepts connections (in its backlog) and never answers."""
    return int(silent_target.rsplit(":", 1)[1])


def _url(port: int, secret: str) -> str:
    return f"json://127.0.0.1:{port}/hooks/{secret}"


def _health_down(path: Path, now: float) -> SqliteHistory:
    store = SqliteHistory(path)
    run = store.start_run("health", TARGET, now - 300, now - 300, False)
    store.add_samples(run, [SampleRecord(now - 300 + 5 * i, TARGET, "health", "", "GET", 503,
                                         False, None, total=0.05) for i in range(60)])
    return store


def _settings(history: Path, urls: tuple[str, ...]) -> HistorySettings:
    return HistorySettings(str(history), 35.0, 24.0, "health", None, None, True,
                           str(history.parent / "alerts.jsonl"), None, 60.0, urls)


def test_an_alert_reaches_a_json_endpoint_and_a_broken_second_url_is_reported(
        tmp_path: Path, receiver: _Receiver, closed_port: int) -> None:
    good = _url(receiver.server_address[1], "SECRETPATH-abc123")
    broken = _url(closed_port, "OTHERSECRET-xyz789")
    now = time.time()
    store = _health_down(tmp_path / "history.sqlite3", now)
    try:
        lines = run_alerts(store, TARGET, now, _settings(tmp_path / "history.sqlite3",
                                                         (good, broken)))
    finally:
        store.close()
    assert len(receiver.received) == 1, lines
    path, body = receiver.received[0]
    assert path == "/hooks/SECRETPATH-abc123"
    assert body["type"] == "failure" and body["message"].startswith("CRITICAL health_down")
    assert body["title"] == "CRITICAL health_down [health]"
    failed = [line for line in lines if "failed" in line]
    assert len(failed) == 1 and failed[0].startswith(
        "alert sink apprise json #2 failed for health_down firing: not delivered"), failed
    assert "\n" not in failed[0]
    text = "\n".join(lines)
    for secret in (good, broken, "SECRETPATH", "OTHERSECRET", "hooks/"):
        assert secret not in text


def test_severities_map_to_apprise_notify_types(receiver: _Receiver) -> None:
    events = [AlertEvent(rule, severity, "health", TARGET, kind, 100.0, 40.0, 60.0,
                         f"{severity} {rule} {kind}")
              for rule, severity, kind in (("health_down", "critical", "firing"),
                                           ("slow_responses", "warning", "firing"),
                                           ("registration_drop", "info", "reminder"),
                                           ("health_down", "critical", "resolved"))]
    sinks = apprise_sinks([_url(receiver.server_address[1], "types-path")])
    assert dispatch(events, sinks) == []
    assert [body["type"] for _, body in receiver.received] == [
        "failure", "warning", "info", "success"]
    assert receiver.received[3][1]["title"] == "RESOLVED health_down [health]"


def test_a_hanging_channel_is_abandoned_in_bounded_time(receiver: _Receiver,
                                                        hanging_port: int) -> None:
    event = AlertEvent("health_down", "critical", "health", TARGET, "firing", 100.0, 40.0,
                       60.0, "CRITICAL health_down")
    sinks = [AppriseSink(_url(hanging_port, "HANGSECRET-1"), 1, timeout=1.0),
             AppriseSink(_url(receiver.server_address[1], "after-hang"), 2, timeout=5.0)]
    started = time.monotonic()
    failures = dispatch([event], sinks)
    assert time.monotonic() - started < 4.0  # 1 s bound, then the next channel delivers
    assert failures == ["alert sink apprise json #1 failed for health_down firing: no answer "
                        "within 1 s (abandoned)"]
    assert [path for path, _ in receiver.received] == ["/hooks/after-hang"]


def test_an_unusable_url_is_named_by_scheme_and_position_only(receiver: _Receiver) -> None:
    event = AlertEvent("health_down", "critical", "health", TARGET, "firing", 100.0, 40.0,
                       60.0, "CRITICAL health_down")
    sinks = apprise_sinks(["nosuchscheme://token-abcdef/xyz", "not a url-with-secret",
                           _url(receiver.server_address[1], "still-delivered")])
    failures = dispatch([event], sinks)
    assert failures == [
        "alert sink apprise nosuchscheme #1 failed for health_down firing: not a URL Apprise "
        "can use (scheme nosuchscheme://)",
        "alert sink apprise ? #2 failed for health_down firing: not a URL Apprise can use "
        "(scheme ?://)"]
    assert len(receiver.received) == 1
    assert "token-abcdef" not in repr(sinks[0]) and "token-abcdef" not in str(failures)


def test_url_lists_split_on_white_space_and_commas_and_are_scrubbed() -> None:
    value = ("slack://TokenA1/TokenB2/TokenC3, json://127.0.0.1:9/path-one\n"
             "mailto://user:pass-word@example.invalid?to=a@x.invalid,b@y.invalid")
    urls = parse_alert_urls(value)
    assert urls == ("slack://TokenA1/TokenB2/TokenC3", "json://127.0.0.1:9/path-one",
                    "mailto://user:pass-word@example.invalid?to=a@x.invalid,b@y.invalid")
    env = {"SYNTHETICS_ALERT_URLS": value}
    text = scrub(f"sending to {urls[0]} and {urls[2]}", env)
    assert not any(u in text for u in urls)
    assert text.count("[SYNTHETICS_ALERT_URLS redacted]") == 2


def test_alert_url_is_repeatable_and_read_from_the_environment(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SYNTHETICS_ALERT_URLS", raising=False)
    config = pytester.parseconfigure("--alert-url", "json://127.0.0.1:9/a",
                                     "--alert-url", "ntfy://topic-b")
    assert config.stash[HSETTINGS].alert_urls == ("json://127.0.0.1:9/a", "ntfy://topic-b")
    pytester.makeini("[pytest]\nsynthetics_alert_urls =\n    json://127.0.0.1:9/e\n"
                     "    ntfy://topic-f\n")
    config = pytester.parseconfigure()
    assert config.stash[HSETTINGS].alert_urls == ("json://127.0.0.1:9/e", "ntfy://topic-f")
    monkeypatch.setenv("SYNTHETICS_ALERT_URLS", "json://127.0.0.1:9/c , ntfy://topic-d")
    config = pytester.parseconfigure()  # the environment before the ini
    assert config.stash[HSETTINGS].alert_urls == ("json://127.0.0.1:9/c", "ntfy://topic-d")


def test_the_scheduler_hands_its_alert_urls_to_jobs_by_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    import os

    from synthetics.cli import main

    monkeypatch.delenv("SYNTHETICS_ALERT_URLS", raising=False)
    assert main(["schedule", "--list", "--history", str(tmp_path / "h.sqlite3"),
                 "--alert-url", "ntfy://SECRET-TOPIC-1", "--alert-url", "json://h/SECRET-2"]) == 0
    assert os.environ["SYNTHETICS_ALERT_URLS"] == "ntfy://SECRET-TOPIC-1\njson://h/SECRET-2"
    captured = capsys.readouterr()
    assert "SECRET" not in captured.out + captured.err
