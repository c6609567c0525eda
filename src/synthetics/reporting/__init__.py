"""Reporting: one run's results gathered once, and every output made from them (HTML, JSON, GitHub,
Prometheus, status page)."""
