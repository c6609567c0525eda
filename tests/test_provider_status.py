"""Cloudflare's status before a deploy (synthetics.selfheal.provider_status): a fake status page on
loopback answers /api/v2/summary.json; an incident on a Workers component refuses, anything else
passes, and an unreadable page is "unknown", which does not block."""

from __future__ import annotations

import pytest
from status_fake import StatusPage, summary

from synthetics.selfheal.provider_status import ProviderGate, judge, read_status


def test_clear_status_allows(status_page: StatusPage) -> None:
    got = read_status(status_page.url, ("Workers",), 2)
    assert got.state == "clear", got
    assert status_page.paths == ["/api/v2/summary.json"]
    assert ProviderGate(status_page.url, ("Workers",), 2)(None) is None


def test_workers_incident_refuses_with_name_and_link(status_page: StatusPage) -> None:
    status_page.incident()
    refusal = ProviderGate(status_page.url, ("Workers",), 2)(None)
    assert refusal is not None and refusal.startswith("provider incident: 'Elevated Workers "
                                                      "errors' (affects Workers)")
    assert "https://stspg.io/abc123" in refusal


def test_unrelated_or_resolved_incidents_do_not_refuse(status_page: StatusPage) -> None:
    status_page.incident("Dashboard login issues", ("Dashboard",))
    assert read_status(status_page.url, ("Workers",), 2).state == "clear"
    status_page.incident(status="resolved")
    assert read_status(status_page.url, ("Workers",), 2).state == "clear"


def test_degraded_component_is_an_incident() -> None:
    doc = summary([{"name": "Workers KV", "status": "degraded_performance"}])
    got = judge(doc, ("Workers",), "https://status.example")
    assert got.state == "incident" and "Workers KV" in got.detail and "degraded" in got.detail
    assert judge(doc, ("Durable Objects",), "x").state == "clear"


@pytest.mark.parametrize("answer", [(503, b"down"), (200, b"<html>maintenance</html>"),
                                    (200, b'{"components": 3}'),
                                    (200, b'{"components": [], "incidents": [NaN]}')])
def test_unreadable_status_is_unknown_and_does_not_block(status_page: StatusPage,
                                                         answer: tuple[int, bytes]) -> None:
    status_page.answer = answer
    said: list[str] = []
    gate = ProviderGate(status_page.url, ("Workers",), 2, say=said.append)
    assert gate(None) is None
    assert gate.last is not None and gate.last.state == "unknown"
    assert said and said[0].startswith("provider status unknown") and "not blocking" in said[0]


def test_unreachable_status_is_unknown() -> None:
    got = read_status("http://127.0.0.1:9", ("Workers",), 1)
    assert got.state == "unknown" and "unreadable" in got.detail
