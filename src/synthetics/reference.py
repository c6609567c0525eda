"""The built-in reference worker: a faithful local stand-in for the production worker.

It answers what ../shared/worker-contract.md says the production worker answers — the same
paths with prefix routing, JSON fields, status codes, CORS headers on every response and the
`Not Found` text — so that the checks run out of the box on loopback, and so that the project's
own tests can break it on purpose. Named faults (see `FAULTS`) each violate at least one
documented target; they are set when the worker starts, changed in-process with `set_faults`, or
read from a faults file on every request (so another process, such as a fake `wrangler`, can heal
it by rewriting the file).

By default it answers as a plain server would. `cloudflare_like` (a constructor flag or the fault
of that name, with the colo code) makes every answer carry `cf-ray: <16 hex>-<COLO>` and
`server: cloudflare`, as answers served by Cloudflare do; the `cf_*` faults turn it on and answer
a path prefix the way Cloudflare does (`CF_PAGES`: its error page, status and headers), or, for
`cf_no_ray`, from another server without cf-ray (`synthetics.attribution` tells them apart).

It is built on the standard library's threading HTTP server, speaks HTTP/1.1 with keep-alive and
binds loopback only.
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import socket
import ssl
import sys
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from synthetics.clock import format_utc
from synthetics.expectations import AGENT_CAPACITY, SECTORS

__all__ = ["FAULTS", "ReferenceWorker", "parse_faults"]

#: Every named fault, with the target it breaks. A fault may take a value: `slow_health=300`.
FAULTS: dict[str, str] = {
    "health_degraded": '/health answers status "degraded"',
    "wrong_capacity": "/health and /mcp/orchestrate report 10,000,000 agents",
    "wrong_sectors": "/health and /mcp/orchestrate report 100 sectors",
    "healing_disabled": "/mcp/orchestrate reports healingMode false",
    "orchestration_degraded": '/mcp/orchestrate answers status "degraded"',
    "html_instead_of_json": "/mcp/orchestrate answers an HTML page",
    "broken_json": "/health answers truncated JSON",
    "huge_body": "/mcp/orchestrate answers a body of VALUE MiB (default 3)",
    "redirect": "/health answers 302 to another host",
    "hang": "/health never answers (VALUE: the path prefix to hang, default /health)",
    "reset": "/mcp/dns/resolve closes the connection without answering",
    "slow_health": "/health waits VALUE ms before answering (default 300)",
    "slow_orchestrate": "/mcp/orchestrate waits VALUE ms before answering (default 700)",
    "slow_dns": "/mcp/dns/resolve waits VALUE ms before answering (default 150)",
    "delay": "every response waits VALUE ms (default 30): a remote-like worker",
    "unresolved_domain": "/mcp/dns/resolve answers resolved false for VALUE "
                         "(default mcp.asoos.2100.cool)",
    "bad_ip": '/mcp/dns/resolve answers ip "999.1.1.1"',
    "sector_out_of_range": "/mcp/dns/resolve hands out sector == SECTORS",
    "sector_skew": "/mcp/dns/resolve hands out sectors from the lower half only",
    "dns_missing_domain_500": "/mcp/dns/resolve without a domain answers 500",
    "burst_5xx": "every VALUE-th request (default 33, ~3%) to /mcp/orchestrate answers 500",
    "timeouts": "every VALUE-th request (default 33) to /mcp/dns/resolve hangs",
    "missing_cors_header": "no response carries Access-Control-Allow-Origin",
    "broken_preflight": "OPTIONS answers 405 without CORS allow headers",
    "dashboard_down": "/ answers 503",
    "dashboard_untitled": "/ answers a page without the dashboard title",
    "registration_failing": "every VALUE-th registration (default 20, 5%) answers 500",
    "memory": "/health reports memoryUsagePercent = VALUE (default 92)",
    "orchestrate_unavailable": "/mcp/orchestrate answers a fast 503 JSON error",
    "no_environment": "/health and /mcp/orchestrate omit environment and report healingMode "
                      "false, as a deploy without --env production does",
    "stale_timestamp": "every JSON timestamp is VALUE seconds old (default 3600): a cached "
                       "or frozen answer",
    "reflected_credentials": "every response echoes the request's Origin in "
                             "Access-Control-Allow-Origin and sends "
                             "Access-Control-Allow-Credentials: true",
    "slow_headers": "/health sends its status line, then one header line every VALUE ms "
                    "(default 1000) for ever; a VALUE starting with / is the path prefix instead",
    "trickle_body": "/mcp/orchestrate sends its headers at once, then its body 1 byte every "
                    "VALUE ms (default 100)",
    "endless_chunked": "/mcp/dns/resolve answers a chunked body that never ends",
    "deep_json": "/health answers 1,000 levels of nested JSON arrays",
    "nan_json": "/health answers its status document with uptime NaN (not JSON)",
    "utf16_json": "/health answers its status document in UTF-16",
    "slow_tail": "every 10th request to /health waits VALUE ms (default 400): only the tail "
                 "is slow",
    "burst_429": "every VALUE-th request (default 33) to /mcp/orchestrate answers 429 (a 4xx, "
                 "not a 5xx)",
    "dashboard_redirect": "HEAD / and GET / answer 302 to another host",
    # Cloudflare-like answers (synthetics.attribution): every answer carries cf-ray and
    # server: cloudflare; each cf_* fault answers the way Cloudflare does on the path prefix
    # VALUE (default /health), every method, OPTIONS included.
    "cloudflare_like": "every answer carries cf-ray: <hex>-VALUE (colo, default LHR) and "
                       "server: cloudflare, as answers served by Cloudflare do",
    "cf_1101": "VALUE (default /health) answers Cloudflare's HTTP 500 page 'Error 1101: Worker "
               "threw exception' (the worker's fault)",
    "cf_1102": "VALUE (default /health) answers Cloudflare's HTTP 503 page 'Error 1102: Worker "
               "exceeded resource limits' (the worker's fault)",
    "cf_1015": "VALUE (default /health) answers Cloudflare's HTTP 429 page 'Error 1015: You are "
               "being rate limited' with Retry-After (a limit)",
    "cf_1027": "VALUE (default /health) answers Cloudflare's HTTP 429 page 'Error 1027: Worker "
               "exceeded free tier daily request limit' (a limit of the plan)",
    "cf_522": "VALUE (default /health) answers Cloudflare's HTTP 522 page 'Connection timed "
              "out' (the edge or origin)",
    "cf_no_ray": "VALUE (default /health) answers HTTP 503 from server nginx without cf-ray "
                 "while every other answer comes through Cloudflare (not served by Cloudflare)",
}

#: The Cloudflare error pages of the cf_* faults: (HTTP status, code, title, Retry-After).
CF_PAGES: dict[str, tuple[int, int, str, str | None]] = {
    "cf_1101": (500, 1101, "Worker threw exception", None),
    "cf_1102": (503, 1102, "Worker exceeded resource limits", None),
    "cf_1015": (429, 1015, "You are being rate limited", "60"),
    "cf_1027": (429, 1027, "Worker exceeded free tier daily request limit", None),
    "cf_522": (522, 522, "Connection timed out", None),
}
_CF_FAULTS = (*CF_PAGES, "cf_no_ray", "cloudflare_like")

_DEFAULTS: dict[str, str] = {
    "huge_body": "3", "hang": "/health", "slow_health": "300", "slow_orchestrate": "700",
    "slow_dns": "150", "delay": "30", "unresolved_domain": "mcp.asoos.2100.cool",
    "burst_5xx": "33", "timeouts": "33", "registration_failing": "20", "memory": "92",
    "stale_timestamp": "3600", "slow_headers": "1000", "trickle_body": "100",
    "cloudflare_like": "LHR", "cf_1101": "/health", "cf_1102": "/health", "cf_1015": "/health",
    "cf_1027": "/health", "cf_522": "/health", "cf_no_ray": "/health",
}
_DEFAULTS.update({"slow_tail": "400", "burst_429": "33"})

CORS_HEADERS = (
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS"),
    ("Access-Control-Allow-Headers", "Content-Type, Authorization, X-Quantum-Sync-ID"),
    ("Access-Control-Max-Age", "86400"),
)


def parse_faults(spec: str | Iterable[str] | None) -> dict[str, str]:
    """Parse "name[=value],name..." (or a list of such) into {name: value}; unknown names fail."""
    if spec is None:
        return {}
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    faults: dict[str, str] = {}
    for item in items:
        item = item.strip()
        if not item:
            continue
        name, _, value = item.partition("=")
        if name not in FAULTS:
            known = ", ".join(sorted(FAULTS))
            raise ValueError(f"unknown fault {name!r}; known faults: {known}")
        faults[name] = value or _DEFAULTS.get(name, "")
    return faults


@dataclass
class _Config:
    environment: str = "production"
    mcp_domain: str = "mcp.aipub.2100.cool"
    master_server: str = "mcp.asoos.2100.cool"
    agent_capacity: int = AGENT_CAPACITY
    sectors: int = SECTORS
    dns_mode: str = "automated"
    healing_mode: str = "enabled"
    version: str = "1.0.0"


def _now(behind_s: float = 0.0) -> str:
    """The time as JavaScript's `toISOString()` writes it, `behind_s` seconds ago."""
    return format_utc(time.time() - behind_s, "iso-ms")


