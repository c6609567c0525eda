"""Self-healing end to end: checks/ run the way operators run them (`pytest checks --redeploy`),
against reference workers whose /health is broken through a faults file, with the fake `wrangler`
of tests/fakes first on PATH. The fake records every call (argv and environment) and can heal
the worker by emptying its faults file, so each rung of the ladder is exercised for real:
unhealthy → redeploy → healthy; → still unhealthy → rollback → healthy; → still down; control
down; a transient failure; concurrent runs; the cooldown; missing, failing and hanging wrangler;
xdist; and a leak test with a recognisable token.
"""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from synthetics.reference import ReferenceWorker
from synthetics.selfheal.deployment import Deployment

FAKES = Path(__file__).resolve().parent / "fakes"
CHECKS = Path(__file__).resolve().parent.parent / "checks"
# The operators' configuration, in the folder runs start from (the deploy's --config default).
CONFIG = Path(__file__).resolve().parent / "fixtures" / "sample-worker" / \
    "wrangler-production-simple.toml"
WORKER = "wfa-orchestration-worker-production-production"  # its deployed script name
HEALTHY_CHECK = "test_health_reports_healthy[health]"
# Short windows: the ladder's behaviour, not its patience, is under test.
FAST = ("--confirm-seconds", "0.6", "--verify-seconds", "0.6", "--reprobe-interval", "0.2",
        "--request-timeout", "2")


