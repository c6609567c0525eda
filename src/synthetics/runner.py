"""The one subprocess runner: an argv with a deadline, its process group killed, output scrubbed.

Everything the project runs — wrangler's deploy and rollback (`synthetics.selfheal.ladder`), a
scheduled job (`synthetics.schedule.scheduler`), the evening review's wrangler commands
(`synthetics.schedule.review`) — goes through `run_command`: an argv list (never a shell
string), stdin closed, in a session of its own so that on timeout the whole process group is
stopped (a wrangler that spawned esbuild, a pytest that spawned workers), not just its first
process.
Output is decoded leniently, stripped of colour codes and scrubbed of secrets (the command's own
environment, then this process's: `synthetics.scrub`), since callers log and record it. Each
caller keeps its own words for how a command ended; this module only says what happened.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from synthetics.scrub import scrub

__all__ = ["Completed", "clean_output", "run_command"]

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07")


@dataclass(frozen=True)
class Completed:
    """How a command ended. `exit_code` is the process's return code (negative: the signal that
    ended it, the runner's own on timeout); `stderr` is "" when it was merged into `stdout`."""

    exit_code: int | None
    stdout: str
    stderr: str
    duration: float
    timed_out: bool = False


def clean_output(raw: bytes | None, env: Mapping[str, str] | None = None) -> str:
    """`raw` as text for people and logs: UTF-8 (bad bytes replaced), colour codes and \\r\\n
    line ends gone, secrets of `env` and of this process replaced by their labels."""
    text = _ANSI.sub("", (raw or b"").decode("utf-8", "replace")).replace("\r\n", "\n")
    return scrub(scrub(text, env)) if env is not None else scrub(text)


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def run_command(argv: Sequence[str], *, timeout: float | None,
                env: Mapping[str, str] | None = None, cwd: str | None = None,
                merge_stderr: bool = True, own_group: bool = True,
                stop_signals: Sequence[int] = (signal.SIGKILL,), grace: float = 5.0,
                clock: Callable[[], float] = time.monotonic) -> Completed:
    """Run `argv` (with `env`, default this process's) for at most `timeout` seconds (None: as
    long as it takes).

    On timeout the command's process group gets each of `stop_signals` in turn, `grace` seconds
    apart, until it has ended (the last signal is waited for without limit: make it SIGKILL).
    `own_group=False` (only without a timeout) leaves the command in this process's group, so
    whatever stops this process's group stops it too (a job's pytest under the scheduler).
    Raises OSError when the command cannot be started; any other exception while it runs (a
    KeyboardInterrupt) kills the command first.
    """
    if timeout is not None and not own_group:
        raise ValueError("a timeout stops the command's own process group: keep own_group")
    started = clock()
    proc = subprocess.Popen(list(argv), env=None if env is None else dict(env), cwd=cwd,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
                            start_new_session=own_group)
    timed_out = False
    out: bytes | None
    err: bytes | None
    try:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            out, err = _stop(proc, stop_signals, grace)
    except BaseException:
        if own_group:
            _signal_group(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
        proc.wait()
        raise
    return Completed(proc.returncode, clean_output(out, env), clean_output(err, env),
                     clock() - started, timed_out)


def _stop(proc: subprocess.Popen[bytes], stop_signals: Sequence[int],
          grace: float) -> tuple[bytes | None, bytes | None]:
    for i, sig in enumerate(stop_signals):
        _signal_group(proc.pid, sig)
        last = i == len(stop_signals) - 1
        try:
            return proc.communicate(timeout=None if last else grace)
        except subprocess.TimeoutExpired:
            continue
    return proc.communicate()  # no signals given: wait for it
