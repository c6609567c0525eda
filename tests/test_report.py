"""The reports: the JSON summary, the HTML report's summary of targets, plots, trend and failed
exchanges, opened in headless Chromium; and the scrubbing of a failed check's request/response.

The browser is Debian's chromium driven through Debian's chromium-driver with Selenium (W3C
WebDriver): its `goog:loggingPrefs` capability returns the page's console messages, and the
driver is given both binaries' paths so Selenium Manager never runs (it would try to download a
driver). The DevTools protocol directly would need a hand-written websocket client for the same
three things (load, console, screenshot).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest

from synthetics.history.store import SampleRecord, SqliteHistory
from synthetics.probe import Phases, Request, Sample
from synthetics.reference import ReferenceWorker
from synthetics.reporting.plots import latency_figure, latency_plot, trend_figure, trend_plot
from synthetics.reporting.report import choose_sample, hourly_percentiles, run_verdict
from synthetics.reporting.results import Results, exchange, latency_record

ROOT = Path(__file__).resolve().parent.parent
REPORTS = ROOT / "reports"
FAULTS = "slow_health=250,health_degraded,dashboard_down"
DAILY_AREAS = {"health", "orchestration", "dns", "dashboard", "cors", "latency", "error_rate",
               "capacity"}
FAILING = {"test_latency_within_budget[health]", "test_health_reports_healthy[health]",
           "test_dashboard_head[dashboard]", "test_dashboard_page[dashboard]"}


def _seed_history(path: Path, target: str, now: float) -> None:
    """Three days of hourly samples: the trend plot has something to draw."""
    store = SqliteHistory(path)
    run = store.start_run("scheduled", target, now - 3 * 86400, now - 3 * 86400, late=False)
    records = []
    for hour in range(72):
        t = now - (72 - hour) * 3600
        for endpoint, base in (("health", 0.04), ("orchestrate", 0.09), ("dns", 0.03)):
            for i in range(5):
                total = base * (1 + 0.1 * i) + (0.02 if hour % 24 < 3 else 0.0)
                records.append(SampleRecord(t + i, target, endpoint, "", "GET", 200, True, None,
                                            total=total, wait=total * 0.8))
    store.add_samples(run, records)
    store.finish_run(run, now - 3 * 86400 + 60, "passed")
    store.close()


@pytest.fixture(scope="module")
def faulty_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One run of checks/ against a reference worker with three faults, history seeded."""
    out = tmp_path_factory.mktemp("report")
    with ReferenceWorker(FAULTS) as worker:
        history = out / "history.sqlite3"
        _seed_history(history, worker.url, time.time())
        env = dict(os.environ, CLOUDFLARE_API_TOKEN="tok-report-secret-123456")
        env.pop("GITHUB_ACTIONS", None)
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", str(ROOT / "checks"), "-p", "no:cacheprovider",
             "-q", f"--target={worker.url}", "--error-samples=60", "--latency-samples=20",
             f"--html={out / 'report.html'}", "--self-contained-html",
             f"--summary-json={out / 'summary.json'}", f"--history={history}",
             "--benchmark-disable-gc", "-o", "junit_family=xunit2",
             f"--junitxml={out / 'junit.xml'}"],
            cwd=out, env=env, capture_output=True, text=True, timeout=300)
        yield {"dir": out, "proc": proc, "url": worker.url}