def write_config(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / CONFIG.name
    path.write_text(CONFIG.read_text())
    return path


class Fake:
    """The fake wrangler's settings (through the environment) and the calls it recorded."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.log = tmp_path / "wrangler-calls.jsonl"
        self.faults_file = tmp_path / "faults.txt"
        self.state_dir = tmp_path / "state"
        self.monkeypatch = monkeypatch
        monkeypatch.setenv("PATH", f"{FAKES}{os.pathsep}{Path(sys.executable).parent}"
                                   f"{os.pathsep}{os.environ['PATH']}")
        monkeypatch.setenv("FAKE_WRANGLER_LOG", str(self.log))
        monkeypatch.setenv("FAKE_WRANGLER_FAULTS_FILE", str(self.faults_file))

    def plan(self, plan: str) -> None:
        self.monkeypatch.setenv("FAKE_WRANGLER_PLAN", plan)

    def calls(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def commands(self) -> list[str]:
        """The deploys and rollbacks run (reads of the deployments list left out)."""
        return [c["argv"][0] for c in self.calls() if c["argv"][:1] != ["deployments"]]

    def deployments(self) -> list[dict[str, Any]]:
        """Cloudflare's side: the fake's deployments list (wrangler 4's --json shape)."""
        path = self.log.with_name("deployments.json")
        return json.loads(path.read_text()) if path.exists() else []

    def audit(self) -> list[dict[str, Any]]:
        path = self.state_dir / "audit.jsonl"
        return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pytester: pytest.Pytester) -> Fake:
    """The fake wrangler first on PATH, and the worker's configuration where runs start
    (pytester's folder)."""
    write_config(pytester.path)
    return Fake(tmp_path, monkeypatch)


@pytest.fixture
def unhealthy(fake: Fake, reference_worker: Callable[..., ReferenceWorker]) -> ReferenceWorker:
    """A reference worker answering /health "degraded" until the faults file is emptied."""
    fake.faults_file.write_text("health_degraded\n")
    return reference_worker(faults_file=fake.faults_file)


@pytest.fixture
def control(reference_worker: Callable[..., ReferenceWorker]) -> str:
    """A reachable control URL on loopback (a healthy reference worker answers HEAD /)."""
    return reference_worker().url + "/"


def redeploy_args(fake: Fake, worker: ReferenceWorker, control: str, *extra: str) -> list[str]:
    return ["-m", "health", f"--target={worker.url}", "--redeploy",
            f"--state-dir={fake.state_dir}", f"--control-url={control}", *FAST, *extra]


def test_unhealthy_worker_is_redeployed_and_recovers(fake, unhealthy, control, run_checks,
                                                      tmp_path) -> None:
    fake.plan("deploy=heal")
    html = tmp_path / "report.html"
    run = run_checks(*redeploy_args(fake, unhealthy, control), f"--html={html}",
                     "--self-contained-html")
    assert fake.commands() == ["deploy"]
    reads, (deploy,) = ([c["argv"] for c in fake.calls() if c["argv"][0] == kind]
                        for kind in ("deployments", "deploy"))
    assert deploy[:5] == ["deploy", "--config", "wrangler-production-simple.toml", "--env",
                          "production"]
    # Cloudflare's list was read before starting and right before the deploy, and the deploy
    # carries the suite's tag and this run's id in its message.
    assert reads == [["deployments", "list", "--name",
                      "wfa-orchestration-worker-production-production",
                      "--config", "wrangler-production-simple.toml",
                      "--env", "production", "--json"]] * 2
    assert deploy[5] == "--message" and "[synthetics-heal] run " in deploy[6]
    (listed,) = fake.deployments()
    assert listed["annotations"]["workers/message"] == deploy[6]
    assert "RECOVERED-BY-REDEPLOY" in run.stdout
    # The checks' own results are untouched: the health check failed, and so does the run.
    assert run.outcomes[HEALTHY_CHECK] == "failed" and run.ret == 1
    events = [(r["event"], r.get("status")) for r in fake.audit()]
    assert events == [("deploy", None), ("outcome", "recovered-by-redeploy")]
    record = fake.audit()[0]
    assert record["exit_code"] == 0 and "Uploaded" in record["output"]
    assert record["why"].startswith("health check(s) failed: test_health_reports_healthy")
    assert {"time", "command", "duration", "result"} <= set(record)
    page = html.read_text()
    assert 'id="synthetics-remediation"' in page and "recovered-by-redeploy" in page


def test_redeploy_that_does_not_help_is_rolled_back(fake, unhealthy, control, run_checks) -> None:
    fake.plan("deploy=ok,rollback=heal")
    run = run_checks(*redeploy_args(fake, unhealthy, control))
    assert fake.commands() == ["deploy", "rollback"]
    (rollback,) = (c["argv"] for c in fake.calls() if c["argv"][0] == "rollback")
    assert rollback[:5] == ["rollback", "--config", "wrangler-production-simple.toml", "--env",
                            "production"]
    assert "--message" in rollback and "--yes" in rollback
    assert "RECOVERED-BY-ROLLBACK" in run.stdout
    assert [r["event"] for r in fake.audit()] == ["deploy", "rollback", "outcome"]


def test_still_down_after_rollback_escalates(fake, unhealthy, control, run_checks) -> None:
    fake.plan("deploy=ok,rollback=ok")
    # A control URL behind basic auth: used as given, never shown with its password.
    control = control.replace("http://", "http://probe:ctl-PASSWORD-77@")
    run = run_checks(*redeploy_args(fake, unhealthy, control))
    assert fake.commands() == ["deploy", "rollback"]
    assert "STILL-DOWN: escalate — neither the redeploy nor the rollback" in run.stdout
    assert fake.audit()[-1]["escalate"] is True
    assert "control http://[redacted]@127.0.0.1" in run.stdout
    assert "ctl-PASSWORD-77" not in run.stdout + run.stderr
    assert "ctl-PASSWORD-77" not in (fake.state_dir / "audit.jsonl").read_text()


def test_control_down_means_no_deploy(fake, unhealthy, run_checks) -> None:
    fake.plan("deploy=heal")
    # tests/conftest.py points the control URL at a closed loopback port for every run.
    assert os.environ["SYNTHETICS_CONTROL_URL"] == "http://127.0.0.1:9/"
    args = [a for a in redeploy_args(fake, unhealthy, "x") if not a.startswith("--control-url")]
    run = run_checks(*args)
    assert fake.commands() == []
    assert "runner network down" in run.stdout
    assert fake.audit()[-1]["status"] == "network-down"


class _FlakyHealth(BaseHTTPRequestHandler):
    """/health answers "degraded" to the first request only, then "healthy"."""

    count = 0
    lock = threading.Lock()

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        with self.lock:
            type(self).count += 1
            status = "degraded" if type(self).count == 1 else "healthy"
        body = json.dumps({"status": status, "agentCapacity": 20_000_000,
                           "sectors": 200}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


@pytest.fixture
def flaky_worker() -> Iterator[str]:
    _FlakyHealth.count = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FlakyHealth)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_transient_failure_recovers_inside_the_confirmation_window(fake, flaky_worker, control,
                                                                   run_checks) -> None:
    fake.plan("deploy=heal")
    run = run_checks("-m", "health", f"--target={flaky_worker}", "--redeploy",
                     f"--state-dir={fake.state_dir}", f"--control-url={control}", *FAST)
    assert run.outcomes[HEALTHY_CHECK] == "failed"  # the check did see the failure
    assert fake.commands() == []
    assert "recovered inside the confirmation window" in run.stdout
    assert fake.audit()[-1]["status"] == "transient"


def test_only_health_checks_trigger(fake, reference_worker, control, run_checks) -> None:
    fake.plan("deploy=heal")
    # Latency, CORS and DNS checks fail — some with "health" in their test id — health passes.
    worker = reference_worker("slow_health=400,missing_cors_header,unresolved_domain")
    run = run_checks("-m", "health or latency or cors or dns", f"--target={worker.url}",
                     "--redeploy", f"--state-dir={fake.state_dir}", f"--control-url={control}",
                     "--latency-samples", "5", "--latency-warmup", "0", *FAST)
    failed = run.ids("failed")
    assert {"test_latency_within_budget[health]", "test_cors_allow_origin[health]",
            "test_dns_resolves[mcp.asoos.2100.cool]"} <= failed
    assert not any(f.startswith("test_health_") for f in failed)
    assert fake.commands() == []
    assert "HEALTHY: no health check failed in this run" in run.stdout
    assert not (fake.state_dir / "audit.jsonl").exists()


def test_without_redeploy_nothing_is_deployed(fake, unhealthy, control, run_checks) -> None:
    fake.plan("deploy=heal")
    run = run_checks("-m", "health", f"--target={unhealthy.url}", f"--control-url={control}",
                     f"--state-dir={fake.state_dir}", *FAST)
    assert run.outcomes[HEALTHY_CHECK] == "failed"
    assert fake.commands() == [] and "self-healing" not in run.stdout
    assert not fake.state_dir.exists()


def test_dry_run_prints_the_command_and_runs_nothing(fake, unhealthy, control, run_checks,
                                                     monkeypatch) -> None:
    monkeypatch.setenv("SYNTHETICS_REDEPLOY_DRY_RUN", "1")  # the environment switch works too
    args = [a for a in redeploy_args(fake, unhealthy, control) if a != "--redeploy"]
    run = run_checks(*args)
    assert fake.commands() == []
    assert ("would run: wrangler deploy --config wrangler-production-simple.toml --env "
            "production") in run.stdout
    assert "would run: wrangler rollback" in run.stdout
    assert fake.audit()[-1]["status"] == "dry-run"


def test_missing_wrangler_is_a_clear_message(fake, unhealthy, control, run_checks) -> None:
    run = run_checks(*redeploy_args(fake, unhealthy, control),
                     "--wrangler", "wrangler-not-installed-here")
    assert "'wrangler-not-installed-here' not found on PATH" in run.stdout
    # Without wrangler Cloudflare's deployments list cannot be read: fail closed, escalate.
    assert "REFUSED: not running the deploy: refused: cannot read Cloudflare's deployments " \
           "list" in run.stdout
    assert "Traceback" not in run.stdout + run.stderr
    assert run.outcomes[HEALTHY_CHECK] == "failed" and run.ret == 1
    assert [(r["event"], r.get("escalate")) for r in fake.audit()] == [("outcome", True)]


def test_hanging_deploy_is_killed_and_the_ladder_goes_on(fake, unhealthy, control,
                                                         run_checks) -> None:
    fake.plan("deploy=hang,rollback=heal")
    run = run_checks(*redeploy_args(fake, unhealthy, control, "--deploy-timeout", "1.5"))
    assert "deploy: timed out after 1.5 s (killed)" in run.stdout
    assert "RECOVERED-BY-ROLLBACK" in run.stdout
    assert fake.audit()[0]["result"] == "timed out after 1.5 s (killed)"


def test_failing_deploy_is_reported_with_its_output(fake, unhealthy, control,
                                                    run_checks) -> None:
    fake.plan("deploy=fail,rollback=unauth")
    run = run_checks(*redeploy_args(fake, unhealthy, control))
    assert "FAILED: exit 1" in run.stdout and "upload rejected" in run.stdout
    assert "wrangler is not authenticated: set CLOUDFLARE_API_TOKEN" in run.stdout
    assert "Traceback" not in run.stdout + run.stderr


def test_builtin_reference_worker_is_never_deployed(fake, pytester: pytest.Pytester) -> None:
    fake.plan("deploy=heal")
    pytester.makepyfile(test_fake_health="""
        import pytest

        @pytest.mark.health
        def test_health_down(worker):
            assert worker.builtin
            assert False, "health down"
    """)
    pytester.makeini("[pytest]\nsynthetics_redeploy = true\n")  # the ini switch works too
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider",
                                           f"--state-dir={fake.state_dir}")
    out = result.stdout.str()
    assert "built-in reference worker" in out and "never deployed" in out
    assert fake.commands() == []
    result.assert_outcomes(failed=1)


