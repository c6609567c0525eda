"""Attribution of single samples: Cloudflare's codes in every page variant, limits, the edge,
answers not served by Cloudflare, the network (synthetics.attribution)."""

from __future__ import annotations

import json

import pytest

from synthetics.attribution import (
    Attribution,
    attribute,
    cloudflare_code,
    failed_exchange,
    is_cloudflare_host,
    ray_of,
)
from synthetics.probe import Request, Sample

CF = {"server": "cloudflare", "cf-ray": "8f1e2d3c4b5a6978-LHR"}


def sample(status: int | None, body: bytes = b"", headers: dict[str, str] | None = None,
           error: str | None = None, kind: str | None = None, behind: bool = False) -> Sample:
    return Sample(Request("health", "/health"), 0.0, status=status, headers=headers or {},
                  body=body, error=error, error_kind=kind, behind_cloudflare=behind)


@pytest.mark.parametrize(("status", "headers", "body", "source", "code"), [
    (500, {**CF, "content-type": "text/html"},
     b'<h1><span class="cf-error-code">1101</span></h1>', "worker", "1101"),
    (503, {**CF, "content-type": "text/plain"}, b"error code: 1102", "worker", "1102"),
    (429, {**CF, "content-type": "application/problem+json"},
     json.dumps({"error_code": 1015, "status": 429, "retryable": True}).encode(), "limit", "1015"),
    (429, {**CF, "content-type": "text/markdown"},
     b"---\nerror_code: 1027\nstatus: 429\n---\n# What happened", "limit", "1027"),
    (530, {**CF, "cf-error-code": "1016"}, b"", "edge", "1016"),
    (500, {**CF, "content-type": "text/html"}, b"<title>Error 1019</title>", "edge", "1019"),
    (522, CF, b"", "edge", "522"),
    (429, {}, b"slow down", "limit", "429"),
    (502, {}, b"<html>Bad gateway</html>", "worker", "502"),
    (522, {"content-type": "application/json"}, b'{"error":"x"}', "worker", "522"),
    (503, {**CF, "content-type": "application/json"}, b'{"error":"Service Unavailable"}',
     "worker", "503"),
])
def test_answers_are_attributed(status, headers, body, source, code) -> None:
    got = attribute(sample(status, body, headers))
    assert (got.source, got.code) == (source, code), got


def test_a_wrong_answer_is_the_workers_and_names_the_colo() -> None:
    got = attribute(sample(200, b"{}", CF), judged_wrong=True)
    assert got.label() == "worker: wrong answer, ray 8f1e2d3c4b5a6978-LHR"
    assert got.colo == "LHR" and got.server == "cloudflare"
    assert attribute(sample(200, b"{}", CF)).source == ""  # not judged: not a failure


def test_no_cf_ray_behind_cloudflare_is_the_edge() -> None:
    got = attribute(sample(503, b"down", {"server": "nginx"}, behind=True))
    assert (got.source, got.code) == ("edge", "no-cf-ray")
    assert "server nginx" in got.label()
    assert attribute(sample(503, b"down", {"server": "nginx"})).source == "worker"


@pytest.mark.parametrize(("error", "kind", "code"), [
    ("cannot connect: [Errno 111] Connection refused", "connect", "connect"),
    ("timed out waiting for the response headers", "timeout", "timeout"),
    ("cannot connect: [SSL: CERTIFICATE_VERIFY_FAILED]", "connect", "tls"),
])
def test_no_answer_is_the_network(error: str, kind: str, code: str) -> None:
    got = attribute(sample(None, error=error, kind=kind))
    assert (got.source, got.code) == ("network", code)


def test_hosts_and_rays() -> None:
    assert is_cloudflare_host("https://w.example.workers.dev/health")
    assert not is_cloudflare_host("https://example.com") and not is_cloudflare_host(
        "http://127.0.0.1:8787")
    assert ray_of({"cf-ray": "8f1e2d3c4b5a6978-sjc"}) == ("8f1e2d3c4b5a6978-sjc", "SJC")
    assert ray_of({}) == (None, None)
    # An error page that did not come from Cloudflare has no Cloudflare code.
    assert cloudflare_code(500, {}, b"Error 1101") is None


# --- which failures are failed exchanges, and how they are labelled --------------------------

@pytest.mark.parametrize(("got", "source"), [
    (sample(None, error="cannot connect: refused", kind="connect"), "network"),
    (sample(500, b"boom"), "worker"),
    (sample(429, b"slow down"), "limit"),
    (sample(403, b"error code: 1020", CF), "edge"),  # a Cloudflare page, even a 4xx
    (sample(404, b"gone", {"server": "nginx"}, behind=True), "edge"),  # not via Cloudflare
    (sample(200, b"{", error="body over the limit", kind="too_large"), "worker"),
    (sample(499, b"client closed"), None),  # a 4xx the worker meant
    (sample(400, b'{"error": "Domain required"}', {"content-type": "application/json"}), None),
    (sample(200, b"{}", CF), None),
])
def test_failed_exchanges_are_what_failed_whatever_the_check_wanted(got: Sample,
                                                                   source: str | None) -> None:
    found = failed_exchange(got)
    assert (found.source if found else None) == source


