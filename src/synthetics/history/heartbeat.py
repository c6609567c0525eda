"""The heartbeat: one GET of each endpoint (and of the DNS endpoint for each MCP domain) every few
seconds into history, so that the document's alert rules, and the rate targets judged over
history, are decidable.

The 15-minute health job sees the worker for a second or two every quarter of an hour: far too
sparse for the Critical rule ("health endpoint down for more than 1 minute"), which needs a
/health observation at least every 30 s, or the Warning rule ("response times more than 2x
normal for more than 5 minutes"), which needs each endpoint's 30-s buckets at most 90 s apart
(`AlertConfig`). While `synthetics schedule` runs against a real target, a `Heartbeat` thread
takes one sample of /health, /mcp/orchestrate and the DNS-resolve endpoint for each domain the DNS
resolution-failure targets name every `interval` seconds (15 by default: the operators' node
monitor polls every 30 s; this leaves room for one lost beat) and writes them straight to history,
where the alert evaluation the scheduler runs every minute finds them. Resolving every domain
gives each domain's DNS-failure target (0.01%, judged per domain over the DNS window) samples of
its own. A beat is a small GET per request of `BEAT` (four with the two MCP domains), sent side
by side so that a beat takes at most one request timeout whatever the number of domains (sent
one after another, four timeouts of 5 s would outlast the 15-s interval); nothing is kept in
memory between beats.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from synthetics.expectations import ENDPOINTS, EXPECTATIONS, SAMPLED_ENDPOINTS, dns_endpoint
from synthetics.history.store import HistoryStore, record_from_sample
from synthetics.probe import Probe, Request
from synthetics.rates import DNS_FAILURES

__all__ = ["BEAT", "INTERVAL", "Heartbeat"]

#: Seconds between beats by default (`synthetics schedule --heartbeat-seconds`).
INTERVAL = 15.0

#: The domains whose DNS-failure targets the beat samples, in the table's order.
_DOMAINS = tuple(dict.fromkeys(t.subject for t in EXPECTATIONS if t.failure is DNS_FAILURES))

#: What one beat samples: the endpoints the alert rules judge, /health first, and the DNS
#: endpoint once for each domain a DNS-failure target names.
BEAT: tuple[Request, ...] = tuple(
    request for name in SAMPLED_ENDPOINTS
    for request in ([dns_endpoint(d).request() for d in _DOMAINS] if name == "dns"
                    else [ENDPOINTS[name].request()]))


class Heartbeat:
    """Samples `target`'s endpoints every `interval` seconds into `store` until stopped."""

    def __init__(self, target: str, store: HistoryStore, *, interval: float = INTERVAL,
                 timeout: float = 5.0, clock: Callable[[], float] = time.time,
                 log: Callable[[str], None] = print,
                 requests: tuple[Request, ...] = BEAT) -> None:
        self.target = target
        self.store = store
        self.requests = requests
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
        self._pool: ThreadPoolExecutor | None = None

    def beat(self) -> bool:
        """Take one sample of each endpoint and record them; True when the first (/health) was
        up."""
        now = self.clock()
        if self.run_id is None:
            self.run_id = self.store.start_run("heartbeat", self.target, now, now, False)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(len(self.requests), thread_name_prefix="heartbeat")
        # Side by side, each on its own connection: a beat takes one request's time, at most
        # one timeout, however many domains it resolves, so it always fits in its interval.
        samples = list(self._pool.map(lambda r: self.probe.request(r, record=False),
                                      self.requests))
        # One beat is one moment: the rules' time axis is the clock's, not the request's.
        records = [dataclasses.replace(record_from_sample(sample, self.target), t=now)
                   for sample in samples]
        try:
            self.store.add_samples(self.run_id, records)
        except Exception as exc:  # noqa: BLE001 - a locked or full disk must not stop the beat
            text = f"heartbeat: could not record a beat: {exc}"
            if text != self._last_error:
                self.log(text)
            self._last_error = text
        self.beats += 1
        return records[0].ok

    def _loop(self) -> None:
        while not self._stop.is_set():
            started = self.clock()
            self.beat()
            # the beat's own time counts toward the interval; a clock set back waits one interval
            spent = self.clock() - started
            self._stop.wait(min(self.interval, max(0.0, self.interval - spent)))

    def start(self) -> Heartbeat:
        self._thread = threading.Thread(target=self._loop, name="heartbeat", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop after the beat in progress, and record how the heartbeat run ended."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.interval + 10)
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None  # a beat after stop() makes a new one
        self.probe.close()
        if self.run_id is not None:
            self.store.finish_run(self.run_id, self.clock(), "stopped",
                                  f"{self.beats} beats of {len(self.requests)} samples")
