"""The weekly and monthly reviews from Cloudflare's data, against fakes on loopback only.

- A fake wrangler (tests/fakes/review_wrangler) whose tail prints recorded-shape events; its
  `unusual_access` scenario names DNS domains outside the MCP domains and probes paths off the
  routes.
- A loopback GraphQL fake (`graphql` fixture) answering `workersInvocationsAdaptive` with
  configured totals, GraphQL `errors`, or HTTP 429; it records the Authorization header it got.

Every check passes on normal data and fails on its fault naming what was found; the token and
account id never appear in any output.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from synthetics.expectations import MCP_DOMAINS
from synthetics.history.store import SqliteHistory
from synthetics.reporting.report import access_patterns_html
from synthetics.schedule import review
from synthetics.schedule.analytics import (
    ApiError,
    GraphQL,
    api_credentials,
    compatibility_date,
    post_json,
    summarise_tail,
)
from synthetics.schedule.jobs import build_argv_for
from synthetics.schedule.jobs import main as jobs_main
from synthetics.schedule.review import parse_json_stream
from synthetics.schedule.scheduler import JOBS, find_job

ROOT = Path(__file__).resolve().parent.parent
FAKE = ROOT / "tests" / "fakes" / "review_wrangler"
RECORDED = FAKE / "recorded"
TOKEN = "tok-SECRET-4f9a8b7c6d5e"
ACCOUNT = "acct-SECRET-0123456789"
IDS = {
    "access": "test_review_access_patterns[tail]",
    "compat": "test_review_compatibility_date[wrangler-config]",
    "cpu": "test_review_cpu_time[graphql]",
    "errors": "test_error_rate_real_traffic[graphql]",
}
ALL = "security_audit or optimisation_review or performance_analysis"


class GraphQLFake:
    """`POST /client/v4/graphql` on loopback. Windows ending within an hour of now are
    "recent", older ones "before"; each answers the totals configured for it."""

    def __init__(self) -> None:
        self.mode = "ok"  # ok | errors | 429 | hostile
        self.recent = {"requests": 2_000_000, "errors": 40, "p50": 1_200.0, "p99": 4_800.0,
                       "exceeded": 0}
        self.before = dict(self.recent)
        self.seen: list[dict[str, Any]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                owner.seen.append({"path": self.path, "auth": self.headers.get("Authorization"),
                                   "variables": body.get("variables", {}),
                                   "query": body.get("query", "")})
                status, doc = owner.answer(body.get("variables", {}))
                data = json.dumps(doc).encode()
                self.send_response(status)
                if status == 429:
                    self.send_header("Retry-After", "30")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/client/v4"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def answer(self, variables: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if self.mode == "429":
            return 429, {"errors": [{"message": "rate limited"}]}
        if self.mode in ("errors", "hostile"):
            message = ("unknown field cpuTimeP99 on type WorkersInvocationsAdaptiveQuantiles"
                       if self.mode == "errors" else f"bad token {TOKEN} for account {ACCOUNT}")
            return 200, {"data": None, "errors": [{"message": message, "path": ["viewer"]}]}
        until = dt.datetime.fromisoformat(variables["until"].replace("Z", "+00:00"))
        recent = abs(time.time() - until.timestamp()) < 3600
        w = self.recent if recent else self.before
        total = [{"sum": {"requests": w["requests"], "errors": w["errors"], "subrequests": 0},
                  "quantiles": {"cpuTimeP50": w["p50"], "cpuTimeP99": w["p99"]}}]
        ok = w["requests"] - w["errors"]
        by_status = [{"sum": {"requests": ok, "errors": 0}, "dimensions": {"status": "success"}}]
        thrown = w["errors"] - w["exceeded"]
        if thrown:
            by_status.append({"sum": {"requests": thrown, "errors": thrown},
                              "dimensions": {"status": "scriptThrewException"}})
        if w["exceeded"]:
            by_status.append({"sum": {"requests": w["exceeded"], "errors": w["exceeded"]},
                              "dimensions": {"status": "exceededResources"}})
        return 200, {"data": {"viewer": {"accounts": [{"total": total, "byStatus": by_status}]}},
                     "errors": None}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


@pytest.fixture
def graphql() -> Iterator[GraphQLFake]:
    fake = GraphQLFake()
    yield fake
    fake.close()


@pytest.fixture
def review_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, graphql: GraphQLFake) -> Path:
    """Fake wrangler first on PATH, placeholder credentials, the API at the loopback fake, and a
    wrangler configuration with a recent compatibility_date; returns that file."""
    monkeypatch.setenv("PATH", f"{FAKE}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", TOKEN)
    monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", ACCOUNT)
    monkeypatch.setenv("SYNTHETICS_CLOUDFLARE_API_URL", graphql.url)
    config = tmp_path / "wrangler-production-simple.toml"
    recent = (dt.date.today() - dt.timedelta(days=30)).isoformat()
    config.write_text(f'name = "wfa-orchestration-worker"\ncompatibility_date = "{recent}"\n'
                      '[env.production]\nname = "wfa-orchestration-worker-production"\n')
    monkeypatch.setenv("SYNTHETICS_DEPLOY_CONFIG", str(config))
    return config


def _run(run_checks, *args: str):
    return run_checks("-m", ALL, "--review", "--review-tail-seconds", "1", "--review-timeout",
                      "5", "--history", "off", *args)


def _no_secrets(*texts: str) -> None:
    for text in texts:
        assert TOKEN not in text and ACCOUNT not in text


def test_every_review_passes_on_normal_data(run_checks, review_env: Path,
                                            graphql: GraphQLFake) -> None:
    run = _run(run_checks)
    assert {k: run.outcomes.get(k) for k in IDS.values()} == dict.fromkeys(IDS.values(),
                                                                          "passed"), run.stdout
    # three GraphQL queries (CPU: two weeks; error rate: the window), each with the token as a
    # Bearer header to /client/v4/graphql, the worker's name and the account as variables
    assert len(graphql.seen) == 3
    assert {s["auth"] for s in graphql.seen} == {f"Bearer {TOKEN}"}
    assert {s["path"] for s in graphql.seen} == {"/client/v4/graphql"}
    assert all("workersInvocationsAdaptive" in s["query"] for s in graphql.seen)
    assert {s["variables"]["script"] for s in graphql.seen} == {review.WORKER_NAME}
    assert {s["variables"]["account"] for s in graphql.seen} == {ACCOUNT}
    _no_secrets(run.stdout, run.stderr, *run.messages.values())


def test_every_review_fails_on_its_fault_naming_what_was_found(
        run_checks, review_env: Path, graphql: GraphQLFake,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REVIEW_FAKE_SCENARIO", "unusual_access")
    review_env.write_text('name = "w"\ncompatibility_date = "2024-09-23"\n')
    graphql.recent.update(p50=1_800.0, p99=7_500.0, errors=30_000)  # +50%/+56%, 1.5% errors
    run = _run(run_checks)
    assert {k: run.outcomes.get(k) for k in IDS.values()} == dict.fromkeys(IDS.values(),
                                                                          "failed"), run.stdout
    access = run.messages[IDS["access"]]
    assert "internal.corp.example (2)" in access and "attacker.example.net (1)" in access
    assert "/wp-login.php" in access and "DELETE /mcp/orchestrate" in access
    compat = run.messages[IDS["compat"]]
    assert "compatibility_date 2024-09-23" in compat and "days old, over 180" in compat
    cpu = run.messages[IDS["cpu"]]
    assert "CPU p50 rose +50%" in cpu and "1.20 → 1.80 ms" in cpu
    errors = run.messages[IDS["errors"]]
    assert "30000/2000000 invocation errors (1.500%)" in errors
    assert "scriptThrewException 30000" in errors
    for message in run.messages.values():
        assert "\n" not in message.strip()
    _no_secrets(run.stdout, run.stderr, *run.messages.values())


def test_cpu_over_the_plan_limit_fails_and_exceeded_resources_are_reported(
        run_checks, review_env: Path, graphql: GraphQLFake) -> None:
    graphql.recent.update(p99=12_500.0, exceeded=7)
    graphql.before.update(p99=12_000.0)
    run = _run(run_checks, "-k", "cpu_time")
    assert run.outcomes[IDS["cpu"]] == "failed"
    assert "CPU p99 12.50 ms is over the plan's 10 ms limit" in run.messages[IDS["cpu"]]
    assert "(7 exceededResources invocations)" in run.messages[IDS["cpu"]]
    paid = _run(run_checks, "-k", "cpu_time", "--cpu-limit-ms", "30000")
    assert paid.outcomes[IDS["cpu"]] == "passed"


def test_graphql_errors_fail_and_rate_limits_skip_in_one_line(
        run_checks, review_env: Path, graphql: GraphQLFake) -> None:
    graphql.mode = "errors"
    run = _run(run_checks, "-k", "cpu_time or real_traffic")
    for key in ("cpu", "errors"):
        assert run.outcomes[IDS[key]] == "failed"
        assert run.messages[IDS[key]] == ("Failed: Cloudflare GraphQL API: GraphQL error (HTTP "
                                          "200): "
                                          "unknown field cpuTimeP99 on type "
                                          "WorkersInvocationsAdaptiveQuantiles")
    graphql.mode = "429"
    run = _run(run_checks, "-k", "cpu_time or real_traffic")
    for key in ("cpu", "errors"):
        assert run.outcomes[IDS[key]] == "skipped"
        assert "rate-limiting this token (HTTP 429, retry after 30 s)" in run.messages[IDS[key]]


def test_a_hostile_api_echoing_the_token_never_gets_it_printed(
        run_checks, review_env: Path, graphql: GraphQLFake) -> None:
    graphql.mode = "hostile"
    run = _run(run_checks, "-k", "real_traffic")
    assert run.outcomes[IDS["errors"]] == "failed"
    assert "[CLOUDFLARE_API_TOKEN redacted]" in run.messages[IDS["errors"]]
    _no_secrets(run.stdout, run.stderr, *run.messages.values())


def test_without_credentials_or_opt_in_every_review_skips_with_the_reason(
        run_checks, review_env: Path, graphql: GraphQLFake,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLOUDFLARE_ACCOUNT_ID")
    run = _run(run_checks, "-k", "cpu_time or real_traffic")
    for key in ("cpu", "errors"):
        assert run.outcomes[IDS[key]] == "skipped"
        assert "no Cloudflare API credentials: set CLOUDFLARE_ACCOUNT_ID" in \
            run.messages[IDS[key]]
    assert graphql.seen == []
    plain = run_checks("-m", ALL, "--history", "off")
    assert {plain.outcomes[i] for i in IDS.values()} == {"skipped"}
    assert "--review" in plain.messages[IDS["compat"]]
    assert graphql.seen == []


def test_access_patterns_are_kept_in_history_and_shown_in_the_report(
        run_checks, review_env: Path, tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite3"
    html = tmp_path / "report.html"
    run = run_checks("-m", "security_audit", "--review", "--review-tail-seconds", "1",
                     "--history", str(db), f"--html={html}", "--self-contained-html")
    assert run.outcomes[IDS["access"]] == "passed", run.stdout
    kept = SqliteHistory(db).load_state("access_patterns")
    assert kept is not None and len(kept["samples"]) == 1
    sample = kept["samples"][0]
    assert sample["events"] == 9 and sample["dns_requests"] == 4
    assert ["/mcp/dns/resolve", 4] in sample["top"]["paths"]
    assert ["LHR", 4] in sample["top"]["colos"]
    page = html.read_text()
    assert 'id="synthetics-access-patterns"' in page and "IAD (2)" in page


# -- units -----------------------------------------------------------------------------------
def test_tail_summary_counts_every_dimension() -> None:
    events, _ = parse_json_stream((RECORDED / "tail-unusual.json").read_text())
    s = summarise_tail(events, MCP_DOMAINS)
    assert s.events == 13 and s.dns_requests == 6
    assert s.unusual_domains == {"internal.corp.example": 2, "attacker.example.net": 1}
    assert s.unusual_requests == {"GET /wp-login.php": 1, "DELETE /mcp/orchestrate": 1,
                                  "GET /.env": 1}
    assert s.countries["SG"] == 6 and s.origins["https://aipub.2100.cool"] == 2
    assert s.user_agents["python-requests/2.31"] == 3
    assert s.unusual_dns_share == pytest.approx(3 / 6)
    # POST to the registration route and OPTIONS anywhere are the worker's usual traffic
    usual = [{"event": {"request": {"url": "https://w.dev/mcp/agent/register", "method": "POST"}}},
             {"event": {"request": {"url": "https://w.dev/health", "method": "OPTIONS"}}},
             {"event": {"scheduledTime": 1}}]
    assert summarise_tail(usual, MCP_DOMAINS).unusual_requests == {}
    html = access_patterns_html(s.record(0.0))
    assert "internal.corp.example (2)" in html and "50.0%" in html


def test_compatibility_date_reads_the_env_override(tmp_path: Path) -> None:
    path = tmp_path / "w.toml"
    path.write_text('compatibility_date = "2024-01-01"\n[env.production]\n'
                    'compatibility_date = "2025-06-01"\n')
    assert compatibility_date(path, "production") == dt.date(2025, 6, 1)
    assert compatibility_date(path, "staging") == dt.date(2024, 1, 1)
    path.write_text('name = "w"\n')
    with pytest.raises(ValueError, match="sets no compatibility_date"):
        compatibility_date(path)
    path.write_text('compatibility_date = "soon"\n')
    with pytest.raises(ValueError, match="not a YYYY-MM-DD date"):
        compatibility_date(path)


@pytest.mark.parametrize("where", ["headers", "body"])
def test_a_dripping_api_is_cut_off_at_the_deadline(where: str) -> None:
    """One wall-clock deadline per request: a server that sends a byte every 0.2 s (never idle
    for a whole socket timeout), in its headers or its body, is abandoned at the deadline."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    stop = threading.Event()

    def drip() -> None:
        conn, _ = listener.accept()
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\n")
        if where == "body":
            conn.sendall(b"Content-Length: 100000\r\n\r\n")
        while not stop.is_set():
            try:
                conn.sendall(b"x" if where == "body" else b"X-Drip: x\r\n")
            except OSError:
                break
            time.sleep(0.2)
        conn.close()

    thread = threading.Thread(target=drip, daemon=True)
    thread.start()
    started = time.monotonic()
    with pytest.raises(ApiError, match="no complete answer within 1 s"):
        post_json(f"http://127.0.0.1:{listener.getsockname()[1]}/graphql", {}, {}, 1.0)
    assert time.monotonic() - started < 3.0
    stop.set()
    thread.join(5)
    listener.close()


