"""History: what every run saw, kept in an embedded SQLite database behind a small interface.

Each run records its samples (time, target, endpoint, subject, method, status, phases, outcome,
error kind; who failed, the code, the colo, and a failed sample's ray: `synthetics.attribution`;
the sector a DNS answer counts for in the balance: `synthetics.balance`),
its check outcomes, when it was due and when it ran, and the health document's version it saw.
Schema 3; a database made by an earlier version gets the new columns when opened
(`ADDED_COLUMNS`). The alert rules, the windowed error rates, the coverage report and the HTML
report's trend (version marks, latency by colo) read it back. `HistoryStore` is the interface;
`SqliteHistory` the implementation that needs nothing installed:

- WAL mode and a busy timeout, so concurrent runs (and readers) wait for each other instead of
  failing; every write is one `BEGIN IMMEDIATE` transaction, so a run killed at any moment loses
  only its uncommitted batch and never corrupts the file.
- Samples live in a clustered (`WITHOUT ROWID`) table keyed by (series, time, run, seq), where a
  series is one (target, endpoint, subject, method): a window query or a prune is one range scan
  of the primary key, with no secondary index to maintain on insert.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import statistics
import threading
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from synthetics.attribution import attribute, ray_of
from synthetics.balance import sector_of
from synthetics.rates import DNS_FAILURES, FIVE_XX, TIMEOUTS, FailureKind

__all__ = [
    "CheckRecord", "Coverage", "HistoryStore", "RateCounts", "RunRecord", "SampleRecord",
    "SqliteHistory", "coverage", "history_path_problem", "job_coverage", "sample_outcome",
]

SCHEMA_VERSION = 3
#: Columns added after version 2, as (table, column, type): a database made before gets them on
#: opening (`ALTER TABLE ... ADD COLUMN`, NULL in the rows it already holds), so it keeps working.
ADDED_COLUMNS = (
    ("samples", "source", "TEXT"),  # who failed: worker | limit | edge | network (attribution)
    ("samples", "code", "TEXT"),  # Cloudflare's code, an HTTP status or a network error kind
    ("samples", "colo", "TEXT"),  # the data centre that served it (cf-ray)
    ("samples", "ray", "TEXT"),  # the cf-ray of a failed sample
    ("runs", "version", "TEXT"),  # the health document's version seen in the run
    ("samples", "sector", "INTEGER"),  # the sector a DNS answer counts for (synthetics.balance)
)
#: Relative width of the latency buckets of the hourly rollup: medians from it are within 0.5%.
BUCKET_RATIO = 1.01
_LOG_RATIO = math.log(BUCKET_RATIO)
HOUR = 3600.0
BUSY_TIMEOUT_MS = 30_000
PHASE_COLUMNS = ("connect", "tls", "send", "wait", "receive", "ttfb", "total")


@dataclass(frozen=True)
class SampleRecord:
    """One sample as history keeps it. `ok` is the endpoint's own idea of success."""

    t: float  # epoch seconds, when the request started
    target: str
    endpoint: str
    subject: str
    method: str
    status: int | None
    ok: bool
    error_kind: str | None
    connect: float | None = None
    tls: float | None = None
    send: float | None = None
    wait: float | None = None
    receive: float | None = None
    ttfb: float | None = None
    total: float | None = None
    source: str | None = None  # who failed (synthetics.attribution), for a failed sample
    code: str | None = None
    colo: str | None = None  # where it was served from (cf-ray)
    ray: str | None = None  # the cf-ray of a failed sample
    sector: int | None = None  # the sector a DNS answer counts for in the balance


@dataclass(frozen=True)
class CheckRecord:
    """One check outcome of a run (and its verdict, when the check recorded one)."""

    t: float
    nodeid: str
    outcome: str  # passed | failed | skipped | error
    verdict: str | None = None
    measured: str | None = None
    threshold: str | None = None
    detail: str | None = None


@dataclass(frozen=True)
class RateCounts:
    """One `FailureKind`'s counts over a window: failures out of total, and how many samples and
    runs the window held."""

    failures: int = 0
    total: int = 0
    samples: int = 0
    runs: int = 0


