"""The statistics behind the verdicts, against known values and scipy's implementations."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from scipy import stats as sps

from synthetics.expectations import EXPECTATIONS, REAL_TRAFFIC_CHECKS, fail_alpha
from synthetics.stats import (
    MIN_PER_CELL,
    balance_test,
    binom_cdf,
    binom_sf,
    clopper_pearson,
    detection_power,
    failure_threshold,
    judge_rate,
    percentile,
    samples_to_show_balanced,
    samples_to_show_holds,
)


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
    with pytest.raises(ValueError, match="^percentile of no values$"):
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
    checks = sum(1 for t in EXPECTATIONS
                 if t.area == "error_rate" and t.check not in REAL_TRAFFIC_CHECKS)
    assert checks == 8
    # the opt-in real-traffic row is an error-rate check, but does not change the split
    assert {t.check for t in EXPECTATIONS if t.area == "error_rate"} - {
        "test_error_rate_5xx", "test_error_rate_timeouts", "test_error_rate_dns_failures"} \
        == REAL_TRAFFIC_CHECKS
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


def test_balance_never_fails_fewer_values_than_it_was_calibrated_for() -> None:
    """30 values over 200 sectors with 5 in one: chi2 303 is over the line the approximation
    draws (300), but at 0.15 values per sector collisions like this come from an even source
    about once in 1,300 runs; below MIN_PER_CELL per sector the test does not fail. At the
    calibrated density (2.5 per sector) the same line applies again."""
    sparse = balance_test([0] * 5 + list(range(1, 26)), 200, 0.05, 5e-6)
    assert sparse.chi2 > 300 and sparse.verdict == "insufficient"
    assert "too few values to show an imbalance" in sparse.describe()
    assert "2.5 per sector, 500 in all" in sparse.describe()
    dense = balance_test([0] * 60 + list(range(1, 200)) * 2 + list(range(1, 43)), 200, 0.05,
                         5e-6)
    assert dense.samples == 500 == MIN_PER_CELL * 200 and dense.verdict == "fail"


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


def test_percentile_never_falls_when_a_value_grows() -> None:
    """To the last bit: the sequential latency verdict stops on this promise. The textbook
    low + (high - low) * fraction comes out an ulp lower for about one in fifty of these."""
    rng = random.Random(14)
    for _ in range(20_000):
        values = [rng.uniform(0.0, 500.0) for _ in range(rng.randint(2, 9))]
        q = rng.choice([50.0, 90.0, 95.0, 99.0, rng.uniform(0.0, 100.0)])
        before = percentile(values, q)
        i = rng.randrange(len(values))
        values[i] = math.nextafter(values[i], math.inf)
        assert percentile(values, q) >= before, (values, q)
        values[i] = math.inf
        assert percentile(values, q) >= before, (values, q)


def test_rate_verdicts_describe_the_figures_they_rest_on() -> None:
    assert judge_rate(15, 500, 0.001, 1.25e-4, 0.05).describe("5xx") == (
        "15/500 5xx (3.000%): the rate is above the 0.100% target with confidence "
        "(lower bound 0.954%)")
    assert judge_rate(0, 5000, 0.001, 1.25e-4, 0.05).describe("5xx") == (
        "0/5000 5xx (0.000%): shown below the 0.100% target (upper bound 0.060%)")
    assert judge_rate(0, 500, 0.001, 1.25e-4, 0.05).describe("5xx") == (
        "0/500 5xx (0.000%): insufficient evidence: 2495 more clean samples needed to show "
        "< 0.100% (upper bound now 0.597%)")
    assert judge_rate(0, 0, 0.001, 1e-4, 0.05).rate == 0.0


def test_balance_verdicts_describe_the_figures_they_rest_on() -> None:
    rng = random.Random(1)
    even = balance_test([rng.randrange(200) for _ in range(20_000)], 200, 0.05, 0.001)
    assert even.describe() == (
        "20000 values over 200 sectors: imbalance (CV of shares, noise removed) ≈ 0.0% ± 3%, "
        "chi2 166.3 < 180.1: shown within the 5% tolerance")
    coarse = balance_test([rng.randrange(200) for _ in range(500)], 200, 0.05, 0.001)
    assert coarse.describe() == (
        "500 values over 200 sectors: imbalance (CV of shares, noise removed) ≈ 0.0% ± 20%, "
        "chi2 192.8: insufficient evidence: not shown above the 5% tolerance (that needs chi2 > "
        "268.1), nor within it (chi2 < 143.9); more samples resolve finer imbalance")
    skewed = balance_test([rng.randrange(100) for _ in range(500)], 200, 0.05, 0.001)
    assert skewed.describe() == (
        "500 values over 200 sectors: imbalance (CV of shares, noise removed) ≈ 105.2% ± 20%, "
        "chi2 752.8 > 268.1: shown above the 5% tolerance")
    assert skewed.resolution == pytest.approx(((2 * 199) ** 0.5 / 500) ** 0.5)


@pytest.mark.parametrize("a", [0.5, 1.0, 2.5, 10.0, 99.5, 600.0])
@pytest.mark.parametrize("ratio", [0.0, 0.01, 0.5, 0.9, 1.0, 1.1, 2.0, 5.0])
def test_regularized_gamma_matches_scipy(a: float, ratio: float) -> None:
    """Both of its branches: the series below a + 1, the continued fraction above."""
    from synthetics.stats import _gamma_p

    x = a * ratio
    assert _gamma_p(a, x) == pytest.approx(sps.gamma.cdf(x, a), rel=1e-9, abs=1e-15)


@pytest.mark.parametrize(("df", "nc"), [(1, 0.0), (4, 0.0), (4, 0.1), (4, 12.5), (9, 1.25),
                                        (199, 12.5), (199, 50.0), (199, 2500.0)])
@pytest.mark.parametrize("where", [0.001, 0.05, 0.5, 0.95, 0.999])
def test_noncentral_chi2_cdf_matches_scipy(df: int, nc: float, where: float) -> None:
    from synthetics.stats import _noncentral_chi2_cdf

    exact = sps.ncx2 if nc > 0 else None
    x = exact.ppf(where, df, nc) if exact else sps.chi2.ppf(where, df)
    expected = exact.cdf(x, df, nc) if exact else sps.chi2.cdf(x, df)
    assert _noncentral_chi2_cdf(x, df, nc) == pytest.approx(expected, rel=1e-9, abs=1e-15)
    assert _noncentral_chi2_cdf(0.0, df, nc) == 0.0


def test_binomial_tails_at_their_edges() -> None:
    assert binom_cdf(-1, 10, 0.5) == 0.0 and binom_cdf(10, 10, 0.3) == 1.0
    assert binom_cdf(11, 10, 0.3) == 1.0
    assert binom_sf(0, 10, 0.5) == 1.0 and binom_sf(11, 10, 0.5) == 0.0
    assert binom_sf(10, 10, 0.5) == pytest.approx(0.5**10, rel=1e-12)


@pytest.mark.parametrize(("k", "n", "p"), [(60, 1000, 0.01), (40, 1000, 0.2), (2, 1000, 0.1),
                                            (900, 1000, 0.5), (5, 50, 0.9)])
def test_binomial_deep_tails_keep_their_relative_precision(k: int, n: int, p: float) -> None:
    """Far in a tail, summing from the wrong side would return 1 - (1 - tiny) = 0."""
    assert binom_cdf(k, n, p) == pytest.approx(sps.binom.cdf(k, n, p), rel=1e-9, abs=0)
    assert binom_sf(k, n, p) == pytest.approx(sps.binom.sf(k - 1, n, p), rel=1e-9, abs=0)


def test_clopper_pearson_edges() -> None:
    assert clopper_pearson(0, 0, 0.05) == (0.0, 1.0)
    assert clopper_pearson(0, 500, 0.05)[0] == 0.0  # exactly: no failure, no lower bound
    assert clopper_pearson(500, 500, 0.05)[1] == 1.0
    lower, upper = clopper_pearson(1, 1, 0.05)
    assert lower == pytest.approx(0.05, rel=1e-9) and upper == 1.0
    lower, upper = clopper_pearson(0, 1, 0.05)
    assert lower == 0.0 and upper == pytest.approx(0.95, rel=1e-9)
    with pytest.raises(ValueError, match=r"^count 6 outside \[0, 5\]$"):
        clopper_pearson(6, 5, 0.05)
    with pytest.raises(ValueError, match="outside"):
        clopper_pearson(-1, 5, 0.05)


def test_judge_rate_returns_every_figure() -> None:
    from synthetics.stats import RateVerdict

    lower, _ = clopper_pearson(15, 500, 1.25e-4)
    _, upper = clopper_pearson(15, 500, 0.05)
    assert judge_rate(15, 500, 0.001, 1.25e-4, 0.05) == RateVerdict(
        15, 500, 0.001, lower, upper, "fail", 0)
    lower, _ = clopper_pearson(0, 5000, 1.25e-4)
    _, upper = clopper_pearson(0, 5000, 0.05)
    assert judge_rate(0, 5000, 0.001, 1.25e-4, 0.05) == RateVerdict(
        0, 5000, 0.001, lower, upper, "pass", 0)
    more = samples_to_show_holds(0, 500, 0.001, 0.05)
    lower, _ = clopper_pearson(0, 500, 1.25e-4)
    _, upper = clopper_pearson(0, 500, 0.05)
    assert judge_rate(0, 500, 0.001, 1.25e-4, 0.05) == RateVerdict(
        0, 500, 0.001, lower, upper, "insufficient", more)
    # one sample decides when the target is far enough from it
    assert judge_rate(1, 1, 0.001, 0.01, 0.05).verdict == "fail"
    assert judge_rate(0, 1, 0.99, 0.01, 0.05).verdict == "pass"


def test_samples_to_show_holds_is_the_smallest_sufficient_count() -> None:
    assert samples_to_show_holds(0, 5000, 0.001, 0.05) == 0
    for failures, samples in ((0, 0), (0, 1), (0, 200), (2, 500), (5, 100)):
        more = samples_to_show_holds(failures, samples, 0.01, 0.05)
        assert more > 0
        assert clopper_pearson(failures, samples + more, 0.05)[1] < 0.01
        assert clopper_pearson(failures, samples + more - 1, 0.05)[1] >= 0.01
    assert samples_to_show_holds(0, 0, 0.5, 0.05) == 5  # 0.05 ** (1 / 5) < 0.5 < 0.05 ** 0.25
    assert samples_to_show_holds(0, 5, 0.42, 0.05) == 1  # 1 - 0.05 ** (1/6) < 0.42: one more
    # beyond any run: it gives up at the first doubling past 10**12
    assert samples_to_show_holds(0, 0, 1e-12, 0.05) == 2**40


def test_failure_threshold_is_the_smallest_failing_count() -> None:
    for samples, target, alpha in ((500, 0.001, 1.25e-4), (100, 0.05, 0.01), (20, 0.2, 0.05),
                                   (3, 0.5, 0.2), (1000, 0.0001, 1e-3)):
        k = failure_threshold(samples, target, alpha)
        assert judge_rate(k, samples, target, alpha, 0.05).verdict == "fail"
        assert judge_rate(k - 1, samples, target, alpha, 0.05).verdict != "fail"
    assert failure_threshold(3, 0.5, 1e-6) == 4  # nothing can fail it: one more than samples
    assert failure_threshold(10, 0.01, 0.1) == 1  # P(X >= 1) = 0.096 <= 0.1: one fails it
    assert detection_power(3, 0.5, 0.9, 1e-6) == 0.0


def test_balance_of_nothing() -> None:
    from synthetics.stats import BalanceResult

    assert balance_test([], 5, 0.05, 0.001) == BalanceResult(
        0, 5, 0.0, 0.0, float("inf"), 0.0, 0.05, 0)
    only_out = balance_test([7, 8], 5, 0.05, 0.001)
    assert only_out.out_of_range == 2 and only_out.verdict == "fail"


def test_binomial_pmf_at_a_certain_rate() -> None:
    from synthetics.stats import _log_pmf

    assert _log_pmf(0, 5, 0.0) == 0.0 and _log_pmf(1, 5, 0.0) == -math.inf
    assert _log_pmf(5, 5, 1.0) == 0.0 and _log_pmf(4, 5, 1.0) == -math.inf


@pytest.mark.parametrize("cells, tolerance, alpha, probability, expected", [
    (2, 3.0, 0.1, 0.5, 1), (2, 1.5, 0.1, 0.5, 2), (2, 1.2, 0.1, 0.5, 3), (2, 1.0, 0.1, 0.5, 4),
    (2, 0.8, 0.1, 0.5, 6), (3, 1.0, 0.05, 0.5, 7), (5, 0.5, 0.01, 0.9, 89),
    (20, 0.3, 1e-3, 0.9, 513), (50, 0.1, 1e-4, 0.99, 9537)])
def test_samples_to_show_balanced_is_the_first_count_whose_pass_line_clears_an_even_spread(
        cells: int, tolerance: float, alpha: float, probability: float, expected: int) -> None:
    """From scipy, not from synthetics.stats: at the count, the alpha quantile of the tolerated
    imbalance's non-central chi-square (the pass line) is above the `probability` quantile of
    an even spread's central one; one value fewer, it is not (or no values at all)."""
    def line(n: int) -> float:
        return float(sps.ncx2.ppf(alpha, cells - 1, n * tolerance**2))

    even = sps.chi2.ppf(probability, cells - 1)
    n = samples_to_show_balanced(cells, tolerance, alpha, probability)
    assert n == expected and type(n) is int  # a count: the decidability table prints it
    assert line(n) > even and (n == 1 or line(n - 1) <= even)


def test_samples_to_show_balanced_needs_a_positive_tolerance_over_two_cells() -> None:
    assert samples_to_show_balanced(2, 1e-3, 0.1, 0.5) > 1
    for cells, tolerance in ((1, 1.0), (2, 0.0), (2, -1.0), (0, 1.0)):
        with pytest.raises(ValueError, match=r"^an even spread is shown only against a positive "
                                             r"tolerance, over 2\+ cells$"):
            samples_to_show_balanced(cells, tolerance, 0.1, 0.5)
