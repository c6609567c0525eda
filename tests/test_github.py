"""GitHub Actions output: the step summary and `::error` annotations, within GitHub's limits
(1 MiB per step summary, 10 error annotations per step), written only under GITHUB_ACTIONS."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from synthetics.reporting.github import (
    ERROR_ANNOTATIONS_PER_STEP,
    STEP_SUMMARY_LIMIT_BYTES,
    error_annotations,
    escape_data,
    report,
    step_summary,
)
from synthetics.reporting.results import Results
from synthetics.worker import Worker


def _results(failures: int, message: str = "GET /health: HTTP 503, expected 200") -> Results:
    results = Results(worker=Worker.from_target("https://worker.example"))
    results.record("checks/test_health.py::test_health_reports_healthy[health]",
                   "test_health_reports_healthy[health]", "passed", "", 0.1, [])
    for i in range(failures):
        results.record(f"checks/test_dns.py::test_dns_resolves[d{i}.example]",
                       f"test_dns_resolves[d{i}.example]", "failed", f"{message} #{i}", 0.1, [])
    return results


class _Config:
    """Just enough of pytest.Config for `report()`: no stash entries, not an xdist worker."""

    class stash:  # noqa: N801 - mimics the attribute
        @staticmethod
        def get(key: Any, default: Any) -> Any:
            return default


def test_annotations_are_capped_per_step() -> None:
    lines = error_annotations(_results(25).failed)
    assert len(lines) == ERROR_ANNOTATIONS_PER_STEP == 10
    assert all(line.startswith("::error ") for line in lines)
    assert "title=16 more synthetic checks failed" in lines[-1]
    assert "test_dns_resolves[d24.example]" in lines[-1]
    assert "file=checks/test_dns.py" in lines[0]
    exactly = error_annotations(_results(10).failed)
    assert len(exactly) == 10 and "more synthetic checks" not in exactly[-1]


def test_annotation_message_is_escaped() -> None:
    (line,) = error_annotations(_results(1, "50% of\nthe samples: slow, bad\r").failed)
    assert line.endswith("::50%25 of%0Athe samples: slow, bad%0D #0")
    assert "title=synthetic check failed%3A test_dns_resolves[d0.example]" in line
    assert escape_data("a%b") == "a%25b"


def test_summary_lists_targets_failures_and_notes() -> None:
    text = step_summary(_results(2), notes=["alerts: health-down firing"],
                        remediation={"status": "recovered-by-redeploy", "headline": "redeployed",
                                     "details": ["wrangler deploy exit 0"]})
    assert text.startswith("## ❌ Victory36 synthetic checks: 2 failed")
    assert "Target: `https://worker.example`" in text
    assert "| ✅ pass | `test_health_reports_healthy` | `health` |" in text
    assert "- `test_dns_resolves[d1.example]`: GET /health: HTTP 503, expected 200 #1" in text
    assert "### Remediation" in text and "recovered-by-redeploy" in text
    assert "- alerts: health-down firing" in text
    assert "left out" not in text


def test_summary_stays_within_the_step_limit_with_many_failures() -> None:
    long = "x" * 2000
    text = step_summary(_results(3000, long))
    size = len(text.encode("utf-8"))
    assert STEP_SUMMARY_LIMIT_BYTES - 8192 < size <= STEP_SUMMARY_LIMIT_BYTES
    assert "more lines left out to stay within GitHub's 1 MiB step-summary limit" in text
    assert "`test_dns_resolves[d0.example]`" in text  # the first failures are kept
    small = step_summary(_results(50, long), budget=20_000)
    assert len(small.encode("utf-8")) <= 20_000 and "left out" in small


def test_report_writes_only_under_github_actions(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    lines: list[str] = []
    config: Any = _Config()
    report(config, _results(3), {"GITHUB_STEP_SUMMARY": str(summary)}, lines.append)
    assert lines == [] and not summary.exists()
    report(config, _results(3), {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)},
           lines.append)
    assert len(lines) == 3 and summary.read_text().startswith("## ❌")


def test_report_respects_what_earlier_steps_wrote(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("# earlier\n" + "y" * (STEP_SUMMARY_LIMIT_BYTES - 200_000))
    lines: list[str] = []
    config: Any = _Config()
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    report(config, _results(3000, "z" * 500), env, lines.append)
    assert summary.stat().st_size <= STEP_SUMMARY_LIMIT_BYTES
    assert summary.read_text().startswith("# earlier\n")
    assert len(lines) == ERROR_ANNOTATIONS_PER_STEP
    summary.write_text("y" * (STEP_SUMMARY_LIMIT_BYTES - 100))
    report(config, _results(1), env, lines.append)
    assert summary.stat().st_size == STEP_SUMMARY_LIMIT_BYTES - 100
    assert "near GitHub's 1 MiB limit" in lines[-1]


def test_checks_run_under_github_actions(tmp_path: Path, run_checks: Any,
                                         reference_worker: Any,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """11 checks fail: 9 annotations name one each, the 10th names the other 2."""
    worker = reference_worker("dashboard_down,missing_cors_header,health_degraded,wrong_capacity")
    summary = tmp_path / "step-summary.md"
    summary.write_text("")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    run = run_checks(f"--target={worker.url}", "-m", "dashboard or cors or health",
                     "--history=off")
    assert run.ret == 1
    failed = run.ids("failed")
    assert len(failed) == 11, failed  # 2 dashboard, 7 CORS, 2 health
    errors = [line for line in run.stdout.splitlines() if line.startswith("::error ")]
    assert len(errors) == ERROR_ANNOTATIONS_PER_STEP
    named = {name for name in failed if any(f"failed%3A {name}::" in e for e in errors[:-1])}
    assert len(named) == 9
    assert errors[-1].startswith("::error title=2 more synthetic checks failed::")
    assert all(name in errors[-1] for name in failed - named)
    text = summary.read_text()
    assert "## ❌ Victory36 synthetic checks: 11 failed" in text
    assert "| ❌ fail | `test_dashboard_head` | `dashboard` |" in text
    assert "| ❌ fail | `test_health_reports_capacity` | `health` |" in text
    assert "| ✅ pass | `test_latency_within_budget` | `health` |" not in text  # not selected
    assert "— not run | `test_latency_within_budget` | `health` |" in text
