"""The ladder acts on who failed (synthetics.attribution) and on Cloudflare's status
(synthetics.selfheal.provider_status): checks/ run with --redeploy against reference workers that
answer
/health the way Cloudflare does, the fake `wrangler` of tests/fakes first on PATH and a fake
status page on loopback. Only the worker's own failure (1101) is redeployed; a limit (1015,
1027) or the edge (522, an answer without cf-ray) escalates and deploys nothing; so does a
provider incident; an unreadable status page is reported and does not block."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from synthetics.reference import ReferenceWorker

FAKES = Path(__file__).resolve().parent / "fakes"
CONFIG = Path(__file__).resolve().parent / "fixtures" / "sample-worker" / \
    "wrangler-production-simple.toml"
FAST = ("--confirm-seconds", "0.4", "--verify-seconds", "0.6", "--reprobe-interval", "0.2",
        "--request-timeout", "2")


class Setup:
    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                 pytester: pytest.Pytester) -> None:
        (pytester.path / CONFIG.name).write_text(CONFIG.read_text())
        self.log = tmp_path / "wrangler-calls.jsonl"
        self.faults_file = tmp_path / "faults.txt"
        self.state_dir = tmp_path / "state"
        monkeypatch.setenv("PATH", f"{FAKES}{os.pathsep}{Path(sys.executable).parent}"
                                   f"{os.pathsep}{os.environ['PATH']}")
        monkeypatch.setenv("FAKE_WRANGLER_LOG", str(self.log))
        monkeypatch.setenv("FAKE_WRANGLER_FAULTS_FILE", str(self.faults_file))
        monkeypatch.setenv("FAKE_WRANGLER_PLAN", "deploy=heal")

    def commands(self) -> list[str]:
        if not self.log.exists():
            return []
        calls = [json.loads(line)["argv"] for line in self.log.read_text().splitlines()]
        return [c[0] for c in calls if c[:1] != ["deployments"]]

    def outcome(self) -> dict[str, Any]:
        lines = (self.state_dir / "audit.jsonl").read_text().splitlines()
        record: dict[str, Any] = json.loads(lines[-1])
        return record


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pytester: pytest.Pytester) -> Setup:
    return Setup(tmp_path, monkeypatch, pytester)


def _run(setup: Setup, reference_worker: Callable[..., ReferenceWorker], run_checks,
         fault: str, *extra: str) -> Any:
    setup.faults_file.write_text(fault + "\n")
    worker = reference_worker(faults_file=setup.faults_file, cloudflare_like=True)
    control = reference_worker().url + "/"
    return run_checks("-m", "health or dashboard", f"--target={worker.url}", "--redeploy",
                      f"--state-dir={setup.state_dir}", f"--control-url={control}", *FAST,
                      *extra)


def test_worker_exception_is_redeployed(setup, reference_worker, run_checks) -> None:
    """1101 is the worker's: redeployed. The status page is unreadable (tests/conftest.py
    points it at a closed port): reported, and it does not block."""
    run = _run(setup, reference_worker, run_checks, "cf_1101")
    assert setup.commands() == ["deploy"], run.stdout[-3000:]
    assert "RECOVERED-BY-REDEPLOY" in run.stdout
    assert "provider status unknown" in run.stdout and "not blocking the deploy" in run.stdout
    assert "who failed: worker: Cloudflare 1101" in " ".join(setup.outcome()["details"])


@pytest.mark.parametrize(("fault", "status", "words"), [
    ("cf_1015", "limit", "rate limited (HTTP 429 / Cloudflare 1015)"),
    ("cf_1027", "limit", "daily request limit is used up (Cloudflare 1027)"),
    ("cf_522", "edge", "edge: Cloudflare 522 (connection timed out)"),
    ("cf_no_ray", "edge", "edge: not served by Cloudflare (no cf-ray; server nginx)"),
])
def test_limit_and_edge_failures_deploy_nothing(setup, reference_worker, run_checks,
                                                status_page, fault, status, words) -> None:
    run = _run(setup, reference_worker, run_checks, fault,
               f"--provider-status-url={status_page.url}")
    assert setup.commands() == [], run.stdout[-3000:]
    outcome = setup.outcome()
    assert outcome["status"] == status and outcome["escalate"] is True
    assert words in outcome["headline"] and "redeploy does not help" in outcome["headline"]
    assert f"{status.upper()}: not deploying" in run.stdout


def test_provider_incident_means_no_deploy(setup, reference_worker, run_checks,
                                           status_page) -> None:
    status_page.incident("Workers scripts failing in some locations", ("Workers",))
    run = _run(setup, reference_worker, run_checks, "cf_1101",
               f"--provider-status-url={status_page.url}", "--provider-components",
               "Workers, Durable Objects")
    assert setup.commands() == [], run.stdout[-3000:]
    outcome = setup.outcome()
    assert outcome["status"] == "provider-incident" and outcome["escalate"] is True
    assert "'Workers scripts failing in some locations'" in outcome["headline"]
    assert "https://stspg.io/abc123" in outcome["headline"]
    assert status_page.paths and set(status_page.paths) == {"/api/v2/summary.json"}
