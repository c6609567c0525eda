"""`synthetics heal`: region runs vote through summary.json, one decider runs the ladder once.

Region runs and `heal` are real `synthetics` processes against reference workers on loopback,
with the fake wrangler of tests/fakes first on PATH; the fake keeps Cloudflare's deployments list
in a file, so a later `heal` on a fresh runner (a new state directory) sees the earlier deploy.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from synthetics.reference import ReferenceWorker
from synthetics.selfheal.heal import Vote, decide

FAKES = Path(__file__).resolve().parent / "fakes"
SAMPLE = Path(__file__).resolve().parent / "fixtures" / "sample-worker"
WORKER = "wfa-orchestration-worker-production-production"
CLOSED = "http://127.0.0.1:9/"  # nothing listens: a region whose network is down


class World:
    """Three runners' worth of folders, the fake wrangler's files, and the commands."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.log = tmp_path / "wrangler-calls.jsonl"
        self.deployments = tmp_path / "deployments.json"
        self.faults = tmp_path / "faults.txt"
        self.summaries = tmp_path / "summaries"
        self.config = tmp_path / "wrangler-production-simple.toml"
        shutil.copy(SAMPLE / "wrangler-production-simple.toml", self.config)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("SYNTHETICS_",
                                                                             "PYTEST_"))}
        self.env.update(PATH=f"{FAKES}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}"
                             f"{os.environ['PATH']}",
                        FAKE_WRANGLER_LOG=str(self.log), FAKE_WRANGLER_FAULTS_FILE=str(self.faults),
                        FAKE_WRANGLER_PLAN="deploy=heal",
                        # Cloudflare's status page: a closed loopback port, never the real one.
                        SYNTHETICS_PROVIDER_STATUS_URL=CLOSED)

    def synthetics(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "synthetics.cli", *args], cwd=self.tmp,
                              env=self.env, capture_output=True, text=True, timeout=120)

    def region(self, name: str, target: str, control: str, *extra: str) -> dict[str, Any]:
        reports = self.summaries / name
        run = self.synthetics("run", "--reports", str(reports), "--target", target,
                              "-m", "health", "--region", name, f"--control-url={control}",
                              "--state-dir", str(self.tmp / f"state-{name}"),
                              "--request-timeout", "2", "-p", "no:randomly", *extra)
        assert run.returncode in (0, 1), run.stdout[-2000:] + run.stderr[-2000:]
        summary: dict[str, Any] = json.loads((reports / "summary.json").read_text())
        return summary

    def heal(self, state: str, control: str, *extra: str) -> subprocess.CompletedProcess[str]:
        return self.synthetics(
            "heal", "--summaries", str(self.summaries), "--redeploy",
            "--state-dir", str(self.tmp / state), f"--control-url={control}",
            "--deploy-config", str(self.config), "--confirm-seconds", "0.4",
            "--verify-seconds", "0.6", "--reprobe-interval", "0.2", "--request-timeout", "2",
            *extra)

    def listed(self) -> list[dict[str, Any]]:
        return json.loads(self.deployments.read_text()) if self.deployments.exists() else []

    def calls(self) -> list[list[str]]:
        if not self.log.exists():
            return []
        return [json.loads(x)["argv"] for x in self.log.read_text().splitlines()]


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def test_three_regions_one_heal_one_deploy_and_a_later_heal_sees_it(
        world: World, reference_worker: Callable[..., ReferenceWorker]) -> None:
    world.faults.write_text("health_degraded\n")
    worker = reference_worker(faults_file=world.faults)
    control = reference_worker().url + "/"
    for name in ("eu", "us", "ap"):
        summary = world.region(name, worker.url, control)
        assert summary["region"] == name and summary["heal"]["health"] == "down"
        assert summary["heal"]["control"]["reachable"] is True
    assert world.calls() == []  # region runs never deploy

    first = world.heal("state-heal-1", control, "--quorum", "2")
    out = first.stdout
    assert first.returncode == 0, out + first.stderr
    assert "quorum reached: 3 of 3 reporting region(s) see /health down (quorum 2)" in out
    assert "RECOVERED-BY-REDEPLOY" in out
    (deployment,) = world.listed()
    assert "[synthetics-heal] run " in deployment["annotations"]["workers/message"]
    assert [c[0] for c in world.calls() if c[0] != "deployments"] == ["deploy"]
    # Cloudflare's list is read by the worker's name (from the wrangler configuration).
    assert world.calls()[0][:4] == ["deployments", "list", "--name", WORKER]

    # Five minutes later, on a fresh runner (no local state), the worker is down again.
    world.faults.write_text("health_degraded\n")
    deployment["created_on"] = _minus(deployment["created_on"], 300)
    world.deployments.write_text(json.dumps([deployment]))
    second = world.heal("state-heal-2", control, "--quorum", "2")
    assert second.returncode == 0, second.stdout + second.stderr
    assert (f"COOLDOWN: not running the deploy: cooldown: Cloudflare lists a deployment of "
            f"{WORKER} 5 min ago by ci-bot@example.com") in second.stdout
    assert len(world.listed()) == 1
    assert [c[0] for c in world.calls() if c[0] != "deployments"] == ["deploy"]
    assert "Traceback" not in first.stdout + first.stderr + second.stdout + second.stderr


