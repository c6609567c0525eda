"""The TLS check against a real TLS server on loopback: the reference worker serving https with
certificates made on the fly (trustme). A valid certificate passes, one expiring in 5 days fails
with its expiry date and issuer, one for another host fails as not verifying, and a handshake that
never comes is held to the request timeout."""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import trustme

from synthetics.reference import ReferenceWorker
from synthetics.tls import CertificateProblem, inspect_certificate

CHECK = "test_tls_certificate[certificate]"


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA(organization_name="Synthetics Test CA")


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture
def https_worker(ca: trustme.CA) -> Iterator[Callable[..., ReferenceWorker]]:
    """Factory: a reference worker serving https with a certificate for `hosts`, valid for
    `days` more days."""
    started: list[ReferenceWorker] = []

    def start(hosts: tuple[str, ...] = ("127.0.0.1",), days: float = 90) -> ReferenceWorker:
        now = datetime.now(timezone.utc)
        cert = ca.issue_cert(*hosts, not_before=now - timedelta(days=1),
                             not_after=now + timedelta(days=days))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)
        worker = ReferenceWorker(tls=context, seed=2100).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def test_valid_certificate_passes_and_the_checks_run_over_https(run_checks, https_worker,
                                                                 ca_file: str) -> None:
    worker = https_worker()
    assert worker.url.startswith("https://127.0.0.1:")
    run = run_checks(f"--target={worker.url}", f"--ca-bundle={ca_file}", "-m", "tls or health")
    assert run.ret == 0, run.stdout[-3000:]
    assert run.outcomes[CHECK] == "passed"
    assert run.outcomes["test_health_reports_healthy[health]"] == "passed"
    assert "issued by O=Synthetics Test CA" in run.stdout  # the verdict's detail


def test_certificate_expiring_in_five_days_fails_with_date_and_issuer(run_checks, https_worker,
                                                                      ca_file: str) -> None:
    worker = https_worker(days=5)
    run = run_checks(f"--target={worker.url}", f"--ca-bundle={ca_file}", "-m", "tls")
    assert run.ret == 1
    message = run.messages[CHECK]
    expiry = (datetime.now(timezone.utc) + timedelta(days=5)).strftime("%Y-%m-%d")
    assert f"expires {expiry}" in message and "(< 14 required)" in message, message
    assert "issued by O=Synthetics Test CA" in message
    assert "\n" not in message.strip()


def test_certificate_for_another_host_fails(run_checks, https_worker, ca_file: str) -> None:
    worker = https_worker(hosts=("other.example",))
    run = run_checks(f"--target={worker.url}", f"--ca-bundle={ca_file}", "-m", "tls or health")
    assert run.ret == 1
    message = run.messages[CHECK]
    assert "does not verify" in message and "127.0.0.1" in message, message
    # the functional checks cannot talk to it either, and say why in one line
    assert "certificate" in run.messages["test_health_reports_healthy[health]"].lower()


def test_a_private_ca_needs_the_ca_bundle(run_checks, https_worker) -> None:
    worker = https_worker()
    run = run_checks(f"--target={worker.url}", "-m", "tls")
    assert run.ret == 1
    assert "does not verify" in run.messages[CHECK]


def test_http_target_is_skipped_with_the_reason(run_checks, reference_worker) -> None:
    worker = reference_worker()
    run = run_checks(f"--target={worker.url}", "-m", "tls", "-rs")
    assert run.outcomes == {CHECK: "skipped"}
    assert "there is no certificate to check" in run.messages[CHECK]


def test_unreadable_ca_bundle_is_a_usage_error(run_checks, tmp_path: Path) -> None:
    not_pem = tmp_path / "ca.txt"
    not_pem.write_text("hello")
    run = run_checks("--target=https://127.0.0.1:1", f"--ca-bundle={not_pem}", "-m", "tls")
    assert run.ret == 4
    assert "is not a PEM file of certificates" in run.stderr


def test_a_handshake_that_never_comes_is_held_to_the_timeout(silent_target: str) -> None:
    """A server that accepts and then says nothing: the handshake ends at the deadline."""
    started = time.monotonic()
    with pytest.raises(CertificateProblem, match="timed out in the TLS handshake"):
        inspect_certificate(silent_target.replace("http://", "https://"), timeout=0.5)
    assert time.monotonic() - started < 3
