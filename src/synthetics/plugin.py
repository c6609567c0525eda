"""The pytest plugin: options, fixtures, markers, and what the reports say about the target.

Registered through the `pytest11` entry point, so `pytest checks` picks it up wherever the package
is installed. It stays quiet until a check asks for a fixture: the built-in reference worker is
started only when a check needs a target and none was given. Settings are resolved once into
`config.stash[SETTINGS]`; verdicts travel on each report's `user_properties` (so they survive
xdist) and are collected into `config.stash[VERDICTS]` for the terminal summary and the HTML
report. The run budget (`--run-budget`) starts with the session: once it is spent the probe takes
no more samples, and every check of the target not yet finished fails with that reason.
The worker under test is `config.stash[WORKER]`, one `synthetics.worker.Worker` that every output
reads (given its URL once the built-in reference worker is started).
The latency checks run before the checks that judge the error-rate pass (a stable reorder at
collection), so that the pass knows which endpoints already failed theirs
(`config.stash[LATENCY_FAILED]`) and bounds those in time (`--error-pass-bound`).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Iterator
from typing import Any

import pytest

from synthetics import settings as settings_mod
from synthetics.deadline import RunBudget
from synthetics.error_pass import Bound, ErrorRatePass, check_alpha
from synthetics.expectations import (
    AREAS,
    ENDPOINTS,
    EXPECTATIONS,
    MCP_DOMAINS,
    SAMPLED_ENDPOINTS,
    Expectation,
    dns_endpoint,
)
from synthetics.probe import Probe, Request, Sample
from synthetics.reference import ReferenceWorker
from synthetics.settings import Settings
from synthetics.streams import LatencyStreams
from synthetics.worker import Worker

SETTINGS = pytest.StashKey[Settings]()
#: The run's budget (--run-budget), counted from the start of the session.
RUN_BUDGET = pytest.StashKey[RunBudget]()
VERDICTS = pytest.StashKey[list[dict[str, Any]]]()
#: The worker under test; its URL is set once the built-in reference worker is started.
WORKER = pytest.StashKey[Worker]()
#: Callables that get every Sample the `probe` fixture takes (other plugins append, e.g. history).
SAMPLE_LISTENERS = pytest.StashKey[list[Callable[[Sample], None]]]()

#: Endpoints whose latency check failed in this session (in this process), with that check's name.
LATENCY_FAILED = pytest.StashKey[dict[str, str]]()

#: The `user_properties` key `record_verdict` writes under; read it with `recorded_verdicts`.
VERDICT_PROPERTY = "synthetics_verdict"

_AREA_HELP = {
    "health": "GET /health answers healthy with the configured capacity",
    "orchestration": "GET /mcp/orchestrate is operational with the configured capacity",
    "dns": "the MCP DNS-resolve endpoint resolves the MCP domains",
    "dashboard": "the dashboard page is served",
    "cors": "CORS headers and preflight",
    "latency": "latency percentiles within the documented budgets",
    "error_rate": "5xx, timeout and DNS-failure rates within the documented targets",
    "capacity": "agent registration, sector balance and memory targets",
    "tls": "an https target's certificate verifies and is not about to expire",
    "review": "the evening review through wrangler (opt-in: --review)",
}


def is_controller(config: pytest.Config) -> bool:
    """True in the process that owns the session's outputs: the pytest-xdist controller, or the
    only process when tests are not distributed (an xdist worker's config has `workerinput`).
    Every output written once per run (reports, metrics, annotations, redeploys) asks this."""
    return not hasattr(config, "workerinput")


def pytest_addoption(parser: pytest.Parser) -> None:
    settings_mod.add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.stash[SETTINGS] = settings_mod.resolve(config)
    config.stash[WORKER] = Worker.from_target(config.stash[SETTINGS].target)
    config.stash[VERDICTS] = []
    config.stash[LATENCY_FAILED] = {}
    config.stash.setdefault(SAMPLE_LISTENERS, [])
    for area in AREAS:
        config.addinivalue_line("markers", f"{area}: {_AREA_HELP[area]}")
    config.addinivalue_line("markers", "write: the check writes to the worker (opt-in only)")
    config.pluginmanager.register(_VerdictCollector(config), "synthetics-verdicts")


def pytest_report_header(config: pytest.Config) -> list[str]:
    s = config.stash[SETTINGS]
    return [
        f"synthetics target: {config.stash[WORKER].description}",
        f"synthetics settings: p{s.latency_percentile:g} latency over {s.latency_samples} samples"
        f", {s.error_samples} error-rate samples per endpoint at concurrency {s.concurrency}, "
        f"request timeout {s.request_timeout:g} s, run budget {s.run_budget:g} s",
    ]


@pytest.fixture(scope="session")
def synthetics_settings(pytestconfig: pytest.Config) -> Settings:
    """The resolved settings of this session (command line, environment, ini, defaults)."""
    return pytestconfig.stash[SETTINGS]


@pytest.fixture(scope="session")
def worker(pytestconfig: pytest.Config, synthetics_settings: Settings) -> Iterator[Worker]:
    """The worker under check (`synthetics.worker.Worker`): --target, or the built-in reference
    worker started on loopback."""
    configured = pytestconfig.stash[WORKER]
    if not configured.builtin:
        yield configured
        return
    with ReferenceWorker(agent_capacity=synthetics_settings.agent_capacity,
                         sectors=synthetics_settings.sectors) as reference:
        started = configured.started(reference.url)
        pytestconfig.stash[WORKER] = started
        yield started


@pytest.fixture(scope="session")
def probe(worker: Worker, synthetics_settings: Settings,
          pytestconfig: pytest.Config) -> Iterator[Probe]:
    """Takes samples of the worker; every sample of the session lands in `probe.log`."""
    s = synthetics_settings
    instance = Probe(worker.url or "", timeout=s.request_timeout,
                     max_body_bytes=s.max_body_bytes, ca_bundle=s.ca_bundle,
                     max_consecutive_failures=s.max_consecutive_failures,
                     budget=pytestconfig.stash.get(RUN_BUDGET, None))
    listeners: list[Callable[[Sample], None]] = pytestconfig.stash.get(SAMPLE_LISTENERS, [])
    instance.log.listeners.extend(listeners)
    yield instance
    instance.close()


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[RUN_BUDGET] = RunBudget(session.config.stash[SETTINGS].run_budget)


@pytest.hookimpl(wrapper=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> Generator[None, object, object]:
    """A check of the target (one that uses `probe`) that has not finished when the run budget is
    spent fails with that reason. It still runs (the probe abandons its samples at once, so it
    fails quickly with the reason on its samples, or skips when it does not apply); one that
    would pass on what it has is failed here: its samples were cut short."""
    budget = pyfuncitem.config.stash.get(RUN_BUDGET, None)
    if budget is None or "probe" not in pyfuncitem.fixturenames:
        return (yield)
    result = yield
    if budget.spent():
        pytest.fail(f"abandoned: {budget.reason()} before this check finished; its samples "
                    "were cut short", pytrace=False)
    return result


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The latency checks before the checks that judge the error-rate pass (error rates, sector
    balance), each group in its collected order, after every other check: the pass then knows
    which endpoints already failed their latency check, and a failing latency check is
    attributed with the functional checks' answers already seen. Under xdist a worker knows
    only its own latency verdicts; an endpoint it does not know takes the full pass."""
    items.sort(key=lambda item: 1 if item.get_closest_marker("latency")
               else 2 if "error_rate_pass" in getattr(item, "fixturenames", ()) else 0)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item,
                              call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    """Note the endpoint of a latency check that failed, for the error-rate pass's bounds."""
    report = yield
    if (report.when == "call" and report.failed and item.get_closest_marker("latency")
            and isinstance(item, pytest.Function) and hasattr(item, "callspec")):
        expectation = item.callspec.params.get("expectation")
        if isinstance(expectation, Expectation):
            item.config.stash[LATENCY_FAILED][expectation.subject] = item.name
    return report


def sampled_requests(count: int) -> list[Request]:
    """`count` requests to each sampled endpoint, interleaved; DNS alternates the MCP domains."""
    requests: list[Request] = []
    for i in range(count):
        requests.extend(dns_endpoint(MCP_DOMAINS[i % len(MCP_DOMAINS)]).request() if name == "dns"
                        else ENDPOINTS[name].request() for name in SAMPLED_ENDPOINTS)
    return requests


@pytest.fixture(scope="session")
def error_rate_pass(probe: Probe, synthetics_settings: Settings,
                    request: pytest.FixtureRequest) -> ErrorRatePass:
    """The error-rate sampling pass: --error-samples requests per endpoint, concurrently; an
    endpoint's sampling stops once one of its error-rate checks is certain to fail, or after
    --error-pass-bound seconds when its latency check already failed (`synthetics.error_pass`).

    Taken once per session; the error-rate checks judge every sample the session took of their
    endpoint, these included.
    """
    s = synthetics_settings
    try:  # the history plugin's fixture: with a window, each check judges at half the alpha
        with_history = request.getfixturevalue("history_window") is not None
    except pytest.FixtureLookupError:
        with_history = False
    alpha = check_alpha(s.false_alarm_budget, with_history)
    failed = request.config.stash[LATENCY_FAILED]
    bounds = [Bound(endpoint, s.error_pass_bound, check) for endpoint, check in failed.items()]
    return ErrorRatePass(list(probe.log), sampled_requests(s.error_samples), alpha,
                         bounds).run(probe, s.concurrency)


@pytest.fixture(scope="session")
def error_rate_samples(error_rate_pass: ErrorRatePass) -> list[Sample]:
    """The samples of the error-rate sampling pass (`error_rate_pass`)."""
    return error_rate_pass.samples


@pytest.fixture(scope="session")
def latency_streams(probe: Probe, synthetics_settings: Settings,
                    request: pytest.FixtureRequest) -> LatencyStreams:
    """The latency checks' sample streams (`synthetics.streams`): `take(expectation)` gives a
    check its endpoint's stream; the first check to ask takes every selected one side by side."""
    selected = request.session.items if is_controller(request.config) else ()
    return LatencyStreams.for_session(probe, synthetics_settings, selected)


@pytest.fixture
def record_verdict(request: pytest.FixtureRequest) -> Callable[..., None]:
    """Record a check's measured value and verdict for the reports.

    Call as `record_verdict(measured="p95 12.3 ms", threshold="< 200 ms", verdict="pass",
    detail="...")`; verdict is one of pass, fail, insufficient.
    """

    def record(*, measured: str, threshold: str, verdict: str, detail: str = "") -> None:
        request.node.user_properties.append((VERDICT_PROPERTY, {
            "check": request.node.name, "nodeid": request.node.nodeid, "measured": measured,
            "threshold": threshold, "verdict": verdict, "detail": detail,
        }))

    return record


def recorded_verdicts(properties: Iterable[tuple[str, object]]) -> list[dict[str, Any]]:
    """The verdicts `record_verdict` put on a report's `user_properties`, in the order recorded.

    The one reader of `VERDICT_PROPERTY`: the terminal summary, the reports' results and the
    history all collect verdicts through it (the last one recorded is a check's verdict)."""
    return [value for name, value in properties
            if name == VERDICT_PROPERTY and isinstance(value, dict)]


class _VerdictCollector:
    """Collects the verdicts that checks recorded, from every report (xdist workers' too)."""

    def __init__(self, config: pytest.Config) -> None:
        self.verdicts = config.stash[VERDICTS]

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call":
            self.verdicts.extend(recorded_verdicts(report.user_properties))


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    verdicts = config.stash.get(VERDICTS, [])
    if not verdicts:
        return
    write = terminalreporter.write_line
    terminalreporter.section("synthetics verdicts")
    worker = config.stash.get(WORKER, None)
    if worker is not None and worker.url:
        write(f"target: {worker.description}")
    for v in verdicts:
        label = {"insufficient": "INSUFFICIENT EVIDENCE"}.get(v["verdict"], v["verdict"].upper())
        write(f"{label:<22} {v['check']}: {v['measured']} (target {v['threshold']})"
              + (f" — {v['detail']}" if v["detail"] else ""))


__all__ = ["WORKER", "Worker", "is_controller", "recorded_verdicts", "sampled_requests",
           "EXPECTATIONS"]
