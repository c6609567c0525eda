"""What is deployed: the Worker a redeploy would replace, read from the wrangler configuration.

The self-healing guardrails (lock, cooldown, hourly cap) belong to a deployment, not to the way
someone typed the target URL: `http://127.0.0.1:8787`, `http://localhost:8787/` and
`HTTP://127.0.0.1:8787` are one outage of one Worker and must share them. `read_deployment`
reads the configuration the deploy command uses (`--deploy-config`, TOML, or JSON/JSONC as
wrangler accepts) and applies wrangler's rule for the deployed script's name: with `--env ENV`
it is `[env.ENV].name` when that section sets one, else `<top-level name>-<ENV>`. A missing
or unreadable configuration, one without a name, or an environment the file does not define
while it defines others (wrangler refuses that too) raises `DeploymentError` with a one-line
reason: wrangler would fail on it, so nothing is deployed.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synthetics.settings import canonical_url

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 installs tomli (pyproject.toml)
    import tomli as tomllib

__all__ = ["Deployment", "DeploymentError", "read_deployment", "strip_jsonc"]


class DeploymentError(ValueError):
    """The wrangler configuration cannot say what is deployed (one line, for people)."""


@dataclass(frozen=True)
class Deployment:
    """One Worker as deployed: its script name and wrangler environment, the configuration they
    came from, and the canonical URL it was checked at (for people; not part of the key)."""

    worker: str  # the deployed script name, e.g. wfa-orchestration-worker-production-production
    env: str  # the wrangler --env
    config: str  # the configuration file, as given
    url: str  # the target's canonical URL

    @property
    def key(self) -> str:
        """A short file-name-safe key: the same for every spelling of the target URL."""
        return hashlib.sha256(f"{self.worker}\n{self.env}".encode()).hexdigest()[:12]

    def describe(self) -> str:
        return f"worker {self.worker} (--env {self.env}, {self.config}) at {self.url}"


def strip_jsonc(text: str) -> str:
    """JSON with comments (// and /* */) and trailing commas, as wrangler.jsonc allows, turned
    into plain JSON. Strings are left exactly as they are."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        elif text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end == -1 else end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end == -1:
                raise ValueError("unterminated /* comment")
            i = end + 2
        else:
            out.append(c)
            i += 1
    return re.sub(r",(\s*[}\]])", r"\1", "".join(out))


def _load(path: Path) -> Any:
    raw = path.read_bytes()
    if path.suffix == ".toml":
        return tomllib.loads(raw.decode("utf-8"))
    if path.suffix in (".json", ".jsonc"):
        return json.loads(strip_jsonc(raw.decode("utf-8")))
    raise ValueError("not a .toml, .json or .jsonc file (wrangler reads only those)")


def read_deployment(config: str | Path, env: str, url: str,
                    cwd: str | Path | None = None) -> Deployment:
    """The deployment `wrangler deploy --config CONFIG --env ENV` makes; `url` is the target.

    A relative `config` is read from `cwd` (default: the current directory), as wrangler does.
    Raises `DeploymentError` with a one-line reason when it cannot be known.
    """
    path = Path(config).expanduser()
    if not path.is_absolute() and cwd is not None:
        path = Path(cwd) / path
    where = f"the wrangler configuration {config}"
    try:
        data = _load(path)
    except FileNotFoundError:
        raise DeploymentError(f"{where} does not exist (in {path.parent.absolute()}): pass "
                              "--deploy-config PATH") from None
    except OSError as exc:
        raise DeploymentError(f"{where} cannot be read: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        detail = " ".join(str(exc).split())[:200]
        raise DeploymentError(f"{where} cannot be parsed: {detail}") from None
    if not isinstance(data, dict):
        raise DeploymentError(f"{where} is not a table of settings")
    envs = data.get("env")
    envs = envs if isinstance(envs, dict) else {}
    section = envs.get(env)
    if section is None and envs:
        raise DeploymentError(f"{where} defines no [env.{env}] (it defines "
                              f"{', '.join(sorted(map(str, envs)))}): wrangler would refuse "
                              f"--env {env}")
    own = section.get("name") if isinstance(section, dict) else None
    top = data.get("name")
    if isinstance(own, str) and own.strip():
        worker = own.strip()
    elif isinstance(top, str) and top.strip():
        worker = f"{top.strip()}-{env}"
    else:
        raise DeploymentError(f"{where} names no Worker (no top-level name, and [env.{env}] "
                              "sets none)")
    return Deployment(worker=worker, env=env, config=str(config), url=canonical_url(url))
