"""DNS: the MCP DNS-resolve endpoint resolves every MCP domain with a fresh timestamp, and
rejects a missing domain."""

import pytest

from synthetics import expect
from synthetics.expectations import ENDPOINTS, Expectation, dns_endpoint, params
from synthetics.probe import Probe, Request
from synthetics.settings import Settings

pytestmark = pytest.mark.dns


@pytest.mark.parametrize("expectation", params("test_dns_resolves"))
def test_dns_resolves(expectation: Expectation, probe: Probe,
                      synthetics_settings: Settings) -> None:
    domain = expectation.subject
    sample = expect.response(probe.request(dns_endpoint(domain).request()))
    doc = expect.json_object(sample)
    expect.field_equals(sample, doc, "resolved", True)
    expect.field_equals(sample, doc, "mcpEnabled", True)
    expect.field_equals(sample, doc, "recordType", "A")
    if not expect.valid_ipv4(doc.get("ip")):
        expect.fail(f"{sample.request.describe()}: ip {doc.get('ip')!r} is not an IPv4 address")
    ttl = doc.get("ttl")
    if not isinstance(ttl, int) or isinstance(ttl, bool) or ttl <= 0:
        expect.fail(f"{sample.request.describe()}: ttl {ttl!r} is not a positive integer")
    sector = doc.get("sector")
    sectors = synthetics_settings.sectors
    if not isinstance(sector, int) or isinstance(sector, bool) or not 0 <= sector < sectors:
        expect.fail(f"{sample.request.describe()}: sector {sector!r} is outside [0, {sectors})")


@pytest.mark.parametrize("expectation", params("test_dns_requires_domain"))
def test_dns_requires_domain(expectation: Expectation, probe: Probe) -> None:
    sample = probe.request(Request("dns-missing-domain", "/mcp/dns/resolve"))
    if sample.ok and sample.status is not None and sample.status >= 500:
        expect.fail(f"{sample.request.describe()}: HTTP {sample.status} for a request without "
                    "a domain: must be a 400 client error, never a 5xx")
    expect.response(sample, 400)
    doc = expect.json_object(sample)
    if not isinstance(doc.get("error"), str) or not doc["error"]:
        expect.fail(f"{sample.request.describe()}: 400 without an 'error' message: {doc!r}")


@pytest.mark.parametrize("expectation", params("test_dns_timestamp_fresh"))
def test_dns_timestamp_fresh(expectation: Expectation, probe: Probe,
                             synthetics_settings: Settings) -> None:
    sample = expect.response(probe.request(ENDPOINTS["dns"].request()))
    expect.timestamp_fresh(sample, expect.json_object(sample), synthetics_settings.max_clock_skew)