@pytest.mark.parametrize(("got", "label"), [
    (Attribution("edge", "522", True, "8f1e2d3c4b5a6978-LHR", "LHR", "cloudflare",
                 "connection timed out"),
     "edge: Cloudflare 522 (connection timed out), ray 8f1e2d3c4b5a6978-LHR"),
    (Attribution("worker", "502"), "worker: HTTP 502"),
    (Attribution("limit", "429", meaning="rate limited"), "limit: HTTP 429"),  # not Cloudflare's
    (Attribution("network", "timeout"), "network: timeout"),
    (Attribution("edge", "no-cf-ray"),
     "edge: not served by Cloudflare (no cf-ray; server unknown)"),
    (Attribution("worker", "answer"), "worker: wrong answer"),
    (Attribution(), "ok: unknown"),
])
def test_labels(got: Attribution, label: str) -> None:
    assert got.label() == label


def test_cloudflare_codes_are_read_only_from_cloudflare_error_answers() -> None:
    page = b"error code: 1101"
    assert cloudflare_code(399, CF, page) is None  # not an error
    assert cloudflare_code(400, CF, page) == 1101
    assert cloudflare_code(500, {"server": "Cloudflare"}, page) == 1101  # server alone
    assert cloudflare_code(500, {"cf-ray": "8f1e2d3c4b5a6978-LHR"}, page) == 1101  # ray alone
    assert cloudflare_code(None, CF, page) is None
    # A header wins over the body; one that is not a number is ignored.
    assert cloudflare_code(500, {**CF, "cf-error-code": " 1015 "}, page) == 1015
    assert cloudflare_code(500, {**CF, "cf-error-code": "x"}, page) == 1101
    # 52x/530 pages without a code are the status itself; other statuses have none.
    assert cloudflare_code(530, CF, b"") == 530
    assert cloudflare_code(500, CF, b"Internal Server Error") is None


@pytest.mark.parametrize(("content_type", "body", "code"), [
    ("application/json", {"error_code": "1027"}, 1027),
    ("Application/Problem+JSON", {"error_code": 1015}, 1015),
    ("application/json", {"error_code": "soon", "detail": "error code: 1101"}, 1101),
    ("application/json", ["error code: 1102"], 1102),
    ("application/json", None, None),
])
def test_the_json_variant_of_a_cloudflare_page(content_type: str, body: object,
                                               code: int | None) -> None:
    raw = b"{not json" if body is None else json.dumps(body).encode()
    assert cloudflare_code(500, {**CF, "content-type": content_type}, raw) == code


def test_a_code_deep_in_a_long_page_is_not_read() -> None:
    """Only the page's first 16 KiB are read."""
    assert cloudflare_code(500, CF, b" " * 16_380 + b"error code: 1101") is None
    assert cloudflare_code(500, CF, b" " * 16_000 + b"error code: 1101") == 1101


@pytest.mark.parametrize(("error", "kind", "status", "source", "code"), [
    ("[SSL: WRONG_VERSION_NUMBER]", "connect", None, "network", "tls"),
    ("TLS handshake failed", "connect", None, "network", "tls"),
    ("Certificate expired", "connect", None, "network", "tls"),
    ("cannot connect", None, None, "network", "error"),
    ("connection reset mid-body", "reset", 200, "network", "reset"),
    ("timed out reading the body", "timeout", 200, "network", "timeout"),
    ("malformed chunked body", "protocol", 200, "network", "protocol"),
    ("malformed chunked body", None, 200, "network", "error"),
    ("body over the limit", "too_large", 200, "worker", "answer"),
])
def test_errors_with_and_without_an_answer(error: str, kind: str | None, status: int | None,
                                           source: str, code: str) -> None:
    got = attribute(sample(status, error=error, kind=kind))
    assert (got.source, got.code) == (source, code)


