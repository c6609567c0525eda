"""The checks against the real Workers runtime: `wrangler dev` (from the npm registry, in
tests/node) serves the sample worker of tests/fixtures on loopback, started by ci/wrangler-dev.sh
the way a developer and the pre-deploy workflow do, and checks/ runs against it with --target.

Nothing may leave loopback. wrangler's metrics, error reports and update check are off, and
miniflare's fetch of the `Request.cf` object from Cloudflare is switched off with
CLOUDFLARE_CF_FETCH_ENABLED=false. strace records every connect() of wrangler, workerd and the
checks, and the test fails on any address that is not loopback.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
NODE_BIN = ROOT / "tests" / "node" / "node_modules" / ".bin"
WRANGLER = NODE_BIN / "wrangler"
SAMPLE = ROOT / "tests" / "fixtures" / "sample-worker"
STRACE = shutil.which("strace") or "/usr/bin/strace"
DAILY_AREAS = "health or orchestration or dns or dashboard or cors or latency or error_rate " \
              "or capacity"

_CONNECT = re.compile(r"connect\(\d+, \{sa_family=(AF_[A-Z0-9]+)(.*?)\}")


def non_loopback_connects(trace: str) -> list[str]:
    """The connect() calls in an strace log whose address is not loopback or a local socket."""
    bad = []
    for line in trace.splitlines():
        match = _CONNECT.search(line)
        if not match:
            continue
        family, rest = match.groups()
        if family in ("AF_UNIX", "AF_NETLINK"):
            continue
        if family == "AF_INET" and re.search(r'inet_addr\("127\.', rest):
            continue
        if family == "AF_INET6" and re.search(r'inet_pton\(AF_INET6, "(::1|::ffff:127\.[0-9.]+)"',
                                              rest):
            continue
        if family == "AF_UNSPEC":  # disconnecting a datagram socket
            continue
        bad.append(line.strip())
    return bad


def test_non_loopback_detection() -> None:
    trace = "\n".join([
        '12 connect(3, {sa_family=AF_INET, sin_port=htons(8787), sin_addr=inet_addr("127.0.0.1")}'
        ', 16) = 0',
        '12 connect(4, {sa_family=AF_INET6, sin6_port=htons(443), sin6_flowinfo=htonl(0), '
        'inet_pton(AF_INET6, "::1", &sin6_addr), sin6_scope_id=0}, 28) = 0',
        '12 connect(5, {sa_family=AF_UNIX, sun_path="/run/x"}, 110) = 0',
        '13 connect(6, {sa_family=AF_INET, sin_port=htons(443), sin_addr=inet_addr("104.16.1.1")}'
        ', 16) = -1 EINPROGRESS',
        '13 connect(7, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("10.0.0.53")}'
        ', 16) = 0',
    ])
    assert [line.split("inet_addr")[1][:12] for line in non_loopback_connects(trace)] == [
        '("104.16.1.1', '("10.0.0.53"']


@pytest.fixture(scope="module")
def wrangler_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """checks/ (the daily areas) against the sample worker under `wrangler dev`, under strace."""
    assert WRANGLER.exists(), "wrangler is needed: npm install --prefix tests/node"
    assert Path(STRACE).exists(), "strace is needed (Debian package; .ci/run installs it)"
    tmp_path = tmp_path_factory.mktemp("wrangler-dev")
    worker = tmp_path / "worker"  # wrangler writes .wrangler/ next to the config: use a copy
    shutil.copytree(SAMPLE, worker)
    junit = tmp_path / "junit.xml"
    trace = tmp_path / "connect.trace"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SYNTHETICS_", "GITHUB_", "CLOUDFLARE_", "WRANGLER_"))}
    env.update(PATH=f"{NODE_BIN}{os.pathsep}{env['PATH']}", WRANGLER=str(WRANGLER),
               HOME=str(tmp_path / "home"), XDG_CONFIG_HOME=str(tmp_path / "config"),
               TMPDIR=str(tmp_path), CI="true")
    checks = [sys.executable, "-m", "pytest", str(ROOT / "checks"), "-p", "no:cacheprovider",
              "-q", "-m", DAILY_AREAS, "--history=off", "--error-samples=100",
              "--latency-samples=30", f"--junitxml={junit}", "-o", "junit_family=xunit2"]
    # ci/wrangler-dev.sh exports SYNTHETICS_TARGET; pass it on as --target explicitly.
    command = ["bash", "-c", 'exec "$@" --target="$SYNTHETICS_TARGET"', "checks", *checks]
    proc = subprocess.run(
        [STRACE, "-f", "--seccomp-bpf", "-e", "trace=connect", "-o", str(trace),
         "bash", str(ROOT / "ci" / "wrangler-dev.sh"), "--dir", str(worker),
         "--config", "wrangler-production-simple.toml", "--env", "production", "--", *command],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=400)
    return {"proc": proc, "junit": junit, "trace": trace,
            "output": proc.stdout[-6000:] + proc.stderr[-4000:]}


def test_wrangler_dev_stays_on_loopback(wrangler_run: dict[str, Any]) -> None:
    proc = wrangler_run["proc"]
    assert "wrangler dev serving" in proc.stdout, wrangler_run["output"]
    assert proc.returncode in (0, 1), wrangler_run["output"]  # the checks ran to the end
    assert "test_latency_within_budget" in wrangler_run["junit"].read_text()
    connects = wrangler_run["trace"].read_text()
    assert connects.count("connect(") > 10  # the trace saw the checks' connections
    assert non_loopback_connects(connects) == []


def test_checks_pass_against_wrangler_dev(wrangler_run: dict[str, Any]) -> None:
    proc = wrangler_run["proc"]
    assert proc.returncode == 0, wrangler_run["output"]
    assert re.search(r"\d+ passed", proc.stdout)
    assert " failed" not in proc.stdout and " error" not in proc.stdout
