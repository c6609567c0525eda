"""Self-healing: a pytest plugin that redeploys the worker when its health is really down.

Registered through its own `pytest11` entry point (`synthetics_redeploy`) and quiet until asked:
nothing is deployed without `--redeploy` (or `--redeploy-dry-run`, which does everything but run
the command). Only a failed check marked `health` triggers it — never latency, CORS or DNS, even
when their test id mentions health. It acts once per session, only in the controller process
(never in an xdist worker), at session end, before the HTML and JUnit reports are written: it
runs the remediation ladder of `synthetics.selfheal.ladder` (Cloudflare's status page, confirm,
control URL, who failed, redeploy, verify, roll back, verify) through the
`pytest_synthetics_deploy` hook (`synthetics.selfheal.hookspec`), says what
happened in the terminal summary and the HTML report, and leaves the outcome in
`config.stash[REMEDIATION]` for other report writers. The checks' own results are never changed.
The guardrails belong to the deployment the deploy command makes (`synthetics.selfheal.deployment`,
read
from `--deploy-config` and `--deploy-env`), not to the target URL as typed; a configuration that
cannot say refuses a real deploy, and every outcome on a failing target, errors included, is
audited. Only a worker failure of /health is redeployed (`synthetics.attribution`; an answer
without cf-ray counts as the edge's when this run's answers carried cf-ray, as seen by this
process: under xdist, the controller's), and nothing is deployed during a Cloudflare incident
(`synthetics.selfheal.provider_status`, `--provider-status-url`; an unreadable status page does not
block).

Secrets: wrangler gets `CLOUDFLARE_API_TOKEN` / `CLOUDFLARE_ACCOUNT_ID` through its environment;
everything this plugin writes is scrubbed (`synthetics.scrub`), and so is pytest-metadata's table
(the HTML report's "Environment"), whether or not redeploying is on.
"""

from __future__ import annotations

import html
import os
import shlex
import shutil
import time
import uuid
from collections.abc import Callable, Generator
from typing import Any

import httpx
import pytest

from synthetics import deadline
from synthetics.attribution import Attribution
from synthetics.clock import format_utc
from synthetics.expect import who
from synthetics.expectations import ENDPOINTS
from synthetics.history.alertmanager import ALERTMANAGER, SilenceGate, worker_of
from synthetics.plugin import SAMPLE_LISTENERS, SETTINGS, WORKER, is_controller
from synthetics.probe import Probe, Sample
from synthetics.scrub import redact, scrub, scrub_data
from synthetics.selfheal import hookspec
from synthetics.selfheal.cloudflare import DeploymentsGate, list_argv, tagged_argv
from synthetics.selfheal.cloudflare import reader as cloudflare_reader
from synthetics.selfheal.deployment import Deployment, DeploymentError
from synthetics.selfheal.ladder import (
    Gate,
    Ladder,
    Outcome,
    StateStore,
    Step,
    StepResult,
    append_audit,
    outcome_record,
    run_step,
)
from synthetics.selfheal.provider_status import ProviderGate
from synthetics.selfheal.settings import OPTIONS as REDEPLOY_OPTIONS
from synthetics.selfheal.settings import REDEPLOY_SETTINGS, RedeploySettings
from synthetics.settings import add_options, canonical_url, resolve_values

__all__ = ["REMEDIATION", "build_ladder", "deploy_argv", "probe_control", "probe_health",
           "rollback_argv"]

#: The session's remediation outcome (set at session end when redeploying is on).
REMEDIATION = pytest.StashKey[Outcome]()
HEALTH_MARKER = "health"
_REPORT_ATTR = "synthetics_health_check"  # set on reports of health-marked checks; survives xdist


def deploy_argv(s: RedeploySettings) -> tuple[str, ...]:
    """`wrangler deploy --config CONFIG --env ENV [extra args]` as an argv list."""
    return (s.wrangler, "deploy", "--config", s.deploy_config, "--env", s.deploy_env,
            *s.deploy_args)


def rollback_argv(s: RedeploySettings) -> tuple[str, ...]:
    """`wrangler rollback --config CONFIG --env ENV --message MSG --yes`: non-interactive, to the
    previous version of the worker the same configuration deploys."""
    return (s.wrangler, "rollback", "--config", s.deploy_config, "--env", s.deploy_env,
            "--message", s.rollback_message, "--yes")


