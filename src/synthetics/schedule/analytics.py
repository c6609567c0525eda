"""Cloudflare's own data about the worker, for the weekly and monthly reviews.

Two sources, both read-only:

- The GraphQL Analytics API (`POST {api}/graphql`, `Authorization: Bearer TOKEN`), dataset
  `workersInvocationsAdaptive` under `viewer.accounts(filter: {accountTag})`, filtered by
  `scriptName` and `datetime_geq`/`datetime_leq`: `sum { requests errors subrequests }`,
  `quantiles { cpuTimeP50 cpuTimeP99 }` (microseconds) and the `status` dimension
  (`success`, `clientDisconnected`, `scriptThrewException`, `exceededResources`,
  `internalError`). `errors` counts invocations that did not complete (an exception the worker
  did not catch, exceeded resources, an internal error): a 500 the worker's own code answers
  after catching an error is a `success` to Cloudflare. `exceededResources` is the only memory
  signal Cloudflare gives (a worker over its 128 MB is stopped with that status).
- `wrangler tail --format json` events (see synthetics.schedule.review), summarised by path, method,
  origin, colo, country and user agent.

Every API request is bounded by one wall-clock deadline (`post_json`). HTTP 429 and GraphQL
`errors` become `ApiError` with a one-line reason; the token is sent only in the Authorization
header and never appears in a reason (reasons are scrubbed too).
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import urllib.parse
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from synthetics import deadline
from synthetics.clock import format_utc
from synthetics.probe import strict_json
from synthetics.scrub import scrub

__all__ = [
    "API_URL", "AccessSummary", "ApiError", "GraphQL", "Invocations", "ROUTES",
    "api_credentials", "compatibility_date", "post_json", "summarise_tail",
]

API_URL = "https://api.cloudflare.com/client/v4"
#: The worker's routes, matched by path prefix except "/" (worker-contract.md › routing).
ROUTES: tuple[str, ...] = ("/mcp/agent/register", "/mcp/agent/status", "/mcp/dns/resolve",
                           "/mcp/orchestrate", "/health")
#: Methods the worker's clients use: GET/HEAD everywhere, OPTIONS preflights, POST to register.
USUAL_METHODS = ("GET", "HEAD", "OPTIONS")
MAX_RESPONSE_BYTES = 4 << 20


class ApiError(Exception):
    """A one-line reason the API gave no usable answer; `kind` is rate_limited, auth, graphql,
    http or transport."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


def post_json(url: str, payload: Mapping[str, Any], headers: Mapping[str, str],
              deadline_s: float) -> tuple[int, dict[str, str], bytes]:
    """POST `payload` as JSON; (status, headers, body), all within `deadline_s` seconds on the
    wall clock (`synthetics.deadline.fetch`: a server that drips its headers or body cannot
    hold the check past it). Raises ApiError("transport", ...) on the deadline or a connection
    failure, ApiError("http", ...) for an answer over `MAX_RESPONSE_BYTES`."""
    try:
        return deadline.fetch("POST", url, timeout=deadline_s, body=json.dumps(payload).encode(),
                              headers=[("Content-Type", "application/json"),
                                       ("Accept", "application/json"), *headers.items()],
                              max_bytes=MAX_RESPONSE_BYTES)
    except deadline.TooLarge:
        raise ApiError("http", f"answer larger than {MAX_RESPONSE_BYTES} bytes") from None
    except httpx.TimeoutException:
        raise ApiError("transport", f"no complete answer within {deadline_s:g} s") from None
    except httpx.HTTPError as exc:
        raise ApiError("transport", f"{type(exc).__name__}: {exc}"[:200]) from None


def api_credentials(environ: Mapping[str, str]) -> tuple[str, str] | str:
    """(token, account id) for the GraphQL API from the environment, or the reason there are
    none (naming the variables, never their values)."""
    token = environ.get("CLOUDFLARE_API_TOKEN", "").strip()
    account = environ.get("CLOUDFLARE_ACCOUNT_ID", "").strip()
    missing = [n for n, v in (("CLOUDFLARE_API_TOKEN", token),
                              ("CLOUDFLARE_ACCOUNT_ID", account)) if not v]
    if missing:
        return (f"no Cloudflare API credentials: set {' and '.join(missing)} (a token with "
                "Account Analytics: Read)")
    return token, account


# -- GraphQL ---------------------------------------------------------------------------------
_QUERY = """query Invocations($account: string, $script: string, $since: string, $until: string) {
  viewer { accounts(filter: {accountTag: $account}) {
    total: workersInvocationsAdaptive(limit: 10, filter: {scriptName: $script,
        datetime_geq: $since, datetime_leq: $until}) {
      sum { requests errors subrequests }
      quantiles { cpuTimeP50 cpuTimeP99 }
    }
    byStatus: workersInvocationsAdaptive(limit: 100, filter: {scriptName: $script,
        datetime_geq: $since, datetime_leq: $until}) {
      sum { requests errors }
      dimensions { status }
    }
  } }
}"""


