"""`synthetics status-page`: a static status site and badges, from history.

`synthetics status-page --history [REGION=]PATH --out DIR` reads one or more history databases
(one per region that runs the checks; `REGION=` names it) and the alert logs beside them, and
writes into DIR, and nowhere else:

- `index.html`: one self-contained page (inline CSS and SVG, no script, no external resource;
  it opens from the file system): the current status of each endpoint, its daily availability
  for the last `--days` (90) days as bars (a day without samples is drawn as "no data", never as
  up or down), its daily latency (p50 and p95 from the hourly rollup; one line per region when
  several report) against its budget, and the incidents from the alert events (start, end,
  duration, severity);
- `status.json`: the same figures for other tools;
- `badges/<endpoint>.json`: a shields.io endpoint badge (`schemaVersion` 1, `label`, `message`,
  `color`), for `https://img.shields.io/endpoint?url=…`, and `badges/<endpoint>.svg`, a badge
  drawn here for a README that should not depend on shields.io.

The command is read-only: each database is opened read-only (`mode=ro`, or `immutable=1` when
no write-ahead log exists, so that not even a `-wal`/`-shm` file appears), and nothing is
created but DIR. A history that cannot be used is one line on stderr and exit 4.
"""

from __future__ import annotations

import argparse
import html
import json
import math
import os
import sqlite3
import sys
import time
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synthetics.clock import format_utc
from synthetics.expectations import EXPECTATIONS, SAMPLED_ENDPOINTS
from synthetics.history.store import BUCKET_RATIO
from synthetics.scrub import scrub
from synthetics.worker import Worker

__all__ = ["EXIT_USAGE", "ENDPOINTS", "HistorySource", "StatusData", "add_status_page_parser",
           "badge_json", "badge_svg", "collect", "main", "render", "status_page_command"]

EXIT_USAGE = 4
DAY = 86_400.0
#: Endpoints shown, in this order, when history holds GET samples of them.
ENDPOINTS = (*SAMPLED_ENDPOINTS, "dashboard")
SCHEMA = "victory36-synthetics/status/v1"
#: The window the badges' availability covers.
BADGE_DAYS = 30
#: A last sample older than this makes an endpoint's status "unknown" (the checks stopped).
STALE_SECONDS = 6 * 3600.0


class UsageError(Exception):
    """A one-line reason the command cannot run (exit 4)."""


@dataclass(frozen=True)
class HistorySource:
    """One history database and the region it was recorded in."""

    region: str
    path: Path
    alert_log: Path


def parse_source(value: str, several: bool) -> HistorySource:
    """`[REGION=]PATH`: a region name is letters, digits, '-', '_' or '.'."""
    region, sep, path = value.partition("=")
    if not sep or not region or not all(c.isalnum() or c in "-_." for c in region):
        region, path = "", value
    if not path.strip():
        raise UsageError("--history needs a file path ([REGION=]PATH)")
    p = Path(path)
    name = region or (p.parent.name if several and p.parent.name else "default")
    return HistorySource(name, p, p.parent / "alerts.jsonl")


def _connect(path: Path) -> sqlite3.Connection:
    """A read-only connection that creates no file: `mode=ro` when the write-ahead log is there
    (a writer is, or was, active), else `immutable=1` (a plain read of the file)."""
    if not path.is_file():
        raise UsageError(f"history {path}: no such file")
    if not os.access(path, os.R_OK):
        raise UsageError(f"history {path}: not readable")
    wal = Path(str(path) + "-wal").exists() and Path(str(path) + "-shm").exists()
    uri = f"file:{urllib.parse.quote(str(path.resolve()))}?" + \
        ("mode=ro" if wal else "mode=ro&immutable=1")
    try:
        db = sqlite3.connect(uri, uri=True, timeout=30)
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.Error as exc:
        raise UsageError(f"history {path}: {exc}") from None
    missing = {"series", "samples", "runs", "rollup", "state"} - tables
    if missing:
        db.close()
        raise UsageError(f"history {path}: not a synthetics history database (no "
                         f"{', '.join(sorted(missing))} table)")
    return db


