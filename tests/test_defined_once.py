"""Each shared concept is written once: a grep over the package finds it only in its home.

The homes: `plugin.is_controller` (the xdist-controller test), `plugin.recorded_verdicts` (the
reader of recorded verdicts), `synthetics.filelock`, `synthetics.runner` (subprocesses) and
`synthetics.clock` (UTC times). A second copy anywhere else fails here, naming the file.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from synthetics.history.store import HistoryStore, SqliteHistory

SRC = Path(__file__).resolve().parent.parent / "src" / "synthetics"


def _files_matching(pattern: str) -> set[str]:
    found = re.compile(pattern, re.MULTILINE)
    return {p.relative_to(SRC).as_posix() for p in SRC.rglob("*.py")
            if found.search(p.read_text(encoding="utf-8"))}


@pytest.mark.parametrize(("pattern", "homes"), [
    pytest.param(r"workerinput", {"plugin.py"}, id="xdist-controller"),
    pytest.param(r"VERDICT_PROPERTY|user_properties\b.*verdict", {"plugin.py"},
                 id="verdict-reader"),
    pytest.param(r"\bfcntl\b|\bflock\(", {"filelock.py"}, id="file-lock"),
    pytest.param(r"^\s*(?:import subprocess|from subprocess )|\bkillpg\(|start_new_session",
                 {"runner.py"}, id="subprocess-runner"),
    # backup.py names its folders YYYYMMDD (read back by its own strptime) and keeps the
    # manifest's own stamp; jobs.py's --list table has a column headed "next run (UTC)".
    pytest.param(r"\.strftime\(|\.isoformat\(|%H:%M|\"\+00:00\", \"Z\"",
                 {"clock.py", "schedule/backup.py", "schedule/jobs.py"}, id="utc-time"),
])
def test_a_concept_lives_only_in_its_home(pattern: str, homes: set[str]) -> None:
    assert _files_matching(pattern) == homes


def test_the_list_tables_time_column_is_its_only_own_format() -> None:
    jobs = (SRC / "schedule" / "jobs.py").read_text(encoding="utf-8")
    assert len(re.findall(r"\.strftime\(|\.isoformat\(|%H:%M", jobs)) == 1


def test_history_users_type_against_the_protocol_not_the_sqlite_store() -> None:
    assert _files_matching(r"(?::|->)\s*SqliteHistory\b") == {"history/store.py"}


def test_the_history_protocol_is_everything_the_sqlite_store_offers() -> None:
    def public(cls: type) -> set[str]:
        return {n for n, _ in inspect.getmembers(cls, inspect.isfunction)
                if not n.startswith("_")}

    assert public(HistoryStore) == public(SqliteHistory)
