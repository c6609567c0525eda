"""Statistics behind the verdicts: percentiles, exact binomial bounds, and the sector-balance test.

Everything here is pure Python on the standard library so that a check's verdict never depends on
an optional package. Rates are judged with Clopper–Pearson bounds computed from exact binomial
tails; the sector balance is judged with a chi-square statistic against a *tolerated* imbalance
(a non-central chi-square null), so that sampling noise alone never fails the check.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "BalanceResult",
    "RateVerdict",
    "balance_test",
    "binom_sf",
    "binom_cdf",
    "clopper_pearson",
    "detection_power",
    "failure_threshold",
    "judge_rate",
    "percentile",
    "samples_to_show_balanced",
    "samples_to_show_holds",
]


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0–100) with linear interpolation between order statistics.

    The same definition as numpy's default (Hyndman–Fan type 7), so figures agree with what a
    user computes from the raw data in a notebook. It never falls when a value grows, to the
    last bit: the sequential latency verdict (`synthetics.latency.percentile_bounds`) stops
    sampling on that promise.
    """
    if not values:
        raise ValueError("percentile of no values")
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile must be within [0, 100], got {q}")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100.0
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    fraction = position - low
    if fraction == 0:
        return ordered[low]
    if math.isinf(ordered[high]):
        return ordered[high]  # not inf - inf = nan
    # A weighted sum, not low + (high - low) * fraction: rounded, that form can come out an ulp
    # lower when `low` grows; each term here is rounded on its own, so neither can fall.
    return ordered[low] * (1.0 - fraction) + ordered[high] * fraction


def _log_pmf(k: int, n: int, p: float) -> float:
    if p <= 0.0:
        return 0.0 if k == 0 else -math.inf
    if p >= 1.0:
        return 0.0 if k == n else -math.inf
    return (
        math.lgamma(n + 1)
        - math.lgamma(k + 1)
        - math.lgamma(n - k + 1)
        + k * math.log(p)
        + (n - k) * math.log1p(-p)
    )


def _sum_away_from(k: int, n: int, p: float, step: int) -> float:
    """Sum the pmf from k outwards (step -1 or +1) until the terms stop mattering.

    Called only on the side of the mode where the terms shrink, so the loop ends after a few
    standard deviations' worth of terms even for n in the millions.
    """
    total = 0.0
    log_first = _log_pmf(k, n, p)
    if log_first == -math.inf:
        return 0.0
    i = k
    while 0 <= i <= n:
        term = math.exp(_log_pmf(i, n, p) - log_first)
        total += term
        if term < 1e-17 * total:
            break
        i += step
    return math.exp(log_first) * total


