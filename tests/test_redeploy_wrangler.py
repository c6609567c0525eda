"""The commands the self-healing plugin builds, against the real wrangler CLI (tests/node).

wrangler 4 and the Node it needs come from the npm registry into tests/node (`.ci/run` runs
`npm install --prefix tests/node`); that Node goes first on PATH. Nothing here reaches the
network: the deploy uses wrangler's own `--dry-run` on the sample worker in tests/fixtures, and
without credentials wrangler stops at authentication before any request (the proxy variables
point at a closed loopback port as a second guard; metrics, error reports and the banner's update
check are switched off). wrangler's argument parser is strict, so a flag it does not know fails
with "Unknown argument" — which the negative control shows.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from synthetics.scrub import is_secret_name
from synthetics.selfheal.cloudflare import list_argv, tagged_argv, worker_name
from synthetics.selfheal.ladder import Step, describe_result, run_step
from synthetics.selfheal.plugin import deploy_argv, rollback_argv
from synthetics.selfheal.settings import OPTIONS, RedeploySettings

ROOT = Path(__file__).resolve().parent.parent
NODE_BIN = ROOT / "tests" / "node" / "node_modules" / ".bin"
WRANGLER = NODE_BIN / "wrangler"
SAMPLE = ROOT / "tests" / "fixtures" / "sample-worker"
OFFLINE = {
    "WRANGLER_SEND_METRICS": "false", "WRANGLER_SEND_ERROR_REPORTS": "false",
    "WRANGLER_HIDE_BANNER": "true",  # the banner is what checks npm for a newer wrangler
    "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9",
    "https_proxy": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9",
}


@pytest.fixture
def wrangler_env(tmp_path: Path) -> dict[str, str]:
    if not (WRANGLER.exists() and (NODE_BIN / "node").exists()):
        pytest.fail("wrangler is not installed in tests/node: run "
                    "`npm install --prefix tests/node` (.ci/run does)")
    env = {k: v for k, v in os.environ.items()
           if not is_secret_name(k) and k.upper() not in ("NO_PROXY",)}
    home = tmp_path / "home"
    home.mkdir()
    env.update(OFFLINE, PATH=f"{NODE_BIN}{os.pathsep}{env['PATH']}", HOME=str(home),
               XDG_CONFIG_HOME=str(home / ".config"))
    return env


@pytest.fixture
def worker_dir(tmp_path: Path) -> Path:
    """A copy of the sample worker (wrangler writes .wrangler/ next to its configuration)."""
    return Path(shutil.copytree(SAMPLE, tmp_path / "worker"))


def settings(**overrides: object) -> RedeploySettings:
    values = {o.name: o.default for o in OPTIONS}
    values.update(overrides)
    return RedeploySettings(**values)  # type: ignore[arg-type]


def test_real_wrangler_accepts_the_deploy_command(wrangler_env, worker_dir, tmp_path) -> None:
    out = tmp_path / "bundle"
    s = settings(wrangler=str(WRANGLER),
                 deploy_config=str(worker_dir / "wrangler-production-simple.toml"),
                 deploy_args=("--dry-run", "--outdir", str(out)))
    # As the ladder runs it: with the suite's tag and run id in --message.
    argv = tagged_argv(deploy_argv(s), "0123456789ab", "synthetics: automatic redeploy")
    assert argv[1:6] == ("deploy", "--config", s.deploy_config, "--env", "production")
    assert argv[-2:] == ("--message",
                         "synthetics: automatic redeploy [synthetics-heal] run 0123456789ab")
    result = run_step(Step("deploy", argv, 180, env=wrangler_env, cwd=str(worker_dir)))
    assert result.ok, f"{describe_result(result)}\n{result.output}"
    assert "--dry-run: exiting now." in result.output
    # --env production was applied: the bindings are the [env.production] vars.
    assert 'env.HEALING_MODE ("enabled")' in result.output
    assert (out / "worker.js").is_file()


def test_real_wrangler_parses_the_rollback_command(wrangler_env, worker_dir) -> None:
    s = settings(wrangler=str(WRANGLER),
                 deploy_config=str(worker_dir / "wrangler-production-simple.toml"))
    result = run_step(Step("rollback", tagged_argv(rollback_argv(s), "0123456789ab", "-"), 180,
                           env=wrangler_env, cwd=str(worker_dir)))
    # Parsed, non-interactive (--yes, --message), then stopped: no credentials here.
    assert result.exit_code == 1, result.output
    assert "Unknown argument" not in result.output
    assert "it's necessary to set a CLOUDFLARE_API_TOKEN" in result.output
    assert "wrangler is not authenticated" in describe_result(result)
    # Negative control: a flag wrangler does not know is refused before authentication.
    bogus = run_step(Step("rollback", (*rollback_argv(s), "--no-such-flag"), 180,
                          env=wrangler_env, cwd=str(worker_dir)))
    assert bogus.exit_code == 1 and "Unknown argument" in bogus.output


def test_real_wrangler_parses_the_deployments_list_command(wrangler_env, worker_dir) -> None:
    config = str(worker_dir / "wrangler-production-simple.toml")
    name = worker_name(config, "production")
    assert name == "wfa-orchestration-worker-production-production"
    result = run_step(Step("deployments", list_argv(str(WRANGLER), name, config, "production"),
                           180, env=wrangler_env, cwd=str(worker_dir)))
    # Parsed (--name, --config, --env, --json), then stopped: no credentials here.
    assert result.exit_code == 1, result.output
    assert "Unknown argument" not in result.output
    assert "it's necessary to set a CLOUDFLARE_API_TOKEN" in result.output


def test_plugin_with_real_wrangler_and_no_credentials(wrangler_env, worker_dir, run_checks,
                                                       reference_worker, monkeypatch,
                                                       tmp_path) -> None:
    """The whole ladder with the real CLI and no token: Cloudflare's deployments list cannot be
    read, so nothing is deployed (fail closed), with a clear message, no traceback, the checks'
    results untouched."""
    for name in list(os.environ):
        monkeypatch.delenv(name)
    for name, value in wrangler_env.items():
        monkeypatch.setenv(name, value)
    down = reference_worker("health_degraded")
    control = reference_worker().url + "/"
    state = tmp_path / "state"
    run = run_checks("-m", "health", f"--target={down.url}", "--redeploy",
                     f"--wrangler={WRANGLER}", f"--state-dir={state}",
                     f"--deploy-config={worker_dir / 'wrangler-production-simple.toml'}",
                     f"--control-url={control}", "--confirm-seconds", "0.3",
                     "--verify-seconds", "0.3", "--reprobe-interval", "0.1")
    assert run.outcomes["test_health_reports_healthy[health]"] == "failed" and run.ret == 1
    assert "wrangler is not authenticated: set CLOUDFLARE_API_TOKEN" in run.stdout
    assert "REFUSED: not running the deploy: refused: cannot read Cloudflare's deployments list "\
           "of wfa-orchestration-worker-production-production" in run.stdout
    assert "Traceback" not in run.stdout + run.stderr
    records = [json.loads(x) for x in (state / "audit.jsonl").read_text().splitlines()]
    assert [(r["event"], r.get("status"), r.get("escalate")) for r in records] == [
        ("outcome", "refused", True)]