def _minus(stamp: str, seconds: float) -> str:
    from datetime import datetime, timedelta

    moved = datetime.fromisoformat(stamp.replace("Z", "+00:00")) - timedelta(seconds=seconds)
    return moved.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_a_region_whose_control_probe_fails_is_not_a_vote(
        world: World, reference_worker: Callable[..., ReferenceWorker]) -> None:
    worker = reference_worker(faults_file=world.faults)
    control = reference_worker().url + "/"
    world.faults.write_text("")
    for name in ("eu", "us"):
        assert world.region(name, worker.url, control)["heal"]["health"] == "up"
    world.faults.write_text("health_degraded\n")  # what the region with a broken network sees
    prom = world.tmp / "ap.prom"
    down = world.region("ap", worker.url, CLOSED, f"--metrics-textfile={prom}")
    assert down["heal"]["health"] == "down" and down["heal"]["control"]["reachable"] is False
    # ... and Prometheus learns it too (the rules' inhibition and quorum use it).
    assert (f'synthetics_control_probe_success{{region="ap",target="{worker.url}"}} 0.0'
            in prom.read_text())
    world.faults.write_text("")

    run = world.heal("state-heal", control)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "ap: not reporting — its control probe failed (http://127.0.0.1:9/" in run.stdout
    assert ("no deploy: 0 of 2 reporting region(s) see /health down (quorum 2, a majority; "
            "1 not reporting)") in run.stdout
    assert world.calls() == [] and world.listed() == []


def vote(region: str, health: str, reachable: bool | None = True,
         target: str = "https://w.example") -> Vote:
    control = None if reachable is None else {"url": "c", "reachable": reachable, "detail": "d"}
    return Vote(f"{region}/summary.json", region, target, health,
                ["test_health_reports_healthy[health]: down"] if health == "down" else [],
                control if health == "down" else None)


def test_quorum_counts_only_reporting_regions() -> None:
    one_of_three = decide([vote("a", "down"), vote("b", "up"), vote("c", "up")], None)
    assert not one_of_three.act and "1 of 3" in one_of_three.headline
    two_of_three = decide([vote("a", "down"), vote("b", "down"), vote("c", "up")], None)
    assert two_of_three.act and "(quorum 2, a majority)" in two_of_three.headline
    assert not decide([vote("a", "down"), vote("b", "down"), vote("c", "up")], 3).act
    # A region that cannot reach its control URL is neither a vote nor a reporter.
    lonely = decide([vote("a", "down"), vote("b", "down", reachable=False)], None)
    assert lonely.act and "1 of 1" in lonely.headline
    nobody = decide([vote("a", "down", reachable=False), vote("b", "not-run")], None)
    assert not nobody.act and "none of the 2 region(s)" in nobody.headline
    # Spellings of one target are one target; two workers are a usage error.
    same = decide([vote("a", "down", target="https://W.example/"), vote("b", "down")], None)
    assert same.act
    with pytest.raises(ValueError, match="different targets"):
        decide([vote("a", "down"), vote("b", "down", target="https://other.example")], None)
    only = decide([vote("a", "down"), vote("b", "up", target="https://other.example")], 1,
                  target="https://w.example")
    assert only.act and "b: ignored" in only.lines[0]


def test_heal_usage_errors_exit_4(world: World, tmp_path: Path) -> None:
    assert world.synthetics("heal").returncode == 4
    missing = world.synthetics("heal", "--summaries", str(tmp_path / "nope"))
    assert missing.returncode == 4 and "is not a folder" in missing.stderr
    bad = world.synthetics("heal", "--summaries", str(tmp_path), "--cooldown-seconds", "-1")
    assert bad.returncode == 4 and "--cooldown-seconds='-1'" in bad.stderr
    leaky = world.synthetics("heal", "--summaries", str(tmp_path), "--alertmanager",
                             "ftp://user:s3cr3tpw@alertmanager.example")
    assert leaky.returncode == 4 and "must be an http:// or https:// URL" in leaky.stderr
    assert "s3cr3tpw" not in leaky.stdout + leaky.stderr
    assert "Traceback" not in missing.stderr + bad.stderr + leaky.stderr


def test_heal_deploys_nothing_for_a_limit(
        world: World, reference_worker: Callable[..., ReferenceWorker]) -> None:
    """`synthetics heal` acts on who failed too: /health rate limited by Cloudflare (1015) is a
    limit, escalated with its explanation; nothing is deployed (exit 1: someone has to act)."""
    world.faults.write_text("cf_1015\n")
    worker = reference_worker(faults_file=world.faults)
    control = reference_worker().url + "/"
    summary = world.region("eu", worker.url, control)
    assert summary["heal"]["health"] == "down"
    result = world.heal("state-heal", control, "--quorum", "1")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "LIMIT: not deploying: a limit failure (limit: Cloudflare 1015" in result.stdout
    assert "provider status unknown" in result.stdout  # the closed port: reported, not blocking
    assert [c[0] for c in world.calls() if c[0] != "deployments"] == []
