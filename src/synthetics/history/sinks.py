"""Alert channels through Apprise: one `--alert-url` per channel, 100+ services.

`--alert-url URL` (repeatable; env `SYNTHETICS_ALERT_URLS`, URLs separated by white space or
commas; ini `synthetics_alert_urls`, one or more a line) takes Apprise URLs — `slack://…`,
`pagerduty://…`, `opsgenie://…`, `msteams://…`, `discord://…`, `matrix://…`, `ntfy://…`,
`mailto://…`, `json://host/path` … (https://github.com/caronc/apprise/wiki). Every alert event
goes to every URL, its severity mapped to Apprise's notification types:

    critical → failure    warning → warning    info → info    resolved (any) → success

Each URL is its own sink (`AppriseSink`), so `synthetics.history.alerts.dispatch` reports a failing
channel in one line and carries on with the others. A delivery runs in a daemon thread and is
abandoned after `timeout` seconds of wall-clock time (Apprise's own connect and read timeouts
apply inside it), so a channel that hangs cannot hang the run.

The URLs are secrets (they carry tokens): a channel is named by its scheme and position
(`apprise slack #2`), and any text from Apprise is scrubbed of every piece of the URL before it
is shown. `synthetics.scrub` also scrubs each URL of `SYNTHETICS_ALERT_URLS` from every output.
"""

from __future__ import annotations

import logging
import re
import threading
import warnings
from collections.abc import Iterable
from typing import Any

from synthetics.history.alerts import AlertEvent
from synthetics.scrub import scrub, split_url_list

__all__ = ["DELIVERY_TIMEOUT", "NOTIFY_TYPES", "AppriseSink", "apprise_sinks", "notify_type",
           "parse_alert_urls"]

#: Seconds one delivery may take, wall clock, before it is abandoned and reported.
DELIVERY_TIMEOUT = 15.0
#: Severity → Apprise notify type; a resolved event is a success whatever its severity.
NOTIFY_TYPES = {"critical": "failure", "warning": "warning", "info": "info"}

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def parse_alert_urls(value: str) -> tuple[str, ...]:
    """URLs separated by white space, or by commas before the next `scheme://` (a comma inside
    a URL, as in `mailto://…?to=a@x,b@y`, stays).

    Never raises: an option parser's error would quote the value, and these are secrets. A
    piece Apprise cannot use is reported, by its position, when the first alert is sent."""
    return tuple(split_url_list(value))


_MODULE: Any = None


def _apprise() -> Any:
    """The apprise module, imported once in the caller's thread with its import-time
    deprecation notices (imghdr on Python 3.11-3.12) silenced: they say nothing about a run,
    and a test session that turns warnings into errors would fail on them."""
    global _MODULE
    if _MODULE is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import apprise  # deferred: a heavy import, only with --alert-url

            # Apprise loads its plugins (and their imports) at the first URL it parses: here,
            # so that it happens under this filter and never in a delivery thread.
            apprise.Apprise().add("json://127.0.0.1/")
        _MODULE = apprise
    return _MODULE


def notify_type(event: AlertEvent) -> str:
    return "success" if event.event == "resolved" else NOTIFY_TYPES.get(event.severity, "info")


def _pieces(url: str) -> set[str]:
    """The URL and every part of it long enough to be worth hiding (tokens, hosts, paths)."""
    rest = url.split("://", 1)[-1]
    parts = {url, url.strip(), rest, *re.split(r"[/?&=#:@,;\s]+", rest)}
    return {p for p in parts if len(p) >= 6}


class AppriseSink:
    """Delivers alert events to one Apprise URL, within a wall-clock `timeout`."""

    def __init__(self, url: str, index: int, timeout: float = DELIVERY_TIMEOUT) -> None:
        self._url = url
        match = _SCHEME.match(url)
        self.scheme = match.group(1).lower() if match else "?"
        self.name = f"apprise {self.scheme} #{index}"
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"AppriseSink({self.name}, url=<hidden>)"

    def _scrub(self, text: str) -> str:
        for piece in sorted(_pieces(self._url), key=len, reverse=True):
            text = text.replace(piece, "<alert-url>")
        return scrub(text)

    def _deliver(self, apprise: Any, event: AlertEvent, outcome: list[str]) -> None:
        try:
            notifier = apprise.Apprise()
            if not self.scheme.isalnum() or not notifier.add(self._url):
                outcome.append(f"not a URL Apprise can use (scheme {self.scheme}://)")
                return
            capture = apprise.LogCapture(
                level=logging.INFO, fmt="%(levelname)s %(message)s")
            with capture as log:
                title = (f"{'RESOLVED' if event.event == 'resolved' else event.severity.upper()}"
                         f" {event.rule} [{event.key}]")
                ok = notifier.notify(body=event.message, title=title,
                                     notify_type=apprise.NotifyType(notify_type(event)))
                text: Any = log.getvalue()
            if ok:
                outcome.append("")
                return
            lines = [ln for ln in str(text).splitlines() if ln.startswith(("WARNING", "ERROR"))]
            reason = lines[-1].split(" ", 1)[-1] if lines else "the service did not accept it"
            outcome.append(f"not delivered: {reason[:200]}")
        except Exception as exc:  # noqa: BLE001 - reported (scrubbed) by emit
            outcome.append(f"{type(exc).__name__}: {exc}")

    def emit(self, event: AlertEvent) -> None:
        outcome: list[str] = []
        worker = threading.Thread(target=self._deliver, args=(_apprise(), event, outcome),
                                  name=f"alert {self.name}", daemon=True)
        worker.start()
        worker.join(self.timeout)
        if worker.is_alive():
            raise RuntimeError(f"no answer within {self.timeout:g} s (abandoned)")
        if not outcome:
            raise RuntimeError("delivery ended without an outcome")
        if outcome[0]:
            raise RuntimeError(self._scrub(outcome[0]))


def apprise_sinks(urls: Iterable[str], timeout: float = DELIVERY_TIMEOUT) -> list[AppriseSink]:
    """One sink per URL, numbered from 1 in the order given."""
    return [AppriseSink(url, i, timeout) for i, url in enumerate(urls, 1)]
