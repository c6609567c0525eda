"""The one table of targets: the README shows it, the checks are parametrized from it, and every
test id carries its area word and its subject."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from synthetics import expectations

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_readme_shows_the_targets_table() -> None:
    match = re.search(r"<!-- targets:begin -->\n(.*?)<!-- targets:end -->", README, re.S)
    assert match, "README.md lost its targets markers"
    assert match.group(1) == expectations.markdown_table(), (
        "README's table of targets is out of step: paste `synthetics targets` between the markers"
    )


def test_every_target_row_has_a_check_and_every_check_has_rows(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess(str(ROOT / "checks"), "--collect-only", "-q",
                                           "-p", "no:cacheprovider")
    collected = {line.split("::")[-1] for line in result.stdout.lines if "::" in line}
    expected = {f"{t.check}[{t.subject}]" for t in expectations.EXPECTATIONS}
    assert collected == expected


@pytest.mark.parametrize("target", expectations.EXPECTATIONS,
                         ids=lambda t: f"{t.check}[{t.subject}]")
def test_ids_carry_area_and_subject(target: expectations.Expectation) -> None:
    assert target.area in expectations.AREAS
    assert f"_{target.area}_" in f"{target.check}_"
    assert target.source, "every target says where it is documented"
    if target.area in ("latency", "error_rate"):
        assert target.threshold is not None and target.unit


def test_every_documented_threshold_is_a_target() -> None:
    """Each number of the document's Key Metrics appears as a target threshold (a percentage
    as a share of 1)."""
    thresholds = {(t.area, t.subject, t.threshold) for t in expectations.EXPECTATIONS}
    for row in [("latency", "health", 200.0), ("latency", "orchestrate", 500.0),
                ("latency", "dns", 100.0), ("error_rate", "health", 0.001),
                ("error_rate", "health", 0.0005), ("capacity", "register", 0.99),
                ("capacity", "dns", 0.05), ("capacity", "memory", 0.8)]:
        assert row in thresholds
    for domain in expectations.MCP_DOMAINS:
        assert ("error_rate", domain, 0.0001) in thresholds
        assert ("dns", domain, None) in thresholds


def test_a_statement_is_worded_from_its_threshold() -> None:
    """The number is written once, in its unit; the statement's text is made from it."""
    Row = expectations.Expectation
    latency = Row("test_latency_within_budget", "health", "p95 < {threshold}", "doc", 250.0, "ms")
    assert (latency.statement, latency.threshold_text) == ("p95 < 250 ms", "250 ms")
    rate = Row("test_error_rate_5xx", "health", "5xx < {threshold}", "doc", 0.001, "share")
    assert rate.statement == "5xx < 0.1%"
    with pytest.raises(ValueError, match="threshold"):  # the number written into the text
        Row("test_latency_within_budget", "health", "p95 < 200 ms", "doc", 200.0, "ms")
    with pytest.raises(ValueError, match="threshold"):  # a placeholder without a number
        Row("test_latency_within_budget", "health", "p95 < {threshold}", "doc")
    with pytest.raises(ValueError, match="unit"):
        Row("test_latency_within_budget", "health", "p95 < {threshold}", "doc", 0.1, "%")
    for row in expectations.EXPECTATIONS:
        if row.threshold is not None:
            assert row.threshold_text in row.statement
