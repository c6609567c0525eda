"""Alertmanager across runners, against Debian's real `prometheus-alertmanager` on loopback (one
instance for the module, a temporary storage folder, a minimal configuration; each test uses its
own worker label): alert events from two processes become one group; an active silence of the
worker stops the ladder before any wrangler call; the `heal --listen` webhook receiver refuses
everything but an authenticated notification and deploys once for a group delivered three times.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from conftest import start_alertmanager
from synthetics.history.alertmanager import SilenceGate
from synthetics.reference import ReferenceWorker

FAKES = Path(__file__).resolve().parent / "fakes"
SAMPLE = Path(__file__).resolve().parent / "fixtures" / "sample-worker"
TOKEN = "t0k3n-for-the-heal-receiver-" + "x" * 8
CONFIG = """\
route:
  receiver: heal
  group_by: [alertname, worker]
  group_wait: 1h
receivers:
  - name: heal
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None,
         raw: bytes | None = None) -> tuple[int, Any]:
    data = raw if raw is not None else None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json",
                                              **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read().decode()
            status = response.status
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read().decode().strip()
    try:
        return status, json.loads(text) if text.strip() else None
    except ValueError:
        return status, text.strip()


def status_of_oversized_post(url: str) -> int:
    """POST headers announcing a 2 MiB body, without sending it: the answer's status."""
    parts = urllib.parse.urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(f"POST {parts.path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}"
                     f"\r\nContent-Length: {2 << 20}\r\n\r\n".encode())
        return int(sock.recv(1024).split(b" ", 2)[1])


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url, proc = start_alertmanager(tmp_path_factory.mktemp("alertmanager"), CONFIG)
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def worker_label() -> str:
    return f"w-{uuid.uuid4().hex[:8]}"


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SYNTHETICS_", "PYTEST_"))}
    env.update(PATH=f"{FAKES}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}"
                    f"{os.environ['PATH']}",
               FAKE_WRANGLER_LOG=str(tmp_path / "wrangler-calls.jsonl"),
               FAKE_WRANGLER_FAULTS_FILE=str(tmp_path / "faults.txt"),
               FAKE_WRANGLER_PLAN="deploy=heal",
               # Cloudflare's status page: a closed loopback port, never the real one.
               SYNTHETICS_PROVIDER_STATUS_URL="http://127.0.0.1:9/")
    return env


def _config(tmp_path: Path, worker: str) -> Path:
    config = tmp_path / "wrangler.toml"
    config.write_text((SAMPLE / "wrangler-production-simple.toml").read_text().replace(
        'name = "wfa-orchestration-worker-production"', f'name = "{worker}"'))
    return config


POST_ALERT = """
import sys, time
from synthetics.history.alertmanager import sinks_from_environment
from synthetics.history.alerts import AlertEvent, dispatch
kind = sys.argv[2]
event = AlertEvent("health_down", "critical", "health", sys.argv[3], kind, time.time(),
                   time.time() - 90, 90, "health_down: /health down for 1 min")
failures = dispatch([event], sinks_from_environment(sys.argv[1]))
print("\\n".join(failures) or "sent")
"""


def test_two_processes_posting_one_alert_make_one_group(alertmanager: str, tmp_path: Path,
                                                          worker_label: str) -> None:
    config = _config(tmp_path, worker_label)
    target = "https://worker.example"
    procs = []
    for region in ("eu", "us"):
        env = {**_env(tmp_path), "SYNTHETICS_REGION": region,
               "SYNTHETICS_DEPLOY_CONFIG": str(config)}
        procs.append(subprocess.Popen([sys.executable, "-c", POST_ALERT, alertmanager, "firing",
                                       target], env=env, stdout=subprocess.PIPE, text=True))
    assert [p.communicate(timeout=60)[0].strip() for p in procs] == ["sent", "sent"]
    query = f'?filter=worker="{worker_label}-production"'
    status, groups = http("GET", alertmanager + "/api/v2/alerts/groups" + query)
    assert status == 200 and len(groups) == 1, groups
    (group,) = groups
    assert group["labels"] == {"alertname": "health_down", "worker": f"{worker_label}-production"}
    labels = [a["labels"] for a in group["alerts"]]
    assert sorted(x["region"] for x in labels) == ["eu", "us"]
    assert all(x["severity"] == "critical" and x["target"] == target for x in labels)
    assert all(a["generatorURL"] == target for a in group["alerts"])

    # The resolved events end both alerts.
    for region in ("eu", "us"):
        env = {**_env(tmp_path), "SYNTHETICS_REGION": region,
               "SYNTHETICS_DEPLOY_CONFIG": str(config)}
        done = subprocess.run([sys.executable, "-c", POST_ALERT, alertmanager, "resolved",
                               target], env=env, capture_output=True, text=True, timeout=60)
        assert done.stdout.strip() == "sent", done.stderr
    status, alerts = http("GET", alertmanager + "/api/v2/alerts" + query)
    assert status == 200 and alerts == []


