"""Sector balance: which DNS answers count, and the verdict over the run and the history window.

The DNS-resolve endpoint gives each MCP domain's answer a `sector`; the balance check judges how
evenly they spread (`synthetics.stats.balance_test`). One run's ~500 answers over 200 sectors can
show a skew, but never that the spread is even: that takes tens of thousands of answers
(`synthetics.stats.samples_to_show_balanced`). So, as for the error rates, with history on the
answers of the DNS window (--dns-window-days, longer than the 5xx and timeout rates' window: the
heartbeat's and earlier runs' answers, recorded with their sector by
`synthetics.history.store.record_from_sample`) are judged too, and either verdict failing fails
the check. `sector_of` is the one rule of which answers count, for the run and for history.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import chain, repeat

from synthetics.probe import Request, Sample
from synthetics.rates import window_span
from synthetics.stats import BalanceResult, balance_test

__all__ = ["BALANCE_ALPHA", "NOT_A_SECTOR", "BalanceVerdict", "SectorWindow",
           "asks_for_sector", "judge_balance", "sector_of"]

#: Nominal chance that an evenly spreading worker fails the balance check in one run. With the
#: default ~500 DNS samples over 200 sectors (2.5 per sector) the statistic's tail is heavier
#: than the chi-square approximation says: simulated, 1e-5 nominal is about 3e-5 in fact, and
#: 1e-3 would have been 1e-3, one false alarm in every thousand runs. With history on, the run's
#: verdict and the window's each get half.
BALANCE_ALPHA = 1e-5
#: What history records for an answer whose sector is not an integer: outside every sector, so
#: the window's verdict fails on it as the run's does.
NOT_A_SECTOR = -1


def asks_for_sector(request: Request) -> bool:
    """Whether an answer to `request` counts for the balance: a DNS-resolve GET, unless its
    domain names its sector (`sector-N`, which the worker does not choose)."""
    return (request.endpoint == "dns" and request.method == "GET"
            and "sector-" not in request.subject)


def sector_of(sample: Sample) -> int | None:
    """The sector this sample counts for in the balance, or None when it does not count.

    An answer to a request that `asks_for_sector`, 200 with mcpEnabled true, counts; a sector
    that is not an integer counts as `NOT_A_SECTOR`.
    """
    if not asks_for_sector(sample.request) or not sample.ok or sample.status != 200:
        return None
    try:
        doc = sample.json()
    except ValueError:
        return None
    if not isinstance(doc, dict) or doc.get("mcpEnabled") is not True:
        return None
    sector = doc.get("sector")
    return sector if isinstance(sector, int) and not isinstance(sector, bool) else NOT_A_SECTOR


@dataclass(frozen=True)
class SectorWindow:
    """What the history window holds (this run excluded): {sector: answers}, and from how many
    runs."""

    hours: float
    counts: Mapping[int, int]
    runs: int

    @property
    def samples(self) -> int:
        return sum(self.counts.values())

    @property
    def span(self) -> str:
        """The window's length as the verdict states it: `24 h`, `14 days`."""
        return window_span(self.hours)


@dataclass(frozen=True)
class BalanceVerdict:
    """The balance check's verdict (pass, fail or insufficient) and what the reports show."""

    verdict: str
    measured: str
    detail: str
    run: BalanceResult


def _measured(result: BalanceResult) -> str:
    return (f"imbalance ≈ {result.cv_estimate:.0%} ± {result.resolution:.0%} over "
            f"{result.samples}")


def judge_balance(sectors: Sequence[int], cells: int, tolerance: float,
                  window: SectorWindow | None = None,
                  alpha: float = BALANCE_ALPHA) -> BalanceVerdict:
    """Judge this run's `sectors`, and with a history `window` also the window's answers plus
    this run's; with a window each verdict gets half of `alpha`, so an evenly spreading worker's
    chance of failing stays within it."""
    run = balance_test(sectors, cells, tolerance, alpha / (1 if window is None else 2))
    if window is None:
        return BalanceVerdict(run.verdict, _measured(run), run.describe(), run)
    if not window.samples:
        detail = f"{run.describe()} (no earlier samples in the last {window.span} of history)"
        return BalanceVerdict(run.verdict, _measured(run), detail, run)
    past = chain.from_iterable(repeat(sector, n) for sector, n in window.counts.items())
    whole = balance_test(chain(sectors, past), cells, tolerance, alpha / 2)
    detail = (f"this run: {run.describe()}; last {window.span}, {whole.samples} samples "
              f"over {window.runs + 1} runs: {whole.describe()}")
    measured = f"{_measured(run)}; {window.span}: {_measured(whole)}"
    final = "fail" if "fail" in (run.verdict, whole.verdict) else whole.verdict
    return BalanceVerdict(final, measured, detail, run)
