"""A target that never answers, or is not there at all: every affected check fails with a
reason (never a pytest error), and the whole run ends in bounded time with the default settings."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest


@pytest.fixture
def slow_reset_target() -> Iterator[str]:
    """Accepts, waits a second, then closes without a word: no timeout, no response."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    stop = threading.Event()

    def close_later(conn: socket.socket) -> None:
        stop.wait(1.0)
        conn.close()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            threading.Thread(target=close_later, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join(2)
    listener.close()


@pytest.fixture
def closed_target() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_never_answering_target_fails_every_network_check_within_two_minutes(
    run_checks, silent_target: str
) -> None:
    started = time.monotonic()
    run = run_checks(f"--target={silent_target}", timeout=180)
    elapsed = time.monotonic() - started
    assert run.ids("error") == set(), run.stdout[-3000:]
    assert run.ids("passed") == set()
    assert len(run.ids("failed")) >= 20
    assert all("timed out" in m or "abandoned" in m or "no sample" in m or "no DNS" in m
               or "no responses to judge" in m
               for m in (run.messages[t] for t in run.ids("failed"))), run.messages
    # Nothing answered: the 5xx rates have no responses to judge, and say so.
    for endpoint in ("health", "orchestrate", "dns"):
        assert run.messages[f"test_error_rate_5xx[{endpoint}]"].removeprefix("Failed: ").startswith(
            f"{endpoint}: no responses to judge: none of "), run.messages
    assert elapsed < 120, f"took {elapsed:.0f} s"


def test_slowly_resetting_target_is_abandoned_not_waited_on(run_checks,
                                                           slow_reset_target: str) -> None:
    """Without a breaker on resets this run would cost a second per sample, about half an hour."""
    started = time.monotonic()
    run = run_checks(f"--target={slow_reset_target}", timeout=300)
    elapsed = time.monotonic() - started
    assert run.ids("error") == set(), run.stdout[-3000:]
    assert len(run.ids("failed")) >= 20
    assert any("abandoned" in m for m in run.messages.values())
    assert elapsed < 120, f"took {elapsed:.0f} s"


def test_closed_port_fails_fast_with_cannot_connect(run_checks, closed_target: str) -> None:
    run = run_checks(f"--target={closed_target}", "-m", "health or dns or dashboard")
    assert run.ret == 1 and run.ids("error") == set()
    assert run.ids("failed") == {
        "test_health_reports_healthy[health]", "test_health_reports_capacity[health]",
        "test_health_reports_environment[health]", "test_health_timestamp_fresh[health]",
        "test_dns_timestamp_fresh[dns]", "test_dns_resolves[mcp.aipub.2100.cool]",
        "test_dns_resolves[mcp.asoos.2100.cool]",
        "test_dns_requires_domain[missing-domain]", "test_dashboard_head[dashboard]",
        "test_dashboard_page[dashboard]",
    }
    assert all("cannot connect" in m for m in run.messages.values())


def test_refused_connections_leave_no_responses_to_judge(run_checks, closed_target: str) -> None:
    """Every request refused: the 5xx and timeout rates have nothing to judge, and fail saying
    so (not "insufficient evidence" next to 100% refused connections)."""
    run = run_checks(f"--target={closed_target}", "-m", "error_rate", "--error-samples", "20")
    assert run.ret == 1 and run.ids("error") == set()
    for kind in ("5xx", "timeouts"):
        for endpoint in ("health", "orchestrate", "dns"):
            message = run.messages[f"test_error_rate_{kind}[{endpoint}]"]
            assert f"{endpoint}: no responses to judge: none of " in message, message
            assert "cannot connect" in message and "insufficient" not in message
