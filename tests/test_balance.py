"""Sector balance over the run and the history window: which answers count, what history keeps
of them, and the verdict an evenly spreading and a skewed worker get once enough answers have
accumulated."""

from __future__ import annotations

import json
import random
import sqlite3
import time
from collections import Counter
from pathlib import Path

import pytest

from synthetics.balance import (
    BALANCE_ALPHA,
    NOT_A_SECTOR,
    SectorWindow,
    judge_balance,
    sector_of,
)
from synthetics.history.heartbeat import Heartbeat
from synthetics.history.store import SampleRecord, SqliteHistory, record_from_sample
from synthetics.probe import Request, Sample
from synthetics.stats import balance_test

DNS = Request("dns", "/mcp/dns/resolve?domain=mcp.aipub.2100.cool", subject="mcp.aipub.2100.cool")


def _answer(doc: object, request: Request = DNS, status: int = 200) -> Sample:
    return Sample(request, time.time(), status, body=json.dumps(doc).encode())


def test_which_dns_answers_count_for_the_balance() -> None:
    assert sector_of(_answer({"mcpEnabled": True, "sector": 17})) == 17
    assert sector_of(_answer({"mcpEnabled": True, "sector": "17"})) == NOT_A_SECTOR
    assert sector_of(_answer({"mcpEnabled": True, "sector": True})) == NOT_A_SECTOR
    assert sector_of(_answer({"mcpEnabled": False, "sector": None})) is None
    assert sector_of(_answer({"mcpEnabled": True, "sector": 3}, status=503)) is None
    numbered = Request("dns", "/mcp/dns/resolve?domain=mcp.sector-3.x", subject="mcp.sector-3.x")
    assert sector_of(_answer({"mcpEnabled": True, "sector": 3}, numbered)) is None
    health = Request("health", "/health")
    assert sector_of(_answer({"mcpEnabled": True, "sector": 3}, health)) is None
    assert sector_of(Sample(DNS, 0.0, 200, body=b"{")) is None
    assert record_from_sample(_answer({"mcpEnabled": True, "resolved": True, "ip": "1.1.1.1",
                                       "sector": 9}), "T").sector == 9
    assert record_from_sample(_answer({"status": "healthy"}, health), "T").sector is None


def _uniform(answers: int, seed: int, cells: int = 200) -> dict[int, int]:
    """{sector: answers} of an evenly spreading worker (a seeded uniform draw)."""
    rng = random.Random(seed)
    return dict(Counter(rng.randrange(cells) for _ in range(answers)))


def test_without_history_the_verdict_is_the_runs_alone() -> None:
    rng = random.Random(1)
    run = [rng.randrange(200) for _ in range(500)]
    alone = judge_balance(run, 200, 0.05)
    assert alone.verdict == "insufficient" and "insufficient evidence" in alone.detail
    assert alone.measured.endswith("over 500") and "last" not in alone.detail
    # an empty window leaves the run's verdict and says so
    empty = judge_balance(run, 200, 0.05, SectorWindow(24, {}, 0))
    assert empty.verdict == "insufficient"
    assert "no earlier samples in the last 24 h of history" in empty.detail
    # the run's verdict at half the alpha (the window's half is unspent), measured as alone
    assert empty.run == balance_test(run, 200, 0.05, BALANCE_ALPHA / 2)
    assert empty.measured == alone.measured


def test_the_verdict_states_the_window_in_hours_up_to_two_days_then_in_days() -> None:
    assert [SectorWindow(h, {}, 0).span for h in (24, 47.5, 48, 336, 12)] == \
        ["24 h", "47.5 h", "2 days", "14 days", "12 h"]
    rng = random.Random(4)
    run = [rng.randrange(200) for _ in range(500)]
    verdict = judge_balance(run, 200, 0.05, SectorWindow(336, _uniform(80_000, 5), 96))
    assert "last 14 days, 80500 samples over 97 runs" in verdict.detail
    assert "; 14 days: imbalance" in verdict.measured


def test_an_even_window_passes_where_the_run_alone_cannot() -> None:
    rng = random.Random(2)
    run = [rng.randrange(200) for _ in range(500)]
    verdict = judge_balance(run, 200, 0.05, SectorWindow(24, _uniform(80_000, 5), 96))
    assert verdict.verdict == "pass", verdict.detail
    assert "last 24 h, 80500 samples over 97 runs" in verdict.detail
    assert "shown within the 5% tolerance" in verdict.detail
    assert "24 h: imbalance" in verdict.measured
    # two verdicts, each at half the alpha: an even worker's false-alarm chance stays within it
    assert verdict.run == balance_test(run, 200, 0.05, BALANCE_ALPHA / 2)
    past = [sector for sector, n in _uniform(80_000, 5).items() for _ in range(n)]
    whole = balance_test(run + past, 200, 0.05, BALANCE_ALPHA / 2)
    assert verdict.detail.endswith(f"over 97 runs: {whole.describe()}")
    assert judge_balance(run, 200, 0.05).run == balance_test(run, 200, 0.05, BALANCE_ALPHA)
    # too few answers in the window: still undecided
    short = judge_balance(run, 200, 0.05, SectorWindow(24, _uniform(10_000, 6), 12))
    assert short.verdict == "insufficient", short.detail


