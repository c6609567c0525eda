"""Alertmanager as the alert and decision engine when there are many runners.

Registered through its own `pytest11` entry point (`synthetics_alertmanager`) for the option
`--alertmanager URL` (env `SYNTHETICS_ALERTMANAGER`, ini `synthetics_alertmanager`); `synthetics
schedule` and `synthetics heal` read the same option.

- `AlertmanagerSink`: the alert rules' firing, reminder and resolved events
  (`synthetics.history.alerts`) are POSTed to Alertmanager's API v2 (`/api/v2/alerts`) with stable
  labels
  — `alertname` (the rule), `severity`, `target`, `worker`, `region` — and a `generatorURL`, so N
  regions raising the same alert become one group there. A firing alert is sent with `endsAt`
  two hours ahead (the rules remind hourly, which renews it); a resolved one with `endsAt` at
  the time it resolved.
- `SilenceGate`: a pre-deploy gate of the ladder. It asks `/api/v2/silences` whether an active
  silence matches the worker's `health_down` alert (a maintenance window) and if so refuses
  ("silenced: …", naming the silence); when Alertmanager cannot be asked it refuses too (fail
  closed).

The webhook receiver that lets Alertmanager start the ladder (`synthetics heal --listen`) lives
with the command, in `synthetics.selfheal.heal`.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import socket
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from synthetics import deadline
from synthetics.clock import format_utc
from synthetics.probe import strict_json
from synthetics.reporting.metrics import METRICS_SETTINGS
from synthetics.selfheal.cloudflare import worker_name
from synthetics.selfheal.settings import OPTIONS as REDEPLOY_OPTIONS
from synthetics.selfheal.settings import REDEPLOY_SETTINGS, RedeploySettings
from synthetics.settings import Option, add_options, resolve_arguments, resolve_values

__all__ = ["OPTIONS", "AlertmanagerSink", "SilenceGate", "alert_labels", "sinks_for",
           "worker_of"]

MAX_BODY = 1 << 20
FIRING_TTL = timedelta(hours=2)


def _alertmanager_url(value: str) -> str:
    parsed = urllib.parse.urlsplit(value.strip())
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValueError("must be an http:// or https:// URL")
    return value.strip().rstrip("/")


OPTIONS: tuple[Option, ...] = (
    Option("alertmanager", "--alertmanager",
           "Alertmanager base URL (API v2): alert events are posted to it, and before "
           "deploying the self-healing ladder asks it for an active silence of the worker.",
           None, _alertmanager_url),
)
ALERTMANAGER = pytest.StashKey["str | None"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser, OPTIONS, "synthetics-alertmanager",
                "Alertmanager: alerts across regions, silences")


def pytest_configure(config: pytest.Config) -> None:
    config.stash[ALERTMANAGER] = resolve_values(config, OPTIONS)["alertmanager"]


def _scrubbed(url: str, text: str) -> str:
    """`text` without the URL's credentials (Alertmanager behind basic auth)."""
    parts = urllib.parse.urlsplit(url)
    for secret in (parts.password, parts.username, url):
        if secret and len(secret) >= 3:
            text = text.replace(secret, "<hidden>")
    return text


def _request(url: str, method: str, path: str, body: Any | None, timeout: float) -> Any:
    """One JSON request to Alertmanager; raises RuntimeError with a one-line, scrubbed reason."""
    parts = urllib.parse.urlsplit(url)
    headers = {"Accept": "application/json"}
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"
    if parts.port:
        netloc += f":{parts.port}"
    if parts.username is not None:
        user = urllib.parse.unquote(parts.username)
        pair = f"{user}:{urllib.parse.unquote(parts.password or '')}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    clean = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path.rstrip("/") + path, "",
                                     ""))
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    try:
        status, _, raw = deadline.fetch(method, clean, timeout=timeout, body=data,
                                        headers=headers.items(), max_bytes=MAX_BODY)
    except deadline.TooLarge:
        raise RuntimeError(f"Alertmanager's answer to {method} {path} is over {MAX_BODY} bytes"
                           ) from None
    except httpx.HTTPError as exc:
        reason = f"{type(exc).__name__}: {exc}"
        raise RuntimeError(_scrubbed(url, reason)[:200]) from None
    if status >= 400:
        raise RuntimeError(f"Alertmanager answered HTTP {status} to {method} {path}")
    if len(raw) > MAX_BODY:
        raise RuntimeError(f"Alertmanager's answer to {method} {path} is over {MAX_BODY} bytes")
    if not raw.strip():
        return None
    try:
        return strict_json(raw)
    except ValueError:
        raise RuntimeError(f"Alertmanager's answer to {method} {path} is not JSON") from None


def worker_of(settings: Any) -> str:
    """The worker's name from the self-healing settings' wrangler configuration ("" if none)."""
    return worker_name(settings.deploy_config, settings.deploy_env) or ""


def alert_labels(rule: str, severity: str, target: str, worker: str, region: str) -> dict[str,
                                                                                        str]:
    return {"alertname": rule, "severity": severity, "target": target, "worker": worker,
            "region": region}


