"""Reports (pytest11 entry point `synthetics_report`): the results collector, the JSON summary,
and what the HTML report shows.

The collector fills `config.stash[RESULTS]` (a `synthetics.reporting.results.Results`) from every
check's
report, in every process; for a failed check it keeps the request and response the check was
judged on, scrubbed of secrets. The controller then writes the JSON summary (`--summary-json`)
and, with pytest-html, lays the report out for someone paged at night, in this order:

- the verdict in large type (PASS, FAIL, or PASS WITH INSUFFICIENT EVIDENCE), the counts, the
  target (the built-in reference worker is flagged as not production), when, and from which
  region (`--region`, else the host name, as the metrics label it);
- the failing checks, each with its one-line reason and, folded, the request and response it
  was judged on (status, headers, the first part of the body);
- the summary of targets: every documented target, its measured value, its threshold and its
  verdict (pass / fail / insufficient evidence), from the verdicts the checks recorded;
- pytest-html's counts and filters, then per latency check a plot of the sample distribution
  scaled to the samples, with the percentile and the budget (an arrow when the budget is off
  the scale), and the phase breakdown (connect, TLS, send, server wait, body);
- with history, a trend plot of each endpoint's latency over the last `--trend-days` days (the
  axis is the window; each endpoint its own colour and marker; the budgets drawn);
- the access-pattern review's summary table, when that check ran;
- pytest-html's results table, and its Environment last (re-ordered by CSS, no script).

The plots are inline SVG (`synthetics.reporting.plots`), so the single HTML file can be mailed
or uploaded as it is.
"""

from __future__ import annotations

import html
import socket
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from synthetics.clock import format_utc
from synthetics.expectations import ENDPOINTS, EXPECTATIONS, SAMPLED_ENDPOINTS
from synthetics.history.plugin import HISTORY
from synthetics.history.store import SqliteHistory
from synthetics.latency import LatencyResult, bad_answer
from synthetics.plugin import SETTINGS, WORKER, is_controller
from synthetics.probe import Probe, Sample
from synthetics.reporting.metrics import METRICS_SETTINGS
from synthetics.reporting.plots import latency_figure, trend_figure, version_changes
from synthetics.reporting.results import (
    EXCHANGE_PROPERTY,
    LATENCY_PROPERTY,
    RESULTS,
    CheckResult,
    Results,
    exchange,
    latency_record,
)
from synthetics.scrub import scrub
from synthetics.selfheal.heal import region_vote
from synthetics.settings import Option, add_options, resolve_values
from synthetics.stats import percentile

__all__ = ["ReportSettings", "run_verdict"]

REPORT_SETTINGS = pytest.StashKey["ReportSettings"]()


def _trend_days(value: str) -> float:
    number = float(value)
    if not 0 < number <= 366:
        raise ValueError("must be a number of days above 0 and at most 366")
    return number


OPTIONS: tuple[Option, ...] = (
    Option("summary_json", "--summary-json",
           "Write a machine-readable JSON summary of every check's measured value and verdict "
           "to this file (`synthetics run` writes reports/summary.json).", None, str),
    Option("trend_days", "--trend-days",
           "Days of history the HTML report's trend plot covers (default 7).", 7.0, _trend_days),
)


@dataclass(frozen=True)
class ReportSettings:
    """The resolved report settings of one session."""

    summary_json: str | None
    trend_days: float


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser, OPTIONS, "synthetics reports", "reports of the synthetic checks")


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    config.stash[REPORT_SETTINGS] = ReportSettings(**resolve_values(config, OPTIONS))
    results = Results()
    if WORKER in config.stash:
        results.worker = config.stash[WORKER]
    config.stash[RESULTS] = results
    config.pluginmanager.register(_Collector(config, results), "synthetics-results")
    if config.pluginmanager.hasplugin("html") and is_controller(config):
        config.pluginmanager.register(HtmlReport(config, results), "synthetics-html-report")


