"""Remediation: the ladder that brings a worker whose /health is down back, and its guardrails.

The ladder (`Ladder.remediate`): take the deployment's cross-process lock (or leave it to the run
that holds it); refuse inside the cooldown or over the hourly cap (`StateStore`, a state file that
survives restarts; one that cannot be read refuses, fail closed); re-probe /health over a
confirmation window (one healthy answer ends it: a transient failure); probe a control URL
(unreachable too → the runner's own network is down, so do nothing); ask who failed in the last
/health answer (`synthetics.attribution`: a *limit* or *edge* failure escalates and deploys
nothing, only the worker's own failure is redeployed); then redeploy, verify, roll back if still
unhealthy, verify again, and report the outcome. The lock, cooldown and cap belong
to the deployment (`synthetics.selfheal.deployment`: the Worker's script name and environment), so
every
spelling of one target's URL shares them. Every decision taken on a failing target, every error
and every command run lands in an append-only JSON-lines audit log; when the log cannot be
written, the outcome says so. Commands run through `run_step`: an argv list (never a shell
string) with a timeout, output kept but scrubbed of secrets, and a one-line error instead of a
traceback.

There is no pytest here: `synthetics.selfheal.plugin` wires this into a session. Clocks, sleepers,
probes and the step runner are passed in, so tests drive them directly.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from synthetics.attribution import Attribution, explain
from synthetics.clock import format_utc
from synthetics.filelock import FileLock, locked
from synthetics.runner import run_command
from synthetics.scrub import scrub, scrub_data
from synthetics.selfheal.deployment import Deployment

__all__ = [
    "Ladder", "Outcome", "StateError", "StateStore", "Step", "StepRecord", "StepResult",
    "append_audit", "describe_result", "guardrail", "outcome_record", "run_step",
]

#: How much of a command's output is kept (its tail: the end says what went wrong).
MAX_OUTPUT_CHARS = 20_000
_NOT_AUTHENTICATED = re.compile(
    r"necessary to set a CLOUDFLARE_API_TOKEN|not (?:logged in|authenticated)|"
    r"Authentication error|Invalid API Token|You are not authenticated", re.IGNORECASE)
HOUR = 3600.0


@dataclass(frozen=True)
class Step:
    """One rung of the ladder to carry out: the redeploy or the rollback."""

    kind: str  # "deploy" | "rollback"
    argv: tuple[str, ...]  # the configured command
    timeout: float  # seconds it may take
    target: str = ""  # the worker's base URL
    reason: str = ""  # why the plugin is acting, one line
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ), repr=False)
    cwd: str | None = None

    @property
    def command(self) -> str:
        """The command as a shell would show it (for people; it is never run through a shell)."""
        return shlex.join(self.argv)


@dataclass(frozen=True)
class StepResult:
    """How a step went. `error` is a one-line problem that kept it from completing (not found,
    timed out, ...); a command that ran and failed has an `exit_code` other than 0 instead."""

    exit_code: int | None
    output: str = ""
    duration: float = 0.0
    error: str | None = None
    command: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None and self.exit_code == 0


def describe_result(result: StepResult) -> str:
    """One line: how the step ended, with a hint when wrangler is not authenticated."""
    if result.error is not None:
        text = result.error
    elif result.exit_code == 0:
        text = f"exit 0 in {result.duration:.1f} s"
    else:
        text = f"FAILED: exit {result.exit_code} in {result.duration:.1f} s"
    if not result.ok and _NOT_AUTHENTICATED.search(result.output):
        text += (" — wrangler is not authenticated: set CLOUDFLARE_API_TOKEN (and "
                 "CLOUDFLARE_ACCOUNT_ID) in the job's environment")
    return text


def _tail(text: str) -> str:
    if len(text) > MAX_OUTPUT_CHARS:
        cut = len(text) - MAX_OUTPUT_CHARS
        text = f"[… {cut} characters cut …]\n" + text[-MAX_OUTPUT_CHARS:]
    return text


def run_step(step: Step, *, clock: Callable[[], float] = time.monotonic) -> StepResult:
    """Run `step.argv` with `step.env`, stdin closed, for at most `step.timeout` seconds.

    Never raises for a missing or failing command: the result carries a one-line `error` or a
    non-zero `exit_code`. On timeout the command's whole process group is killed
    (`synthetics.runner`). Output (stdout and stderr together) is kept, stripped of colour codes
    and scrubbed of secrets.
    """
    command = scrub(step.command, step.env)
    if not step.argv:
        return StepResult(None, error="no command configured", command=command)
    exe = step.argv[0]
    path = step.env.get("PATH", os.defpath)
    if shutil.which(exe, path=path) is None:
        where = "" if os.sep in exe else " on PATH"
        return StepResult(None, command=command, error=(
            f"{exe!r} not found{where}: install wrangler (npm install -g wrangler) or pass "
            "--wrangler /path/to/wrangler"))
    started = clock()
    try:
        done = run_command(step.argv, timeout=step.timeout, env=step.env, cwd=step.cwd,
                           clock=clock)
    except OSError as exc:
        return StepResult(None, command=command, duration=clock() - started,
                          error=f"cannot run {exe!r}: {exc.strerror or exc}")
    if done.timed_out:
        return StepResult(None, output=_tail(done.stdout), command=command,
                          duration=done.duration,
                          error=f"timed out after {step.timeout:g} s (killed)")
    return StepResult(done.exit_code, output=_tail(done.stdout), duration=done.duration,
                      command=command)


@dataclass
class StepRecord:
    """A step as carried out, and what re-probing /health found afterwards."""

    kind: str
    command: str
    exit_code: int | None
    duration: float
    result: str  # describe_result()
    output: str
    healthy_after: bool | None = None  # None: not verified (the step failed)
    verify: str = ""

    def as_dict(self, with_output: bool = True) -> dict[str, Any]:
        data = asdict(self)
        if not with_output:
            del data["output"]
        return data


#: Every outcome, and whether someone has to look (escalate).
STATUSES: dict[str, bool] = {
    "healthy": False, "builtin": False, "interrupted": False, "transient": False,
    "locked": False, "cooldown": False, "hourly-cap": True, "network-down": True,
    "dry-run": False, "recovered-by-redeploy": False, "recovered-by-rollback": False,
    "still-down": True, "error": True, "silenced": False, "refused": True,
    # Not the worker's failure (synthetics.attribution): a redeploy would not help.
    "limit": True, "edge": True, "provider-incident": True,
}


@dataclass
class Outcome:
    """What the self-healing plugin decided and did in one session."""

    status: str  # a key of STATUSES
    headline: str  # one line for people
    target: str = ""
    reason: str = ""  # why it considered acting: the failed health checks
    details: list[str] = field(default_factory=list)
    steps: list[StepRecord] = field(default_factory=list)
    dry_run: bool = False
    audit_log: str | None = None
    started: str = ""
    finished: str = ""

    @property
    def escalate(self) -> bool:
        """True when a person has to act (still down, hourly cap reached, runner network down)."""
        return STATUSES.get(self.status, True)

    @property
    def acted(self) -> bool:
        """True when a deploy or rollback command was run."""
        return bool(self.steps)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready and scrubbed of secrets."""
        data = {
            "status": self.status, "headline": self.headline, "escalate": self.escalate,
            "target": self.target, "reason": self.reason, "details": list(self.details),
            "steps": [s.as_dict() for s in self.steps], "dry_run": self.dry_run,
            "audit_log": self.audit_log, "started": self.started, "finished": self.finished,
        }
        result: dict[str, Any] = scrub_data(data)
        return result


