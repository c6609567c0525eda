"""deploy/: the systemd units of the long-running scheduler and the heal receiver pass
`systemd-analyze verify` (a planted typo does not), are hardened as documented, and their
command lines are ones `synthetics` accepts; the container definition runs the scheduler as an
unprivileged user from files that exist."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
UNITS = ROOT / "deploy" / "systemd"
CONTAINERFILE = ROOT / "deploy" / "container" / "Containerfile"
SYNTHETICS = Path(sys.executable).parent / "synthetics"
ANALYZE = shutil.which("systemd-analyze")


def _verify(tmp_path: Path, name: str, change: tuple[str, str] | None = None) -> str:
    """systemd-analyze verify's complaints about the unit, run from an installed `synthetics`."""
    if ANALYZE is None:
        pytest.skip("systemd-analyze is not installed (Debian's systemd; ci/test-tools.sh)")
    text = (UNITS / name).read_text().replace("/opt/synthetics/bin/synthetics", str(SYNTHETICS))
    if change is not None:
        assert change[0] in text
        text = text.replace(*change)
    unit = tmp_path / name
    unit.write_text(text)
    result = subprocess.run([ANALYZE, "verify", str(unit)], capture_output=True, text=True,
                            timeout=60, env={**os.environ, "SYSTEMD_LOG_COLOR": "0"})
    complaints = [x for x in (result.stdout + result.stderr).splitlines() if x.strip()]
    if result.returncode != 0:
        complaints.append(f"exit {result.returncode}")
    return "\n".join(complaints)


@pytest.mark.parametrize("name", ["synthetics-schedule.service", "synthetics-heal.service"])
def test_units_pass_systemd_analyze_verify(tmp_path: Path, name: str) -> None:
    assert _verify(tmp_path, name) == ""


def test_verify_catches_a_typo(tmp_path: Path) -> None:
    complaints = _verify(tmp_path, "synthetics-schedule.service",
                         ("ProtectSystem=strict", "ProtectSystem=strictt"))
    assert "strictt" in complaints


def _directives(name: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in (UNITS / name).read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def test_scheduler_unit_is_hardened_and_restarts() -> None:
    d = _directives("synthetics-schedule.service")
    assert d["DynamicUser"] == ["yes"] and d["User"] == ["synthetics"]
    assert d["StateDirectory"] == ["synthetics"] and d["ProtectSystem"] == ["strict"]
    assert d["Restart"] == ["on-failure"] and d["NoNewPrivileges"] == ["yes"]
    assert d["ProtectHome"] == ["yes"] and d["CapabilityBoundingSet"] == [""]
    assert "schedule --target ${SYNTHETICS_TARGET}" in d["ExecStart"][0]
    # Secrets come from the environment file, never from the unit itself.
    assert not re.search(r"TOKEN=|WEBHOOK=", (UNITS / "synthetics-schedule.service").read_text())


@pytest.mark.parametrize(("name", "extra"), [
    ("synthetics-schedule.service", ["--list"]),
    ("synthetics-heal.service", ["--help"]),
])
def test_unit_command_lines_are_accepted(tmp_path: Path, name: str, extra: list[str]) -> None:
    (command,) = _directives(name)["ExecStart"]
    argv = shlex.split(command.replace("${SYNTHETICS_TARGET}", "https://w.example")
                       .replace("/var/lib/synthetics", str(tmp_path)))
    assert argv[0] == "/opt/synthetics/bin/synthetics"
    run = subprocess.run([str(SYNTHETICS), *argv[1:], *extra], capture_output=True, text=True,
                         timeout=60, cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr


def test_container_runs_the_scheduler_unprivileged_from_existing_files() -> None:
    text = CONTAINERFILE.read_text().replace("\\\n", " ")
    entry = re.search(r"^ENTRYPOINT (\[.*\])$", text, re.M)
    assert entry is not None
    assert json.loads(entry.group(1))[:2] == ["synthetics", "schedule"]
    users = re.findall(r"^USER (\S+)$", text, re.M)
    assert users == ["synthetics"]
    for line in re.findall(r"^COPY (.+)$", text, re.M):
        *sources, _ = line.split()
        for source in sources:
            assert (ROOT / source).exists(), source
    # What the wheel needs: the package, the checks it ships, the README it names.
    copied = " ".join(re.findall(r"^COPY (.+)$", text, re.M))
    for needed in ("pyproject.toml", "README.md", "src", "checks"):
        assert needed in copied.split()