def probe_health(url: str, timeout: float) -> tuple[bool, str]:
    """One GET /health: healthy when HTTP 200 with JSON status "healthy"; never raises."""
    healthy, detail, _ = check_health(url, timeout)
    return healthy, detail


def check_health(url: str, timeout: float, behind_cloudflare: bool = False,
                 ) -> tuple[bool, str, Attribution | None]:
    """One GET /health: (healthy, one-line detail, who failed when unhealthy); never raises.
    `behind_cloudflare`: the target's answers are known to carry cf-ray, so one without it
    was not served by Cloudflare (an edge failure)."""
    probe = Probe(url, timeout=timeout, max_consecutive_failures=1 << 30)
    probe.behind_cloudflare = probe.behind_cloudflare or behind_cloudflare
    try:
        sample = probe.request(ENDPOINTS["health"].request(), record=False)
    finally:
        probe.close()
    if not sample.ok:
        return False, sample.summary(), sample.attribution()
    if sample.status != 200:
        return False, f"HTTP {sample.status}{who(sample, judged_wrong=False)}", \
            sample.attribution()
    try:
        doc = sample.json()
    except ValueError as exc:
        return False, f"{exc}{who(sample)}", sample.attribution(judged_wrong=True)
    status = doc.get("status") if isinstance(doc, dict) else None
    if status == "healthy":
        return True, "HTTP 200, status 'healthy'", None
    return False, f"HTTP 200, status {status!r}{who(sample)}", sample.attribution(True)


class HealthWatch:
    """The ladder's /health probe (`remediation.HealthProbe`) that remembers who failed in its
    last unhealthy answer (`Ladder.who`)."""

    def __init__(self, url: str, timeout: float, behind_cloudflare: bool = False) -> None:
        self.url, self.timeout, self.behind_cloudflare = url, timeout, behind_cloudflare
        self.last: Attribution | None = None

    def __call__(self) -> tuple[bool, str]:
        healthy, detail, attribution = check_health(self.url, self.timeout,
                                                    self.behind_cloudflare)
        self.last = attribution
        return healthy, detail


def probe_control(url: str, timeout: float) -> tuple[bool, str]:
    """HEAD the control URL (the document's `curl -I`): any HTTP answer means reachable. The
    whole request ends within `timeout` on the wall clock (`synthetics.deadline`)."""
    try:
        status = deadline.send("HEAD", url, timeout=timeout)
    except httpx.HTTPError as exc:
        return False, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return True, f"HTTP {status}"


def _silence_gates(config: pytest.Config, s: RedeploySettings, target: str,
                   timeout: float) -> tuple[Gate, ...]:
    """An Alertmanager silence check first, when --alertmanager is set."""
    url = config.stash.get(ALERTMANAGER, None)
    return (SilenceGate(url, worker_of(s), target, timeout),) if url else ()


def resolve_deployment(s: RedeploySettings, target: str,
                       say: Callable[[str], None] = lambda line: None) -> tuple[Deployment, str]:
    """(what a redeploy of `target` replaces, a note for people). A configuration that cannot
    tell raises `DeploymentError` for a real deploy (wrangler would fail on it too, and the
    guardrails need its key); a dry run goes on with a placeholder and says what a real run
    would do (the drill runs anywhere)."""
    try:
        return s.deployment(target), ""
    except DeploymentError as exc:
        if s.redeploy:
            raise
        note = scrub(f"dry run: a real deploy would refuse: {exc}")
        say(note)
        return Deployment(f"(unknown: {s.deploy_config} unreadable)", s.deploy_env,
                          s.deploy_config, canonical_url(target)), note


