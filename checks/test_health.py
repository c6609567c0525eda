"""Health: GET /health answers healthy, with the configured capacity (morning check, step 1),
from the configured environment, with a fresh timestamp."""

import pytest

from synthetics import expect
from synthetics.expectations import ENDPOINTS, Expectation, params
from synthetics.probe import Probe
from synthetics.settings import Settings

pytestmark = pytest.mark.health


@pytest.mark.parametrize("expectation", params("test_health_reports_healthy"))
def test_health_reports_healthy(expectation: Expectation, probe: Probe) -> None:
    sample = expect.response(probe.request(ENDPOINTS["health"].request()))
    doc = expect.json_object(sample)
    expect.field_equals(sample, doc, "status", "healthy")


@pytest.mark.parametrize("expectation", params("test_health_reports_capacity"))
def test_health_reports_capacity(
    expectation: Expectation, probe: Probe, synthetics_settings: Settings
) -> None:
    sample = expect.response(probe.request(ENDPOINTS["health"].request()))
    doc = expect.json_object(sample)
    expect.field_equals(sample, doc, "agentCapacity", synthetics_settings.agent_capacity)
    expect.field_equals(sample, doc, "sectors", synthetics_settings.sectors)


@pytest.mark.parametrize("expectation", params("test_health_reports_environment"))
def test_health_reports_environment(
    expectation: Expectation, probe: Probe, synthetics_settings: Settings
) -> None:
    sample = expect.response(probe.request(ENDPOINTS["health"].request()))
    doc = expect.json_object(sample)
    expect.environment_is(sample, doc, synthetics_settings.environment)


@pytest.mark.parametrize("expectation", params("test_health_timestamp_fresh"))
def test_health_timestamp_fresh(
    expectation: Expectation, probe: Probe, synthetics_settings: Settings
) -> None:
    sample = expect.response(probe.request(ENDPOINTS["health"].request()))
    expect.timestamp_fresh(sample, expect.json_object(sample), synthetics_settings.max_clock_skew)