def test_summary_json_has_every_target_and_verdict(faulty_run: dict[str, Any]) -> None:
    proc = faulty_run["proc"]
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads((faulty_run["dir"] / "summary.json").read_text())
    assert summary["schema"] == "victory36-synthetics/summary/v1"
    assert summary["ok"] is False and summary["exit_status"] == 1
    assert summary["target"] == faulty_run["url"]
    from synthetics.expectations import EXPECTATIONS
    # the daily areas (opt-in areas such as the evening review are not run here)
    documented = {f"{t.check}[{t.subject}]" for t in EXPECTATIONS if t.area in DAILY_AREAS}
    verdicts = {c["name"]: c["verdict"] for c in summary["checks"] if c["name"] in documented}
    assert {n for n, v in verdicts.items() if v == "fail"} == FAILING
    assert verdicts["test_latency_within_budget[orchestrate]"] == "pass"
    rows = {(r["check"], r["subject"]): r for r in summary["targets"]}
    assert set(rows) == {(t.check, t.subject) for t in EXPECTATIONS}
    health = rows[("test_latency_within_budget", "health")]
    assert health["verdict"] == "fail" and health["threshold"] == "< 200 ms"
    assert health["measured"].startswith("p95 ") and health["measured"].endswith(" ms")
    assert rows[("test_capacity_memory", "memory")]["verdict"] == "skipped"
    latency = next(c for c in summary["checks"]
                   if c["name"] == "test_latency_within_budget[health]")["latency"]
    # 250 ms against 200: two slow samples of the 20 planned decide the p95 (tests/test_latency.py)
    assert latency["samples"] == 2 and latency["value_ms"] >= 200


def test_html_report_sections(faulty_run: dict[str, Any]) -> None:
    page = (faulty_run["dir"] / "report.html").read_text()
    assert 'id="synthetics-summary"' in page and 'id="synthetics-target"' in page
    assert page.count('<svg class="synthetics-plot"') == 4  # three latency checks, the trend
    assert 'id="synthetics-failures"' in page and 'id="synthetics-verdict"' in page
    # the verdict, the failing checks and the targets come before pytest-html's own counts
    order = [page.index(marker) for marker in (
        'id="synthetics-verdict"', 'id="synthetics-failures"', 'id="synthetics-summary"',
        'class="run-count"', 'id="synthetics-latency-plots"')]
    assert order == sorted(order), order
    assert "status &quot;degraded&quot;" in page or "degraded" in page
    assert "HTTP 503" in page  # the dashboard's response is shown
    assert "tok-report-secret-123456" not in page
    assert "<script src=" not in page.split('id="synthetics-target"')[0][-2000:]


@pytest.fixture(scope="module")
def browser(start_chromium: Callable[[str], Any]) -> Iterator[Any]:
    """Headless Chromium (tests/conftest.py), 1400×2200."""
    driver = start_chromium("1400,2200")
    try:
        yield driver
    finally:
        driver.quit()


def test_report_renders_in_chromium(faulty_run: dict[str, Any], browser: Any) -> None:
    from selenium.webdriver.common.by import By

    report = faulty_run["dir"] / "report.html"
    browser.get(report.as_uri())
    # pytest-html fills its results table from script; wait for it to be there.
    deadline = time.monotonic() + 20
    while not browser.find_elements(By.CSS_SELECTOR, "#results-table tbody") and \
            time.monotonic() < deadline:
        time.sleep(0.1)
    summary = browser.find_element(By.ID, "synthetics-summary")
    rows = summary.find_elements(By.CSS_SELECTOR, "tbody tr")
    from synthetics.expectations import EXPECTATIONS
    assert len(rows) == len(EXPECTATIONS)
    failing = {row.get_attribute("data-check")
               for row in summary.find_elements(By.CSS_SELECTOR, "tr.verdict-fail")}
    assert failing >= FAILING
    assert not {r.get_attribute("data-check") for r in rows if r.get_attribute("class")
                == "verdict-pass"} & FAILING
    plots = browser.find_elements(By.CSS_SELECTOR, "svg.synthetics-plot")
    assert len(plots) == 4
    for svg in plots:  # parsed as SVG and laid out at a legible size
        assert browser.execute_script(
            "const r = arguments[0].getBoundingClientRect(); "
            "return arguments[0] instanceof SVGSVGElement && r.width > 400 && r.height > 100",
            svg)
    assert "NOT the production worker" not in browser.find_element(
        By.ID, "synthetics-target").text  # a --target run is not flagged as the built-in one
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []
    REPORTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(REPORTS / "report-screenshot.png"))
    assert (REPORTS / "report-screenshot.png").stat().st_size > 10_000


def _top(browser: Any, element: Any) -> float:
    return float(browser.execute_script(
        "return arguments[0].getBoundingClientRect().top + window.scrollY", element))


