"""TLS: the certificate an https target presents, verified the way a client verifies it.

`inspect_certificate` opens one TLS connection to the target's host and port, verifies the chain
against the system's certificate authorities (or `--ca-bundle`) and the host name, and returns the
leaf certificate's issuer, subject and expiry. The whole exchange — connect and handshake — is
held to one deadline on the wall clock: the handshake runs on a non-blocking socket and waits
only for the time left, so a server that trickles its handshake cannot stretch it. Any problem
(cannot connect, verification failed, timed out) is a `CertificateProblem` with one line.
"""

from __future__ import annotations

import select
import socket
import ssl
import time
import urllib.parse
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from synthetics.clock import format_utc

__all__ = ["Certificate", "CertificateProblem", "inspect_certificate", "tls_context"]


class CertificateProblem(Exception):
    """The certificate could not be had or did not verify; the message is one line."""


@dataclass(frozen=True)
class Certificate:
    """What a verified leaf certificate says, for a person and for the verdict."""

    host: str
    subject: str
    issuer: str
    not_after: datetime  # aware, UTC
    version: str  # the negotiated TLS version, e.g. "TLSv1.3"

    def days_left(self, now: datetime) -> float:
        return (self.not_after - now).total_seconds() / 86400

    def describe(self, now: datetime) -> str:
        return (f"certificate for {self.subject} issued by {self.issuer}, valid until "
                f"{format_utc(self.not_after, 'minute')} ({self.days_left(now):.1f} days left), "
                f"{self.version}")


def tls_context(ca_bundle: str | None = None) -> ssl.SSLContext:
    """A client context that verifies chains and host names: the system's authorities, or only
    those in `ca_bundle` (a PEM file) for a private CA."""
    return ssl.create_default_context(cafile=ca_bundle)


def _name(rdns: object) -> str:
    """A certificate name (getpeercert's tuple of RDNs) as "CN=…, O=…", common name first."""
    parts: dict[str, str] = {}
    if isinstance(rdns, tuple):
        for rdn in rdns:
            for key, value in rdn:
                parts.setdefault(key, value)
    order = ("commonName", "organizationName", "organizationalUnitName", "countryName")
    short = {"commonName": "CN", "organizationName": "O", "organizationalUnitName": "OU",
             "countryName": "C"}
    text = ", ".join(f"{short[k]}={parts[k]}" for k in order if k in parts)
    return text or "(no name)"


def _left(deadline: float) -> float:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError
    return remaining


def inspect_certificate(url: str, *, timeout: float, ca_bundle: str | None = None,
                        context: ssl.SSLContext | None = None) -> Certificate:
    """Connect to `url`'s host over TLS within `timeout` seconds in all, verify, and describe
    the leaf certificate. Raises `CertificateProblem` (one line) for every failure."""
    parsed = urllib.parse.urlsplit(url)
    host = parsed.hostname or ""
    port = parsed.port or 443
    ctx = context or tls_context(ca_bundle)
    deadline = time.monotonic() + timeout
    phase = "connecting"
    try:
        raw = socket.create_connection((host, port), timeout=_left(deadline))
    except TimeoutError:
        raise CertificateProblem(
            f"{host}:{port}: timed out connecting after {timeout:g} s") from None
    except OSError as exc:
        raise CertificateProblem(f"{host}:{port}: cannot connect: {exc.strerror or exc}") from None
    tls: ssl.SSLSocket | None = None
    try:
        phase = "in the TLS handshake"
        raw.setblocking(False)
        tls = ctx.wrap_socket(raw, server_hostname=host, do_handshake_on_connect=False)
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                select.select([tls], [], [], _left(deadline))
            except ssl.SSLWantWriteError:
                select.select([], [tls], [], _left(deadline))
        cert = tls.getpeercert()
        version = tls.version() or "TLS"
    except TimeoutError:
        raise CertificateProblem(
            f"{host}:{port}: timed out {phase} (the whole exchange may take {timeout:g} s)"
        ) from None
    except ssl.SSLCertVerificationError as exc:
        why = exc.verify_message or exc.reason or str(exc)
        raise CertificateProblem(f"{host}:{port}: the certificate does not verify: {why}") from None
    except (ssl.SSLError, OSError) as exc:
        raise CertificateProblem(
            f"{host}:{port}: TLS failed {phase}: {getattr(exc, 'reason', None) or exc}") from None
    finally:
        if tls is not None:
            tls.close()
        raw.close()
    if not cert or "notAfter" not in cert:
        raise CertificateProblem(f"{host}:{port}: the server presented no certificate")
    not_after = datetime.fromtimestamp(ssl.cert_time_to_seconds(str(cert["notAfter"])),
                                       timezone.utc)
    alt_names: Any = cert.get("subjectAltName", ())
    names = [value for kind, value in alt_names if kind in ("DNS", "IP Address")]
    subject = ", ".join(str(n) for n in names) if names else _name(cert.get("subject"))
    return Certificate(host, subject, _name(cert.get("issuer")), not_after, version)