@dataclass(frozen=True)
class Invocations:
    """The worker's invocations over one window, as Cloudflare counts them."""

    since: _dt.datetime
    until: _dt.datetime
    requests: int
    errors: int
    subrequests: int
    cpu_p50_ms: float | None
    cpu_p99_ms: float | None
    by_status: dict[str, int] = field(default_factory=dict)

    @property
    def exceeded_resources(self) -> int:
        return self.by_status.get("exceededResources", 0)

    def describe(self) -> str:
        cpu = ("no CPU quantiles" if self.cpu_p50_ms is None or self.cpu_p99_ms is None else
               f"CPU p50 {self.cpu_p50_ms:.2f} ms, p99 {self.cpu_p99_ms:.2f} ms")
        return (f"{self.requests:,} invocations, {self.errors:,} errors, "
                f"{self.exceeded_resources:,} exceededResources, {cpu}")


class GraphQL:
    """The GraphQL Analytics API for one account and one worker."""

    def __init__(self, api_url: str, token: str, account: str, script: str,
                 deadline_s: float) -> None:
        self.url = api_url.rstrip("/") + "/graphql"
        self.token = token
        self.account = account
        self.script = script
        self.deadline_s = deadline_s

    def _reason(self, text: str) -> str:
        return scrub(text, extra=(self.token, self.account))[:300]

    def query(self, query: str, variables: Mapping[str, Any]) -> dict[str, Any]:
        """The `data` of the answer; ApiError with a one-line reason otherwise."""
        status, headers, body = post_json(self.url, {"query": query, "variables": variables},
                                          {"Authorization": f"Bearer {self.token}"},
                                          self.deadline_s)
        if status == 429:
            wait = headers.get("retry-after")
            raise ApiError("rate_limited", "Cloudflare's API is rate-limiting this token "
                           f"(HTTP 429{', retry after ' + wait + ' s' if wait else ''})")
        try:
            doc = strict_json(body)
        except ValueError:
            doc = None
        errors = doc.get("errors") if isinstance(doc, dict) else None
        if errors:
            first = errors[0] if isinstance(errors, list) and errors else errors
            message = first.get("message") if isinstance(first, dict) else str(first)
            kind = "auth" if status in (401, 403) else "graphql"
            raise ApiError(kind, self._reason(f"GraphQL error (HTTP {status}): {message}"))
        if status in (401, 403):
            raise ApiError("auth", f"HTTP {status}: the token may not read this account's "
                           "analytics (it needs Account Analytics: Read)")
        if status != 200 or not isinstance(doc, dict) or not isinstance(doc.get("data"), dict):
            raise ApiError("http", self._reason(
                f"HTTP {status}, not a GraphQL answer: {body[:120]!r}"))
        data: dict[str, Any] = doc["data"]
        return data

    def invocations(self, since: _dt.datetime, until: _dt.datetime) -> Invocations:
        data = self.query(_QUERY, {"account": self.account, "script": self.script,
                                   "since": format_utc(since), "until": format_utc(until)})
        try:
            accounts = data["viewer"]["accounts"]
            account = accounts[0] if accounts else {}
            total = account.get("total") or []
            groups = account.get("byStatus") or []
        except (KeyError, TypeError, AttributeError):
            raise ApiError("graphql", "the answer lacks viewer.accounts") from None
        requests = errors = subrequests = 0
        p50 = p99 = None
        for row in total:
            s = row.get("sum") or {}
            requests += int(s.get("requests") or 0)
            errors += int(s.get("errors") or 0)
            subrequests += int(s.get("subrequests") or 0)
            q = row.get("quantiles") or {}
            if q.get("cpuTimeP50") is not None:
                p50 = float(q["cpuTimeP50"]) / 1000  # microseconds → ms
            if q.get("cpuTimeP99") is not None:
                p99 = float(q["cpuTimeP99"]) / 1000
        by_status: Counter[str] = Counter()
        for row in groups:
            status = str((row.get("dimensions") or {}).get("status") or "unknown")
            by_status[status] += int((row.get("sum") or {}).get("requests") or 0)
        return Invocations(since, until, requests, errors, subrequests, p50, p99,
                           dict(by_status))


# -- the tail sample -------------------------------------------------------------------------
def routed(path: str) -> bool:
    """True when the worker has a route for `path` (prefix match; "/" exactly)."""
    return path == "/" or any(path.startswith(r) for r in ROUTES)


