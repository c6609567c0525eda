"""CORS: every endpoint allows cross-origin reads and answers a preflight (Monday's audit), and
none admits an arbitrary origin with credentials (`synthetics.expect.cors_allows`)."""

import pytest

from synthetics import expect
from synthetics.expectations import ENDPOINTS, Expectation, params
from synthetics.probe import Probe

pytestmark = pytest.mark.cors

#: An origin no real deployment lists: a worker that echoes it back admits any origin.
ORIGIN = "https://synthetics.example"


@pytest.mark.parametrize("expectation", params("test_cors_allow_origin"))
def test_cors_allow_origin(expectation: Expectation, probe: Probe) -> None:
    endpoint = ENDPOINTS[expectation.subject]
    path = endpoint.url_path()
    sample = probe.request(endpoint.request(headers=(("Origin", ORIGIN),)))
    if sample.status is None:  # no headers at all; a body cut short still has them
        expect.fail(sample.summary())
    expect.cors_allows(sample, ORIGIN, f"GET {path}")


@pytest.mark.parametrize("expectation", params("test_cors_preflight"))
def test_cors_preflight(expectation: Expectation, probe: Probe) -> None:
    endpoint = ENDPOINTS[expectation.subject]
    path = endpoint.url_path()
    headers = (
        ("Origin", ORIGIN),
        ("Access-Control-Request-Method", "GET"),
        ("Access-Control-Request-Headers", "Content-Type"),
    )
    sample = probe.request(endpoint.request("OPTIONS", headers))
    if sample.status is None:
        expect.fail(sample.summary())
    where = f"OPTIONS {path}"
    if not 200 <= sample.status < 300:
        expect.fail(f"{where}: preflight answered HTTP {sample.status}, expected 2xx")
    expect.cors_allows(sample, ORIGIN, f"{where}: preflight")
    methods = sample.headers.get("access-control-allow-methods", "")
    if "GET" not in [m.strip().upper() for m in methods.split(",")]:
        expect.fail(f"{where}: Access-Control-Allow-Methods {methods or 'missing'!r} "
                    "does not include GET")
    if not sample.headers.get("access-control-allow-headers"):
        expect.fail(f"{where}: no Access-Control-Allow-Headers header")
    max_age = sample.headers.get("access-control-max-age", "")
    if not max_age.strip().isdigit():
        expect.fail(f"{where}: Access-Control-Max-Age {max_age or 'missing'!r} is not a number "
                    "of seconds")
