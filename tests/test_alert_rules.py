"""The alert rules' parts, one at a time: the rules as the document states them, the state
machine at each of its boundaries, the observations made from history, and the exact events,
notes and firing lines an evaluation produces (tests/test_alerts.py replays whole histories)."""

from __future__ import annotations

from pathlib import Path

import pytest

from synthetics.history.alerts import (
    AlertConfig,
    AlertState,
    Observation,
    Rule,
    evaluate,
    health_observations,
    registration_observations,
    replay,
    slow_observations,
)
from synthetics.history.store import SampleRecord, SqliteHistory

T0 = 1_757_000_100.0  # 15:35:00 UTC: a whole number of 30-s and 5-min buckets
R0 = T0 + 600  # 15:45:00 UTC: a whole number of 15-min (registration) buckets
TARGET = "https://w.example"
RULE = Rule("r", "critical", "cond", for_seconds=60, max_gap=30, success_threshold=2,
            reminder_seconds=600)


@pytest.fixture
def store(tmp_path: Path) -> SqliteHistory:
    s = SqliteHistory(tmp_path / "h.sqlite3")
    yield s
    s.close()


def _record(store: SqliteHistory, samples: list[SampleRecord]) -> None:
    run = store.start_run("t", TARGET, samples[0].t, samples[0].t, False)
    store.add_samples(run, samples)


def _obs(t: float, bad: bool, text: str = "x") -> Observation:
    return Observation(t, t, bad, text)


def _replay(observations: list[Observation], state: AlertState | None = None,
            rule: Rule = RULE):
    state = state or AlertState()
    events, gaps = replay(rule, state, observations, "k", TARGET,
                          lambda st, o: f"said {o.text}")
    return state, [(e.event, e.t) for e in events], gaps, events


def test_the_rules_are_the_documents() -> None:
    assert AlertConfig().rules() == {
        "health_down": Rule("health_down", "critical",
                            "health endpoint down for more than 60 s", 60.0, 30.0, 2, 3600.0),
        "slow_responses": Rule("slow_responses", "warning",
                               "response times more than 2x normal for more than 5 min", 300.0,
                               90.0, 2, 3600.0),
        "registration_drop": Rule("registration_drop", "info",
                                  "agent registration success rate drops more than 10%", 0.0,
                                  float("inf"), 1, 3600.0),
    }


def test_a_rule_fires_only_after_holding_longer_than_its_duration() -> None:
    held = [_obs(T0 + i * 5, True) for i in range(13)]  # 0 .. 60 s: exactly 60 s, not more
    state, events, gaps, _ = _replay(held)
    assert events == [] and gaps == [] and state.status == "pending"
    assert state.pending_since == T0 and state.last_t == T0 + 60 and state.last_text == "x"
    state, events, _, fired = _replay([_obs(T0 + 65, True, "y")], state)
    assert events == [("firing", T0 + 65)]
    assert (state.status, state.firing_since, state.fired_at, state.last_notified) == (
        "firing", T0, T0 + 65, T0 + 65)
    event = fired[0]
    assert (event.rule, event.severity, event.key, event.target, event.since, event.duration) == (
        "r", "critical", "k", TARGET, T0, 65)
    assert event.message == (f"CRITICAL r [{TARGET} k]: said y; for 65 s since "
                             "2025-09-04 15:35:00 UTC")


def test_a_gap_longer_than_the_resolution_restarts_a_pending_spell() -> None:
    state, _, gaps, _ = _replay([_obs(T0, True), _obs(T0 + 30, True)])  # 30 s: no gap
    assert gaps == [] and state.pending_since == T0
    state, _, gaps, _ = _replay([_obs(T0 + 61, True)], state)  # 31 s: a gap
    assert gaps == [31] and state.status == "pending" and state.pending_since == T0 + 61
    state, events, _, _ = _replay([_obs(T0 + 61 + 30 * i, True) for i in range(1, 4)], state)
    assert events == [("firing", T0 + 151)] and state.firing_since == T0 + 61