def test_an_unreachable_alertmanager_is_a_failed_sink_line(tmp_path: Path) -> None:
    closed = f"http://user:s3cr3tpw@127.0.0.1:{_free_port()}"
    done = subprocess.run([sys.executable, "-c", POST_ALERT, closed, "firing", "https://w.x"],
                          env=_env(tmp_path), capture_output=True, text=True, timeout=60)
    assert done.stdout.startswith("alert sink alertmanager failed for health_down firing: ")
    assert "s3cr3tpw" not in done.stdout + done.stderr and "Traceback" not in done.stderr


def _silence(alertmanager: str, matchers: list[dict[str, Any]]) -> str:
    now = datetime.now(timezone.utc)
    status, body = http("POST", alertmanager + "/api/v2/silences", {
        "matchers": matchers, "startsAt": now.isoformat(),
        "endsAt": (now + timedelta(hours=1)).isoformat(), "createdBy": "ops",
        "comment": "planned maintenance"})
    assert status == 200, body
    return str(body["silenceID"])


def _down_summaries(folder: Path, target: str) -> None:
    for region in ("eu", "us"):
        (folder / region).mkdir(parents=True)
        (folder / region / "summary.json").write_text(json.dumps({
            "target": target, "builtin_reference_worker": False, "region": region,
            "heal": {"health": "down", "failed_health_checks": ["health down"],
                     "control": {"url": "c", "reachable": True, "detail": "HTTP 200"}}}))


