"""The statistics behind the verdicts, against known values and scipy's implementations."""

from __future__ import annotations

import random

import numpy as np
import pytest
from scipy import stats as sps

from synthetics.rates import fail_alpha
from synthetics.stats import (
    balance_test,
    binom_cdf,
    binom_sf,
    clopper_pearson,
    detection_power,
    failure_threshold,
    judge_rate,
    percentile,
    samples_to_show_holds,
)
from synthetics.targets import TARGETS


def test_percentile_matches_linear_interpolation() -> None:
    values = [15, 20, 35, 40, 50]
    assert percentile(values, 0) == 15
    assert percentile(values, 100) == 50
    assert percentile(values, 50) == 35
    assert percentile(values, 40) == pytest.approx(29.0)  # numpy.percentile(values, 40)
    assert percentile(values, 95) == pytest.approx(48.0)
    assert percentile([7.0], 95) == 7.0


def test_percentile_of_unsorted_values_and_bad_input() -> None:
    assert percentile([3, 1, 2], 50) == 2
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)
    with pytest.raises(ValueError, match="within"):
        percentile([1], 101)


@pytest.mark.parametrize(("k", "n", "p"), [
    (0, 10, 0.1), (3, 10, 0.5), (5, 500, 0.001), (6, 500, 0.03), (250, 500, 0.5),
    (1000, 1_000_000, 0.001), (999, 1000, 0.999), (0, 1, 0.0), (1, 1, 1.0),
])
def test_binomial_tails_match_scipy(k: int, n: int, p: float) -> None:
    assert binom_cdf(k, n, p) == pytest.approx(sps.binom.cdf(k, n, p), rel=1e-9, abs=1e-15)
    assert binom_sf(k, n, p) == pytest.approx(sps.binom.sf(k - 1, n, p), rel=1e-9, abs=1e-15)


@pytest.mark.parametrize(("x", "n", "alpha"), [
    (0, 500, 0.05), (3, 500, 1e-4), (15, 500, 0.05), (500, 500, 0.05), (1, 10, 0.025),
    (5000, 10_000_000, 0.05),
])
def test_clopper_pearson_matches_beta_quantiles(x: int, n: int, alpha: float) -> None:
    lower, upper = clopper_pearson(x, n, alpha)
    expected_lower = 0.0 if x == 0 else sps.beta.ppf(alpha, x, n - x + 1)
    expected_upper = 1.0 if x == n else sps.beta.ppf(1 - alpha, x + 1, n - x)
    assert lower == pytest.approx(expected_lower, rel=1e-6, abs=1e-12)
    assert upper == pytest.approx(expected_upper, rel=1e-6, abs=1e-12)


def test_judge_rate_three_verdicts() -> None:
    assert judge_rate(15, 500, 0.001, 1.25e-4, 0.05).verdict == "fail"
    assert judge_rate(0, 5000, 0.001, 1.25e-4, 0.05).verdict == "pass"
    insufficient = judge_rate(0, 500, 0.001, 1.25e-4, 0.05)
    assert insufficient.verdict == "insufficient"
    assert insufficient.more_needed == samples_to_show_holds(0, 500, 0.001, 0.05)
    # 500 + more_needed clean samples is exactly enough, one fewer is not.
    total = 500 + insufficient.more_needed
    assert clopper_pearson(0, total, 0.05)[1] < 0.001 <= clopper_pearson(0, total - 1, 0.05)[1]
    assert "insufficient evidence: 2495 more clean samples needed" in insufficient.describe("5xx")


def test_no_samples_is_insufficient_not_a_crash() -> None:
    verdict = judge_rate(0, 0, 0.001, 1e-4, 0.05)
    assert verdict.verdict == "insufficient" and verdict.more_needed > 0


def test_default_sample_count_meets_the_power_and_false_alarm_requirements() -> None:
    """The arithmetic in checks/test_error_rate.py: 500 samples, alpha = 0.001 / 8."""
    checks = sum(1 for t in TARGETS if t.area == "error_rate")
    assert checks == 8
    alpha = fail_alpha(0.001)
    assert alpha == pytest.approx(1.25e-4)
    n = 500
    threshold = failure_threshold(n, 0.001, alpha)
    assert threshold == 6
    # A healthy endpoint at the 0.1% target itself fails a check with probability <= alpha,
    # so all 8 checks together raise a false alarm in at most 0.1% of runs.
    assert sps.binom.sf(threshold - 1, n, 0.001) <= alpha < sps.binom.sf(threshold - 2, n, 0.001)
    assert checks * sps.binom.sf(threshold - 1, n, 0.001) <= 0.001
    # A 3% 5xx rate on one endpoint is caught in at least 99% of runs.
    power = detection_power(n, 0.001, 0.03, alpha)
    assert power == pytest.approx(sps.binom.sf(threshold - 1, n, 0.03))
    assert power >= 0.99
    # 400 would pass too, but with little margin: why the default is 500.
    assert 0.99 < detection_power(400, 0.001, 0.03, alpha) < power


