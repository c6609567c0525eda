"""Alerts: the maintenance document's three alerting thresholds, judged over history.

- **Critical** `health_down`: the health endpoint down for more than 1 minute.
- **Warning** `slow_responses`: an endpoint's response times more than 2x normal for more than
  5 minutes; "normal" is the median of the last 7 days of that endpoint's samples, and the
  response time of a 30-second bucket is the median of its samples (one slow request is not a
  slow endpoint).
- **Info** `registration_drop`: the agent-registration success rate more than 10% below its
  7-day baseline.

Each rule turns history into observations (bad or not, with start and end times) and replays
them through a small state machine: a rule must hold for its duration before it fires, does not
repeat while firing except every reminder interval, and resolves (once, with the duration) after
a run of good observations. A gap between observations longer than the rule's resolution breaks
a pending spell; such gaps are reported plainly ("too sparse to judge"), never guessed across.

Events go to sinks — the terminal, a JSON-lines log, a generic webhook with a Slack-compatible
body, GitHub Actions annotations — and a sink that fails is reported without stopping the
others. The webhook URL is a secret: it never appears in any message.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from synthetics.clock import format_utc
from synthetics.deadline import send
from synthetics.expectations import SAMPLED_ENDPOINTS
from synthetics.history.store import HistoryStore, SampleRecord

__all__ = [
    "AlertConfig", "AlertEvent", "AlertState", "Evaluation", "GithubAnnotationSink",
    "JsonLinesSink", "Observation", "Rule", "TerminalSink", "WebhookSink", "dispatch",
    "evaluate", "health_observations", "registration_observations", "replay",
    "slow_observations",
]

DAY = 86_400.0


@dataclass(frozen=True)
class Rule:
    """One alerting rule: how long it must hold, the data resolution it needs, how it clears."""

    name: str
    severity: str  # critical | warning | info
    condition: str  # in words, from the document
    for_seconds: float  # must hold longer than this before firing
    max_gap: float  # observations further apart than this break a spell
    success_threshold: int  # good observations in a row needed to resolve
    reminder_seconds: float  # repeat while firing at most this often


@dataclass(frozen=True)
class AlertConfig:
    """Tunables of the three rules (defaults from the document)."""

    health_for: float = 60.0
    health_max_gap: float = 30.0
    slow_factor: float = 2.0
    slow_for: float = 300.0
    slow_bucket: float = 30.0
    baseline_days: float = 7.0
    baseline_min_samples: int = 50
    registration_drop: float = 0.10
    registration_bucket: float = 900.0
    registration_min_samples: int = 20
    success_threshold: int = 2
    reminder_seconds: float = 3600.0
    first_lookback: float = 3600.0  # how far back the very first evaluation looks

    def rules(self) -> dict[str, Rule]:
        return {
            "health_down": Rule("health_down", "critical",
                                f"health endpoint down for more than {_dur(self.health_for)}",
                                self.health_for, self.health_max_gap, self.success_threshold,
                                self.reminder_seconds),
            "slow_responses": Rule(
                "slow_responses", "warning",
                f"response times more than {self.slow_factor:g}x normal for more than "
                f"{_dur(self.slow_for)}", self.slow_for, 3 * self.slow_bucket,
                self.success_threshold, self.reminder_seconds),
            "registration_drop": Rule(
                "registration_drop", "info",
                f"agent registration success rate drops more than {self.registration_drop:.0%}",
                0.0, float("inf"), 1, self.reminder_seconds),
        }



@dataclass(frozen=True)
class Observation:
    """What one sample (or one bucket of samples) says about a rule's condition."""

    start: float
    t: float  # end: when this observation was complete
    bad: bool
    text: str = ""


@dataclass
class AlertState:
    """A rule's state for one key (endpoint), persisted between evaluations."""

    status: str = "ok"  # ok | pending | firing
    pending_since: float | None = None
    firing_since: float | None = None
    fired_at: float | None = None
    last_notified: float | None = None
    good_streak: int = 0
    last_t: float | None = None
    last_text: str = ""

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> AlertState:
        if not data:
            return cls()
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


