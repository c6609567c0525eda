"""Attribution: who failed — the worker, a limit of the plan, Cloudflare's edge, or the network.

Every sample carries what Cloudflare says about where it was served: the `cf-ray` header (a ray
id and, after the dash, the code of the data centre, the "colo") and `server`. `attribute` reads
those and a failed exchange's status and body, and names its source:

- *worker*: the worker's own error answer (its JSON 5xx `{"error": ...}`, any other answer a
  check judged wrong) and Cloudflare's error pages for a worker that threw (1101, HTTP 500) or
  went over its CPU or resource limits (1102, HTTP 503). A redeploy can fix these.
- *limit*: HTTP 429, Cloudflare's 1015 (rate limited, HTTP 429, with Retry-After) and 1027 (the
  plan's daily request limit, HTTP 429). A redeploy fixes none of them.
- *edge*: Cloudflare's 52x and 530 pages and every other 1xxx page (1019 loop limit, 1021, 1022
  routing, 1024, ...), and answers that did not come through Cloudflare at all (no `cf-ray`) from
  a target known to be behind it: a `*.workers.dev` host, or one whose earlier answers carried
  `cf-ray` (`Sample.behind_cloudflare`, set by the probe).
- *network*: no answer at all (refused, reset, timed out, a TLS failure).

Cloudflare writes the 1xxx code into its error pages: the HTML page's `cf-error-code` element
("Error 1101"), the plain text "error code: 1101", and, since 2026, a JSON (RFC 9457,
`error_code`) or Markdown (`error_code:` front matter) variant for clients that ask for one.
Sources: developers.cloudflare.com/workers/observability/errors/ ("Errors and exceptions"),
support/troubleshooting/http-status-codes/ (1xxx and 5xx errors), fundamentals/reference/
error-responses/.

This module reads samples only through their attributes (status, headers, body, error,
error_kind), so it imports nothing of the probe's.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

__all__ = [
    "SOURCES", "Attribution", "attribute", "cloudflare_code", "explain", "failed_exchange",
    "is_cloudflare_host", "ray_of",
]

#: Every source, in the order reports list them.
SOURCES = ("worker", "limit", "edge", "network")

#: Cloudflare codes that mean the worker itself failed (a redeploy may help).
WORKER_CODES = {1101: "Worker threw exception", 1102: "Worker exceeded resource limits"}
#: Cloudflare codes that mean a limit was hit (a redeploy does not help).
LIMIT_CODES = {1015: "rate limited", 1027: "the plan's daily request limit for Workers"}
#: Cloudflare's own 5xx pages: the edge could not reach or route to the origin.
EDGE_STATUSES = {520: "unknown error", 521: "web server is down", 522: "connection timed out",
                 523: "origin is unreachable", 524: "a timeout occurred",
                 525: "SSL handshake failed", 526: "invalid SSL certificate",
                 527: "Railgun error", 530: "origin DNS error or 1xxx"}
EDGE_CODES = {1016: "origin DNS error", 1019: "Worker loop limit", 1021: "a host the Worker "
              "cannot access", 1022: "Cloudflare failed to route the request to the Worker",
              1024: "a subrequest to a Cloudflare-owned IP"}

_HTML_CODE = re.compile(rb'class="?cf-error-code"?[^>]*>\s*(\d{3,4})\s*<', re.IGNORECASE)
_TEXT_CODE = re.compile(rb"error(?:[ _]code)?[:\s]+(\d{4})\b", re.IGNORECASE)
_MD_CODE = re.compile(rb"^error_code:\s*(\d{3,4})\s*$", re.MULTILINE)
_COLO = re.compile(r"^[0-9a-fA-F]{8,}-([A-Za-z]{3,4})$")


class _SampleLike(Protocol):
    status: int | None
    headers: dict[str, str]
    body: bytes
    error: str | None
    error_kind: str | None
    behind_cloudflare: bool


@dataclass(frozen=True)
class Attribution:
    """Where one exchange was served and, when it failed, who failed.

    `source` is "" for an answer that is not a failure; `code` is what names the failure
    (a Cloudflare 1xxx or 5xx code, an HTTP status, a network error kind, or "answer" for a
    complete answer the check judged wrong); `cloudflare` says the code is Cloudflare's.
    """

    source: str = ""
    code: str = ""
    cloudflare: bool = False
    ray: str | None = None  # the whole cf-ray value: "8f1e2d3c4b5a6978-LHR"
    colo: str | None = None  # "LHR"
    server: str | None = None
    meaning: str = ""

    def label(self) -> str:
        """"edge: Cloudflare 522, ray 8f1e2d3c4b5a6978-LHR" (what a failure reason ends with)."""
        if self.cloudflare:
            what = f"Cloudflare {self.code}"
        elif self.code.isdigit():
            what = f"HTTP {self.code}"
        elif self.code == "answer":
            what = "wrong answer"
        elif self.code == "no-cf-ray":
            what = f"not served by Cloudflare (no cf-ray; server {self.server or 'unknown'})"
        else:
            what = self.code or "unknown"
        text = f"{self.source or 'ok'}: {what}"
        if self.meaning and self.cloudflare:
            text += f" ({self.meaning})"
        if self.ray:
            text += f", ray {self.ray}"
        return text

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def ray_of(headers: dict[str, str]) -> tuple[str | None, str | None]:
    """(the cf-ray value, its colo code) from lower-cased response headers; (None, None)."""
    ray = (headers.get("cf-ray") or "").strip()
    if not ray:
        return None, None
    match = _COLO.match(ray)
    return ray[:80], (match.group(1).upper() if match else None)


def is_cloudflare_host(url: str) -> bool:
    """A URL whose host only Cloudflare serves (`*.workers.dev`)."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    return host == "workers.dev" or host.endswith(".workers.dev")


