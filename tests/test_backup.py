"""The weekly configuration backup: manifest with sizes and SHA-256, never overwrite, retention,
a missing file reported and not fatal."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

from synthetics.schedule.backup import DEFAULT_FILES, backup, verify
from synthetics.schedule.jobs import main as jobs_main

UTC = dt.timezone.utc


def _config(tmp_path: Path, missing: str | None = None) -> Path:
    base = tmp_path / "config"
    base.mkdir()
    for name in DEFAULT_FILES:
        if name != missing:
            (base / name).write_text(f"contents of {name}\n")
    return base


def test_backup_copies_with_a_manifest(tmp_path: Path) -> None:
    base = _config(tmp_path)
    result = backup(DEFAULT_FILES, tmp_path / "backups", base=base,
                    now=lambda: dt.datetime(2025, 9, 8, 10, 0, tzinfo=UTC))
    assert result.folder == tmp_path / "backups" / "20250908"
    manifest = json.loads((result.folder / "MANIFEST.json").read_text())
    assert [f["name"] for f in manifest["files"]] == list(DEFAULT_FILES)
    for entry in manifest["files"]:
        data = (base / entry["name"]).read_bytes()
        assert entry["size"] == len(data)
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
    assert manifest["missing"] == [] and verify(result.folder) == []
    assert "download" in manifest["note"]


def test_a_second_backup_never_overwrites(tmp_path: Path) -> None:
    base = _config(tmp_path)
    when = lambda: dt.datetime(2025, 9, 8, 10, 0, tzinfo=UTC)  # noqa: E731
    first = backup(DEFAULT_FILES, tmp_path / "b", base=base, now=when)
    (base / "worker.js").write_text("changed\n")
    second = backup(DEFAULT_FILES, tmp_path / "b", base=base, now=when)
    assert second.folder.name == "20250908-2"
    assert (first.folder / "worker.js").read_text() == "contents of worker.js\n"
    assert (second.folder / "worker.js").read_text() == "changed\n"


def test_a_missing_file_is_reported_not_fatal(tmp_path: Path) -> None:
    base = _config(tmp_path, missing="monitor-production.js")
    result = backup(DEFAULT_FILES, tmp_path / "b", base=base)
    assert result.missing == ["monitor-production.js"]
    assert len(result.copied) == 3
    assert any("MISSING: monitor-production.js" in line for line in result.lines())
    assert json.loads((result.folder / "MANIFEST.json").read_text())["missing"] == \
        ["monitor-production.js"]


def test_backups_past_retention_are_pruned_and_others_kept(tmp_path: Path) -> None:
    base = _config(tmp_path)
    root = tmp_path / "b"
    for day in (1, 20):
        backup(DEFAULT_FILES, root, base=base,
               now=lambda d=day: dt.datetime(2025, 8, d, 10, 0, tzinfo=UTC))
    (root / "20250701").mkdir()  # not ours (no manifest): left for a person
    result = backup(DEFAULT_FILES, root, base=base, retention_days=30,
                    now=lambda: dt.datetime(2025, 9, 8, 10, 0, tzinfo=UTC))
    assert [p.name for p in result.pruned] == ["20250801"]
    assert sorted(p.name for p in root.iterdir()) == ["20250701", "20250820", "20250908"]


def test_tampered_backup_is_detected(tmp_path: Path) -> None:
    result = backup(DEFAULT_FILES, tmp_path / "b", base=_config(tmp_path))
    (result.folder / "worker.js").write_text("tampered\n")
    assert verify(result.folder) == ["worker.js: does not match its manifest"]


def test_backup_job_entry(tmp_path: Path, capsys) -> None:
    base = _config(tmp_path, missing="DEPLOYMENT-REPORT.md")
    assert jobs_main(["backup", "--backup-dir", str(tmp_path / "b"),
                      "--backup-base", str(base)]) == 0
    out = capsys.readouterr().out
    assert "3 file(s) copied" in out and "MISSING: DEPLOYMENT-REPORT.md" in out
