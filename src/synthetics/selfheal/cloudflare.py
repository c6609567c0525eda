"""Cloudflare's deployment history as the guardrails' shared memory.

A state file on one runner holds only there: a fresh CI runner, another region or a restarted
host has none. Cloudflare's own list of the worker's deployments is seen by every runner, so
before any deploy or rollback the ladder reads it (`wrangler deployments list --name WORKER
--json`) through `DeploymentsGate`:

- a deployment of the worker by anyone (a person, CI, another runner) within the cooldown
  refuses ("the worker was deployed 4 min ago by …");
- the hourly cap counts the suite's own remediations there: deployments whose message carries
  `TAG` (every deploy and rollback the suite runs passes `--message` with the tag and the run's
  id, `tag_message`), one per run id, the current run's own deploy excepted;
- a list that cannot be read (wrangler missing, not authenticated, the API down, output that is
  not wrangler 4's JSON) refuses and escalates: fail closed.

wrangler 4 prints the list as a JSON array, oldest first, of objects with `id`, `source`,
`strategy`, `author_email`, `created_on` (ISO 8601 UTC), `annotations` (`workers/message`,
`workers/triggered_by`, `workers/rollback_from`) and `versions` (`version_id`, `percentage`).
It shows the 10 most recent deployments, which is enough for a cap of a few per hour.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from synthetics.clock import format_utc
from synthetics.scrub import scrub
from synthetics.selfheal.deployment import DeploymentError, read_deployment
from synthetics.selfheal.ladder import HOUR, Step, StepResult, describe_result, run_step

__all__ = ["TAG", "DeploymentsGate", "ListedDeployment", "list_argv", "parse_deployments",
           "tag_message", "worker_name"]

#: Marks the deployments the suite made in Cloudflare's list (the `--message` of each).
TAG = "[synthetics-heal]"
#: wrangler's rollback message is at most 120 characters.
MAX_MESSAGE = 120


def tag_message(message: str, run_id: str) -> str:
    """`message` with the suite's tag and the run's id, cut to wrangler's 120 characters."""
    suffix = f" {TAG} run {run_id}"
    return message[: MAX_MESSAGE - len(suffix)].rstrip() + suffix


def tagged_argv(argv: Sequence[str], run_id: str, default_message: str) -> tuple[str, ...]:
    """`argv` whose `--message` carries the tag and run id (added when there is none)."""
    out = list(argv)
    for i, arg in enumerate(out):
        if arg == "--message" and i + 1 < len(out):
            out[i + 1] = tag_message(out[i + 1], run_id)
            return tuple(out)
        if arg.startswith("--message="):
            out[i] = "--message=" + tag_message(arg.partition("=")[2], run_id)
            return tuple(out)
    return (*out, "--message", tag_message(default_message, run_id))


def worker_name(config: str | Path, env: str) -> str | None:
    """The worker's name as wrangler derives it from `config` and `--env`
    (`synthetics.selfheal.deployment.read_deployment`); None when the configuration cannot tell."""
    try:
        return read_deployment(config, env, "").worker
    except DeploymentError:
        return None


def list_argv(wrangler: str, name: str | None, config: str, env: str) -> tuple[str, ...]:
    """`wrangler deployments list --name NAME --json` (with --config/--env, which wrangler needs
    for the account and, without a name, to resolve it)."""
    argv = [wrangler, "deployments", "list"]
    if name:
        argv += ["--name", name]
    return (*argv, "--config", config, "--env", env, "--json")


@dataclass(frozen=True)
class ListedDeployment:
    """One entry of Cloudflare's list."""

    id: str
    created: float  # epoch seconds
    author: str
    message: str
    triggered_by: str
    source: str


def _epoch(text: str) -> float:
    stamp = text.strip().replace("Z", "+00:00")
    # Python 3.10 parses 3 or 6 fractional digits only.
    stamp = re.sub(r"\.(\d+)", lambda m: "." + (m.group(1) + "000000")[:6], stamp, count=1)
    parsed = datetime.fromisoformat(stamp)
    if parsed.tzinfo is None:
        raise ValueError(f"created_on {text!r} has no time zone")
    return parsed.timestamp()


