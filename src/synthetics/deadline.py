"""One deadline per request, on the wall clock, whatever the server does.

httpcore's timeouts are per socket operation: a read timeout restarts with every header line or
body chunk that arrives, so a server that sends one header line a second, or drips its body, is
never held to one. Every request the project sends goes through `DeadlineTransport`, whose
network backend gives each connect, TLS handshake, read and write at most the time left before
the deadline of the request in flight (min(the operation's own timeout, time left)) and raises
the phase's timeout once none is left. The deadline is set per request on the sending thread
(`bounded`, or `Probe._send`): no thread or timer per request, one clock read per operation.

`send` is the shared one-request helper of the paths that are not the probe (the redeploy
plugin's control probe, the webhook alert sink, the Pushgateway push).

Name resolution (getaddrinfo) is the one step it cannot interrupt: the standard library offers
no timeout for it.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import cache

import httpx

__all__ = ["RunBudget", "TooLarge", "bounded", "fetch", "send",
           "set_deadline", "time_left", "transport"]

_local = threading.local()
_clock = time.monotonic


def set_deadline(at: float | None) -> float | None:
    """Make `at` (a `time.monotonic()` instant, or None for none) the deadline of requests sent
    from this thread; returns the previous one so that callers can restore it."""
    previous: float | None = getattr(_local, "at", None)
    _local.at = at
    return previous


@contextmanager
def bounded(seconds: float, at: float | None = None) -> Iterator[float]:
    """Requests sent from this thread inside the block end within `seconds` of now (or by `at`,
    if earlier); yields the deadline."""
    deadline = _clock() + seconds
    if at is not None:
        deadline = min(deadline, at)
    previous = set_deadline(deadline)
    try:
        yield deadline
    finally:
        set_deadline(previous)


def time_left(timeout: float | None, error: type[Exception]) -> float | None:
    """The timeout for the next socket operation: `timeout`, cut to the time left before this
    thread's deadline. Raises `error` when the deadline has passed."""
    at: float | None = getattr(_local, "at", None)
    if at is None:
        return timeout
    left = at - _clock()
    if left <= 0:
        raise error("the request's deadline has passed")
    return left if timeout is None or timeout > left else timeout


class RunBudget:
    """The time a whole run may take (`--run-budget`), counted from its creation: once spent,
    remaining samples are abandoned, and requests in flight end by it."""

    __slots__ = ("seconds", "at")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = _clock() + seconds

    def spent(self) -> bool:
        return _clock() >= self.at

    def reason(self) -> str:
        return f"run budget of {self.seconds:g} s spent"


def transport(verify: ssl.SSLContext | bool = True) -> httpx.BaseTransport:
    """An httpx transport whose every socket operation is held to the sending thread's deadline
    (`synthetics.deadline_transport`). httpcore is imported here, on first use, not when the
    plugins load: importing it imports anyio, whose pytest plugin then cannot be rewritten."""
    # Deferred: importing it imports httpcore and anyio (see above). The one function-level
    # import of a synthetics module (tests/test_layout.py allows it and no other).
    from synthetics.deadline_transport import DeadlineTransport

    return DeadlineTransport(verify)


@cache
def _tls_context() -> ssl.SSLContext:
    """The system's CA store (as urllib uses), loaded once: loading it costs tens of ms."""
    return ssl.create_default_context()


def _check_url(url: str) -> None:
    """Refuse a URL with white space or control characters (a paste gone wrong) rather than
    send it percent-encoded to another path; the message never quotes it (it may be a secret)."""
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        raise httpx.InvalidURL("the URL contains white space or a control character; not sent")


@contextmanager
def _exchange(method: str, url: str, timeout: float, body: bytes | None,
              headers: Iterable[tuple[str, str]]) -> Iterator[httpx.Response]:
    """One request on the deadline transport, its response streamed and closed after."""
    _check_url(url)
    client_transport = transport(_tls_context())
    with bounded(timeout), httpx.Client(transport=client_transport, timeout=timeout,
                                        follow_redirects=False, trust_env=False) as client:
        request = client.build_request(method, url, content=body, headers=list(headers))
        response = client.send(request, stream=True)
        try:
            yield response
        finally:
            response.close()


def send(method: str, url: str, *, timeout: float, body: bytes | None = None,
         headers: Iterable[tuple[str, str]] = ()) -> int:
    """Send one request and return its status, all within `timeout` seconds of now on the wall
    clock (the response body is not read). Redirects are not followed; environment proxies are
    not used. Raises `httpx.HTTPError` (`httpx.TimeoutException` past the deadline)."""
    with _exchange(method, url, timeout, body, headers) as response:
        return response.status_code


class TooLarge(httpx.HTTPError):
    """The answer's body is larger than the caller accepts (not read further)."""


def fetch(method: str, url: str, *, timeout: float, body: bytes | None = None,
          headers: Iterable[tuple[str, str]] = (), max_bytes: int = 1 << 20,
          ) -> tuple[int, dict[str, str], bytes]:
    """Send one request and read its answer: (status, lower-cased headers, body), all within
    `timeout` seconds of now on the wall clock, the body at most `max_bytes` (`TooLarge` past
    it). Redirects are not followed; environment proxies are not used. Raises
    `httpx.HTTPError` (`httpx.TimeoutException` past the deadline)."""
    with _exchange(method, url, timeout, body, headers) as response:
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_raw():
            size += len(chunk)
            if size > max_bytes:
                raise TooLarge(f"the answer is larger than {max_bytes} bytes")
            chunks.append(chunk)
        answered = {k.lower(): v for k, v in response.headers.items()}
        return response.status_code, answered, b"".join(chunks)