@pytest.fixture
def record_latency(request: pytest.FixtureRequest) -> Callable[..., None]:
    """Record a latency check's timed samples for the report's plots.

    Call as `record_latency(samples, times_s, result)`: the timed samples, the timer's raw
    readings in seconds for the same rounds (None to use each sample's own total time), and the
    `LatencyResult` they were judged to.
    """

    def record(samples: Sequence[Sample], times_s: Sequence[float] | None,
               result: LatencyResult) -> None:
        # Only the good answers were timed toward the percentile (`bad_answer`); plot those.
        if times_s is not None and len(times_s) == len(samples):
            times = [t * 1000 for t, s in zip(times_s, samples, strict=True)
                     if bad_answer(s) is None]
        else:
            times = [(s.phases.total or 0.0) * 1000 for s in samples if bad_answer(s) is None]
        endpoint = samples[0].request.endpoint if samples else ""
        request.node.user_properties.append((LATENCY_PROPERTY, latency_record(
            samples, times, result.percentile, result.budget_ms, result.value_ms, endpoint)))

    return record


def _is_bad(sample: Sample) -> bool:
    return not sample.ok or sample.is_5xx


def choose_sample(taken: Sequence[Sample], endpoint_log: Sequence[Sample]) -> Sample | None:
    """The sample a failed check is best explained by.

    Samples the check took itself come first (a functional check fails on the response it just
    read; the last bad one, else the last one). A check that judged samples taken earlier (the
    error rates) is explained by the first bad sample of its endpoint, else its last sample.
    """
    if taken:
        return next((s for s in reversed(taken) if _is_bad(s)), taken[-1])
    if endpoint_log:
        return next((s for s in endpoint_log if _is_bad(s)), endpoint_log[-1])
    return None


def _endpoint_of(subject: str) -> str:
    if subject in ENDPOINTS:
        return subject
    return "dns" if "." in subject else subject


#: Failed exchanges named in the terminal summary.
TERMINAL_EXCHANGES = 10


class _Collector:
    """Fills `Results` from check reports; keeps a failed check's request and response."""

    def __init__(self, config: pytest.Config, results: Results) -> None:
        self.config = config
        self.results = results
        self.taken: dict[str, list[Sample]] = {}

    @pytest.hookimpl(wrapper=True)
    def pytest_fixture_setup(self, fixturedef: pytest.FixtureDef[Any],
                             request: pytest.FixtureRequest) -> Generator[None, Any, Any]:
        value = yield
        if fixturedef.argname == "probe" and isinstance(value, Probe):
            value.log.listeners.append(self.results.add_sample)
        return value

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, None, None]:
        probe = getattr(item, "funcargs", {}).get("probe")
        if not isinstance(probe, Probe):
            return (yield)
        taken: list[Sample] = []
        self.taken[item.nodeid] = taken
        probe.log.listeners.append(taken.append)
        try:
            return (yield)
        finally:
            probe.log.listeners.remove(taken.append)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item,
                                  call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
        report: pytest.TestReport = yield
        if call.when != "call":
            return report
        taken = self.taken.pop(item.nodeid, [])
        if not report.failed:
            return report
        probe = getattr(item, "funcargs", {}).get("probe")
        if not isinstance(probe, Probe):
            return report
        subject = item.name.partition("[")[2].rstrip("]")
        sample = choose_sample(taken, probe.log.for_endpoint(_endpoint_of(subject)))
        if sample is not None:
            report.user_properties.append((EXCHANGE_PROPERTY, exchange(sample, probe.base_url)))
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" or (report.when == "setup" and not report.passed) or (
                report.when == "teardown" and report.failed):
            outcome = report.outcome if report.when == "call" else (
                "skipped" if report.skipped else "error")
            if report.when == "call" and hasattr(report, "wasxfail"):
                outcome = "skipped"
            name = report.nodeid.rpartition("::")[2]
            self.results.record(report.nodeid, name, outcome, _message(report),
                                report.duration, report.user_properties)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """Who failed, with the colo and ray id of each failed exchange (the first
        `TERMINAL_EXCHANGES`): what Cloudflare support asks for."""
        rows = self.results.failed_exchanges
        if not rows:
            return
        terminalreporter.section("synthetics failed exchanges (colo and ray id for Cloudflare "
                                 "support)")
        by_source = self.results.failures_by_source()
        terminalreporter.write_line("who failed: " + "; ".join(
            f"{endpoint}: " + ", ".join(f"{k} ×{n}" for k, n in by.items())
            for endpoint, by in by_source.items()))
        for r in rows[:TERMINAL_EXCHANGES]:
            terminalreporter.write_line(
                f"{r['request']}: {r['label']} (colo {r['colo'] or '—'}, ray {r['ray'] or '—'})")
        if len(rows) > TERMINAL_EXCHANGES:
            terminalreporter.write_line(f"… and {len(rows) - TERMINAL_EXCHANGES} more in the "
                                        "report and summary.json")

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        self.results.finished = time.time()
        self.results.exitstatus = int(exitstatus)
        if WORKER in self.config.stash:
            self.results.worker = self.config.stash[WORKER]  # with its URL, once started
        path = self.config.stash[REPORT_SETTINGS].summary_json
        if path and is_controller(self.config):
            self.results.extra.update(region_vote(self.config, list(self.results.checks.values()),
                                                  self.results.worker.builtin))
            self.results.write_summary(path)


