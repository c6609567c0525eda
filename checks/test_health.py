"""Health: GET /health answers healthy, with the configured capacity (morning check, step 1),
from the configured environment, with a fresh timestamp."""

import pytest

from synthetics import expect
from synthetics.expectations import ENDPOINTS, Expectation, params
from synthetics.probe import Probe, Sample
from synthetics.settings import Settings

pytestmark = pytest.mark.health


@pytest.fixture(scope="module")
def health_answer(probe: Probe) -> Sample:
    """One GET /health answer that every check in this file judges: they read different
    fields of one document, so one request serves them all (a slow endpoint costs one response
    time here, not four). Each check still fails on its own with what the answer lacks."""
    return probe.request(ENDPOINTS["health"].request())


@pytest.mark.parametrize("expectation", params("test_health_reports_healthy"))
def test_health_reports_healthy(expectation: Expectation, health_answer: Sample) -> None:
    sample = expect.response(health_answer)
    doc = expect.json_object(sample)
    expect.field_equals(sample, doc, "status", "healthy")


@pytest.mark.parametrize("expectation", params("test_health_reports_capacity"))
def test_health_reports_capacity(
    expectation: Expectation, health_answer: Sample, synthetics_settings: Settings
) -> None:
    sample = expect.response(health_answer)
    doc = expect.json_object(sample)
    expect.field_equals(sample, doc, "agentCapacity", synthetics_settings.agent_capacity)
    expect.field_equals(sample, doc, "sectors", synthetics_settings.sectors)


@pytest.mark.parametrize("expectation", params("test_health_reports_environment"))
def test_health_reports_environment(
    expectation: Expectation, health_answer: Sample, synthetics_settings: Settings
) -> None:
    sample = expect.response(health_answer)
    doc = expect.json_object(sample)
    expect.environment_is(sample, doc, synthetics_settings.environment)


@pytest.mark.parametrize("expectation", params("test_health_timestamp_fresh"))
def test_health_timestamp_fresh(
    expectation: Expectation, health_answer: Sample, synthetics_settings: Settings
) -> None:
    sample = expect.response(health_answer)
    expect.timestamp_fresh(sample, expect.json_object(sample), synthetics_settings.max_clock_skew)