def test_deploy_hook_replaces_wrangler(fake, unhealthy, control, pytester) -> None:
    """A conftest deploys its own way (here: it heals the worker itself); the rollback stays
    wrangler's; a second hook receives the outcome for its own report."""
    fake.plan("deploy=fail,rollback=ok")
    seen = pytester.path / "outcome.json"
    pytester.makeconftest(f"""
        import json, pathlib
        import pytest
        from synthetics.selfheal.ladder import StepResult

        @pytest.hookimpl(tryfirst=True)
        def pytest_synthetics_deploy(config, step):
            if step.kind != "deploy":
                return None
            pathlib.Path({str(fake.faults_file)!r}).write_text("")
            return StepResult(exit_code=0, output="webhook accepted", duration=0.2,
                              command="POST https://deploy.example.test/hook")

        def pytest_synthetics_remediation(config, outcome):
            pathlib.Path({str(seen)!r}).write_text(json.dumps(outcome.as_dict()))
    """)
    pytester.makepyfile(test_down="""
        import pytest
        from synthetics.expectations import ENDPOINTS

        @pytest.mark.health
        def test_health_is_healthy(probe):
            assert probe.request(ENDPOINTS["health"].request()).json()["status"] == "healthy"
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider",
                                           *redeploy_args(fake, unhealthy, control))
    out = result.stdout.str()
    assert fake.commands() == []  # wrangler was not used for the deploy
    assert "deploy: POST https://deploy.example.test/hook → exit 0" in out
    assert "RECOVERED-BY-REDEPLOY" in out
    outcome = json.loads(seen.read_text())
    assert outcome["status"] == "recovered-by-redeploy"
    assert outcome["steps"][0]["output"] == "webhook accepted"
    result.assert_outcomes(failed=1)


def test_hook_docs_carry_pasteable_overrides() -> None:
    from synthetics.selfheal import hookspec

    def code_blocks(doc: str) -> list[str]:
        """The literal blocks (after "::") of a docstring."""
        blocks = []
        for part in doc.split("::\n")[1:]:
            lines = []
            for line in part.splitlines():
                if line.strip() and not line.startswith("    "):
                    break
                lines.append(line)
            blocks.append(textwrap.dedent("\n".join(lines)))
        return blocks

    for hook in (hookspec.pytest_synthetics_deploy, hookspec.pytest_synthetics_remediation):
        blocks = code_blocks(inspect.getdoc(hook) or "")
        assert blocks, hook.__name__
        for block in blocks:  # each one defines the hook and imports only what exists
            namespace: dict[str, Any] = {}
            exec(compile(block, hook.__name__, "exec"), namespace)
            assert callable(namespace[hook.__name__])


def test_unusable_state_dir_is_a_clear_message(fake, unhealthy, control, pytester) -> None:
    fake.plan("deploy=heal")
    blocker = pytester.path / "not-a-dir"
    blocker.write_text("")
    pytester.makepyfile(test_down="""
        import pytest

        @pytest.mark.health
        def test_health_down():
            assert False, "health down"
    """)
    args = [a for a in redeploy_args(fake, unhealthy, control) if not a.startswith("--state")]
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *args,
                                           f"--state-dir={blocker / 'state'}")
    out = result.stdout.str()
    assert "ERROR: self-healing: cannot use the state dir" in out and "not deploying" in out
    # ... and the outcome says its audit record could not be written either.
    assert f"the audit log {blocker / 'state' / 'audit.jsonl'} could not be written" in out
    assert "Traceback" not in out + result.stderr.str()
    assert fake.commands() == []
    result.assert_outcomes(failed=1)


def test_under_xdist_only_the_controller_acts_once(fake, unhealthy, control, run_checks) -> None:
    fake.plan("deploy=heal")
    run = run_checks(*redeploy_args(fake, unhealthy, control), "-n", "2")
    assert run.outcomes[HEALTHY_CHECK] == "failed"
    assert fake.commands() == ["deploy"]
    assert "RECOVERED-BY-REDEPLOY" in run.stdout


def _start_run(fake: Fake, worker: ReferenceWorker, control: str, cwd: Path,
               target: str | None = None) -> subprocess.Popen:
    """One operator's run, from its own checkout (a copy of the configuration in `cwd`)."""
    write_config(cwd)
    args = [a if not a.startswith("--target=") or target is None else f"--target={target}"
            for a in redeploy_args(fake, worker, control)]
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", str(CHECKS), "-p", "no:cacheprovider", *args],
        cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def spellings(url: str) -> list[str]:
    """Six ways to type one loopback worker's URL (case, trailing slash, localhost)."""
    port = url.rsplit(":", 1)[1]
    return [f"http://127.0.0.1:{port}", f"http://localhost:{port}", f"HTTP://127.0.0.1:{port}",
            f"http://127.0.0.1:{port}/", f"http://LOCALHOST:{port}/", f"Http://LocalHost:{port}"]


def test_six_spellings_of_one_worker_run_concurrently_deploy_once(fake, unhealthy, control,
                                                                  tmp_path) -> None:
    """The lock, cooldown and cap belong to the deployment (the configuration's worker and
    environment), not to the URL as typed: six concurrent runs, one state directory, one deploy;
    and a later run, spelled a seventh way, is held by the cooldown."""
    fake.plan("deploy=ok,rollback=ok")  # stays down: every run sees the failure
    targets = spellings(unhealthy.url)
    runs = [_start_run(fake, unhealthy, control, tmp_path / f"run{i}", target)
            for i, target in enumerate(targets)]
    outputs = [p.communicate(timeout=240)[0] for p in runs]
    assert all(p.returncode == 1 for p in runs), outputs[0][-2000:]
    assert fake.commands().count("deploy") == 1, fake.commands()
    assert fake.commands().count("rollback") == 1
    acted = [o for o in outputs if "STILL-DOWN" in o]
    held_off = [o for o in outputs if "LOCKED: not deploying" in o or "COOLDOWN: not deploying"
                in o]
    assert len(acted) == 1 and len(held_off) == 5, [o[-1500:] for o in outputs]
    assert all(f"guards: worker {WORKER} (--env production" in o for o in outputs)
    # A later run inside the cooldown deploys nothing and says why.
    later = _start_run(fake, unhealthy, control, tmp_path / "later",
                       f"HTTP://LOCALHOST:{unhealthy.url.rsplit(':', 1)[1]}/")
    out = later.communicate(timeout=120)[0]
    assert "COOLDOWN: not deploying: cooldown: the last remediation of this deployment" in out
    assert fake.commands().count("deploy") == 1
    outcomes = [r for r in fake.audit() if r["event"] == "outcome"]
    statuses = [r["status"] for r in outcomes]
    assert len(outcomes) == 7 and statuses.count("still-down") == 1
    assert statuses[-1] == "cooldown"
    assert {r["worker"] for r in outcomes} == {WORKER}
    # The audit and the state file name the target in one canonical spelling per host name.
    assert {r["target"] for r in outcomes} <= {unhealthy.url, unhealthy.url.replace(
        "127.0.0.1", "localhost")}
    (state,) = fake.state_dir.glob("state-*.json")
    assert json.loads(state.read_text())["worker"] == WORKER
    assert len(list(fake.state_dir.glob("redeploy-*.lock"))) == 1


TOKEN = "cfat-LEAKCANARY-5e1f0a9d2c7b4e86"
ACCOUNT = "acct-LEAKCANARY-90d1c2b3"


def test_secrets_leak_nowhere(fake, unhealthy, control, tmp_path, monkeypatch) -> None:
    """The whole ladder with a recognisable token: it reaches wrangler and nothing else."""
    fake.plan("deploy=ok,rollback=heal")
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", TOKEN)
    monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", ACCOUNT)
    monkeypatch.setenv("FAKE_WRANGLER_ECHO_SECRETS", "1")  # wrangler's output carries them
    # A CI variable with the token inside it: pytest-metadata copies it into the HTML report's
    # Environment table (and the -v header).
    monkeypatch.setenv("GIT_URL", f"https://ci:{TOKEN}@git.example.test/worker.git")
    reports = tmp_path / "reports"
    write_config(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "synthetics.cli", "run", f"--reports={reports}",
         "-p", "no:cacheprovider", "-v", *redeploy_args(fake, unhealthy, control)],
        cwd=tmp_path, capture_output=True, text=True, timeout=240)
    terminal = proc.stdout + proc.stderr
    assert "RECOVERED-BY-ROLLBACK" in terminal, terminal[-3000:]
    # The token did reach wrangler, through its environment only.
    assert all(c["env"]["CLOUDFLARE_API_TOKEN"] == TOKEN for c in fake.calls())
    assert all(TOKEN not in " ".join(c["argv"]) for c in fake.calls())
    assert fake.commands() == ["deploy", "rollback"] and len(fake.calls()) == 5  # + 3 reads
    # ... and nothing else: not the terminal, not a report, not the state directory.
    for secret in (TOKEN, ACCOUNT):
        assert secret not in terminal
        written = [p for d in (reports, fake.state_dir) for p in d.rglob("*") if p.is_file()]
        assert {p.name for p in written} >= {"report.html", "junit.xml", "audit.jsonl"}
        for path in written:
            assert secret.encode() not in path.read_bytes(), f"{secret} leaked into {path}"
    # Wrangler's output was kept, scrubbed; the metadata table was kept, scrubbed.
    page = (reports / "report.html").read_text()
    assert "[CLOUDFLARE_API_TOKEN redacted]" in page and "GIT_URL" in page
    assert "[CLOUDFLARE_API_TOKEN redacted]" in (fake.state_dir / "audit.jsonl").read_text()