def outcome_record(outcome: Outcome, run_id: str, deployment: Deployment | None = None,
                   dry_run: bool | None = None) -> dict[str, Any]:
    """The audit log's record of an outcome (scrubbed when appended)."""
    record: dict[str, Any] = {
        "time": outcome.finished or format_utc(time.time()), "event": "outcome", "run": run_id,
        "target": outcome.target,
    }
    if deployment is not None:
        record.update(worker=deployment.worker, env=deployment.env, config=deployment.config)
    record.update({
        "status": outcome.status, "escalate": outcome.escalate, "headline": outcome.headline,
        "why": outcome.reason, "details": outcome.details,
        "dry_run": outcome.dry_run if dry_run is None else dry_run, "started": outcome.started,
        "steps": [s.as_dict(with_output=False) for s in outcome.steps],
    })
    return record


def append_audit(path: Path, record: dict[str, Any]) -> str | None:
    """Append one record (scrubbed) to the JSON-lines audit log at `path` under a short lock.

    Returns None when written, else a one-line reason it was not (the caller says so).
    """
    try:
        line = json.dumps(scrub_data(record), ensure_ascii=False, sort_keys=False,
                          default=str)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as log, locked(log):
            log.write(line + "\n")
            log.flush()
    except (OSError, ValueError, RecursionError) as exc:
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return f"the audit log {path} could not be written: {type(exc).__name__}: {detail}"
    return None


class StateError(ValueError):
    """The state file exists but cannot be read or understood (one line)."""


