"""Cloudflare's own status, read before any deploy: is there a provider incident?

The status page (https://www.cloudflarestatus.com, an Atlassian Statuspage) publishes a JSON
summary at `/api/v2/summary.json`: `components` (name, status: operational,
degraded_performance, partial_outage, major_outage, under_maintenance) and the unresolved
`incidents` (name, status, shortlink, the components they affect). `read_status` reads it
through `synthetics.deadline.fetch` (one wall-clock deadline) and `probe.strict_json`, and says:

- "incident": an unresolved incident affecting a component matching `components` (a name
  matches when it contains an entry as a whole word, case-insensitively: "Workers" matches
  "Workers", "Workers KV" and "Workers AI"), or an incident that names no component but whose
  name matches; or a matching component that is not operational. With the incident's name and
  link: redeploying does not fix Cloudflare's incident, so nothing is deployed.
- "clear": nothing of the sort.
- "unknown": the summary could not be read (refused, timed out, not JSON, not the expected
  shape). Fail-safe by decision: "unknown" is reported and does NOT block a deploy. The control
  probe already covers the runner's own network, and a status page that is down or changed
  must not keep a broken deploy from being fixed for ever.

`ProviderGate` is the `remediation.Gate` form: a refusal starting "provider incident".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from synthetics import deadline
from synthetics.probe import strict_json
from synthetics.scrub import redact

__all__ = ["DEFAULT_COMPONENTS", "DEFAULT_STATUS_URL", "ProviderGate", "ProviderStatus",
           "read_status", "summary_url"]

DEFAULT_STATUS_URL = "https://www.cloudflarestatus.com"
#: The Workers platform's components on Cloudflare's status page (matched as whole words).
DEFAULT_COMPONENTS = ("Workers",)
_RESOLVED = {"resolved", "postmortem", "completed"}
MAX_SUMMARY_BYTES = 4 << 20


@dataclass(frozen=True)
class ProviderStatus:
    state: str  # incident | clear | unknown
    detail: str  # one line for people
    name: str = ""  # the incident's (or component's) name
    link: str = ""  # the incident's shortlink, or the status page


def summary_url(url: str) -> str:
    """The JSON summary of a status page given by its base URL (or the summary's own URL)."""
    url = url.strip()
    return url if url.endswith(".json") else url.rstrip("/") + "/api/v2/summary.json"


def _matches(name: str, components: Sequence[str]) -> bool:
    return any(re.search(rf"(?<!\w){re.escape(c.strip())}(?!\w)", name, re.IGNORECASE)
               for c in components if c.strip())


def _names(items: Any) -> list[str]:
    if not isinstance(items, list):
        return []
    return [str(i.get("name", "")) for i in items if isinstance(i, dict)]


def judge(doc: Any, components: Sequence[str], page: str) -> ProviderStatus:
    """The provider's state from a parsed summary (ValueError when it is not one)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("components"), list) \
            or not isinstance(doc.get("incidents", []), list):
        raise ValueError("not a status page summary (no components list)")
    for incident in doc.get("incidents", []):
        if not isinstance(incident, dict):
            continue
        if str(incident.get("status", "")).lower() in _RESOLVED:
            continue
        name = str(incident.get("name", "an unnamed incident"))
        affected = _names(incident.get("components"))
        hit = [a for a in affected if _matches(a, components)]
        if hit or (not affected and _matches(name, components)):
            link = str(incident.get("shortlink") or page)
            what = f" (affects {', '.join(hit)})" if hit else ""
            return ProviderStatus("incident", f"provider incident: {name!r}{what}, "
                                  f"{incident.get('status', 'unresolved')}; {link}", name, link)
    for component in doc["components"]:
        if not isinstance(component, dict):
            continue
        name, status = str(component.get("name", "")), str(component.get("status", ""))
        if status and status != "operational" and _matches(name, components):
            return ProviderStatus("incident", f"provider incident: the component {name!r} is "
                                  f"{status.replace('_', ' ')}; {page}", name, page)
    return ProviderStatus("clear", f"no unresolved incident and no degraded component matching "
                          f"{', '.join(components)} on {page}")


def read_status(url: str, components: Sequence[str], timeout: float,
                fetch: Callable[..., tuple[int, dict[str, str], bytes]] = deadline.fetch,
                ) -> ProviderStatus:
    """Read the status page's summary within `timeout` seconds; never raises."""
    page = redact(url)
    where = redact(summary_url(url))
    try:
        status, _, body = fetch("GET", summary_url(url), timeout=timeout,
                                headers=[("Accept", "application/json")],
                                max_bytes=MAX_SUMMARY_BYTES)
    except (httpx.HTTPError, ValueError, OSError) as exc:
        text = str(exc).splitlines()[0] if str(exc) else ""
        return ProviderStatus("unknown", f"provider status unknown: {where} unreadable "
                              f"({type(exc).__name__}: {text})"[:300])
    if status != 200:
        return ProviderStatus("unknown", f"provider status unknown: {where} answered "
                              f"HTTP {status}")
    try:
        return judge(strict_json(body), components, page)
    except ValueError as exc:
        return ProviderStatus("unknown", f"provider status unknown: {where}: {exc}"[:300])


class ProviderGate:
    """A pre-deploy gate (`remediation.Gate`): refuses while Cloudflare has an incident that
    matches; an unreadable status page is noted through `say` and does not refuse."""

    def __init__(self, url: str, components: Sequence[str], timeout: float,
                 say: Callable[[str], None] = lambda line: None,
                 read: Callable[[str, Sequence[str], float], ProviderStatus] = read_status,
                 ) -> None:
        self.url, self.components, self.timeout = url, tuple(components), timeout
        self.say, self.read = say, read
        self.last: ProviderStatus | None = None

    def __call__(self, step: Any) -> str | None:
        status = self.read(self.url, self.components, self.timeout)
        self.last = status
        if status.state == "incident":
            return (f"{status.detail}: redeploying does not fix Cloudflare's incident; "
                    "escalate to Cloudflare and wait for it to be resolved")
        if status.state == "unknown":
            self.say(f"{status.detail}; not blocking the {getattr(step, 'kind', 'deploy')} "
                     "(the control probe covers the runner's network)")
        return None
