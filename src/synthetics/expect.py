"""What the checks use to judge a sample and to say, in one line, why it failed.

A failed expectation calls `pytest.fail(reason, pytrace=False)`: the report shows the reason, not
a traceback. Network trouble is never raised by the probe, so every failure — a timeout, a reset,
a redirect, broken JSON — reaches the check as a sample and leaves here as a reason.
"""

from __future__ import annotations

import ipaddress
import math
from datetime import datetime, timezone
from typing import Any, NoReturn

import pytest

from synthetics.probe import Sample

__all__ = [
    "cors_allows", "environment_is", "fail", "field_equals", "json_object", "parse_timestamp",
    "response", "timestamp_fresh", "valid_ipv4", "who",
]


def fail(reason: str) -> NoReturn:
    """Fail the running check with `reason` as its whole message."""
    pytest.fail(reason, pytrace=False)


def who(sample: Sample, judged_wrong: bool = True) -> str:
    """" [worker: wrong answer, ray …]": who failed in `sample` (`synthetics.attribution`), to
    end a failure reason with."""
    return f" [{sample.attribution(judged_wrong=judged_wrong).label()}]"


def response(sample: Sample, status: int | tuple[int, ...] = 200) -> Sample:
    """The sample got a complete response with the expected status, or the check fails."""
    expected = (status,) if isinstance(status, int) else status
    if sample.error is not None:
        fail(sample.summary())
    if sample.status not in expected:
        want = " or ".join(str(s) for s in expected)
        if sample.status is not None and 300 <= sample.status < 400:
            where = sample.headers.get("location", "nowhere")
            fail(f"{sample.request.describe()}: HTTP {sample.status} redirect to {where} "
                 f"(not followed), expected {want}{who(sample)}")
        fail(f"{sample.request.describe()}: HTTP {sample.status}, expected {want}; "
             f"body starts {sample.body[:80].decode('utf-8', 'replace')!r}"
             f"{who(sample, judged_wrong=False)}")
    return sample


def json_object(sample: Sample) -> dict[str, Any]:
    """The sample is a JSON response whose body is an object, or the check fails."""
    content_type = sample.headers.get("content-type", "")
    if "application/json" not in content_type:
        fail(f"{sample.request.describe()}: Content-Type is {content_type or 'missing'!r}, "
             f"expected application/json{who(sample)}")
    try:
        doc = sample.json()
    except ValueError as exc:
        fail(f"{sample.request.describe()}: {exc}{who(sample)}")
    if not isinstance(doc, dict):
        fail(f"{sample.request.describe()}: JSON body is a {type(doc).__name__}, not an "
             f"object{who(sample)}")
    return doc


def field_equals(sample: Sample, doc: dict[str, Any], key: str, expected: Any) -> None:
    """doc[key] == expected (and of the same type: True is not 1), or the check fails."""
    if key not in doc:
        fail(f"{sample.request.describe()}: field {key!r} is missing{who(sample)}")
    value = doc[key]
    if value != expected or type(value) is not type(expected):
        fail(f"{sample.request.describe()}: {key} is {value!r}, expected {expected!r}"
             f"{who(sample)}")


def environment_is(sample: Sample, doc: dict[str, Any], expected: str) -> None:
    """doc["environment"] == expected, or the check fails; a missing field is what a deploy
    without `--env` answers (the worker falls back to its defaults), and the reason says so."""
    if "environment" not in doc:
        fail(f"{sample.request.describe()}: field 'environment' is missing, expected "
             f"{expected!r} (a deploy without --env {expected}?){who(sample)}")
    field_equals(sample, doc, "environment", expected)


def valid_ipv4(value: Any) -> bool:
    """True for a dotted-quad IPv4 address string."""
    if not isinstance(value, str):
        return False
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        return False
    return True


def cors_allows(sample: Sample, origin: str, where: str) -> None:
    """The response admits `origin` for cross-origin reads, safely, or the check fails.

    Admitting is `Access-Control-Allow-Origin: *` or the origin itself. Unsafe is the classic
    misconfiguration: `Access-Control-Allow-Credentials: true` together with a wildcard or with
    an echo of an arbitrary origin (`origin` is one no real deployment lists), which lets any
    web site read the worker's answers with a visitor's cookies and credentials.
    """
    allowed = sample.headers.get("access-control-allow-origin")
    if allowed is None:
        fail(f"{where}: no Access-Control-Allow-Origin header (HTTP {sample.status})"
             + (who(sample, judged_wrong=False) if (sample.status or 0) >= 400 else ""))
    allowed = allowed.strip()
    if allowed not in ("*", origin):
        fail(f"{where}: Access-Control-Allow-Origin is {allowed!r}, which does not admit {origin}")
    credentials = sample.headers.get("access-control-allow-credentials", "").strip().lower()
    if credentials == "true":
        how = ("a wildcard (*)" if allowed == "*"
               else f"a reflection of the arbitrary origin {origin}")
        fail(f"{where}: Access-Control-Allow-Origin is {how} together with "
             "Access-Control-Allow-Credentials: true: any web site can read the answers with a "
             "visitor's credentials (CORS credentials misconfiguration)")


def parse_timestamp(value: Any) -> datetime | None:
    """An ISO 8601 date-time with a zone (JavaScript's `toISOString()`, "…Z"), as an aware
    datetime; None when `value` is not one."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def timestamp_fresh(sample: Sample, doc: dict[str, Any], max_skew_s: float,
                    key: str = "timestamp") -> float:
    """doc[key] is within `max_skew_s` seconds of when the sample was taken, or the check fails.

    A cached or frozen answer carries an old timestamp; a clock far ahead is as wrong. Returns
    the skew in seconds (positive: the answer's time is behind the probe's).
    """
    where = sample.request.describe()
    if key not in doc:
        fail(f"{where}: field {key!r} is missing{who(sample)}")
    stamp = parse_timestamp(doc[key])
    if stamp is None:
        fail(f"{where}: {key} {doc[key]!r} is not an ISO 8601 date-time with a time zone"
             f"{who(sample)}")
    taken = datetime.fromtimestamp(sample.started, timezone.utc)
    skew = (taken - stamp).total_seconds()
    if not math.isfinite(skew) or abs(skew) > max_skew_s:
        direction = "behind" if skew > 0 else "ahead of"
        fail(f"{where}: {key} {doc[key]} is {abs(skew):,.0f} s {direction} the probe's clock "
             f"(more than the {max_skew_s:g} s allowed: a cached or frozen answer?)"
             f"{who(sample)}")
    return skew
