"""The one file lock (synthetics.filelock): a second holder is refused and told who holds it."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from synthetics.filelock import FileLock, locked

_HOLD = """
import sys
from synthetics.filelock import FileLock
lock = FileLock(sys.argv[1])
print(lock.acquire("pid in child"), flush=True)
sys.stdin.read()
"""


def test_a_second_holder_is_refused_and_learns_the_first(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "x.lock"
    first, second = FileLock(path), FileLock(path)
    assert first.acquire("first holder")
    assert not second.acquire("second holder")
    assert second.holder() == "first holder"
    first.release()
    assert second.acquire("second holder")
    assert first.holder() == "second holder"
    second.release()
    second.release()  # twice is harmless


def test_another_process_is_refused_until_the_holder_dies(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    child = subprocess.Popen([sys.executable, "-c", _HOLD, str(path)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "True"
        mine = FileLock(path)
        assert not mine.acquire("parent")
        assert mine.holder() == "pid in child"
    finally:
        child.kill()
        child.communicate()
    assert mine.acquire("parent")  # the kernel let go of the dead holder's lock
    mine.release()


def test_holder_is_unknown_without_a_file_or_a_name(tmp_path: Path) -> None:
    lock = FileLock(tmp_path / "x.lock")
    assert lock.holder() == "unknown"
    lock.path.write_text("\n")
    assert lock.holder() == "unknown"


def test_locked_makes_a_second_writer_wait(tmp_path: Path) -> None:
    path = tmp_path / "log"
    path.touch()
    entered = threading.Event()
    with open(path, "a") as mine, locked(mine):

        def other() -> None:
            with open(path, "a") as theirs, locked(theirs):
                entered.set()

        thread = threading.Thread(target=other)
        thread.start()
        assert not entered.wait(0.2)  # blocked while this block holds the lock
    thread.join(timeout=10)
    assert entered.is_set()
