"""Error rates: 5xx < 0.1%, timeouts < 0.05%, DNS resolution failures < 0.01%.

Judged over every sample the run took of the endpoint with exact (Clopper–Pearson) bounds: a
check fails only when the data show the target is broken, passes when they show it holds, and
otherwise passes with "insufficient evidence: N more clean samples needed" in the reports.
When no request of the run got any response at all, there is nothing to judge: the check fails
with "no responses to judge" (an endpoint that never answers does not meet a rate target).
With history on (synthetics.history.plugin), each rate is also judged over a history window (this
run included; by default the 5xx and timeout rates over the last 24 h, the DNS failures over the
last 14 days, see `HistoryWindow.hours_for`) and the verdict names it and how many samples and
runs it rests on.
An endpoint's sampling stops as soon as one of these checks is certain to fail whatever the rest
of the pass shows (synthetics.error_pass): that verdict says "decided after N of M samples", and
is the verdict the full pass would give, with the same false-alarm budget and power.

Default sample count (--error-samples 500 per endpoint), from the two requirements:
- false alarms: 8 error-rate checks share a 0.1% budget, so each fails a healthy target with
  probability at most alpha = 0.001 / 8 = 1.25e-4 (Bonferroni). At n = 500 and the 0.1% 5xx
  target, P(Bin(500, 0.001) >= 6) = 1.4e-5 <= 1.25e-4 but P(>= 5) = 1.7e-4 is not, so a check
  fails from 6 failures on;
- power: a 3% 5xx rate on one endpoint gives Bin(500, 0.03), mean 15, and
  P(X >= 6) = 0.9975 >= 0.99. At n = 400 the threshold is 5 and the power 0.993, too close to
  the line for a default; n = 500 leaves margin. tests/test_stats.py recomputes both figures.
"""

import pytest

from synthetics import expect
from synthetics.error_pass import ErrorRatePass, check_alpha, judged
from synthetics.expectations import Expectation, params
from synthetics.probe import Probe
from synthetics.rates import no_responses
from synthetics.settings import Settings
from synthetics.stats import judge_rate

pytestmark = pytest.mark.error_rate


def _judge(probe: Probe, expectation: Expectation, settings: Settings, record_verdict,
           sampled: ErrorRatePass, window=None, where: dict | None = None) -> None:
    kind = expectation.failure
    samples = [s for s in probe.log if judged(expectation, s.request)]
    unanswered = no_responses(samples)
    if unanswered is not None and kind.needs_responses:
        # Nothing answered at all: no rate to judge, and no evidence that the target holds.
        record_verdict(measured=f"0 of {len(samples)} answered",
                       threshold=f"< {expectation.threshold_text}", verdict="fail",
                       detail=unanswered)
        expect.fail(f"{expectation.subject}: {unanswered}")
    failures, total = kind.count(samples)
    # With history the check fails when either of two verdicts does: each gets half the alpha,
    # so a healthy worker's false-alarm chance stays within the run's budget.
    alpha = check_alpha(settings.false_alarm_budget, window is not None)
    verdict = judge_rate(failures, total, expectation.threshold, alpha,
                         1 - settings.pass_confidence)
    text = verdict.describe(kind.what)
    stopped = sampled.note(expectation)
    if stopped is not None:  # the pass stopped early: a check that became certain to fail
        text += f" ({stopped})"
    measured = f"{failures}/{total} ({verdict.rate:.3%})"
    final = verdict.verdict
    if window is not None:
        # With history on, the rate is also judged over the window (this run included), so a
        # 0.01% target becomes decidable over time; either verdict failing fails the check.
        past = window.counts(kind, **(where or {}))
        span = window.span(kind)
        wf, wt = failures + past.failures, total + past.total
        wv = judge_rate(wf, wt, expectation.threshold, alpha, 1 - settings.pass_confidence)
        if past.samples:
            text = (f"this run: {text}; last {span}, {wt} samples over "
                    f"{past.runs + 1} runs: {wv.describe(kind.what)}")
            measured += f"; {span}: {wf}/{wt} ({wv.rate:.3%})"
        else:
            text += f" (no earlier samples in the last {span} of history)"
        final = "fail" if "fail" in (verdict.verdict, wv.verdict) else wv.verdict
    record_verdict(measured=measured, threshold=f"< {expectation.threshold_text}",
                   verdict=final, detail=text)
    if final == "fail":
        first = next((s.summary() for s in samples if kind.counts(s) and kind.fails(s)), "")
        expect.fail(f"{expectation.subject}: {text}; e.g. {first}")


@pytest.mark.parametrize("expectation", params("test_error_rate_5xx"))
def test_error_rate_5xx(expectation: Expectation, probe: Probe, error_rate_pass: ErrorRatePass,
                        synthetics_settings: Settings, record_verdict, history_window) -> None:
    _judge(probe, expectation, synthetics_settings, record_verdict, error_rate_pass,
           history_window, {"endpoint": expectation.subject})


@pytest.mark.parametrize("expectation", params("test_error_rate_timeouts"))
def test_error_rate_timeouts(expectation: Expectation, probe: Probe,
                             error_rate_pass: ErrorRatePass, synthetics_settings: Settings,
                             record_verdict, history_window) -> None:
    _judge(probe, expectation, synthetics_settings, record_verdict, error_rate_pass,
           history_window, {"endpoint": expectation.subject})


@pytest.mark.parametrize("expectation", params("test_error_rate_dns_failures"))
def test_error_rate_dns_failures(expectation: Expectation, probe: Probe,
                                 error_rate_pass: ErrorRatePass, synthetics_settings: Settings,
                                 record_verdict, history_window) -> None:
    _judge(probe, expectation, synthetics_settings, record_verdict, error_rate_pass,
           history_window, {"endpoint": "dns", "subject": expectation.subject, "method": "GET"})
