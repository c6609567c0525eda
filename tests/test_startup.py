"""Start-up: a run imports only what it uses. The optional pieces (prometheus_client for the
metrics export, apprise for alert channels, selenium) are imported on first use, so a plain check
run never loads them; with their option given, they load. Each run records the modules its
process had loaded when pytest finished (the plugin below, loaded with -p). How long start-up
takes is measured by bench/, not here."""

from __future__ import annotations

import json

import pytest

OPTIONAL = ("prometheus_client", "apprise", "selenium")

RECORDER = '''
import json
import sys


def pytest_unconfigure(config):
    loaded = sorted({name.split(".")[0] for name in sys.modules})
    with open("modules.json", "w") as out:
        json.dump(loaded, out)
'''


@pytest.fixture
def loaded_modules(pytester: pytest.Pytester, run_checks, reference_worker):
    """Run the /health and latency checks with extra arguments; the top-level packages the
    run loaded."""
    pytester.makepyfile(modules_recorder=RECORDER)
    worker = reference_worker()

    def run(*args: str) -> set[str]:
        result = run_checks(f"--target={worker.url}", "-m", "health or latency",
                            "--latency-samples", "10", "--history", "off",
                            "-p", "modules_recorder", *args)
        assert result.ret == 0, result.stdout[-3000:]
        return set(json.loads((pytester.path / "modules.json").read_text()))

    return run


def test_a_plain_run_loads_no_optional_package(loaded_modules) -> None:
    loaded = loaded_modules()
    assert "synthetics" in loaded and "httpx" in loaded  # the recorder saw the run
    assert loaded.isdisjoint(OPTIONAL), sorted(loaded.intersection(OPTIONAL))


def test_options_load_what_they_need(loaded_modules, tmp_path) -> None:
    """The same recorder sees each package once its option asks for it. The HTML report, plots
    included, needs none of them: its plots are drawn as SVG by the project itself."""
    loaded = loaded_modules(f"--metrics-textfile={tmp_path / 'run.prom'}",
                            f"--html={tmp_path / 'report.html'}")
    assert "prometheus_client" in loaded
    assert not loaded.intersection({"apprise", "selenium", "matplotlib"})
    assert "<svg" in (tmp_path / "report.html").read_text()
