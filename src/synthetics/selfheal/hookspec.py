"""Hook specifications of the self-healing redeploy plugin (`synthetics.selfheal.plugin`).

`pytest_synthetics_deploy` is the extension point: it carries out one rung of the remediation
ladder (the redeploy, or the rollback). The plugin's own implementation runs the configured
wrangler command; a conftest.py or plugin can replace it for a team that deploys differently (a CI
workflow dispatch, a deploy webhook, another command). `pytest_synthetics_remediation` tells other
plugins (alerts, CI step summaries) what happened. Both are called only in the controller process,
at session end, and only when `--redeploy` or `--redeploy-dry-run` is on.
"""

from __future__ import annotations

import pytest

from synthetics.selfheal.ladder import Outcome, Step, StepResult

hookspec = pytest.hookspec


@hookspec(firstresult=True)
def pytest_synthetics_deploy(config: pytest.Config, step: Step) -> StepResult | None:
    """Carry out one remediation step and say how it went; return None to leave it to the next
    implementation (in the end the plugin's own, which runs ``step.argv`` with a timeout).

    ``step.kind`` is ``"deploy"`` (the redeploy) or ``"rollback"`` (run when the redeploy did not
    bring /health back). ``step.argv`` is the configured command (``wrangler deploy --config
    wrangler-production-simple.toml --env production`` / ``wrangler rollback ... --message ...
    --yes``), ``step.env`` the environment it runs with (where ``CLOUDFLARE_API_TOKEN`` lives),
    ``step.timeout`` the seconds it may take, ``step.reason`` why the plugin is acting and
    ``step.target`` the worker's URL. After your step the plugin re-probes /health itself.

    Return a ``synthetics.selfheal.ladder.StepResult``: ``exit_code`` (0 = done), ``output`` (kept
    in
    the audit log and shown in the terminal, secrets scrubbed by the plugin), ``duration`` in
    seconds, ``error`` (a one-line problem, or None) and ``command`` (what you did, in words, for
    the audit log). An exception raised here is reported as a failed step, never a traceback.
    With ``--redeploy-dry-run`` this hook is not called.

    Paste into conftest.py to deploy by dispatching a GitHub Actions workflow, and keep the default
    rollback::

        import json, os, time, urllib.error, urllib.request
        import pytest
        from synthetics.selfheal.ladder import StepResult

        @pytest.hookimpl(tryfirst=True)
        def pytest_synthetics_deploy(config, step):
            if step.kind != "deploy":
                return None  # the rollback stays `wrangler rollback`
            url = ("https://api.github.com/repos/OWNER/REPO/actions/workflows/"
                   "deploy-worker.yml/dispatches")
            request = urllib.request.Request(
                url, method="POST", data=json.dumps({"ref": "main"}).encode(),
                headers={"Authorization": "Bearer " + os.environ["GITHUB_TOKEN"],
                         "Accept": "application/vnd.github+json"})
            started = time.monotonic()
            try:
                with urllib.request.urlopen(request, timeout=step.timeout) as response:
                    status = response.status
            except (OSError, urllib.error.URLError) as exc:
                return StepResult(exit_code=None, error=f"dispatch failed: {exc}",
                                  duration=time.monotonic() - started,
                                  command="dispatch deploy-worker.yml")
            return StepResult(exit_code=0 if status == 204 else 1,
                              output=f"GitHub answered HTTP {status}",
                              duration=time.monotonic() - started,
                              command="dispatch deploy-worker.yml")

    Or run a different command with the plugin's own runner (timeout, scrubbing, clear errors)::

        import dataclasses
        from synthetics.selfheal.ladder import run_step

        def pytest_synthetics_deploy(config, step):
            if step.kind == "deploy":
                return run_step(dataclasses.replace(
                    step, argv=("npx", "wrangler", "deploy", "--env", "production"),
                    cwd="/srv/wfa-orchestration-worker"))
            return None
    """


@hookspec
def pytest_synthetics_remediation(config: pytest.Config, outcome: Outcome) -> None:
    """Called once at session end, in the controller, with what the self-healing plugin decided
    and did (``outcome.status``: recovered-by-redeploy, recovered-by-rollback, still-down,
    transient, network-down, cooldown, locked, builtin, dry-run, healthy, ...).
    ``outcome.as_dict()`` is JSON-ready and already scrubbed of secrets. The same object is in
    ``config.stash[synthetics.selfheal.plugin.REMEDIATION]`` for report writers.

    Paste into conftest.py to post escalations to a chat webhook::

        import json, os, urllib.request

        def pytest_synthetics_remediation(config, outcome):
            if outcome.status != "still-down":
                return
            body = json.dumps({"text": outcome.headline}).encode()
            urllib.request.urlopen(urllib.request.Request(
                os.environ["CHAT_WEBHOOK_URL"], data=body,
                headers={"Content-Type": "application/json"}), timeout=10)
    """