@dataclass(frozen=True)
class RunRecord:
    """One run: which job, when it was due, when it ran, how it ended."""

    id: int
    job: str
    target: str
    due: float
    started: float
    finished: float | None
    late: bool
    outcome: str | None
    detail: str | None


class HistoryStore(Protocol):
    """What the history plugin, the report's trend, the alert rules, the heartbeat and the
    scheduler's jobs need from a history store; they all type against this, not an
    implementation."""

    def start_run(self, job: str, target: str, due: float, started: float, late: bool) -> int:
        """Record a run that has started; returns its id."""

    def finish_run(self, run_id: int, finished: float, outcome: str, detail: str = "",
                   target: str | None = None) -> None:
        """Record how a run ended."""

    def add_samples(self, run_id: int, samples: Sequence[SampleRecord]) -> None:
        """Record samples in one transaction."""

    def add_checks(self, run_id: int, checks: Sequence[CheckRecord]) -> None:
        """Record check outcomes in one transaction."""

    def set_run_version(self, run_id: int, version: str) -> None:
        """Record the health document's `version` seen in a run."""

    def versions(self, since: float, target: str | None = None) -> list[tuple[float, str]]:
        """(started, version) of the runs since `since` that recorded one, oldest first."""

    def latency_by_colo(self, target: str, endpoint: str, since: float,
                        ) -> dict[str, tuple[int, float]]:
        """{colo: (successful samples, their median total in seconds)} since `since`."""

    def checks(self, since: float) -> list[CheckRecord]:
        """Check outcomes recorded at or after `since`, oldest first."""

    def samples(self, target: str, endpoint: str, since: float, until: float | None = None,
                subject: str | None = None, method: str | None = None) -> list[SampleRecord]:
        """Samples of one target and endpoint in [since, until], oldest first."""

    def failure_counts(self, target: str, endpoint: str, since: float, until: float | None = None,
                       subject: str | None = None, method: str | None = None,
                       exclude_run: int | None = None) -> dict[str, int]:
        """Counts over a window: samples, responses (those with a status), 5xx, timeouts,
        not_ok, runs."""

    def rate_counts(self, kind: FailureKind, target: str, endpoint: str, since: float,
                    until: float | None = None, subject: str | None = None,
                    method: str | None = None, exclude_run: int | None = None) -> RateCounts:
        """`kind`'s failures over a window, counted by the kind's own rule (as `kind.count`
        counts a run's samples)."""

    def sector_counts(self, target: str, since: float, until: float | None = None,
                      exclude_run: int | None = None) -> tuple[dict[int, int], int]:
        """({sector: answers}, runs) of the DNS answers that count for the sector balance
        (recorded with their sector) in [since, until], `exclude_run` left out."""

    def totals(self, target: str, endpoint: str, since: float, until: float,
               method: str = "GET", limit: int = 200_000) -> list[float]:
        """Total durations of ok samples in a window (thinned evenly beyond `limit`)."""

    def median_total(self, target: str, endpoint: str, since: float, until: float) -> \
            tuple[float | None, int]:
        """Median total duration of successful GETs in [since, until), and how many there are."""

    def runs(self, since: float, job: str | None = None) -> list[RunRecord]:
        """Runs whose due time is at or after `since`, oldest first."""

    def last_run(self, job: str) -> RunRecord | None:
        """The most recently due run of a job."""

    def prune(self, before: float) -> int:
        """Delete samples, checks and runs older than `before`; returns samples deleted."""

    def load_state(self, key: str) -> dict[str, Any] | None:
        """A JSON state blob (alert state), or None."""

    def save_state(self, key: str, value: dict[str, Any]) -> None:
        """Store a JSON state blob."""

    def transaction(self) -> AbstractContextManager[object]:
        """One transaction for the block's reads and writes (a nested one joins the outer)."""

    def close(self) -> None:
        """Release the store."""


