"""Shared fixtures of the project's own tests: reference workers with faults, and a runner that
runs `checks/` the way users do (a pytest subprocess) and reads back every check's outcome."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from status_fake import StatusPage

from synthetics.reference import ReferenceWorker

pytest_plugins = ["pytester"]

# The self-healing plugin's control URL defaults to a public status page. Every run the tests
# start (pytester subprocesses inherit this) uses an unreachable loopback port unless a test
# passes --control-url: the suite never reaches the real default.
os.environ["SYNTHETICS_CONTROL_URL"] = "http://127.0.0.1:9/"
# Likewise Cloudflare's API: the reviews' tests pass a loopback fake; nothing else reaches it.
os.environ["SYNTHETICS_CLOUDFLARE_API_URL"] = "http://127.0.0.1:9/client/v4"
# And Cloudflare's status page, read before any deploy: unreadable ("unknown", which does not
# block) unless a test passes --provider-status-url of a loopback fake.
os.environ["SYNTHETICS_PROVIDER_STATUS_URL"] = "http://127.0.0.1:9/"

ROOT = Path(__file__).resolve().parent.parent
CHECKS = ROOT / "checks"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every warning raised in the project's own tests is an error (the lowest-priority filter,
    so a test's own `filterwarnings` marks still win)."""
    here = Path(__file__).resolve().parent
    for item in items:
        if here in item.path.resolve().parents:
            item.add_marker(pytest.mark.filterwarnings("error"))


@pytest.fixture
def reference_worker() -> Iterator[Callable[..., ReferenceWorker]]:
    """Factory: start a reference worker on loopback with the given faults; stopped afterwards."""
    started: list[ReferenceWorker] = []

    def start(faults: str | None = None, **kwargs: object) -> ReferenceWorker:
        # Seeded: the sectors it hands out are the same every run, so the sector-balance
        # check's small false-alarm chance cannot make the suite flaky.
        kwargs.setdefault("seed", 2100)
        worker = ReferenceWorker(faults, **kwargs).start()  # type: ignore[arg-type]
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def silent_target() -> Iterator[str]:
    """A loopback URL whose backlog accepts connections that nobody ever answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1024)
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()


@dataclass
class ChecksRun:
    """The outcome of one run of checks/: exit code, output, and each check's outcome by id."""

    ret: int
    stdout: str
    stderr: str
    outcomes: dict[str, str]  # "test_latency_within_budget[health]" -> passed|failed|skipped|error
    messages: dict[str, str]  # the failure message of each failed check

    def ids(self, outcome: str) -> set[str]:
        return {k for k, v in self.outcomes.items() if v == outcome}


def _read_junit(path: Path) -> tuple[dict[str, str], dict[str, str]]:
    outcomes: dict[str, str] = {}
    messages: dict[str, str] = {}
    if not path.exists():
        return outcomes, messages
    for case in ET.parse(path).getroot().iter("testcase"):
        name = case.get("name", "")
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[child.tag]
                messages[name] = child.get("message", "")
                break
        outcomes[name] = outcome
    return outcomes, messages


@pytest.fixture
def run_checks(pytester: pytest.Pytester,
               monkeypatch: pytest.MonkeyPatch) -> Callable[..., ChecksRun]:
    """Run checks/ in a pytest subprocess with the given arguments; read outcomes from JUnit."""
    # The run is a user's, not a worker of this test session's xdist (pytest-benchmark would
    # switch itself off).
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)

    def run(*args: str, timeout: float = 300) -> ChecksRun:
        junit = pytester.path / "junit.xml"
        result = pytester.runpytest_subprocess(
            str(CHECKS), "-p", "no:cacheprovider", f"--junitxml={junit}",
            "-o", "junit_family=xunit2", "--benchmark-disable-gc", *args, timeout=timeout,
        )
        outcomes, messages = _read_junit(junit)
        return ChecksRun(int(result.ret), result.stdout.str(), result.stderr.str(), outcomes,
                         messages)

    return run


ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")


def start_alertmanager(folder: Path, config: str) -> tuple[str, subprocess.Popen[bytes]]:
    """Debian's Alertmanager on a free loopback port with `config`, storage in `folder`, no
    clustering; returns its URL once /-/ready answers (skips when it is not installed)."""
    if ALERTMANAGER is None:
        pytest.skip("prometheus-alertmanager is not installed (ci/test-tools.sh installs it)")
    (folder / "alertmanager.yml").write_text(config)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [ALERTMANAGER, f"--config.file={folder / 'alertmanager.yml'}",
         f"--storage.path={folder / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
         "--cluster.listen-address="], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(url + "/-/ready", timeout=2) as answer:
                if answer.status == 200:
                    return url, proc
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            pytest.fail(f"alertmanager did not start on {url} (exit {proc.returncode})")
        time.sleep(0.1)


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture(scope="session")
def start_chromium(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Any]:
    """Factory: headless Chromium through chromium-driver (Debian packages; `make test`
    installs them) with a window of "WIDTH,HEIGHT"; only loopback is ever contacted. The caller
    quits the driver."""

    def start(window: str) -> Any:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        assert Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists(), (
            "chromium and chromium-driver are needed (Debian packages; make test installs them)")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for arg in ("--headless", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                    f"--window-size={window}",
                    f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
            options.add_argument(arg)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        return webdriver.Chrome(options=options,
                                service=Service(executable_path=CHROMEDRIVER, port=port))

    return start


@pytest.fixture
def status_page() -> Iterator[StatusPage]:
    """Cloudflare's status page on loopback (tests/status_fake.py), all operational until a test
    sets `incident()` or `answer`."""
    page = StatusPage()
    yield page
    page.server.shutdown()
    page.server.server_close()
