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
- `serve_receiver`: `synthetics heal --listen HOST:PORT --target URL`, an Alertmanager webhook
  receiver. Only `POST /alertmanager` with `Authorization: Bearer $SYNTHETICS_HEAL_TOKEN` (the
  token never on a command line) and a JSON body of at most 1 MiB is accepted; everything else
  is refused (401 no token, 403 wrong token, 404 other paths, 405 other methods, 411/413/400
  bodies). A firing group with a firing `health_down` alert for the target runs the ladder once,
  in the background, one at a time; a resolved group, a repeat of a group already handled and
  any other alert are no-ops.
"""

from __future__ import annotations

import base64
import hmac
import json
import os
import queue
import re
import signal
import socket
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from synthetics import deadline
from synthetics.clock import format_utc
from synthetics.probe import strict_json
from synthetics.settings import Option, add_options, resolve_values

__all__ = ["OPTIONS", "AlertmanagerSink", "SilenceGate", "alert_labels", "serve_receiver",
           "sinks_for", "worker_of"]

TOKEN_ENV = "SYNTHETICS_HEAL_TOKEN"
WEBHOOK_PATH = "/alertmanager"
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
    from synthetics.selfheal.cloudflare import worker_name

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
    from synthetics.reporting.metrics import METRICS_SETTINGS
    from synthetics.selfheal.plugin import REDEPLOY_SETTINGS

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
    import argparse

    from synthetics.selfheal.plugin import OPTIONS as REDEPLOY_OPTIONS
    from synthetics.selfheal.plugin import RedeploySettings
    from synthetics.settings import resolve_arguments

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


# --- the webhook receiver -----------------------------------------------------------------------

@dataclass
class Receiver:
    """The webhook receiver's decisions; `remediate(reason)` runs the ladder once."""

    target: str
    remediate: Callable[[str], Any]
    say: Callable[[str], None]

    def __post_init__(self) -> None:
        self._handled: set[str] = set()
        self._lock = threading.Lock()
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._worker = threading.Thread(target=self._run, name="heal-ladder", daemon=True)
        self._worker.start()

    def _run(self) -> None:
        while True:
            reason = self._queue.get()
            if reason is None:
                return
            try:
                outcome = self.remediate(reason)
                self.say(f"outcome: {outcome.status.upper()}: {outcome.headline}")
            except Exception as exc:  # noqa: BLE001 - the receiver keeps serving
                self.say(f"the ladder failed: {type(exc).__name__}: {exc}")
            finally:
                self._queue.task_done()

    def stop(self) -> None:
        self._queue.put(None)
        self._worker.join(timeout=5)

    def handle(self, payload: Any) -> str:
        """What the notification led to, in one line (the HTTP answer's body)."""
        if not isinstance(payload, dict) or not isinstance(payload.get("alerts"), list):
            raise ValueError("not an Alertmanager webhook notification (no alerts list)")
        group = str(payload.get("groupKey") or "")
        ours = [a for a in payload["alerts"] if isinstance(a, dict)
                and isinstance(a.get("labels"), dict)
                and a["labels"].get("alertname") == "health_down"
                and _same_target(str(a["labels"].get("target", "")), self.target)]
        firing = [a for a in ours if a.get("status") == "firing"]
        with self._lock:
            if payload.get("status") == "resolved" or not firing:
                if payload.get("status") == "resolved":
                    self._handled.discard(group)
                return "no-op: no firing health_down alert for this target"
            if group in self._handled:
                return "no-op: this group was already acted on"
            self._handled.add(group)
        regions = sorted({str(a["labels"].get("region", "?")) for a in firing})
        reason = (f"Alertmanager group {group[:120]!r}: health_down firing in "
                  f"{len(regions)} region(s) ({', '.join(regions)[:200]})")
        self.say(f"acting on {reason}")
        self._queue.put(reason)
        return "accepted: the self-healing ladder runs once"