def _message(report: pytest.TestReport) -> str:
    """The one-line reason of a failed or skipped check."""
    longrepr = report.longrepr
    if longrepr is None:
        return ""
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # skipped: (file, line, reason)
        return str(longrepr[2]).removeprefix("Skipped: ")
    crash = getattr(longrepr, "reprcrash", None)
    text = str(crash.message) if crash is not None else str(longrepr)
    return text.removeprefix("Failed: ").strip().splitlines()[0] if text.strip() else ""


# --- the trend from history -----------------------------------------------------------------


def hourly_percentiles(samples: Sequence[Any], q: float) -> list[tuple[float, float]]:
    """(hour start, percentile of total ms) for the successful samples, one point per hour."""
    buckets: dict[float, list[float]] = {}
    for s in samples:
        if s.ok and s.total is not None:
            buckets.setdefault(s.t - s.t % 3600, []).append(s.total * 1000)
    return [(hour, percentile(values, q)) for hour, values in sorted(buckets.items())]


def history_trend(config: pytest.Config, days: float, q: float,
                  now: float | None = None) -> dict[str, list[tuple[float, float]]] | None:
    """Hourly latency percentiles per sampled endpoint from the history database, or None when
    the history plugin is absent or off."""
    recorder = config.stash.get(HISTORY, None)
    if recorder is None:
        return None
    recorder.flush()
    store = recorder.store
    opened = None
    if store is None:  # this run recorded nothing (the store opens at the first sample)
        if not Path(recorder.path).exists():
            return {}
        store = opened = SqliteHistory(recorder.path)
    end = time.time() if now is None else now
    out: dict[str, list[tuple[float, float]]] = {}
    try:
        for endpoint in SAMPLED_ENDPOINTS:
            points = hourly_percentiles(
                store.samples(recorder.target, endpoint, end - days * 86400, end), q)
            if points:
                out[endpoint] = points
    finally:
        if opened is not None:
            opened.close()
    return out


def history_versions(config: pytest.Config, days: float,
                     now: float | None = None) -> list[tuple[float, str]]:
    """(run start, health document version) of the target's runs in the window; [] without
    history."""
    recorder = config.stash.get(HISTORY, None)
    if recorder is None or recorder.store is None:
        return []
    end = time.time() if now is None else now
    return recorder.store.versions(end - days * 86400, recorder.target)


def history_colos(config: pytest.Config, days: float, now: float | None = None,
                  ) -> dict[str, dict[str, tuple[int, float]]]:
    """{endpoint: {colo: (samples, median s)}} of the target's successful samples in the
    window, from history; {} without history or cf-ray."""
    recorder = config.stash.get(HISTORY, None)
    if recorder is None or recorder.store is None:
        return {}
    end = time.time() if now is None else now
    out = {}
    for endpoint in SAMPLED_ENDPOINTS:
        colos = recorder.store.latency_by_colo(recorder.target, endpoint, end - days * 86400)
        if colos:
            out[endpoint] = colos
    return out