@dataclass
class DayFigures:
    samples: int = 0
    ok: int = 0

    @property
    def availability(self) -> float | None:
        return self.ok / self.samples if self.samples else None


@dataclass
class EndpointStatus:
    name: str
    budget_ms: float | None
    days: list[DayFigures] = field(default_factory=list)
    #: region → per day (p50 ms, p95 ms) or None
    latency: dict[str, list[tuple[float, float] | None]] = field(default_factory=dict)
    last_t: float | None = None
    last_ok: bool | None = None
    firing: list[str] = field(default_factory=list)

    def availability(self, days: int) -> float | None:
        window = self.days[-days:]
        n = sum(d.samples for d in window)
        return sum(d.ok for d in window) / n if n else None

    def status(self, now: float) -> str:
        """operational | degraded | down | unknown."""
        if any(f.startswith("critical") for f in self.firing):
            return "down"
        if self.last_t is None or now - self.last_t > STALE_SECONDS:
            return "unknown"
        if not self.last_ok:
            return "down"
        if self.firing:
            return "degraded"
        return "operational"


@dataclass
class Incident:
    rule: str
    severity: str
    key: str
    start: float
    end: float | None
    message: str

    def duration(self, now: float) -> float:
        return (self.end if self.end is not None else now) - self.start


@dataclass
class StatusData:
    target: str
    now: float
    days: int
    first_day: float  # epoch of the first day's 00:00 UTC
    regions: list[str]
    endpoints: list[EndpointStatus]
    incidents: list[Incident]

    def overall(self) -> str:
        states = [e.status(self.now) for e in self.endpoints]
        for state in ("down", "degraded", "unknown"):
            if state in states:
                return state
        return "operational" if states else "unknown"


def _budgets() -> dict[str, float]:
    return {t.subject: float(t.threshold) for t in EXPECTATIONS
            if t.check == "test_latency_within_budget" and t.threshold is not None}


def _pick_target(dbs: Sequence[sqlite3.Connection]) -> str:
    best: tuple[int, float, str] | None = None
    for db in dbs:
        for target, due in db.execute("SELECT target, max(due) FROM runs GROUP BY target"):
            key = (0 if Worker.from_label(target).builtin else 1, float(due or 0), str(target))
            if best is None or key > best:
                best = key
    if best is None:
        raise UsageError("history holds no run: nothing to show (run the checks first)")
    return best[2]


def _percentile(counts: dict[int, int], q: float) -> float:
    n = sum(counts.values())
    rank = max(1, math.ceil(q / 100 * n))
    seen = 0
    for bucket in sorted(counts):
        seen += counts[bucket]
        if seen >= rank:
            return float(BUCKET_RATIO ** bucket) * 1000
    return 0.0


