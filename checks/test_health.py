"""Health: GET /health answers healthy, with the configured capacity (morning check, step 1)."""

import pytest

from synthetics import expect
from synthetics.probe import Probe
from synthetics.settings import Settings
from synthetics.targets import ENDPOINTS, Target, params

pytestmark = pytest.mark.health


@pytest.mark.parametrize("target", params("test_health_reports_healthy"))
def test_health_reports_healthy(target: Target, probe: Probe) -> None:
    sample = expect.response(probe.request(ENDPOINTS["health"].request()))
    doc = expect.json_object(sample)
    expect.field_equals(sample, doc, "status", "healthy")


@pytest.mark.parametrize("target", params("test_health_reports_capacity"))
def test_health_reports_capacity(
    target: Target, probe: Probe, synthetics_settings: Settings
) -> None:
    sample = expect.response(probe.request(ENDPOINTS["health"].request()))
    doc = expect.json_object(sample)
    expect.field_equals(sample, doc, "agentCapacity", synthetics_settings.agent_capacity)
    expect.field_equals(sample, doc, "sectors", synthetics_settings.sectors)
