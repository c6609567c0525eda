"""Attribution of single samples: Cloudflare's codes in every page variant, limits, the edge,
answers not served by Cloudflare, the network (synthetics.attribution)."""

from __future__ import annotations

import json

import pytest

from synthetics.attribution import attribute, cloudflare_code, is_cloudflare_host, ray_of
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
