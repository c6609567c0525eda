"""Probing: one HTTP request in, one `Sample` out, never an exception.

A `Sample` carries what a check needs to judge (status, headers, the first part of the body) and
what a person needs to understand a failure (a one-line `error`, an `error_kind`, and the phases
of the request from httpx's trace extension). Redirects are never followed, bodies are capped,
and every request has an overall deadline, so a hang, a drip-fed body or a huge body costs at
most one timeout.

Breakers keep a dead endpoint from costing a timeout per sample: after a few consecutive timeouts
on one endpoint its remaining samples are abandoned (recorded as timeouts, with the reason), and
once two endpoints have tripped and the host has never answered at all, the whole host is.

`Probe.sample_many` takes many samples concurrently with one synchronous `httpx.Client` per
thread: httpx's shared async pool is slow under concurrency (perf-notes.md), and threads keep
the measurement code identical to the sequential path.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

__all__ = ["Phases", "Probe", "Request", "Sample", "SampleLog"]

PHASES = ("connect", "tls", "send", "wait", "receive")


@dataclass
class Phases:
    """Durations in seconds. connect and tls are None on a reused connection."""

    connect: float | None = None
    tls: float | None = None
    send: float | None = None
    wait: float | None = None  # request sent → response headers: the server's time
    receive: float | None = None  # headers → body read
    ttfb: float | None = None  # start → response headers
    total: float | None = None  # start → body read (or failure)

    def as_dict(self) -> dict[str, float | None]:
        return {
            "connect": self.connect, "tls": self.tls, "send": self.send, "wait": self.wait,
            "receive": self.receive, "ttfb": self.ttfb, "total": self.total,
        }


@dataclass(frozen=True)
class Request:
    """What to ask: an endpoint name (for grouping samples) and the HTTP request itself."""

    endpoint: str
    path: str
    method: str = "GET"
    subject: str = ""  # a finer label than the endpoint, e.g. the domain a DNS sample resolved
    headers: tuple[tuple[str, str], ...] = ()
    json_body: Any = None

    def describe(self) -> str:
        return f"{self.method} {self.path}"


@dataclass
class Sample:
    """The outcome of one request."""

    request: Request
    started: float  # epoch seconds
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)  # lower-cased names
    body: bytes = b""
    error: str | None = None  # one line, for a person
    error_kind: str | None = None  # timeout | connect | reset | too_large | protocol
    abandoned: bool = False
    phases: Phases = field(default_factory=Phases)

    @property
    def ok(self) -> bool:
        """A response arrived and was read completely."""
        return self.error is None

    @property
    def is_timeout(self) -> bool:
        return self.error_kind == "timeout"

    @property
    def is_5xx(self) -> bool:
        return self.status is not None and self.status >= 500

    def json(self) -> Any:
        """The body parsed as JSON (raises ValueError with a readable message)."""
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            snippet = self.body[:60].decode("utf-8", "replace")
            raise ValueError(f"body is not valid JSON ({exc}): {snippet!r}") from None

    def summary(self) -> str:
        """One line: what was asked and what came back."""
        head = self.request.describe()
        if self.error:
            return f"{head}: {self.error}"
        return f"{head}: HTTP {self.status}, {len(self.body)} bytes"


class SampleLog:
    """Every sample a session took, grouped by endpoint; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._samples: list[Sample] = []
        self.listeners: list[Callable[[Sample], None]] = []

    def add(self, sample: Sample) -> None:
        with self._lock:
            self._samples.append(sample)
        for listener in self.listeners:
            listener(sample)

    def for_endpoint(self, endpoint: str) -> list[Sample]:
        with self._lock:
            return [s for s in self._samples if s.request.endpoint == endpoint]

    def __iter__(self) -> Iterator[Sample]:
        with self._lock:
            return iter(list(self._samples))

    def __len__(self) -> int:
        with self._lock:
            return len(self._samples)