def test_a_skewed_window_fails_though_the_run_is_clean() -> None:
    rng = random.Random(3)
    run = [rng.randrange(200) for _ in range(500)]
    skewed = {s: 200 for s in range(100)}  # only the lower half, 20,000 answers
    verdict = judge_balance(run, 200, 0.05, SectorWindow(24, skewed, 40))
    assert verdict.run.verdict == "insufficient"
    assert verdict.verdict == "fail" and "above the 5% tolerance" in verdict.detail
    # an answer outside every sector in the window fails too
    outside = judge_balance(run, 200, 0.05,
                            SectorWindow(24, {**_uniform(80_000, 5), NOT_A_SECTOR: 1}, 96))
    assert outside.verdict == "fail" and "outside [0, 200)" in outside.detail
    # and a skewed run fails whatever the window holds
    lopsided = judge_balance([rng.randrange(100) for _ in range(500)], 200, 0.05,
                             SectorWindow(24, _uniform(80_000, 5), 96))
    assert lopsided.verdict == "fail" and lopsided.run.verdict == "fail"


def test_history_keeps_the_sector_and_counts_it_over_a_window(tmp_path: Path) -> None:
    store = SqliteHistory(tmp_path / "h.sqlite3")
    first = store.start_run("adhoc", "T", 0, 0, False)
    second = store.start_run("adhoc", "T", 0, 0, False)
    dns = [SampleRecord(100.0 + i, "T", "dns", "mcp.aipub.2100.cool", "GET", 200, True, None,
                        sector=i % 3) for i in range(9)]
    other = [SampleRecord(100.0, "T", "health", "", "GET", 200, True, None),
             SampleRecord(101.0, "U", "dns", "mcp.aipub.2100.cool", "GET", 200, True, None,
                          sector=1),
             SampleRecord(102.0, "T", "dns", "x.example", "GET", 200, True, None)]
    store.add_samples(first, dns[:6] + other)
    store.add_samples(second, dns[6:])
    assert [s.sector for s in store.samples("T", "dns", 0, subject="mcp.aipub.2100.cool")] == \
        [i % 3 for i in range(9)]
    assert store.sector_counts("T", 0) == ({0: 3, 1: 3, 2: 3}, 2)
    assert store.sector_counts("T", 0, exclude_run=second) == ({0: 2, 1: 2, 2: 2}, 1)
    assert store.sector_counts("T", 103.0, 105.0) == ({0: 1, 1: 1, 2: 1}, 1)
    assert store.sector_counts("V", 0) == ({}, 0)


