"""Who failed and where it was served, in every output: summary.json, the HTML report, the
terminal, the Prometheus `reason` label, and history (its new columns, a migration that keeps a
version-2 database working, latency by colo, the health document's version and its marks on the
report's trend)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from synthetics.history.store import SampleRecord, SqliteHistory
from synthetics.reference import ReferenceWorker
from synthetics.reporting.plots import trend_plot, version_changes

ARGS = ("--error-samples", "60", "--latency-samples", "10")


def test_outputs_name_who_failed_the_colo_and_the_ray(run_checks, reference_worker,
                                                      tmp_path: Path) -> None:
    worker = reference_worker("cf_1101=/mcp/orchestrate,cloudflare_like=FRA")
    summary, html, prom = (tmp_path / "summary.json", tmp_path / "report.html",
                           tmp_path / "synthetics.prom")
    history = tmp_path / "history.sqlite3"
    run = run_checks(f"--target={worker.url}", *ARGS, f"--summary-json={summary}",
                     f"--html={html}", "--self-contained-html", f"--metrics-textfile={prom}",
                     f"--history={history}")
    assert run.ret == 1
    doc = json.loads(summary.read_text())
    by_source = doc["failures_by_source"]["orchestrate"]
    # Every failed exchange is the worker's 1101; sampling of orchestrate stops once its 5xx
    # check is certain to fail (synthetics.error_pass), so there are at least that many.
    assert set(by_source) == {"worker 1101"} and by_source["worker 1101"] >= 6
    first = doc["failed_exchanges"][0]
    assert (first["source"], first["code"], first["colo"]) == ("worker", "1101", "FRA")
    assert first["ray"].endswith("-FRA") and first["status"] == 500
    check = next(c for c in doc["checks"]
                 if c["name"] == "test_orchestration_operational[orchestrate]")
    assert check["attribution"]["source"] == "worker" and check["attribution"]["code"] == "1101"
    assert "health" in doc["latency_by_colo"] and "FRA" in doc["latency_by_colo"]["health"]
    page = html.read_text()
    assert 'id="synthetics-exchanges"' in page and first["ray"] in page
    assert 'id="synthetics-colos"' in page and 'data-source="worker"' in page
    assert 'id="synthetics-history-colos"' in page
    text = prom.read_text()
    assert 'synthetics_request_failures_total{code="1101",endpoint="orchestrate"' in text
    assert 'reason="worker"' in text
    assert "synthetics failed exchanges (colo and ray id for Cloudflare support)" in run.stdout
    assert "worker: Cloudflare 1101" in run.stdout and "colo FRA" in run.stdout
    store = SqliteHistory(history)
    try:
        failed = [s for s in store.samples(worker.url, "orchestrate", 0) if not s.ok]
        assert failed and all((s.source, s.code, s.colo) == ("worker", "1101", "FRA")
                              for s in failed)
        assert all(s.ray and s.ray.endswith("-FRA") for s in failed)
        colos = store.latency_by_colo(worker.url, "health", 0)
        assert list(colos) == ["FRA"] and colos["FRA"][0] > 0
        assert [v for _, v in store.versions(0)] == ["1.0.0"]
    finally:
        store.close()


def test_a_version_2_history_database_keeps_working(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    store = SqliteHistory(path)
    run = store.start_run("j", "T", 1000.0, 1000.0, False)
    store.add_samples(run, [SampleRecord(1000.0, "T", "health", "", "GET", 200, True, None,
                                         total=0.01)])
    store.close()
    db = sqlite3.connect(path)  # what version 2 made: none of the new columns
    for table, column in (("samples", "source"), ("samples", "code"), ("samples", "colo"),
                          ("samples", "ray"), ("runs", "version")):
        db.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    db.execute("PRAGMA user_version = 2")
    db.commit()
    db.close()
    store = SqliteHistory(path)
    try:
        (old,) = store.samples("T", "health", 0)
        assert old.ok and old.total == 0.01 and old.source is None and old.colo is None
        run = store.start_run("j", "T", 2000.0, 2000.0, False)
        store.add_samples(run, [SampleRecord(2000.0, "T", "health", "", "GET", 522, False, None,
                                             source="edge", code="522", colo="LHR",
                                             ray="8f1e2d3c4b5a6978-LHR")])
        store.set_run_version(run, "1.1.0")
        new = store.samples("T", "health", 1500)[0]
        assert (new.source, new.code, new.colo, new.ray) == ("edge", "522", "LHR",
                                                             "8f1e2d3c4b5a6978-LHR")
        assert store.versions(0, "T") == [(2000.0, "1.1.0")]
    finally:
        store.close()
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == 3


def test_version_changes_are_marked_on_the_trend() -> None:
    versions = [(1000.0, "1.0.0"), (4600.0, "1.0.0"), (8200.0, "1.1.0"), (11800.0, "1.1.0")]
    assert version_changes(versions) == [(8200.0, "1.0.0", "1.1.0")]
    series = {"health": [(1000.0 + 3600 * i, 20.0 if i < 2 else 80.0) for i in range(4)]}
    fig = trend_plot(series, {"health": 100.0}, 1, 95, now=15000.0, versions=versions)
    (ax,) = fig.panels
    assert ax.texts() == ["version 1.1.0"]
    marks = [line for line in ax.lines if line.style == ":" and line.rule == "x"]
    assert [line.xs[0] for line in marks] == [8200.0]


def test_a_new_version_is_marked_on_the_reports_trend(run_checks, tmp_path: Path) -> None:
    """Two runs of one target, the second after a deploy of version 1.1.0: the report's trend
    names the change (the plot marks it: test_version_changes_are_marked_on_the_trend)."""
    history, html = tmp_path / "history.sqlite3", tmp_path / "report.html"
    port = 0
    for version in ("1.0.0", "1.1.0"):
        with ReferenceWorker(port=port, version=version, seed=2100) as worker:
            port = worker.port  # the same URL for both: one target in history
            run = run_checks(f"--target={worker.url}", "-m", "health", "--latency-samples",
                             "10", f"--history={history}", f"--html={html}",
                             "--self-contained-html")
            assert run.ret == 0, run.stdout[-2000:]
    page = html.read_text()
    assert 'id="synthetics-versions"' in page and "version 1.0.0 → 1.1.0" in page
