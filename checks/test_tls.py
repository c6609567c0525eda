"""TLS: an https target's certificate verifies for its host and is not about to expire.

Not a target of the maintenance document, but what every peer monitor checks: an expired or
mismatched certificate takes the worker down for every client at once. The verdict names the
issuer and the expiry date; an http target (the built-in reference worker) is skipped with the
reason. `--ca-bundle` verifies against a private CA.
"""

from datetime import datetime, timezone

import pytest

from synthetics import expect
from synthetics.expectations import Expectation, params
from synthetics.settings import Settings
from synthetics.tls import CertificateProblem, inspect_certificate
from synthetics.worker import Worker

pytestmark = pytest.mark.tls


@pytest.mark.parametrize("expectation", params("test_tls_certificate"))
def test_tls_certificate(expectation: Expectation, worker: Worker,
                         synthetics_settings: Settings, record_verdict) -> None:
    s = synthetics_settings
    if not (worker.url or "").lower().startswith("https://"):
        pytest.skip("the target is http://: there is no certificate to check")
    threshold = f">= {s.tls_min_days:g} days left"
    try:
        cert = inspect_certificate(worker.url, timeout=s.request_timeout,
                                   ca_bundle=s.ca_bundle)
    except CertificateProblem as exc:
        record_verdict(measured="no verified certificate", threshold=threshold, verdict="fail",
                       detail=str(exc))
        expect.fail(str(exc))
    now = datetime.now(timezone.utc)
    days = cert.days_left(now)
    ok = days >= s.tls_min_days
    record_verdict(measured=f"{days:.1f} days left", threshold=threshold,
                   verdict="pass" if ok else "fail", detail=cert.describe(now))
    if not ok:
        expect.fail(f"{cert.host}: the certificate expires {cert.not_after:%Y-%m-%d %H:%M} UTC, "
                    f"in {days:.1f} days (< {s.tls_min_days:g} required); issued by "
                    f"{cert.issuer}")