def default_generator_url(target: str, environ: Mapping[str, str] | None = None) -> str:
    """The GitHub Actions run when there is one, else the target."""
    env = os.environ if environ is None else environ
    if env.get("GITHUB_RUN_ID") and env.get("GITHUB_REPOSITORY"):
        server = env.get("GITHUB_SERVER_URL", "https://github.com")
        return f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
    return target


class AlertmanagerSink:
    """An alert sink (`synthetics.history.alerts.dispatch`) posting to Alertmanager's API v2."""

    name = "alertmanager"

    def __init__(self, url: str, worker: str, region: str, timeout: float = 5.0,
                 generator_url: str | None = None) -> None:
        self._url = url
        self.worker = worker
        self.region = region
        self.timeout = timeout
        self.generator_url = generator_url

    def __repr__(self) -> str:
        return f"AlertmanagerSink(worker={self.worker!r}, region={self.region!r})"

    def alert(self, event: Any) -> dict[str, Any]:
        """The API v2 alert of a `synthetics.history.alerts.AlertEvent`."""
        since = datetime.fromtimestamp(event.since, timezone.utc)
        at = datetime.fromtimestamp(event.t, timezone.utc)
        ends = at if event.event == "resolved" else max(at, datetime.now(timezone.utc)) \
            + FIRING_TTL
        return {
            "labels": alert_labels(event.rule, event.severity, event.target, self.worker,
                                   self.region),
            "annotations": {"summary": event.message, "key": event.key},
            "startsAt": format_utc(since), "endsAt": format_utc(ends),
            "generatorURL": self.generator_url or default_generator_url(event.target),
        }

    def emit(self, event: Any) -> None:
        _request(self._url, "POST", "/api/v2/alerts", [self.alert(event)], self.timeout)


def sinks_for(url: str | None, worker: str, region: str | None,
              timeout: float = 5.0) -> list[AlertmanagerSink]:
    """[the sink] when an Alertmanager is configured, else []."""
    if not url:
        return []
    return [AlertmanagerSink(url, worker, region or socket.gethostname(), timeout)]


def sinks_from_config(config: pytest.Config) -> list[AlertmanagerSink]:
    """The sink of a pytest session (its --alertmanager, worker and --region), or []."""
    url = config.stash.get(ALERTMANAGER, None)
    if not url:
        return []
    redeploy = config.stash.get(REDEPLOY_SETTINGS, None)
    metrics = config.stash.get(METRICS_SETTINGS, None)
    return sinks_for(url, worker_of(redeploy) if redeploy is not None else "",
                     metrics.region if metrics is not None else None)


def sinks_from_environment(url: str | None,
                           environ: Mapping[str, str] | None = None) -> list[AlertmanagerSink]:
    """The sink of a process outside pytest (`synthetics schedule`): worker and region from the
    SYNTHETICS_* variables of the same options."""
    if not url:
        return []
    env = os.environ if environ is None else environ
    try:
        redeploy = RedeploySettings(**resolve_arguments(argparse.Namespace(), REDEPLOY_OPTIONS,
                                                        env))
        worker = worker_of(redeploy)
    except ValueError:
        worker = ""
    return sinks_for(url, worker, env.get("SYNTHETICS_REGION") or None)


def _matches(matcher: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    value = labels.get(str(matcher.get("name")), "")
    expected = str(matcher.get("value", ""))
    if matcher.get("isRegex"):
        try:
            hit = re.fullmatch(expected, value) is not None
        except re.error:
            return False
    else:
        hit = value == expected
    return hit if matcher.get("isEqual", True) else not hit


@dataclass
class SilenceGate:
    """A pre-deploy gate: refuses while an active Alertmanager silence matches the worker."""

    url: str
    worker: str
    target: str
    timeout: float = 5.0

    def labels(self) -> dict[str, str]:
        return {"alertname": "health_down", "severity": "critical", "target": self.target,
                "worker": self.worker}

    def __call__(self, step: Any) -> str | None:
        try:
            silences = _request(self.url, "GET", "/api/v2/silences", None, self.timeout)
        except RuntimeError as exc:
            return (f"refused: cannot ask Alertmanager for silences ({exc}); not deploying "
                    "without it (fail closed)")
        if not isinstance(silences, list):
            return "refused: Alertmanager's silences are not a list; not deploying (fail closed)"
        labels = self.labels()
        for silence in silences:
            if not isinstance(silence, dict):
                continue
            if (silence.get("status") or {}).get("state") != "active":
                continue
            matchers = silence.get("matchers") or []
            if matchers and all(isinstance(m, dict) and _matches(m, labels) for m in matchers):
                shown = ", ".join(
                    f"{m.get('name')}{'!' if not m.get('isEqual', True) else ''}"
                    f"{'=~' if m.get('isRegex') else '='}{m.get('value')!r}" for m in matchers)
                return (f"silenced: Alertmanager silence {silence.get('id')} ({shown}; by "
                        f"{silence.get('createdBy')}: {str(silence.get('comment'))[:120]!r}; "
                        f"until {silence.get('endsAt')}) matches worker "
                        f"{self.worker or self.target}; deploying nothing")
        return None
