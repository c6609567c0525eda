"""The evening-review checks against a fake wrangler that prints recorded wrangler 4 outputs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from synthetics.schedule.review import credentials_source, parse_json_stream, tail_problems
from synthetics.schedule.scheduler import EVENING_MARKERS

FAKE = Path(__file__).resolve().parent / "fakes" / "review_wrangler"
RECORDED = FAKE / "recorded"
REVIEW_IDS = {"test_review_whoami[whoami]", "test_review_deployments[deployments]",
              "test_review_tail[tail]"}


@pytest.fixture
def review_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The fake wrangler first on PATH, a throwaway HOME, a token that is only a placeholder."""
    monkeypatch.setenv("PATH", f"{FAKE}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", "placeholder-not-a-token")
    log = tmp_path / "calls.log"
    monkeypatch.setenv("REVIEW_FAKE_LOG", str(log))
    return log


def _review(run_checks, *args: str):
    return run_checks("-m", EVENING_MARKERS, "--review", "--review-tail-seconds", "1",
                      "--history", "off", *args)


def test_review_passes_against_a_healthy_recording(run_checks, review_env: Path) -> None:
    run = _review(run_checks)
    assert {k: v for k, v in run.outcomes.items() if k in REVIEW_IDS} == \
        dict.fromkeys(REVIEW_IDS, "passed"), run.stdout
    calls = review_env.read_text()
    assert "whoami --json" in calls and "deployments list --name " \
        "wfa-orchestration-worker-production --json" in calls
    assert "tail wfa-orchestration-worker-production --format json" in calls
    assert calls.count("metrics=false") == 3  # wrangler never sends metrics from here


def test_logged_out_fails_whoami_only(run_checks, review_env: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REVIEW_FAKE_SCENARIO", "logged_out")
    run = _review(run_checks)
    assert run.outcomes["test_review_whoami[whoami]"] == "failed"
    assert "not authenticated" in run.messages["test_review_whoami[whoami]"]
    assert run.outcomes["test_review_tail[tail]"] == "passed"


def test_exception_in_tail_fails_the_tail_check(run_checks, review_env: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REVIEW_FAKE_SCENARIO", "tail_exception")
    run = _review(run_checks)
    assert run.outcomes["test_review_tail[tail]"] == "failed"
    assert "TypeError" in run.messages["test_review_tail[tail]"]
    assert run.outcomes["test_review_whoami[whoami]"] == "passed"


def test_old_deployment_fails_the_deployment_check(run_checks, review_env: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REVIEW_FAKE_SCENARIO", "old_deployment")
    run = _review(run_checks)
    assert run.outcomes["test_review_deployments[deployments]"] == "failed"
    assert "days old" in run.messages["test_review_deployments[deployments]"]


def test_no_wrangler_skips_with_the_reason(run_checks, review_env: Path) -> None:
    run = _review(run_checks, "--wrangler", "no-such-wrangler-here")
    assert all(run.outcomes[i] == "skipped" for i in REVIEW_IDS)
    assert "no wrangler" in run.messages["test_review_whoami[whoami]"]


def test_no_credentials_skips_with_the_reason(run_checks, review_env: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLOUDFLARE_API_TOKEN")
    monkeypatch.delenv("CLOUDFLARE_API_KEY", raising=False)
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    run = _review(run_checks)
    assert all(run.outcomes[i] == "skipped" for i in REVIEW_IDS)
    assert "no Cloudflare credentials" in run.messages["test_review_tail[tail]"]
    assert not review_env.exists()  # wrangler was never called


def test_review_is_opt_in(run_checks, review_env: Path) -> None:
    run = run_checks("-m", "review", "--history", "off")
    assert all(run.outcomes[i] == "skipped" for i in REVIEW_IDS)
    assert "--review" in run.messages["test_review_whoami[whoami]"]


def test_tail_stream_of_pretty_printed_objects_is_parsed() -> None:
    events, stray = parse_json_stream("Connected to worker\n"
                                      + (RECORDED / "tail-exception.json").read_text())
    assert len(events) == 3 and stray == ["Connected to worker"]
    problems = tail_problems(events)
    assert len(problems) == 1 and "TypeError" in problems[0] and "/mcp/orchestrate" in problems[0]
    assert tail_problems(parse_json_stream((RECORDED / "tail-ok.json").read_text())[0]) == []


def test_error_outcomes_and_error_logs_count() -> None:
    events = [{"outcome": "exceededCpu", "exceptions": [], "logs": []},
              {"outcome": "ok", "logs": [{"level": "error", "message": ["db down"]}]},
              {"outcome": "ok", "event": {"response": {"status": 503}}},
              {"outcome": "canceled", "exceptions": [], "logs": []}]
    problems = tail_problems(events)
    assert [p.split(": ", 1)[1] for p in problems] == [
        "outcome exceededCpu", "console.error db down", "HTTP 503"]


def test_credentials_are_found_without_being_read(tmp_path: Path) -> None:
    assert credentials_source({}, tmp_path) is None
    oauth = tmp_path / ".config" / ".wrangler" / "config" / "default.toml"
    oauth.parent.mkdir(parents=True)
    oauth.write_text('oauth_token = "secret"\n')
    found = credentials_source({}, tmp_path)
    assert found is not None and "secret" not in found
    assert credentials_source({"CLOUDFLARE_API_TOKEN": "t"}, tmp_path) == "CLOUDFLARE_API_TOKEN"