def test_an_active_silence_stops_the_ladder_before_any_wrangler_call(
        alertmanager: str, tmp_path: Path, worker_label: str,
        reference_worker: Callable[..., ReferenceWorker]) -> None:
    config = _config(tmp_path, worker_label)
    worker = reference_worker("health_degraded")
    _down_summaries(tmp_path / "summaries", worker.url)
    silence = _silence(alertmanager, [{"name": "worker", "value": f"{worker_label}-.*",
                                       "isRegex": True, "isEqual": True}])
    run = subprocess.run(
        [sys.executable, "-m", "synthetics.cli", "heal", "--summaries",
         str(tmp_path / "summaries"), "--redeploy", "--alertmanager", alertmanager,
         "--deploy-config", str(config), "--state-dir", str(tmp_path / "state"),
         "--confirm-seconds", "0"], env=_env(tmp_path), capture_output=True, text=True,
        timeout=120, cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert (f"SILENCED: not running the deploy: silenced: Alertmanager silence {silence} "
            f"(worker=~'{worker_label}-.*'; by ops: 'planned maintenance'") in run.stdout
    assert not (tmp_path / "wrangler-calls.jsonl").exists()  # wrangler never ran


def test_silence_gate_matching_and_fail_closed(alertmanager: str, worker_label: str) -> None:
    _silence(alertmanager, [{"name": "worker", "value": worker_label, "isRegex": False,
                             "isEqual": True},
                            {"name": "region", "value": "eu", "isRegex": False,
                             "isEqual": True}])
    # A silence of one region's alerts is not a maintenance window of the worker.
    assert SilenceGate(alertmanager, worker_label, "https://w.x")(None) is None
    _silence(alertmanager, [{"name": "worker", "value": worker_label, "isRegex": False,
                             "isEqual": True},
                            {"name": "alertname", "value": "slow_responses", "isRegex": False,
                             "isEqual": False}])
    refusal = SilenceGate(alertmanager, worker_label, "https://w.x")(None)
    assert refusal is not None and refusal.startswith("silenced: Alertmanager silence ")
    assert SilenceGate(alertmanager, "another-worker", "https://w.x")(None) is None
    closed = SilenceGate(f"http://127.0.0.1:{_free_port()}", worker_label, "https://w.x", 2)
    refusal = closed(None)
    assert refusal is not None and refusal.startswith("refused: cannot ask Alertmanager")


class Receiver:
    """`synthetics heal --listen` as a subprocess, its output collected line by line."""

    def __init__(self, tmp_path: Path, target: str, control: str, config: Path) -> None:
        env = {**_env(tmp_path), "SYNTHETICS_HEAL_TOKEN": TOKEN}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "synthetics.cli", "heal", "--listen", "127.0.0.1:0",
             "--target", target, "--redeploy", "--state-dir", str(tmp_path / "state"),
             f"--control-url={control}", "--deploy-config", str(config),
             "--confirm-seconds", "0.4", "--verify-seconds", "0.6", "--reprobe-interval", "0.2",
             "--request-timeout", "2"],
            env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        line = self.wait_for("listening on ")
        self.url = line.split("listening on ", 1)[1].split()[0]

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.lines:
                if text in line:
                    return line
            if self.proc.poll() is not None and not self.reader.is_alive():
                break
            time.sleep(0.05)
        raise AssertionError(f"{text!r} not in the receiver's output: {self.lines}")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.reader.join(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def notification(status: str, target: str, group: str = "{}:{alertname=\"health_down\"}") -> \
        dict[str, Any]:
    return {"version": "4", "groupKey": group, "status": status, "receiver": "heal",
            "groupLabels": {"alertname": "health_down"}, "commonLabels": {},
            "alerts": [{"status": status, "labels": {
                "alertname": "health_down", "severity": "critical", "target": target,
                "worker": "w", "region": region}, "annotations": {},
                "startsAt": "2026-01-01T00:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
                "fingerprint": region} for region in ("eu", "us")]}


def test_webhook_receiver_refuses_strangers_and_deploys_once(
        tmp_path: Path, reference_worker: Callable[..., ReferenceWorker]) -> None:
    faults = tmp_path / "faults.txt"
    faults.write_text("health_degraded\n")
    worker = reference_worker(faults_file=faults)
    control = reference_worker().url + "/"
    receiver = Receiver(tmp_path, worker.url, control, _config(tmp_path, "wfa"))
    try:
        url, auth = receiver.url, {"Authorization": f"Bearer {TOKEN}"}
        firing = notification("firing", worker.url)
        assert http("POST", url, firing)[0] == 401
        assert http("POST", url, firing, {"Authorization": "Bearer wrong"})[0] == 403
        assert http("GET", url, headers=auth)[0] == 405
        assert http("POST", url.replace("/alertmanager", "/other"), firing, auth)[0] == 404
        assert status_of_oversized_post(url) == 413
        assert http("POST", url, raw=b"{not json", headers=auth)[0] == 400
        other = notification("firing", "https://some-other-worker.example")
        assert http("POST", url, other, auth) == (200, "no-op: no firing health_down alert "
                                                       "for this target")
        answers = [http("POST", url, firing, auth)[1] for _ in range(3)]
        assert answers == ["accepted: the self-healing ladder runs once"] + [
            "no-op: this group was already acted on"] * 2
        receiver.wait_for("outcome: RECOVERED-BY-REDEPLOY")
        assert http("POST", url, notification("resolved", worker.url), auth) == (
            200, "no-op: no firing health_down alert for this target")
    finally:
        receiver.stop()
    listed = json.loads((tmp_path / "deployments.json").read_text())
    assert len(listed) == 1
    calls = [json.loads(x)["argv"][0] for x in
             (tmp_path / "wrangler-calls.jsonl").read_text().splitlines()]
    assert [c for c in calls if c != "deployments"] == ["deploy"]
    assert TOKEN not in "\n".join(receiver.lines)


def test_receiver_needs_a_token_and_a_target(tmp_path: Path) -> None:
    env = _env(tmp_path)
    no_token = subprocess.run([sys.executable, "-m", "synthetics.cli", "heal", "--listen",
                               "127.0.0.1:0", "--target", "https://w.example"], env=env,
                              capture_output=True, text=True, timeout=60)
    assert no_token.returncode == 4 and "SYNTHETICS_HEAL_TOKEN" in no_token.stderr
    no_target = subprocess.run([sys.executable, "-m", "synthetics.cli", "heal", "--listen",
                                "127.0.0.1:0"], env={**env, "SYNTHETICS_HEAL_TOKEN": TOKEN},
                               capture_output=True, text=True, timeout=60)
    assert no_target.returncode == 4 and "--target" in no_target.stderr


def test_the_schedulers_alert_rules_post_to_alertmanager(
        alertmanager: str, tmp_path: Path, worker_label: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """`synthetics schedule --alertmanager URL`: its once-a-minute rule evaluation posts the
    health_down alert with the region and worker labels."""
    import argparse

    from synthetics.history.store import SampleRecord, SqliteHistory
    from synthetics.schedule.jobs import _alert_housekeeping, _alertmanager_url, schedule_history

    monkeypatch.setenv("SYNTHETICS_REGION", "eu-host")
    monkeypatch.setenv("SYNTHETICS_DEPLOY_CONFIG", str(_config(tmp_path, worker_label)))
    target = "http://127.0.0.1:9"
    store = SqliteHistory(tmp_path / "h.sqlite3")
    now = time.time()
    run = store.start_run("seed", target, now - 120, now - 120, False)
    store.add_samples(run, [SampleRecord(now - 120 + i * 5, target, "health", "", "GET", None,
                                         False, "connect", total=None) for i in range(24)])
    store.finish_run(run, now, "passed")
    args = argparse.Namespace(synthetics_history=str(tmp_path / "h.sqlite3"),
                              synthetics_alertmanager=alertmanager)
    _alert_housekeeping(store, target, schedule_history(args), _alertmanager_url(args))(
        datetime.now(timezone.utc))
    store.close()
    status, alerts = http("GET", alertmanager + f'/api/v2/alerts?filter=worker="'
                                                f'{worker_label}-production"')
    assert status == 200 and len(alerts) == 1, alerts
    assert alerts[0]["labels"] == {"alertname": "health_down", "severity": "critical",
                                   "target": target, "worker": f"{worker_label}-production",
                                   "region": "eu-host"}


def test_a_checks_run_posts_its_alert_events_to_alertmanager(
        alertmanager: str, tmp_path: Path, worker_label: str, run_checks: Any,
        reference_worker: Callable[..., ReferenceWorker]) -> None:
    """`pytest checks --alertmanager URL`: the run's alert evaluation (history down for two
    minutes, then this run) posts health_down with the run's --region."""
    from synthetics.history.store import SampleRecord, SqliteHistory

    worker = reference_worker("health_degraded")
    db = tmp_path / "h.sqlite3"
    store = SqliteHistory(db)
    now = time.time()
    run = store.start_run("seed", worker.url, now - 120, now - 120, False)
    store.add_samples(run, [SampleRecord(now - 120 + i * 5, worker.url, "health", "", "GET",
                                         200, False, "status", total=0.01) for i in range(24)])
    store.finish_run(run, now, "passed")
    store.close()
    result = run_checks("-m", "health", f"--target={worker.url}", f"--history={db}",
                        f"--alertmanager={alertmanager}", "--region=ap",
                        f"--deploy-config={_config(tmp_path, worker_label)}")
    assert "alert: CRITICAL health_down" in result.stdout, result.stdout[-3000:]
    status, alerts = http("GET", alertmanager + f'/api/v2/alerts?filter=worker="'
                                                f'{worker_label}-production"')
    assert status == 200 and [a["labels"]["region"] for a in alerts] == ["ap"], alerts
