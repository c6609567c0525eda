"""The heartbeat: one GET /health every few seconds into history, so "down for > 1 minute" is
decidable.

The 15-minute health job sees /health for a second or two every quarter of an hour: far too
sparse for the document's Critical rule ("health endpoint down for more than 1 minute"), which
needs a /health observation at least every 30 s (`AlertConfig.health_max_gap`). While
`synthetics schedule` runs against a real target, a `Heartbeat` thread takes one sample every
`interval` seconds (15 by default, like the operators' node monitor's 30 s but with room for one
lost sample) and writes it straight to history, where the alert evaluation the scheduler runs
every minute finds it. One sample costs one small GET; nothing is kept in memory between beats.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable

from synthetics.history import HistoryStore, record_from_sample
from synthetics.probe import Probe, Request

__all__ = ["Heartbeat"]

HEALTH = Request("health", "/health")


class Heartbeat:
    """Samples `target`'s /health every `interval` seconds into `store` until stopped."""

    def __init__(self, target: str, store: HistoryStore, *, interval: float = 15.0,
                 timeout: float = 5.0, clock: Callable[[], float] = time.time,
                 log: Callable[[str], None] = print) -> None:
        self.target = target
        self.store = store
        self.interval = interval
        self.clock = clock
        self.log = log
        # No breaker: a checks run abandons a dead endpoint for the rest of *its* run, but the
        # heartbeat runs for weeks and must see the worker come back.
        self.probe = Probe(target, timeout=min(timeout, interval),
                           max_consecutive_failures=1 << 30)
        self.run_id: int | None = None
        self.beats = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_error: str | None = None

    def beat(self) -> bool:
        """Take one sample and record it; True when /health was up."""
        now = self.clock()
        if self.run_id is None:
            self.run_id = self.store.start_run("heartbeat", self.target, now, now, False)
        sample = self.probe.request(HEALTH, record=False)
        record = dataclasses.replace(record_from_sample(sample, self.target), t=now)
        try:
            self.store.add_samples(self.run_id, [record])
        except Exception as exc:  # noqa: BLE001 - a locked or full disk must not stop the beat
            text = f"heartbeat: could not record a /health sample: {exc}"
            if text != self._last_error:
                self.log(text)
            self._last_error = text
        self.beats += 1
        return record.ok

    def _loop(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            self.beat()
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def start(self) -> Heartbeat:
        self._thread = threading.Thread(target=self._loop, name="heartbeat", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop after the beat in progress, and record how the heartbeat run ended."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.interval + 10)
        self.probe.close()
        if self.run_id is not None:
            self.store.finish_run(self.run_id, self.clock(), "stopped",
                                  f"{self.beats} /health samples")