def test_a_good_observation_ends_a_pending_spell() -> None:
    state, _, _, _ = _replay([_obs(T0, True), _obs(T0 + 5, False)])
    assert state.status == "ok" and state.pending_since is None
    state, events, _, _ = _replay([_obs(T0 + 10 + 5 * i, True) for i in range(13)], state)
    assert events == [] and state.pending_since == T0 + 10


def _firing(reminder: float = 600) -> AlertState:
    return AlertState("firing", T0 - 100, T0 - 100, T0, T0, 0, T0, "x")


def test_reminders_come_at_the_interval_exactly() -> None:
    state, events, _, fired = _replay([_obs(T0 + 595, True), _obs(T0 + 600, True),
                                       _obs(T0 + 1199, True), _obs(T0 + 1200, True)],
                                      _firing())
    assert events == [("reminder", T0 + 600), ("reminder", T0 + 1200)]
    assert state.last_notified == T0 + 1200 and state.fired_at == T0
    assert fired[0].message == (f"CRITICAL r (reminder) [{TARGET} k]: said x; for 12 min "
                                "since 2025-09-04 15:33:20 UTC")


def test_resolution_needs_its_run_of_good_observations() -> None:
    state, events, _, _ = _replay([_obs(T0 + 5, False)], _firing())
    assert events == [] and state.status == "firing" and state.good_streak == 1
    state, events, _, _ = _replay([_obs(T0 + 10, True)], state)  # a bad one restarts the run
    assert state.good_streak == 0 and events == []
    state, events, _, resolved = _replay([_obs(T0 + 15, False), _obs(T0 + 20, False)], state)
    assert events == [("resolved", T0 + 20)]
    assert state == AlertState("ok", None, None, None, None, 0, T0 + 20, "x")
    assert resolved[0].message == (f"RESOLVED r [{TARGET} k]: said x; resolved after 2 min "
                                   "since 2025-09-04 15:33:20 UTC")
    assert resolved[0].duration == 120


def test_a_state_from_storage_ignores_unknown_fields() -> None:
    assert AlertState.from_dict(None) == AlertState() == AlertState.from_dict({})
    assert AlertState.from_dict({"status": "firing", "good_streak": 1, "extra": 3}) == \
        AlertState(status="firing", good_streak=1)


def _sample(t: float, endpoint: str = "health", *, ok: bool = True, status: int | None = 200,
            kind: str | None = None, total: float | None = 0.1,
            method: str = "GET") -> SampleRecord:
    return SampleRecord(t, TARGET, endpoint, "", method, status, ok, kind, total=total)


def test_health_observations_say_why_a_sample_was_down() -> None:
    samples = [_sample(T0), _sample(T0 + 1, ok=False, status=None, kind="timeout"),
               _sample(T0 + 2, ok=False, status=503), _sample(T0 + 3, ok=False, status=None),
               _sample(T0 + 4, ok=False, status=200)]
    assert health_observations(samples) == [
        Observation(T0, T0, False, "not healthy"),  # an up sample's text is never shown
        Observation(T0 + 1, T0 + 1, True, "timeout"),
        Observation(T0 + 2, T0 + 2, True, "HTTP 503"),
        Observation(T0 + 3, T0 + 3, True, "no answer"),
        Observation(T0 + 4, T0 + 4, True, "not healthy"),
    ]


