"""Cloudflare's deployments list as the guardrails' shared memory (synthetics.selfheal.cloudflare):
the
gate's cooldown, hourly cap and fail-closed refusals on wrangler 4's `deployments list --json`
output, and the ladder's pre-deploy gates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synthetics.clock import format_utc
from synthetics.selfheal.cloudflare import (
    TAG,
    DeploymentsGate,
    list_argv,
    parse_deployments,
    tag_message,
    tagged_argv,
    worker_name,
)
from synthetics.selfheal.deployment import Deployment
from synthetics.selfheal.ladder import Ladder, StateStore, Step, StepResult

NOW = 1_800_000_000.0
STEP = Step("deploy", ("wrangler", "deploy"), 10)
WORKER = Deployment("w-production", "production", "wrangler.toml", "http://w")


def entry(ago: float, message: str | None = None, author: str = "ops@example.com",
          triggered_by: str = "upload") -> dict[str, object]:
    """One deployment in wrangler 4's --json shape."""
    annotations = {"workers/triggered_by": triggered_by}
    if message is not None:
        annotations["workers/message"] = message
    return {"annotations": annotations, "author_email": author,
            "created_on": format_utc(NOW - ago).replace("Z", ".000000Z"), "id": f"dep-{ago:g}",
            "source": "wrangler", "strategy": "percentage",
            "versions": [{"percentage": 100, "version_id": "10000000-0000-0000-0000-0000"}]}


def gate(items: object, *, ok: bool = True, output: str | None = None, run_id: str = "run0",
         cooldown: float = 600, per_hour: int = 3) -> DeploymentsGate:
    text = output if output is not None else json.dumps(items, indent=2)
    result = StepResult(0 if ok else 1, output=text)
    return DeploymentsGate(read=lambda: result, worker="w-production", run_id=run_id,
                           cooldown_seconds=cooldown, max_per_hour=per_hour, clock=lambda: NOW)


def test_parses_wrangler_4_json_after_warning_lines() -> None:
    text = "▲ [WARNING] something on stderr\n" + json.dumps([entry(300, "hello")], indent=2)
    (d,) = parse_deployments(text)
    assert (d.created, d.author, d.message, d.triggered_by) == (
        NOW - 300, "ops@example.com", "hello", "upload")
    for bad in ("", "✘ [ERROR] boom", "[1, 2]", '{"a": 1}', "[{\"created_on\": \"yesterday\"}]"):
        with pytest.raises(ValueError):
            parse_deployments(bad)


def test_anyones_deployment_inside_the_cooldown_refuses() -> None:
    refusal = gate([entry(3600 * 5), entry(240, "hotfix", author="jane@example.com")])(STEP)
    assert refusal is not None and refusal.startswith("cooldown: Cloudflare lists a deployment "
                                                      "of w-production 4 min ago by "
                                                      "jane@example.com ('hotfix')")
    assert gate([entry(601)])(STEP) is None  # outside the cooldown
    assert gate([])(STEP) is None


def test_hourly_cap_counts_the_suites_tagged_runs_only() -> None:
    ours = [entry(700 + i * 600, tag_message("redeploy", f"r{i}")) for i in range(3)]
    theirs = [entry(650, "a person's deploy")]
    refusal = gate(ours + theirs)(STEP)
    assert refusal is not None and refusal.startswith("hourly cap: Cloudflare lists 3 "
                                                      "remediation(s) of w-production")
    assert gate(ours[:2] + theirs)(STEP) is None
    # A deploy and a rollback of one run are one remediation.
    same_run = [entry(700, tag_message("deploy", "r1")), entry(690, tag_message("back", "r1")),
                entry(800, tag_message("deploy", "r2"))]
    assert gate(same_run)(STEP) is None
    assert gate(same_run, per_hour=2)(STEP) is not None


def test_the_runs_own_deploy_does_not_block_its_rollback() -> None:
    own = [entry(30, tag_message("redeploy", "run0"))]
    assert gate(own, run_id="run0")(STEP) is None
    assert gate(own, run_id="other")(STEP) is not None


