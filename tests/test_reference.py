"""The reference worker answers what worker-contract.md says the production worker answers."""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from synthetics.reference import FAULTS, ReferenceWorker, parse_faults

CORS = {
    "access-control-allow-origin": "*",
    "access-control-allow-methods": "GET, POST, PUT, DELETE, OPTIONS",
    "access-control-allow-headers": "Content-Type, Authorization, X-Quantum-Sync-ID",
    "access-control-max-age": "86400",
}


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with ReferenceWorker() as worker, httpx.Client(base_url=worker.url, trust_env=False) as http:
        yield http


def _cors(response: httpx.Response) -> dict[str, str]:
    return {k: response.headers.get(k, "") for k in CORS}


def test_health_fields(client: httpx.Client) -> None:
    r = client.get("/health")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert b'"status":"healthy"' in r.content, "compact JSON: the operators' scripts grep it"
    doc = r.json()
    assert doc["agentCapacity"] == 20_000_000 and doc["sectors"] == 200
    assert doc["version"] == "1.0.0" and doc["environment"] == "production"
    assert isinstance(doc["uptime"], int) and doc["timestamp"].endswith("Z")


def test_orchestrate_fields(client: httpx.Client) -> None:
    doc = client.get("/mcp/orchestrate").json()
    assert doc["status"] == "operational" and doc["healingMode"] is True
    assert doc["totalAgents"] == 20_000_000 and doc["activeSectors"] == 200
    assert doc["uptime"] == "100%" and doc["masterServer"] == "mcp.asoos.2100.cool"


def test_dns_resolve(client: httpx.Client) -> None:
    doc = client.get("/mcp/dns/resolve", params={"domain": "mcp.aipub.2100.cool"}).json()
    assert doc["resolved"] is True and doc["mcpEnabled"] is True and doc["ip"] == "1.1.1.1"
    assert doc["ttl"] == 300 and doc["recordType"] == "A" and 0 <= doc["sector"] < 200
    assert client.get("/mcp/dns/resolve?domain=mcp.sector-17.x").json()["sector"] == 17
    other = client.get("/mcp/dns/resolve?domain=example.org").json()
    assert other["mcpEnabled"] is False and other["sector"] is None
    missing = client.get("/mcp/dns/resolve")
    assert missing.status_code == 400 and missing.json() == {"error": "Domain required"}


def test_agent_endpoints(client: httpx.Client) -> None:
    r = client.post("/mcp/agent/register", json={"agentId": "synthetic-1"})
    doc = r.json()
    assert doc["success"] is True and doc["mcpServer"] == "synthetic-1.mcp.aipub.2100.cool"
    assert client.post("/mcp/agent/register", content=b"not json").status_code == 500
    assert client.get("/mcp/agent/status").status_code == 400
    assert client.get("/mcp/agent/status?agentId=a").json()["status"] == "unknown"


def test_dashboard_and_head(client: httpx.Client) -> None:
    page = client.get("/")
    assert page.headers["content-type"] == "text/html"
    assert "🛡️ Victory36 MCP Orchestrator Dashboard" in page.text
    assert "Production System Online" in page.text and "20,000,000" in page.text
    head = client.head("/")
    assert head.status_code == 200 and head.content == b""


def test_routing_is_by_prefix_and_ignores_the_method(client: httpx.Client) -> None:
    assert client.get("/healthz").json()["status"] == "healthy"
    assert client.post("/mcp/orchestrate/x").json()["status"] == "operational"
    missing = client.get("/nope")
    assert missing.status_code == 404 and missing.text == "Not Found"
    assert missing.headers["content-type"] == "text/plain"


@pytest.mark.parametrize("path", ["/health", "/mcp/orchestrate", "/", "/nope",
                                  "/mcp/dns/resolve"])
def test_every_response_carries_cors(client: httpx.Client, path: str) -> None:
    assert _cors(client.get(path)) == CORS
    preflight = client.options(path)
    assert preflight.status_code == 200 and preflight.content == b""
    assert _cors(preflight) == CORS


def test_error_500_shape() -> None:
    with ReferenceWorker("burst_5xx=1") as worker, \
            httpx.Client(base_url=worker.url, trust_env=False) as http:
        r = http.get("/mcp/orchestrate")
    assert r.status_code == 500 and _cors(r) == CORS
    assert set(r.json()) == {"error", "message", "timestamp", "healing"}


def test_faults_parse_and_reject_unknown_names() -> None:
    assert parse_faults("slow_health=50, missing_cors_header") == {
        "slow_health": "50", "missing_cors_header": ""}
    assert parse_faults(["hang"]) == {"hang": "/health"}
    with pytest.raises(ValueError, match="unknown fault 'nonsense'; known faults: "):
        parse_faults("nonsense")
    assert all(isinstance(v, str) and v for v in FAULTS.values())


def test_faults_file_breaks_and_heals_a_running_worker(tmp_path: Path) -> None:
    faults = tmp_path / "faults"
    with ReferenceWorker(faults_file=faults) as worker, \
            httpx.Client(base_url=worker.url, trust_env=False) as h:
        assert h.get("/health").json()["status"] == "healthy"
        faults.write_text("health_degraded\n")
        assert h.get("/health").json()["status"] == "degraded"
        faults.write_text("")
        os.utime(faults, (1, 1))  # a coarse clock may give the rewrite the same mtime
        assert h.get("/health").json()["status"] == "healthy"


def test_ipv6_loopback() -> None:
    worker = ReferenceWorker(host="::1")
    try:
        worker.start()
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    try:
        assert worker.url.startswith("http://[::1]:")
        with httpx.Client(base_url=worker.url, trust_env=False) as http:
            assert json.loads(http.get("/health").content)["status"] == "healthy"
    finally:
        worker.stop()


def test_stop_wakes_the_serving_loop_and_closes_the_port(monkeypatch: pytest.MonkeyPatch) -> None:
    """stop() does not wait for the serving loop's next poll (at the end of every run on the
    built-in worker): with a ten-minute poll interval it still returns, and the port is shut."""
    monkeypatch.setattr(ReferenceWorker, "poll_interval", 600.0)
    worker = ReferenceWorker().start()
    with httpx.Client(base_url=worker.url, trust_env=False) as http:
        assert http.get("/health").status_code == 200
    stopper = threading.Thread(target=worker.stop, daemon=True)
    stopper.start()
    stopper.join(60)  # a hang guard, far above any machine's time; not a timing assertion
    assert not stopper.is_alive(), "stop() waited for the serving loop's poll"
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", worker.port), timeout=5).close()
