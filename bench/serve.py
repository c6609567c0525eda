"""`python -m bench.serve --port N [--faults delay=30]`: the reference worker for benchmarks, in
its own process, counting the requests it has in flight.

GET /__bench/peak answers {"peak": N}, the most requests handled at once since the last
`?reset=1`; every other path is the reference worker's, unchanged.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import threading
from typing import Any

from synthetics import reference


class _Counter:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0


COUNTER = _Counter()
_route = reference._Handler._route


def _counted_route(self: Any, head: bool = False) -> None:
    if self.path.startswith("/__bench/peak"):
        with COUNTER.lock:
            body = json.dumps({"peak": COUNTER.peak}).encode()
            if "reset=1" in self.path:
                COUNTER.peak = 0
        self._send(200, body, "application/json")
        return
    with COUNTER.lock:
        COUNTER.now += 1
        COUNTER.peak = max(COUNTER.peak, COUNTER.now)
    try:
        _route(self, head)
    finally:
        with COUNTER.lock:
            COUNTER.now -= 1


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.serve")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--faults", default="")
    args = parser.parse_args()
    reference._Handler._route = _counted_route  # type: ignore[method-assign]
    worker = reference.ReferenceWorker(args.faults or None, port=args.port).start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    with contextlib.suppress(KeyboardInterrupt):
        done.wait()
    worker.stop()


if __name__ == "__main__":
    main()
