"""Probing: one HTTP request in, one `Sample` out, never an exception.

A `Sample` carries what a check needs to judge (status, headers, the first part of the body) and
what a person needs to understand a failure (a one-line `error`, an `error_kind`, and the phases
of the request from httpx's trace extension). Redirects are never followed, bodies are capped,
and every request has one deadline on the wall clock for the whole exchange (connect, TLS, send,
headers, body: `synthetics.deadline`), so a hang, headers or a body that trickle in, an endless
body or a huge body cost at most one timeout. A `RunBudget` bounds the whole run: once it is
spent, remaining samples are abandoned and requests in flight end.

Breakers keep a broken endpoint from costing a timeout per sample: after a few consecutive
failed exchanges (no response, or a response that did not complete: a timeout, a reset, a
truncated, undecodable or oversized body) on one endpoint its remaining samples are abandoned
(recorded as the same kind of failure, with the reason), and once two endpoints have tripped and
the host has never completed an exchange, the whole host is.

`Sample.json` parses strictly (`strict_json`): RFC 8259 in UTF-8, no NaN or Infinity, no
duplicate keys, at most `MAX_JSON_DEPTH` levels of nesting; any problem is one ValueError line.

`Probe.sample_many` takes many samples concurrently on threads, each with its own synchronous
httpx transport (one kept-alive connection) and its own pre-built requests: httpx's shared async
pool is slow under concurrency (perf-notes.md), and threads keep the measurement code identical
to the sequential path. Threads are added only while the process has CPU to spare, so a fast
target is not sampled by threads queueing for the GIL (bench/README.md has the figures).
"""

from __future__ import annotations

import codecs
import contextlib
import itertools
import json
import math
import os
import re
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import httpx

from synthetics.attribution import Attribution, attribute, is_cloudflare_host
from synthetics.deadline import RunBudget, set_deadline, transport

__all__ = ["MAX_JSON_DEPTH", "Phases", "Probe", "Request", "Sample", "SampleLog", "strict_json"]

PHASES = ("connect", "tls", "send", "wait", "receive")

#: The headers an `httpx.Client` sends by default, with our User-Agent. A gzip or deflate body
#: is decoded (Sample.body holds the decoded bytes, --max-body-bytes caps both sizes).
DEFAULT_HEADERS = {
    "Accept": "*/*",
    "Accept-Encoding": "gzip, deflate",
    "Connection": "keep-alive",
    "User-Agent": "victory36-synthetics",
}


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
    #: The target was known to be behind Cloudflare when this sample was taken (a workers.dev
    #: host, or an earlier answer carried cf-ray): an answer without cf-ray is then the edge's.
    behind_cloudflare: bool = False

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
        """The body parsed as strict JSON (`strict_json`); raises ValueError with one line."""
        return strict_json(self.body)

    def attribution(self, judged_wrong: bool = False) -> Attribution:
        """Who failed (worker, limit, edge, network) and where it was served
        (`synthetics.attribution`)."""
        return attribute(self, judged_wrong=judged_wrong)

    def summary(self) -> str:
        """One line: what was asked and what came back; a failure ends with who failed,
        e.g. "[edge: Cloudflare 522, ray 8f1e2d3c4b5a6978-LHR]"."""
        head = self.request.describe()
        if self.error:
            return f"{head}: {self.error} [{self.attribution().label()}]"
        text = f"{head}: HTTP {self.status}, {len(self.body)} bytes"
        if self.status is not None and self.status >= 400:
            text += f" [{self.attribution().label()}]"
        return text


#: The deepest nesting of arrays and objects `strict_json` accepts: far more than any document
#: of the worker's, far less than the depth at which Python's parser runs out of stack.
MAX_JSON_DEPTH = 64