def collect(sources: Sequence[HistorySource], days: int = 90, target: str | None = None,
            now: float | None = None) -> StatusData:
    """Read the figures of the status page from the histories (read-only)."""
    end = time.time() if now is None else now
    first_day = (end // DAY - (days - 1)) * DAY
    dbs = [_connect(s.path) for s in sources]
    try:
        chosen = target or _pick_target(dbs)
        budgets = _budgets()
        endpoints: dict[str, EndpointStatus] = {}
        for source, db in zip(sources, dbs, strict=True):
            for name in ENDPOINTS:
                ids = [int(r[0]) for r in db.execute(
                    "SELECT id FROM series WHERE target=? AND endpoint=? AND method IN "
                    "('GET', 'HEAD')", (chosen, name))]
                if not ids:
                    continue
                ep = endpoints.setdefault(name, EndpointStatus(
                    name, budgets.get(name), [DayFigures() for _ in range(days)]))
                marks = ",".join("?" * len(ids))
                for day, n, ok in db.execute(
                        f"SELECT CAST(t / {DAY} AS INTEGER), count(*), sum(ok) FROM samples "
                        f"WHERE series IN ({marks}) AND t >= ? GROUP BY 1",
                        (*ids, first_day)):
                    index = int(day - first_day // DAY)
                    if 0 <= index < days:
                        ep.days[index].samples += int(n)
                        ep.days[index].ok += int(ok or 0)
                for sid in ids:
                    row = db.execute("SELECT t, ok FROM samples WHERE series=? ORDER BY t DESC "
                                     "LIMIT 1", (sid,)).fetchone()
                    if row and (ep.last_t is None or row[0] > ep.last_t):
                        ep.last_t, ep.last_ok = float(row[0]), bool(row[1])
                per_day: list[dict[int, int]] = [{} for _ in range(days)]
                for hour, bucket, n in db.execute(
                        f"SELECT hour, bucket, n FROM rollup WHERE series IN ({marks}) "
                        "AND hour >= ?", (*ids, int(first_day // 3600))):
                    index = int((hour * 3600 - first_day) // DAY)
                    if 0 <= index < days:
                        per_day[index][int(bucket)] = per_day[index].get(int(bucket), 0) + int(n)
                ep.latency[source.region] = [
                    (_percentile(c, 50), _percentile(c, 95)) if c else None for c in per_day]
                for key, value in db.execute("SELECT key, value FROM state WHERE key LIKE ?",
                                             (f"alert:%:{chosen}:{name}",)):
                    state = json.loads(value).get("state", {})
                    if state.get("status") == "firing":
                        rule = key.split(":")[1]
                        severity = "critical" if rule == "health_down" else "warning"
                        ep.firing.append(f"{severity} {rule} ({source.region})")
        incidents = _incidents(sources, chosen, first_day)
    finally:
        for db in dbs:
            db.close()
    ordered = [endpoints[n] for n in ENDPOINTS if n in endpoints]
    return StatusData(chosen, end, days, first_day, [s.region for s in sources], ordered,
                      incidents)


def _incidents(sources: Sequence[HistorySource], target: str, since: float) -> list[Incident]:
    """Firing events paired with their resolution, from each alert log (JSON lines)."""
    found: dict[tuple[str, str, float], Incident] = {}
    for source in sources:
        if not source.alert_log.is_file():
            continue
        try:
            lines = source.alert_log.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise UsageError(f"alert log {source.alert_log}: {exc.strerror}") from None
        for line in lines:
            try:
                ev = json.loads(line)
                if ev.get("target") != target:
                    continue
                key = (str(ev["rule"]), str(ev["key"]), float(ev["since"]))
                kind = ev["event"]
            except (ValueError, KeyError, TypeError, AttributeError):
                continue  # a torn line of a killed writer
            incident = found.setdefault(key, Incident(
                key[0], str(ev.get("severity", "")), key[1], key[2], None,
                scrub(str(ev.get("message", "")))))
            if kind == "resolved":
                incident.end = float(ev["t"])
    return sorted((i for i in found.values() if (i.end or math.inf) >= since),
                  key=lambda i: i.start, reverse=True)


# -- badges -----------------------------------------------------------------------------------
_BADGE_COLORS = {"operational": "brightgreen", "degraded": "yellow", "down": "red",
                 "unknown": "lightgrey"}
_HEX = {"brightgreen": "#4c1", "yellow": "#dfb317", "red": "#e05d44", "lightgrey": "#9f9f9f"}


def _pct(value: float | None) -> str:
    if value is None:
        return "no data"
    text = f"{value * 100:.2f}".rstrip("0").rstrip(".")
    return f"{text}%"


def badge_json(ep: EndpointStatus, now: float) -> dict[str, Any]:
    """A shields.io endpoint badge: https://shields.io/badges/endpoint-badge."""
    state = ep.status(now)
    word = {"operational": "up", "degraded": "degraded", "down": "down",
            "unknown": "unknown"}[state]
    message = f"{word} · {_pct(ep.availability(BADGE_DAYS))} ({BADGE_DAYS}d)"
    return {"schemaVersion": 1, "label": ep.name, "message": message,
            "color": _BADGE_COLORS[state], "cacheSeconds": 300}


def _text_width(text: str) -> int:
    return int(sum(7.5 if c.isupper() else 4 if c in "il.,:;|· " else 6.5 for c in text)) + 10


def badge_svg(badge: dict[str, Any]) -> str:
    """The badge drawn as a flat SVG (the shields look, no font download)."""
    label, message = html.escape(badge["label"]), html.escape(badge["message"])
    lw, mw = _text_width(badge["label"]), _text_width(badge["message"])
    color = _HEX.get(badge["color"], badge["color"])
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{lw + mw}" height="20" '
            f'role="img" aria-label="{label}: {message}"><title>{label}: {message}</title>'
            f'<rect width="{lw}" height="20" fill="#555"/>'
            f'<rect x="{lw}" width="{mw}" height="20" fill="{color}"/>'
            '<g fill="#fff" text-anchor="middle" font-family="Verdana,DejaVu Sans,sans-serif" '
            f'font-size="11"><text x="{lw / 2}" y="14">{label}</text>'
            f'<text x="{lw + mw / 2}" y="14">{message}</text></g></svg>\n')


# -- the page ---------------------------------------------------------------------------------
def _iso(t: float | None) -> str:
    return "—" if t is None else format_utc(t, "minute")


def _dur(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * DAY:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / DAY:.1f} days"


def _bar_class(a: float | None) -> str:
    if a is None:
        return "nodata"
    return "up" if a >= 0.999 else "partial" if a >= 0.95 else "down"


def _bars(data: StatusData, ep: EndpointStatus) -> str:
    cells = []
    for i, day in enumerate(ep.days):
        when = format_utc(data.first_day + i * DAY, "date")
        a = day.availability
        title = (f"{when}: no data" if a is None else
                 f"{when}: {_pct(a)} of {day.samples} samples")
        cells.append(f'<span class="bar {_bar_class(a)}" data-day="{when}" '
                     f'title="{html.escape(title)}"></span>')
    return f'<div class="bars" data-endpoint="{ep.name}">{"".join(cells)}</div>'


_REGION_COLORS = ("#2563eb", "#ea580c", "#16a34a", "#9333ea", "#0891b2")


def _trend_svg(data: StatusData, ep: EndpointStatus) -> str:
    """Daily p95 (solid) and p50 (dotted) per region, the budget dashed; gaps left open."""
    width, height, left, bottom, top = 900, 180, 50, 24, 12
    values = [v for series in ep.latency.values() for d in series if d for v in d]
    if not values:
        return '<p class="note">No latency data in the window.</p>'
    high = max(values)
    budget = ep.budget_ms
    show_budget = budget is not None and budget <= 2.5 * high
    ymax = max(high, budget if show_budget and budget else 0) * 1.15 or 1.0
    plot_w, plot_h = width - left - 10, height - bottom - top

    def x(i: int) -> float:
        return left + plot_w * (i + 0.5) / data.days

    def y(v: float) -> float:
        return top + plot_h * (1 - v / ymax)

    parts = [f'<svg class="trend" data-endpoint="{ep.name}" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}" role="img" '
             f'aria-label="{ep.name} latency, last {data.days} days">',
             f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#fafafa" '
             'stroke="#d1d5db"/>']
    for frac in (0, 0.5, 1):
        v = ymax * frac
        parts.append(f'<text x="{left - 4}" y="{y(v) + 4:.1f}" text-anchor="end" '
                     f'class="axis">{v:.3g} ms</text>')
    parts.append(f'<text x="{left}" y="{height - 6}" class="axis">'
                 f'{format_utc(data.first_day, "date")}</text>'
                 f'<text x="{left + plot_w}" y="{height - 6}" '
                 f'text-anchor="end" class="axis">{format_utc(data.now, "date")}</text>')
    if budget is not None and show_budget:
        parts.append(f'<line class="budget" x1="{left}" x2="{left + plot_w}" y1="{y(budget):.1f}"'
                     f' y2="{y(budget):.1f}" stroke="#dc2626" stroke-dasharray="6 4"/>'
                     f'<text x="{left + plot_w - 4}" y="{y(budget) - 4:.1f}" text-anchor="end" '
                     f'class="axis budget-label">budget {budget:g} ms</text>')
    elif budget is not None:
        parts.append(f'<text x="{left + plot_w - 4}" y="{top + 14}" text-anchor="end" '
                     f'class="axis budget-label">↑ budget {budget:g} ms, above the scale</text>')
    for r, (region, series) in enumerate(sorted(ep.latency.items())):
        color = _REGION_COLORS[r % len(_REGION_COLORS)]
        for which, dash in ((1, ""), (0, ' stroke-dasharray="2 3"')):
            runs: list[list[str]] = [[]]
            for i, d in enumerate(series):
                if d is None:
                    if runs[-1]:
                        runs.append([])
                    continue
                runs[-1].append(f"{x(i):.1f},{y(d[which]):.1f}")
            for run in runs:
                if len(run) == 1:
                    cx, cy = run[0].split(",")
                    parts.append(f'<circle cx="{cx}" cy="{cy}" r="2" fill="{color}"/>')
                elif run:
                    parts.append(f'<polyline class="series" data-region="{html.escape(region)}" '
                                 f'data-q="{"p95" if which else "p50"}" fill="none" '
                                 f'stroke="{color}" stroke-width="1.5"{dash} '
                                 f'points="{" ".join(run)}"/>')
    parts.append("</svg>")
    legend = " ".join(
        f'<span class="legend" style="color:{_REGION_COLORS[r % len(_REGION_COLORS)]}">'
        f"■ {html.escape(region)}</span>" for r, region in enumerate(sorted(ep.latency)))
    return "".join(parts) + f'<p class="note">p95 solid, p50 dotted, per day (UTC). {legend}</p>'


_STYLE = """
body { font-family: system-ui, sans-serif; color: #111827; margin: 24px auto; max-width: 980px;
  padding: 0 12px; }
h1 { font-size: 26px; margin-bottom: 4px; }
.overall { font-size: 22px; font-weight: 700; padding: 12px 16px; border-radius: 6px; }
.overall.operational { background: #dcfce7; color: #166534; }
.overall.degraded { background: #fef9c3; color: #854d0e; }
.overall.down { background: #fee2e2; color: #991b1b; }
.overall.unknown { background: #f3f4f6; color: #374151; }
.endpoint { border: 1px solid #e5e7eb; border-radius: 6px; padding: 10px 14px; margin: 14px 0; }
.endpoint h2 { font-size: 18px; margin: 0 0 6px; display: flex; gap: 12px; align-items: center; }
.state { font-size: 14px; padding: 2px 8px; border-radius: 4px; }
.state.operational { background: #dcfce7; } .state.degraded { background: #fef9c3; }
.state.down { background: #fee2e2; } .state.unknown { background: #f3f4f6; }
.bars { display: flex; gap: 2px; height: 34px; margin: 6px 0 2px; }
.bar { flex: 1; border-radius: 2px; }
.bar.up { background: #22c55e; } .bar.partial { background: #facc15; }
.bar.down { background: #ef4444; }
.bar.nodata { background: repeating-linear-gradient(45deg, #e5e7eb 0 3px, #f9fafb 3px 6px);
  border: 1px dashed #9ca3af; }
.scale { display: flex; justify-content: space-between; font-size: 12px; color: #4b5563; }
.key span { display: inline-block; width: 10px; height: 10px; margin: 0 4px 0 12px; }
.axis { font-size: 11px; fill: #374151; } .budget-label { fill: #dc2626; }
.note, .legend { font-size: 12px; color: #4b5563; margin-right: 10px; }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
td, th { border: 1px solid #d1d5db; padding: 4px 8px; text-align: left; }
th { background: #f3f4f6; }
.sev-critical { color: #991b1b; font-weight: 700; } .sev-warning { color: #854d0e; }
"""


def render(data: StatusData) -> str:
    """The status page as one self-contained HTML document."""
    esc = html.escape
    overall = data.overall()
    words = {"operational": "All endpoints operational", "degraded": "Degraded performance",
             "down": "Outage", "unknown": "Status unknown (no recent samples)"}
    sections = []
    for ep in data.endpoints:
        state = ep.status(data.now)
        firing = f" — firing: {esc(', '.join(ep.firing))}" if ep.firing else ""
        sections.append(
            f'<section class="endpoint" id="endpoint-{ep.name}">'
            f'<h2>{esc(ep.name)} <span class="state {state}">{state}</span>'
            f'<img class="badge" src="badges/{ep.name}.svg" alt="{esc(ep.name)} badge"></h2>'
            f'<p class="note">last sample {_iso(ep.last_t)}'
            f'{" (failed)" if ep.last_ok is False else ""}{firing} · availability '
            f"{_pct(ep.availability(BADGE_DAYS))} over {BADGE_DAYS} days, "
            f"{_pct(ep.availability(data.days))} over {data.days}</p>"
            f"{_bars(data, ep)}"
            f'<div class="scale"><span>{data.days} days ago</span><span>today</span></div>'
            f"<h3>Latency</h3>{_trend_svg(data, ep)}</section>")
    if not data.endpoints:
        sections.append('<p class="note">History holds no samples of this target.</p>')
    rows = []
    for inc in data.incidents:
        rows.append(f'<tr class="incident" data-rule="{esc(inc.rule)}">'
                    f"<td>{_iso(inc.start)}</td>"
                    f"<td>{_iso(inc.end) if inc.end is not None else 'ongoing'}</td>"
                    f"<td>{_dur(inc.duration(data.now))}</td>"
                    f'<td class="sev-{esc(inc.severity)}">{esc(inc.severity)}</td>'
                    f"<td>{esc(inc.rule)} [{esc(inc.key)}]</td><td>{esc(inc.message)}</td></tr>")
    incidents = (f'<table id="incidents"><thead><tr><th>start</th><th>end</th><th>duration</th>'
                 f"<th>severity</th><th>rule</th><th>what</th></tr></thead>"
                 f"<tbody>{''.join(rows)}</tbody></table>" if rows else
                 '<p id="incidents" class="note">No incidents in the window.</p>')
    regions = ", ".join(data.regions)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>Victory36 status</title><style>{_STYLE}</style></head><body>"
        f"<h1>Victory36 worker status</h1>"
        f'<p class="note">{esc(scrub(data.target))} · generated {_iso(data.now)} · '
        f"regions: {esc(regions)}</p>"
        f'<div class="overall {overall}" id="overall">{words[overall]}</div>'
        '<p class="key note">daily availability: <span class="bar up"></span>≥ 99.9% '
        '<span class="bar partial"></span>≥ 95% <span class="bar down"></span>below '
        '<span class="bar nodata"></span>no data</p>'
        f"{''.join(sections)}<h2>Incidents</h2>{incidents}"
        '<p class="note">Made by <code>synthetics status-page</code> from the checks\' '
        "history; badges in <code>badges/</code>, figures in <code>status.json</code>.</p>"
        "</body></html>\n")


def status_json(data: StatusData) -> dict[str, Any]:
    return {
        "schema": SCHEMA, "generated": _iso(data.now), "target": scrub(data.target),
        "overall": data.overall(), "regions": data.regions, "days": data.days,
        "endpoints": {ep.name: {
            "status": ep.status(data.now), "last_sample": _iso(ep.last_t),
            "last_ok": ep.last_ok, "firing": ep.firing, "budget_ms": ep.budget_ms,
            f"availability_{BADGE_DAYS}d": ep.availability(BADGE_DAYS),
            f"availability_{data.days}d": ep.availability(data.days),
            "daily": [{"date": format_utc(data.first_day + i * DAY, "date"), "samples": d.samples,
                       "availability": d.availability} for i, d in enumerate(ep.days)],
            "latency_ms": {region: [None if d is None else {"p50": round(d[0], 3),
                                                            "p95": round(d[1], 3)}
                                    for d in series]
                           for region, series in ep.latency.items()},
        } for ep in data.endpoints},
        "incidents": [{"rule": i.rule, "severity": i.severity, "key": i.key,
                       "start": _iso(i.start), "end": _iso(i.end) if i.end else None,
                       "duration_seconds": round(i.duration(data.now), 1),
                       "ongoing": i.end is None, "message": i.message}
                      for i in data.incidents],
    }


def write_site(data: StatusData, out: Path) -> list[Path]:
    """Write index.html, status.json and the badges into `out`; returns the files written."""
    badges = out / "badges"
    badges.mkdir(parents=True, exist_ok=True)
    written = []

    def put(path: Path, text: str) -> None:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
        written.append(path)

    for ep in data.endpoints:
        badge = badge_json(ep, data.now)
        put(badges / f"{ep.name}.json", json.dumps(badge) + "\n")
        put(badges / f"{ep.name}.svg", badge_svg(badge))
    put(out / "status.json", json.dumps(status_json(data), indent=1) + "\n")
    put(out / "index.html", render(data))
    return written


# -- the command ------------------------------------------------------------------------------
def add_status_page_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("status-page",
                       help="write a static status page and badges from history (read-only)")
    p.add_argument("--history", action="append", metavar="[REGION=]PATH",
                   help="history database to read; repeat for each region that runs the "
                        "checks (default: $SYNTHETICS_HISTORY or .synthetics/history.sqlite3); "
                        "the alert log alerts.jsonl beside it gives the incidents")
    p.add_argument("--out", required=True, help="folder to write the site into")
    p.add_argument("--days", type=int, default=90, help="days of availability shown (90)")
    p.add_argument("--target", default=None,
                   help="which target of the history (default: the latest run's, a real "
                        "worker before the built-in one)")
    p.set_defaults(func=status_page_command)


def status_page_command(args: argparse.Namespace) -> int:
    raw = args.history or [os.environ.get("SYNTHETICS_HISTORY")
                           or ".synthetics/history.sqlite3"]
    try:
        if not 1 <= args.days <= 366:
            raise UsageError("--days must be between 1 and 366")
        sources = [parse_source(v, len(raw) > 1) for v in raw]
        if len({s.region for s in sources}) != len(sources):
            raise UsageError("two --history files have the same region: name them REGION=PATH")
        data = collect(sources, args.days, args.target)
        out = Path(args.out)
        if out.exists() and not out.is_dir():
            raise UsageError(f"--out {out}: exists and is not a folder")
        try:
            write_site(data, out)
        except OSError as exc:
            raise UsageError(f"--out {out}: {exc.strerror or exc}") from None
    except UsageError as exc:
        print(f"synthetics status-page: {scrub(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    print(f"status page for {scrub(data.target)} written to {out / 'index.html'} "
          f"({len(data.endpoints)} endpoint(s), {len(data.incidents)} incident(s), "
          f"overall {data.overall()})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="synthetics status-page")
    sub = parser.add_subparsers(dest="command", required=True)
    add_status_page_parser(sub)
    args = parser.parse_args(["status-page", *(sys.argv[1:] if argv is None else argv)])
    return int(args.func(args))