def usual(method: str, path: str) -> bool:
    return method in USUAL_METHODS or (method == "POST" and path.startswith(ROUTES[0]))


@dataclass
class AccessSummary:
    """What a tail sample shows about who calls the worker and how."""

    events: int = 0
    paths: Counter[str] = field(default_factory=Counter)
    methods: Counter[str] = field(default_factory=Counter)
    origins: Counter[str] = field(default_factory=Counter)
    colos: Counter[str] = field(default_factory=Counter)
    countries: Counter[str] = field(default_factory=Counter)
    user_agents: Counter[str] = field(default_factory=Counter)
    dns_requests: int = 0
    unusual_domains: Counter[str] = field(default_factory=Counter)
    unusual_requests: Counter[str] = field(default_factory=Counter)  # "METHOD /path"

    @property
    def unusual_dns_share(self) -> float:
        return sum(self.unusual_domains.values()) / self.dns_requests if self.dns_requests else 0.0

    @property
    def unusual_request_share(self) -> float:
        return sum(self.unusual_requests.values()) / self.events if self.events else 0.0

    def table(self, top: int = 5) -> dict[str, list[list[Any]]]:
        """The summary as JSON-able rows (top `top` per dimension), for history and reports."""
        out: dict[str, list[list[Any]]] = {}
        for name in ("paths", "methods", "origins", "colos", "countries", "user_agents",
                     "unusual_domains", "unusual_requests"):
            counter: Counter[str] = getattr(self, name)
            out[name] = [[k, v] for k, v in counter.most_common(top)]
        return out

    def record(self, when: float) -> dict[str, Any]:
        return {"t": when, "events": self.events, "dns_requests": self.dns_requests,
                "unusual_dns_share": self.unusual_dns_share,
                "unusual_request_share": self.unusual_request_share, "top": self.table()}


def summarise_tail(events: Iterable[Any], mcp_domains: Sequence[str]) -> AccessSummary:
    """Count a tail sample's requests by path, method, origin, colo, country and user agent;
    note DNS-resolve requests for domains outside `mcp_domains` and requests off the routes."""
    known = {d.lower().rstrip(".") for d in mcp_domains}
    summary = AccessSummary()
    for event in events:
        if not isinstance(event, dict):
            continue
        request = (event.get("event") or {}).get("request")
        if not isinstance(request, dict) or not isinstance(request.get("url"), str):
            continue  # a scheduled or other non-HTTP event
        url = urllib.parse.urlsplit(request["url"])
        path = url.path or "/"
        method = str(request.get("method") or "GET").upper()
        headers = {str(k).lower(): str(v) for k, v in (request.get("headers") or {}).items()}
        cf = request.get("cf") or {}
        summary.events += 1
        summary.paths[path] += 1
        summary.methods[method] += 1
        summary.origins[headers.get("origin", "(none)")] += 1
        summary.colos[str(cf.get("colo") or "?")] += 1
        summary.countries[str(cf.get("country") or "?")] += 1
        summary.user_agents[headers.get("user-agent", "(none)")[:80]] += 1
        if not routed(path) or not usual(method, path):
            summary.unusual_requests[f"{method} {path}"[:120]] += 1
        if path.startswith("/mcp/dns/resolve"):
            domain = urllib.parse.parse_qs(url.query).get("domain", [""])[0]
            if domain:
                summary.dns_requests += 1
                if domain.lower().rstrip(".") not in known:
                    summary.unusual_domains[domain[:120]] += 1
    return summary


# -- the wrangler configuration --------------------------------------------------------------
_COMPAT = re.compile(r'^\s*compatibility_date\s*=\s*["\'](\d{4}-\d{2}-\d{2})["\']', re.M)


def compatibility_date(path: str | Path, env: str | None = None) -> _dt.date:
    """The `compatibility_date` of a wrangler TOML file (the env's own, when it sets one).

    Raises ValueError with a one-line reason when the file has none or cannot be read.
    """
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        import tomllib  # the standard library's from Python 3.11
    except ImportError:  # pragma: no cover - Python 3.10: the top-level key only
        found = _COMPAT.search(text)
        doc: dict[str, Any] = {"compatibility_date": found.group(1)} if found else {}
    else:
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{path} is not valid TOML: {exc}") from None
    value = doc.get("compatibility_date")
    env_doc = (doc.get("env") or {}).get(env or "") if env else None
    if isinstance(env_doc, dict) and env_doc.get("compatibility_date"):
        value = env_doc["compatibility_date"]
    if isinstance(value, _dt.date):
        return value
    if not isinstance(value, str):
        raise ValueError(f"{path} sets no compatibility_date")
    try:
        return _dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{path}: compatibility_date {value!r} is not a YYYY-MM-DD date") \
            from None
