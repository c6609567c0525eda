"""Orchestration: GET /mcp/orchestrate is operational, self-healing, at full capacity."""

import pytest

from synthetics import expect
from synthetics.probe import Probe
from synthetics.settings import Settings
from synthetics.targets import ENDPOINTS, Target, params

pytestmark = pytest.mark.orchestration

ORCHESTRATE = ENDPOINTS["orchestrate"]


@pytest.mark.parametrize("target", params("test_orchestration_operational"))
def test_orchestration_operational(target: Target, probe: Probe) -> None:
    sample = expect.response(probe.request(ORCHESTRATE.request()))
    doc = expect.json_object(sample)
    expect.field_equals(sample, doc, "status", "operational")
    expect.field_equals(sample, doc, "healingMode", True)


@pytest.mark.parametrize("target", params("test_orchestration_capacity"))
def test_orchestration_capacity(
    target: Target, probe: Probe, synthetics_settings: Settings
) -> None:
    sample = expect.response(probe.request(ORCHESTRATE.request()))
    doc = expect.json_object(sample)
    expect.field_equals(sample, doc, "totalAgents", synthetics_settings.agent_capacity)
    expect.field_equals(sample, doc, "activeSectors", synthetics_settings.sectors)
