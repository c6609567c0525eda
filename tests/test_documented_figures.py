"""The figures the docs quote about the error-rate checks (how many share the false-alarm budget,
the per-check alpha, the failure threshold, the power) follow the table of targets and the
default settings: adding a domain or a row changes them, and this test names each stale one."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from synthetics.expectations import EXPECTATIONS, fail_alpha
from synthetics.rates import FIVE_XX
from synthetics.settings import OPTIONS
from synthetics.stats import binom_sf, detection_power, failure_threshold

ROOT = Path(__file__).resolve().parent.parent
DOCSTRING = ROOT / "checks" / "test_error_rate.py"
#: The 5xx rate the power requirement is stated for ("a 3% 5xx rate on one endpoint").
BROKEN_RATE = 0.03


def _default(name: str) -> float:
    return float(next(o.default for o in OPTIONS if o.name == name))


def _texts() -> dict[Path, str]:
    """The error-rate checks' docstring and every Markdown page that may quote the figures."""
    paths = [DOCSTRING, ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    return {p: " ".join(p.read_text(encoding="utf-8").split()) for p in paths if p.exists()}


def _same(quoted: str, value: float) -> bool:
    """`quoted` is `value` to the significant digits it was written with."""
    digits = len(re.sub(r"e.*|^0\.0*|\.", "", quoted.lower()))
    return float(quoted) == float(f"{value:.{max(digits, 1)}g}")


@pytest.fixture(scope="module")
def figures() -> dict[str, float]:
    checks = sum(1 for t in EXPECTATIONS if t.failure is not None)
    budget = _default("false_alarm_budget")
    n = int(_default("error_samples"))
    target = next(t.threshold for t in EXPECTATIONS if t.failure is FIVE_XX)
    assert target is not None
    alpha = fail_alpha(budget)
    k = failure_threshold(n, target, alpha)
    return {"checks": checks, "budget": budget, "n": n, "alpha": alpha, "k": k,
            "false_alarm": binom_sf(k, n, target), "one_fewer": binom_sf(k - 1, n, target),
            "power": detection_power(n, target, BROKEN_RATE, alpha),
            "k_400": failure_threshold(400, target, alpha),
            "power_400": detection_power(400, target, BROKEN_RATE, alpha)}


def test_the_error_rate_docstring_quotes_the_figures_of_the_table(
        figures: dict[str, float]) -> None:
    text = _texts()[DOCSTRING]
    m = re.search(r"(\d+) error-rate checks share a ([\d.]+)% budget", text)
    assert m, "checks/test_error_rate.py no longer says how many checks share the budget"
    assert int(m.group(1)) == figures["checks"], "the number of error-rate checks is stale"
    assert float(m.group(2)) / 100 == figures["budget"]
    m = re.search(r"alpha = ([\d.]+) / (\d+) = ([\d.e-]+)", text)
    assert m and float(m.group(1)) == figures["budget"]
    assert int(m.group(2)) == figures["checks"] and _same(m.group(3), figures["alpha"])
    m = re.search(r"P\(Bin\((\d+), [\d.]+\) >= (\d+)\) = ([\d.e-]+) <= [\d.e-]+ but "
                  r"P\(>= (\d+)\) = ([\d.e-]+)", text)
    assert m and int(m.group(1)) == figures["n"] and int(m.group(2)) == figures["k"]
    assert _same(m.group(3), figures["false_alarm"]) and int(m.group(4)) == figures["k"] - 1
    assert _same(m.group(5), figures["one_fewer"])
    assert f"fails from {figures['k']:g} failures on" in text
    m = re.search(r"P\(X >= (\d+)\) = ([\d.]+) >= 0.99", text)
    assert m and int(m.group(1)) == figures["k"] and _same(m.group(2), figures["power"])
    m = re.search(r"At n = 400 the threshold is (\d+) and the power ([\d.]+)", text)
    assert m and int(m.group(1)) == figures["k_400"] and _same(m.group(2), figures["power_400"])


def test_the_docs_quote_the_same_count_and_power(figures: dict[str, float]) -> None:
    """Wherever the README or docs/ quote the count, the split or the power, it is current."""
    checks = int(figures["checks"])
    for path, text in _texts().items():
        where = path.relative_to(ROOT)
        for count in re.findall(r"(\d+) (?:synthetic )?error-rate checks", text):
            assert int(count) == checks, f"{where}: '{count} error-rate checks'"
        for count in re.findall(r"0\.001 / (\d+)", text):
            assert int(count) == checks, f"{where}: '0.001 / {count}'"
        for more, count in re.findall(r"up to (\d+)/(\d+) of the budget", text):
            assert (int(more), int(count)) == (checks + 1, checks), f"{where}: {more}/{count}"
        for power in re.findall(r"on one endpoint in ([\d.]+)% of runs", text):
            assert _same(power, figures["power"] * 100), f"{where}: power {power}%"