def test_slow_observations_judge_complete_buckets_by_their_median() -> None:
    samples = [_sample(T0 + 1, total=0.1), _sample(T0 + 2, total=0.5),
               _sample(T0 + 3, total=0.3),  # bucket 1: median 300 ms
               _sample(T0 + 31, total=0.2), _sample(T0 + 32, total=None),  # bucket 2: 200 ms
               _sample(T0 + 61, total=9.0)]  # bucket 3 is not complete at T0 + 89
    assert slow_observations(samples, 0.1, 2.0, 30, T0 + 90) == [
        Observation(T0 + 1, T0 + 3, True, "median 300 ms against a normal 100 ms (3.0x)"),
        Observation(T0 + 31, T0 + 31, False, "median 200 ms against a normal 100 ms (2.0x)"),
        Observation(T0 + 61, T0 + 61, True, "median 9000 ms against a normal 100 ms (90.0x)"),
    ]
    assert len(slow_observations(samples, 0.1, 2.0, 30, T0 + 89.9)) == 2


def test_registration_observations_need_enough_samples_per_bucket() -> None:
    samples = [_sample(T0 - 900 + i, "register", ok=False) for i in range(19)]  # too few
    samples += [_sample(T0 + i, "register", ok=i % 10 != 0) for i in range(20)]  # 90%
    samples += [_sample(T0 + 900 + i, "register", ok=i % 5 != 0) for i in range(20)]  # 80%
    samples += [_sample(T0 + 1800 + i, "register", ok=False) for i in range(19)]  # too few
    assert registration_observations(samples, 1.0, 0.1, 900, 20, T0 + 2700) == [
        Observation(T0, T0 + 19, False, "success 90.0% over 20 against a baseline of 100.0%"),
        Observation(T0 + 900, T0 + 919, True,
                    "success 80.0% over 20 against a baseline of 100.0%"),
    ]


def test_registration_drop_event_note_and_firing_line(store: SqliteHistory) -> None:
    config = AlertConfig(first_lookback=7200)
    _record(store, [_sample(T0 + i, "register", method="POST") for i in range(19)])
    first = evaluate(store, TARGET, T0 + 900, config)
    assert first.notes == ["registration_drop: no baseline yet (0 registrations in the last "
                           "7 days); not judged"]
    _record(store, [_sample(T0 - 86_400 + i * 30, "register", method="POST")
                    for i in range(200)])
    _record(store, [_sample(T0 + 900 + i, "register", ok=i % 2 == 0, method="POST")
                    for i in range(40)])
    result = evaluate(store, TARGET, T0 + 1800, config)
    assert [e.message for e in result.events] == [
        "INFO registration_drop [https://w.example register]: registration success 50.0% "
        "over 40 against a baseline of 100.0%; for 39 s since 2025-09-04 15:50:00 UTC"]
    assert result.firing == ["INFO registration_drop [register] firing since "
                             "2025-09-04 15:50:00 UTC"]
    assert result.notes == []


def test_slow_rule_without_a_baseline_says_what_it_needs(store: SqliteHistory) -> None:
    _record(store, [_sample(T0 + i * 5, "dns", total=0.1) for i in range(10)])
    result = evaluate(store, TARGET, T0 + 60, AlertConfig(first_lookback=7200))
    assert result.notes == ["slow_responses [dns]: no baseline yet (0 samples in the last "
                            "7 days, 50 needed); not judged"]


def test_slow_rule_fires_with_the_buckets_median(store: SqliteHistory) -> None:
    config = AlertConfig(first_lookback=7200, baseline_min_samples=50)
    _record(store, [_sample(T0 - 86_400 + i * 10, "orchestrate", total=0.1) for i in range(60)])
    _record(store, [_sample(T0 + i * 5, "orchestrate", total=0.35) for i in range(80)])
    result = evaluate(store, TARGET, T0 + 400, config)
    assert [e.message for e in result.events] == [
        "WARNING slow_responses [https://w.example orchestrate]: orchestrate median 350 ms "
        "against a normal 100 ms (3.5x); for 5 min since 2025-09-04 15:35:00 UTC"]
    assert result.firing == ["WARNING slow_responses [orchestrate] firing since "
                             "2025-09-04 15:35:00 UTC"]
    # the next evaluation starts after the buckets already judged: no second firing
    assert evaluate(store, TARGET, T0 + 400, config).events == []