def test_unreadable_list_refuses_fail_closed() -> None:
    unauth = gate(None, ok=False, output="✘ [ERROR] it's necessary to set a CLOUDFLARE_API_TOKEN")
    refusal = unauth(STEP)
    assert refusal is not None and refusal.startswith("refused: cannot read Cloudflare's "
                                                      "deployments list of w-production")
    assert "wrangler is not authenticated" in refusal and "fail closed" in refusal
    garbage = gate(None, output="<html>502 Bad Gateway</html>")(STEP)
    assert garbage is not None and "no JSON array" in garbage


def test_messages_carry_the_tag_and_run_id_within_120_characters() -> None:
    argv = tagged_argv(("wrangler", "deploy", "--env", "production"), "abc", "redeploy")
    assert argv[-2:] == ("--message", f"redeploy {TAG} run abc")
    long = tagged_argv(("wrangler", "rollback", "--message", "x" * 200, "--yes"), "abc", "-")
    assert long[3].endswith(f"{TAG} run abc") and len(long[3]) <= 120 and long[4] == "--yes"


def test_worker_name_follows_wranglers_environment_naming(tmp_path: Path) -> None:
    config = tmp_path / "wrangler.toml"
    config.write_text('name = "w"\nmain = "x.js"\n[env.staging]\nname = "w-stage"\n'
                      '[env.production]\nvars = { A = "1" }\n')
    assert worker_name(config, "production") == "w-production"
    assert worker_name(config, "staging") == "w-stage"
    assert worker_name(tmp_path / "missing.toml", "production") is None
    assert list_argv("wrangler", None, "c.toml", "p") == (
        "wrangler", "deployments", "list", "--config", "c.toml", "--env", "p", "--json")


def test_a_refusing_gate_stops_the_ladder_before_any_step(tmp_path: Path) -> None:
    ran: list[str] = []
    seen: list[str] = []

    def refuse_rollback(step: Step) -> str | None:
        seen.append(step.kind)
        return "silenced: maintenance" if step.kind == "rollback" else None

    def broken(step: Step) -> str | None:
        raise OSError("disk gone")

    def ladder(*gates: object) -> Ladder:
        return Ladder(target="http://w", store=StateStore(tmp_path / str(len(seen)), WORKER),
                      deploy=STEP, rollback=Step("rollback", ("wrangler", "rollback"), 10),
                      run=lambda s: ran.append(s.kind) or StepResult(0),  # type: ignore[func-returns-value]
                      health=lambda: (False, "down"), control=lambda: (True, "up"),
                      confirm_seconds=0, verify_seconds=0, gates=gates,  # type: ignore[arg-type]
                      sleep=lambda s: None)

    outcome = ladder(refuse_rollback).remediate("down")
    assert ran == ["deploy"] and seen == ["deploy", "deploy", "rollback"]
    assert outcome.status == "silenced" and not outcome.escalate
    assert outcome.headline == "not running the rollback: silenced: maintenance"
    ran.clear()
    outcome = ladder(broken).remediate("down")
    assert ran == [] and outcome.status == "refused" and outcome.escalate
    assert "a pre-deploy gate failed (OSError: disk gone)" in outcome.headline


def test_in_a_dry_run_a_refusal_is_reported_and_the_dry_run_goes_on(tmp_path: Path) -> None:
    unreadable = gate(None, ok=False, output="✘ [ERROR] not authenticated")
    outcome = Ladder(target="http://w", store=StateStore(tmp_path, WORKER), deploy=STEP,
                     rollback=Step("rollback", ("wrangler", "rollback"), 10),
                     run=lambda s: pytest.fail("a dry run ran a step"),
                     health=lambda: (False, "down"), control=lambda: (True, "up"),
                     confirm_seconds=0, dry_run=True, gates=(unreadable,)).remediate("down")
    assert outcome.status == "dry-run" and not outcome.steps
    assert any(d.startswith("dry run: a real run would not run the deploy: refused: cannot read "
                            "Cloudflare's deployments list") for d in outcome.details)
