"""The checks' expectations on one sample: what passes, what fails, and that the one-line reason
names what was wrong (the status, the redirect, the field, the content type)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from synthetics import expect
from synthetics.probe import Request, Sample

REQ = Request("health", "/health")
Failed = pytest.fail.Exception


def _sample(status: int | None = 200, body: bytes = b"", **headers: str) -> Sample:
    return Sample(REQ, 0.0, status=status, body=body,
                  headers={k.replace("_", "-"): v for k, v in headers.items()})


def _json(doc: object, content_type: str = "application/json") -> Sample:
    return _sample(body=json.dumps(doc).encode(), content_type=content_type)


def _reason(call: object, *args: object) -> str:
    assert callable(call)
    with pytest.raises(Failed) as failure:
        call(*args)
    message = str(failure.value)
    assert "\n" not in message.strip()
    return message


def test_fail_is_one_line_without_a_traceback() -> None:
    with pytest.raises(Failed) as failure:
        expect.fail("the reason")
    assert str(failure.value) == "the reason"
    assert failure.value.pytrace is False


def test_response_with_the_expected_status_passes() -> None:
    sample = _sample(200)
    assert expect.response(sample) is sample
    assert expect.response(_sample(400), 400).status == 400
    assert expect.response(_sample(204), (200, 204)).status == 204


def test_response_with_another_status_fails_naming_both() -> None:
    message = _reason(expect.response, _sample(503, b"Service Unavailable"))
    assert "503" in message and "200" in message and "Service Unavailable" in message
    assert "GET /health" in message
    message = _reason(expect.response, _sample(200), (400, 422))
    assert "400 or 422" in message
    assert "redirect" not in _reason(expect.response, _sample(404))
    assert "redirect" not in _reason(expect.response, _sample(400))  # just below 300..399


@pytest.mark.parametrize("status", [300, 301, 302, 307, 399])
def test_a_redirect_is_not_an_answer(status: int) -> None:
    message = _reason(expect.response, _sample(status, location="https://elsewhere.example/"))
    assert "redirect" in message and "https://elsewhere.example/" in message
    assert str(status) in message and "200" in message


def test_a_redirect_without_location_says_so() -> None:
    assert _reason(expect.response, _sample(302)).startswith(
        "GET /health: HTTP 302 redirect to nowhere (")


def test_the_reason_quotes_the_start_of_an_unexpected_body() -> None:
    body = b"\xff" + b"x" * 100  # not UTF-8: shown with a replacement character, not raised
    message = _reason(expect.response, _sample(500, body))
    assert message.endswith(f"body starts {chr(0xFFFD) + 'x' * 79!r} [worker: HTTP 500]")


def test_a_failed_request_fails_with_its_error() -> None:
    sample = Sample(REQ, 0.0, error="timed out after 5 s (ReadTimeout)", error_kind="timeout")
    message = _reason(expect.response, sample)
    assert "timed out" in message and "GET /health" in message
    # even when a status arrived before the failure (a body cut short)
    cut = Sample(REQ, 0.0, status=200, error="connection reset", error_kind="reset")
    assert "connection reset" in _reason(expect.response, cut)


def test_json_object_passes_an_object() -> None:
    assert expect.json_object(_json({"status": "healthy"})) == {"status": "healthy"}
    assert expect.json_object(_json({}, "application/json; charset=utf-8")) == {}


def test_json_object_needs_the_json_content_type() -> None:
    message = _reason(expect.json_object, _json({"a": 1}, "text/html"))
    assert "text/html" in message and "application/json" in message
    missing = _reason(expect.json_object, _sample(body=b"{}"))
    assert missing == ("GET /health: Content-Type is 'missing', expected application/json "
                       "[worker: wrong answer]")


def test_json_object_fails_on_broken_json_and_non_objects() -> None:
    broken = _sample(body=b'{"status":', content_type="application/json")
    assert "JSON" in _reason(expect.json_object, broken)
    message = _reason(expect.json_object, _json([1, 2]))
    assert "list" in message and "object" in message


def test_field_equals_passes_an_equal_value_of_the_same_type() -> None:
    sample = _json({})
    expect.field_equals(sample, {"status": "healthy"}, "status", "healthy")
    expect.field_equals(sample, {"n": 3}, "n", 3)


@pytest.mark.parametrize(("doc", "expected", "words"), [
    ({"ok": 1}, True, ["ok", "1", "True"]),  # 1 == True, but not a boolean
    ({"ok": True}, 1, ["ok", "True", "1"]),
    ({"ok": "true"}, True, ["ok", "'true'", "True"]),
    ({"ok": False}, True, ["ok", "False", "True"]),
    ({"ok": 2.0}, 2, ["ok", "2.0", "2"]),
])
def test_field_equals_fails_on_another_value_or_type(doc: dict[str, object], expected: object,
                                                     words: list[str]) -> None:
    message = _reason(expect.field_equals, _json({}), doc, "ok", expected)
    assert all(w in message for w in words), message


def test_field_equals_fails_on_a_missing_field() -> None:
    message = _reason(expect.field_equals, _json({}), {"other": 1}, "ok", True)
    assert "'ok'" in message and "missing" in message


@pytest.mark.parametrize(("value", "valid"), [
    ("1.1.1.1", True), ("255.255.255.255", True), ("0.0.0.0", True),
    ("999.1.1.1", False), ("1.1.1", False), ("::1", False), ("", False), (None, False),
    (16843009, False), (b"1.1.1.1", False),
])
def test_valid_ipv4(value: object, valid: bool) -> None:
    assert expect.valid_ipv4(value) is valid


# --- freshness, environment and CORS credentials --------------------------------------------

TAKEN = datetime(2026, 12, 1, 12, 0, 0, tzinfo=timezone.utc)


def _taken(**headers: str) -> Sample:
    """A 200 answer taken at TAKEN, with lower-cased `headers`."""
    return Sample(REQ, TAKEN.timestamp(), status=200, headers=headers)


def _fails(match: str):
    return pytest.raises(pytest.fail.Exception, match=match)


def _iso(when: datetime) -> str:
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@pytest.mark.parametrize("offset", [0, 299, -299, 300, -300])  # the allowance is inclusive
def test_timestamp_within_the_skew_passes(offset: int) -> None:
    doc = {"timestamp": _iso(TAKEN - timedelta(seconds=offset))}
    assert expect.timestamp_fresh(_taken(), doc, 300) == pytest.approx(offset, abs=0.01)


def test_an_old_timestamp_fails_as_behind() -> None:
    doc = {"timestamp": _iso(TAKEN - timedelta(seconds=301))}
    with _fails(r"GET /health: timestamp 2026-12-01T11:54:59.000Z is 301 s behind the probe's "
                r"clock \(more than the 300 s allowed: a cached or frozen answer\?\)"):
        expect.timestamp_fresh(_taken(), doc, 300)


def test_a_small_skew_over_a_sub_second_allowance_says_which_way() -> None:
    doc = {"timestamp": _iso(TAKEN - timedelta(seconds=1))}
    with _fails("is 1 s behind the probe's clock"):
        expect.timestamp_fresh(_taken(), doc, 0.5)


def test_a_timestamp_in_the_future_fails_as_ahead() -> None:
    doc = {"timestamp": _iso(TAKEN + timedelta(hours=1))}
    with _fails("3,600 s ahead of the probe's clock"):
        expect.timestamp_fresh(_taken(), doc, 300)


@pytest.mark.parametrize(("doc", "reason"), [
    ({}, "field 'timestamp' is missing"),
    ({"timestamp": 1764590400000}, "is not an ISO 8601 date-time"),
    ({"timestamp": "yesterday"}, "is not an ISO 8601 date-time"),
    ({"timestamp": "2026-12-01T12:00:00"}, "with a time zone"),
])
def test_a_missing_or_unreadable_timestamp_fails(doc: dict[str, object], reason: str) -> None:
    with _fails(reason):
        expect.timestamp_fresh(_taken(), doc, 300)


def test_parse_timestamp_reads_javascript_iso_strings() -> None:
    assert expect.parse_timestamp("2026-12-01T12:00:00.000Z") == TAKEN
    assert expect.parse_timestamp("2026-12-01T13:00:00+01:00") == TAKEN
    assert expect.parse_timestamp(None) is None


def test_environment_is_checked_and_a_missing_one_is_explained() -> None:
    expect.environment_is(_taken(), {"environment": "production"}, "production")
    with _fails(r"field 'environment' is missing, expected 'production' \(a deploy without "
                r"--env production\?\)"):
        expect.environment_is(_taken(), {"status": "healthy"}, "production")
    with _fails("environment is 'development', expected 'production'"):
        expect.environment_is(_taken(), {"environment": "development"}, "production")


ORIGIN = "https://synthetics.example"


@pytest.mark.parametrize("allowed", ["*", ORIGIN, f" {ORIGIN} "])
def test_cors_admitting_the_origin_without_credentials_passes(allowed: str) -> None:
    expect.cors_allows(_taken(**{"access-control-allow-origin": allowed}), ORIGIN, "GET /")


def test_cors_credentials_with_a_false_value_are_no_risk() -> None:
    expect.cors_allows(_taken(**{"access-control-allow-origin": ORIGIN,
                                  "access-control-allow-credentials": "false"}), ORIGIN, "GET /")


@pytest.mark.parametrize(("allowed", "how"), [
    ("*", r"a wildcard \(\*\)"),
    (ORIGIN, "a reflection of the arbitrary origin https://synthetics.example"),
])
@pytest.mark.parametrize("credentials", ["true", "TRUE", " true "])
def test_cors_credentials_with_any_origin_fail_naming_the_risk(allowed: str, how: str,
                                                               credentials: str) -> None:
    sample = _taken(**{"access-control-allow-origin": allowed,
                        "access-control-allow-credentials": credentials})
    with _fails(f"GET /: Access-Control-Allow-Origin is {how} together with "
                "Access-Control-Allow-Credentials: true: any web site can read the answers "
                r"with a visitor's credentials \(CORS credentials misconfiguration\)$"):
        expect.cors_allows(sample, ORIGIN, "GET /")


def test_cors_missing_or_other_origin_fails() -> None:
    with _fails(r"GET /: no Access-Control-Allow-Origin header \(HTTP 200\)"):
        expect.cors_allows(_taken(), ORIGIN, "GET /")
    with _fails("is 'https://app.example', which does not admit https://synthetics.example"):
        expect.cors_allows(_taken(**{"access-control-allow-origin": "https://app.example"}),
                           ORIGIN, "GET /")


@pytest.mark.parametrize(("status", "end"), [
    (200, r"\(HTTP 200\)$"),  # a 2xx answer: only the header is wrong, nobody failed
    (399, r"\(HTTP 399\)$"),
    (400, r"\(HTTP 400\) \[worker: HTTP 400\]$"),
    (503, r"\(HTTP 503\) \[worker: HTTP 503\]$"),
])
def test_cors_missing_on_an_error_answer_names_who_failed(status: int, end: str) -> None:
    with _fails(r"GET /: no Access-Control-Allow-Origin header " + end):
        expect.cors_allows(Sample(REQ, TAKEN.timestamp(), status=status), ORIGIN, "GET /")
