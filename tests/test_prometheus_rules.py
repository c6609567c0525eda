"""deploy/prometheus: the shipped rules pass `promtool check rules` and their unit tests
(`promtool test rules`: 1 of 3 regions down does not fire, 2 of 3 do, a region whose control
probe fails is no vote, a silent region alerts, latency over budget per endpoint); a rules file
with the quorum lowered fails those tests; the example Alertmanager configuration passes
`amtool check-config`, and its inhibition keeps a region's worker alerts quiet while that region's
control probe fails (Debian's real Alertmanager)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from conftest import start_alertmanager

RULES = Path(__file__).resolve().parent.parent / "deploy" / "prometheus"
PROMTOOL = shutil.which("promtool")
AMTOOL = shutil.which("amtool")


def promtool(*args: str, cwd: Path = RULES) -> subprocess.CompletedProcess[str]:
    if PROMTOOL is None:
        pytest.skip("promtool is not installed (Debian's prometheus; ci/test-tools.sh)")
    return subprocess.run([PROMTOOL, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def test_rules_pass_promtool_check_and_their_unit_tests() -> None:
    check = promtool("check", "rules", "synthetics-rules.yml")
    assert check.returncode == 0 and "SUCCESS" in check.stdout, check.stdout + check.stderr
    test = promtool("test", "rules", "synthetics-rules.test.yml")
    assert test.returncode == 0 and "SUCCESS" in test.stdout, test.stdout + test.stderr


def test_a_lowered_quorum_fails_the_unit_tests(tmp_path: Path) -> None:
    rules = (RULES / "synthetics-rules.yml").read_text()
    assert "synthetics:regions_health_down:count >= 2" in rules
    (tmp_path / "synthetics-rules.yml").write_text(
        rules.replace("synthetics:regions_health_down:count >= 2",
                      "synthetics:regions_health_down:count >= 1"))
    shutil.copy(RULES / "synthetics-rules.test.yml", tmp_path)
    test = promtool("test", "rules", "synthetics-rules.test.yml", cwd=tmp_path)
    assert test.returncode == 1
    assert "one of three regions down does not fire" in test.stdout + test.stderr


def test_example_alertmanager_config_passes_amtool() -> None:
    if AMTOOL is None:
        pytest.skip("amtool is not installed (Debian's prometheus-alertmanager)")
    check = subprocess.run([AMTOOL, "check-config", str(RULES / "alertmanager.yml")],
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0 and "SUCCESS" in check.stdout, check.stdout + check.stderr


@pytest.fixture
def example_alertmanager(tmp_path: Path) -> Iterator[str]:
    token = tmp_path / "heal.token"
    token.write_text("not-used-by-this-test-0123456789\n")
    config = (RULES / "alertmanager.yml").read_text().replace(
        "/etc/alertmanager/synthetics-heal.token", str(token))
    url, proc = start_alertmanager(tmp_path, config)
    yield url
    proc.terminate()
    proc.wait(timeout=10)


def _post(url: str, alerts: list[dict[str, object]]) -> None:
    request = urllib.request.Request(url + "/api/v2/alerts", data=json.dumps(alerts).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200


def test_inhibition_silences_a_regions_worker_alerts_while_its_control_fails(
        example_alertmanager: str) -> None:
    now = datetime.now(timezone.utc)
    ends = (now + timedelta(hours=1)).isoformat()
    target = "https://w.example"
    alert = {"startsAt": now.isoformat(), "endsAt": ends, "generatorURL": target}
    _post(example_alertmanager, [
        {**alert, "labels": {"alertname": "synthetics_control_probe_failing",
                             "severity": "warning", "target": target, "region": "us"}},
        *({**alert, "labels": {"alertname": "health_down_in_region", "severity": "warning",
                               "target": target, "region": region, "worker": "w"}}
          for region in ("us", "eu"))])
    deadline = time.monotonic() + 20
    while True:
        with urllib.request.urlopen(example_alertmanager + "/api/v2/alerts?filter="
                                    "alertname%3D%22health_down_in_region%22", timeout=10) as a:
            states = {x["labels"]["region"]: x["status"]["state"] for x in json.load(a)}
        if states.get("us") == "suppressed" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert states == {"us": "suppressed", "eu": "active"}
