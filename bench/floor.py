"""`python -m bench.floor URL [options]`: the network floor of a default run, for the
time-to-verdict sections (bench/verdicts.py).

Takes the samples a default run needs and nothing else, with the suite's own sampler: the three
latency streams side by side (each sequential on its own connection: warm-up, then the timed
samples), then the error-rate pass (every sampled endpoint `--error-samples` times at
`--concurrency`). With `--decisive ENDPOINT` only that endpoint's stream runs, and only until a
slow answer's verdict is certain: the warm-up and the samples that put the percentile over
budget, (100 - percentile)% of them plus one. Prints {"samples": N}; the caller times the whole
process, interpreter start-up included, as it times `synthetics run`.
"""

from __future__ import annotations

import argparse
import json
import math
import threading

from synthetics.expectations import ENDPOINTS
from synthetics.plugin import sampled_requests
from synthetics.probe import Probe, Request

LATENCY = ("health", "orchestrate", "dns")


def decisive(samples: int, percentile: float) -> int:
    """Slow samples, of `samples`, after which the percentile is over budget whatever follows."""
    return math.floor(samples * (100 - percentile) / 100) + 1


def stream(url: str, request: Request, count: int, taken: list[int]) -> None:
    with Probe(url) as probe:
        for _ in range(count):
            probe.request(request, record=False)
    taken.append(count)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.floor")
    parser.add_argument("url")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--latency-samples", type=int, default=100)
    parser.add_argument("--percentile", type=float, default=95.0)
    parser.add_argument("--error-samples", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--decisive", choices=LATENCY)
    args = parser.parse_args()
    taken: list[int] = []
    if args.decisive:
        count = args.warmup + decisive(args.latency_samples, args.percentile)
        stream(args.url, ENDPOINTS[args.decisive].request(), count, taken)
    else:
        threads = [threading.Thread(target=stream, args=(
            args.url, ENDPOINTS[name].request(), args.warmup + args.latency_samples, taken))
            for name in LATENCY]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        with Probe(args.url) as probe:
            taken.append(len(probe.sample_many(sampled_requests(args.error_samples),
                                               args.concurrency)))
    print(json.dumps({"samples": sum(taken)}))


if __name__ == "__main__":
    main()
