"""`python -m bench.client KIND URL CONCURRENCY SECONDS`: one HTTP client, measured in its own
process (so the harness can pin it to a CPU and its CPU time is its own), printing one JSON line:
requests, wall and CPU seconds, p50/p99 latency in ms.

Kinds: `sampler` (the suite's Probe; at concurrency 1 the wall time of each `Probe.request` call,
the probe's bookkeeping included, where the latency checks take each sample's own total; above,
`Probe.sample_many` in batches, timed by each sample's phases),
`sampler-untraced` (the same without the trace extension: the cost of phase timing),
`sampler-all-threads` (the same starting all its threads at once),
`threadpool` (the previous sampler design: a ThreadPoolExecutor of httpx.Clients, traced),
`httpx-async` (a naive loop: one httpx.AsyncClient shared by the tasks), `httpx-async-many`
(one AsyncClient per task, the alternative design evaluated), `aiohttp`, `httpx-client` (a plain
sequential httpx.Client); and `overhead`, which alternates traced and untraced sequential
rounds of the sampler and prints the median CPU per sample of each and of their ratio.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from synthetics.probe import Probe, Request, Sample, _Run, _Slot

PATH = "/health"
BATCH = 500


class UntracedProbe(Probe):
    """The suite's probe without the trace extension: everything else identical."""

    def _new_request(self, request: Request, slot: _Slot) -> httpx.Request:
        built = super()._new_request(request, slot)
        built.extensions.pop("trace", None)
        return built


def _percentiles(latencies: list[float]) -> tuple[float | None, float | None]:
    if not latencies:
        return None, None
    ordered = sorted(latencies)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] * 1000

    return at(50), at(99)


def _probe_client(probe_class: type[Probe]) -> Callable[[str, int, float], list[float]]:
    def run(url: str, concurrency: int, seconds: float) -> list[float]:
        request = Request("health", PATH)
        latencies: list[float] = []
        with probe_class(url) as probe:
            probe.request(request, record=False)  # connect and build outside the timing
            deadline = time.perf_counter() + seconds
            while time.perf_counter() < deadline:
                if concurrency == 1:
                    started = time.perf_counter()
                    sample = probe.request(request, record=False)
                    latencies.append(time.perf_counter() - started)
                    _check(sample)
                else:
                    for sample in probe.sample_many([request] * BATCH, concurrency):
                        _check(sample)
                        latencies.append(sample.phases.total or 0.0)
        return latencies

    return run


def _all_threads(run: Callable[[str, int, float], list[float]]
                 ) -> Callable[[str, int, float], list[float]]:
    """The sampler starting all `concurrency` threads at once instead of adding them while the
    process has CPU to spare: what the elastic start saves."""
    def start_all(url: str, concurrency: int, seconds: float) -> list[float]:
        _Run.START = concurrency
        return run(url, concurrency, seconds)

    return start_all


def _check(sample: Sample) -> None:
    if not sample.ok or sample.status != 200:
        raise SystemExit(f"bench client: {sample.summary()}")


def threadpool(url: str, concurrency: int, seconds: float) -> list[float]:
    """The sampler as it was: one httpx.Client per pool thread, Client.stream, trace marks."""
    local = threading.local()
    clients: list[httpx.Client] = []

    def one(_: int) -> float:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = httpx.Client(base_url=url, follow_redirects=False,
                                                 trust_env=False)
            clients.append(client)
        marks: dict[str, float] = {}

        def trace(name: str, info: dict[str, Any]) -> None:
            marks.setdefault(name.split(".", 1)[1], time.perf_counter())

        started = time.perf_counter()
        with client.stream("GET", PATH, extensions={"trace": trace}) as response:
            body = b"".join(response.iter_raw())
        if response.status_code != 200 or not body:
            raise SystemExit(f"bench client: HTTP {response.status_code}")
        return time.perf_counter() - started

    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            latencies += pool.map(one, range(BATCH))
    for client in clients:
        client.close()
    return latencies


def httpx_client(url: str, concurrency: int, seconds: float) -> list[float]:
    latencies: list[float] = []
    with httpx.Client(base_url=url, trust_env=False) as client:
        client.get(PATH)
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            client.get(PATH).raise_for_status()
            latencies.append(time.perf_counter() - started)
    return latencies