def guardrail(attempts: list[float], now: float, cooldown: float, per_hour: int) -> str | None:
    """Why a remediation may not start now (cooldown, hourly cap), or None when it may."""
    if attempts and now - max(attempts) < cooldown:
        last = max(attempts)
        return (f"cooldown: the last remediation of this deployment started at {format_utc(last)} "
                f"({now - last:.0f} s ago); the next is allowed from {format_utc(last + cooldown)} "
                f"(--cooldown-seconds {cooldown:g})")
    recent = sorted(t for t in attempts if now - t < HOUR)
    if len(recent) >= per_hour:
        return (f"hourly cap: {len(recent)} remediations of this deployment in the last hour "
                f"(--max-redeploys-per-hour {per_hour}); the next is allowed from "
                f"{format_utc(recent[-per_hour] + HOUR)}")
    return None


class StateStore:
    """The state directory: per-deployment state file and lock, and the shared audit log.

    `state-<key>.json` keeps the start times of recent remediations (cooldown, hourly cap) and is
    replaced atomically; `redeploy-<key>.lock` is a `synthetics.filelock.FileLock` held while a
    run remediates, so concurrent runs (overlapping schedules, CI jobs, xdist) act at most once;
    `audit.jsonl` is only ever appended to, one JSON object per line, under its own short lock
    (`synthetics.filelock.locked`). The key is the deployment's (`Deployment.key`), so every
    spelling of the target URL shares one state.
    """

    def __init__(self, directory: Path, deployment: Deployment) -> None:
        self.directory = Path(directory)
        self.deployment = deployment
        self.state_path = self.directory / f"state-{deployment.key}.json"
        self.lock_path = self.directory / f"redeploy-{deployment.key}.lock"
        self.audit_path = self.directory / "audit.jsonl"
        self._lock = FileLock(self.lock_path)

    def ensure(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)

    def try_lock(self, holder: str) -> bool:
        """Take the deployment's lock without waiting; False when another process holds it."""
        return self._lock.acquire(holder)

    def unlock(self) -> None:
        self._lock.release()

    def holder(self) -> str:
        """Who holds the lock, as its holder wrote it (best effort)."""
        return self._lock.holder()

    def attempts(self) -> list[float]:
        """Start times (epoch) of the deployment's recorded remediations; [] when no state file
        exists yet. A state file that cannot be read or is not valid state raises `StateError`
        (fail closed: without it the cooldown and the hourly cap cannot be checked)."""
        path = self.state_path
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError) as exc:
            detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise StateError(f"the state file {path} cannot be read ({detail})") from None
        try:
            data = json.loads(text)
            raw = data["attempts"]
            if not isinstance(raw, list):
                raise TypeError("attempts is not a list")
            values = [float(t) for t in raw]
            if not all(isinstance(t, int | float) and not isinstance(t, bool) and 0 < v < 1e11
                       for t, v in zip(raw, values, strict=True)):
                raise ValueError("an attempt is not a time")
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
            detail = " ".join(str(exc).split())[:120] or type(exc).__name__
            raise StateError(f"the state file {path} is not valid state ({type(exc).__name__}:"
                             f" {detail})") from None
        return values

    def record_attempt(self, when: float) -> None:
        kept = [t for t in self.attempts() if when - t < 24 * HOUR] + [when]
        d = self.deployment
        data = {"worker": d.worker, "env": d.env, "config": d.config, "target": d.url,
                "attempts": kept, "attempts_utc": [format_utc(t) for t in kept]}
        tmp = self.state_path.with_name(self.state_path.name + f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=1) + "\n")
        os.replace(tmp, self.state_path)

    def audit(self, record: dict[str, Any]) -> str | None:
        """Append one record (scrubbed) to the audit log: None, or why it could not be."""
        return append_audit(self.audit_path, record)


HealthProbe = Callable[[], tuple[bool, str]]
#: A pre-deploy gate: None when the step may run, else a one-line refusal. A refusal starting
#: with "cooldown", "hourly cap", "silenced" or "provider incident" gets that status; any other
#: refuses and escalates.
Gate = Callable[[Step], str | None]


def gate_status(refusal: str) -> str:
    """The outcome status of a gate's refusal."""
    for prefix, status in (("cooldown", "cooldown"), ("hourly cap", "hourly-cap"),
                           ("silenced", "silenced"), ("provider incident", "provider-incident")):
        if refusal.startswith(prefix):
            return status
    return "refused"