def _bottom(browser: Any, element: Any) -> float:
    return float(browser.execute_script(
        "return arguments[0].getBoundingClientRect().bottom + window.scrollY", element))


def test_report_first_screen_leads_with_the_verdict(faulty_run: dict[str, Any],
                                                    browser: Any) -> None:
    """At 1400x900 the first screen shows, in this order, the verdict, the counts and the first
    failing check with its reason; the Environment table comes last on the page."""
    from selenium.webdriver.common.by import By

    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": 1400, "height": 900, "deviceScaleFactor": 1,
                             "mobile": False})
    try:
        browser.get((faulty_run["dir"] / "report.html").as_uri())
        deadline = time.monotonic() + 20
        while not browser.find_elements(By.CSS_SELECTOR, "#results-table tbody") and \
                time.monotonic() < deadline:
            time.sleep(0.1)
        assert browser.execute_script("return window.innerHeight") == 900
        verdict = browser.find_element(By.ID, "synthetics-verdict-word")
        counts = browser.find_element(By.ID, "synthetics-counts")
        first = browser.find_element(By.CSS_SELECTOR, "#synthetics-failures li.synthetics-failure")
        reason = first.find_element(By.CSS_SELECTOR, ".synthetics-reason")
        assert verdict.text == "FAIL"
        assert float(browser.execute_script(
            "return parseFloat(getComputedStyle(arguments[0]).fontSize)", verdict)) >= 32
        assert "4 failed" in counts.text and "passed" in counts.text
        assert first.get_attribute("data-check") in FAILING and reason.text.strip()
        assert "region" in browser.find_element(By.ID, "synthetics-where").text
        tops = [_top(browser, e) for e in (verdict, counts, first)]
        assert tops == sorted(tops), tops
        assert _bottom(browser, reason) <= 900, "the first failing check is below the fold"
        # the targets table is legible: dark text
        cell = browser.find_element(By.CSS_SELECTOR, "#synthetics-summary tbody td")
        rgb = browser.execute_script("return getComputedStyle(arguments[0]).color", cell)
        channels = [int(x) for x in rgb[rgb.index("(") + 1:rgb.index(")")].split(",")[:3]]
        assert max(channels) < 80, rgb
        # then the plots, then pytest-html's results, and its Environment last
        plots = browser.find_element(By.ID, "synthetics-latency-plots")
        results = browser.find_element(By.ID, "results-table")
        env = browser.find_element(By.ID, "environment")
        order = [_top(browser, e) for e in (first, browser.find_element(
            By.ID, "synthetics-summary"), plots, results, env)]
        assert order == sorted(order), order
        REPORTS.mkdir(exist_ok=True)
        browser.save_screenshot(str(REPORTS / "report-first-screen.png"))
        browser.execute_script("arguments[0].scrollIntoView()", plots)
        browser.save_screenshot(str(REPORTS / "report-latency-plots.png"))
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_builtin_target_banner_says_not_production(tmp_path: Path, run_checks: Any) -> None:
    run = run_checks("-m", "health", f"--html={tmp_path / 'r.html'}", "--self-contained-html",
                     f"--summary-json={tmp_path / 's.json'}", "--history=off")
    assert run.ret == 0, run.stdout[-2000:]
    page = (tmp_path / "r.html").read_text()
    banner = page.split('id="synthetics-target"')[1].split("</p>")[0]
    assert "BUILT-IN REFERENCE WORKER" in banner and "NOT the production worker" in banner
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["builtin_reference_worker"] is True and summary["ok"] is True
    rows = {(r["check"], r["subject"]): r["verdict"] for r in summary["targets"]}
    assert rows[("test_health_reports_healthy", "health")] == "pass"
    assert rows[("test_latency_within_budget", "health")] == "not run"


def _sample(status: int | None, body: bytes = b"{}", error: str | None = None,
            headers: dict[str, str] | None = None, total: float = 0.01) -> Sample:
    return Sample(Request("health", "/health", headers=(("Authorization", "Bearer abc"),)),
                  started=time.time(), status=status, headers=headers or {}, body=body,
                  error=error, error_kind="timeout" if error else None,
                  phases=Phases(wait=total * 0.7, receive=total * 0.3, total=total))