async def _tasks(concurrency: int, seconds: float, one: Callable[[int], Any]) -> list[float]:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def task(index: int) -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            await one(index)
            latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(task(i) for i in range(concurrency)))
    return latencies


def httpx_async(url: str, concurrency: int, seconds: float) -> list[float]:
    async def main() -> list[float]:
        async with httpx.AsyncClient(base_url=url, trust_env=False) as client:
            async def one(_: int) -> None:
                (await client.get(PATH)).raise_for_status()

            await one(0)
            return await _tasks(concurrency, seconds, one)

    return asyncio.run(main())


def httpx_async_many(url: str, concurrency: int, seconds: float) -> list[float]:
    async def main() -> list[float]:
        clients = [httpx.AsyncClient(base_url=url, trust_env=False) for _ in range(concurrency)]

        async def one(index: int) -> None:
            marks: dict[str, float] = {}

            async def trace(name: str, info: dict[str, Any]) -> None:
                marks.setdefault(name.split(".", 1)[1], time.perf_counter())

            async with clients[index].stream("GET", PATH,
                                             extensions={"trace": trace}) as response:
                async for _ in response.aiter_raw():
                    pass
            response.raise_for_status()

        try:
            return await _tasks(concurrency, seconds, one)
        finally:
            for client in clients:
                await client.aclose()

    return asyncio.run(main())


def aiohttp_client(url: str, concurrency: int, seconds: float) -> list[float]:
    import aiohttp

    async def main() -> list[float]:
        async with aiohttp.ClientSession() as session:
            async def one(_: int) -> None:
                async with session.get(url + PATH) as response:
                    await response.read()
                    response.raise_for_status()

            await one(0)
            return await _tasks(concurrency, seconds, one)

    return asyncio.run(main())


def overhead(url: str, concurrency: int, seconds: float) -> dict[str, float]:
    """CPU per sample with and without phase timing, in alternating rounds of 200 sequential
    samples on one thread (thread CPU time, so nothing else in the process is counted)."""
    request = Request("health", PATH)
    probes = {"traced": Probe(url), "untraced": UntracedProbe(url)}
    per_round: dict[str, list[float]] = {name: [] for name in probes}
    ratios: list[float] = []
    for probe in probes.values():
        for _ in range(100):
            _check(probe.request(request, record=False))
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(ratios) < 5:
        for name, probe in probes.items():
            started = time.thread_time()
            for _ in range(200):
                probe.request(request, record=False)
            per_round[name].append((time.thread_time() - started) / 200)
        ratios.append(per_round["traced"][-1] / per_round["untraced"][-1])
    for probe in probes.values():
        probe.close()
    return {"traced_cpu_us": statistics.median(per_round["traced"]) * 1e6,
            "untraced_cpu_us": statistics.median(per_round["untraced"]) * 1e6,
            "overhead": statistics.median(ratios) - 1, "rounds": len(ratios)}


KINDS: dict[str, Callable[[str, int, float], list[float]]] = {
    "sampler": _probe_client(Probe),
    "sampler-untraced": _probe_client(UntracedProbe),
    "sampler-all-threads": _all_threads(_probe_client(Probe)),
    "threadpool": threadpool,
    "httpx-client": httpx_client,
    "httpx-async": httpx_async,
    "httpx-async-many": httpx_async_many,
    "aiohttp": aiohttp_client,
}


def main(argv: list[str]) -> int:
    if len(argv) != 4 or argv[0] not in (*KINDS, "overhead"):
        print(f"usage: python -m bench.client {{{','.join(KINDS)}}} URL CONCURRENCY SECONDS",
              file=sys.stderr)
        return 2
    kind, url, concurrency, seconds = argv[0], argv[1], int(argv[2]), float(argv[3])
    if kind == "overhead":
        print(json.dumps({"kind": kind, **overhead(url, concurrency, seconds)}))
        return 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    latencies = KINDS[kind](url, concurrency, seconds)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    p50, p99 = _percentiles(latencies)
    print(json.dumps({"kind": kind, "concurrency": concurrency, "requests": len(latencies),
                      "wall_s": wall, "cpu_s": cpu, "p50_ms": p50, "p99_ms": p99}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
