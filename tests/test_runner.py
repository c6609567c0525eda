"""The one subprocess runner (synthetics.runner): deadline, process-group stop, scrubbed output."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from synthetics.runner import clean_output, run_command

TOKEN = "tok-runner-0123456789abcdef"

# Ignores SIGTERM (saying so), starts a grandchild in its group (not holding the output pipe, so
# only a group-wide stop ends it), prints both pids, then hangs.
_STUBBORN = """
import os, signal, subprocess, sys, time
signal.signal(signal.SIGTERM, lambda *_: print("got TERM", flush=True))
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(os.getpid(), child.pid, flush=True)
while True:
    time.sleep(0.05)
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_timeout_stops_the_whole_process_group_signal_by_signal() -> None:
    # 4 s: long enough for the child to start and print even on a loaded machine.
    done = run_command([sys.executable, "-c", _STUBBORN], timeout=4,
                       stop_signals=(signal.SIGTERM, signal.SIGKILL), grace=0.5)
    assert done.timed_out
    assert done.exit_code == -signal.SIGKILL  # SIGTERM was ignored, so SIGKILL ended it
    first, *rest = done.stdout.splitlines()
    assert rest == ["got TERM"]
    pids = [int(p) for p in first.split()]
    try:
        for _ in range(50):  # signals are delivered asynchronously; give the kernel a moment
            if not any(_alive(p) for p in pids):
                break
            time.sleep(0.1)
        assert not any(_alive(p) for p in pids), "a process of the timed-out group survived"
    finally:
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def test_a_command_that_finishes_keeps_its_exit_code_and_streams() -> None:
    code = "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)"
    split = run_command([sys.executable, "-c", code], timeout=30, merge_stderr=False)
    assert (split.exit_code, split.stdout, split.stderr, split.timed_out) == (
        3, "out\n", "err\n", False)
    merged = run_command([sys.executable, "-c", code], timeout=30)
    assert sorted(merged.stdout.splitlines()) == ["err", "out"] and merged.stderr == ""


def test_output_is_scrubbed_of_the_commands_and_this_processs_secrets(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OWN_API_TOKEN", "own-secret-value-42")
    env = {"PATH": "/usr/bin:/bin", "CLOUDFLARE_API_TOKEN": TOKEN}
    code = ("import sys; print('deploying with " + TOKEN + "'); "
            "print('own-secret-value-42', file=sys.stderr)")
    done = run_command([sys.executable, "-c", code], timeout=30, env=env, merge_stderr=False)
    assert TOKEN not in done.stdout and "[CLOUDFLARE_API_TOKEN redacted]" in done.stdout
    assert done.stderr == "[OWN_API_TOKEN redacted]\n"


def test_output_loses_colour_codes_and_carriage_returns() -> None:
    assert clean_output(b"\x1b[32mgreen\x1b[0m\r\nbad \xff byte", {}) == "green\nbad \ufffd byte"


def test_a_command_that_cannot_start_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        run_command([str(tmp_path / "missing")], timeout=5)


def test_own_group_false_keeps_the_command_in_this_process_group() -> None:
    code = "import os; print(os.getpgid(0))"
    assert run_command([sys.executable, "-c", code], timeout=None, own_group=False).stdout == (
        f"{os.getpgid(0)}\n")
    assert run_command([sys.executable, "-c", code], timeout=30).stdout != f"{os.getpgid(0)}\n"
    with pytest.raises(ValueError, match="own process group"):
        run_command([sys.executable, "-c", code], timeout=30, own_group=False)