def test_corrupted_state_file_refuses_to_deploy_and_is_audited(fake, unhealthy, control,
                                                               run_checks) -> None:
    """Fail closed: a state file that cannot be read would reset the cooldown and the cap."""
    fake.plan("deploy=heal")
    key = Deployment(WORKER, "production", CONFIG.name, unhealthy.url).key
    fake.state_dir.mkdir()
    state = fake.state_dir / f"state-{key}.json"
    state.write_text('{"attempts": [1764630000.0, 17646')  # a write cut off
    run = run_checks(*redeploy_args(fake, unhealthy, control))
    assert fake.commands() == []
    assert f"ERROR: not deploying: the state file {state} is not valid state" in run.stdout
    assert "Traceback" not in run.stdout + run.stderr
    assert run.outcomes[HEALTHY_CHECK] == "failed" and run.ret == 1
    (record,) = fake.audit()
    assert record["status"] == "error" and record["escalate"] is True
    assert record["worker"] == WORKER and "is not valid state" in record["headline"]


def test_missing_configuration_refuses_a_deploy_and_a_dry_run_says_so(
        fake, unhealthy, control, run_checks, pytester) -> None:
    fake.plan("deploy=heal")
    (pytester.path / CONFIG.name).unlink()
    run = run_checks(*redeploy_args(fake, unhealthy, control))
    assert fake.commands() == []
    line = (f"ERROR: not deploying: the wrangler configuration {CONFIG.name} does not exist "
            f"(in {pytester.path}): pass --deploy-config PATH")
    assert line in run.stdout and "Traceback" not in run.stdout + run.stderr
    assert "synthetics self-healing: WARNING: the wrangler configuration" in run.stdout  # header
    assert [(r["event"], r["status"]) for r in fake.audit()] == [("outcome", "error")]
    # The dry run (the quarterly drill runs it anywhere) walks the ladder and says what a real
    # run would do.
    dry = run_checks(*[a for a in redeploy_args(fake, unhealthy, control) if a != "--redeploy"],
                     "--redeploy-dry-run")
    assert "dry run: a real deploy would refuse: the wrangler configuration" in dry.stdout
    # in the header, as it happens, and in the summary
    assert dry.stdout.count("a real deploy would refuse") == 3
    assert "would run: wrangler rollback" in dry.stdout
    assert fake.commands() == [] and fake.audit()[-1]["status"] == "dry-run"