def binom_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p)."""
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    mode = math.floor((n + 1) * p)
    if k < mode:
        return min(1.0, _sum_away_from(k, n, p, -1))
    return max(0.0, 1.0 - _sum_away_from(k + 1, n, p, +1))


def binom_sf(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p)."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    mode = math.floor((n + 1) * p)
    if k > mode:
        return min(1.0, _sum_away_from(k, n, p, +1))
    return max(0.0, 1.0 - _sum_away_from(k - 1, n, p, -1))


def _bisect(predicate_is_low: object, lo: float = 0.0, hi: float = 1.0) -> float:
    assert callable(predicate_is_low)
    for _ in range(200):
        mid = (lo + hi) / 2
        if predicate_is_low(mid):
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-15:
            break
    return (lo + hi) / 2


def clopper_pearson(x: int, n: int, alpha: float) -> tuple[float, float]:
    """One-sided Clopper–Pearson bounds: (lower, upper), each at confidence 1 - alpha.

    lower is the smallest p with P(X >= x | p) > alpha; upper the largest p with
    P(X <= x | p) > alpha. Exact and conservative: the true rate lies below `upper` (or above
    `lower`) with probability at least 1 - alpha, whatever n is.
    """
    if n <= 0:
        return 0.0, 1.0
    if not 0 <= x <= n:
        raise ValueError(f"count {x} outside [0, {n}]")
    lower = 0.0 if x == 0 else _bisect(lambda p: binom_sf(x, n, p) <= alpha)
    upper = 1.0 if x == n else _bisect(lambda p: binom_cdf(x, n, p) > alpha)
    return lower, upper


@dataclass(frozen=True)
class RateVerdict:
    """The outcome of judging an observed rate against a target rate."""

    failures: int
    samples: int
    target: float
    lower: float
    upper: float
    verdict: str  # "fail" | "pass" | "insufficient"
    more_needed: int  # clean samples still needed to show the target holds (0 unless insufficient)

    @property
    def rate(self) -> float:
        return self.failures / self.samples if self.samples else 0.0

    def describe(self, what: str) -> str:
        observed = f"{self.failures}/{self.samples} {what} ({self.rate:.3%})"
        if self.verdict == "fail":
            return (
                f"{observed}: the rate is above the {self.target:.3%} target with confidence "
                f"(lower bound {self.lower:.3%})"
            )
        if self.verdict == "pass":
            return (f"{observed}: shown below the {self.target:.3%} target "
                    f"(upper bound {self.upper:.3%})")
        return (
            f"{observed}: insufficient evidence: {self.more_needed} more clean samples needed "
            f"to show < {self.target:.3%} (upper bound now {self.upper:.3%})"
        )


def samples_to_show_holds(failures: int, samples: int, target: float, alpha: float) -> int:
    """How many more failure-free samples would bring the upper bound below `target`."""
    _, upper = clopper_pearson(failures, samples, alpha)
    if upper < target:
        return 0
    # The upper bound shrinks monotonically with n at fixed x: exponential then binary search.
    step = 1
    while clopper_pearson(failures, samples + step, alpha)[1] >= target:
        step *= 2
        if step > 10**12:
            return step
    lo, hi = step // 2, step
    while lo + 1 < hi:
        mid = (lo + hi) // 2
        if clopper_pearson(failures, samples + mid, alpha)[1] < target:
            hi = mid
        else:
            lo = mid
    return hi


def judge_rate(
    failures: int, samples: int, target: float, fail_alpha: float, pass_alpha: float
) -> RateVerdict:
    """Judge `failures` out of `samples` against the target rate `target`.

    fail   the data show the rate is above target: the exact one-sided lower bound at
           1 - fail_alpha exceeds it (a healthy target fails with probability <= fail_alpha);
    pass   the data show it holds: the upper bound at 1 - pass_alpha is below the target;
    insufficient   neither: the report says how many more clean samples would settle it.
    """
    lower, _ = clopper_pearson(failures, samples, fail_alpha)
    _, upper = clopper_pearson(failures, samples, pass_alpha)
    if samples > 0 and lower > target:
        return RateVerdict(failures, samples, target, lower, upper, "fail", 0)
    if samples > 0 and upper < target:
        return RateVerdict(failures, samples, target, lower, upper, "pass", 0)
    more = samples_to_show_holds(failures, samples, target, pass_alpha)
    return RateVerdict(failures, samples, target, lower, upper, "insufficient", more)


def failure_threshold(samples: int, target: float, fail_alpha: float) -> int:
    """The smallest failure count that makes `judge_rate` fail at this sample size."""
    k = math.floor(samples * target) + 1
    while k <= samples and binom_sf(k, samples, target) > fail_alpha:
        k += 1
    return k


def detection_power(samples: int, target: float, true_rate: float, fail_alpha: float) -> float:
    """Probability that `judge_rate` fails a target whose true failure rate is `true_rate`."""
    return binom_sf(failure_threshold(samples, target, fail_alpha), samples, true_rate)


@dataclass(frozen=True)
class BalanceResult:
    """Chi-square test of how evenly values spread over `cells` equally likely cells."""

    samples: int
    cells: int
    chi2: float
    cv_estimate: float  # coefficient of variation of cell shares, sampling noise removed
    critical: float  # chi2 above this shows the imbalance exceeds the tolerance
    critical_low: float  # chi2 below this shows the imbalance is within the tolerance
    tolerance: float
    out_of_range: int

    @property
    def imbalanced(self) -> bool:
        return self.out_of_range > 0 or self.chi2 > self.critical

    @property
    def verdict(self) -> str:
        """fail (shown above the tolerance), pass (shown within it) or insufficient."""
        if self.imbalanced:
            return "fail"
        return "pass" if self.chi2 < self.critical_low else "insufficient"

    @property
    def resolution(self) -> float:
        """The smallest imbalance (CV) this many samples can tell from noise, roughly."""
        inside = self.samples - self.out_of_range
        return math.sqrt(math.sqrt(2 * (self.cells - 1)) / inside) if inside else math.inf

    def describe(self) -> str:
        if self.out_of_range:
            return f"{self.out_of_range} of {self.samples} values outside [0, {self.cells})"
        head = (
            f"{self.samples} values over {self.cells} sectors: imbalance (CV of shares, noise "
            f"removed) ≈ {self.cv_estimate:.1%} ± {self.resolution:.0%}, chi2 {self.chi2:.1f}"
        )
        if self.verdict == "fail":
            return f"{head} > {self.critical:.1f}: shown above the {self.tolerance:.0%} tolerance"
        if self.verdict == "pass":
            return (f"{head} < {self.critical_low:.1f}: shown within the "
                    f"{self.tolerance:.0%} tolerance")
        if math.isinf(self.critical):
            return (f"{head}: insufficient evidence: too few values to show an imbalance (the "
                    f"test needs {MIN_PER_CELL:g} per sector, {MIN_PER_CELL * self.cells:,.0f} "
                    f"in all), nor shown within the {self.tolerance:.0%} tolerance (chi2 < "
                    f"{self.critical_low:.1f})")
        return (f"{head}: insufficient evidence: not shown above the {self.tolerance:.0%} "
                f"tolerance (that needs chi2 > {self.critical:.1f}), nor within it (chi2 < "
                f"{self.critical_low:.1f}); more samples resolve finer imbalance")


def _gamma_p(a: float, x: float) -> float:
    """The regularized lower incomplete gamma function P(a, x) (Numerical Recipes' method)."""
    if x <= 0.0:
        return 0.0
    log_front = a * math.log(x) - x - math.lgamma(a)
    if x < a + 1.0:  # the series converges quickly here
        term = total = 1.0 / a
        n = a
        while term > total * 1e-17:
            n += 1.0
            term *= x / n
            total += term
        return min(1.0, total * math.exp(log_front))
    tiny = 1e-300  # the continued fraction for Q = 1 - P (modified Lentz)
    b = x + 1.0 - a
    c, d = 1.0 / tiny, 1.0 / b
    h = d
    i = 0
    while True:
        i += 1
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-16 or i > 10_000:
            break
    return max(0.0, 1.0 - math.exp(log_front) * h)


def _noncentral_chi2_cdf(x: float, df: float, nc: float) -> float:
    """P(X <= x) for a non-central chi-square: a Poisson(nc / 2) mixture of central chi-squares
    with df + 2j degrees of freedom, summed outwards from the Poisson mode until the weights
    stop mattering. Central chi-square CDFs of neighbouring terms follow from one another:
    P(a + 1, y) = P(a, y) - y^a e^-y / Γ(a + 1)."""
    if x <= 0.0:
        return 0.0
    y, mean = x / 2.0, nc / 2.0
    mode = math.floor(mean)

    def log_weight(j: int) -> float:
        if mean == 0.0:
            return 0.0 if j == 0 else -math.inf
        return -mean + j * math.log(mean) - math.lgamma(j + 1)

    def log_step(a: float) -> float:  # log of y^a e^-y / Γ(a + 1)
        return a * math.log(y) - y - math.lgamma(a + 1)

    start = _gamma_p(df / 2.0 + mode, y)
    total = math.exp(log_weight(mode)) * start
    p = start
    j = mode
    while True:  # upwards: P shrinks, weights shrink past the mode
        p = max(0.0, p - math.exp(log_step(df / 2.0 + j)))
        j += 1
        weight = math.exp(log_weight(j))
        total += weight * p
        if weight < 1e-17 or weight * p < 1e-17 * total:
            break
    p = start
    j = mode
    while j > 0:  # downwards: P grows towards 1, weights shrink below the mode
        j -= 1
        p = min(1.0, p + math.exp(log_step(df / 2.0 + j)))
        weight = math.exp(log_weight(j))
        total += weight * p
        if weight < 1e-17:
            break
    return min(1.0, total)


def _noncentral_chi2_quantile(q: float, df: float, nc: float) -> float:
    """The q-quantile of a non-central chi-square: bisection on its exact CDF, to 1e-10 relative.

    (Patnaik's scaled chi-square, used before, is good to well under 1% at hundreds of degrees of
    freedom but tens of percent off at a handful of cells.)"""
    lo, hi = 0.0, df + nc + 1.0  # above the mean: doubled until it is above the quantile
    while _noncentral_chi2_cdf(hi, df, nc) < q:
        lo, hi = hi, 2.0 * hi
    while hi - lo > 1e-10 * hi:
        mid = (lo + hi) / 2.0
        if _noncentral_chi2_cdf(mid, df, nc) < q:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2.0


#: The fewest values per cell the balance test fails on: the density BALANCE_ALPHA was set for by
#: simulation (500 values over 200 cells), where the tail is about 3x heavier than the
#: approximation's; sparser samples can pass or stay undecided, never fail.
MIN_PER_CELL = 2.5


def balance_test(
    values: Iterable[int], cells: int, tolerance: float, alpha: float
) -> BalanceResult:
    """Is the spread of `values` over range(cells) shown to be more uneven than `tolerance`?

    Raw variance of the counts mostly measures sampling noise: with n values over k cells the
    chi-square statistic has mean (k - 1) + n·CV² where CV is the true coefficient of variation
    of the cell shares. So CV² is estimated as (chi2 - (k - 1)) / n, and the check fails only
    when chi2 exceeds the 1 - alpha quantile of the statistic *under a true CV equal to the
    tolerance* (non-central chi-square with λ = n·tolerance²); it passes outright only when chi2
    is below that distribution's alpha quantile, and is otherwise undecided.
    """
    counts = [0] * cells
    n = 0
    out_of_range = 0
    for value in values:
        n += 1
        if isinstance(value, int) and 0 <= value < cells:
            counts[value] += 1
        else:
            out_of_range += 1
    inside = n - out_of_range
    if inside == 0:
        return BalanceResult(n, cells, 0.0, 0.0, math.inf, 0.0, tolerance, out_of_range)
    expected = inside / cells
    chi2 = sum((c - expected) ** 2 for c in counts) / expected
    cv = math.sqrt(max(0.0, chi2 - (cells - 1)) / inside)
    nc = inside * tolerance**2
    # Below MIN_PER_CELL values per cell the statistic is a count of collisions whose tail the
    # approximation understates by far more than at the density alpha was set for (30 even
    # values over 200 cells went over the line about once in 1,300 runs): no fail from so few.
    critical = (_noncentral_chi2_quantile(1 - alpha, cells - 1, nc)
                if expected >= MIN_PER_CELL else math.inf)
    critical_low = _noncentral_chi2_quantile(alpha, cells - 1, nc)
    return BalanceResult(n, cells, chi2, cv, critical, critical_low, tolerance, out_of_range)


def samples_to_show_balanced(cells: int, tolerance: float, alpha: float,
                             probability: float) -> int:
    """How many values an evenly spreading source needs before `balance_test` passes it (chi2
    below `critical_low`) with at least `probability`.

    An even spread's chi2 follows a central chi-square with cells - 1 degrees of freedom, whatever
    the count; the pass line, the alpha quantile under the tolerated imbalance (non-central, with
    λ = n·tolerance²), grows with n. So the answer is the smallest n whose pass line is above
    that chi-square's `probability` quantile: exponential, then binary search.
    """
    if tolerance <= 0 or cells < 2:
        raise ValueError("an even spread is shown only against a positive tolerance, over 2+ "
                         "cells")
    df = cells - 1
    even = _noncentral_chi2_quantile(probability, df, 0.0)

    def passes(n: int) -> bool:
        return _noncentral_chi2_quantile(alpha, df, n * tolerance**2) > even

    high = 1
    while not passes(high):
        high *= 2
    low = high // 2
    while low + 1 < high:
        middle = (low + high) // 2
        if passes(middle):
            high = middle
        else:
            low = middle
    return high
