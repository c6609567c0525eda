"""The HTML report's plots, drawn as inline SVG: each latency check's sample distribution beside
its phase breakdown, and the latency trend from history.

The report needs two kinds of chart and nothing more, so they are drawn here rather than by a
plotting library: laying out and writing both takes about a millisecond, where importing and
running matplotlib cost about a second of every run's time to verdict. The SVG sits in the HTML
as it is (the single file can still be mailed), scales with the page, and its text can be
searched and copied.

A plot is first laid out as a `Figure` of `Panel`s in data coordinates (axis limits, ticks, bars,
lines, notes and legend), which is what the tests inspect; `Figure.svg()` draws it.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from synthetics.clock import format_utc
from synthetics.probe import PHASES
from synthetics.stats import percentile

__all__ = ["Bar", "Figure", "Line", "Note", "Panel", "latency_figure", "latency_plot",
           "nice_ticks", "time_ticks", "trend_figure", "trend_plot", "version_changes"]

FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"
INK, GRID = "#374151", "#e5e7eb"
#: Dash patterns of the line styles (matplotlib's names, which the tests and docs use).
DASHES = {"-": "", "--": "6 4", "-.": "6 3 1.5 3", ":": "1.5 3"}
#: Pixels a character of a `size` px sans-serif font takes, on average: boxes are sized by it.
CHAR_WIDTH = 0.6


@dataclass(frozen=True)
class Line:
    """A polyline in data coordinates. `rule` "x" draws a vertical line across the panel at
    `xs[0]` (ys ignored), "y" a horizontal one at `ys[0]`."""

    xs: tuple[float, ...]
    ys: tuple[float, ...]
    color: str
    style: str = "-"
    marker: str = ""
    width: float = 1.0
    label: str = ""
    rule: str = ""


@dataclass(frozen=True)
class Bar:
    """A filled rectangle in data coordinates (a histogram bin, a segment of a stacked bar)."""

    x0: float
    x1: float
    y0: float
    y1: float
    color: str
    edge: str = ""
    label: str = ""


@dataclass(frozen=True)
class Note:
    """Text at (x, y) in axes fractions (0 to 1; `x` in data units when `data_x`), one line
    per newline. `anchor` is start, middle or end; `boxed` draws a rounded box around it."""

    text: str
    x: float
    y: float
    color: str = INK
    anchor: str = "middle"
    size: float = 11.0
    bold: bool = False
    boxed: bool = False
    vertical: bool = False
    data_x: bool = False


@dataclass
class Panel:
    """One set of axes: limits, ticks (value, label) and what is drawn in them."""

    title: str = ""
    xlabel: str = ""
    ylabel: str = ""
    xlim: tuple[float, float] = (0.0, 1.0)
    ylim: tuple[float, float] = (0.0, 1.0)
    xticks: list[tuple[float, str]] = field(default_factory=list)
    yticks: list[tuple[float, str]] = field(default_factory=list)
    bars: list[Bar] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    legend_at: str = "upper right"
    legend_columns: int = 1
    ygrid: bool = True

    def legend(self) -> list[Line | Bar]:
        """What the legend lists: each labelled mark once, in drawing order."""
        seen: dict[str, Line | Bar] = {}
        marks: list[Line | Bar] = [*self.bars, *self.lines]
        for mark in marks:
            if mark.label and mark.label not in seen:
                seen[mark.label] = mark
        return list(seen.values())

    def texts(self) -> list[str]:
        return [note.text for note in self.notes]


@dataclass
class Figure:
    """Panels side by side, with their relative widths, in a `width` x `height` px drawing."""

    width: int
    height: int
    panels: list[Panel]
    weights: list[float]
    label: str

    def svg(self) -> str:
        """The figure as one `<svg>` element, sized to its container's width."""
        out = [f'<svg class="synthetics-plot" xmlns="http://www.w3.org/2000/svg" role="img" '
               f'viewBox="0 0 {self.width} {self.height}" width="{self.width}" '
               f'height="{self.height}" font-family="{_esc(FONT)}" font-size="11" '
               f'style="max-width:100%;height:auto;background:#fff">'
               f"<title>{_esc(self.label)}</title>"]
        total = sum(self.weights)
        left = 0.0
        for panel, weight in zip(self.panels, self.weights, strict=True):
            share = self.width * weight / total
            out.append(_draw_panel(panel, left, share, self.height))
            left += share
        out.append("</svg>")
        return "".join(out)