def _same_target(a: str, b: str) -> bool:
    from synthetics.selfheal.heal import _canonical

    return bool(a) and _canonical(a) == _canonical(b)


def _handler(receiver: Receiver, token: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "synthetics-heal"
        sys_version = ""

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # no request lines (they would carry nothing useful and could carry noise)

        def _answer(self, code: int, text: str, extra: Mapping[str, str] | None = None) -> None:
            body = (text + "\n").encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True

        def _refuse_method(self) -> None:
            if self.path.split("?")[0] != WEBHOOK_PATH:
                self._answer(404, "not found")
            else:
                self._answer(405, "only POST", {"Allow": "POST"})

        do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _refuse_method

        def do_POST(self) -> None:  # noqa: N802
            if self.path.split("?")[0] != WEBHOOK_PATH:
                self._answer(404, "not found")
                return
            auth = self.headers.get("Authorization", "")
            if not auth.startswith("Bearer "):
                self._answer(401, "a bearer token is required", {"WWW-Authenticate": "Bearer"})
                return
            if not hmac.compare_digest(auth[len("Bearer "):].strip().encode(), token.encode()):
                self._answer(403, "wrong token")
                return
            length = self.headers.get("Content-Length")
            if length is None or not length.isdigit():
                self._answer(411, "Content-Length required")
                return
            if int(length) > MAX_BODY:
                self._answer(413, f"body over {MAX_BODY} bytes")
                return
            try:
                payload = strict_json(self.rfile.read(int(length)))
                text = receiver.handle(payload)
            except (ValueError, RecursionError) as exc:
                self._answer(400, f"bad notification: {str(exc)[:100]}")
                return
            self._answer(200, text)

    return Handler


def serve_receiver(listen: str, settings: Any, timeout: float, alertmanager: str | None,
                   target: str | None, environ: Mapping[str, str] | None = None,
                   ready: Callable[[str], None] | None = None) -> int:
    """Run the webhook receiver until SIGTERM or Ctrl-C; 4 on a usage problem."""
    from synthetics.selfheal.heal import _say, remediate

    env = os.environ if environ is None else environ
    token = env.get(TOKEN_ENV, "")
    if len(token) < 16:
        print(f"synthetics heal: --listen needs a bearer token of at least 16 characters in "
              f"{TOKEN_ENV} (Alertmanager's http_config.authorization.credentials)",
              file=sys.stderr)
        return 4
    if not target:
        print("synthetics heal: --listen needs --target URL (the worker it may heal)",
              file=sys.stderr)
        return 4
    host, sep, port = listen.rpartition(":")
    host = host.strip("[]")
    if not sep or not port.isdigit() or not host:
        print(f"synthetics heal: --listen {listen!r} must be HOST:PORT", file=sys.stderr)
        return 4

    receiver = Receiver(target, lambda reason: remediate(settings, timeout, alertmanager,
                                                         target, reason), _say)
    ServerClass = ThreadingHTTPServer  # noqa: N806
    if ":" in host:
        class V6(ThreadingHTTPServer):
            address_family = socket.AF_INET6
        ServerClass = V6  # noqa: N806
    try:
        server = ServerClass((host, int(port)), _handler(receiver, token))
    except (OSError, OverflowError) as exc:
        print(f"synthetics heal: cannot listen on {listen}: {exc}", file=sys.stderr)
        return 4
    server.daemon_threads = True
    server.timeout = 1
    bound = server.server_address
    url = f"http://{host if ':' not in host else f'[{host}]'}:{bound[1]}{WEBHOOK_PATH}"
    _say(f"listening on {url} for Alertmanager (bearer token from {TOKEN_ENV})")
    if ready is not None:
        ready(url)
    stop = threading.Event()

    def _stop(*_: object) -> None:
        stop.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stop)
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        receiver._queue.join()
        receiver.stop()
    _say("receiver stopped")
    return 0
