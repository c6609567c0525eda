"""The one file lock: an exclusive `flock` that another process is refused, not made to wait.

Two things must happen at most once at a time across processes: a redeploy of one deployment
(`synthetics.selfheal.ladder.StateStore`, shared by overlapping schedules, CI jobs and xdist
workers) and the scheduler itself (`synthetics.schedule.scheduler.SingleInstance`). Both hold a
`FileLock`: the file names its holder, so the one refused can say who holds it, and the kernel
releases the lock when the holder's process ends, however it ends (no stale lock files).
`locked` is the short, waiting variant for appends that must not interleave (the audit log).
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

__all__ = ["FileLock", "locked"]


class FileLock:
    """An exclusive lock on `path`, taken without waiting and held until `release`."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._handle: IO[str] | None = None

    def acquire(self, holder: str) -> bool:
        """Take the lock and write `holder` into the file; False when another process (or
        another `FileLock` on the same file) holds it. Creates the file's folder if needed."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")  # noqa: SIM115 - held open while locked
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(holder + "\n")
        handle.flush()
        self._handle = handle
        return True

    def release(self) -> None:
        """Let the lock go; harmless when it is not held."""
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None

    def holder(self) -> str:
        """Who holds (or last held) the lock, as its holder wrote it; "unknown" when unsaid."""
        try:
            return self.path.read_text().strip() or "unknown"
        except OSError:
            return "unknown"


@contextmanager
def locked(handle: IO[Any]) -> Iterator[None]:
    """Hold an exclusive lock on the open file `handle` for the block, waiting for it."""
    fcntl.flock(handle, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