@pytest.mark.parametrize(("status", "headers", "body", "source", "code", "meaning"), [
    (500, {**CF, "cf-error-code": "1099"}, b"", "edge", "1099", "Cloudflare error page"),
    (530, {**CF, "cf-error-code": "1016"}, b"", "edge", "1016", "origin DNS error"),
    (524, CF, b"", "edge", "524", "a timeout occurred"),
    (500, CF, b"error code: 1101", "worker", "1101", "Worker threw exception"),
    (429, CF, b"error code: 1015", "limit", "1015", "rate limited"),
    (429, {}, b"", "limit", "429", "rate limited"),
    (522, {}, b"timed out", "edge", "522", "connection timed out"),
    (522, {"content-type": "application/json"}, b'{"error": "x", "error_code": 522}', "edge",
     "522", "connection timed out"),  # Cloudflare's JSON, not the worker's
    (522, {"content-type": "text/plain"}, b'{"error": "x"}', "edge", "522",
     "connection timed out"),
    (522, {"content-type": "application/json"}, b'["error"]', "edge", "522",
     "connection timed out"),
    (522, {"content-type": "application/json"}, b"{", "edge", "522", "connection timed out"),
    (400, {}, b"bad", "worker", "400", ""),
])
def test_sources_and_what_they_mean(status: int, headers: dict[str, str], body: bytes,
                                    source: str, code: str, meaning: str) -> None:
    got = attribute(sample(status, body, headers))
    assert (got.source, got.code, got.meaning) == (source, code, meaning)
    assert got.cloudflare == ("cf-ray" in headers)  # the code is Cloudflare's: it came via CF


def test_rays_and_colos() -> None:
    assert ray_of({"cf-ray": " 8f1e2d3c4b5a6978-lhr "}) == ("8f1e2d3c4b5a6978-lhr", "LHR")
    assert ray_of({"cf-ray": "8f1e2d3c4b5a6978"}) == ("8f1e2d3c4b5a6978", None)
    assert ray_of({"cf-ray": "8f1e2d3-LHR"}) == ("8f1e2d3-LHR", None)  # too short for a ray
    assert ray_of({"cf-ray": "8f1e2d3c4b5a6978-LHRXY"}) == ("8f1e2d3c4b5a6978-LHRXY", None)
    assert ray_of({"cf-ray": "   "}) == (None, None)
    assert ray_of({"cf-ray": "a" * 200})[0] == "a" * 80  # a hostile header is cut
    got = attribute(sample(500, b"", {"cf-ray": "8f1e2d3c4b5a6978-AMS"}))
    assert (got.ray, got.colo, got.server) == ("8f1e2d3c4b5a6978-AMS", "AMS", None)


@pytest.mark.parametrize(("url", "cloudflare"), [
    ("https://workers.dev", True), ("https://W.Example.Workers.Dev./x", True),
    ("https://notworkers.dev", False), ("https://workers.dev.example.com", False),
    ("not a url", False),
])
def test_workers_dev_hosts(url: str, cloudflare: bool) -> None:
    assert is_cloudflare_host(url) is cloudflare


NO_ANSWER = "no answer at all: the connection was refused, reset or timed out"


@pytest.mark.parametrize(("status", "kind"), [(None, "connect"), (200, "reset"),
                                              (200, "timeout")])
def test_no_complete_answer_carries_what_it_means(status: int | None, kind: str) -> None:
    """Refused, or reset or timed out even after the status line: the network, explained."""
    got = attribute(sample(status, error=f"injected {kind}", kind=kind))
    assert (got.source, got.code, got.meaning) == ("network", kind, NO_ANSWER)


def test_an_answer_that_is_no_failure_has_no_source_and_no_code() -> None:
    assert attribute(sample(200, b"{}", CF)) == Attribution(
        "", "", False, "8f1e2d3c4b5a6978-LHR", "LHR", "cloudflare", "")


def test_an_answer_not_via_cloudflare_says_so() -> None:
    got = attribute(sample(503, b"down", {"server": "nginx"}, behind=True))
    assert got == Attribution("edge", "no-cf-ray", False, None, None, "nginx",
                              "not served by Cloudflare")


def test_a_stray_byte_does_not_hide_a_json_code_or_a_workers_json_error() -> None:
    problem = {**CF, "content-type": "application/problem+json"}
    assert cloudflare_code(429, problem, b'{"error_code": 1015, "title": "\xff"}') == 1015
    got = attribute(sample(522, b'{"error": "upstream \xff failed"}',
                           {"content-type": "application/json"}))
    assert (got.source, got.code) == ("worker", "522")


def test_only_the_first_16_kib_of_a_body_are_read() -> None:
    """Hostile bodies can be huge: a code or a JSON error past the first 16384 bytes is not
    looked for."""
    page = b"error code: 1101"
    assert cloudflare_code(500, CF, b" " * (16_384 - len(page)) + page) == 1101
    assert cloudflare_code(500, CF, b" " * (16_385 - len(page)) + page) is None
    json_type = {"content-type": "application/json"}

    def error_of(size: int) -> bytes:
        return b'{"error": "' + b"x" * (size - 13) + b'"}'

    assert attribute(sample(522, error_of(16_384), json_type)).source == "worker"
    assert attribute(sample(522, error_of(16_385), json_type)).source == "edge"
