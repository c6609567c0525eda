"""Orchestration: GET /mcp/orchestrate is operational, self-healing, at full capacity, from the
configured environment, with a fresh timestamp."""

import pytest

from synthetics import expect
from synthetics.expectations import ENDPOINTS, Expectation, params
from synthetics.probe import Probe, Sample
from synthetics.settings import Settings

pytestmark = pytest.mark.orchestration

ORCHESTRATE = ENDPOINTS["orchestrate"]


@pytest.fixture(scope="module")
def orchestrate_answer(probe: Probe) -> Sample:
    """One GET /mcp/orchestrate answer that every check in this file judges: they read different
    fields of one document, so one request serves them all (a slow endpoint costs one response
    time here, not four). Each check still fails on its own with what the answer lacks."""
    return probe.request(ORCHESTRATE.request())


@pytest.mark.parametrize("expectation", params("test_orchestration_operational"))
def test_orchestration_operational(expectation: Expectation, orchestrate_answer: Sample) -> None:
    sample = expect.response(orchestrate_answer)
    doc = expect.json_object(sample)
    expect.field_equals(sample, doc, "status", "operational")
    expect.field_equals(sample, doc, "healingMode", True)


@pytest.mark.parametrize("expectation", params("test_orchestration_capacity"))
def test_orchestration_capacity(
    expectation: Expectation, orchestrate_answer: Sample, synthetics_settings: Settings
) -> None:
    sample = expect.response(orchestrate_answer)
    doc = expect.json_object(sample)
    expect.field_equals(sample, doc, "totalAgents", synthetics_settings.agent_capacity)
    expect.field_equals(sample, doc, "activeSectors", synthetics_settings.sectors)


@pytest.mark.parametrize("expectation", params("test_orchestration_environment"))
def test_orchestration_environment(
    expectation: Expectation, orchestrate_answer: Sample, synthetics_settings: Settings
) -> None:
    sample = expect.response(orchestrate_answer)
    doc = expect.json_object(sample)
    expect.environment_is(sample, doc, synthetics_settings.environment)


@pytest.mark.parametrize("expectation", params("test_orchestration_timestamp_fresh"))
def test_orchestration_timestamp_fresh(
    expectation: Expectation, orchestrate_answer: Sample, synthetics_settings: Settings
) -> None:
    sample = expect.response(orchestrate_answer)
    expect.timestamp_fresh(sample, expect.json_object(sample), synthetics_settings.max_clock_skew)