def history_colos_html(by_colo: dict[str, dict[str, tuple[int, float]]], days: float) -> str:
    if not by_colo:
        return ""
    body = "".join(f"<tr><td>{_esc(endpoint)}</td><td>{_esc(colo)}</td><td>{n}</td>"
                   f"<td>{median * 1000:.1f}</td></tr>"
                   for endpoint, colos in by_colo.items() for colo, (n, median) in colos.items())
    return (f'<h3>Latency by colo, last {days:g} days (history)</h3><table '
            'id="synthetics-history-colos"><tr><th>endpoint</th><th>colo (cf-ray)</th>'
            f"<th>samples</th><th>median ms</th></tr>{body}</table>")


# --- the HTML report ---------------------------------------------------------------------------

_VERDICT_STYLE = {
    "pass": ("PASS", "#dcfce7"), "fail": ("FAIL", "#fee2e2"),
    "insufficient": ("INSUFFICIENT EVIDENCE", "#fef9c3"), "skipped": ("SKIPPED", "#f3f4f6"),
    "not run": ("NOT RUN", "#f3f4f6"),
}


def _esc(value: object) -> str:
    return html.escape(str(value))


def summary_table(rows: Sequence[dict[str, Any]]) -> str:
    """The summary of targets as an HTML table (dark text: pytest-html's body text is grey)."""
    body = []
    for r in rows:
        label, color = _VERDICT_STYLE.get(r["verdict"], (r["verdict"].upper(), "#fff"))
        body.append(
            f'<tr class="verdict-{_esc(r["verdict"]).replace(" ", "-")}" '
            f'data-check="{_esc(r["check"])}[{_esc(r["subject"])}]">'
            f"<td><code>{_esc(r['check'])}</code></td><td><code>{_esc(r['subject'])}</code></td>"
            f"<td>{_esc(r['target'])}</td><td>{_esc(r['measured'])}</td>"
            f"<td>{_esc(r['threshold'])}</td>"
            f'<td style="background:{color};font-weight:bold">{_esc(label)}</td>'
            f"<td>{_esc(r['detail'])}</td></tr>")
    return ('<h2>Targets</h2><table id="synthetics-summary">'
            "<thead><tr><th>check</th><th>subject</th><th>documented target</th>"
            "<th>measured</th><th>threshold</th><th>verdict</th><th>detail</th></tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>")


_ACCESS_ROWS = (("paths", "path"), ("methods", "method"), ("origins", "origin"),
                ("colos", "colo"), ("countries", "country"), ("user_agents", "user agent"),
                ("unusual_domains", "unusual DNS domain"),
                ("unusual_requests", "request off the routes"))


def access_patterns_html(record: dict[str, Any]) -> str:
    """The access-pattern review's summary: the top values of each dimension of the tail sample
    (test_review_access_patterns records it; history keeps the same rows)."""
    top = record.get("top") or {}
    rows = []
    for key, label in _ACCESS_ROWS:
        values = ", ".join(f"{_esc(k)} ({_esc(v)})" for k, v in top.get(key) or []) or "—"
        rows.append(f"<tr><td>{label}</td><td>{values}</td></tr>")
    share = (f"{record.get('events', 0)} requests sampled; unusual DNS domains "
             f"{float(record.get('unusual_dns_share', 0)):.1%} of "
             f"{record.get('dns_requests', 0)} DNS-resolve requests; requests off the routes "
             f"{float(record.get('unusual_request_share', 0)):.1%}")
    return ('<h2>Access patterns (tail sample)</h2><div id="synthetics-access-patterns">'
            f"<p>{_esc(share)}</p><table><tr><th>by</th><th>top values (count)</th></tr>"
            + "".join(rows) + "</table></div>")