def build_ladder(s: RedeploySettings, deployment: Deployment, target: str, reason: str,
                 request_timeout: float, run_id: str,
                 run: Callable[[Step], StepResult | None] = run_step,
                 say: Callable[[str], None] = lambda line: None,
                 gates: tuple[Gate, ...] = (), behind_cloudflare: bool = False) -> Ladder:
    """The ladder for `target` with these settings (the plugin's and `synthetics heal`'s): its
    lock, cooldown and cap belong to `deployment`, whatever spelling of the URL was checked.

    Every deploy and rollback carries `--message` with the suite's tag and `run_id`; `gates`
    come first, then Cloudflare's status page (`synthetics.selfheal.provider_status`: no deploy
    during a provider incident), then Cloudflare's deployments list
    (`synthetics.selfheal.cloudflare`), read right before each step. Only a worker failure of
    /health is redeployed (`Ladder.who`); `behind_cloudflare` says the target's answers carried
    cf-ray in this run.
    """
    env = dict(os.environ)
    deploy = tagged_argv(deploy_argv(s), run_id, "synthetics: /health down; automatic redeploy")
    rollback = tagged_argv(rollback_argv(s), run_id, s.rollback_message)
    known = not deployment.worker.startswith("(unknown")
    name = deployment.worker if known else None
    history = DeploymentsGate(
        read=cloudflare_reader(list_argv(s.wrangler, name, s.deploy_config, s.deploy_env), env,
                               min(s.deploy_timeout, 120.0)),
        worker=name or f"the worker of {s.deploy_config} (--env {s.deploy_env})", run_id=run_id,
        cooldown_seconds=s.cooldown_seconds, max_per_hour=s.max_redeploys_per_hour)
    provider = ProviderGate(s.provider_status_url, s.provider_components,
                            min(request_timeout, 30.0), say=say)
    health = HealthWatch(target, request_timeout, behind_cloudflare)
    return Ladder(
        target=canonical_url(target),
        store=StateStore(s.state_path, deployment),
        deploy=Step("deploy", deploy, s.deploy_timeout, target, reason, env),
        rollback=Step("rollback", rollback, s.deploy_timeout, target, reason, env),
        run=run,
        health=health, who=lambda: health.last,
        control=lambda: probe_control(s.control_url, request_timeout),
        control_url=redact(s.control_url),  # for people: it may carry user:password@
        confirm_seconds=s.confirm_seconds, verify_seconds=s.verify_seconds,
        interval=s.reprobe_interval, cooldown_seconds=s.cooldown_seconds,
        max_per_hour=s.max_redeploys_per_hour, dry_run=not s.redeploy, run_id=run_id,
        say=say, gates=(*gates, provider, history),
    )


# --- module-level hooks -----------------------------------------------------------------------

def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspec)


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser, REDEPLOY_OPTIONS, "synthetics-redeploy",
                "self-healing: redeploy the worker when /health is down (opt-in)")


def pytest_configure(config: pytest.Config) -> None:
    settings = RedeploySettings(**resolve_values(config, REDEPLOY_OPTIONS))
    config.stash[REDEPLOY_SETTINGS] = settings
    if settings.enabled:
        config.pluginmanager.register(RedeployPlugin(config, settings), "synthetics-redeploy")


def _scrub_in_place(metadata: dict[str, Any]) -> None:
    cleaned = scrub_data(metadata)
    metadata.clear()
    metadata.update(cleaned)


@pytest.hookimpl(optionalhook=True)
def pytest_metadata(metadata: dict[str, Any], config: pytest.Config) -> None:
    """Keep secrets out of pytest-metadata's table (the HTML report's Environment, -v header)."""
    _scrub_in_place(metadata)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    # Anything added to the metadata after pytest_metadata ran, before pytest-html copies it.
    plugin = session.config.pluginmanager.get_plugin("metadata")  # pytest-metadata's module
    metadata_key = getattr(plugin, "metadata_key", None)
    if metadata_key is None:
        return
    metadata = session.config.stash.get(metadata_key, None)
    if isinstance(metadata, dict):
        _scrub_in_place(metadata)


@pytest.hookimpl(trylast=True)
def pytest_synthetics_deploy(config: pytest.Config, step: Step) -> StepResult | None:
    """The default: run the configured command (wrangler) with its timeout."""
    return run_step(step)


# --- the session plugin -----------------------------------------------------------------------

