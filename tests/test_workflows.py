"""The GitHub Actions workflows and the ci/ scripts they call.

actionlint checks the workflows (syntax, expressions, action inputs, `runs-on`, cron), so a typo
cannot land; a workflow with a planted typo proves it would catch one. The scripts are run for
real: exit codes a pipeline acts on (0 all met, 1 a check failed, 4 usage/configuration).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
SCHEDULED = WORKFLOWS / "synthetics-scheduled.yml"
PRE_DEPLOY = WORKFLOWS / "synthetics-pre-deploy.yml"
BIN = Path(sys.executable).parent


def _actionlint() -> str:
    found = BIN / "actionlint"
    if not found.exists():
        found = Path(shutil.which("actionlint") or "")
    assert found.is_file(), "actionlint is needed: pip install -e '.[dev]' brings it"
    return str(found)


def _lint(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([_actionlint(), "-no-color", "-oneline", *map(str, paths)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_workflows_pass_actionlint() -> None:
    result = _lint(*sorted(WORKFLOWS.glob("*.yml")))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(("old", "new", "complaint"), [
    ("runs-on: ${{ matrix.runner }}", "runs-on: ${{ matrix.runnr }}", "runnr"),
    ('cron: "7,22,37,52 * * * *"', 'cron: "7,22,37,62 * * * *"', "invalid CRON format"),
    ("if: always()", "if: always(", "[expression]"),
    ("uses: actions/cache/save@v4", "uses: actions/cache/save@v4\n        with:\n"
     "          pth: .synthetics", "pth"),
])
def test_actionlint_catches_a_typo(tmp_path: Path, old: str, new: str, complaint: str) -> None:
    broken_dir = tmp_path / ".github" / "workflows"
    broken_dir.mkdir(parents=True)
    text = SCHEDULED.read_text()
    assert old in text
    if old.startswith("uses: actions/cache/save"):  # replace the step's `with:` block
        text = re.sub(r"uses: actions/cache/save@v4\n        with:\n          path: \.synthetics",
                      new, text)
    else:
        text = text.replace(old, new, 1)
    broken = broken_dir / "broken.yml"
    broken.write_text(text)
    result = _lint(broken)
    assert result.returncode != 0
    assert complaint in result.stdout


def test_scheduled_workflow_shape() -> None:
    text = SCHEDULED.read_text()
    (cron,) = re.findall(r'cron: "([^"]+)"', text)
    minutes = [int(m) for m in cron.split()[0].split(",")]
    assert cron.split()[1:] == ["*", "*", "*", "*"]
    assert len(minutes) == 4 and 0 not in minutes  # off the hour
    assert [b - a for a, b in zip(minutes, minutes[1:], strict=False)] == [15, 15, 15]
    assert re.search(r"concurrency:\n  group: synthetics-scheduled\n  cancel-in-progress: false",
                     text)
    assert "actions/cache/restore@" in text and "actions/cache/save@" in text
    upload = text.split("uses: actions/upload-artifact@")[0].rsplit("- name:", 1)[1]
    assert "if: always()" in upload
    save = text.split("uses: actions/cache/save@")[0].rsplit("- name:", 1)[1]
    assert "if: always()" in save
    # Region jobs never deploy: no token, no redeploy switch; they upload summary.json.
    checks, heal = text.split("\n  heal:\n")
    jobs = checks.split("jobs:")[1]
    assert "CLOUDFLARE" not in jobs and "SYNTHETICS_REDEPLOY" not in jobs
    assert re.search(r"name: synthetics-summary-\$\{\{ strategy.job-index \}\}\n"
                     r"          path: reports/summary.json", checks)
    # One heal job after the matrix decides: redeploy only through a repository variable, the
    # token only from secrets, only in its heal step; its state directory kept by the cache.
    assert re.search(r"^    needs: checks\n    if: always\(\)\n", heal, re.M)
    assert "SYNTHETICS_REDEPLOY: ${{ vars.SYNTHETICS_REDEPLOY == 'true'" in heal
    assert text.count("secrets.CLOUDFLARE_API_TOKEN") == 1
    step = heal.split("- name: Decide and heal")[1].split("- name:")[0]
    assert "CLOUDFLARE_API_TOKEN: ${{ secrets.CLOUDFLARE_API_TOKEN }}" in step
    assert "args=(heal --summaries summaries" in step
    assert "pattern: synthetics-summary-*" in heal
    assert "SYNTHETICS_STATE_DIR: .synthetics-state" in heal
    for action in ("restore", "save"):
        block = heal.split(f"uses: actions/cache/{action}@v4")[1].split("- name:")[0]
        assert "path: .synthetics-state" in block
    save = heal.split("uses: actions/cache/save@")[0].rsplit("- name:", 1)[1]
    assert "if: always()" in save


def test_pre_deploy_workflow_shape() -> None:
    text = PRE_DEPLOY.read_text()
    assert re.search(r"^on:\n  pull_request:", text, re.M)
    assert re.search(r"  workflow_dispatch:\n    inputs:\n      target:", text)
    assert "bash ci/wrangler-dev.sh" in text and "bash ci/synthetics-run.sh" in text
    upload = text.split("uses: actions/upload-artifact@")[0].rsplit("- name:", 1)[1]
    assert "if: always()" in upload
    assert "secrets." not in text  # a pull request from a fork gets no secrets anyway


def _script(args: list[str], env: dict[str, str],
            tmp_path: Path) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items()
            if not k.startswith(("SYNTHETICS_", "GITHUB_"))}
    full.update(PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}", SYNTHETICS_HISTORY="off",
                SYNTHETICS_REPORTS=str(tmp_path / "reports"), **env)
    return subprocess.run(["bash", str(ROOT / "ci" / "synthetics-run.sh"), *args],
                          capture_output=True, text=True, timeout=300, cwd=ROOT, env=full)


def test_run_script_exit_codes(tmp_path: Path, reference_worker: Any) -> None:
    fast = ["-m", "health or dashboard", "-p", "no:cacheprovider"]
    healthy = reference_worker()
    ok = _script(fast, {"SYNTHETICS_TARGET": healthy.url}, tmp_path)
    assert ok.returncode == 0, ok.stdout[-2000:] + ok.stderr[-2000:]
    assert "synthetics: exit code 0" in ok.stdout
    assert (tmp_path / "reports" / "summary.json").exists()
    assert (tmp_path / "reports" / "report.html").exists()
    broken = reference_worker("dashboard_down")
    failed = _script(fast, {"SYNTHETICS_TARGET": broken.url}, tmp_path)
    assert failed.returncode == 1
    bad = _script(fast, {"SYNTHETICS_TARGET": "ftp://nowhere"}, tmp_path)
    assert bad.returncode == 4
    assert "must start with http:// or https://" in bad.stderr
    missing = _script(fast, {}, tmp_path)
    assert missing.returncode == 4
    assert "set SYNTHETICS_TARGET" in missing.stderr
    no_token = _script(fast, {"SYNTHETICS_TARGET": healthy.url, "SYNTHETICS_REDEPLOY": "true"},
                       tmp_path)
    assert no_token.returncode == 4 and "CLOUDFLARE_API_TOKEN" in no_token.stderr


def test_wrangler_dev_script_usage_errors(tmp_path: Path) -> None:
    script = str(ROOT / "ci" / "wrangler-dev.sh")
    no_command = subprocess.run(["bash", script, "--dir", str(tmp_path)], capture_output=True,
                                text=True, timeout=30)
    assert no_command.returncode == 4 and "no command given" in no_command.stderr
    no_config = subprocess.run(["bash", script, "--dir", str(tmp_path), "--", "true"],
                               capture_output=True, text=True, timeout=30)
    assert no_config.returncode == 4 and "no wrangler-production-simple.toml" in no_config.stderr


def test_status_page_is_published_only_when_opted_in() -> None:
    text = SCHEDULED.read_text()
    job = text.split("\n  status-page:\n")[1]
    assert "if: always() && vars.SYNTHETICS_STATUS_PAGE == 'true'" in job
    assert "pages: write" in job and "id-token: write" in job
    assert "pages: write" not in text.split("\n  status-page:\n")[0]  # the checks get no more
    assert 'synthetics status-page "${args[@]}" --out site' in job
    assert "uses: actions/deploy-pages@" in job and "path: site" in job
    hand_over = text.split("- name: Hand the history to the status page")[1].split("\n\n")[0]
    assert "vars.SYNTHETICS_STATUS_PAGE == 'true'" in hand_over
