"""The SVG plots' building blocks (synthetics.reporting.plots): ticks, bins and the drawing.
What each of the report's plots shows is tested in tests/test_report.py."""

from __future__ import annotations

import random
from xml.etree import ElementTree

import pytest

from synthetics.reporting.plots import (
    Bar,
    Figure,
    Line,
    Note,
    Panel,
    histogram,
    latency_plot,
    nice_ticks,
    time_ticks,
    trend_plot,
)

SVG = "{http://www.w3.org/2000/svg}"


@pytest.mark.parametrize(("low", "high", "most", "labels"), [
    (0, 1.8, 6, ["0", "0.5", "1.0", "1.5"]),
    (0, 0.3, 5, ["0", "0.1", "0.2", "0.3"]),
    (0, 10.35, 5, ["0", "2.5", "5.0", "7.5", "10.0"]),
    (140, 260, 7, ["140", "160", "180", "200", "220", "240", "260"]),
    (0, 9, 5, ["0", "2", "4", "6", "8"]),
    (0, 9, 4, ["0", "2.5", "5.0", "7.5"]),
    (0, 123_456, 6, ["0", "25000", "50000", "75000", "100000"]),
    (0.9, 1.6, 7, ["1.0", "1.2", "1.4", "1.6"]),
])
def test_nice_ticks_are_round_and_labelled_to_their_step(low: float, high: float, most: int,
                                                         labels: list[str]) -> None:
    ticks = nice_ticks(low, high, most)
    assert [label for _, label in ticks] == labels
    assert all(low - 1e-9 <= value <= high + 1e-9 for value, _ in ticks)


def test_nice_ticks_hold_for_any_range() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        low = rng.uniform(-1000, 1000) * 10 ** rng.randint(-4, 3)
        high = low + rng.uniform(1e-6, 1) * 10 ** rng.randint(-3, 5)
        most = rng.randint(3, 9)
        ticks = nice_ticks(low, high, most)
        values = [v for v, _ in ticks]
        assert (2 if most >= 5 else 1) <= len(ticks) <= most, (low, high, most, ticks)
        assert values == sorted(values) and len(set(label for _, label in ticks)) == len(ticks)
        assert all(low - 1e-9 * abs(high) <= v <= high + 1e-9 * abs(high) for v in values)


def test_integer_ticks_are_whole_numbers() -> None:
    assert [label for _, label in nice_ticks(0, 2.3, 6, integer=True)] == ["0", "1", "2"]
    assert [label for _, label in nice_ticks(0, 9, 4, integer=True)] == ["0", "5"]
    assert nice_ticks(0, float("inf")) == [] and nice_ticks(float("nan"), 1) == []


def test_time_ticks_fall_on_whole_utc_steps_within_the_window() -> None:
    now = 1_800_000_000.0  # 2027-01-15 08:00 UTC
    week = time_ticks(now - 7 * 86400, now)
    assert [label for _, label in week] == [f"Jan {d:02d}" for d in range(9, 16)]
    assert all(t % 86400 == 0 for t, _ in week)
    day = time_ticks(now - 86400, now)
    assert all(t % (3 * 3600) == 0 and now - 86400 <= t <= now for t, _ in day)
    assert "Jan 15" in [label for _, label in day] and "06:00" in [label for _, label in day]


def test_histogram_counts_every_value_once() -> None:
    rng = random.Random(3)
    for _ in range(300):
        values = [rng.uniform(0, 100) ** rng.choice((1, 2)) for _ in range(rng.randint(1, 60))]
        least = rng.choice((0.0, 0.5, 50.0))
        bins = histogram(values, 10, least)
        assert sum(n for _, _, n in bins) == len(values)
        assert 1 <= len(bins) <= 10
        assert bins[0][0] <= min(values) and max(values) <= bins[-1][1]
        if max(values) > min(values):
            assert all(right - left >= least - 1e-9 for left, right, _ in bins)
    # a few close samples on a wide axis: bins at least `least` wide, so they stay visible
    assert histogram([250.5, 251.3], 5, 0.75) == [(250.5, 251.25, 1), (251.25, 252.0, 1)]
    assert histogram([3.0, 3.0], 5) == [(2.985, 3.015, 2)]
    assert histogram([10.0], 5, 0.5) == [(9.75, 10.25, 1)]  # centred on a lone sample
    assert histogram([10.0, 10.2], 5, 0.5) == [(9.85, 10.35, 2)]


def test_svg_is_well_formed_and_escapes_its_text() -> None:
    panel = Panel(title="<b>&title", xlim=(0, 10), ylim=(0, 5),
                  xticks=nice_ticks(0, 10), yticks=nice_ticks(0, 5),
                  bars=[Bar(1, 2, 0, 3, "#93c5fd", "#1d4ed8", label="a & b")],
                  lines=[Line((0, 5, 10), (1, 4, 2), "#2563eb", "--", "o", label='"q"'),
                         Line((7,), (0,), "#dc2626", ":", rule="x")],
                  notes=[Note("line one\nline <two>", 0.5, 0.5, boxed=True),
                         Note('version <1>&"', 7, 0.1, anchor="start", vertical=True,
                              data_x=True)])
    svg = ElementTree.fromstring(Figure(900, 300, [panel], [1], "a <plot>").svg())
    text = "".join(svg.itertext())
    for expected in ("<b>&title", "a & b", '"q"', "line one", "line <two>", 'version <1>&"',
                     "a <plot>"):
        assert expected in text
    assert len(svg.findall(f".//{SVG}polyline")) == 1
    assert len(svg.findall(f".//{SVG}circle")) == 4  # three points and the legend's swatch
    assert svg.get("viewBox") == "0 0 900 300"


def test_numbers_that_cannot_be_drawn_are_left_out() -> None:
    """A NaN or infinite time, budget, percentile, phase or trend point is not drawn (and
    writes no "nan" into the SVG); the rest of the plot is."""
    nan, inf = float("nan"), float("inf")
    record = {"times_ms": [10.0, nan, 12.0, inf, None], "budget_ms": nan, "value_ms": inf,
              "percentile": 95.0, "phases_ms": {"wait": [1.0, nan, 2.0], "connect": [inf]}}
    fig = latency_plot("x", record)
    dist, phases = fig.panels
    assert sum(int(bar.y1) for bar in dist.bars) == 2
    assert not dist.lines and not any("budget" in t for t in dist.texts())
    assert [bar.label for bar in phases.bars] == ["wait", "wait"]
    trend = trend_plot({"health": [(100.0, nan), (200.0, 5.0), (inf, 1.0)]}, {"health": 50.0},
                       1, 95, now=3600.0)
    assert [line.xs for line in trend.panels[0].lines if line.label == "health p95"] == [(200.0,)]
    for svg in (fig.svg(), trend.svg()):
        ElementTree.fromstring(svg)
        assert "nan" not in svg and "inf" not in svg


def test_a_plot_without_samples_still_shows_its_budget() -> None:
    dist = latency_plot("x", {"times_ms": [], "budget_ms": 200.0}).panels[0]
    assert dist.xlim == (0.0, pytest.approx(220.0))
    assert [line.label for line in dist.lines] == ["budget 200 ms"]
    assert dist.texts() == ["no sample got a response"]