def exchange_html(check: CheckResult, open_: bool = False) -> str:
    """A failed check's request and response, as the report shows them."""
    ex = check.exchange or {}
    req, resp = ex.get("request", {}), ex.get("response", {})

    def headers(items: Sequence[Sequence[str]]) -> str:
        return "\n".join(f"{_esc(k)}: {_esc(v)}" for k, v in items)

    status = resp.get("status")
    status_line = f"HTTP {status}" if status is not None else f"no response: {resp.get('error')}"
    more = (f"\n… ({resp.get('body_bytes')} bytes in all)" if resp.get("truncated") else "")
    return (
        f'<details class="synthetics-exchange"{" open" if open_ else ""}><summary>'
        f"{_esc(req.get('method'))} {_esc(req.get('url'))} → {_esc(status_line)}</summary>"
        f"<pre>{_esc(req.get('method'))} {_esc(req.get('url'))}\n{headers(req.get('headers', []))}"
        f"{chr(10) + _esc(req.get('body')) if req.get('body') else ''}</pre>"
        f"<pre>{_esc(status_line)}\n{headers(resp.get('headers', []))}\n\n"
        f"{_esc(resp.get('body', ''))}{_esc(more)}</pre></details>")


#: Verdict of a whole run: (kind, the words shown in large type).
VERDICTS = {"fail": "FAIL", "insufficient": "PASS WITH INSUFFICIENT EVIDENCE", "pass": "PASS",
            "none": "NO CHECK RAN"}


def run_verdict(results: Results) -> str:
    """fail | insufficient | pass | none: a failed check (or a failing exit status) fails the
    run; a run that passed only on insufficient evidence for some check says so."""
    statuses = [c.status for c in results.checks.values()]
    if "fail" in statuses or results.exitstatus not in (None, 0, 5):
        return "fail"
    if not statuses or all(s == "skipped" for s in statuses):
        return "none"
    return "insufficient" if "insufficient" in statuses else "pass"


def counts_text(results: Results) -> str:
    """`4 failed · 20 passed · 3 insufficient evidence · 2 skipped` (only the non-zero ones)."""
    counts: dict[str, int] = {}
    for c in results.checks.values():
        counts[c.status] = counts.get(c.status, 0) + 1
    words = (("fail", "failed"), ("pass", "passed"), ("insufficient", "insufficient evidence"),
             ("skipped", "skipped"))
    parts = [f"{counts[k]} {w}" for k, w in words if counts.get(k)]
    return " · ".join(parts) or "no check ran"


def verdict_header(results: Results, target_html: str, region: str,
                   when: float | None = None) -> str:
    """The report's first screen: the verdict in large type, the counts, the target, when and
    from where."""
    kind = run_verdict(results)
    at = format_utc(when if when is not None else (results.finished or time.time()), "minute")
    return (f'<section id="synthetics-verdict" class="synthetics-verdict-{kind}">'
            f'<div id="synthetics-verdict-word">{_esc(VERDICTS[kind])}</div>'
            f'<p id="synthetics-counts">{_esc(counts_text(results))}</p>'
            f"{target_html}"
            f'<p id="synthetics-where">Finished {_esc(at)} · from region '
            f"<b>{_esc(region)}</b></p></section>")


def failures_html(results: Results) -> str:
    """Each failing check with its one-line reason and, folded, the exchange it was judged on."""
    failed = results.failed
    if not failed:
        return ""
    items = []
    for c in failed:
        ex = exchange_html(c) if c.exchange else ""
        who = (c.exchange or {}).get("attribution") or {}
        where = ""
        if who.get("source"):
            where = (f' <span class="synthetics-who" data-source="{_esc(who["source"])}">'
                     f"[{_esc(who['source'])} {_esc(who.get('code'))}; colo "
                     f"{_esc(who.get('colo') or '—')}; ray {_esc(who.get('ray') or '—')}]</span>")
        items.append(f'<li class="synthetics-failure" data-check="{_esc(c.name)}">'
                     f"<code>{_esc(c.name)}</code>: <span class=\"synthetics-reason\">"
                     f"{_esc(scrub(c.message) or 'failed')}</span>{where}{ex}</li>")
    return (f'<section id="synthetics-failures"><h2>Failing checks ({len(failed)})</h2>'
            f"<ol>{''.join(items)}</ol>{exchanges_html(results)}</section>")


