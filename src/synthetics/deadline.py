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
import typing
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import cache

import httpcore
import httpx
from httpcore._backends.sync import SyncBackend

__all__ = ["DeadlineTransport", "RunBudget", "TooLarge", "bounded", "fetch", "send",
           "set_deadline", "time_left"]

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


class _Stream(httpcore.NetworkStream):
    __slots__ = ("_stream",)

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, time_left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, time_left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return _Stream(self._stream.start_tls(ssl_context, server_hostname,
                                              time_left(timeout, httpcore.ConnectTimeout)))

    def get_extra_info(self, info: str) -> typing.Any:
        return self._stream.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    """httpcore's synchronous backend, every operation held to the thread's deadline."""

    def __init__(self) -> None:
        self._backend = SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Iterable[typing.Any] | None = None) -> httpcore.NetworkStream:
        return _Stream(self._backend.connect_tcp(
            host, port, time_left(timeout, httpcore.ConnectTimeout), local_address,
            socket_options))

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[typing.Any] | None = None
                            ) -> httpcore.NetworkStream:  # pragma: no cover - not used
        return _Stream(self._backend.connect_unix_socket(
            path, time_left(timeout, httpcore.ConnectTimeout), socket_options))

    def sleep(self, seconds: float) -> None:  # pragma: no cover - retries are off
        time.sleep(seconds)


_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=5.0)


class DeadlineTransport(httpx.HTTPTransport):
    """httpx's transport (no proxy, no retries) on the deadline-keeping network backend."""

    def __init__(self, verify: ssl.SSLContext | bool = True,
                 limits: httpx.Limits = _LIMITS) -> None:
        context = verify if isinstance(verify, ssl.SSLContext) else \
            httpx.create_ssl_context(verify=verify, trust_env=False)
        super().__init__(verify=context, trust_env=False, limits=limits)
        self._pool = httpcore.ConnectionPool(
            ssl_context=context, max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry, network_backend=_Backend())


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
    transport = DeadlineTransport(_tls_context())
    with bounded(timeout), httpx.Client(transport=transport, timeout=timeout,
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