def test_a_database_from_before_the_sector_column_keeps_working(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    store = SqliteHistory(path)
    run = store.start_run("adhoc", "T", 0, 0, False)
    store.close()
    db = sqlite3.connect(path)
    db.execute("ALTER TABLE samples DROP COLUMN sector")
    db.execute("INSERT INTO series (target, endpoint, subject, method) VALUES "
               "('T', 'dns', 'd', 'GET')")
    db.execute("INSERT INTO samples (series, t, run, seq, status, ok) VALUES (1, 5, ?, 1, 200, 1)",
               (run,))
    db.commit()
    db.close()
    store = SqliteHistory(path)
    assert [s.sector for s in store.samples("T", "dns", 0)] == [None]
    store.add_samples(run, [SampleRecord(6, "T", "dns", "d", "GET", 200, True, None, sector=4)])
    assert store.sector_counts("T", 0) == ({4: 1}, 1)


def test_the_heartbeat_records_the_sector_of_its_dns_answers(reference_worker,
                                                             tmp_path: Path) -> None:
    """Each beat resolves both MCP domains: two answers with a sector a beat."""
    worker = reference_worker()
    store = SqliteHistory(tmp_path / "h.sqlite3")
    heart = Heartbeat(worker.url, store, interval=1.0, log=lambda _: None)
    for _ in range(3):
        heart.beat()
    heart.stop()
    counts, runs = store.sector_counts(worker.url, 0)
    assert sum(counts.values()) == 6 and runs == 1
    assert all(0 <= s < 200 for s in counts)


# -- the check, end to end -------------------------------------------------------------------
CHECK = "test_capacity_sector_balance[dns]"


def _seed(path: Path, counts: dict[int, int], age: float = 3600) -> None:
    """Earlier answers of the built-in worker, as the heartbeat and earlier runs recorded them,
    from `age` seconds ago."""
    store = SqliteHistory(path)
    now = time.time()
    run = store.start_run("heartbeat", "builtin", now - age, now - age, False)
    records = [SampleRecord(now - age + i * 0.01, "builtin", "dns", "mcp.aipub.2100.cool",
                            "GET", 200, True, None, sector=sector)
               for i, sector in enumerate(s for s, n in counts.items() for _ in range(n))]
    store.add_samples(run, records)
    store.close()


@pytest.mark.parametrize(("history", "verdict"), [
    (_uniform(80_000, 7), "passed"),  # 80,000 evenly spread answers
    ({s: 200 for s in range(100)}, "failed"),  # 20,000 from the lower half only
])
def test_the_check_judges_the_window(run_checks, tmp_path: Path, history: dict[int, int],
                                     verdict: str) -> None:
    db = tmp_path / "h.sqlite3"
    _seed(db, history)
    result = run_checks("-m", "capacity", "--error-samples", "40", "--history", str(db))
    assert result.outcomes[CHECK] == verdict, result.stdout
    rests_on = f"last 14 days, {sum(history.values()) + 40} samples over 2 runs"
    assert rests_on in (result.stdout if verdict == "passed" else result.messages[CHECK])


def test_runs_record_their_answers_and_the_next_run_judges_them(run_checks,
                                                                tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite3"
    first = run_checks("-m", "capacity", "--error-samples", "30", "--history", str(db))
    assert first.outcomes[CHECK] == "passed"
    assert "no earlier samples in the last 14 days of history" in first.stdout
    counts, runs = SqliteHistory(db).sector_counts("builtin", 0)
    assert sum(counts.values()) == 30 and runs == 1
    second = run_checks("-m", "capacity", "--error-samples", "30", "--history", str(db))
    assert "last 14 days, 60 samples over 2 runs" in second.stdout
    plain = run_checks("-m", "capacity", "--error-samples", "30", "--history", "off")
    assert plain.outcomes[CHECK] == "passed" and "last 14 days" not in plain.stdout


DAY = 86_400.0


@pytest.mark.parametrize(("history", "verdict"), [
    (_uniform(80_000, 8), "passed"),
    ({s: 200 for s in range(100)}, "failed"),
])
def test_the_dns_window_reaches_past_the_error_rates_24_hours(
        run_checks, tmp_path: Path, history: dict[int, int], verdict: str) -> None:
    """Answers 3 days old are outside --history-window-hours (24) but inside the 14-day DNS
    window: an even spread passes on them and a skew fails on them; the error rates' window
    still holds none of them."""
    db = tmp_path / "h.sqlite3"
    _seed(db, history, age=3 * DAY)
    result = run_checks("-m", "capacity", "--error-samples", "40", "--history", str(db))
    assert result.outcomes[CHECK] == verdict, result.stdout
    rests_on = f"last 14 days, {sum(history.values()) + 40} samples over 2 runs"
    assert rests_on in (result.stdout if verdict == "passed" else result.messages[CHECK])
    recent, runs = SqliteHistory(db).sector_counts("builtin", time.time() - DAY)
    assert (sum(recent.values()), runs) == (40, 1)  # the last 24 h hold only this run's


def test_answers_older_than_the_dns_window_are_not_judged(run_checks, tmp_path: Path,
                                                          monkeypatch) -> None:
    """A skew 3 days old fails the default 14-day window (above), but not a 2-day window set
    in the environment; one 20 days old (still kept: retention is 35 days) not the default."""
    db = tmp_path / "h.sqlite3"
    _seed(db, {s: 200 for s in range(100)}, age=3 * DAY)
    monkeypatch.setenv("SYNTHETICS_DNS_WINDOW_DAYS", "2")
    short = run_checks("-m", "capacity", "--error-samples", "40", "--history", str(db))
    assert short.outcomes[CHECK] == "passed", short.stdout
    assert "no earlier samples in the last 2 days of history" in short.stdout
    monkeypatch.delenv("SYNTHETICS_DNS_WINDOW_DAYS")
    old = tmp_path / "old.sqlite3"
    _seed(old, {s: 200 for s in range(100)}, age=20 * DAY)
    kept = run_checks("-m", "capacity", "--error-samples", "40", "--history", str(old))
    assert kept.outcomes[CHECK] == "passed", kept.stdout
    assert "no earlier samples in the last 14 days of history" in kept.stdout
