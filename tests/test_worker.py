"""The worker under test is one `Worker`: every output (terminal, JSON summary, HTML banner, GitHub
summary, metrics, history, status page) names it by its label and describes it in its words."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest

from synthetics.history.store import SqliteHistory
from synthetics.plugin import WORKER
from synthetics.reference import ReferenceWorker
from synthetics.reporting.github import step_summary
from synthetics.reporting.report import HtmlReport
from synthetics.reporting.results import Results
from synthetics.reporting.status_page import _pick_target
from synthetics.worker import BUILTIN_LABEL, Worker

URL = "https://worker.example"

CHECK = """
from synthetics.expectations import ENDPOINTS


def test_health_answers(probe, record_verdict):
    sample = probe.request(ENDPOINTS["health"].request())
    record_verdict(measured=str(sample.status), threshold="200", verdict="pass")
    assert sample.ok
"""


def test_the_builtin_worker_is_labelled_builtin_and_described_as_not_production() -> None:
    configured = Worker.from_target(None)
    assert configured.builtin and configured.url is None and configured.label == BUILTIN_LABEL
    assert "BUILT-IN REFERENCE WORKER" in configured.description
    assert "NOT the production worker" in configured.description
    started = configured.started("http://127.0.0.1:8787")
    assert started.builtin and started.label == BUILTIN_LABEL  # whatever port it got
    assert "at http://127.0.0.1:8787 " in started.description
    assert "NOT the production worker" in started.description


def test_a_target_is_labelled_and_described_by_its_url() -> None:
    worker = Worker.from_target(URL)
    assert not worker.builtin and worker.label == URL and worker.description == URL


def test_a_label_stands_for_its_worker() -> None:
    for worker in (Worker.from_target(None), Worker.from_target(URL)):
        assert Worker.from_label(worker.label) == worker


@pytest.mark.parametrize("worker", [Worker.from_target(None).started("http://127.0.0.1:1"),
                                    Worker.from_target(URL)], ids=["builtin", "target"])
def test_the_summaries_and_the_banner_use_the_worker(worker: Worker) -> None:
    results = Results(worker=worker)
    summary = results.summary()
    assert summary["target"] == worker.url
    assert summary["builtin_reference_worker"] is worker.builtin
    assert worker.description in step_summary(results)
    config = SimpleNamespace(stash=pytest.Stash())
    config.stash[WORKER] = worker
    banner = HtmlReport(config, results).banner()  # type: ignore[arg-type]
    assert worker.description in banner
    assert ("background:#fde68a" in banner) is worker.builtin


def test_the_status_page_prefers_a_real_worker_to_the_builtin_one(tmp_path: Path) -> None:
    store = SqliteHistory(tmp_path / "h.sqlite3")
    store.start_run("morning", BUILTIN_LABEL, 2000.0, 2000.0, False)  # later, but built-in
    store.start_run("morning", URL, 1000.0, 1000.0, False)
    store.close()
    with sqlite3.connect(tmp_path / "h.sqlite3") as db:
        assert _pick_target([db]) == URL


def _outputs(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
             *args: str) -> Callable[[], dict[str, str]]:
    """Run one check through the plugin with every output on; return what each one says."""
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(pytester.path / "step.md"))
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)
    pytester.makepyfile(CHECK)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--history", str(pytester.path / "h.sqlite3"),
        "--summary-json", str(pytester.path / "summary.json"),
        "--metrics-textfile", str(pytester.path / "metrics.prom"), *args)
    result.assert_outcomes(passed=1)

    def read() -> dict[str, str]:
        store = SqliteHistory(pytester.path / "h.sqlite3")
        try:
            runs = store.runs(0)
            recorded = {s.target for r in runs for s in store.samples(r.target, "health", 0)}
        finally:
            store.close()
        return {
            "stdout": result.stdout.str(),
            "summary": (pytester.path / "summary.json").read_text(),
            "step": (pytester.path / "step.md").read_text(),
            "metrics": (pytester.path / "metrics.prom").read_text(),
            "runs": " ".join(sorted({r.target for r in runs})),
            "samples": " ".join(sorted(recorded)),
        }
    return read


def test_every_output_of_a_run_names_the_builtin_worker_alike(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    out = _outputs(pytester, monkeypatch)()
    url = json.loads(out["summary"])["target"]
    assert url.startswith("http://127.0.0.1:")
    worker = Worker.from_target(None)
    assert f"synthetics target: {worker.description}" in out["stdout"]  # header: not started
    started = worker.started(url)
    assert f"target: {started.description}" in out["stdout"]  # terminal summary
    assert started.description in out["step"]
    assert f'target="{started.label}"' in out["metrics"]
    assert out["runs"] == out["samples"] == started.label


def test_every_output_of_a_run_names_a_target_alike(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    with ReferenceWorker(seed=2100) as reference:
        worker = Worker.from_target(reference.url)
        out = _outputs(pytester, monkeypatch, f"--target={reference.url}")()
    assert json.loads(out["summary"])["target"] == worker.url
    assert f"synthetics target: {worker.description}" in out["stdout"]
    assert f"target: {worker.description}" in out["stdout"]
    assert f"`{worker.description}`" in out["step"]
    assert f'target="{worker.label}"' in out["metrics"]
    assert out["runs"] == out["samples"] == worker.label