# --- ticks -------------------------------------------------------------------------------------

def nice_ticks(low: float, high: float, most: int = 6, integer: bool = False,
               ) -> list[tuple[float, str]]:
    """As many ticks as fit in `most` at round values (1, 2, 2.5 or 5 times a power of ten)
    within [low, high], each labelled with as many decimals as its step needs; whole numbers
    only when `integer`."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return []
    if not high > low:
        return [(low, f"{low:g}")]
    most = max(most, 2)
    exponent = math.floor(math.log10((high - low) / (most - 1))) - 1
    while True:
        for mantissa in (1, 2, 2.5, 5):
            step = mantissa * 10.0 ** exponent
            if integer and (step < 1 or mantissa == 2.5 and exponent == 0):
                continue
            first = math.ceil(low / step - 1e-9)
            last = math.floor(high / step + 1e-9)
            if last - first + 1 <= most:
                decimals = max(0, (1 if mantissa == 2.5 else 0) - exponent)
                return [(i * step, _label(i * step, decimals)) for i in range(first, last + 1)]
        exponent += 1


def _label(value: float, decimals: int) -> str:
    text = f"{value:.{decimals}f}"
    return "0" if float(text) == 0 else text


#: Steps of a time axis, in seconds: the first that gives at most 8 ticks is used.
TIME_STEPS = (60, 300, 600, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 2 * 86400, 7 * 86400,
              14 * 86400, 28 * 86400, 56 * 86400)


def time_ticks(start: float, end: float, most: int = 8) -> list[tuple[float, str]]:
    """Ticks for a UTC time axis from `start` to `end` (epoch seconds), on whole steps of UTC:
    a date at midnight ("Dec 01"), else the time of day ("06:00")."""
    span = max(end - start, 1.0)
    step = next((s for s in TIME_STEPS if span / s <= most), TIME_STEPS[-1])
    first = math.ceil(start / step) * step
    ticks = []
    t = float(first)
    while t <= end + 1e-6:
        ticks.append((t, format_utc(t, "day" if t % 86400 == 0 else "time")))
        t += step
    return ticks


# --- drawing -----------------------------------------------------------------------------------

MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 58.0, 14.0, 26.0, 40.0


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _f(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _text_width(text: str, size: float) -> float:
    return max((len(line) for line in text.split("\n")), default=0) * size * CHAR_WIDTH


def _draw_panel(panel: Panel, left: float, width: float, height: float) -> str:
    x0, y0 = left + MARGIN_LEFT, MARGIN_TOP
    w = max(width - MARGIN_LEFT - MARGIN_RIGHT, 1.0)
    h = max(height - MARGIN_TOP - MARGIN_BOTTOM, 1.0)
    (xlo, xhi), (ylo, yhi) = panel.xlim, panel.ylim
    xspan, yspan = (xhi - xlo) or 1.0, (yhi - ylo) or 1.0

    def px(x: float) -> float:
        return (x - xlo) / xspan * w

    def py(y: float) -> float:
        return h - (y - ylo) / yspan * h

    out = [f'<text x="{_f(x0 + w / 2)}" y="16" text-anchor="middle" font-size="13" '
           f'fill="{INK}">{_esc(panel.title)}</text>']
    for value, label in panel.yticks:  # grid and labels outside the clipped area
        y = y0 + py(value)
        if panel.ygrid:
            out.append(f'<line x1="{_f(x0)}" x2="{_f(x0 + w)}" y1="{_f(y)}" y2="{_f(y)}" '
                       f'stroke="{GRID}"/>')
        out.append(f'<text x="{_f(x0 - 5)}" y="{_f(y + 4)}" text-anchor="end" '
                   f'fill="{INK}">{_esc(label)}</text>')
    for value, label in panel.xticks:
        x = x0 + px(value)
        out.append(f'<line x1="{_f(x)}" x2="{_f(x)}" y1="{_f(y0 + h)}" y2="{_f(y0 + h + 4)}" '
                   f'stroke="{INK}"/><text x="{_f(x)}" y="{_f(y0 + h + 16)}" '
                   f'text-anchor="middle" fill="{INK}">{_esc(label)}</text>')
    out.append(f'<text x="{_f(x0 + w / 2)}" y="{_f(height - 6)}" text-anchor="middle" '
               f'fill="{INK}">{_esc(panel.xlabel)}</text>')
    if panel.ylabel:
        out.append(f'<text transform="translate({_f(left + 14)} {_f(y0 + h / 2)}) rotate(-90)" '
                   f'text-anchor="middle" fill="{INK}">{_esc(panel.ylabel)}</text>')
    # the plotting area: a nested viewport, which clips whatever falls outside the limits
    out.append(f'<svg x="{_f(x0)}" y="{_f(y0)}" width="{_f(w)}" height="{_f(h)}" '
               f'overflow="hidden">')
    for bar in panel.bars:
        left_x, right_x = sorted((px(bar.x0), px(bar.x1)))
        top_y, bottom_y = sorted((py(bar.y1), py(bar.y0)))
        edge = f' stroke="{bar.edge}" stroke-width="0.5"' if bar.edge else ""
        out.append(f'<rect x="{_f(left_x)}" y="{_f(top_y)}" width="{_f(right_x - left_x)}" '
                   f'height="{_f(bottom_y - top_y)}" fill="{bar.color}"{edge}/>')
    for line in panel.lines:
        out.append(_draw_line(line, px, py, w, h))
    out.append("</svg>")
    out.append(f'<rect x="{_f(x0)}" y="{_f(y0)}" width="{_f(w)}" height="{_f(h)}" '
               f'fill="none" stroke="{INK}" stroke-width="0.8"/>')
    for note in panel.notes:
        x = x0 + (px(note.x) if note.data_x else note.x * w)
        out.append(_draw_note(note, x, y0 + (1 - note.y) * h))
    out.append(_draw_legend(panel, x0, y0, w, h))
    return "".join(out)


def _stroke(color: str, style: str, width: float) -> str:
    dash = DASHES.get(style, "")
    return (f'stroke="{color}" stroke-width="{_f(width)}" fill="none"'
            + (f' stroke-dasharray="{dash}"' if dash else ""))


def _marker(kind: str, x: float, y: float, color: str, size: float = 3.0) -> str:
    if kind == "o":
        return f'<circle cx="{_f(x)}" cy="{_f(y)}" r="{_f(size)}" fill="{color}"/>'
    if kind == "s":
        return (f'<rect x="{_f(x - size)}" y="{_f(y - size)}" width="{_f(2 * size)}" '
                f'height="{_f(2 * size)}" fill="{color}"/>')
    points = {"^": ((0, -1.2), (1.1, 0.9), (-1.1, 0.9)),
              "D": ((0, -1.3), (1.3, 0), (0, 1.3), (-1.3, 0))}.get(kind)
    if points is None:
        return ""
    corners = " ".join(f"{_f(x + dx * size)},{_f(y + dy * size)}" for dx, dy in points)
    return f'<polygon points="{corners}" fill="{color}"/>'


def _draw_line(line: Line, px: Any, py: Any, w: float, h: float) -> str:
    stroke = _stroke(line.color, line.style, line.width)
    if line.rule == "x":
        x = px(line.xs[0])
        return f'<line x1="{_f(x)}" x2="{_f(x)}" y1="0" y2="{_f(h)}" {stroke}/>'
    if line.rule == "y":
        y = py(line.ys[0])
        return f'<line x1="0" x2="{_f(w)}" y1="{_f(y)}" y2="{_f(y)}" {stroke}/>'
    points = [(px(x), py(y)) for x, y in zip(line.xs, line.ys, strict=True)]
    drawn = []
    if len(points) > 1 and line.style:
        path = " ".join(f"{_f(x)},{_f(y)}" for x, y in points)
        drawn.append(f'<polyline points="{path}" {stroke} stroke-opacity="0.85"/>')
    drawn.extend(_marker(line.marker, x, y, line.color) for x, y in points)
    return "".join(drawn)


def _draw_note(note: Note, x: float, y: float) -> str:
    lines = note.text.split("\n")
    weight = ' font-weight="bold"' if note.bold else ""
    if note.vertical:  # reads upwards from (x, y), just left of a vertical rule
        return (f'<text transform="translate({_f(x - 3)} {_f(y)}) rotate(-90)" '
                f'text-anchor="{note.anchor}" font-size="{_f(note.size)}" '
                f'fill="{note.color}"{weight}>{_esc(note.text)}</text>')
    leading = note.size * 1.25
    top = y - leading * (len(lines) - 1) / 2  # the block is centred on y
    out = []
    if note.boxed:
        width, pad = _text_width(note.text, note.size), 5.0
        left = {"start": x, "end": x - width}.get(note.anchor, x - width / 2)
        box_h = leading * len(lines) + 2 * pad - 2
        out.append(f'<rect x="{_f(left - pad)}" y="{_f(top - note.size - pad + 2)}" '
                   f'width="{_f(width + 2 * pad)}" height="{_f(box_h)}" rx="5" fill="#fff" '
                   f'stroke="{note.color}"/>')
    spans = "".join(f'<tspan x="{_f(x)}" y="{_f(top + i * leading)}">{_esc(text)}</tspan>'
                    for i, text in enumerate(lines))
    out.append(f'<text text-anchor="{note.anchor}" font-size="{_f(note.size)}" '
               f'fill="{note.color}"{weight}>{spans}</text>')
    return "".join(out)


def _draw_legend(panel: Panel, x0: float, y0: float, w: float, h: float) -> str:
    entries = panel.legend()
    if not entries:
        return ""
    size, row, swatch = 10.0, 15.0, 22.0
    columns = max(1, min(panel.legend_columns, len(entries)))
    rows = math.ceil(len(entries) / columns)
    cell = swatch + 6 + max(_text_width(e.label, size) for e in entries) + 10
    box_w, box_h = cell * columns + 6, rows * row + 8
    left = x0 + 6 if panel.legend_at.endswith("left") else x0 + w - box_w - 6
    top = y0 + 6 if panel.legend_at.startswith("upper") else y0 + h - box_h - 6
    out = [f'<rect x="{_f(left)}" y="{_f(top)}" width="{_f(box_w)}" height="{_f(box_h)}" '
           f'rx="3" fill="#fff" fill-opacity="0.85" stroke="#d1d5db"/>']
    for i, entry in enumerate(entries):
        cx = left + 6 + (i % columns) * cell
        cy = top + 4 + (i // columns) * row + row / 2
        if isinstance(entry, Bar):
            out.append(f'<rect x="{_f(cx)}" y="{_f(cy - 5)}" width="{_f(swatch)}" height="10" '
                       f'fill="{entry.color}"'
                       + (f' stroke="{entry.edge}" stroke-width="0.5"' if entry.edge else "")
                       + "/>")
        else:
            out.append(f'<line x1="{_f(cx)}" x2="{_f(cx + swatch)}" y1="{_f(cy)}" '
                       f'y2="{_f(cy)}" {_stroke(entry.color, entry.style or "-", entry.width)}/>'
                       + _marker(entry.marker, cx + swatch / 2, cy, entry.color))
        out.append(f'<text x="{_f(cx + swatch + 6)}" y="{_f(cy + 3.5)}" font-size="{_f(size)}" '
                   f'fill="{INK}">{_esc(entry.label)}</text>')
    return "".join(out)


# --- the report's two plots --------------------------------------------------------------------

PHASE_COLORS = {"connect": "#6366f1", "tls": "#a855f7", "send": "#f59e0b",
                "wait": "#10b981", "receive": "#3b82f6"}
TREND_STYLES = (("#2563eb", "o", "-"), ("#16a34a", "s", "--"), ("#ea580c", "^", "-."),
                ("#9333ea", "D", ":"))


def _finite(values: Any) -> list[float]:
    """The numbers among `values` that can be drawn: a None, NaN or infinity is left out."""
    out = []
    for value in values:
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        if math.isfinite(number):
            out.append(number)
    return out


def _off_scale(budget: float, data_max: float) -> bool:
    """A budget so far above the data that drawing it would squash the data into a sliver."""
    return data_max > 0 and budget > 2.5 * data_max


def histogram(values: Sequence[float], bins: int, least: float = 0.0,
              ) -> list[tuple[float, float, int]]:
    """(left, right, count) of equal bins from the smallest value up: `bins` of them over the
    values' range, fewer when that would make a bin narrower than `least` (a few samples close
    together on a wide axis stay visible; values closer than `least` share one bin centred on
    them). The last bin holds its right edge."""
    low, high = min(values), max(values)
    if least > 0 and high - low < least:  # one bin, centred on the values
        middle = (low + high) / 2
        return [(middle - least / 2, middle + least / 2, len(values))]
    width = max((high - low) / bins, least)
    if width <= 0:  # equal values and no least width: one narrow bin around them
        width = max(abs(low) * 0.01, 0.005)
        return [(low - width / 2, low + width / 2, len(values))]
    count = max(1, min(bins, math.ceil((high - low) / width - 1e-9)))
    counts = [0] * count
    for value in values:
        counts[min(int((value - low) / width), count - 1)] += 1
    edges = [low + i * width for i in range(count + 1)]
    edges[-1] = max(edges[-1], high)  # rounding must not leave the largest value outside
    return [(edges[i], edges[i + 1], n) for i, n in enumerate(counts)]


def latency_plot(name: str, record: dict[str, Any]) -> Figure:
    """One latency check's samples: their distribution with the budget and the percentile drawn
    on it, and beside it the phase breakdown at p50 and at the percentile.

    The axis is scaled to the samples; a budget far above them (or far below) is not drawn to
    scale but named by an arrow at the edge ("budget 200 ms →"), so the distribution stays
    legible."""
    times = _finite(record.get("times_ms") or [])
    budget = next(iter(_finite([record.get("budget_ms")])), 0.0)
    q = float(record.get("percentile") or 95.0)
    dist = Panel(title=f"{name}: {len(times)} samples", xlabel="response time (ms)",
                 ylabel="samples")
    data_max = max(times) if times else 0.0
    off_scale = bool(times) and _off_scale(budget, data_max)
    below_scale = bool(times) and 0 < budget * 2.5 < min(times, default=0.0)
    if times:
        low = min(times) if below_scale else min(min(times), budget)
        high = data_max if off_scale else max(data_max, budget)
        pad = max((high - low) * 0.08, high * 0.02, 0.01)
        dist.xlim = (max(0.0, low - pad), high + pad)
        bins = histogram(times, min(40, max(5, len(times) // 3)),
                         least=(dist.xlim[1] - dist.xlim[0]) / 80)
        dist.bars = [Bar(a, b, 0, n, "#93c5fd", "#1d4ed8") for a, b, n in bins if n]
        top = max(n for _, _, n in bins)
        dist.ylim = (0.0, top * 1.15)
        dist.yticks = nice_ticks(0, top * 1.15, 5, integer=True)
        for value in _finite([record.get("value_ms")]):
            dist.lines.append(Line((value,), (0.0,), "#1f2937", ":", width=1.5,
                                   label=f"p{q:g} {value:.1f} ms", rule="x"))
    else:
        dist.notes.append(Note("no sample got a response", 0.5, 0.5))
        dist.xlim = (0.0, budget * 1.1 if budget > 0 else 1.0)
    dist.xticks = nice_ticks(*dist.xlim, 7)
    if off_scale or below_scale:
        text = (f"budget {budget:g} ms →\n(off scale, {budget / data_max:.0f}x the slowest)"
                if off_scale else f"← budget {budget:g} ms\n(off scale, below every sample)")
        dist.notes.append(Note(text, 0.98 if off_scale else 0.02, 0.72, "#dc2626",
                               "end" if off_scale else "start", 10, bold=True, boxed=True))
    elif budget > 0:
        dist.lines.append(Line((budget,), (0.0,), "#dc2626", "--", width=2,
                               label=f"budget {budget:g} ms", rule="x"))
    phases = _phase_panel(record, q)
    return Figure(900, 300, [dist, phases], [3, 2], f"latency of {name}")


def _phase_panel(record: dict[str, Any], q: float) -> Panel:
    """Stacked bars: the median of each phase at p50, and its percentile at p`q`."""
    panel = Panel(title="phase breakdown", xlabel="ms, by phase", legend_at="lower right",
                  legend_columns=3, ygrid=False)
    rows = ("p50", f"p{q:g}")
    ends = [0.0, 0.0]
    for phase in PHASES:
        values = _finite((record.get("phases_ms") or {}).get(phase) or [])
        if not values:
            continue
        for row, level in enumerate((50.0, q)):
            width = percentile(values, level)
            panel.bars.append(Bar(ends[row], ends[row] + width, row + 0.7, row + 1.3,
                                  PHASE_COLORS[phase], label=phase))
            ends[row] += width
    high = max(ends) * 1.05 or 1.0
    panel.xlim, panel.ylim = (0.0, high), (0.0, 3.2)  # room at the bottom for the legend
    panel.xticks = nice_ticks(0.0, high, 5)
    panel.yticks = [(row + 1.0, label) for row, label in enumerate(rows)]
    return panel


def latency_figure(name: str, record: dict[str, Any]) -> str:
    """`latency_plot` as inline SVG."""
    return latency_plot(name, record).svg()


def version_changes(versions: Sequence[tuple[float, str]]) -> list[tuple[float, str, str]]:
    """(when, from, to) for each run whose health document's version differs from the run
    before it; `versions` is (started, version), oldest first."""
    changes = []
    for (_, before), (t, after) in zip(versions, versions[1:], strict=False):
        if after != before:
            changes.append((t, before, after))
    return changes


def trend_plot(series: dict[str, list[tuple[float, float]]], budgets: dict[str, float],
               days: float, q: float, now: float,
               versions: Sequence[tuple[float, str]] = ()) -> Figure:
    """Each endpoint's latency percentile per hour over the last `days` days, with its budget
    as a dashed line of the same colour. `series` maps an endpoint to (epoch seconds, ms)
    points.

    The x-axis is the window itself (`now - days` to `now`, epoch seconds), whatever the points
    cover; each endpoint has its own colour, marker and line style, so endpoints with equal
    values stay distinguishable. A budget far above every point is named at the top edge
    instead of stretching the axis. Each change of the health document's `version` (`versions`:
    (run start, version), oldest first) is a vertical line labelled with the new version, so a
    latency step lines up with the deploy that caused it."""
    start = now - days * 86400
    ax = Panel(title=f"latency p{q:g} per hour, last {days:g} days", xlabel="UTC", ylabel="ms",
               xlim=(start, now), legend_at="upper left", legend_columns=2)
    series = {endpoint: [(t, v) for t, v in points
                         if len(_finite((t, v))) == 2] for endpoint, points in series.items()}
    values = [v for points in series.values() for _, v in points]
    data_max = max(values) if values else 0.0
    above: list[str] = []
    drawn_budgets: list[float] = []
    for i, (endpoint, points) in enumerate(sorted(series.items())):
        color, marker, style = TREND_STYLES[i % len(TREND_STYLES)]
        ax.lines.append(Line(tuple(t for t, _ in points), tuple(v for _, v in points), color,
                             style, marker, label=f"{endpoint} p{q:g}"))
        budget = budgets.get(endpoint)
        if budget is None:
            continue
        if _off_scale(budget, data_max):
            above.append(f"{endpoint} budget {budget:g} ms")
        else:
            drawn_budgets.append(budget)
            ax.lines.append(Line((start,), (budget,), color, "--",
                                 label=f"{endpoint} budget {budget:g} ms", rule="y"))
    for when, _, after in version_changes(versions):
        if when < start:
            continue
        ax.lines.append(Line((when,), (0.0,), "#6b7280", ":", rule="x"))
        ax.notes.append(Note(f"version {after}", when, 0.03, "#374151", "start", 9,
                             vertical=True, data_x=True))
    if above:
        ax.notes.append(Note("↑ above the scale: " + ", ".join(above), 0.98, 0.92, "#dc2626",
                             "end", 10, boxed=True))
    high = max([data_max, *drawn_budgets]) * 1.2 if values else 1.0
    ax.ylim = (0.0, high or 1.0)
    ax.yticks = nice_ticks(0.0, ax.ylim[1], 6)
    ax.xticks = time_ticks(start, now)
    return Figure(900, 340, [ax], [1], f"latency p{q:g} trend, last {days:g} days")


def trend_figure(series: dict[str, list[tuple[float, float]]], budgets: dict[str, float],
                 days: float, q: float, now: float,
                 versions: Sequence[tuple[float, str]] = ()) -> str:
    """`trend_plot` as inline SVG."""
    return trend_plot(series, budgets, days, q, now, versions).svg()
