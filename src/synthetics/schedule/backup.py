"""Configuration backup (the document's weekly backup), done so that it can be trusted.

`backup()` copies the configured files into `backups/YYYYMMDD/` with a `MANIFEST.json` of each
file's size and SHA-256, written last so that a backup with a manifest is complete. An existing
backup folder is never overwritten (a second backup the same day gets `YYYYMMDD-2`, ...). A
missing file is reported in the manifest and the result, not fatal. Backups older than the
retention (the operators keep 30 days) are pruned; only folders that look like our backups
(a date name and a manifest) are ever removed.

The document's backup script also runs `wrangler download`; wrangler has no such command, so
the deployed code is not fetched here (the configured worker.js is what gets copied).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import re
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["DEFAULT_FILES", "BackupResult", "backup", "prune_backups"]

DEFAULT_FILES = ("wrangler-production-simple.toml", "worker.js", "monitor-production.js",
                 "DEPLOYMENT-REPORT.md")
MANIFEST = "MANIFEST.json"
_NAME = re.compile(r"^(\d{8})(?:-(\d+))?$")


@dataclass
class BackupResult:
    """What one backup did."""

    folder: Path
    copied: list[dict[str, object]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    pruned: list[Path] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"backup in {self.folder}: {len(self.copied)} file(s) copied"]
        out += [f"  {c['name']}: {c['size']} bytes, sha256 {c['sha256']}" for c in self.copied]
        out += [f"  MISSING: {m} (not found, not backed up)" for m in self.missing]
        out += [f"  pruned old backup {p.name}" for p in self.pruned]
        return out


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def _new_folder(root: Path, day: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    n = 1
    while True:
        folder = root / (day if n == 1 else f"{day}-{n}")
        try:
            folder.mkdir()  # atomic: fails if it exists, so nothing is ever overwritten
            return folder
        except FileExistsError:
            n += 1


def backup(files: Sequence[str | Path], root: str | Path = "backups", *,
           base: str | Path = ".", now: Callable[[], _dt.datetime] | None = None,
           retention_days: float = 30.0) -> BackupResult:
    """Back up `files` (relative to `base`) into a new dated folder under `root`."""
    when = (now or (lambda: _dt.datetime.now(_dt.timezone.utc)))()
    root_path = Path(root)
    folder = _new_folder(root_path, when.strftime("%Y%m%d"))
    result = BackupResult(folder)
    for name in files:
        source = Path(base) / name
        if not source.is_file():
            result.missing.append(str(name))
            continue
        dest = folder / source.name
        if dest.exists():
            result.missing.append(f"{name} (another file of the same name was already copied)")
            continue
        shutil.copy2(source, dest)
        result.copied.append({"name": source.name, "source": str(source),
                              "size": dest.stat().st_size, "sha256": _sha256(dest)})
    manifest = {"created": when.isoformat(), "files": result.copied, "missing": result.missing,
                "note": "wrangler has no `download` command; the deployed code is not fetched"}
    tmp = folder / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    tmp.rename(folder / MANIFEST)
    result.pruned = prune_backups(root_path, when, retention_days, keep=folder)
    return result


def prune_backups(root: Path, now: _dt.datetime, retention_days: float,
                  keep: Path | None = None) -> list[Path]:
    """Remove dated backup folders (with a manifest) older than the retention."""
    cutoff = (now - _dt.timedelta(days=retention_days)).date()
    removed: list[Path] = []
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        match = _NAME.match(folder.name)
        if not match or not folder.is_dir() or folder == keep:
            continue
        if not (folder / MANIFEST).is_file():
            continue  # not ours, or incomplete: leave it for a person
        day = _dt.datetime.strptime(match.group(1), "%Y%m%d").date()
        if day < cutoff:
            shutil.rmtree(folder)
            removed.append(folder)
    return removed


def verify(folder: str | Path) -> list[str]:
    """Problems with a backup folder (empty when every file matches its manifest)."""
    path = Path(folder)
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return [f"{path}: no readable manifest ({exc})"]
    problems = []
    for entry in manifest.get("files", []):
        copy = path / entry["name"]
        if not copy.is_file():
            problems.append(f"{entry['name']}: missing from the backup")
        elif copy.stat().st_size != entry["size"] or _sha256(copy) != entry["sha256"]:
            problems.append(f"{entry['name']}: does not match its manifest")
    return problems