def test_api_credentials_name_what_is_missing_never_the_values() -> None:
    assert api_credentials({"CLOUDFLARE_API_TOKEN": TOKEN, "CLOUDFLARE_ACCOUNT_ID": ACCOUNT}) \
        == (TOKEN, ACCOUNT)
    reason = api_credentials({"CLOUDFLARE_API_TOKEN": TOKEN})
    assert isinstance(reason, str) and "CLOUDFLARE_ACCOUNT_ID" in reason and TOKEN not in reason


def test_an_unreachable_api_is_one_line() -> None:
    api = GraphQL("http://127.0.0.1:9/client/v4", TOKEN, ACCOUNT, "w", 2.0)
    with pytest.raises(ApiError) as raised:
        api.invocations(dt.datetime.now(dt.timezone.utc), dt.datetime.now(dt.timezone.utc))
    assert raised.value.kind == "transport" and "\n" not in raised.value.reason


# -- the jobs --------------------------------------------------------------------------------
def test_jobs_run_the_reviews_and_schedule_list_says_so(tmp_path: Path) -> None:
    args = type("A", (), {"history": str(tmp_path / "h.db"), "target": None,
                          "health_args": "", "backup_dir": "b", "backup_base": "."})()
    argv = build_argv_for(args)(find_job("security-audit"), 1)  # type: ignore[arg-type]
    assert argv[argv.index("-q") + 1:argv.index("-q") + 4] == [
        "-m", "cors or dns or security_audit", "--review"]
    evening = build_argv_for(args)(find_job("evening-review"), 1)  # type: ignore[arg-type]
    assert "review and not (security_audit" in evening[evening.index("-q") + 2]
    listed = subprocess.run([sys.executable, "-m", "synthetics.cli", "schedule", "--list",
                             "--history", "off"], capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0
    line = {spec.name: next(ln for ln in listed.stdout.splitlines() if ln.startswith(spec.name))
            for spec in JOBS}
    assert "access patterns" in line["security-audit"]
    assert "CPU time" in line["optimisation-review"]
    assert "compatibility_date" in line["optimisation-review"]
    assert "month over month" in line["performance-analysis"]
    assert "real-traffic error rate" in line["performance-analysis"]


def test_optimisation_and_performance_jobs_run_their_checks_and_the_monthly_report(
        review_env: Path, graphql: GraphQLFake, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "h.sqlite3")
    graphql.before.update(requests=1_000_000, errors=10, p99=4_100.0)
    assert jobs_main(["performance", "--history", db]) == 0
    out = capsys.readouterr().out
    assert "Cloudflare analytics (wfa-orchestration-worker-production), the last 30 days " \
           "against the 30 before:" in out
    rows = {ln.split()[0] + " " + ln.split()[1]: ln for ln in out.splitlines()
            if ln.startswith("  ") and len(ln.split()) > 3}
    assert "2,000,000" in rows["invocations 2,000,000"] and "(+100%)" in rows[
        "invocations 2,000,000"]
    assert any("CPU p99" in k and "4.80" in v and "(+17%)" in v for k, v in rows.items())
    assert "pytest -m performance_analysis --review" in out and "2 passed" in out
    assert jobs_main(["optimisation", "--history", db]) == 0
    out = capsys.readouterr().out
    assert "pytest -m optimisation_review --review" in out and "2 passed" in out
    _no_secrets(out)


def test_jobs_without_credentials_say_why_in_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLOUDFLARE_API_TOKEN", raising=False)
    assert jobs_main(["optimisation", "--history", str(tmp_path / "h.db")]) == 0
    assert "Cloudflare review: skipped: no Cloudflare API credentials: set " \
           "CLOUDFLARE_API_TOKEN" in capsys.readouterr().out


def test_no_traffic_is_insufficient_and_an_inconsistent_answer_fails(
        run_checks, review_env: Path, graphql: GraphQLFake) -> None:
    graphql.recent.update(requests=0, errors=0)
    graphql.before.update(requests=0, errors=0)
    quiet = _run(run_checks, "-k", "cpu_time or real_traffic", "--summary-json",
                 str(review_env.parent / "s.json"))
    assert {quiet.outcomes[IDS[k]] for k in ("cpu", "errors")} == {"passed"}
    summary = json.loads((review_env.parent / "s.json").read_text())
    verdicts = {c["name"]: c["verdict"] for c in summary["checks"]}
    assert verdicts[IDS["cpu"]] == verdicts[IDS["errors"]] == "insufficient"
    graphql.recent.update(requests=10, errors=12)
    odd = _run(run_checks, "-k", "real_traffic")
    assert odd.outcomes[IDS["errors"]] == "failed"
    assert "12 errors out of 10 invocations" in odd.messages[IDS["errors"]]