class _Breakers:
    """Consecutive-timeout breakers per endpoint and method, and one for the whole host.

    "Consecutive" is judged by when requests started, not when they ended: a timeout only counts
    if no request to the same endpoint that started *later* has succeeded. Under concurrency the
    slow failures of a healthy-but-flaky endpoint all finish last, and must not look like a run
    of timeouts at the end.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._streaks: dict[tuple[str, str], list[float]] = {}
        self._last_ok: dict[tuple[str, str], float] = {}
        self._tripped: set[tuple[str, str]] = set()
        self._host_answered = False

    def reason(self, request: Request) -> str | None:
        key = (request.endpoint, request.method)
        with self._lock:
            if key in self._tripped:
                return (f"abandoned: {self.limit} consecutive timeouts on {request.method} "
                        f"{request.endpoint} earlier in this run")
            endpoints = {endpoint for endpoint, _ in self._tripped}
            if len(endpoints) >= 2 and not self._host_answered:
                return ("abandoned: the target has not answered any request in this run "
                        f"({', '.join(sorted(endpoints))} timed out repeatedly)")
            return None

    def record(self, sample: Sample) -> None:
        key = (sample.request.endpoint, sample.request.method)
        with self._lock:
            last_ok = self._last_ok.get(key, float("-inf"))
            if sample.is_timeout:
                if sample.started > last_ok:
                    streak = self._streaks.setdefault(key, [])
                    streak.append(sample.started)
                    if len(streak) >= self.limit:
                        self._tripped.add(key)
                return
            if sample.status is not None:
                self._host_answered = True
            if sample.started > last_ok:
                self._last_ok[key] = sample.started
                self._streaks[key] = [t for t in self._streaks.get(key, []) if t > sample.started]


def _classify(exc: Exception, timeout: float) -> tuple[str, str]:
    if isinstance(exc, httpx.TimeoutException):
        return "timeout", f"timed out after {timeout:g} s ({type(exc).__name__})"
    if isinstance(exc, httpx.ConnectError):
        text = str(exc) or "connection failed"
        return "connect", f"cannot connect: {text}"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "reset", f"connection closed without a complete response: {exc}"
    if isinstance(exc, httpx.ReadError | httpx.WriteError):
        return "reset", f"connection reset: {exc or type(exc).__name__}"
    if isinstance(exc, httpx.HTTPError):
        return "protocol", f"{type(exc).__name__}: {exc}"
    return "protocol", f"{type(exc).__name__}: {exc}"


class Probe:
    """Takes samples of one target. Share one per session; safe to use from many threads."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 5.0,
        max_body_bytes: int = 1 << 20,
        max_consecutive_timeouts: int = 3,
        log: SampleLog | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_body_bytes = max_body_bytes
        self.log = log if log is not None else SampleLog()
        self._breakers = _Breakers(max_consecutive_timeouts)
        self._transport = transport
        self._local = threading.local()
        self._clients: list[httpx.Client] = []
        self._clients_lock = threading.Lock()
        self._ssl_context: ssl.SSLContext | None = None

    def _client(self) -> httpx.Client:
        client: httpx.Client | None = getattr(self._local, "client", None)
        if client is None:
            with self._clients_lock:
                if self._ssl_context is None:
                    # Loading the CA bundle costs tens of ms of CPU under the GIL: done once per
                    # probe, not once per sampler thread, or the other threads' reads time out.
                    self._ssl_context = ssl.create_default_context()
            client = httpx.Client(
                base_url=self.base_url,
                timeout=httpx.Timeout(self.timeout),
                follow_redirects=False,
                transport=self._transport,
                headers={"User-Agent": "victory36-synthetics"},
                trust_env=False,
                verify=self._ssl_context,
            )
            self._local.client = client
            with self._clients_lock:
                self._clients.append(client)
        return client

    def __enter__(self) -> Probe:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._clients_lock:
            for client in self._clients:
                client.close()
            self._clients.clear()

    def request(self, request: Request, *, record: bool = True) -> Sample:
        """Send one request and describe what happened; never raises for network trouble."""
        sample = Sample(request=request, started=time.time())
        reason = self._breakers.reason(request)
        if reason is not None:
            sample.error, sample.error_kind, sample.abandoned = reason, "timeout", True
        else:
            self._send(request, sample)
            self._breakers.record(sample)
        if record:
            self.log.add(sample)
        return sample

    def _send(self, request: Request, sample: Sample) -> None:
        marks: dict[str, float] = {}

        def trace(name: str, info: dict[str, Any]) -> None:
            # Keep the first mark per event name, e.g. "connection.connect_tcp.started" and
            # "http11.receive_response_headers.complete" (http2.* events end the same way).
            marks.setdefault(name.split(".", 1)[1], time.perf_counter())

        start = time.perf_counter()
        deadline = start + self.timeout
        chunks: list[bytes] = []
        size = 0
        try:
            with self._client().stream(
                request.method,
                request.path,
                headers=dict(request.headers),
                json=request.json_body,
                extensions={"trace": trace},
            ) as response:
                sample.status = response.status_code
                sample.headers = {k.lower(): v for k, v in response.headers.items()}
                for chunk in response.iter_raw():
                    size += len(chunk)
                    if size > self.max_body_bytes:
                        sample.error_kind = "too_large"
                        sample.error = (f"HTTP {response.status_code} body exceeds "
                                        f"{self.max_body_bytes} bytes; not read further")
                        break
                    chunks.append(chunk)
                    if time.perf_counter() > deadline:
                        raise httpx.ReadTimeout("body not complete before the deadline")
        except Exception as exc:  # noqa: BLE001 - every failure becomes a reason, not a raise
            sample.error_kind, sample.error = _classify(exc, self.timeout)
        end = time.perf_counter()
        sample.body = b"".join(chunks)
        sample.phases = _phases(marks, start, end)

    def sample_many(self, requests: list[Request], concurrency: int) -> list[Sample]:
        """Take one sample per request, at most `concurrency` in flight; results in order."""
        if not requests:
            return []
        workers = max(1, min(concurrency, len(requests)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sampler") as pool:
            return list(pool.map(self.request, requests))


def _span(marks: dict[str, float], begin: str, end: str) -> float | None:
    if begin in marks and end in marks:
        return max(0.0, marks[end] - marks[begin])
    return None


def _first(marks: dict[str, float], *names: str) -> float | None:
    for name in names:
        if name in marks:
            return marks[name]
    return None


def _phases(marks: dict[str, float], start: float, end: float) -> Phases:
    sent = _first(marks, "send_request_body.complete", "send_request_headers.complete")
    headers = marks.get("receive_response_headers.complete")
    return Phases(
        connect=_span(marks, "connect_tcp.started", "connect_tcp.complete"),
        tls=_span(marks, "start_tls.started", "start_tls.complete"),
        send=(sent - marks["send_request_headers.started"])
        if sent is not None and "send_request_headers.started" in marks else None,
        wait=(headers - sent) if headers is not None and sent is not None else None,
        receive=(end - headers) if headers is not None else None,
        ttfb=(headers - start) if headers is not None else None,
        total=end - start,
    )
