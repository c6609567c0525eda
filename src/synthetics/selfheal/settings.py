"""The self-healing settings: the redeploy plugin's option table, resolved into `RedeploySettings`.

Kept apart from the plugin (`synthetics.selfheal.plugin`, which registers them): `synthetics
heal`, the Alertmanager sinks (the worker's name comes from `--deploy-config`) and the evening
review (`--wrangler`) read the same options, and the plugin itself imports the Alertmanager
silence gate, so the options must sit below both.
"""

from __future__ import annotations

import os
import shlex
import urllib.parse
from dataclasses import dataclass, fields
from pathlib import Path

import pytest

from synthetics.selfheal.deployment import Deployment, read_deployment
from synthetics.selfheal.provider_status import DEFAULT_COMPONENTS, DEFAULT_STATUS_URL
from synthetics.settings import (
    Option,
    flag,
    non_negative_float,
    positive_float,
    positive_int,
)

__all__ = ["OPTIONS", "REDEPLOY_SETTINGS", "WRANGLER", "RedeploySettings", "default_state_dir"]

REDEPLOY_SETTINGS = pytest.StashKey["RedeploySettings"]()
DEFAULT_CONTROL_URL = "https://www.cloudflarestatus.com/"


def _url(value: str) -> str:
    parsed = urllib.parse.urlsplit(value.strip())
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValueError("must be an http:// or https:// URL")
    return value.strip()


def _nonempty(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value.strip()


def _components(value: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in value.split(",") if n.strip())
    if not names:
        raise ValueError("must name at least one component")
    return names


def _args(value: str) -> tuple[str, ...]:
    try:
        return tuple(shlex.split(value))
    except ValueError as exc:
        raise ValueError(f"cannot split into arguments ({exc})") from None


#: The wrangler executable: the redeploy plugin deploys and rolls back with it, the evening
#: review (`synthetics.schedule.review`) reads the account through it. Registered with this table.
WRANGLER = Option("wrangler", "--wrangler",
                  "The wrangler executable the redeploys and the evening review run (default: "
                  "wrangler on PATH).", "wrangler", _nonempty)

OPTIONS: tuple[Option, ...] = (
    Option("redeploy", "--redeploy",
           "Self-healing: when a health check fails and /health stays down through the "
           "confirmation window, redeploy the worker (then roll back if that does not help). "
           "Off unless given.", False, flag, is_flag=True),
    Option("redeploy_dry_run", "--redeploy-dry-run",
           "Do everything --redeploy does except run the deploy and rollback commands; print "
           "the exact command lines instead.", False, flag, is_flag=True),
    Option("control_url", "--control-url",
           "A URL that should always answer; when it is unreachable too the runner's own network "
           f"is down and nothing is deployed (default {DEFAULT_CONTROL_URL}).",
           DEFAULT_CONTROL_URL, _url),
    Option("confirm_seconds", "--confirm-seconds",
           "Seconds /health must stay down on re-probes before acting (default 60: the "
           "document's 'health endpoint down for > 1 minute').", 60.0, non_negative_float),
    Option("verify_seconds", "--verify-seconds",
           "Seconds to wait for /health to answer healthy after a redeploy or rollback "
           "(default 60).", 60.0, non_negative_float),
    Option("cooldown_seconds", "--cooldown-seconds",
           "Seconds after a remediation during which no run remediates the same target again "
           "(default 600).", 600.0, non_negative_float),
    Option("max_redeploys_per_hour", "--max-redeploys-per-hour",
           "Remediations of one target allowed per rolling hour (default 3).", 3, positive_int),
    Option("state_dir", "--state-dir",
           "Directory of the cooldown state, the lock and the audit log (audit.jsonl); "
           "default $XDG_STATE_HOME/victory36-synthetics (~/.local/state/...).", None, str),
    Option("reprobe_interval", "--reprobe-interval",
           "Seconds between re-probes of /health in the confirmation and verification windows "
           "(default 5).", 5.0, positive_float),
    Option("deploy_timeout", "--deploy-timeout",
           "Seconds the deploy or rollback command may take before it is killed (default 300).",
           300.0, positive_float),
    WRANGLER,
    Option("deploy_config", "--deploy-config",
           "wrangler --config of the deploy and rollback (default "
           "wrangler-production-simple.toml).", "wrangler-production-simple.toml", _nonempty),
    Option("deploy_env", "--deploy-env",
           "wrangler --env of the deploy and rollback (default production).", "production",
           _nonempty),
    Option("deploy_args", "--deploy-args",
           "Extra arguments appended to the deploy command, split like a shell "
           "(e.g. \"--keep-vars\").", (), _args),
    Option("rollback_message", "--rollback-message",
           "The --message of the rollback.",
           "synthetics: /health still down after a redeploy; automatic rollback", _nonempty),
    Option("provider_status_url", "--provider-status-url",
           "Cloudflare's status page, read (its /api/v2/summary.json) before any deploy: an "
           "unresolved incident or a degraded component matching --provider-components means "
           "nothing is deployed; an unreadable page is reported and does not block (default "
           f"{DEFAULT_STATUS_URL}).", DEFAULT_STATUS_URL, _url),
    Option("provider_components", "--provider-components",
           "Comma-separated status-page component names that matter to the worker, each "
           "matched as a whole word (default Workers: Workers, Workers KV, Workers AI, ...).",
           DEFAULT_COMPONENTS, _components),
)


@dataclass(frozen=True)
class RedeploySettings:
    """The resolved self-healing settings of one session."""

    redeploy: bool
    redeploy_dry_run: bool
    control_url: str
    confirm_seconds: float
    verify_seconds: float
    cooldown_seconds: float
    max_redeploys_per_hour: int
    state_dir: str | None
    reprobe_interval: float
    deploy_timeout: float
    wrangler: str
    deploy_config: str
    deploy_env: str
    deploy_args: tuple[str, ...]
    rollback_message: str
    provider_status_url: str
    provider_components: tuple[str, ...]

    @property
    def enabled(self) -> bool:
        return self.redeploy or self.redeploy_dry_run

    @property
    def state_path(self) -> Path:
        path = Path(self.state_dir).expanduser() if self.state_dir else default_state_dir()
        return path.absolute()

    def deployment(self, target: str) -> Deployment:
        """What the deploy command deploys (`synthetics.selfheal.deployment`); DeploymentError if
        the
        configuration cannot tell."""
        return read_deployment(self.deploy_config, self.deploy_env, target)


assert [f.name for f in fields(RedeploySettings)] == [o.name for o in OPTIONS]


def default_state_dir(environ: dict[str, str] | None = None) -> Path:
    """$XDG_STATE_HOME/victory36-synthetics, else ~/.local/state/victory36-synthetics."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "victory36-synthetics"


