"""The self-healing building blocks in-process: secret scrubbing, the guardrails, the state store
and its lock, the remediation ladder driven by a fake clock, and the step runner driving the fake
`wrangler` in tests/fakes (ok, fail, unauthenticated, hang, missing)."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from synthetics.clock import format_utc
from synthetics.scrub import is_secret_name, scrub, scrub_data, secret_values
from synthetics.selfheal.deployment import Deployment, DeploymentError, read_deployment
from synthetics.selfheal.ladder import (
    Ladder,
    StateError,
    StateStore,
    Step,
    StepResult,
    append_audit,
    describe_result,
    gate_status,
    guardrail,
    run_step,
)
from synthetics.selfheal.plugin import deploy_argv, rollback_argv
from synthetics.selfheal.settings import (
    DEFAULT_CONTROL_URL,
    OPTIONS,
    RedeploySettings,
    default_state_dir,
)

FAKES = Path(__file__).resolve().parent / "fakes"
TOKEN = "tok-UNITCANARY-7f3a9c1e5b"
ACCOUNT = "acct-UNITCANARY-0042"
TARGET = "https://worker.example.test"
DEPLOYMENT = Deployment("wfa-orchestration-worker-production-production", "production",
                        "wrangler-production-simple.toml", TARGET)


# --- scrubbing -------------------------------------------------------------------------------

def test_scrub_replaces_secret_values_with_their_name() -> None:
    env = {"CLOUDFLARE_API_TOKEN": TOKEN, "CLOUDFLARE_ACCOUNT_ID": ACCOUNT, "HOME": "/root"}
    text = f"using {TOKEN} for account {ACCOUNT} in /root"
    cleaned = scrub(text, env)
    assert TOKEN not in cleaned and ACCOUNT not in cleaned
    assert "[CLOUDFLARE_API_TOKEN redacted]" in cleaned
    assert "/root" in cleaned  # not a secret: left alone


def test_secret_names_cover_credentials_not_ordinary_variables() -> None:
    for name in ("CLOUDFLARE_API_TOKEN", "CF_API_TOKEN", "GITHUB_TOKEN", "SLACK_WEBHOOK_URL",
                 "SYNTHETICS_ALERT_WEBHOOK",
                 "DB_PASSWORD", "AWS_SECRET_ACCESS_KEY", "MY_API_KEY", "CLOUDFLARE_ACCOUNT_ID"):
        assert is_secret_name(name), name
    for name in ("PATH", "HOME", "SSH_AUTH_SOCK", "TOKENIZER_MODE", "CI"):
        assert not is_secret_name(name), name


def test_short_values_are_not_treated_as_secrets() -> None:
    assert secret_values({"GITHUB_TOKEN": "1"}) == {}
    assert scrub("1 2 3", {"GITHUB_TOKEN": "1"}) == "1 2 3"


def test_scrub_data_scrubs_nested_strings_and_secret_keys() -> None:
    env = {"CLOUDFLARE_API_TOKEN": TOKEN}
    data = {"GIT_URL": f"https://ci:{TOKEN}@git.example/repo.git",
            "nested": [{"out": f"token={TOKEN}"}], "MY_PASSWORD": "not-from-env-hunter2",
            "count": 3}
    cleaned = scrub_data(data, env)
    assert TOKEN not in json.dumps(cleaned)
    assert cleaned["MY_PASSWORD"] == "[redacted]"
    assert cleaned["count"] == 3
    assert data["nested"][0]["out"] == f"token={TOKEN}"  # the input is not modified


# --- options and commands --------------------------------------------------------------------

def settings(**overrides: object) -> RedeploySettings:
    values = {o.name: o.default for o in OPTIONS}
    values.update(overrides)
    return RedeploySettings(**values)  # type: ignore[arg-type]


def test_defaults_follow_the_maintenance_document() -> None:
    s = settings()
    assert not s.enabled
    assert s.control_url == DEFAULT_CONTROL_URL == "https://www.cloudflarestatus.com/"
    assert (s.confirm_seconds, s.cooldown_seconds) == (60.0, 600.0)
    assert deploy_argv(s) == ("wrangler", "deploy", "--config", "wrangler-production-simple.toml",
                              "--env", "production")
    assert rollback_argv(s)[:6] == ("wrangler", "rollback", "--config",
                                    "wrangler-production-simple.toml", "--env", "production")
    assert "--yes" in rollback_argv(s) and "--message" in rollback_argv(s)


def test_deploy_args_are_appended_as_separate_arguments() -> None:
    s = settings(deploy_args=("--keep-vars", "--var", "A:b c"))
    assert deploy_argv(s)[-3:] == ("--keep-vars", "--var", "A:b c")


def test_default_state_dir_follows_xdg() -> None:
    assert default_state_dir({"XDG_STATE_HOME": "/var/lib/x"}) == Path(
        "/var/lib/x/victory36-synthetics")


# --- guardrails and state --------------------------------------------------------------------

def test_guardrail_cooldown_and_hourly_cap() -> None:
    now = 1_700_000_000.0
    assert guardrail([], now, 600, 3) is None
    refusal = guardrail([now - 100], now, 600, 3)
    assert refusal is not None and refusal.startswith("cooldown") and "100 s ago" in refusal
    assert guardrail([now - 700], now, 600, 3) is None
    cap = guardrail([now - 3000, now - 2000, now - 1000], now, 600, 3)
    assert cap is not None and cap.startswith("hourly cap")
    assert guardrail([now - 4000, now - 2000, now - 1000], now, 600, 3) is None


def test_cooldown_runs_from_the_newest_attempt() -> None:
    """Two attempts inside the hour: the newest (100 s ago) is inside the cooldown even though
    the oldest (50 min ago) is not, whatever order the state file lists them in."""
    now = 1_700_000_000.0
    for attempts in ([now - 3000, now - 100], [now - 100, now - 3000]):
        refusal = guardrail(attempts, now, 600, 3)
        assert refusal is not None and "cooldown" in refusal
        assert "hourly cap" not in refusal
    # ...and once the newest is past the cooldown, two attempts are still under a cap of 3.
    assert guardrail([now - 3000, now - 601], now, 600, 3) is None


def test_hourly_cap_counts_only_the_last_hour() -> None:
    now = 1_700_000_000.0
    within = [now - 3599, now - 2000, now - 1000]
    refusal = guardrail(within, now, 600, 3)
    assert refusal is not None and "hourly cap" in refusal
    assert guardrail(within, now, 600, 4) is None  # under a cap of 4
    assert guardrail([now - 3600, now - 2000, now - 1000], now, 600, 3) is None  # an hour ago
    assert guardrail([now - 1000] * 2, now, 1000, 3) is None  # the cooldown ends at 1000 s


@pytest.mark.parametrize(("refusal", "status"), [
    ("cooldown: the last remediation started at ...", "cooldown"),
    ("hourly cap: 3 remediations in the last hour", "hourly-cap"),
    ("silenced until 2026-12-01T12:00:00Z by ops", "silenced"),
    ("provider incident: Cloudflare reports a Workers outage", "provider-incident"),
    ("refused: a pre-deploy gate failed (RuntimeError: boom)", "refused"),
    ("a cooldown of an hour is in force", "refused"),  # the prefix decides, not a mention
])
def test_a_gates_refusal_gets_the_status_its_prefix_names(refusal: str, status: str) -> None:
    assert gate_status(refusal) == status


def test_refusals_say_when_the_next_attempt_is_allowed() -> None:
    now = 1_700_000_000.0
    cooldown = guardrail([now - 100], now, 600, 3)
    assert cooldown is not None
    assert format_utc(now + 500) in cooldown and format_utc(now - 100) in cooldown
    cap = guardrail([now - 3000, now - 2000, now - 1000], now, 600, 3)
    assert cap is not None
    assert format_utc(now - 3000 + 3600) in cap  # when the oldest leaves the hour
    cap = guardrail([now - 3000, now - 2000, now - 1000], now, 600, 2)
    assert cap is not None and format_utc(now - 2000 + 3600) in cap


def test_state_file_records_the_target_and_readable_times(tmp_path: Path) -> None:
    store = StateStore(tmp_path, DEPLOYMENT)
    store.record_attempt(1_700_000_000.0)
    data = json.loads(store.state_path.read_text())
    assert data["target"] == DEPLOYMENT.url and data["attempts"] == [1_700_000_000.0]
    assert (data["worker"], data["env"]) == (DEPLOYMENT.worker, DEPLOYMENT.env)
    assert data["config"] == DEPLOYMENT.config  # which wrangler config the state belongs to
    assert data["attempts_utc"] == [format_utc(1_700_000_000.0)]


def test_state_keeps_a_day_of_attempts(tmp_path: Path) -> None:
    store = StateStore(tmp_path, DEPLOYMENT)
    now = 1_700_000_000.0
    for t in (now - 88_000, now - 86_400, now - 86_399, now - 60):
        store.record_attempt(t)
    store.record_attempt(now)
    assert store.attempts() == [now - 86_399, now - 60, now]


def test_store_creates_its_directory_and_tolerates_a_missing_lock(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "a" / "b", DEPLOYMENT)
    store.unlock()  # nothing held: nothing to do
    assert store.holder() == "unknown"
    store.ensure()
    assert store.state_path.parent.is_dir()
    store.lock_path.write_text("\n")
    assert store.holder() == "unknown"
    assert store.try_lock("me")
    store.unlock()
    store.unlock()  # twice is harmless


def test_audit_log_is_appended_in_utf8_with_keys_in_order(tmp_path: Path) -> None:
    store = StateStore(tmp_path, DEPLOYMENT)
    store.ensure()
    store.audit({"time": "t", "event": "outcome", "headline": "déployé"})
    store.audit({"b": 1, "a": 2})
    lines = (tmp_path / "audit.jsonl").read_bytes().decode("utf-8").splitlines()
    assert lines == ['{"time": "t", "event": "outcome", "headline": "déployé"}',
                     '{"b": 1, "a": 2}']


def test_audit_log_directories_are_made_and_odd_values_written_as_text(tmp_path: Path) -> None:
    log = tmp_path / "state" / "nested" / "audit.jsonl"
    assert append_audit(log, {"event": "outcome", "config": tmp_path / "wrangler.toml"}) is None
    assert json.loads(log.read_text()) == {"event": "outcome",
                                           "config": str(tmp_path / "wrangler.toml")}


def test_an_audit_record_that_cannot_be_written_says_why_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "audit.jsonl").mkdir()
    assert append_audit(tmp_path / "audit.jsonl", {"event": "x"}) == (
        f"the audit log {tmp_path / 'audit.jsonl'} could not be written: IsADirectoryError: "
        "Is a directory")
    looped: dict[str, object] = {}
    looped["self"] = looped
    why = append_audit(tmp_path / "other.jsonl", looped)
    assert why is not None and why.startswith(
        f"the audit log {tmp_path / 'other.jsonl'} could not be written: RecursionError: "
        "maximum recursion depth exceeded")


def test_state_survives_a_new_store(tmp_path: Path) -> None:
    StateStore(tmp_path, DEPLOYMENT).record_attempt(1000.0)
    assert StateStore(tmp_path, DEPLOYMENT).attempts() == [1000.0]
    other = Deployment("other-worker-production", "production", "w.toml", TARGET)
    assert StateStore(tmp_path, other).attempts() == []
    staging = Deployment(DEPLOYMENT.worker, "staging", "w.toml", TARGET)
    assert StateStore(tmp_path, staging).attempts() == []


def test_state_belongs_to_the_deployment_not_the_url(tmp_path: Path) -> None:
    StateStore(tmp_path, DEPLOYMENT).record_attempt(1000.0)
    elsewhere = Deployment(DEPLOYMENT.worker, DEPLOYMENT.env, "/srv/other/copy.toml",
                           "http://localhost:8787")
    store = StateStore(tmp_path, elsewhere)
    assert store.attempts() == [1000.0] and store.lock_path == StateStore(
        tmp_path, DEPLOYMENT).lock_path
    store.record_attempt(2000.0)
    saved = json.loads(store.state_path.read_text())
    assert saved["worker"] == DEPLOYMENT.worker and saved["target"] == "http://localhost:8787"


@pytest.mark.parametrize("content", [
    "{not json", "[]", '{"attempts": "soon"}', '{"attempts": ["x"]}', '{"attempts": [true]}',
    '{"worker": "w"}', "[" * 100_000 + "]" * 100_000, b"\xff\xfe{}",
])
def test_unreadable_state_file_is_an_error_not_empty(tmp_path: Path,
                                                    content: str | bytes) -> None:
    store = StateStore(tmp_path, DEPLOYMENT)
    if isinstance(content, bytes):
        store.state_path.write_bytes(content)
    else:
        store.state_path.write_text(content)
    with pytest.raises(StateError, match=r"the state file .*state-\w+\.json"):
        store.attempts()


@pytest.mark.parametrize(("content", "why"), [
    ('{"attempts": "soon"}', "(TypeError: attempts is not a list)"),
    ('{"attempts": [0]}', "(ValueError: an attempt is not a time)"),
    ('{"attempts": [-1700000000]}', "(ValueError: an attempt is not a time)"),
    ('{"attempts": [1e11]}', "(ValueError: an attempt is not a time)"),  # year 5138: not a time
    ('{"attempts": [true]}', "(ValueError: an attempt is not a time)"),
    ('{"worker": "w"}', "(KeyError: 'attempts')"),
])
def test_invalid_state_says_what_is_wrong(tmp_path: Path, content: str, why: str) -> None:
    store = StateStore(tmp_path, DEPLOYMENT)
    store.state_path.write_text(content)
    with pytest.raises(StateError) as caught:
        store.attempts()
    assert str(caught.value) == f"the state file {store.state_path} is not valid state {why}"


def test_invalid_state_detail_is_cut_to_one_short_line(tmp_path: Path) -> None:
    store = StateStore(tmp_path, DEPLOYMENT)
    store.state_path.write_text(json.dumps({"attempts": ["soon\n" + "x" * 300]}))
    with pytest.raises(StateError) as caught:
        store.attempts()
    detail = str(caught.value).split("(ValueError: ", 1)[1][:-1]
    assert detail.startswith("could not convert string to float: 'soon\\nxxx")
    assert len(detail) == 120 and "\n" not in str(caught.value)


def test_any_positive_time_is_valid_state(tmp_path: Path) -> None:
    store = StateStore(tmp_path, DEPLOYMENT)
    store.state_path.write_text('{"attempts": [1, 0.5, 99999999999]}')
    assert store.attempts() == [1.0, 0.5, 99999999999.0]


def test_a_state_file_that_cannot_be_read_says_why(tmp_path: Path) -> None:
    store = StateStore(tmp_path, DEPLOYMENT)
    store.state_path.mkdir()  # a directory where the file should be
    with pytest.raises(StateError) as caught:
        store.attempts()
    assert str(caught.value) == f"the state file {store.state_path} cannot be read (Is a directory)"
    store.state_path.rmdir()
    store.state_path.write_bytes(b"\xff\xfe{}")
    with pytest.raises(StateError, match=r"cannot be read \('utf-8' codec can't decode byte 0xff"):
        store.attempts()


def test_lock_is_exclusive_until_released(tmp_path: Path) -> None:
    first, second = StateStore(tmp_path, DEPLOYMENT), StateStore(tmp_path, DEPLOYMENT)
    assert first.try_lock("first holder")
    assert not second.try_lock("second holder")
    assert second.holder() == "first holder"
    first.unlock()
    assert second.try_lock("second holder")
    second.unlock()


# --- the ladder, on a fake clock ---------------------------------------------------------------

class World:
    """A worker whose health the fake deploy and rollback can change, on a fake clock."""

    def __init__(self, tmp_path: Path, *, healthy: bool = False, control: bool = True,
                 deploy: str = "ok", rollback: str = "ok", heal_on_probe: int | None = None):
        self.now = 1_700_000_000.0
        self.healthy = healthy
        self.control_ok = control
        self.plan = {"deploy": deploy, "rollback": rollback}
        self.heal_on_probe = heal_on_probe
        self.probes = 0
        self.ran: list[str] = []
        self.store = StateStore(tmp_path / "state", DEPLOYMENT)
        self.said: list[str] = []

    def health(self) -> tuple[bool, str]:
        self.probes += 1
        if self.heal_on_probe is not None and self.probes >= self.heal_on_probe:
            self.healthy = True
        return self.healthy, "HTTP 200, status 'healthy'" if self.healthy else "status 'degraded'"

    def run(self, step: Step) -> StepResult:
        self.ran.append(step.kind)
        self.now += 3
        mode = self.plan[step.kind]
        if mode == "raise":
            raise RuntimeError("deploy webhook unreachable")
        if mode == "heal":
            self.healthy = True
        return StepResult(1 if mode == "fail" else 0, output=f"{step.kind} output",
                          duration=3.0, command=step.command)

    def ladder(self, **kw: object) -> Ladder:
        def sleep(seconds: float) -> None:
            self.now += seconds

        args: dict[str, object] = dict(
            target=TARGET, store=self.store,
            deploy=Step("deploy", ("wrangler", "deploy"), 30, TARGET, "why", {}),
            rollback=Step("rollback", ("wrangler", "rollback"), 30, TARGET, "why", {}),
            run=self.run, health=self.health, control=lambda: (self.control_ok, "HTTP 200"),
            control_url="http://127.0.0.1:9/", confirm_seconds=60, verify_seconds=30,
            interval=5, cooldown_seconds=600, max_per_hour=3, run_id="test",
            clock=lambda: self.now, sleep=sleep, say=self.said.append)
        args.update(kw)
        return Ladder(**args)  # type: ignore[arg-type]

    def audit(self) -> list[dict[str, object]]:
        path = self.store.audit_path
        return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def test_recovered_by_redeploy(tmp_path: Path) -> None:
    world = World(tmp_path, deploy="heal")
    outcome = world.ladder().remediate("test_health_reports_healthy failed")
    assert outcome.status == "recovered-by-redeploy" and not outcome.escalate
    assert world.ran == ["deploy"]
    assert world.probes == 13 + 1  # 60 s window at 5 s: 13 failing probes, then one healthy
    assert [r["event"] for r in world.audit()] == ["deploy", "outcome"]
    assert world.audit()[0]["exit_code"] == 0 and world.audit()[0]["output"] == "deploy output"
    assert len(world.store.attempts()) == 1


def test_recovered_by_rollback(tmp_path: Path) -> None:
    world = World(tmp_path, deploy="ok", rollback="heal")
    outcome = world.ladder().remediate("why")
    assert outcome.status == "recovered-by-rollback"
    assert world.ran == ["deploy", "rollback"]
    assert outcome.steps[0].healthy_after is False and outcome.steps[1].healthy_after is True


def test_still_down_escalates(tmp_path: Path) -> None:
    world = World(tmp_path)
    outcome = world.ladder().remediate("why")
    assert outcome.status == "still-down" and outcome.escalate
    assert "escalate" in outcome.headline
    assert world.audit()[-1]["status"] == "still-down"


def test_failed_deploy_goes_straight_to_rollback(tmp_path: Path) -> None:
    world = World(tmp_path, deploy="fail", rollback="heal")
    outcome = world.ladder().remediate("why")
    assert outcome.status == "recovered-by-rollback"
    assert outcome.steps[0].result.startswith("FAILED: exit 1")
    assert outcome.steps[0].healthy_after is None  # not verified: nothing was deployed


def test_a_raising_hook_is_a_failed_step_not_a_crash(tmp_path: Path) -> None:
    world = World(tmp_path, deploy="raise", rollback="raise")
    outcome = world.ladder().remediate("why")
    assert outcome.status == "still-down"
    assert "raised RuntimeError: deploy webhook unreachable" in outcome.steps[0].result
    assert outcome.steps[0].duration == 3.0  # on the ladder's clock (the hook took 3 s)


def test_transient_failure_is_not_deployed(tmp_path: Path) -> None:
    world = World(tmp_path, heal_on_probe=2)
    outcome = world.ladder().remediate("why")
    assert outcome.status == "transient" and world.ran == []
    assert world.store.attempts() == []  # no cooldown is started by doing nothing


def test_control_down_means_runner_network_down(tmp_path: Path) -> None:
    world = World(tmp_path, control=False)
    outcome = world.ladder().remediate("why")
    assert outcome.status == "network-down" and world.ran == []
    assert "runner network down" in outcome.headline


def test_second_run_inside_cooldown_deploys_nothing(tmp_path: Path) -> None:
    world = World(tmp_path)
    assert world.ladder().remediate("why").status == "still-down"
    world.now += 120
    second = world.ladder().remediate("why")
    assert second.status == "cooldown" and "cooldown" in second.headline
    assert world.ran == ["deploy", "rollback"]
    world.now += 600
    assert world.ladder().remediate("why").status == "still-down"  # the cooldown is over


def test_hourly_cap(tmp_path: Path) -> None:
    world = World(tmp_path)
    for _ in range(2):
        assert world.ladder(cooldown_seconds=0, max_per_hour=2).remediate("why").status == \
            "still-down"
    capped = world.ladder(cooldown_seconds=0, max_per_hour=2).remediate("why")
    assert capped.status == "hourly-cap" and capped.escalate


def test_held_lock_means_another_run_acts(tmp_path: Path) -> None:
    world = World(tmp_path)
    other = StateStore(tmp_path / "state", DEPLOYMENT)
    other.ensure()
    assert other.try_lock("pid 1 elsewhere")
    outcome = world.ladder().remediate("why")
    other.unlock()
    assert outcome.status == "locked" and world.ran == []
    assert "pid 1 elsewhere" in outcome.headline


def test_dry_run_prints_the_commands_and_runs_nothing(tmp_path: Path) -> None:
    world = World(tmp_path)
    outcome = world.ladder(dry_run=True).remediate("why")
    assert outcome.status == "dry-run" and world.ran == []
    assert "would run: wrangler deploy" in outcome.headline
    assert any(d.startswith("then, if /health is still down") and "wrangler rollback" in d
               for d in outcome.details)
    assert world.store.attempts() == []


def test_unreadable_state_refuses_to_deploy_and_is_audited(tmp_path: Path) -> None:
    world = World(tmp_path)
    world.store.ensure()
    world.store.state_path.write_text('{"attempts": [17000')  # cut off mid-write
    outcome = world.ladder().remediate("why")
    assert outcome.status == "error" and outcome.escalate and world.ran == []
    assert world.probes == 0  # refused before anything else
    assert outcome.headline.startswith(f"not deploying: the state file {world.store.state_path}"
                                       " is not valid state (JSONDecodeError")
    assert "cooldown and the hourly cap cannot be checked" in outcome.headline
    (record,) = world.audit()
    assert record["status"] == "error" and record["headline"] == outcome.headline
    assert record["worker"] == DEPLOYMENT.worker and record["target"] == TARGET


@pytest.mark.parametrize("error", [RecursionError("maximum recursion depth exceeded"),
                                   KeyError("status"), ValueError("bad\nsecond line")])
def test_an_exception_in_the_ladder_is_an_audited_outcome(tmp_path: Path,
                                                          error: Exception) -> None:
    world = World(tmp_path)

    def broken_health() -> tuple[bool, str]:
        raise error

    outcome = world.ladder(health=broken_health).remediate("why")
    assert outcome.status == "error" and outcome.escalate and world.ran == []
    assert outcome.headline.startswith(f"self-healing failed: {type(error).__name__}: ")
    assert "\n" not in outcome.headline and "nothing run" in outcome.headline
    assert [r["status"] for r in world.audit()] == ["error"]
    assert world.store.try_lock("next run")  # the lock was released
    world.store.unlock()


def test_an_audit_log_that_cannot_be_written_is_said(tmp_path: Path) -> None:
    world = World(tmp_path, deploy="heal")
    world.store.ensure()
    world.store.audit_path.mkdir()  # a folder where the log should be: appends fail
    outcome = world.ladder().remediate("why")
    assert outcome.status == "recovered-by-redeploy"
    problems = [d for d in outcome.details if d.startswith("the audit log")]
    assert len(problems) == 2  # the deploy's record and the outcome's
    assert f"the audit log {world.store.audit_path} could not be written: IsADirectoryError" \
        in problems[0]


# --- the step runner, with the fake wrangler ---------------------------------------------------

def fake_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{FAKES}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["FAKE_WRANGLER_LOG"] = str(tmp_path / "wrangler-calls.jsonl")
    env.update(extra)
    return env


def calls(tmp_path: Path) -> list[dict[str, object]]:
    path = tmp_path / "wrangler-calls.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def step(env: dict[str, str], *argv: str, timeout: float = 20) -> Step:
    return Step("deploy", ("wrangler", *argv) if argv else ("wrangler", "deploy"), timeout,
                TARGET, "why", env)


def test_runner_passes_argv_and_environment(tmp_path: Path) -> None:
    env = fake_env(tmp_path, CLOUDFLARE_API_TOKEN=TOKEN)
    result = run_step(step(env, "deploy", "--config", "w.toml", "--env", "production"))
    assert result.ok, result
    assert "Uploaded wfa-orchestration-worker-production" in result.output
    assert "\x1b[" not in result.output  # colour codes stripped
    (call,) = calls(tmp_path)
    assert call["argv"] == ["deploy", "--config", "w.toml", "--env", "production"]
    assert call["env"]["CLOUDFLARE_API_TOKEN"] == TOKEN  # type: ignore[index]


def test_runner_reports_a_failing_command(tmp_path: Path) -> None:
    result = run_step(step(fake_env(tmp_path, FAKE_WRANGLER_PLAN="deploy=fail")))
    assert result.exit_code == 1 and not result.ok and result.error is None
    assert "upload rejected" in result.output
    assert describe_result(result).startswith("FAILED: exit 1")


def test_runner_explains_missing_authentication(tmp_path: Path) -> None:
    result = run_step(step(fake_env(tmp_path, FAKE_WRANGLER_PLAN="deploy=unauth")))
    assert "not authenticated: set CLOUDFLARE_API_TOKEN" in describe_result(result)


def _group_alive(pgid: int) -> bool:
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def test_runner_kills_a_hanging_command_and_its_children(tmp_path: Path) -> None:
    # 4 s: long enough for the fake to start and print even on a loaded machine.
    result = run_step(step(fake_env(tmp_path, FAKE_WRANGLER_PLAN="deploy=hang"), timeout=4))
    assert result.error == "timed out after 4 s (killed)" and result.exit_code is None
    assert "Uploading..." in result.output  # what it printed before hanging is kept
    (call,) = calls(tmp_path)
    pgid = int(call["pid"])  # the runner starts the command in a new session: pid == pgid
    for _ in range(50):  # SIGKILL is delivered asynchronously; give the kernel a moment
        if not _group_alive(pgid):
            break
        time.sleep(0.1)
    assert not _group_alive(pgid), "the hanging command's child survived"


def test_runner_reports_missing_wrangler(tmp_path: Path) -> None:
    env = dict(os.environ, PATH=str(tmp_path))
    result = run_step(step(env))
    assert result.error is not None and "'wrangler' not found on PATH" in result.error
    assert "--wrangler" in result.error
    missing = run_step(Step("deploy", (str(tmp_path / "nope"), "deploy"), 5, env=env))
    assert missing.error is not None and "not found:" in missing.error


def test_runner_scrubs_secrets_from_the_output(tmp_path: Path) -> None:
    env = fake_env(tmp_path, CLOUDFLARE_API_TOKEN=TOKEN, CLOUDFLARE_ACCOUNT_ID=ACCOUNT,
                   FAKE_WRANGLER_ECHO_SECRETS="1")
    result = run_step(step(env))
    assert result.ok
    assert TOKEN not in result.output and ACCOUNT not in result.output
    assert "[CLOUDFLARE_API_TOKEN redacted]" in result.output


@pytest.mark.parametrize("bad", [
    ("--confirm-seconds", "-1"), ("--control-url", "ftp://x"), ("--max-redeploys-per-hour", "0"),
    ("--deploy-args", "'unbalanced"),
])
def test_bad_option_values_are_one_line_usage_errors(
    pytester: pytest.Pytester, bad: tuple[str, str]
) -> None:
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", f"{bad[0]}={bad[1]}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert bad[0] in err and "Traceback" not in err


def test_help_lists_the_option_names_scripts_rely_on(pytester: pytest.Pytester) -> None:
    out = pytester.runpytest_subprocess("--help").stdout.str()
    for flag in ("--redeploy", "--redeploy-dry-run", "--control-url", "--confirm-seconds",
                 "--verify-seconds", "--cooldown-seconds", "--state-dir"):
        assert f"  {flag}" in out, flag




# --- what is deployed: the wrangler configuration ---------------------------------------------

SAMPLE_CONFIG = Path(__file__).resolve().parent / "fixtures" / "sample-worker" / \
    "wrangler-production-simple.toml"


def test_the_operators_configuration_names_the_deployed_worker(tmp_path: Path) -> None:
    d = read_deployment(SAMPLE_CONFIG, "production", "HTTPS://Worker.Example.test:443/")
    assert (d.worker, d.env) == ("wfa-orchestration-worker-production-production", "production")
    assert d.url == "https://worker.example.test"
    # Relative to the folder the run starts from, as wrangler reads it.
    (tmp_path / "w.toml").write_text(SAMPLE_CONFIG.read_text())
    assert read_deployment("w.toml", "production", TARGET, cwd=tmp_path).key == d.key


@pytest.mark.parametrize(("text", "suffix", "worker"), [
    ('name = "api"\n[env.production]\nname = "api-prod"\n', ".toml", "api-prod"),
    ('name = "api"\n', ".toml", "api-production"),  # no environments at all: a warning there
    ('name = "api"\n[env.production.vars]\nA = "1"\n', ".toml", "api-production"),
    ('{\n  // the worker\n  "name": "api", /* inline */ "main": "a//b.js",\n'
     '  "env": {"production": {"vars": {"URL": "http://x/*y*/"},},},\n}\n', ".jsonc",
     "api-production"),
    ('{"env": {"production": {"name": "only-env"}}}', ".json", "only-env"),
])
def test_wranglers_rule_for_the_script_name(tmp_path: Path, text: str, suffix: str,
                                            worker: str) -> None:
    path = tmp_path / f"wrangler{suffix}"
    path.write_text(text)
    assert read_deployment(path, "production", TARGET).worker == worker


def test_spellings_of_one_target_share_a_deployment_key(tmp_path: Path) -> None:
    urls = ["http://127.0.0.1:8787", "http://localhost:8787", "HTTP://127.0.0.1:8787",
            "http://127.0.0.1:8787/", "http://LOCALHOST:8787/"]
    deployments = [read_deployment(SAMPLE_CONFIG, "production", u) for u in urls]
    assert len({d.key for d in deployments}) == 1
    assert {d.url for d in deployments} == {"http://127.0.0.1:8787", "http://localhost:8787"}
    two = tmp_path / "wrangler.toml"
    two.write_text(SAMPLE_CONFIG.read_text() + "\n[env.staging]\n")
    staging = read_deployment(two, "staging", urls[0])
    assert staging.worker == "wfa-orchestration-worker-production-staging"
    assert staging.key != deployments[0].key == read_deployment(two, "production", urls[0]).key


@pytest.mark.parametrize(("text", "name", "message"), [
    (None, "wrangler-production-simple.toml", "does not exist"),
    ('name = "api"\n[env.production\n', "w.toml", "cannot be parsed"),
    ('{"name": "api",,}', "w.json", "cannot be parsed"),
    ('main = "x.js"\n', "w.toml", "names no Worker"),
    ('name = "api"\n[env.staging]\n', "w.toml", "defines no [env.production] (it defines staging)"),
    ("name: api\n", "w.yaml", "not a .toml, .json or .jsonc file"),
    ("[1, 2]", "w.json", "is not a table of settings"),
])
def test_a_configuration_that_cannot_say_is_a_one_line_reason(
        tmp_path: Path, text: str | None, name: str, message: str) -> None:
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    with pytest.raises(DeploymentError) as info:
        read_deployment(path, "production", TARGET)
    assert message in str(info.value) and "\n" not in str(info.value)
    assert str(info.value).startswith(f"the wrangler configuration {path}")
