"""A fake of Cloudflare's status page on loopback (`/api/v2/summary.json`), shared by the
provider-status tests and the self-healing attribution tests (the `status_page` fixture in
tests/conftest.py)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["OPERATIONAL", "StatusPage", "summary"]

OPERATIONAL = [{"name": "Workers", "status": "operational"},
               {"name": "Workers KV", "status": "operational"},
               {"name": "Cloudflare Sites and Services", "status": "operational"},
               {"name": "London, United Kingdom - (LHR)", "status": "under_maintenance"}]


def summary(components: list[dict[str, Any]] | None = None,
            incidents: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"page": {"name": "Cloudflare"}, "status": {"indicator": "minor"},
            "components": OPERATIONAL if components is None else components,
            "incidents": incidents or [], "scheduled_maintenances": []}


class StatusPage:
    """A status page on loopback: `answer` is (status, body) of /api/v2/summary.json."""

    def __init__(self) -> None:
        self.answer: tuple[int, bytes] = (200, json.dumps(summary()).encode())
        self.paths: list[str] = []
        page = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - stdlib naming
                page.paths.append(self.path)
                status, body = page.answer
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def incident(self, name: str = "Elevated Workers errors", components: tuple[str, ...] = (
            "Workers",), status: str = "investigating") -> None:
        doc = summary(incidents=[{"name": name, "status": status, "impact": "major",
                                  "shortlink": "https://stspg.io/abc123",
                                  "components": [{"name": c, "status": "partial_outage"}
                                                 for c in components]}])
        self.answer = (200, json.dumps(doc).encode())
