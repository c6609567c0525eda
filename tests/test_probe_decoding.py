"""Compressed bodies: the probe asks for gzip and deflate (as an httpx.Client does), so it must
hand the checks the decoded body — a Cloudflare worker or workerd compresses JSON and HTML when
asked — while a body that inflates past --max-body-bytes, or does not decode, is a one-line
reason rather than a hang, a memory blow-up or a traceback."""

from __future__ import annotations

import gzip
import json
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from synthetics.probe import Probe, Request

DOC = {"status": "healthy", "agentCapacity": 20_000_000, "sectors": 200}
PLAIN = json.dumps(DOC).encode()


@pytest.fixture
def serve() -> Iterator[dict[str, tuple[str, bytes]]]:
    """A loopback server answering each path with (Content-Encoding, body) from a dict."""
    routes: dict[str, tuple[str, bytes]] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

        def do_GET(self) -> None:  # noqa: N802
            encoding, body = routes[self.path]
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            if encoding:
                self.send_header("Content-Encoding", encoding)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_HEAD(self) -> None:  # noqa: N802
            encoding, body = routes[self.path]
            self.send_response(200)
            self.send_header("Content-Encoding", encoding)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                     daemon=True).start()
    routes["__url__"] = ("", f"http://127.0.0.1:{server.server_address[1]}".encode())
    yield routes
    server.shutdown()
    server.server_close()


def _url(routes: dict[str, tuple[str, bytes]]) -> str:
    return routes["__url__"][1].decode()


@pytest.mark.parametrize(("encoding", "body"), [
    ("gzip", gzip.compress(PLAIN)),
    ("deflate", zlib.compress(PLAIN)),
    ("", PLAIN),
    ("identity", PLAIN),
], ids=["gzip", "deflate", "none", "identity"])
def test_body_arrives_decoded(serve, encoding: str, body: bytes) -> None:
    serve["/health"] = (encoding, body)
    with Probe(_url(serve)) as probe:
        sample = probe.request(Request("health", "/health"))
        many = probe.sample_many([Request("health", "/health")] * 12, 4)
    for s in [sample, *many]:
        assert s.ok, s.error
        assert s.body == PLAIN and s.json() == DOC
        assert s.headers.get("content-encoding", "") == encoding, "headers stay as sent"


def test_the_request_asks_for_gzip_and_deflate(serve) -> None:
    """What the probe asks for is what it can decode (and what httpx.Client asked for)."""
    seen: list[str] = []

    class Echo(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

        def do_GET(self) -> None:  # noqa: N802
            seen.append(self.headers.get("Accept-Encoding", ""))
            self.send_response(204)
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                     daemon=True).start()
    try:
        with Probe(f"http://127.0.0.1:{server.server_address[1]}") as probe:
            assert probe.request(Request("health", "/")).ok
    finally:
        server.shutdown()
        server.server_close()
    assert seen == ["gzip, deflate"]


def test_a_body_that_inflates_past_the_cap_is_too_large(serve) -> None:
    bomb = gzip.compress(b"0" * (8 << 20))  # 8 MiB of zeros in about 8 KiB
    assert len(bomb) < 64 << 10
    serve["/bomb"] = ("gzip", bomb)
    with Probe(_url(serve), max_body_bytes=1 << 20) as probe:
        sample = probe.request(Request("orchestrate", "/bomb"))
    assert sample.error_kind == "too_large" and sample.status == 200
    assert "exceeds 1048576 bytes" in (sample.error or "")
    assert len(sample.body) <= 1 << 20


@pytest.mark.parametrize(("encoding", "body", "why"), [
    ("gzip", b"this is not gzip at all", "cannot decode the compressed body"),
    ("gzip", gzip.compress(PLAIN)[:-12], "ends before its end marker"),
    ("deflate", b"\x00\x01garbage", "cannot decode the compressed body"),
], ids=["not-gzip", "truncated-gzip", "not-deflate"])
def test_a_body_that_does_not_decode_is_a_reason(serve, encoding: str, body: bytes,
                                                  why: str) -> None:
    serve["/bad"] = (encoding, body)
    with Probe(_url(serve)) as probe:
        sample = probe.request(Request("health", "/bad"))
    assert not sample.ok and sample.error_kind == "protocol" and sample.status == 200
    assert why in (sample.error or "") and "\n" not in (sample.error or "")


def test_an_encoding_never_asked_for_is_kept_as_it_came(serve) -> None:
    serve["/br"] = ("br", b"\x1b\x00brotli-ish")
    with Probe(_url(serve)) as probe:
        sample = probe.request(Request("health", "/br"))
    assert sample.ok and sample.body == b"\x1b\x00brotli-ish"
    with pytest.raises(ValueError, match="body is not valid JSON"):
        sample.json()


def test_head_of_a_compressed_resource_has_no_body_to_decode(serve) -> None:
    serve["/"] = ("gzip", gzip.compress(b"<html>dashboard</html>"))
    with Probe(_url(serve)) as probe:
        sample = probe.request(Request("dashboard", "/", method="HEAD"))
    assert sample.ok and sample.status == 200 and sample.body == b""