def test_sparse_slow_data_say_what_the_rule_needs(store: SqliteHistory) -> None:
    config = AlertConfig(first_lookback=7200)
    _record(store, [_sample(T0 - 86_400 + i * 10, "dns", total=0.1) for i in range(60)])
    _record(store, [_sample(T0 + i * 300, "dns", total=0.5) for i in range(4)])
    result = evaluate(store, TARGET, T0 + 1200, config)
    assert result.notes == [
        "slow_responses [dns]: data too sparse to judge 'response times more than 2x normal "
        "for more than 5 min' — 4 observation(s), 3 gap(s) up to 5 min; the rule needs a 30 s "
        "bucket of dns samples at least every 90 s"]
    assert result.events == []


def test_health_evaluation_resumes_where_it_stopped(store: SqliteHistory) -> None:
    config = AlertConfig(first_lookback=7200)
    _record(store, [_sample(T0 + i * 5, ok=False, status=503) for i in range(10)])
    first = evaluate(store, TARGET, T0 + 50, config)
    assert first.events == [] and first.firing == []
    _record(store, [_sample(T0 + 50 + i * 5, ok=False, status=503) for i in range(10)])
    second = evaluate(store, TARGET, T0 + 100, config)
    assert [e.message for e in second.events] == [
        "CRITICAL health_down [https://w.example health]: /health HTTP 503; for 65 s since "
        "2025-09-04 15:35:00 UTC"]
    assert second.firing == ["CRITICAL health_down [health] firing since "
                             "2025-09-04 15:35:00 UTC"]


def test_health_rule_reads_get_samples_up_to_now_only(store: SqliteHistory) -> None:
    config = AlertConfig(first_lookback=7200)
    _record(store, [_sample(T0 + i * 5) for i in range(21)])  # GET up to T0 + 100
    # OPTIONS (a preflight) failing after that: not a /health sample
    _record(store, [_sample(T0 + 105 + i * 5, ok=False, status=405, method="OPTIONS")
                    for i in range(20)])
    # down from T0 + 305, after the evaluation's `now`
    _record(store, [_sample(T0 + 305 + i * 5, ok=False, status=503) for i in range(30)])
    result = evaluate(store, TARGET, T0 + 300, config)
    assert result.events == [] and result.firing == []
    assert [n for n in result.notes if n.startswith("health_down")] == []


def test_sparse_health_data_say_what_the_rule_needs(store: SqliteHistory) -> None:
    _record(store, [_sample(T0 + i * 900, ok=False, status=503) for i in range(4)])
    result = evaluate(store, TARGET, T0 + 3600, AlertConfig(first_lookback=7200))
    assert [n for n in result.notes if n.startswith("health_down")] == [
        "health_down [health]: data too sparse to judge 'health endpoint down for more than "
        "60 s' — 4 observation(s), 3 gap(s) up to 15 min; the rule needs a /health sample at "
        "least every 30 s"]


def test_health_resolution_counts_each_sample_once(store: SqliteHistory) -> None:
    config = AlertConfig(first_lookback=7200)
    _record(store, [_sample(T0 + i * 5, ok=False, status=503) for i in range(15)])
    _record(store, [_sample(T0 + 75)])
    assert [e.event for e in evaluate(store, TARGET, T0 + 75, config).events] == ["firing"]
    # the good sample at exactly where the last evaluation stopped is not seen twice
    assert evaluate(store, TARGET, T0 + 76, config).events == []
    _record(store, [_sample(T0 + 80)])
    [resolved] = evaluate(store, TARGET, T0 + 81, config).events
    assert resolved.message == ("RESOLVED health_down [https://w.example health]: /health up; "
                                "resolved after 80 s since 2025-09-04 15:35:00 UTC")