_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(rb"[^\[\]{}]+")
_DEPTH_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def _nesting(body: bytes) -> int:
    """How deep arrays and objects nest in `body` (brackets inside strings not counted), or
    at most how deep when that is within `MAX_JSON_DEPTH`."""
    openers = body.count(b"[") + body.count(b"{")
    if openers <= MAX_JSON_DEPTH:
        return openers  # cannot be deeper: the common case costs two counts
    brackets = _NOT_BRACKET.sub(b"", _JSON_STRING.sub(b"", body))
    if len(brackets) <= MAX_JSON_DEPTH:
        return len(brackets)  # cannot be deeper: no need to count
    return max(itertools.accumulate(_DEPTH_STEP[b] for b in brackets))


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    doc = dict(pairs)
    if len(doc) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"duplicate key {key!r} (ambiguous: parsers disagree which one "
                                 "wins)")
            seen.add(key)
    return doc


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value (JavaScript's JSON.parse rejects it)")


def _not_utf8(body: bytes) -> str | None:
    """Why `body` is JSON in another encoding than UTF-8, or None."""
    if body[:1] not in (b"\xff", b"\xfe", b"\x00") and b"\x00" not in body[:4]:
        return None
    for bom, name in ((codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"),
                      (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16")):
        if body.startswith(bom):
            return f"it is {name}, not UTF-8: it starts with a {name} byte order mark"
    if b"\x00" in body[:4]:
        return "it is UTF-16 or UTF-32, not UTF-8: NUL bytes among its first characters"
    return None


#: One decoder for every body: json.loads with options would build a new one per call.
_DECODER = json.JSONDecoder(parse_constant=_no_constant, object_pairs_hook=_unique_keys)


def strict_json(body: bytes) -> Any:
    """`body` parsed as one RFC 8259 JSON text, strictly; any problem is a one-line ValueError.

    - UTF-8 only: UTF-16 and UTF-32 (which `json.loads(bytes)` silently accepts) are refused;
      a UTF-8 byte order mark is ignored, as `fetch().json()` in a browser does.
    - NaN, Infinity and -Infinity are refused (JavaScript's `JSON.parse` rejects them).
    - A duplicate key in an object is refused, naming the key: which value wins differs from
      one parser to the next, so the document means nothing certain.
    - Arrays and objects may nest at most `MAX_JSON_DEPTH` deep, checked before parsing, so a
      deeply nested body never reaches the recursive parser.
    """
    try:
        reason = _not_utf8(body)
        if reason is None:
            text = body.decode("utf-8")
            text = text.removeprefix("\ufeff")
            depth = _nesting(body)
            if depth > MAX_JSON_DEPTH:
                reason = (f"arrays and objects nest {depth} deep, more than the "
                          f"{MAX_JSON_DEPTH} accepted")
            else:
                return _DECODER.decode(text)
    except UnicodeDecodeError as exc:
        reason = f"not UTF-8: {exc.reason} at byte {exc.start}"
    except (ValueError, RecursionError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    snippet = body[:60].decode("utf-8", "replace")
    raise ValueError(f"body is not valid JSON ({reason}): {snippet!r}")


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
    """Consecutive-failure breakers per endpoint and method, and one for the whole host.

    A failure here is any exchange that did not complete: no response at all (a timeout, a
    reset, a refused connection, a protocol error) or a response cut short (a timeout or reset
    in the headers or body, a truncated, undecodable or oversized body). After `limit` of them
    in a row the endpoint's remaining samples are abandoned at once, recorded with the kind of
    failure that tripped it, so a dead, slowly-resetting or trickling endpoint costs a few
    failures, not one per sample. Once two endpoints have tripped and no exchange with the host
    ever completed, every endpoint of the host is abandoned.

    "In a row" is judged by when requests started, not when they ended: a failure only counts
    if no request to the same endpoint that started *later* got a response. Under concurrency
    the slow failures of a healthy-but-flaky endpoint all finish last, and must not look like a
    run of failures at the end.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._streaks: dict[tuple[str, str], list[float]] = {}
        self._last_ok: dict[tuple[str, str], float] = {}
        self._tripped: dict[tuple[str, str], tuple[str, str]] = {}  # key -> (kind, error)
        self._host_completed = False

    def reason(self, request: Request) -> tuple[str, str] | None:
        """(error text, error kind) for a request that is not to be sent, or None."""
        key = (request.endpoint, request.method)
        with self._lock:
            if key in self._tripped:
                kind, error = self._tripped[key]
                return (f"abandoned: {self.limit} consecutive failures on {request.method} "
                        f"{request.endpoint} earlier in this run ({error})", kind)
            endpoints = {endpoint for endpoint, _ in self._tripped}
            if len(endpoints) >= 2 and not self._host_completed:
                kind = next(iter(self._tripped.values()))[0]
                return ("abandoned: the target has not answered any request completely in this "
                        f"run ({', '.join(sorted(endpoints))} failed repeatedly)", kind)
            return None

    def record(self, sample: Sample) -> None:
        key = (sample.request.endpoint, sample.request.method)
        with self._lock:
            last_ok = self._last_ok.get(key, float("-inf"))
            if sample.error is not None:
                if sample.started > last_ok:
                    streak = self._streaks.setdefault(key, [])
                    streak.append(sample.started)
                    if len(streak) >= self.limit:
                        self._tripped[key] = (sample.error_kind or "protocol", sample.error)
                return
            self._host_completed = True
            if sample.started > last_ok:
                self._last_ok[key] = sample.started
                self._streaks[key] = [t for t in self._streaks.get(key, []) if t > sample.started]


def _decoder(encoding: str) -> Any:
    """A zlib decompressor for a gzip or deflate body, or None to keep the body as it came
    (identity, or an encoding the probe never asks for)."""
    token = encoding.strip().lower()
    if token in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if token == "deflate":
        return zlib.decompressobj(32 + zlib.MAX_WBITS)  # zlib (or gzip) framing
    return None


def _phase(marks: dict[str, float]) -> str:
    """The phase a request was in when it stopped, from its trace marks."""
    for event, words in (("receive_response_headers.complete", "reading the body"),
                         ("receive_response_headers.started", "waiting for the response headers"),
                         ("send_request_headers.started", "sending the request"),
                         ("start_tls.started", "in the TLS handshake"),
                         ("connect_tcp.started", "connecting")):
        if event in marks:
            return words
    return "before sending"


def _classify(exc: Exception, timeout: float, phase: str = "",
              budget: RunBudget | None = None) -> tuple[str, str]:
    if isinstance(exc, zlib.error):
        return "protocol", f"cannot decode the compressed body: {exc}"
    if isinstance(exc, httpx.TimeoutException):
        where = f" {phase}" if phase else ""
        if budget is not None:
            return "timeout", f"timed out{where}: {budget.reason()}"
        return "timeout", f"timed out{where}: the whole request's {timeout:g} s deadline passed"
    if isinstance(exc, httpx.ConnectError):
        text = str(exc) or "connection failed"
        return "connect", f"cannot connect: {text}"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "reset", f"connection closed without a complete response: {exc}"
    if isinstance(exc, httpx.ReadError | httpx.WriteError):
        return "reset", f"connection reset: {exc or type(exc).__name__}"
    return "protocol", f"{type(exc).__name__}: {exc}"


class _Slot:
    """One concurrent sampler's state: an HTTP transport (a connection kept alive between
    samples), the requests already built for it, and the trace marks of the request in flight.
    Used by one thread at a time; `Probe` lends slots out and takes them back."""

    __slots__ = ("transport", "built", "marks")

    def __init__(self, transport: httpx.BaseTransport) -> None:
        self.transport = transport
        self.built: dict[Request, httpx.Request] = {}
        self.marks: dict[str, float] = {}

    def trace(self, name: str, info: dict[str, Any]) -> None:
        # Keep the first mark per event name, e.g. "connection.connect_tcp.started" and
        # "http11.receive_response_headers.complete" (http2.* events end the same way).
        self.marks.setdefault(name.split(".", 1)[1], time.perf_counter())


class Probe:
    """Takes samples of one target. Share one per session; safe to use from many threads."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 5.0,
        max_body_bytes: int = 1 << 20,
        max_consecutive_failures: int = 3,
        log: SampleLog | None = None,
        transport: httpx.BaseTransport | None = None,
        ca_bundle: str | None = None,
        budget: RunBudget | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_body_bytes = max_body_bytes
        self.log = log if log is not None else SampleLog()
        self._breakers = _Breakers(max_consecutive_failures)
        self._transport = transport
        #: The run's budget: once spent, samples are abandoned; requests in flight end by it.
        self.budget = budget
        self._timeouts = {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}
        self._slots_lock = threading.Lock()
        self._idle: list[_Slot] = []
        self._slots: list[_Slot] = []
        self._ssl_context: ssl.SSLContext | None = None
        self._ca_bundle = ca_bundle  # a PEM file of private CAs; None: the system's
        #: Known to be behind Cloudflare: a workers.dev host, or an answer carried cf-ray.
        self.behind_cloudflare = is_cloudflare_host(self.base_url)

    def __enter__(self) -> Probe:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close every connection; the probe opens new ones if it is used again."""
        with self._slots_lock:
            slots, self._slots, self._idle = self._slots, [], []
        closed: set[int] = set()
        for slot in slots:
            if id(slot.transport) not in closed:
                closed.add(id(slot.transport))
                slot.transport.close()

    def _checkout(self) -> _Slot:
        with self._slots_lock:
            if self._idle:
                return self._idle.pop()
            new = self._transport or transport(self._tls())
            slot = _Slot(new)
            self._slots.append(slot)
            return slot

    def _tls(self) -> ssl.SSLContext:
        """The TLS settings every slot shares (call with the slots lock held)."""
        if self._ssl_context is None and self.base_url.lower().startswith("http://"):
            # Requests never leave the base URL (no redirect is followed), so a plain-http
            # target never shakes hands: it skips loading the CA bundle before its first request.
            self._ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        if self._ssl_context is None:
            # Loading the CA bundle costs tens of ms of CPU under the GIL: done once per probe,
            # not once per slot, or the other threads' reads time out.
            self._ssl_context = ssl.create_default_context(cafile=self._ca_bundle)
        return self._ssl_context

    def _checkin(self, slot: _Slot) -> None:
        with self._slots_lock:
            if slot in self._slots:  # not closed meanwhile
                self._idle.append(slot)

    def request(self, request: Request, *, record: bool = True) -> Sample:
        """Send one request and describe what happened; never raises for network trouble."""
        slot = self._checkout()
        try:
            return self._take(request, slot, record)
        finally:
            self._checkin(slot)

    @contextlib.contextmanager
    def connection(self) -> Iterator[Callable[[Request], Sample]]:
        """One connection held for a run of sequential samples (a latency stream): yields a
        function that takes one sample on it without recording it (the caller records it once
        its timing is done). Streams on other threads hold connections of their own."""
        slot = self._checkout()
        try:
            yield lambda request: self._take(request, slot, record=False)
        finally:
            self._checkin(slot)

    def _take(self, request: Request, slot: _Slot, record: bool = True) -> Sample:
        sample = Sample(request=request, started=time.time())
        budget = self.budget
        if budget is not None and budget.spent():
            abandon: tuple[str, str] | None = (f"abandoned: {budget.reason()}", "timeout")
        else:
            abandon = self._breakers.reason(request)
        if abandon is not None:
            sample.error, sample.error_kind = abandon
            sample.abandoned = True
        else:
            sample.behind_cloudflare = self.behind_cloudflare
            self._send(request, sample, slot)
            self._breakers.record(sample)
            if not self.behind_cloudflare and "cf-ray" in sample.headers:
                self.behind_cloudflare = True
        if record:
            self.log.add(sample)
        return sample

    def _build(self, request: Request, slot: _Slot) -> httpx.Request:
        """The httpx request for `request`, built once per slot and re-sent: parsing the URL and
        headers again for every sample would cost a fifth of the sampler's time."""
        try:
            built = slot.built.get(request)
        except TypeError:  # an unhashable JSON body: build it every time
            return self._new_request(request, slot)
        if built is None:
            if len(slot.built) >= 256:
                slot.built.clear()
            built = slot.built[request] = self._new_request(request, slot)
        return built

    def _new_request(self, request: Request, slot: _Slot) -> httpx.Request:
        headers = httpx.Headers(DEFAULT_HEADERS)
        headers.update(dict(request.headers))
        return httpx.Request(
            request.method,
            f"{self.base_url}/{request.path.lstrip('/')}",
            headers=headers,
            json=request.json_body,
            extensions={"trace": slot.trace, "timeout": self._timeouts},
        )

    def _send(self, request: Request, sample: Sample, slot: _Slot) -> None:
        marks: dict[str, float] = {}
        slot.marks = marks
        chunks: list[bytes] = []
        size = 0
        start = time.perf_counter()
        # One deadline for the whole exchange, on the wall clock: the transport's network
        # backend holds every connect, TLS, write and read to it, the body loop checks it too.
        deadline = time.monotonic() + self.timeout
        budget = self.budget
        cut = budget is not None and budget.at < deadline
        if budget is not None and cut:
            deadline = budget.at
        previous = set_deadline(deadline)
        try:
            # The transport directly, not an httpx.Client: redirects are never followed, no
            # cookies are kept and there is no auth, so the client layer would only add work.
            response = slot.transport.handle_request(self._build(request, slot))
            try:
                sample.status = response.status_code
                sample.headers = _header_dict(response.headers)
                decoder = _decoder(sample.headers.get("content-encoding", ""))
                cap, decoded, complete = self.max_body_bytes, 0, True
                for chunk in cast(httpx.SyncByteStream, response.stream):  # raw bytes
                    size += len(chunk)
                    if decoder is not None and size <= cap:
                        # Bounded, so that a small compressed body cannot inflate without end.
                        chunk = decoder.decompress(chunk, cap - decoded + 1)
                    if size > cap or decoded + len(chunk) > cap:
                        sample.error_kind = "too_large"
                        sample.error = (f"HTTP {response.status_code} body exceeds "
                                        f"{cap} bytes; not read further")
                        complete = False
                        break
                    decoded += len(chunk)
                    chunks.append(chunk)
                    if time.monotonic() > deadline:
                        raise httpx.ReadTimeout("body not complete before the deadline")
                if decoder is not None and complete and size:
                    chunks.append(decoder.flush())
                    if not decoder.eof:
                        raise zlib.error("the compressed body ends before its end marker")
            finally:
                response.close()
        except Exception as exc:  # noqa: BLE001 - every failure becomes a reason, not a raise
            sample.error_kind, sample.error = _classify(exc, self.timeout, _phase(marks),
                                                        budget if cut else None)
        finally:
            set_deadline(previous)
        end = time.perf_counter()
        sample.body = b"".join(chunks)
        sample.phases = _phases(marks, start, end)

    def sample_many(self, requests: list[Request], concurrency: int,
                    skip: Callable[[Request], bool] | None = None) -> list[Sample]:
        """Take one sample per request, at most `concurrency` in flight; results in order.

        Sampler threads are added while the process has CPU to spare (see `_Run`), so a fast
        target is sampled by a few threads that do not fight over the GIL and a slow one by all
        `concurrency` of them. A request for which `skip` says True when its turn comes is not
        sent (and has no sample): how a caller stops sampling an endpoint whose verdict is
        already certain.
        """
        if not requests:
            return []
        limit = max(1, min(concurrency, len(requests)))
        if limit == 1:
            slot = self._checkout()
            try:
                return [self._take(request, slot) for request in requests
                        if skip is None or not skip(request)]
            finally:
                self._checkin(slot)
        if self._transport is None:
            with self._slots_lock:
                self._tls()  # before the run, so that it does not make the first window busy
        return _Run(self, requests, limit, skip=skip).run()


def cpu_demand() -> float:
    """Seconds this process's threads have spent running or ready to run.

    On Linux it sums each thread's run time and run-queue wait (/proc/self/task/*/schedstat), so
    a process that wants a whole CPU reads as busy even when other processes take part of it;
    threads blocked on the network or on the GIL do not count. Elsewhere it is the process's
    CPU time.
    """
    total = 0
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return time.process_time()
    for task in tasks:
        try:
            with open(f"/proc/self/task/{task}/schedstat", "rb") as stats:
                running, waiting = stats.read().split()[:2]
        except (OSError, ValueError):
            continue  # a thread that just ended
        total += int(running) + int(waiting)
    return total / 1e9


class _Run:
    """One `sample_many` call: worker threads, each holding one slot, take the next request in
    order until none is left; the calling thread only watches and adds workers.

    Every worker holds at most one request in flight, and there are never more than `limit`
    workers, so in-flight requests never exceed the configured concurrency. Workers start at
    `START`. More threads help only while the workers mostly wait for the network (a distant
    target); when the process is CPU-bound (a fast local target) they only queue for the GIL,
    and that queueing is timed as if it were the target's: against nginx, 16 threads from the
    start gave the samples a p99 of 15-30 ms where 2 threads gave 5 ms, for no more
    throughput, and on a loaded machine less (bench/README.md). So every `WINDOW` seconds the
    controller looks at the last window: if
    the process used less than `BUSY` of a CPU (`cpu`) and its threads were not waiting for a
    CPU either (`demand` below `DEMAND`: on a loaded machine the CPU share drops because other
    processes take the CPU, not because the workers are idle), it adds as many workers as
    would fill the CPU by Little's law, and at least doubles them.
    """

    START = 2
    WINDOW = 0.01
    BUSY = 0.8
    DEMAND = 1.5

    def __init__(self, probe: Probe, requests: list[Request], limit: int,
                 cpu: Callable[[], float] = time.process_time,
                 demand: Callable[[], float] = cpu_demand,
                 clock: Callable[[], float] = time.perf_counter,
                 skip: Callable[[Request], bool] | None = None) -> None:
        self.probe, self.requests, self.limit = probe, requests, limit
        self._skip = skip
        self.results: list[Sample | None] = [None] * len(requests)
        self._cpu, self._demand, self._clock = cpu, demand, clock
        self._lock = threading.Lock()
        self._next = 0
        self._live = 0
        self._threads: list[threading.Thread] = []
        self._finished = threading.Event()
        self._error: BaseException | None = None
        self.peak_workers = 0

    def _work(self) -> None:
        slot = self.probe._checkout()
        try:
            while True:
                with self._lock:
                    index = self._next
                    while (self._skip is not None and index < len(self.requests)
                           and self._skip(self.requests[index])):
                        index += 1
                    if index >= len(self.requests):
                        self._next = index
                        return
                    self._next = index + 1
                self.results[index] = self.probe._take(self.requests[index], slot)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the calling thread
            with self._lock:
                self._error = self._error or exc
                self._next = len(self.requests)
        finally:
            self.probe._checkin(slot)
            with self._lock:
                self._live -= 1
                if self._live == 0:
                    self._finished.set()

    def _add_workers(self, count: int) -> None:
        """Start up to `count` more workers (called with the lock held)."""
        count = min(count, self.limit - len(self._threads))
        if self._next >= len(self.requests):
            return
        for _ in range(count):
            thread = threading.Thread(target=self._work, daemon=True,
                                      name=f"sampler-{len(self._threads)}")
            self._threads.append(thread)
            self._live += 1
            thread.start()
        self.peak_workers = len(self._threads)

    def run(self) -> list[Sample]:
        with self._lock:
            self._add_workers(self.START)
        last = self._clock(), self._cpu(), self._demand()
        while len(self._threads) < self.limit and not self._finished.wait(self.WINDOW):
            now = self._clock(), self._cpu(), self._demand()
            elapsed = max(now[0] - last[0], 1e-9)
            busy, demand = (now[1] - last[1]) / elapsed, (now[2] - last[2]) / elapsed
            last = now
            # demand < 0: a thread ended and took its figures along; judge the next window.
            if busy < self.BUSY and 0 <= demand < self.DEMAND:
                with self._lock:
                    workers = len(self._threads)
                    wanted = max(2 * workers, math.ceil(workers * self.BUSY / max(busy, 0.05)))
                    self._add_workers(wanted - workers)
        self._finished.wait()
        for thread in self._threads:
            thread.join()
        if self._error is not None:
            raise self._error
        return [sample for sample in self.results if sample is not None]


def _header_dict(headers: httpx.Headers) -> dict[str, str]:
    """Lower-cased names to values, repeated headers joined with ", " as `Headers.items()`
    does, but detecting the encoding once rather than once per header."""
    encoding = headers.encoding
    result: dict[str, str] = {}
    for raw_name, raw_value in headers.raw:
        name, value = raw_name.decode(encoding).lower(), raw_value.decode(encoding)
        result[name] = f"{result[name]}, {value}" if name in result else value
    return result


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