def exchanges_html(results: Results) -> str:
    """The failed exchanges with who failed, the colo and the ray id (what Cloudflare support
    asks for), and failures counted by source."""
    rows = results.failed_exchanges
    if not rows:
        return ""
    body = "".join(
        f"<tr><td>{_esc(r['request'])}</td><td>{_esc(r['status'] or '—')}</td>"
        f"<td>{_esc(r['source'])}</td><td>{_esc(r['code'])}</td>"
        f"<td>{_esc(r['colo'] or '—')}</td><td><code>{_esc(r['ray'] or '—')}</code></td></tr>"
        for r in rows)
    counts = "; ".join(f"{_esc(endpoint)}: " + ", ".join(f"{_esc(k)} ×{n}"
                                                         for k, n in by.items())
                       for endpoint, by in results.failures_by_source().items())
    return (f'<h3>Failed exchanges (first {len(rows)})</h3><p id="synthetics-by-source">'
            f"{counts}</p><table id=\"synthetics-exchanges\"><tr><th>request</th><th>status"
            f"</th><th>who failed</th><th>code</th><th>colo</th><th>ray id</th></tr>{body}"
            "</table>")


def colo_html(results: Results) -> str:
    """This run's latency of successful samples grouped by the colo that served them."""
    by_colo = results.latency_by_colo()
    if not by_colo:
        return ""
    body = "".join(
        f"<tr><td>{_esc(endpoint)}</td><td>{_esc(colo)}</td><td>{v['samples']}</td>"
        f"<td>{v['p50_ms']:.1f}</td><td>{v['p95_ms']:.1f}</td></tr>"
        for endpoint, colos in by_colo.items() for colo, v in colos.items())
    return ('<h2>Latency by colo</h2><table id="synthetics-colos"><tr><th>endpoint</th>'
            "<th>colo (cf-ray)</th><th>samples</th><th>p50 ms</th><th>p95 ms</th></tr>"
            f"{body}</table>")


#: Dark, legible text for the synthetics sections, and the page's order: pytest-html puts its
#: Environment first; the body is turned into a column whose children are re-ordered so the
#: verdict comes first and the Environment last (no script needed).
REPORT_STYLE = """<style id="synthetics-style">
body { display: flex; flex-direction: column; color: #1f2937; }
body > * { order: 3; }
body > #title { order: 0; }
body > .summary { order: 1; }
body > #results-table { order: 2; }
body > p:first-of-type { order: 4; }
body > #environment-header { order: 5; }
body > #environment { order: 6; }
body > footer { order: 7; }
.summary__data { flex: none; }
.summary__data > h2:first-child { display: none; }
#synthetics-verdict { padding: 12px 18px; border-radius: 6px; margin-bottom: 10px;
  color: #111827; border: 2px solid; }
#synthetics-verdict p { margin: 4px 0; font-size: 15px; color: #111827; }
#synthetics-verdict-word { font-size: 44px; font-weight: 800; letter-spacing: 1px; }
.synthetics-verdict-fail { background: #fee2e2; border-color: #b91c1c !important; }
.synthetics-verdict-fail #synthetics-verdict-word { color: #b91c1c; }
.synthetics-verdict-pass { background: #dcfce7; border-color: #15803d !important; }
.synthetics-verdict-pass #synthetics-verdict-word { color: #15803d; }
.synthetics-verdict-insufficient { background: #fef9c3; border-color: #a16207 !important; }
.synthetics-verdict-insufficient #synthetics-verdict-word { color: #a16207; }
.synthetics-verdict-none { background: #f3f4f6; border-color: #4b5563 !important; }
#synthetics-failures, #synthetics-summary, #synthetics-latency-plots, #synthetics-trend,
#synthetics-remainder { color: #111827; font-size: 13px; }
#synthetics-failures li { margin: 4px 0; }
#synthetics-failures pre { background: #f9fafb; border: 1px solid #e5e7eb; padding: 6px;
  white-space: pre-wrap; }
#synthetics-summary { border-collapse: collapse; }
#synthetics-summary td, #synthetics-summary th { border: 1px solid #d1d5db; padding: 4px 6px;
  color: #111827; text-align: left; vertical-align: top; }
#synthetics-summary th { background: #f3f4f6; }
</style>"""


