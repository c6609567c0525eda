"""The `synthetics` command as a user runs it: reports land in reports/, the built-in target is
named where nobody can miss it, and bad input is a usage error with a sentence, not a traceback."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import tomllib

from synthetics.settings import checks_dir

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent / "synthetics"


def _run(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    # As a user would run it: none of our settings, and not inside this test run's xdist worker
    # (pytest-benchmark switches itself off when it sees PYTEST_XDIST_WORKER).
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SYNTHETICS_", "PYTEST_XDIST", "PYTEST_CURRENT"))}
    env["SYNTHETICS_HISTORY"] = "off"  # runs from the project folder must not leave history there
    return subprocess.run([str(BIN), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


def test_run_against_the_builtin_worker_writes_reports(tmp_path: Path) -> None:
    result = _run("run", "--reports", str(tmp_path / "reports"), cwd=ROOT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "synthetics target: BUILT-IN REFERENCE WORKER" in result.stdout
    reports = tmp_path / "reports"
    html = (reports / "report.html").read_text()
    assert "BUILT-IN REFERENCE WORKER" in html and "NOT the production worker" in html
    suite = ET.parse(reports / "junit.xml").getroot()
    cases = {c.get("name") for c in suite.iter("testcase")}
    assert "test_latency_within_budget[health]" in cases
    bench = json.loads((reports / "benchmark.json").read_text())
    latency = {b["name"]: b["extra_info"] for b in bench["benchmarks"]}
    info = latency["test_latency_within_budget[health]"]
    assert info["budget_ms"] == 200 and info["value_ms"] is not None and info["ok"] is True
    assert set(info["phases_ms"]) >= {"wait", "receive"}


def test_run_passes_pytest_arguments_through(tmp_path: Path) -> None:
    result = _run("run", "--reports", str(tmp_path), "-m", "health", "-q", cwd=ROOT)
    assert result.returncode == 0, result.stdout[-2000:]
    assert "4 passed" in result.stdout  # the health area's four checks


def test_failing_target_exits_1_with_reasons(tmp_path: Path) -> None:
    from synthetics.reference import ReferenceWorker

    with ReferenceWorker("health_degraded") as worker:
        result = _run("run", "--target", worker.url, "--reports", str(tmp_path), "-m", "health",
                      cwd=ROOT)
    assert result.returncode == 1
    assert "GET /health: status is 'degraded', expected 'healthy'" in result.stdout


@pytest.mark.parametrize("target", ["notaurl", "ftp://host", "http://host:port"])
def test_bad_target_is_a_usage_error(tmp_path: Path, target: str) -> None:
    result = _run("run", "--target", target, "--reports", str(tmp_path), cwd=ROOT)
    assert result.returncode == 4
    assert "ERROR: --target=" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("host", ["0.0.0.0", "example.org"])
def test_serve_refuses_a_non_loopback_host(host: str) -> None:
    result = _run("serve", "--host", host, "--port", "0", cwd=ROOT)
    assert result.returncode == 4 and "Traceback" not in result.stderr
    assert f"--host '{host}' is not a loopback address" in result.stderr


def test_unknown_fault_is_a_usage_error() -> None:
    result = _run("serve", "--faults", "nonsense", "--port", "0", cwd=ROOT)
    assert result.returncode == 4 and "unknown fault 'nonsense'" in result.stderr


def test_targets_and_faults_listings() -> None:
    assert "| `test_latency_within_budget` | `health` |" in _run("targets", cwd=ROOT).stdout
    assert "health_degraded" in _run("faults", cwd=ROOT).stdout


def test_the_command_freezes_the_collector_on_its_way_out_and_main_does_not() -> None:
    """The `synthetics` command ends with the collector's objects frozen, so the interpreter's
    exit does not search the whole run's objects for cycles again; `main`, which callers use
    in-process, leaves the collector alone. The command's exit code is main's."""
    with (ROOT / "pyproject.toml").open("rb") as config:
        scripts = tomllib.load(config)["project"]["scripts"]
    assert scripts["synthetics"] == "synthetics.cli:console_main"
    program = ("import gc, sys\n"
               "from synthetics import cli\n"
               "assert cli.main(['targets']) == 0 and gc.get_freeze_count() == 0\n"
               "sys.argv = ['synthetics', 'faults']\n"
               "code = cli.console_main()\n"
               "print('exit', code, 'frozen', gc.get_freeze_count() > 0)\n")
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines()[-1] == "exit 0 frozen True"


def test_checks_are_found_from_any_folder(tmp_path: Path) -> None:
    assert checks_dir().samefile(ROOT / "checks")
    result = _run("run", "--reports", str(tmp_path / "r"), "-m", "dashboard", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:]
    assert (tmp_path / "r" / "report.html").exists()


def test_serve_answers_and_stops_on_sigterm() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([str(BIN), "serve", "--port", str(port)], stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None
        assert f"listening on http://127.0.0.1:{port}" in proc.stdout.readline()
        import httpx

        health = httpx.get(f"http://127.0.0.1:{port}/health", trust_env=False)
        assert health.json()["status"] == "healthy"
    finally:
        proc.terminate()
        assert proc.wait(10) == 0
        assert proc.stdout is not None
        proc.stdout.close()


def test_run_help_lists_the_synthetics_options_by_group_and_says_the_rest_goes_to_pytest(
        capsys: pytest.CaptureFixture[str]) -> None:
    import importlib

    from synthetics.cli import OPTION_GROUPS, main

    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "Every argument not listed here goes to pytest" in text
    assert "Every other argument goes to pytest" in text and "pytest --help" in text
    assert "docs/options.md" in text
    position = 0
    for module, title in OPTION_GROUPS:  # every option of every group, in the groups' order
        position = text.index(f"\n{title}:\n", position)
        for option in importlib.import_module(module).OPTIONS:
            position = text.index(f"\n  {option.flag} ", position)
    for flag in ("--latency-samples", "--redeploy", "--alert-url", "--region", "--history"):
        assert f"\n  {flag} " in text
    assert "markers (-m): health," in text