def test_slow_rule_reads_get_samples_only(store: SqliteHistory) -> None:
    config = AlertConfig(first_lookback=7200)
    _record(store, [_sample(T0 - 86_400 + i * 10, "dns", total=0.1) for i in range(60)])
    _record(store, [_sample(T0 + i * 10, "dns", total=0.1) for i in range(60)])
    _record(store, [_sample(T0 + i * 2, "dns", total=1.0, method="HEAD") for i in range(300)])
    result = evaluate(store, TARGET, T0 + 600, config)
    assert result.events == [] and result.notes == []


def _registrations(store: SqliteHistory, start: float, n: int, failing_every: int = 0,
                   method: str = "POST", ok: bool = True) -> None:
    _record(store, [_sample(start + i, "register", method=method,
                            ok=ok and not (failing_every and i % failing_every == 0))
                    for i in range(n)])


def test_registration_rule_judges_posts_against_a_post_baseline(store: SqliteHistory) -> None:
    config = AlertConfig(first_lookback=7200)
    _registrations(store, T0 - 86_400, 200, failing_every=10)  # baseline 90%
    _registrations(store, T0 - 86_400 + 300, 200, method="GET", ok=False)  # not registrations
    _registrations(store, T0, 40, failing_every=7)  # 85%: within 10% of 90%
    _registrations(store, T0 + 100, 40, method="GET", ok=False)
    assert evaluate(store, TARGET, T0 + 900, config).events == []
    _registrations(store, T0 + 900, 40, failing_every=3)  # 65%
    [fired] = evaluate(store, TARGET, T0 + 1800, config).events  # baseline now has the 85%
    assert fired.message == (
        "INFO registration_drop [https://w.example register]: registration success 65.0% over "
        "40 against a baseline of 89.2%; for 39 s since 2025-09-04 15:50:00 UTC")
    # remembered: the next evaluation of a still-bad bucket does not fire again
    _registrations(store, T0 + 1800, 40, failing_every=3)
    assert evaluate(store, TARGET, T0 + 2700, config).events == []


def test_registration_baseline_of_exactly_the_minimum_is_enough(store: SqliteHistory) -> None:
    config = AlertConfig(first_lookback=7200)
    _registrations(store, T0 - 86_400, 20)
    _registrations(store, T0, 20, failing_every=2)
    result = evaluate(store, TARGET, T0 + 900, config)
    assert result.notes == [] and [e.event for e in result.events] == ["firing"]


def test_registrations_after_now_are_not_judged_yet(store: SqliteHistory) -> None:
    _registrations(store, T0 + 1000, 30)
    assert evaluate(store, TARGET, T0 + 900, AlertConfig(first_lookback=7200)).notes == []


def test_slow_rule_resumes_at_the_first_bucket_not_yet_judged(store: SqliteHistory) -> None:
    """The spell's last bad bucket starts where the previous evaluation stopped."""
    config = AlertConfig(first_lookback=7200)
    # a baseline large enough that the spell itself does not move its median
    _record(store, [_sample(T0 - 86_400 + i * 10, "orchestrate", total=0.1) for i in range(600)])
    _record(store, [_sample(T0 + i * 5, "orchestrate", total=0.35 if i < 66 else 0.1)
                    for i in range(80)])
    assert evaluate(store, TARGET, T0 + 300, config).events == []
    assert [e.event for e in evaluate(store, TARGET, T0 + 400, config).events] == [
        "firing", "resolved"]


def _baseline(store: SqliteHistory, endpoint: str, n: int = 600, total: float = 0.1) -> None:
    _record(store, [_sample(T0 - 86_400 + i * 10, endpoint, total=total) for i in range(n)])


def _spell(store: SqliteHistory, endpoint: str, start: float, end: float,
           after: float = 0.0) -> None:
    """Slow (350 ms) samples every 5 s from start to end, normal ones until `after`."""
    samples, t = [], start
    while t < max(end, after):
        samples.append(_sample(t, endpoint, total=0.35 if t < end else 0.1))
        t += 5
    _record(store, samples)