@dataclass(frozen=True)
class AlertEvent:
    """A change worth telling someone about: firing, reminder, or resolved."""

    rule: str
    severity: str
    key: str
    target: str
    event: str  # firing | reminder | resolved
    t: float
    since: float
    duration: float
    message: str

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["time"] = format_utc(self.t, "second")
        data["since_time"] = format_utc(self.since, "second")
        return data


def replay(rule: Rule, state: AlertState, observations: Iterable[Observation], key: str,
           target: str, describe: Callable[[AlertState, Observation], str]) -> \
        tuple[list[AlertEvent], list[float]]:
    """Feed observations (oldest first) through the rule; returns events and the gaps seen."""
    events: list[AlertEvent] = []
    gaps: list[float] = []
    for obs in observations:
        if state.last_t is not None:
            gap = obs.start - state.last_t
            if gap > rule.max_gap:
                gaps.append(gap)
                if state.status == "pending":  # continuity unknown: start the spell afresh
                    state.status, state.pending_since = "ok", None
        state.last_t = obs.t
        if obs.bad:
            state.good_streak = 0
            state.last_text = obs.text
            if state.status == "ok":
                state.status, state.pending_since = "pending", obs.start
            if state.status == "pending" and state.pending_since is not None and \
                    obs.t - state.pending_since > rule.for_seconds:
                state.status, state.firing_since = "firing", state.pending_since
                state.fired_at = state.last_notified = obs.t
                events.append(_event(rule, key, target, "firing", obs.t, state,
                                     describe(state, obs)))
            elif state.status == "firing" and state.last_notified is not None and \
                    obs.t - state.last_notified >= rule.reminder_seconds:
                state.last_notified = obs.t
                events.append(_event(rule, key, target, "reminder", obs.t, state,
                                     describe(state, obs)))
        else:
            if state.status == "pending":
                state.status, state.pending_since = "ok", None
            elif state.status == "firing":
                state.good_streak += 1
                if state.good_streak >= rule.success_threshold:
                    events.append(_event(rule, key, target, "resolved", obs.t, state,
                                         describe(state, obs)))
                    state.status = "ok"
                    state.pending_since = state.firing_since = state.fired_at = None
                    state.last_notified = None
                    state.good_streak = 0
    return events, gaps


def _event(rule: Rule, key: str, target: str, kind: str, t: float, state: AlertState,
           text: str) -> AlertEvent:
    since = state.firing_since if state.firing_since is not None else t
    label = "RESOLVED" if kind == "resolved" else rule.severity.upper()
    suffix = " (reminder)" if kind == "reminder" else ""
    verb = "resolved after" if kind == "resolved" else "for"
    message = (f"{label} {rule.name}{suffix} [{target} {key}]: {text}; {verb} "
               f"{_dur(t - since)} since {format_utc(since, 'second')}")
    return AlertEvent(rule.name, rule.severity, key, target, kind, t, since, t - since, message)


# -- observations from history ---------------------------------------------------------------
def health_observations(samples: Sequence[SampleRecord]) -> list[Observation]:
    """One observation per GET /health sample: bad when it was not 200 "healthy"."""
    out = []
    for s in samples:
        why = "" if s.ok else (s.error_kind or (f"HTTP {s.status}" if s.status else "no answer"))
        out.append(Observation(s.t, s.t, not s.ok, why if s.status != 200 else "not healthy"))
    return out