def test_exchange_is_scrubbed(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "cf-token-0123456789abcdef"
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", secret)
    sample = _sample(500, body=b'{"error":"bad token ' + secret.encode() + b'"}' + b"x" * 5000,
                     headers={"set-cookie": "session=zzz", "x-echo": secret,
                              "content-type": "application/json"})
    ex = exchange(sample, "http://127.0.0.1:1")
    text = json.dumps(ex)
    assert secret not in text and "Bearer abc" not in text and "session=zzz" not in text
    assert "[CLOUDFLARE_API_TOKEN redacted]" in text
    assert ex["request"]["headers"] == [["Authorization", "[redacted]"]]
    assert ex["response"]["status"] == 500 and ex["response"]["truncated"] is True
    assert len(ex["response"]["body"]) < 2100  # 2048 bytes, a label longer than the secret
    assert ["content-type", "application/json"] in ex["response"]["headers"]


def test_choose_sample_prefers_what_the_check_saw() -> None:
    good, bad, timeout = _sample(200), _sample(503), _sample(None, error="timed out")
    assert choose_sample([good, bad, good], []) is bad
    assert choose_sample([good], [timeout]) is good
    assert choose_sample([], [good, timeout, bad]) is timeout
    assert choose_sample([], [good]) is good
    assert choose_sample([], []) is None


def test_plots_are_svg() -> None:
    """Each plot is one well-formed <svg> element that names what it shows; the hourly trend
    points are the percentiles of each hour's successful samples."""
    samples = [_sample(200, total=0.01 * (1 + i % 7)) for i in range(30)]
    record = latency_record(samples, [s.phases.total * 1000 for s in samples], 95.0, 200.0,
                            66.0, "health")
    svg = ElementTree.fromstring(latency_figure("test_latency_within_budget[health]", record))
    assert svg.tag.endswith("svg") and svg.get("class") == "synthetics-plot"
    assert "test_latency_within_budget[health]: 30 samples" in "".join(svg.itertext())
    empty = ElementTree.fromstring(latency_figure("x", {"times_ms": [], "budget_ms": 100}))
    assert "no sample got a response" in "".join(empty.itertext())
    recs = [SampleRecord(3600.0 * h + 5, "t", "health", "", "GET", 200, True, None, total=0.05)
            for h in range(5)] + [SampleRecord(10.0, "t", "health", "", "GET", None, False,
                                               "timeout", total=None)]
    points = hourly_percentiles(recs, 95)
    assert [p[0] for p in points] == [0.0, 3600.0, 7200.0, 10800.0, 14400.0]
    assert all(abs(v - 50.0) < 1e-9 for _, v in points)
    trend = ElementTree.fromstring(trend_figure({"health": points}, {"health": 200.0}, 7, 95,
                                                now=20000.0))
    assert "health p95" in "".join(trend.itertext())


def test_results_record_survives_teardown_error() -> None:
    results = Results()
    results.record("c.py::test_health_x[health]", "test_health_x[health]", "passed", "", 0.1, [])
    results.record("c.py::test_health_x[health]", "test_health_x[health]", "error", "boom", 0.0,
                   [])
    assert [c.status for c in results.checks.values()] == ["fail"]
    assert results.failed[0].message == "boom"


def _budget_rules(panel: Any, at: float) -> list[Any]:
    return [line for line in panel.lines if line.rule == "x" and line.xs[0] == at]


def test_latency_plot_scales_to_the_samples_and_names_an_off_scale_budget() -> None:
    # samples near 1 ms against a 200 ms budget: the axis is the samples', the budget an arrow
    samples = [_sample(200, total=0.001 * (1 + (i % 5) / 10)) for i in range(30)]
    times = [s.phases.total * 1000 for s in samples]
    record = latency_record(samples, times, 95.0, 200.0, 1.4, "health")
    dist = latency_plot("test_latency_within_budget[health]", record).panels[0]
    low, high = dist.xlim
    assert high < 3 and low < min(times) <= max(times) < high
    assert any("budget 200 ms →" in t and "off scale" in t for t in dist.texts())
    assert not _budget_rules(dist, 200.0)
    assert sum(int(bar.y1) for bar in dist.bars) == len(times)  # every sample in a bin
    # samples around the budget: the budget is drawn as a line within the axis
    near = [_sample(200, total=0.15 + 0.002 * i) for i in range(30)]
    record = latency_record(near, [s.phases.total * 1000 for s in near], 95.0, 200.0, 205.0,
                            "health")
    dist = latency_plot("x", record).panels[0]
    low, high = dist.xlim
    assert low <= 150 and high >= 208 and high < 260
    assert [line.label for line in _budget_rules(dist, 200.0)] == ["budget 200 ms"]
    assert not any("off scale" in t for t in dist.texts())
    assert {entry.label for entry in dist.legend()} == {"budget 200 ms", "p95 205.0 ms"}
    # samples all above the budget (a failing check): the budget is still on the axis
    slow = [_sample(200, total=0.25 + 0.001 * i) for i in range(30)]
    record = latency_record(slow, [s.phases.total * 1000 for s in slow], 95.0, 200.0, 278.0,
                            "health")
    low, high = latency_plot("x", record).panels[0].xlim
    assert low < 200 < 250 < high


def test_latency_plot_breaks_the_percentile_into_phases() -> None:
    """The phase panel stacks each phase's p50 and percentile, in the probe's phase order."""
    record = {"times_ms": [10.0, 20.0], "budget_ms": 100.0, "percentile": 95.0,
              "value_ms": 19.5, "phases_ms": {"connect": [1.0, 3.0], "wait": [8.0, 16.0],
                                              "receive": [1.0, 1.0]}}
    phases = latency_plot("x", record).panels[1]
    p50 = [(bar.label, bar.x0, bar.x1) for bar in phases.bars if bar.y0 < 1 < bar.y1]
    assert p50 == [("connect", 0.0, 2.0), ("wait", 2.0, 14.0), ("receive", 14.0, 15.0)]
    top = [bar for bar in phases.bars if bar.y0 < 2 < bar.y1]
    assert top[-1].x1 == pytest.approx(2.9 + 15.6 + 1.0)
    assert [label for _, label in phases.yticks] == ["p50", "p95"]


def test_trend_plot_axis_is_the_window_and_endpoints_are_distinguishable() -> None:
    now = 1_800_000_000.0
    same = [(now - 3600.0 * h, 1.0) for h in range(1, 4)]  # equal values on every endpoint
    fig = trend_plot({"health": same, "orchestrate": same, "dns": same},
                     {"health": 200.0, "orchestrate": 500.0, "dns": 1.5}, 7, 95, now=now)
    (ax,) = fig.panels
    assert ax.xlim == (now - 7 * 86400, now)
    assert ax.xticks and all(now - 7 * 86400 <= t <= now for t, _ in ax.xticks)
    data = [line for line in ax.lines if len(line.xs) == 3]
    assert len(data) == 3
    assert len({(line.color, line.marker, line.style) for line in data}) == 3 \
        and len({line.marker for line in data}) == 3
    labels = {entry.label for entry in ax.legend()}
    assert {"health p95", "orchestrate p95", "dns p95", "dns budget 1.5 ms"} <= labels
    assert any("health budget 200 ms" in t and "orchestrate budget 500 ms" in t
               for t in ax.texts())
    assert ax.ylim[1] < 5  # scaled to the data and the budget within reach


def test_run_verdict() -> None:
    results = Results()
    assert run_verdict(results) == "none"
    results.record("a::test_a[x]", "test_a[x]", "passed", "", 0.1, [])
    assert run_verdict(results) == "pass"
    results.record("a::test_b[x]", "test_b[x]", "passed", "", 0.1,
                   [("synthetics_verdict", {"verdict": "insufficient"})])
    assert run_verdict(results) == "insufficient"
    results.record("a::test_c[x]", "test_c[x]", "failed", "boom", 0.1, [])
    assert run_verdict(results) == "fail"