def parse_deployments(output: str) -> list[ListedDeployment]:
    """The deployments in wrangler's `--json` output; ValueError with a one-line reason when it
    is not that. Lines before the array (warnings on stderr) are skipped."""
    start = next((i for i, line in enumerate(output.splitlines(keepends=True))
                  if line.lstrip().startswith("[")), None)
    if start is None:
        raise ValueError("no JSON array in wrangler's output")
    text = "".join(output.splitlines(keepends=True)[start:]).lstrip()
    try:
        data, _ = json.JSONDecoder().raw_decode(text)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"wrangler's output is not JSON ({str(exc)[:80]})") from None
    if not isinstance(data, list):
        raise ValueError("wrangler's output is not a JSON array of deployments")
    out = []
    for item in data:
        if not isinstance(item, dict) or not isinstance(item.get("created_on"), str):
            raise ValueError("a deployment without created_on in wrangler's output")
        annotations = item.get("annotations") if isinstance(item.get("annotations"), dict) else {}
        assert isinstance(annotations, dict)
        out.append(ListedDeployment(
            id=str(item.get("id", "")), created=_epoch(item["created_on"]),
            author=str(item.get("author_email") or "unknown"),
            message=str(annotations.get("workers/message") or ""),
            triggered_by=str(annotations.get("workers/triggered_by") or ""),
            source=str(item.get("source") or "")))
    return out


def _ago(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 2 * HOUR:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / HOUR:.1f} h ago"


def _run_of(message: str) -> str | None:
    if TAG not in message:
        return None
    rest = message.split(TAG, 1)[1].split()
    return rest[1] if len(rest) >= 2 and rest[0] == "run" else ""


@dataclass
class DeploymentsGate:
    """A pre-deploy gate of `Ladder`: None when Cloudflare's list allows the step, else why not.

    `read` returns wrangler's result (injectable for tests); `worker` names the worker in
    messages; `run_id` is the current run's, whose own deploy does not block its rollback.
    """

    read: Callable[[], StepResult]
    worker: str
    run_id: str
    cooldown_seconds: float
    max_per_hour: int
    clock: Callable[[], float] = time.time

    def __call__(self, step: Step) -> str | None:
        result = self.read()
        if not result.ok:
            return (f"refused: cannot read Cloudflare's deployments list of {self.worker} "
                    f"({describe_result(result)}{_last_line(result.output)}); not deploying "
                    "without it (fail closed)")
        try:
            deployments = parse_deployments(result.output)
        except ValueError as exc:
            return (f"refused: cannot read Cloudflare's deployments list of {self.worker}: "
                    f"{exc}; not deploying without it (fail closed)")
        now = self.clock()
        others = [d for d in deployments if _run_of(d.message) != self.run_id or not self.run_id]
        recent = [d for d in others if now - d.created < self.cooldown_seconds]
        if recent:
            last = max(recent, key=lambda d: d.created)
            what = f" ({last.message!r})" if last.message else ""
            ago = _ago(now - last.created)
            return (f"cooldown: Cloudflare lists a deployment of {self.worker} {ago}"
                    f" by {last.author}{what} at {format_utc(last.created)}; the next is allowed"
                    " from "
                    f"{format_utc(last.created + self.cooldown_seconds)} "
                    f"(--cooldown-seconds {self.cooldown_seconds:g})")
        runs = {_run_of(d.message) for d in others
                if now - d.created < HOUR and _run_of(d.message) is not None}
        if len(runs) >= self.max_per_hour:
            return (f"hourly cap: Cloudflare lists {len(runs)} remediation(s) of {self.worker} "
                    f"by this suite ({TAG}) in the last hour (--max-redeploys-per-hour "
                    f"{self.max_per_hour})")
        return None


def _last_line(output: str) -> str:
    lines = [x.strip() for x in output.splitlines() if x.strip()]
    return f": {scrub(lines[-1])[:200]}" if lines else ""


def reader(argv: Sequence[str], env: Mapping[str, str], timeout: float,
           cwd: str | None = None) -> Callable[[], StepResult]:
    """Read the list by running `argv` (see `list_argv`) with `run_step`."""
    step = Step("deployments", tuple(argv), timeout, env=dict(env), cwd=cwd)
    return lambda: run_step(step)