_SCHEMA = """
CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY, target TEXT NOT NULL, endpoint TEXT NOT NULL,
    subject TEXT NOT NULL, method TEXT NOT NULL,
    UNIQUE (target, endpoint, subject, method));
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, job TEXT NOT NULL, target TEXT NOT NULL,
    due REAL NOT NULL, started REAL NOT NULL, finished REAL, late INTEGER NOT NULL DEFAULT 0,
    outcome TEXT, detail TEXT);
CREATE INDEX IF NOT EXISTS runs_job_due ON runs (job, due);
CREATE INDEX IF NOT EXISTS runs_due ON runs (due);
CREATE TABLE IF NOT EXISTS samples (
    series INTEGER NOT NULL, t REAL NOT NULL, run INTEGER NOT NULL, seq INTEGER NOT NULL,
    status INTEGER, ok INTEGER NOT NULL, error_kind TEXT,
    connect REAL, tls REAL, send REAL, wait REAL, receive REAL, ttfb REAL, total REAL,
    PRIMARY KEY (series, t, run, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checks (
    id INTEGER PRIMARY KEY, run INTEGER NOT NULL, t REAL NOT NULL, nodeid TEXT NOT NULL,
    outcome TEXT NOT NULL, verdict TEXT, measured TEXT, threshold TEXT, detail TEXT);
CREATE INDEX IF NOT EXISTS checks_nodeid_t ON checks (nodeid, t);
CREATE INDEX IF NOT EXISTS checks_t ON checks (t);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rollup (
    series INTEGER NOT NULL, hour INTEGER NOT NULL, bucket INTEGER NOT NULL, n INTEGER NOT NULL,
    PRIMARY KEY (series, hour, bucket)) WITHOUT ROWID;
"""


def _bucket(total: float) -> int:
    """The rollup bucket of a duration: log-spaced, `BUCKET_RATIO` wide."""
    return round(math.log(total) / _LOG_RATIO) if total > 0 else -(10**6)


def _bucket_value(bucket: int) -> float:
    return 0.0 if bucket <= -(10**6) else float(BUCKET_RATIO**bucket)