class RedeployPlugin:
    """Registered only when --redeploy or --redeploy-dry-run is on."""

    def __init__(self, config: pytest.Config, settings: RedeploySettings) -> None:
        self.config = config
        self.settings = settings
        self.controller = is_controller(config)
        self.failed: list[str] = []  # "nodeid: message" of failed health checks
        self.outcome: Outcome | None = None
        self.run_id = uuid.uuid4().hex[:12]
        self.deployment: Deployment | None = None
        self._audited = False
        self._section_started = False
        #: Some answer of this run carried cf-ray: the target is behind Cloudflare.
        self.behind_cloudflare = False
        config.stash.setdefault(SAMPLE_LISTENERS, []).append(self._saw)

    def _saw(self, sample: Sample) -> None:
        if not self.behind_cloudflare and "cf-ray" in sample.headers:
            self.behind_cloudflare = True

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if item.get_closest_marker(HEALTH_MARKER) is not None:
            setattr(report, _REPORT_ATTR, True)
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if not self.controller or report.when != "call" or not report.failed:
            return
        if getattr(report, _REPORT_ATTR, False):
            crash = getattr(report.longrepr, "reprcrash", None)
            message = str(getattr(crash, "message", "") or "").strip().splitlines()
            if message and message[0].startswith("Failed: "):
                message[0] = message[0][len("Failed: "):]
            self.failed.append(f"{report.nodeid.split('::')[-1]}"
                               + (f": {message[0][:200]}" if message else ""))

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        s = self.settings
        mode = "DRY RUN (commands are printed, not run)" if not s.redeploy else "ON"
        lines = [
            f"synthetics self-healing: {mode}; acts when a health check fails and /health stays "
            f"down for {s.confirm_seconds:g} s; control URL {redact(s.control_url)}; cooldown "
            f"{s.cooldown_seconds:g} s, at most {s.max_redeploys_per_hour} per hour; state "
            f"dir {s.state_path}",
            f"synthetics self-healing deploy: {scrub(shlex.join(deploy_argv(s)))}",
        ]
        worker = config.stash[WORKER]
        if worker.builtin:
            lines.append("synthetics self-healing: the target is the built-in reference worker, "
                         "which is never deployed")
            return lines
        try:
            guarded = s.deployment(worker.url or "").describe()
            lines.append(f"synthetics self-healing guards: {scrub(guarded)} (one lock, cooldown "
                         "and cap for every spelling of its URL)")
        except Exception as exc:  # noqa: BLE001 - a header line, never a crash
            lines.append(f"synthetics self-healing: WARNING: {scrub(str(exc))}; "
                         + ("nothing would be deployed" if s.redeploy
                            else "a real deploy would refuse"))
        if shutil.which(s.wrangler) is None:
            lines.append(f"synthetics self-healing: WARNING: {s.wrangler!r} not found on PATH "
                         "(unless a pytest_synthetics_deploy hook replaces it)")
        return lines

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if not self.controller:
            return
        self._audited = False
        try:
            outcome = self._decide(exitstatus)
        except Exception as exc:  # never a traceback, never a changed result
            text = " ".join(str(exc).split())[:300]
            outcome = Outcome("error", scrub(f"self-healing failed: {type(exc).__name__}: {text};"
                                             " nothing further was done"),
                              reason=scrub("health check(s) failed: " + "; ".join(self.failed)))
        if not self._audited and outcome.reason and outcome.status != "builtin":
            self._audit(outcome)
        self.outcome = outcome
        self.config.stash[REMEDIATION] = outcome
        try:
            self.config.hook.pytest_synthetics_remediation(config=self.config, outcome=outcome)
        except Exception as exc:
            outcome.details.append(scrub(f"a pytest_synthetics_remediation hook raised "
                                         f"{type(exc).__name__}: {exc}"))

    def _decide(self, exitstatus: int) -> Outcome:
        s = self.settings
        core = self.config.stash[SETTINGS]
        if exitstatus == pytest.ExitCode.INTERRUPTED:
            return Outcome("interrupted", "the session was interrupted; not acting")
        if not self.failed:
            return Outcome("healthy", "no health check failed in this run; nothing to do")
        reason = "health check(s) failed: " + "; ".join(self.failed)
        worker = self.config.stash[WORKER]
        target = worker.url or ""
        if worker.builtin:
            return Outcome("builtin", (
                "health checks failed, but the target is the built-in reference worker (a local "
                "stand-in, not production): never deployed; pass --target URL"), reason=reason)
        canonical = canonical_url(target)
        try:
            deployment, note = resolve_deployment(s, target, self._say)
        except DeploymentError as exc:
            return Outcome("error", scrub(f"not deploying: {exc}"), target=canonical,
                           reason=scrub(reason), started=format_utc(time.time()),
                           finished=format_utc(time.time()),
                           audit_log=str(s.state_path / "audit.jsonl"))
        self.deployment = deployment
        ladder = build_ladder(
            s, deployment, target, reason, core.request_timeout, self.run_id,
            run=lambda step: self.config.hook.pytest_synthetics_deploy(config=self.config,
                                                                        step=step),
            say=self._say, gates=_silence_gates(self.config, s, target, core.request_timeout),
            behind_cloudflare=self.behind_cloudflare)
        try:
            outcome = ladder.remediate(scrub(reason))
        except OSError as exc:
            return Outcome("error", scrub(
                f"self-healing: cannot use the state dir {s.state_path}: "
                f"{exc.strerror or exc}; not deploying (pass --state-dir DIR)"),
                target=canonical, reason=scrub(reason), started=format_utc(time.time()),
                finished=format_utc(time.time()), audit_log=str(s.state_path / "audit.jsonl"))
        self._audited = True  # the ladder wrote its own records
        if note:
            outcome.details.append(note)
        return outcome

    def _audit(self, outcome: Outcome) -> None:
        """Audit an outcome the ladder did not reach (or that broke it); say if that failed."""
        path = self.settings.state_path / "audit.jsonl"
        outcome.audit_log = str(path)
        problem = append_audit(path, outcome_record(outcome, self.run_id, self.deployment,
                                                    not self.settings.redeploy))
        if problem is not None:
            outcome.details.append(scrub(problem))

    def _say(self, line: str) -> None:
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is None:
            return
        if not self._section_started:
            reporter.write_line("")
            self._section_started = True
        reporter.write_line(f"self-healing: {scrub(line)}")

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.outcome is None:
            return
        for line in summary_lines(self.outcome):
            if line.startswith("== "):
                terminalreporter.section(line[3:])
            else:
                terminalreporter.write_line(line)

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_summary(self, prefix: list[str], summary: list[str],
                                    postfix: list[str]) -> None:
        if self.outcome is not None:
            prefix.append(html_section(self.outcome))


