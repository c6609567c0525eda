"""The expectations the checks judge samples with: each passes on the contract's answer and fails,
with a one-line reason naming what is wrong, on the fault it guards against."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from synthetics import expect
from synthetics.probe import Request, Sample

REQ = Request("health", "/health")
TAKEN = datetime(2026, 12, 1, 12, 0, 0, tzinfo=timezone.utc)


def _sample(**headers: str) -> Sample:
    return Sample(REQ, TAKEN.timestamp(), status=200, headers=headers)


def _fails(match: str):
    return pytest.raises(pytest.fail.Exception, match=match)


def _iso(when: datetime) -> str:
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@pytest.mark.parametrize("offset", [0, 299, -299])
def test_timestamp_within_the_skew_passes(offset: int) -> None:
    doc = {"timestamp": _iso(TAKEN - timedelta(seconds=offset))}
    assert expect.timestamp_fresh(_sample(), doc, 300) == pytest.approx(offset, abs=0.01)


def test_an_old_timestamp_fails_as_behind() -> None:
    doc = {"timestamp": _iso(TAKEN - timedelta(seconds=301))}
    with _fails(r"GET /health: timestamp 2026-12-01T11:54:59.000Z is 301 s behind the probe's "
                r"clock \(more than the 300 s allowed: a cached or frozen answer\?\)"):
        expect.timestamp_fresh(_sample(), doc, 300)


def test_a_timestamp_in_the_future_fails_as_ahead() -> None:
    doc = {"timestamp": _iso(TAKEN + timedelta(hours=1))}
    with _fails("3,600 s ahead of the probe's clock"):
        expect.timestamp_fresh(_sample(), doc, 300)


@pytest.mark.parametrize(("doc", "reason"), [
    ({}, "field 'timestamp' is missing"),
    ({"timestamp": 1764590400000}, "is not an ISO 8601 date-time"),
    ({"timestamp": "yesterday"}, "is not an ISO 8601 date-time"),
    ({"timestamp": "2026-12-01T12:00:00"}, "with a time zone"),
])
def test_a_missing_or_unreadable_timestamp_fails(doc: dict[str, object], reason: str) -> None:
    with _fails(reason):
        expect.timestamp_fresh(_sample(), doc, 300)


def test_parse_timestamp_reads_javascript_iso_strings() -> None:
    assert expect.parse_timestamp("2026-12-01T12:00:00.000Z") == TAKEN
    assert expect.parse_timestamp("2026-12-01T13:00:00+01:00") == TAKEN
    assert expect.parse_timestamp(None) is None


def test_environment_is_checked_and_a_missing_one_is_explained() -> None:
    expect.environment_is(_sample(), {"environment": "production"}, "production")
    with _fails(r"field 'environment' is missing, expected 'production' \(a deploy without "
                r"--env production\?\)"):
        expect.environment_is(_sample(), {"status": "healthy"}, "production")
    with _fails("environment is 'development', expected 'production'"):
        expect.environment_is(_sample(), {"environment": "development"}, "production")


ORIGIN = "https://synthetics.example"


@pytest.mark.parametrize("allowed", ["*", ORIGIN, f" {ORIGIN} "])
def test_cors_admitting_the_origin_without_credentials_passes(allowed: str) -> None:
    expect.cors_allows(_sample(**{"access-control-allow-origin": allowed}), ORIGIN, "GET /")


def test_cors_credentials_with_a_false_value_are_no_risk() -> None:
    expect.cors_allows(_sample(**{"access-control-allow-origin": ORIGIN,
                                  "access-control-allow-credentials": "false"}), ORIGIN, "GET /")


@pytest.mark.parametrize(("allowed", "how"), [
    ("*", r"a wildcard \(\*\)"),
    (ORIGIN, "a reflection of the arbitrary origin https://synthetics.example"),
])
@pytest.mark.parametrize("credentials", ["true", "TRUE", " true "])
def test_cors_credentials_with_any_origin_fail_naming_the_risk(allowed: str, how: str,
                                                               credentials: str) -> None:
    sample = _sample(**{"access-control-allow-origin": allowed,
                        "access-control-allow-credentials": credentials})
    with _fails(f"GET /: Access-Control-Allow-Origin is {how} together with "
                "Access-Control-Allow-Credentials: true: any web site can read"):
        expect.cors_allows(sample, ORIGIN, "GET /")


def test_cors_missing_or_other_origin_fails() -> None:
    with _fails(r"GET /: no Access-Control-Allow-Origin header \(HTTP 200\)"):
        expect.cors_allows(_sample(), ORIGIN, "GET /")
    with _fails("is 'https://app.example', which does not admit https://synthetics.example"):
        expect.cors_allows(_sample(**{"access-control-allow-origin": "https://app.example"}),
                           ORIGIN, "GET /")