def test_json_configuration_with_its_own_environment_name(fake, unhealthy, control, run_checks,
                                                          pytester) -> None:
    fake.plan("deploy=heal")
    (pytester.path / "wrangler.jsonc").write_text(
        '{\n  // production has its own script name\n  "name": "orchestrator",\n'
        '  "env": { "production": { "name": "orchestrator-live", }, },\n}\n')
    run = run_checks(*redeploy_args(fake, unhealthy, control), "--deploy-config=wrangler.jsonc")
    assert "guards: worker orchestrator-live (--env production, wrangler.jsonc)" in run.stdout
    assert fake.commands() == ["deploy"] and "RECOVERED-BY-REDEPLOY" in run.stdout
    assert {r["worker"] for r in fake.audit()} == {"orchestrator-live"}


@pytest.mark.parametrize(("module", "where", "error"), [
    ("plugin", "check_health", "RecursionError"),  # inside the ladder, holding the lock
    ("settings", "read_deployment", "RuntimeError"),  # in the plugin, before the ladder
])
def test_an_exception_in_the_ladder_is_audited_not_a_traceback(fake, unhealthy, control,
                                                               pytester, module, where,
                                                               error) -> None:
    """Whatever breaks (here the /health re-probe raising RecursionError, as a deeply nested
    body once did, or reading the configuration) is an audited ERROR outcome."""
    fake.plan("deploy=heal")
    pytester.makeconftest(f"""
        import synthetics.selfheal.{module}

        def boom(*args, **kwargs):
            raise {error}("maximum recursion depth exceeded while decoding a JSON array")

        synthetics.selfheal.{module}.{where} = boom
    """)
    pytester.makepyfile(test_down="""
        import pytest

        @pytest.mark.health
        def test_health_down():
            assert False, "health down"
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider",
                                           *redeploy_args(fake, unhealthy, control))
    out = result.stdout.str()
    assert f"ERROR: self-healing failed: {error}: maximum recursion depth" in out
    assert "Traceback" not in out + result.stderr.str()
    assert fake.commands() == []
    (record,) = fake.audit()
    assert record["status"] == "error" and error in record["headline"]
    assert record["why"].startswith("health check(s) failed: test_health_down")
    result.assert_outcomes(failed=1)