def summary_lines(outcome: Outcome, output_lines: int = 15) -> list[str]:
    """The terminal summary of an outcome (already scrubbed)."""
    data = outcome.as_dict()
    lines = ["== synthetics self-healing",
             f"{data['status'].upper()}: {data['headline']}"]
    if data["reason"]:
        lines.append(f"why: {data['reason']}")
    lines.extend(data["details"])
    for step in data["steps"]:
        lines.append(f"{step['kind']}: {step['command']} → {step['result']}; {step['verify']}")
        tail = [x for x in step["output"].splitlines() if x.strip()][-output_lines:]
        lines.extend(f"  | {x}" for x in tail)
    if data["audit_log"]:
        lines.append(f"audit log: {data['audit_log']}")
    return lines


def html_section(outcome: Outcome) -> str:
    """The HTML report's self-healing section (already scrubbed and escaped)."""
    data = outcome.as_dict()
    e = html.escape
    colour = "#fecaca" if data["escalate"] else "#bbf7d0" if data["steps"] else "#e5e7eb"
    parts = [f'<div id="synthetics-remediation"><h2>Self-healing</h2>'
             f'<p style="background:{colour};padding:8px;font-weight:bold">'
             f"{e(data['status'])}: {e(data['headline'])}</p>"]
    if data["reason"]:
        parts.append(f"<p>Why: {e(data['reason'])}</p>")
    if data["details"]:
        parts.append("<ul>" + "".join(f"<li>{e(d)}</li>" for d in data["details"]) + "</ul>")
    if data["steps"]:
        rows = "".join(
            f"<tr><td>{e(s['kind'])}</td><td><code>{e(s['command'])}</code></td>"
            f"<td>{e(str(s['exit_code']))}</td><td>{s['duration']:.1f} s</td>"
            f"<td>{e(s['result'])}</td><td>{e(s['verify'])}</td></tr>"
            f"<tr><td colspan=\"6\"><pre>{e(s['output'][-4000:])}</pre></td></tr>"
            for s in data["steps"])
        parts.append("<table><thead><tr><th>step</th><th>command</th><th>exit</th>"
                     "<th>duration</th><th>result</th><th>after</th></tr></thead>"
                     f"<tbody>{rows}</tbody></table>")
    if data["audit_log"]:
        parts.append(f"<p>Audit log: <code>{e(data['audit_log'])}</code></p>")
    parts.append("</div>")
    return "".join(parts)