class SqliteHistory:
    """`HistoryStore` on one SQLite file; safe to share between the threads of one process."""

    def __init__(self, path: str | Path, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ValueError(f"history database {path}: cannot make its folder "
                                 f"({exc.strerror or exc})") from None
        try:
            self._db = sqlite3.connect(str(path), timeout=busy_timeout_ms / 1000,
                                       isolation_level=None, check_same_thread=False)
            self._db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            self._db.execute("PRAGMA journal_mode = WAL")
            # In WAL mode NORMAL loses nothing committed when a process is killed; only a power
            # cut can drop the last transactions, and it never corrupts the file.
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._lock = threading.RLock()
            self._depth = 0
            self._series: dict[tuple[str, str, str, str], int] = {}
            # xdist workers share a run id: start each process's sequence apart.
            self._seq = (os.getpid() % 100_000) * 10_000_000
            with self._write():
                version = self._db.execute("PRAGMA user_version").fetchone()[0]
                if version > SCHEMA_VERSION:
                    raise sqlite3.DatabaseError(
                        f"made by a newer version (schema {version} > {SCHEMA_VERSION})")
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                if version == 1:  # made before the rollup existed: build it once
                    self._backfill_rollup()
                for table, column, kind in ADDED_COLUMNS:
                    have = {r[1] for r in self._db.execute(f"PRAGMA table_info({table})")}
                    if column not in have:
                        self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
                self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            raise ValueError(f"history database {path}: {exc}") from None

    # -- plumbing --------------------------------------------------------------------------
    class _Tx:
        def __init__(self, owner: SqliteHistory) -> None:
            self.owner = owner

        def __enter__(self) -> sqlite3.Connection:
            self.owner._lock.acquire()
            if self.owner._depth == 0:
                try:
                    self.owner._db.execute("BEGIN IMMEDIATE")
                except BaseException:
                    self.owner._lock.release()
                    raise
            self.owner._depth += 1  # nested: part of the outer transaction
            return self.owner._db

        def __exit__(self, kind: object, exc: object, tb: object) -> None:
            self.owner._depth -= 1
            try:
                if self.owner._depth == 0:
                    self.owner._db.execute("COMMIT" if kind is None else "ROLLBACK")
            finally:
                self.owner._lock.release()

    def _write(self) -> SqliteHistory._Tx:
        return SqliteHistory._Tx(self)

    def _read(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def _series_id(self, db: sqlite3.Connection, key: tuple[str, str, str, str]) -> int:
        cached = self._series.get(key)
        if cached is not None:
            return cached
        db.execute("INSERT OR IGNORE INTO series (target, endpoint, subject, method) "
                   "VALUES (?, ?, ?, ?)", key)
        row = db.execute("SELECT id FROM series WHERE target=? AND endpoint=? AND subject=? "
                         "AND method=?", key).fetchone()
        self._series[key] = int(row[0])
        return int(row[0])

    def _series_ids(self, target: str, endpoint: str, subject: str | None,
                    method: str | None) -> list[int]:
        sql = "SELECT id FROM series WHERE target=? AND endpoint=?"
        args: list[Any] = [target, endpoint]
        if subject is not None:
            sql += " AND subject=?"
            args.append(subject)
        if method is not None:
            sql += " AND method=?"
            args.append(method)
        return [int(r[0]) for r in self._read(sql, args)]

    # -- runs ------------------------------------------------------------------------------
    def start_run(self, job: str, target: str, due: float, started: float, late: bool) -> int:
        with self._write() as db:
            cur = db.execute("INSERT INTO runs (job, target, due, started, late) "
                             "VALUES (?, ?, ?, ?, ?)", (job, target, due, started, int(late)))
            return int(cur.lastrowid or 0)

    def finish_run(self, run_id: int, finished: float, outcome: str, detail: str = "",
                   target: str | None = None) -> None:
        with self._write() as db:
            db.execute("UPDATE runs SET finished=?, outcome=?, detail=?, target=COALESCE(?, target)"
                       " WHERE id=?", (finished, outcome, detail, target, run_id))

    def runs(self, since: float, job: str | None = None) -> list[RunRecord]:
        sql = ("SELECT id, job, target, due, started, finished, late, outcome, detail FROM runs "
               "WHERE due >= ?")
        args: list[Any] = [since]
        if job is not None:
            sql += " AND job = ?"
            args.append(job)
        return [_run(r) for r in self._read(sql + " ORDER BY due, id", args)]

    def last_run(self, job: str) -> RunRecord | None:
        rows = self._read("SELECT id, job, target, due, started, finished, late, outcome, detail "
                          "FROM runs WHERE job = ? ORDER BY due DESC, id DESC LIMIT 1", (job,))
        return _run(rows[0]) if rows else None

    # -- samples and checks ----------------------------------------------------------------
    def add_samples(self, run_id: int, samples: Sequence[SampleRecord]) -> None:
        if not samples:
            return
        with self._write() as db:
            rows = []
            for s in samples:
                self._seq += 1
                series = self._series_id(db, (s.target, s.endpoint, s.subject, s.method))
                rows.append((series, s.t, run_id, self._seq, s.status, int(s.ok), s.error_kind,
                             s.connect, s.tls, s.send, s.wait, s.receive, s.ttfb, s.total,
                             s.source, s.code, s.colo, s.ray, s.sector))
            db.executemany("INSERT OR IGNORE INTO samples (series, t, run, seq, status, ok, "
                           "error_kind, connect, tls, send, wait, receive, ttfb, total, source, "
                           "code, colo, ray, sector) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                           "?, ?, ?, ?, ?, ?, ?)", rows)
            self._roll_up(db, ((r[0], r[1], r[13]) for r in rows if r[5] and r[13] is not None))

    def _roll_up(self, db: sqlite3.Connection,
                 values: Iterable[tuple[int, float, float]]) -> None:
        """Count (series, t, total) of successful samples into the hourly latency histogram
        that the 7-day baseline is read from (a few hundred rows instead of a week of
        samples)."""
        counts: dict[tuple[int, int, int], int] = {}
        for series, t, total in values:
            key = (series, int(t // HOUR), _bucket(total))
            counts[key] = counts.get(key, 0) + 1
        db.executemany("INSERT INTO rollup VALUES (?, ?, ?, ?) ON CONFLICT (series, hour, bucket) "
                       "DO UPDATE SET n = n + excluded.n",
                       [(*key, n) for key, n in counts.items()])

    def _backfill_rollup(self) -> None:
        cursor = self._db.execute("SELECT series, t, total FROM samples "
                                  "WHERE ok=1 AND total IS NOT NULL")
        while batch := cursor.fetchmany(100_000):
            self._roll_up(self._db, batch)

    def add_checks(self, run_id: int, checks: Sequence[CheckRecord]) -> None:
        if not checks:
            return
        with self._write() as db:
            db.executemany(
                "INSERT INTO checks (run, t, nodeid, outcome, verdict, measured, threshold, detail)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(run_id, c.t, c.nodeid, c.outcome, c.verdict, c.measured, c.threshold, c.detail)
                 for c in checks])

    def set_run_version(self, run_id: int, version: str) -> None:
        """Record the health document's `version` seen in a run."""
        with self._write() as db:
            db.execute("UPDATE runs SET version = ? WHERE id = ?", (version, run_id))

    def versions(self, since: float, target: str | None = None) -> list[tuple[float, str]]:
        """(started, version) of the runs since `since` that recorded one, oldest first."""
        sql = "SELECT started, version FROM runs WHERE started >= ? AND version IS NOT NULL"
        args: list[Any] = [since]
        if target is not None:
            sql, args = sql + " AND target = ?", [*args, target]
        return [(float(t), str(v)) for t, v in self._read(sql + " ORDER BY started", args)]

    def latency_by_colo(self, target: str, endpoint: str, since: float,
                        ) -> dict[str, tuple[int, float]]:
        """{colo: (successful samples, their median total in seconds)} since `since`."""
        out: dict[str, list[float]] = {}
        for (sid,) in self._read("SELECT id FROM series WHERE target=? AND endpoint=?",
                                 (target, endpoint)):
            for colo, total in self._read(
                    "SELECT colo, total FROM samples WHERE series=? AND t>=? AND ok=1 AND "
                    "colo IS NOT NULL AND total IS NOT NULL", (sid, since)):
                out.setdefault(str(colo), []).append(float(total))
        return {colo: (len(v), statistics.median(v)) for colo, v in sorted(out.items())}

    def checks(self, since: float) -> list[CheckRecord]:
        rows = self._read("SELECT t, nodeid, outcome, verdict, measured, threshold, detail "
                          "FROM checks WHERE t >= ? ORDER BY t", (since,))
        return [CheckRecord(*r) for r in rows]

    def samples(self, target: str, endpoint: str, since: float, until: float | None = None,
                subject: str | None = None, method: str | None = None) -> list[SampleRecord]:
        out: list[SampleRecord] = []
        end = float("inf") if until is None else until
        for sid, tgt, ep, subj, meth in self._read(
                "SELECT id, target, endpoint, subject, method FROM series WHERE target=? AND "
                "endpoint=?", (target, endpoint)):
            if (subject is not None and subj != subject) or (method is not None and meth != method):
                continue
            for r in self._read(
                    "SELECT t, status, ok, error_kind, connect, tls, send, wait, receive, ttfb, "
                    "total, source, code, colo, ray, sector FROM samples WHERE series=? AND "
                    "t>=? AND t<=?", (sid, since, end)):
                out.append(SampleRecord(r[0], tgt, ep, subj, meth, r[1], bool(r[2]), r[3],
                                        *r[4:]))
        out.sort(key=lambda s: s.t)
        return out

    def failure_counts(self, target: str, endpoint: str, since: float, until: float | None = None,
                       subject: str | None = None, method: str | None = None,
                       exclude_run: int | None = None) -> dict[str, int]:
        counts = {"samples": 0, "responses": 0, "5xx": 0, "timeouts": 0, "not_ok": 0}
        runs: set[int] = set()
        end = float("inf") if until is None else until
        excluded = -1 if exclude_run is None else exclude_run
        for sid in self._series_ids(target, endpoint, subject, method):
            for run, n, nresp, n5xx, ntimeout, nbad in self._read(
                    f"SELECT run, count(*), sum({FIVE_XX.counts_sql}), "
                    f"sum({FIVE_XX.fails_sql}), sum({TIMEOUTS.fails_sql}), sum(ok = 0) "
                    "FROM samples "
                    "WHERE series=? AND t>=? AND t<=? AND run != ? "
                    "GROUP BY run", (sid, since, end, excluded)):
                runs.add(int(run))
                counts["samples"] += int(n)
                counts["responses"] += int(nresp)
                counts["5xx"] += int(n5xx or 0)
                counts["timeouts"] += int(ntimeout or 0)
                counts["not_ok"] += int(nbad or 0)
        counts["runs"] = len(runs)
        return counts

    def rate_counts(self, kind: FailureKind, target: str, endpoint: str, since: float,
                    until: float | None = None, subject: str | None = None,
                    method: str | None = None, exclude_run: int | None = None) -> RateCounts:
        failures = total = samples = 0
        runs: set[int] = set()
        end = float("inf") if until is None else until
        excluded = -1 if exclude_run is None else exclude_run
        for sid in self._series_ids(target, endpoint, subject, method):
            for run, n, counted, failed in self._read(
                    f"SELECT run, count(*), sum({kind.counts_sql}), "
                    f"sum(({kind.counts_sql}) AND ({kind.fails_sql})) FROM samples "
                    "WHERE series=? AND t>=? AND t<=? AND run != ? "
                    "GROUP BY run", (sid, since, end, excluded)):
                runs.add(int(run))
                samples += int(n)
                total += int(counted or 0)
                failures += int(failed or 0)
        return RateCounts(failures, total, samples, len(runs))

    def sector_counts(self, target: str, since: float, until: float | None = None,
                      exclude_run: int | None = None) -> tuple[dict[int, int], int]:
        """({sector: answers}, runs) of the DNS answers that count for the sector balance
        (recorded with their sector) in [since, until], `exclude_run` left out."""
        counts: dict[int, int] = {}
        runs: set[int] = set()
        end = float("inf") if until is None else until
        excluded = -1 if exclude_run is None else exclude_run
        for sid in self._series_ids(target, "dns", None, "GET"):
            for run, sector, n in self._read(
                    "SELECT run, sector, count(*) FROM samples WHERE series=? AND t>=? AND t<=? "
                    "AND run != ? AND sector IS NOT NULL GROUP BY run, sector",
                    (sid, since, end, excluded)):
                runs.add(int(run))
                counts[int(sector)] = counts.get(int(sector), 0) + int(n)
        return counts, len(runs)

    def totals(self, target: str, endpoint: str, since: float, until: float,
               method: str = "GET", limit: int = 200_000) -> list[float]:
        values: list[float] = []
        for sid in self._series_ids(target, endpoint, None, method):
            n = self._read("SELECT count(*) FROM samples WHERE series=? AND t>=? AND t<? "
                           "AND ok=1", (sid, since, until))[0][0]
            step = max(1, -(-int(n) // limit))
            values.extend(r[0] for r in self._read(
                "SELECT total FROM samples WHERE series=? AND t>=? AND t<? AND ok=1 AND "
                "total IS NOT NULL AND seq % ? = 0", (sid, since, until, step)))
        return values

    def median_total(self, target: str, endpoint: str, since: float, until: float) -> \
            tuple[float | None, int]:
        """Median total duration of successful GETs in [since, until), and how many there are.

        Whole hours come from the hourly rollup (a 7-day baseline reads a few hundred rows, not
        a week of samples), with the median taken to within 0.5%; the partial hours at the
        edges, and windows shorter than an hour, are read sample by sample.
        """
        first, last = math.ceil(since / HOUR), math.floor(until / HOUR)
        if first >= last:
            values = self.totals(target, endpoint, since, until)
            return (statistics.median(values) if values else None), len(values)
        counts: dict[int, int] = {}
        for sid in self._series_ids(target, endpoint, None, "GET"):
            for bucket, n in self._read(
                    "SELECT bucket, sum(n) FROM rollup WHERE series=? AND hour>=? AND hour<? "
                    "GROUP BY bucket", (sid, first, last)):
                counts[int(bucket)] = counts.get(int(bucket), 0) + int(n)
        edges = (self.totals(target, endpoint, since, first * HOUR)
                 + self.totals(target, endpoint, last * HOUR, until))
        for total in edges:
            counts[_bucket(total)] = counts.get(_bucket(total), 0) + 1
        n = sum(counts.values())
        if n == 0:
            return None, 0
        seen, middle = 0, (n - 1) / 2
        ordered = sorted(counts)
        low = high = ordered[-1]
        for bucket in ordered:
            seen += counts[bucket]
            if seen > math.floor(middle) and low == ordered[-1]:
                low = bucket
            if seen > math.ceil(middle):
                high = bucket
                break
        return (_bucket_value(low) + _bucket_value(high)) / 2, n

    # -- retention and state ---------------------------------------------------------------
    def prune(self, before: float) -> int:
        deleted = 0
        for (sid,) in self._read("SELECT id FROM series"):
            with self._write() as db:
                deleted += db.execute("DELETE FROM samples WHERE series=? AND t<?",
                                      (sid, before)).rowcount
        with self._write() as db:
            db.execute("DELETE FROM rollup WHERE hour<?", (math.floor(before / HOUR),))
            db.execute("DELETE FROM checks WHERE t<?", (before,))
            db.execute("DELETE FROM runs WHERE due<? AND finished IS NOT NULL", (before,))
        return deleted

    def load_state(self, key: str) -> dict[str, Any] | None:
        rows = self._read("SELECT value FROM state WHERE key=?", (key,))
        if not rows:
            return None
        value = json.loads(rows[0][0])
        return value if isinstance(value, dict) else None

    def save_state(self, key: str, value: dict[str, Any]) -> None:
        with self._write() as db:
            db.execute("INSERT OR REPLACE INTO state (key, value) VALUES (?, ?)",
                       (key, json.dumps(value, sort_keys=True)))

    def transaction(self) -> SqliteHistory._Tx:
        """Hold the write lock across a read-modify-write (alert state) so runs finishing at
        once do not both notify."""
        return self._write()

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _run(r: Sequence[Any]) -> RunRecord:
    return RunRecord(int(r[0]), r[1], r[2], r[3], r[4], r[5], bool(r[6]), r[7], r[8])


_SQLITE_MAGIC = b"SQLite format 3\x00"


def history_path_problem(path: str | Path) -> str | None:
    """Why the history database cannot be kept at `path` (one line), or None when it can.

    Creates nothing: an existing file must be a SQLite database (or empty) that can be read and
    written, in a folder that can be written (SQLite keeps its -wal and -shm files there); a
    missing one needs its nearest existing ancestor to be a folder that can be written, so the
    folders and the file can be made.
    """
    if str(path) == ":memory:":
        return None
    p = Path(path).expanduser().absolute()
    if p.exists():
        if p.is_dir():
            return f"{path} is a folder, not a database file"
        if not p.is_file():
            return f"{path} is not a regular file"
        if not os.access(p, os.R_OK | os.W_OK):
            return f"{path} cannot be both read and written"
        try:
            with open(p, "rb") as fh:
                head = fh.read(len(_SQLITE_MAGIC))
        except OSError as exc:
            return f"{path} cannot be read ({exc.strerror or exc})"
        if head and head != _SQLITE_MAGIC:
            return f"{path} is not a SQLite database"
        if not os.access(p.parent, os.W_OK | os.X_OK):
            return (f"the folder {p.parent} is not writable (SQLite keeps the database's -wal "
                    "and -shm files next to it)")
        return None
    for ancestor in p.parents:
        if not ancestor.exists():
            continue
        if not ancestor.is_dir():
            return f"{ancestor} is a file, so {path} cannot be made under it"
        if not os.access(ancestor, os.W_OK | os.X_OK):
            return f"the folder {ancestor} is not writable, so {path} cannot be made"
        return None
    return f"no folder of {path} exists"  # pragma: no cover - "/" always exists


# -- turning probe samples into records ------------------------------------------------------
def sample_outcome(endpoint: str, method: str, status: int | None, error: str | None,
                   body_json: Any) -> bool:
    """Whether a sample counts as a success of its endpoint.

    /health counts as up only when it answers 200 with status "healthy" (the document's
    auto-health-check script); a DNS resolve only when it resolved; a registration only when it
    succeeded; anything else when a complete non-error response arrived.
    """
    if error is not None or status is None:
        return False
    if method == "GET" and endpoint == "health":
        return status == 200 and isinstance(body_json, dict) and \
            body_json.get("status") == "healthy"
    if method == "POST" and endpoint == "register":
        return status == 200 and isinstance(body_json, dict) and body_json.get("success") is True
    return status < 400


def record_from_sample(sample: Any, target: str) -> SampleRecord:
    """A `SampleRecord` for a `synthetics.probe.Sample` taken of `target`."""
    req = sample.request
    sector = None
    if req.endpoint == "dns" and req.method == "GET":
        ok = not DNS_FAILURES.fails(sample)  # what DNS_FAILURES.fails_sql reads back
        sector = sector_of(sample)
    else:
        body: Any = None
        if sample.error is None and req.endpoint in ("health", "register"):
            try:
                body = sample.json()
            except ValueError:
                body = None
        ok = sample_outcome(req.endpoint, req.method, sample.status, sample.error, body)
    p = sample.phases
    ray, colo = ray_of(getattr(sample, "headers", None) or {})
    source = code = None
    if not ok:
        who = attribute(sample, judged_wrong=True)
        source, code = who.source or None, who.code or None
    return SampleRecord(sample.started, target, req.endpoint, req.subject, req.method,
                        sample.status, ok, sample.error_kind, p.connect, p.tls, p.send, p.wait,
                        p.receive, p.ttfb, p.total, source, code, colo,
                        None if ok else ray, sector)


# -- coverage ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Coverage:
    """How many of a job's intended runs in a window happened, and how many were late."""

    job: str
    intended: int
    happened: int
    late: int

    @property
    def share(self) -> float:
        return self.happened / self.intended if self.intended else 1.0

    def describe(self, window_text: str) -> str:
        return (f"{self.job}: {self.happened}/{self.intended} intended runs in the last "
                f"{window_text} ({self.share:.0%}), {self.late} late")


def coverage(runs: Iterable[RunRecord], job: str, interval: float, since: float,
             until: float) -> Coverage:
    """Coverage of a job meant to run every `interval` seconds over [since, until).

    A slot counts as covered when some run of the job was due in it; skipped runs (an earlier
    instance still running) do not count.
    """
    intended = max(0, int((until - since) // interval))
    slots: set[int] = set()
    late = 0
    for r in runs:
        if r.job != job or not since <= r.due < until or r.outcome == "skipped":
            continue
        slot = int((r.due - since) // interval)
        if slot < intended and slot not in slots:
            slots.add(slot)
            late += r.late
    return Coverage(job, intended, len(slots), late)


def _span(seconds: float) -> str:
    if seconds < 2 * HOUR:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86_400:
        return f"{seconds / HOUR:.0f} h"
    return f"{seconds / 86_400:.0f} days"


def job_coverage(store: HistoryStore, job: str, interval: float, window: float,
                 until: float) -> str:
    """One line of a job's coverage over `window` seconds up to `until`, counting intended runs
    only from the job's first recorded run: a job that started recording an hour ago is judged
    on that hour, not on the week before it existed (`health: 4/4 intended runs in the last
    1 h, since its first recorded run (100%), 0 late`)."""
    since = until - window
    everything = store.runs(0.0, job)
    if not everything:
        return f"{job}: no run recorded yet"
    first = everything[0].due
    if first <= since:
        return coverage(everything, job, interval, since, until).describe(_span(window))
    intended = int((until - first) // interval) + 1  # the first run's own slot counts
    cov = coverage(everything, job, interval, first, first + intended * interval)
    return cov.describe(f"{_span(until - first)}, since its first recorded run")