def _dashboard(cfg: _Config, titled: bool) -> bytes:
    title = "🛡️ Victory36 MCP Orchestrator Dashboard" if titled else "Status"
    cards = [
        ("Total Agent Capacity", f"{cfg.agent_capacity:,}"),
        ("Active Sectors", str(cfg.sectors)),
        ("System Uptime", "100%"),
        ("Environment", cfg.environment),
        ("MCP Domain", cfg.mcp_domain),
        ("Self-Healing", "Enabled" if cfg.healing_mode == "enabled" else "Disabled"),
    ]
    body = "".join(f"<div class=card><h3>{k}</h3><p>{v}</p></div>" for k, v in cards)
    return (
        f"<!DOCTYPE html><html><head><meta charset=utf-8><title>{title}</title></head>"
        f"<body><h1>{title}</h1><p>Production System Online</p>{body}</body></html>"
    ).encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # one small response must not wait for a delayed ACK
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def _now(self) -> str:
        return _now(float(self.server.worker.faults().get("stale_timestamp", 0)))

    def _colo(self) -> str | None:
        """The colo this answer is "served from" when it goes through Cloudflare, else None."""
        worker = self.server.worker
        faults = worker.faults()
        if "cf_no_ray" in faults and self.path.startswith(faults["cf_no_ray"]):
            return None
        if "cloudflare_like" in faults:
            return faults["cloudflare_like"] or "LHR"
        if worker.cloudflare_like:
            return worker.cloudflare_like
        if any(name in faults for name in _CF_FAULTS):
            return "LHR"
        return None

    def version_string(self) -> str:
        faults = self.server.worker.faults()
        if "cf_no_ray" in faults and self.path.startswith(faults["cf_no_ray"]):
            return "nginx"
        return "cloudflare" if self._colo() else super().version_string()

    def _cloudflare_error(self, path: str, head: bool = False) -> bool:
        """Answer as Cloudflare does for a cf_* fault on `path`; False when none applies."""
        faults = self.server.worker.faults()
        if "cf_no_ray" in faults and path.startswith(faults["cf_no_ray"]):
            self._send(503, b"Service Unavailable", "text/plain", head=head, cors=False,
                       allow_origin=False)
            return True
        for name, (status, code, title, retry) in CF_PAGES.items():
            if name in faults and path.startswith(faults[name]):
                page = (f"<!DOCTYPE html><html lang=en-US><head><title>{title} | 127.0.0.1 | "
                        f"Cloudflare</title></head><body><div id=cf-wrapper><div "
                        f"id=cf-error-details><h1><span class=cf-error-type>Error</span> "
                        f'<span class="cf-error-code">{code}</span></h1><h2 '
                        f"class=cf-subheadline>{title}</h2><p>Cloudflare Ray ID: "
                        f"<strong>{{ray}}</strong></p></div></div></body></html>")
                extra = [("Retry-After", retry)] if retry else []
                self._send(status, page.encode(), "text/html; charset=UTF-8", head=head,
                           cors=False, allow_origin=False, extra=extra)
                return True
        return False

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._route()

    do_POST = do_PUT = do_DELETE = do_GET

    def do_HEAD(self) -> None:  # noqa: N802
        self._route(head=True)

    def do_OPTIONS(self) -> None:  # noqa: N802
        faults = self.server.worker.faults()
        self._drain_body()
        if self._cloudflare_error(urlsplit(self.path).path):
            return
        if "broken_preflight" in faults:
            self._send(405, b"Method Not Allowed", "text/plain", cors=False, allow_origin=True)
            return
        self._send(200, b"", None)

    def _drain_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str | None,
        *,
        head: bool = False,
        cors: bool = True,
        allow_origin: bool = True,
        extra: Iterable[tuple[str, str]] = (),
    ) -> None:
        faults = self.server.worker.faults()
        colo = self._colo()
        ray = f"{uuid.uuid4().hex[:16]}-{colo}" if colo else ""
        if ray and content_type and content_type.startswith("text/html"):
            body = body.replace(b"{ray}", ray.encode())
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in CORS_HEADERS:
            if name == "Access-Control-Allow-Origin":
                if "reflected_credentials" in faults:
                    value = self.headers.get("Origin") or value
                if allow_origin and "missing_cors_header" not in faults:
                    self.send_header(name, value)
            elif cors:
                self.send_header(name, value)
        if "reflected_credentials" in faults:
            self.send_header("Access-Control-Allow-Credentials", "true")
        for name, value in extra:
            self.send_header(name, value)
        if ray:
            self.send_header("cf-ray", ray)
        self.end_headers()
        if not head:
            self._write_body(body, faults)

    def _write_body(self, body: bytes, faults: dict[str, str]) -> None:
        if "trickle_body" not in faults or not self.path.startswith("/mcp/orchestrate"):
            self.wfile.write(body)
            return
        interval = int(faults["trickle_body"]) / 1000
        stopping = self.server.worker.stopping
        self.close_connection = True
        for i in range(len(body)):
            if stopping.wait(interval):
                return  # the worker is stopping: so does this thread
            self.wfile.write(body[i:i + 1])

    def _slow_headers(self, interval: float) -> None:
        """The status line, then one header line every `interval` seconds until the client
        leaves or the worker stops."""
        self.close_connection = True
        self.wfile.write(b"HTTP/1.1 200 OK\r\n")
        stopping = self.server.worker.stopping
        line = 0
        while not stopping.wait(interval):
            line += 1
            self.wfile.write(f"X-Slow-{line}: {'x' * 20}\r\n".encode())

    def _endless_chunked(self) -> None:
        """HTTP 200 with a chunked JSON body that never ends (a chunk every 20 ms)."""
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        for name, value in CORS_HEADERS:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(b"1\r\n[\r\n")
        stopping = self.server.worker.stopping
        while not stopping.wait(0.02):
            self.wfile.write(b"10\r\n" + b"[0,0,0,0,0,0,0]," + b"\r\n")

    def _json(self, status: int, doc: dict[str, Any], head: bool = False) -> None:
        self._send(status, json.dumps(doc, separators=(",", ":")).encode(), "application/json",
                   head=head)

    def _route(self, head: bool = False) -> None:
        worker = self.server.worker
        faults = worker.faults()
        cfg = worker.config
        body = self._drain_body()
        url = urlsplit(self.path)
        path = url.path
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        count = worker.count(path)

        if "hang" in faults and path.startswith(faults["hang"]):
            worker.stopping.wait(3600)
            self.close_connection = True
            return
        if "slow_headers" in faults:
            value = faults["slow_headers"]
            prefix, interval = (value, 1.0) if value.startswith("/") else \
                ("/health", int(value) / 1000)
            if path.startswith(prefix):
                self._slow_headers(interval)
                return
        if "delay" in faults:
            time.sleep(int(faults["delay"]) / 1000)
        if self._cloudflare_error(path, head):
            return

        if path.startswith("/mcp/agent/register"):
            self._register(body, count, faults, cfg, head)
        elif path.startswith("/mcp/agent/status"):
            agent = query.get("agentId")
            if not agent:
                self._json(400, {"error": "Agent ID required"}, head)
            else:
                self._json(200, {"agentId": agent, "status": "unknown", "lastSeen": None,
                                 "mcpServer": f"{agent}.{cfg.mcp_domain}", "sector": None}, head)
        elif path.startswith("/mcp/dns/resolve"):
            self._dns(query, count, faults, cfg, head)
        elif path.startswith("/mcp/orchestrate"):
            self._orchestrate(count, faults, cfg, head)
        elif path.startswith("/health"):
            if "slow_tail" in faults and count % 10 == 0:
                time.sleep(int(faults["slow_tail"]) / 1000)
            self._health(faults, cfg, head)
        elif path == "/":
            if "dashboard_redirect" in faults:
                self._send(302, b"", None, head=head,
                           extra=[("Location", "https://status.example.invalid/")])
            elif "dashboard_down" in faults:
                self._send(503, b"Service Unavailable", "text/plain", head=head)
            else:
                self._send(200, _dashboard(cfg, "dashboard_untitled" not in faults), "text/html",
                           head=head)
        else:
            self._send(404, b"Not Found", "text/plain", head=head)

    def _health(self, faults: dict[str, str], cfg: _Config, head: bool) -> None:
        if "slow_health" in faults:
            time.sleep(int(faults["slow_health"]) / 1000)
        if "redirect" in faults:
            self._send(302, b"", None, head=head,
                       extra=[("Location", "https://status.example.invalid/health")])
            return
        if "broken_json" in faults:
            self._send(200, b'{"status":"healthy","agentCapacity":200', "application/json",
                       head=head)
            return
        if "deep_json" in faults:
            self._send(200, b"[" * 1000 + b"]" * 1000, "application/json", head=head)
            return
        doc: dict[str, Any] = {
            "status": "degraded" if "health_degraded" in faults else "healthy",
            "timestamp": self._now(),
            "environment": cfg.environment,
            "agentCapacity": 10_000_000 if "wrong_capacity" in faults else cfg.agent_capacity,
            "sectors": 100 if "wrong_sectors" in faults else cfg.sectors,
            "mcpDomain": cfg.mcp_domain,
            "version": cfg.version,
            "uptime": int(time.time() * 1000),
        }
        if "memory" in faults:
            doc["memoryUsagePercent"] = float(faults["memory"])
        if "no_environment" in faults:  # the worker drops the key of a var that is unset
            del doc["environment"]
        if "nan_json" in faults:
            doc["uptime"] = float("nan")  # json.dumps writes NaN, which JSON.parse rejects
        if "utf16_json" in faults:
            self._send(200, json.dumps(doc).encode("utf-16"), "application/json; charset=utf-16",
                       head=head)
            return
        self._json(200, doc, head)

    def _orchestrate(self, count: int, faults: dict[str, str], cfg: _Config, head: bool) -> None:
        if "slow_orchestrate" in faults:
            time.sleep(int(faults["slow_orchestrate"]) / 1000)
        if "orchestrate_unavailable" in faults:
            self._json(503, {"error": "Service Unavailable", "timestamp": self._now()}, head)
            return
        if "burst_5xx" in faults and count % int(faults["burst_5xx"]) == 0:
            self._json(500, {"error": "Internal Server Error", "message": "injected burst",
                             "timestamp": self._now(), "healing": True}, head)
            return
        if "burst_429" in faults and count % int(faults["burst_429"]) == 0:
            self._json(429, {"error": "Too Many Requests", "message": "injected burst",
                             "timestamp": _now()}, head)
            return
        if "html_instead_of_json" in faults:
            self._send(200, b"<html><body>Orchestrator</body></html>", "text/html", head=head)
            return
        if "huge_body" in faults:
            size = int(float(faults["huge_body"]) * (1 << 20))
            self._send(200, b"[" + b"0," * (size // 2) + b"0]", "application/json", head=head)
            return
        doc = {
            "totalAgents": 10_000_000 if "wrong_capacity" in faults else cfg.agent_capacity,
            "activeSectors": 100 if "wrong_sectors" in faults else cfg.sectors,
            "mcpDomain": cfg.mcp_domain,
            "masterServer": cfg.master_server,
            "environment": cfg.environment,
            "healingMode": cfg.healing_mode == "enabled"
            and not faults.keys() & {"healing_disabled", "no_environment"},
            "dnsMode": cfg.dns_mode,
            "timestamp": self._now(),
            "uptime": "100%",
            "status": "degraded" if "orchestration_degraded" in faults else "operational",
        }
        if "no_environment" in faults:
            del doc["environment"]
        self._json(200, doc, head)

    def _dns(self, query: dict[str, str], count: int, faults: dict[str, str], cfg: _Config,
             head: bool) -> None:
        if "slow_dns" in faults:
            time.sleep(int(faults["slow_dns"]) / 1000)
        if "endless_chunked" in faults:
            self._endless_chunked()
            return
        if "reset" in faults:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if "timeouts" in faults and count % int(faults["timeouts"]) == 0:
            self.server.worker.stopping.wait(3600)
            self.close_connection = True
            return
        domain = query.get("domain")
        if not domain:
            if "dns_missing_domain_500" in faults:
                self._json(500, {"error": "Internal Server Error", "message": "no domain",
                                 "timestamp": self._now(), "healing": True}, head)
            else:
                self._json(400, {"error": "Domain required"}, head)
            return
        mcp = "mcp." in domain
        numbered = re.search(r"sector-(\d+)", domain)
        sector: int | None
        if numbered:
            sector = int(numbered.group(1))
        elif mcp:
            upper = cfg.sectors // 2 if "sector_skew" in faults else cfg.sectors
            sector = self.server.worker.random.randrange(upper)
            if "sector_out_of_range" in faults:
                sector = cfg.sectors
        else:
            sector = None
        unresolved = faults.get("unresolved_domain")
        doc = {
            "domain": domain,
            "resolved": domain != unresolved,
            "ip": "999.1.1.1" if "bad_ip" in faults else "1.1.1.1",
            "ttl": 300,
            "recordType": "A",
            "timestamp": self._now(),
            "mcpEnabled": mcp,
            "sector": sector,
        }
        self._json(200, doc, head)

    def _register(self, body: bytes, count: int, faults: dict[str, str], cfg: _Config,
                  head: bool) -> None:
        failing = "registration_failing" in faults and count % int(
            faults["registration_failing"]) == 0
        try:
            data = json.loads(body)
            if not isinstance(data, dict) or failing:
                raise ValueError("registration failed")
        except ValueError as exc:
            self._json(500, {"error": "Internal Server Error", "message": str(exc),
                             "timestamp": self._now(), "healing": True}, head)
            return
        agent = str(data.get("agentId") or uuid.uuid4())
        sector = data.get("sector") or self.server.worker.random.randrange(cfg.sectors)
        self._json(200, {"success": True, "agentId": agent, "sector": sector,
                         "mcpServer": f"{agent}.{cfg.mcp_domain}",
                         "capacity": cfg.agent_capacity,
                         "message": "Agent registered successfully"}, head)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    worker: ReferenceWorker

    #: Serve https with this context (the handshake runs in the request's thread).
    tls: ssl.SSLContext | None = None

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.tls is None:
            super().finish_request(request, client_address)
            return
        request.settimeout(5)
        try:
            wrapped = self.tls.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return  # a client that gave up, or did not like our certificate
        try:
            wrapped.settimeout(None)
            super().finish_request(wrapped, client_address)
        finally:
            wrapped.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-response (a capped body, a timeout) is routine here.
        exc = sys.exc_info()[1]
        if not isinstance(exc, ConnectionError | TimeoutError):
            super().handle_error(request, client_address)


class ReferenceWorker:
    """The reference worker on a loopback port, in a background thread.

    Use as a context manager, or call `start()` and `stop()`.
    """

    #: Seconds the serving loop waits for a connection before it looks whether to stop;
    #: `stop()` does not wait for it.
    poll_interval = 0.1

    def __init__(
        self,
        faults: str | Iterable[str] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        faults_file: str | Path | None = None,
        agent_capacity: int = AGENT_CAPACITY,
        sectors: int = SECTORS,
        seed: int | None = None,
        tls: ssl.SSLContext | None = None,
        cloudflare_like: bool | str = False,
        version: str = "1.0.0",
    ) -> None:
        self._faults = parse_faults(faults)
        #: Off (the default) keeps answers as a plain server's; True or a colo code ("LHR")
        #: adds cf-ray and server: cloudflare to every answer, as the `cloudflare_like` fault.
        self.cloudflare_like = ("LHR" if cloudflare_like is True else
                                str(cloudflare_like) if cloudflare_like else "")
        #: A server context (certificate and key loaded) to serve https instead of http.
        self.tls = tls
        #: Where random sectors come from; a seed makes a run's sectors repeatable (tests).
        self.random = random.Random(seed)
        self.faults_file = Path(faults_file) if faults_file else None
        self._file_cache: tuple[float, dict[str, str]] | None = None
        self.config = _Config(agent_capacity=agent_capacity, sectors=sectors, version=version)
        self.host, self.port = host, port
        self.stopping = threading.Event()
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    def faults(self) -> dict[str, str]:
        """The faults in force: the faults file's when there is one, else those set in-process."""
        if self.faults_file is None:
            return self._faults
        try:
            mtime = self.faults_file.stat().st_mtime
        except FileNotFoundError:
            return self._faults
        cache = self._file_cache
        if cache is None or cache[0] != mtime:
            try:
                cache = (mtime, parse_faults(self.faults_file.read_text().replace("\n", ",")))
            except (OSError, ValueError):
                cache = (mtime, self._faults)
            self._file_cache = cache
        return cache[1]

    def set_faults(self, faults: str | Iterable[str] | None) -> None:
        self._faults = parse_faults(faults)

    def count(self, path: str) -> int:
        """Count a request to `path`'s route; returns its 1-based number."""
        key = path.split("?")[0]
        with self._lock:
            self._counts[key] = self._counts.get(key, 0) + 1
            return self._counts[key]

    def start(self) -> ReferenceWorker:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        server_class = type("_BoundServer", (_Server,), {"address_family": family})
        server = server_class((self.host, self.port), _Handler)
        server.worker = self
        server.tls = self.tls
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever,
                                        kwargs={"poll_interval": self.poll_interval},
                                        name="reference-worker", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        server, self._server = self._server, None
        if server is None:
            return
        # serve_forever sees shutdown() only when its select() returns, up to a poll interval
        # later (at the end of every run that uses the built-in worker): connections wake it at
        # once. Each is closed unanswered: accepted before shutdown() is seen, it reads no
        # request; after, it is refused when the socket closes.
        stopper = threading.Thread(target=server.shutdown, name="reference-worker-stop")
        stopper.start()
        while stopper.is_alive():
            with contextlib.suppress(OSError):
                socket.create_connection((self.host, self.port), timeout=1).close()
            stopper.join(0.01)
        server.server_close()

    def __enter__(self) -> ReferenceWorker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
