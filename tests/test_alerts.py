"""The document's alert rules, replayed over recorded sample histories.

Health samples every 5 s: 50 s down must not fire Critical, 70 s must; a 4-minute slow spell must
not fire Warning, a 6-minute one must; resolution fires once; reminders repeat at their interval;
flapping does not fire; sparse data are called sparse.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synthetics.history.alerts import (
    AlertConfig,
    GithubAnnotationSink,
    JsonLinesSink,
    TerminalSink,
    WebhookSink,
    dispatch,
    evaluate,
)
from synthetics.history.store import SampleRecord, SqliteHistory

T0 = 1_757_000_000.0  # 2025-09-04, a round number of 30-s buckets away from nothing special
TARGET = "https://worker.example.invalid"


@pytest.fixture
def store(tmp_path: Path) -> SqliteHistory:
    s = SqliteHistory(tmp_path / "h.sqlite3")
    yield s
    s.close()


def health(t: float, up: bool, total: float = 0.05) -> SampleRecord:
    return SampleRecord(t, TARGET, "health", "", "GET", 200 if up else 503, up, None,
                        total=total)


def record(store: SqliteHistory, samples: list[SampleRecord]) -> None:
    run = store.start_run("test", TARGET, samples[0].t, samples[0].t, False)
    store.add_samples(run, samples)


def health_history(start: float, end: float, down: tuple[float, float] | None,
                   step: float = 5.0) -> list[SampleRecord]:
    out, t = [], start
    while t < end:
        out.append(health(t, not (down and down[0] <= t <= down[1])))
        t += step
    return out


def evaluate_at(store: SqliteHistory, now: float, **cfg: float):
    config = AlertConfig(**{"first_lookback": 7200, **cfg})  # type: ignore[arg-type]
    return evaluate(store, TARGET, now, config)


def events(result, rule: str) -> list[str]:
    return [e.event for e in result.events if e.rule == rule]


def test_50_seconds_down_does_not_fire_critical(store: SqliteHistory) -> None:
    record(store, health_history(T0, T0 + 600, (T0 + 100, T0 + 150)))
    assert events(evaluate_at(store, T0 + 600), "health_down") == []


def test_70_seconds_down_fires_critical_then_resolves_once(store: SqliteHistory) -> None:
    record(store, health_history(T0, T0 + 600, (T0 + 100, T0 + 170)))
    result = evaluate_at(store, T0 + 600)
    assert events(result, "health_down") == ["firing", "resolved"]
    firing, resolved = (e for e in result.events if e.rule == "health_down")
    assert firing.severity == "critical" and firing.since == T0 + 100
    assert resolved.duration == pytest.approx(80)  # first bad sample to the 2nd good one
    assert "RESOLVED health_down" in resolved.message and "80 s" in resolved.message
    # later evaluations over more healthy samples never repeat either event
    record(store, health_history(T0 + 600, T0 + 1200, None))
    assert events(evaluate_at(store, T0 + 1200), "health_down") == []


def test_firing_is_remembered_between_runs(store: SqliteHistory) -> None:
    record(store, health_history(T0, T0 + 300, (T0 + 100, T0 + 400)))
    assert events(evaluate_at(store, T0 + 300), "health_down") == ["firing"]
    record(store, health_history(T0 + 300, T0 + 600, (T0 + 300, T0 + 400)))
    second = evaluate_at(store, T0 + 600)
    assert events(second, "health_down") == ["resolved"]  # no second "firing"


def test_reminders_repeat_at_the_interval_only(store: SqliteHistory) -> None:
    record(store, health_history(T0, T0 + 7800, (T0, T0 + 7800), step=10))
    result = evaluate_at(store, T0 + 7800, reminder_seconds=3600, first_lookback=8000)
    assert events(result, "health_down") == ["firing", "reminder", "reminder"]


def test_flapping_does_not_fire(store: SqliteHistory) -> None:
    samples = [health(T0 + i * 5, i % 2 == 0) for i in range(120)]  # 10 minutes of flapping
    record(store, samples)
    assert events(evaluate_at(store, T0 + 600), "health_down") == []


def test_sparse_health_data_are_called_sparse_not_guessed(store: SqliteHistory) -> None:
    # down at every 15-minute run for two hours: never judged "down > 1 minute"
    record(store, [health(T0 + i * 900, False) for i in range(8)])
    result = evaluate_at(store, T0 + 8 * 900)
    assert events(result, "health_down") == []
    note = next(n for n in result.notes if n.startswith("health_down"))
    assert "too sparse" in note and "15 min" in note and "every 30 s" in note


def _baseline(store: SqliteHistory, endpoint: str = "orchestrate") -> None:
    samples = [SampleRecord(T0 - 86_400 * 3 + i * 60, TARGET, endpoint, "", "GET", 200, True,
                            None, total=0.100 + (i % 5) * 0.002) for i in range(300)]
    record(store, samples)


def _slow_spell(store: SqliteHistory, minutes: float, endpoint: str = "orchestrate") -> float:
    samples, t = [], T0
    end_slow = T0 + minutes * 60
    while t < end_slow + 300:
        slow = t < end_slow
        samples.append(SampleRecord(t, TARGET, endpoint, "", "GET", 200, True, None,
                                    total=0.350 if slow else 0.100))
        t += 5
    record(store, samples)
    return t


@pytest.mark.parametrize(("minutes", "expected"), [(4, []), (6, ["firing", "resolved"])])
def test_slow_spell_warning_needs_more_than_5_minutes(store: SqliteHistory, minutes: float,
                                                      expected: list[str]) -> None:
    _baseline(store)
    end = _slow_spell(store, minutes)
    result = evaluate_at(store, end + 60)
    assert events(result, "slow_responses") == expected
    if expected:
        fired = result.events[0]
        assert fired.severity == "warning" and fired.key == "orchestrate"
        assert "median 350 ms against a normal 104 ms" in fired.message


def test_one_slow_request_per_bucket_is_not_a_slow_endpoint(store: SqliteHistory) -> None:
    _baseline(store)
    samples = [SampleRecord(T0 + i * 5, TARGET, "orchestrate", "", "GET", 200, True, None,
                            total=2.0 if i % 6 == 0 else 0.1) for i in range(200)]
    record(store, samples)
    assert events(evaluate_at(store, T0 + 1100), "slow_responses") == []


def test_without_a_baseline_the_slow_rule_says_so(store: SqliteHistory) -> None:
    _slow_spell(store, 6)
    result = evaluate_at(store, T0 + 1000)
    assert events(result, "slow_responses") == []
    assert any("no baseline yet" in n for n in result.notes)


def test_registration_drop_fires_info(store: SqliteHistory) -> None:
    base = [SampleRecord(T0 - 86_400 + i * 30, TARGET, "register", "", "POST", 200, True, None)
            for i in range(200)]
    record(store, base)
    start = (T0 // 900 + 1) * 900
    drop = [SampleRecord(start + i * 10, TARGET, "register", "", "POST", 200 if i % 5 else 500,
                         i % 5 != 0, None) for i in range(50)]  # 80% success
    record(store, drop)
    result = evaluate_at(store, start + 1800)
    assert events(result, "registration_drop") == ["firing"]
    assert result.events[0].severity == "info" and "80.0%" in result.events[0].message


def test_registration_at_baseline_does_not_fire(store: SqliteHistory) -> None:
    base = [SampleRecord(T0 - 86_400 + i * 30, TARGET, "register", "", "POST", 200, i % 50 != 0,
                         None) for i in range(200)]
    record(store, base)
    start = (T0 // 900 + 1) * 900
    record(store, [SampleRecord(start + i * 10, TARGET, "register", "", "POST", 200, i != 7,
                                None) for i in range(50)])
    assert events(evaluate_at(store, start + 1800), "registration_drop") == []


# -- sinks -------------------------------------------------------------------------------------
def _one_event(store: SqliteHistory):
    record(store, health_history(T0, T0 + 300, (T0, T0 + 300)))
    return evaluate_at(store, T0 + 300).events


def test_a_failing_sink_is_reported_and_others_still_get_the_event(
        store: SqliteHistory, tmp_path: Path) -> None:
    secret = "https://hooks.example.invalid/services/T000/B000/SECRETPART"

    def refuse(url: str, body: bytes, timeout: float) -> int:
        raise OSError(f"connection refused while posting to {url}")

    log = tmp_path / "alerts.jsonl"
    terminal = TerminalSink()
    failures = dispatch(_one_event(store), [WebhookSink(secret, post=refuse), JsonLinesSink(log),
                                            terminal])
    assert len(failures) == 1 and "webhook" in failures[0]
    assert "SECRETPART" not in failures[0] and "<webhook>" in failures[0]
    assert json.loads(log.read_text().splitlines()[0])["rule"] == "health_down"
    assert terminal.lines and terminal.lines[0].startswith("CRITICAL health_down")
    assert "SECRETPART" not in repr(WebhookSink(secret))


def test_webhook_body_is_slack_compatible(store: SqliteHistory) -> None:
    sent: list[tuple[str, dict]] = []

    def post(url: str, body: bytes, timeout: float) -> int:
        sent.append((url, json.loads(body)))
        return 200

    assert dispatch(_one_event(store), [WebhookSink("http://127.0.0.1:9/hook", post=post)]) == []
    url, body = sent[0]
    assert url == "http://127.0.0.1:9/hook"
    assert body["text"].startswith("CRITICAL health_down")
    assert body["attachments"][0]["color"] == "#d00000"
    assert body["alert"]["event"] == "firing"


def test_webhook_error_status_is_a_failure(store: SqliteHistory) -> None:
    failures = dispatch(_one_event(store), [WebhookSink("http://127.0.0.1:9/x",
                                                        post=lambda u, b, t: 500)])
    assert failures and "HTTP 500" in failures[0]


def test_github_annotations(store: SqliteHistory) -> None:
    lines: list[str] = []
    dispatch(_one_event(store), [GithubAnnotationSink(lines.append)])
    assert lines[0].startswith("::error title=critical alert health_down::CRITICAL health_down")