def test_slow_rule_judges_health_too(store: SqliteHistory) -> None:
    _baseline(store, "health")
    _spell(store, "health", T0, T0 + 400)
    result = evaluate(store, TARGET, T0 + 400, AlertConfig(first_lookback=7200))
    assert [(e.rule, e.key) for e in result.events] == [("slow_responses", "health")]


@pytest.mark.parametrize(("n", "judged"), [(49, False), (50, True)])
def test_slow_rule_needs_its_minimum_baseline(store: SqliteHistory, n: int,
                                              judged: bool) -> None:
    _baseline(store, "dns", n)
    _spell(store, "dns", T0, T0 + 400)
    result = evaluate(store, TARGET, T0 + 400, AlertConfig(first_lookback=7200))
    assert bool(result.events) is judged
    assert bool(result.notes) is not judged


def test_slow_rule_with_a_zero_baseline_is_not_judged(store: SqliteHistory) -> None:
    _baseline(store, "dns", total=0.0)
    _spell(store, "dns", T0, T0 + 400)
    result = evaluate(store, TARGET, T0 + 400, AlertConfig(first_lookback=7200))
    assert result.events == [] and len(result.notes) == 1


def test_samples_after_now_raise_no_note(store: SqliteHistory) -> None:
    _spell(store, "dns", T0 + 1000, T0 + 1100)
    assert evaluate(store, TARGET, T0 + 400, AlertConfig(first_lookback=7200)).notes == []


def test_slow_rule_starts_at_the_first_whole_bucket(store: SqliteHistory) -> None:
    """`since` falls inside a bucket: that bucket is not judged (its start was judged before,
    or is before the look-back), so a spell that only holds 300 s from there does not fire."""
    _baseline(store, "dns")
    _spell(store, "dns", T0 - 15, T0 + 295, after=T0 + 400)
    config = AlertConfig(first_lookback=615)  # since = T0 - 15
    assert evaluate(store, TARGET, T0 + 600, config).events == []


def test_slow_rule_stops_at_the_last_whole_bucket(store: SqliteHistory) -> None:
    """An evaluation at an odd time judges up to the last whole bucket and leaves the bucket in
    progress to the next one, which judges it whole."""
    _baseline(store, "dns")
    _spell(store, "dns", T0 - 30, T0 + 300, after=T0 + 400)
    config = AlertConfig(first_lookback=7200)
    assert evaluate(store, TARGET, T0 + 295, config).events == []
    assert [e.event for e in evaluate(store, TARGET, T0 + 400, config).events][:1] == [
        "firing"]


def test_evaluations_remember_how_far_they_judged(store: SqliteHistory) -> None:
    _record(store, [_sample(T0 + i, "dns", total=0.1) for i in range(5)])
    _registrations(store, T0, 5)
    evaluate(store, TARGET, T0 + 915, AlertConfig(first_lookback=7200))
    for key, until in ((f"alert:slow_responses:{TARGET}:dns", T0 + 900),
                       (f"alert:registration_drop:{TARGET}:register", R0),
                       (f"alert:slow_responses:{TARGET}:orchestrate", T0 + 900)):
        assert store.load_state(key)["evaluated_until"] == until, key


def test_registration_rule_starts_at_the_first_whole_bucket(store: SqliteHistory) -> None:
    _registrations(store, R0 - 86_400, 100)
    _registrations(store, R0 + 600, 30, ok=False)  # in the bucket that holds `since`
    _registrations(store, R0 + 900, 30)
    result = evaluate(store, TARGET, R0 + 1800, AlertConfig(first_lookback=1200))
    assert result.events == []


def test_an_evaluation_without_registrations_still_moves_on(store: SqliteHistory) -> None:
    evaluate(store, TARGET, R0 + 915, AlertConfig(first_lookback=7200))
    state = store.load_state(f"alert:registration_drop:{TARGET}:register")
    assert state is not None and state["evaluated_until"] == R0 + 900