def cloudflare_code(status: int | None, headers: dict[str, str], body: bytes) -> int | None:
    """The Cloudflare error code an answer carries (1101, 1015, 522, ...), or None.

    Read from a `cf-error-code` header, the JSON (RFC 9457) or Markdown variant's `error_code`,
    or the HTML or text page ("cf-error-code", "error code: 1101"). Only answers that came from
    Cloudflare (`server: cloudflare` or a cf-ray) and are errors are read; a 52x/530 status
    without a page is the status itself.
    """
    if status is None or status < 400:
        return None
    server = headers.get("server", "").lower()
    if "cloudflare" not in server and "cf-ray" not in headers:
        return None
    header = headers.get("cf-error-code", "").strip()
    if header.isdigit():
        return int(header)
    head = body[:16384]
    content_type = headers.get("content-type", "").lower()
    if "json" in content_type:
        try:
            doc = json.loads(head.decode("utf-8", "replace"))
        except ValueError:
            doc = None
        if isinstance(doc, dict) and str(doc.get("error_code", "")).isdigit():
            return int(doc["error_code"])
    for pattern in (_MD_CODE, _HTML_CODE, _TEXT_CODE):
        match = pattern.search(head)
        if match:
            return int(match.group(1))
    if status in EDGE_STATUSES:
        return status
    return None


def _worker_json_error(headers: dict[str, str], body: bytes) -> bool:
    if "json" not in headers.get("content-type", "").lower():
        return False
    try:
        doc = json.loads(body[:16384].decode("utf-8", "replace"))
    except ValueError:
        return False
    return isinstance(doc, dict) and "error" in doc and "error_code" not in doc


def explain(source: str, code: str) -> str:
    """What a source and code mean for a person deciding what to do, one sentence."""
    number = int(code) if code.isdigit() else None
    if source == "limit":
        if number == 1027:
            return ("the Workers plan's daily request limit is used up (Cloudflare 1027): "
                    "requests fail until the daily reset at 00:00 UTC or a plan upgrade; a "
                    "redeploy does not help")
        return ("rate limited (HTTP 429 / Cloudflare 1015): a rate limit or WAF rule of the "
                "zone throttles the requests; a redeploy does not help")
    if source == "edge":
        return ("Cloudflare's edge or the origin behind it failed (a 52x/530 or 1xxx page, or "
                "answers not served by Cloudflare): check Cloudflare's status, DNS and routes; "
                "a redeploy does not help")
    if source == "network":
        return "no answer at all: the connection was refused, reset or timed out"
    return "the worker failed (its own error answer, or Cloudflare 1101/1102)"


def failed_exchange(sample: _SampleLike) -> Attribution | None:
    """Who failed when `sample` is a failed exchange whatever the check wanted — no complete
    answer, a 5xx, a 429, a Cloudflare error page, an answer not served by Cloudflare — else
    None (a 4xx the worker meant, such as "Domain required", is not a failed exchange)."""
    found = attribute(sample)
    if not found.source:
        return None
    status = sample.status
    if sample.error is not None or found.cloudflare or found.source in ("limit", "edge") or (
            status is not None and status >= 500):
        return found
    return None


def attribute(sample: _SampleLike, *, judged_wrong: bool = False) -> Attribution:
    """Who failed in `sample`, and where it was served.

    A sample with no answer is *network*; an answer is classified by its Cloudflare code and
    status (see the module's docstring). A 2xx or 3xx answer is a failure only when the check
    `judged_wrong` it (then *worker*, code "answer", unless it did not come through Cloudflare).
    """
    headers = sample.headers or {}
    ray, colo = ray_of(headers)
    server = headers.get("server") or None

    def made(source: str, code: str, cloudflare: bool = False, meaning: str = "") -> Attribution:
        return Attribution(source, code, cloudflare, ray, colo, server, meaning)

    status = sample.status
    if sample.error is not None and (status is None or sample.error_kind in ("timeout",
                                                                               "reset")):
        kind = sample.error_kind or "error"
        text = sample.error.lower()
        if "ssl" in text or "certificate" in text or "tls" in text:
            kind = "tls"
        return made("network", kind, meaning=explain("network", kind))
    code = cloudflare_code(status, headers, sample.body)
    if code is not None:
        if code in WORKER_CODES:
            return made("worker", str(code), True, meaning=WORKER_CODES[code])
        if code in LIMIT_CODES:
            return made("limit", str(code), True, meaning=LIMIT_CODES[code])
        meaning = EDGE_CODES.get(code) or EDGE_STATUSES.get(code) or "Cloudflare error page"
        return made("edge", str(code), True, meaning=meaning)
    failed = judged_wrong or sample.error is not None or (status is not None and status >= 400)
    if not failed:
        return made("", "")
    if ray is None and getattr(sample, "behind_cloudflare", False):
        return made("edge", "no-cf-ray", meaning="not served by Cloudflare")
    if status == 429:
        return made("limit", "429", meaning=LIMIT_CODES[1015])
    if status is not None and status in EDGE_STATUSES and not _worker_json_error(
            headers, sample.body):
        return made("edge", str(status), meaning=EDGE_STATUSES[status])
    if sample.error is not None and sample.error_kind != "too_large":
        return made("network", sample.error_kind or "error")
    if status is not None and status >= 400 and not judged_wrong:
        return made("worker", str(status))
    return made("worker", "answer")