def test_false_alarm_rate_by_simulation() -> None:
    """Simulated healthy runs at the target rate itself fail no more often than alpha says."""
    alpha = 0.01  # a loose alpha so that a feasible number of runs can see it
    counts = np.random.default_rng(7).binomial(500, 0.001, size=200_000)
    verdicts = {int(c): judge_rate(int(c), 500, 0.001, alpha, 0.05).verdict for c in set(counts)}
    fails = sum(verdicts[int(c)] == "fail" for c in counts)
    assert 0 < fails / len(counts) <= alpha


def test_balance_passes_uniform_and_fails_skew() -> None:
    rng = random.Random(1)
    even = balance_test([rng.randrange(200) for _ in range(20_000)], 200, 0.05, 0.001)
    assert even.verdict == "pass" and even.cv_estimate < 0.05
    coarse = balance_test([rng.randrange(200) for _ in range(500)], 200, 0.05, 0.001)
    assert coarse.verdict == "insufficient"
    skewed = balance_test([rng.randrange(100) for _ in range(500)], 200, 0.05, 0.001)
    assert skewed.verdict == "fail" and skewed.cv_estimate > 0.5
    out = balance_test([0, 1, 200], 200, 0.05, 0.001)
    assert out.verdict == "fail" and "outside [0, 200)" in out.describe()


def test_balance_noise_correction_recovers_a_known_imbalance() -> None:
    """Half the sectors twice as likely as the other half: CV of shares = 1/3."""
    rng = random.Random(3)
    weights = [2 if i < 100 else 1 for i in range(200)]
    values = rng.choices(range(200), weights=weights, k=200_000)
    result = balance_test(values, 200, 0.05, 0.001)
    assert result.cv_estimate == pytest.approx(1 / 3, rel=0.05)
    assert result.verdict == "fail"


@pytest.mark.parametrize(("cells", "per_cell"), [(5, 10), (5, 1000), (10, 50), (200, 25)])
def test_balance_critical_values_match_noncentral_chi2(cells: int, per_cell: int) -> None:
    """k cells leave k - 1 degrees of freedom: at 5 cells one more or fewer moves the critical
    values by 5% or more, far outside this tolerance."""
    result = balance_test(list(range(cells)) * per_cell, cells, 0.05, 0.001)
    nc = cells * per_cell * 0.05**2
    assert result.critical == pytest.approx(sps.ncx2.ppf(0.999, cells - 1, nc), rel=1e-6)
    assert result.critical_low == pytest.approx(sps.ncx2.ppf(0.001, cells - 1, nc), rel=1e-6)


def test_balance_statistic_and_noise_corrected_cv() -> None:
    counts = [30, 10, 20, 20, 20]  # 100 values over 5 cells, 20 expected in each
    values = [cell for cell, count in enumerate(counts) for _ in range(count)]
    result = balance_test([*values, 5, -1], 5, 0.05, 0.001)
    assert (result.samples, result.cells, result.out_of_range) == (102, 5, 2)
    assert result.chi2 == pytest.approx(sps.chisquare(counts).statistic)
    assert result.cv_estimate == pytest.approx(((10.0 - 4) / 100) ** 0.5)
    assert result.verdict == "fail" and "2 of 102 values outside [0, 5)" in result.describe()
    nothing = balance_test([], 5, 0.05, 0.001)
    assert nothing.verdict != "pass" and nothing.resolution == float("inf")


def test_default_registration_samples_can_show_the_target_holds() -> None:
    from synthetics.settings import OPTIONS

    default = next(o.default for o in OPTIONS if o.name == "registration_samples")
    assert judge_rate(0, default, 0.01, 1.25e-4, 0.05).verdict == "pass"
    assert judge_rate(0, 200, 0.01, 1.25e-4, 0.05).verdict == "insufficient"


def test_percentile_with_infinite_values() -> None:
    inf = float("inf")
    assert percentile([1.0, 2.0, inf], 50) == 2.0
    assert percentile([1.0, 2.0, inf], 100) == inf
    assert percentile([1.0, inf, inf], 75) == inf
    assert percentile([1.0, 2.0, 3.0, inf], 50) == 2.5