@dataclass
class Ladder:
    """The remediation of one deployment in one session. Call `remediate(reason)` once.

    `target` is the canonical URL of the target (for people); `store` is keyed on the deployment.
    `remediate` never raises an `Exception`: whatever goes wrong is an "error" outcome, audited.
    """

    target: str
    store: StateStore
    deploy: Step
    rollback: Step
    run: Callable[[Step], StepResult | None]  # the deploy hook
    health: HealthProbe  # one /health probe: (healthy, one-line detail)
    control: HealthProbe  # one control-URL probe: (reachable, one-line detail)
    control_url: str = ""
    confirm_seconds: float = 60.0
    verify_seconds: float = 60.0
    interval: float = 5.0
    cooldown_seconds: float = 600.0
    max_per_hour: int = 3
    dry_run: bool = False
    run_id: str = ""
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    say: Callable[[str], None] = lambda line: None
    #: Checked in order before the ladder starts and again right before each deploy and
    #: rollback (Cloudflare's deployments list, an Alertmanager silence, ...). In a dry run a
    #: refusal is reported in the details and the dry run goes on.
    gates: tuple[Gate, ...] = ()
    #: Who failed in the last unhealthy /health probe (`synthetics.attribution`), or None. Only
    #: a *worker* failure (or no answer at all, when the control URL answers) is redeployed:
    #: a *limit* or *edge* failure escalates with its explanation and deploys nothing.
    who: Callable[[], Attribution | None] = lambda: None

    def _gate(self, step: Step, outcome: Outcome) -> Outcome | None:
        """The finished outcome when a gate refuses `step`, else None."""
        for gate in self.gates:
            try:
                refusal = gate(step)
            except Exception as exc:  # a gate that breaks refuses: fail closed
                refusal = f"refused: a pre-deploy gate failed ({type(exc).__name__}: {exc})"
            if refusal is not None and self.dry_run:  # shown, and the dry run goes on
                outcome.details.append(f"dry run: a real run would not run the {step.kind}: "
                                       f"{refusal}")
                return None
            if refusal is not None:
                outcome.details.append(f"before the {step.kind}: {refusal}")
                return self._finish(outcome, gate_status(refusal),
                                    f"not running the {step.kind}: {refusal}")
        return None

    def remediate(self, reason: str) -> Outcome:
        outcome = Outcome("error", "", target=self.target, reason=reason, dry_run=self.dry_run,
                          started=format_utc(self.clock()), audit_log=str(self.store.audit_path))
        self.store.ensure()
        holder = f"pid {os.getpid()} on {os.uname().nodename}, run {self.run_id}, since " \
                 f"{format_utc(self.clock())}"
        if not self.store.try_lock(holder):
            return self._finish(outcome, "locked", (
                f"not deploying: another run is remediating this deployment right now "
                f"({self.store.holder()}); it acts for this run too"))
        try:
            return self._climb(outcome)
        except KeyboardInterrupt:
            return self._finish(outcome, "interrupted",
                                f"interrupted during remediation; done so far: {_done(outcome)}")
        except Exception as exc:  # noqa: BLE001 - an outcome, audited, never a traceback
            text = " ".join(str(exc).split())[:300]
            return self._finish(outcome, "error", (
                f"self-healing failed: {type(exc).__name__}: {text}; done so far: "
                f"{_done(outcome)}; nothing further was done"))
        finally:
            self.store.unlock()

    def _climb(self, outcome: Outcome) -> Outcome:
        try:
            attempts = self.store.attempts()
        except StateError as exc:
            return self._finish(outcome, "error", (
                f"not deploying: {exc}, so the cooldown and the hourly cap cannot be checked; "
                "fix or remove it"))
        refusal = guardrail(attempts, self.clock(), self.cooldown_seconds, self.max_per_hour)
        if refusal is not None:
            status = "cooldown" if refusal.startswith("cooldown") else "hourly-cap"
            return self._finish(outcome, status, f"not deploying: {refusal}")
        refused = self._gate(self.deploy, outcome)
        if refused is not None:
            return refused

        self.say(f"/health failed; confirming it stays down: re-probing for "
                 f"{self.confirm_seconds:g} s")
        healthy, probes, detail = self._window(self.confirm_seconds)
        outcome.details.append(f"confirmation window ({self.confirm_seconds:g} s): "
                               f"{probes} probe(s); last: {detail}")
        if healthy:
            return self._finish(outcome, "transient", (
                f"not deploying: /health recovered inside the confirmation window "
                f"(healthy on re-probe {probes}): a transient failure"))

        reachable, control_detail = self.control()
        outcome.details.append(f"control {self.control_url}: "
                               f"{'reachable' if reachable else 'UNREACHABLE'} ({control_detail})")
        if not reachable:
            return self._finish(outcome, "network-down", (
                f"not deploying: runner network down — the control URL {self.control_url} is "
                f"unreachable too ({control_detail}), so the failure may be ours, not the "
                "worker's"))

        who = self.who()
        if who is not None:
            outcome.details.append(f"who failed: {who.label()}")
            if who.source in ("limit", "edge"):
                return self._finish(outcome, who.source, (
                    f"not deploying: a {who.source} failure ({who.label()}): "
                    f"{explain(who.source, who.code)}; escalate"))

        if self.dry_run:
            outcome.details.append(f"would run: {scrub(self.deploy.command, self.deploy.env)}")
            outcome.details.append(f"then, if /health is still down after "
                                   f"{self.verify_seconds:g} s, would run: "
                                   f"{scrub(self.rollback.command, self.rollback.env)}")
            return self._finish(outcome, "dry-run", (
                f"dry run: /health down for {self.confirm_seconds:g} s and the control URL "
                f"reachable; would run: {scrub(self.deploy.command, self.deploy.env)}"))

        refused = self._gate(self.deploy, outcome)
        if refused is not None:
            return refused
        self.store.record_attempt(self.clock())
        deploy = self._step(self.deploy, outcome)
        if deploy.healthy_after:
            return self._finish(outcome, "recovered-by-redeploy",
                                "/health is healthy again after the redeploy")
        refused = self._gate(self.rollback, outcome)
        if refused is not None:
            return refused
        rollback = self._step(self.rollback, outcome)
        if rollback.healthy_after:
            return self._finish(outcome, "recovered-by-rollback",
                                "the redeploy did not help; /health is healthy again after the "
                                "rollback")
        return self._finish(outcome, "still-down", (
            "escalate — neither the redeploy nor the rollback brought /health back "
            f"(deploy: {deploy.result}; rollback: {rollback.result})"))

    def _window(self, seconds: float) -> tuple[bool, int, str]:
        """Probe /health until healthy or `seconds` have passed: (healthy, probes, last detail)."""
        deadline = self.clock() + seconds
        probes = 0
        while True:
            healthy, detail = self.health()
            probes += 1
            if healthy:
                return True, probes, detail
            remaining = deadline - self.clock()
            if remaining <= 0:
                return False, probes, detail
            self.sleep(min(self.interval, remaining))

    def _step(self, step: Step, outcome: Outcome) -> StepRecord:
        self.say(f"running {scrub(step.command, step.env)} (timeout {step.timeout:g} s)")
        started = self.clock()
        try:
            result = self.run(step)
        except Exception as exc:  # a third-party hook must not break the session
            result = StepResult(None, command=step.command, duration=self.clock() - started,
                                error=f"pytest_synthetics_deploy raised {type(exc).__name__}: "
                                      f"{exc}")
        if result is None:
            result = StepResult(None, command=step.command,
                                error="no pytest_synthetics_deploy implementation ran it")
        env = step.env
        record = StepRecord(
            kind=step.kind, command=scrub(result.command or step.command, env),
            exit_code=result.exit_code, duration=round(result.duration, 3),
            result=scrub(describe_result(result), env), output=scrub(result.output, env))
        self.say(f"{step.kind}: {record.result}")
        if result.ok:
            self.say(f"verifying: re-probing /health for up to {self.verify_seconds:g} s")
            healthy, probes, detail = self._window(self.verify_seconds)
            record.healthy_after = healthy
            record.verify = (f"healthy after {probes} probe(s)" if healthy else
                             f"still down after {self.verify_seconds:g} s ({probes} probe(s); "
                             f"last: {detail})")
        else:
            record.verify = f"not verified: the {step.kind} did not complete"
        outcome.steps.append(record)
        d = self.store.deployment
        self._audit(outcome, {
            "time": format_utc(self.clock()), "event": step.kind, "run": self.run_id,
            "target": self.target, "worker": d.worker, "env": d.env, "config": d.config,
            "why": outcome.reason, **record.as_dict(),
        })
        return record

    def _audit(self, outcome: Outcome, record: dict[str, Any]) -> None:
        problem = self.store.audit(record)
        if problem is not None:
            outcome.details.append(problem)
            self.say(problem)

    def _finish(self, outcome: Outcome, status: str, headline: str) -> Outcome:
        outcome.status, outcome.headline = status, headline
        outcome.finished = format_utc(self.clock())
        self.say(f"{status.upper()}: {headline}")
        self._audit(outcome, outcome_record(outcome, self.run_id, self.store.deployment,
                                            self.dry_run))
        return outcome


def _done(outcome: Outcome) -> str:
    return ", ".join(f"{s.kind} ({s.result})" for s in outcome.steps) or "nothing run"