class HtmlReport:
    """pytest-html additions: verdict header, failing checks, summary of targets, plots."""

    def __init__(self, config: pytest.Config, results: Results) -> None:
        self.config = config
        self.results = results

    def pytest_html_report_title(self, report: Any) -> None:
        report.title = "Victory36 synthetic checks"

    def banner(self) -> str:
        worker = self.config.stash[WORKER]
        style = "background:#fde68a;padding:4px;font-weight:bold" if worker.builtin else ""
        return (f'<p id="synthetics-target" style="{style}">Target: '
                f'{_esc(scrub(worker.description))}</p>')

    def region(self) -> str:
        """Where the checks ran from: `--region` (SYNTHETICS_REGION), else the host name, as
        the metrics label it."""
        settings = self.config.stash.get(METRICS_SETTINGS, None)
        return (settings.region if settings is not None and settings.region
                else socket.gethostname())

    def sections(self) -> list[str]:
        """What goes before pytest-html's own counts and filters: the first screen."""
        return [REPORT_STYLE, verdict_header(self.results, self.banner(), self.region()),
                failures_html(self.results), summary_table(self.results.target_rows())]

    def plots(self) -> list[str]:
        """What goes after pytest-html's counts and filters: the latency plots and the trend."""
        parts = []
        latency = [c for c in self.results.checks.values() if c.latency]
        if latency:
            parts.append('<h2>Latency</h2><div id="synthetics-latency-plots">')
            for c in latency:
                try:
                    plot = latency_figure(c.name, c.latency or {})
                except Exception as exc:  # noqa: BLE001 - a plot must not lose the report
                    plot = f"<p>No plot of {_esc(c.name)}: {_esc(exc)}</p>"
                parts.append(f"<figure>{plot}</figure>")
            parts.append("</div>")
        parts.append(colo_html(self.results))
        parts.extend(access_patterns_html(c.access) for c in self.results.checks.values()
                     if c.access)
        parts.append(self.trend())
        return parts

    def trend(self) -> str:
        days = self.config.stash[REPORT_SETTINGS].trend_days
        q = self.config.stash[SETTINGS].latency_percentile
        now = time.time()  # one reading for the trend, its versions, its colos and its plot
        try:
            series = history_trend(self.config, days, q, now=now)
        except Exception as exc:  # noqa: BLE001 - a broken history must not lose the report
            return (f'<p id="synthetics-trend">No trend: history could not be read '
                    f"({_esc(exc)}).</p>")
        if series is None:
            return ('<p id="synthetics-trend">No trend: history is off '
                    "(run with --history PATH to keep one).</p>")
        if not series:
            return '<p id="synthetics-trend">No trend yet: history holds no latency samples.</p>'
        budgets = {t.subject: float(t.threshold) for t in EXPECTATIONS
                   if t.check == "test_latency_within_budget" and t.threshold is not None}
        try:
            versions = history_versions(self.config, days, now=now)
            colos = history_colos_html(history_colos(self.config, days, now=now), days)
        except Exception:  # noqa: BLE001 - the extras: the trend stands without them
            versions, colos = [], ""
        plot = trend_figure(series, budgets, days, q, now=now, versions=versions)
        changes = "".join(f"<li>{_esc(format_utc(t, 'minute'))}: "
                          f"version {_esc(a)} → {_esc(b)}</li>"
                          for t, a, b in version_changes(versions))
        marks = (f'<ul id="synthetics-versions">{changes}</ul>' if changes else "")
        return (f'<h2>Trend</h2><figure id="synthetics-trend">{plot}</figure>{marks}{colos}')

    def pytest_html_results_summary(self, prefix: list[str], summary: list[str],
                                    postfix: list[str]) -> None:
        prefix.extend(self.sections())
        postfix.extend(self.plots())