def _buckets(samples: Sequence[SampleRecord], width: float, until: float) -> \
        list[list[SampleRecord]]:
    groups: dict[int, list[SampleRecord]] = {}
    for s in samples:
        idx = int(s.t // width)
        if (idx + 1) * width <= until:  # complete buckets only
            groups.setdefault(idx, []).append(s)
    return [groups[k] for k in sorted(groups)]


def slow_observations(samples: Sequence[SampleRecord], baseline: float, factor: float,
                      width: float, until: float) -> list[Observation]:
    """Per complete bucket: bad when its median response time exceeds factor x baseline."""
    out = []
    for bucket in _buckets([s for s in samples if s.total is not None], width, until):
        median = statistics.median(s.total for s in bucket if s.total is not None)
        out.append(Observation(bucket[0].t, bucket[-1].t, median > factor * baseline,
                               f"median {median * 1000:.0f} ms against a normal "
                               f"{baseline * 1000:.0f} ms ({median / baseline:.1f}x)"))
    return out


def registration_observations(samples: Sequence[SampleRecord], baseline_rate: float,
                              drop: float, width: float, min_samples: int,
                              until: float) -> list[Observation]:
    """Per complete bucket with enough registrations: bad when success < (1 - drop) x baseline."""
    out = []
    for bucket in _buckets(samples, width, until):
        if len(bucket) < min_samples:
            continue
        rate = sum(s.ok for s in bucket) / len(bucket)
        out.append(Observation(bucket[0].t, bucket[-1].t, rate < (1 - drop) * baseline_rate,
                               f"success {rate:.1%} over {len(bucket)} against a baseline of "
                               f"{baseline_rate:.1%}"))
    return out


# -- evaluation ------------------------------------------------------------------------------
@dataclass
class Evaluation:
    """What one evaluation found: events to send and notes for people (sparse data etc.)."""

    events: list[AlertEvent] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    firing: list[str] = field(default_factory=list)


def evaluate(store: HistoryStore, target: str, now: float,
             config: AlertConfig = AlertConfig()) -> Evaluation:
    """Replay history since each rule's last evaluation; persist the states in one transaction
    (so two runs finishing together do not both notify). Send the events afterwards."""
    rules = config.rules()
    result = Evaluation()
    with store.transaction():
        _eval_health(store, target, now, config, rules["health_down"], result)
        for endpoint in SAMPLED_ENDPOINTS:
            _eval_slow(store, target, endpoint, now, config, rules["slow_responses"], result)
        _eval_registration(store, target, now, config, rules["registration_drop"], result)
    return result


def _load(store: HistoryStore, key: str, now: float, config: AlertConfig) -> \
        tuple[AlertState, float]:
    data = store.load_state(key) or {}
    since = float(data.get("evaluated_until", now - config.first_lookback))
    return AlertState.from_dict(data.get("state")), since


def _save(store: HistoryStore, key: str, state: AlertState, until: float) -> None:
    store.save_state(key, {"state": asdict(state), "evaluated_until": until})


def _sparse_note(rule: Rule, key: str, gaps: list[float], count: int, what: str) -> str | None:
    if not gaps:
        return None
    return (f"{rule.name} [{key}]: data too sparse to judge '{rule.condition}' — {count} "
            f"observation(s), {len(gaps)} gap(s) up to {_dur(max(gaps))}; the rule needs "
            f"{what} at least every {_dur(rule.max_gap)}")


def _finish(store: HistoryStore, skey: str, rule: Rule, key: str, state: AlertState,
            events: list[AlertEvent], until: float, result: Evaluation) -> None:
    _save(store, skey, state, until)
    result.events.extend(events)
    if state.status == "firing":
        result.firing.append(f"{rule.severity.upper()} {rule.name} [{key}] firing since "
                             f"{format_utc(state.firing_since or until, 'second')}")


def _eval_health(store: HistoryStore, target: str, now: float, config: AlertConfig,
                 rule: Rule, result: Evaluation) -> None:
    skey = f"alert:{rule.name}:{target}:health"
    state, since = _load(store, skey, now, config)
    samples = [s for s in store.samples(target, "health", since, now, method="GET")
               if s.t > since]
    obs = health_observations(samples)
    events, gaps = replay(rule, state, obs, "health", target,
                          lambda st, o: f"/health {o.text or 'down'}" if o.bad else "/health up")
    note = _sparse_note(rule, "health", gaps, len(obs), "a /health sample")
    if note:
        result.notes.append(note)
    _finish(store, skey, rule, "health", state, events, max([since] + [o.t for o in obs]),
            result)


def _eval_slow(store: HistoryStore, target: str, endpoint: str, now: float,
               config: AlertConfig, rule: Rule, result: Evaluation) -> None:
    skey = f"alert:{rule.name}:{target}:{endpoint}"
    state, since = _load(store, skey, now, config)
    start = (since // config.slow_bucket) * config.slow_bucket
    if start < since:
        start += config.slow_bucket  # the bucket holding `since` was judged already
    baseline, n = store.median_total(target, endpoint, start - config.baseline_days * DAY, start)
    end = (now // config.slow_bucket) * config.slow_bucket
    samples = store.samples(target, endpoint, start, end, method="GET")
    if baseline is None or n < config.baseline_min_samples or baseline <= 0:
        if samples:
            result.notes.append(
                f"{rule.name} [{endpoint}]: no baseline yet ({n} samples in the last "
                f"{config.baseline_days:g} days, {config.baseline_min_samples} needed); not judged")
        _save(store, skey, state, max(since, end))
        return
    obs = slow_observations(samples, baseline, config.slow_factor, config.slow_bucket, end)
    events, gaps = replay(rule, state, obs, endpoint, target,
                          lambda st, o: f"{endpoint} {o.text}")
    note = _sparse_note(rule, endpoint, gaps, len(obs), f"a {_dur(config.slow_bucket)} bucket "
                        f"of {endpoint} samples")
    if note:
        result.notes.append(note)
    _finish(store, skey, rule, endpoint, state, events, max(since, end), result)


def _eval_registration(store: HistoryStore, target: str, now: float, config: AlertConfig,
                       rule: Rule, result: Evaluation) -> None:
    skey = f"alert:{rule.name}:{target}:register"
    state, since = _load(store, skey, now, config)
    width = config.registration_bucket
    start = -(-since // width) * width
    end = (now // width) * width
    samples = store.samples(target, "register", start, end, method="POST")
    if not samples:
        _save(store, skey, state, max(since, end))
        return
    history = store.failure_counts(target, "register", start - config.baseline_days * DAY,
                                   start, method="POST")
    if history["samples"] < config.registration_min_samples:
        result.notes.append(f"{rule.name}: no baseline yet ({history['samples']} registrations "
                            f"in the last {config.baseline_days:g} days); not judged")
        _save(store, skey, state, max(since, end))
        return
    baseline = 1 - history["not_ok"] / history["samples"]
    obs = registration_observations(samples, baseline, config.registration_drop, width,
                                    config.registration_min_samples, end)
    events, _ = replay(rule, state, obs, "register", target, lambda st, o: f"registration {o.text}")
    _finish(store, skey, rule, "register", state, events, max(since, end), result)


# -- sinks -----------------------------------------------------------------------------------
class AlertSink(Protocol):
    """Where alert events go. `emit` may raise; `dispatch` reports it and carries on."""

    name: str

    def emit(self, event: AlertEvent) -> None: ...


class TerminalSink:
    """Collects lines for the terminal summary (or writes them at once with `write`)."""

    name = "terminal"

    def __init__(self, write: Callable[[str], None] | None = None) -> None:
        self.lines: list[str] = []
        self._write = write

    def emit(self, event: AlertEvent) -> None:
        self.lines.append(event.message)
        if self._write is not None:
            self._write(event.message)


class JsonLinesSink:
    """Appends one JSON object per event to a file."""

    name = "alert log"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def emit(self, event: AlertEvent) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(event.as_dict(), sort_keys=True) + "\n")


Poster = Callable[[str, bytes, float], int]


def _post(url: str, body: bytes, timeout: float) -> int:
    """POST within `timeout` seconds on the wall clock, whatever the server does."""
    return send("POST", url, timeout=timeout, body=body,
                headers=[("Content-Type", "application/json")])


_COLORS = {"critical": "#d00000", "warning": "#f2c744", "info": "#439fe0"}


class WebhookSink:
    """POSTs a Slack-compatible JSON body (`text`, `attachments`) plus the event as `alert`.

    The URL is configuration and a secret: errors name the sink, never the URL.
    """

    name = "webhook"

    def __init__(self, url: str, post: Poster = _post, timeout: float = 5.0) -> None:
        self._url = url
        self._post = post
        self.timeout = timeout

    def __repr__(self) -> str:
        return "WebhookSink(url=<hidden>)"

    def _scrub(self, text: str) -> str:
        """`text` without the URL or any longer piece of it: errors may quote only the path,
        or a part of it (http.client's "URL can't contain control characters. '/hooks/...'")."""
        rest = self._url.split("://", 1)[-1]
        tail = rest[rest.find("/"):] if "/" in rest else ""
        userinfo = rest.split("/", 1)[0].rpartition("@")[0]
        pieces = {self._url, self._url.strip(), tail, tail.strip(), repr(tail)[1:-1], userinfo,
                  *re.split(r"[/?&=#:@\s]+", tail + " " + userinfo)}
        for piece in sorted(pieces, key=len, reverse=True):
            if len(piece) >= 6:
                text = text.replace(piece, "<webhook>")
        return text

    @staticmethod
    def body(event: AlertEvent) -> dict[str, Any]:
        color = "#2eb886" if event.event == "resolved" else _COLORS.get(event.severity, "#888")
        return {
            "text": event.message,
            "attachments": [{
                "color": color, "fallback": event.message,
                "fields": [{"title": "rule", "value": event.rule, "short": True},
                           {"title": "state", "value": event.event, "short": True},
                           {"title": "target", "value": f"{event.target} {event.key}",
                            "short": False}],
            }],
            "alert": event.as_dict(),
        }

    def emit(self, event: AlertEvent) -> None:
        data = json.dumps(self.body(event)).encode()
        try:
            status = self._post(self._url, data, self.timeout)
        except Exception as exc:  # noqa: BLE001 - any failure is reported, URL scrubbed
            text = self._scrub(str(exc)) or type(exc).__name__
            raise RuntimeError(f"{type(exc).__name__}: {text}") from None
        if not 200 <= status < 300:
            raise RuntimeError(f"the webhook answered HTTP {status}")


class GithubAnnotationSink:
    """Workflow commands (`::error ...::`) that GitHub Actions shows as annotations."""

    name = "github annotations"
    LEVELS = {"critical": "error", "warning": "warning", "info": "notice"}

    def __init__(self, write: Callable[[str], None] | None = None) -> None:
        self._write = write or (lambda line: print(line, file=sys.stdout, flush=True))

    def emit(self, event: AlertEvent) -> None:
        level = "notice" if event.event == "resolved" else self.LEVELS.get(event.severity,
                                                                            "notice")
        message = event.message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
        title = f"{event.severity} alert {event.rule}".replace(",", "%2C").replace(":", "%3A")
        self._write(f"::{level} title={title}::{message}")


def default_sinks(alert_log: str | Path | None, webhook: str | None,
                  environ: dict[str, str] | None = None,
                  write: Callable[[str], None] | None = None) -> list[AlertSink]:
    """The terminal, plus the JSON-lines log, the webhook and GitHub annotations when set."""
    env = dict(os.environ) if environ is None else environ
    sinks: list[AlertSink] = [TerminalSink(write)]
    if alert_log:
        sinks.append(JsonLinesSink(alert_log))
    if webhook:
        sinks.append(WebhookSink(webhook))
    if env.get("GITHUB_ACTIONS") == "true":
        sinks.append(GithubAnnotationSink())
    return sinks


def dispatch(events: Sequence[AlertEvent], sinks: Sequence[AlertSink]) -> list[str]:
    """Send every event to every sink; returns one line per failure (a sink failing does not
    stop the others)."""
    failures: list[str] = []
    for sink in sinks:
        for i, event in enumerate(events):
            try:
                sink.emit(event)
            except Exception as exc:  # noqa: BLE001 - reported, never fatal
                # the sink is not tried again this time (a dead webhook would cost a timeout
                # per event), and the line says what it missed
                unsent = len(events) - i - 1
                failures.append(f"alert sink {sink.name} failed for {event.rule} "
                                f"{event.event}: {exc}" + (f"; {unsent} more event(s) not sent "
                                                           "to it" if unsent else ""))
                break
    return failures


# -- formatting ------------------------------------------------------------------------------
def _dur(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
