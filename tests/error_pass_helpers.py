"""What the error-rate pass's tests share: a documented row by check and subject, and a clock."""

from __future__ import annotations

from synthetics.expectations import Expectation, expectations_for


def row(check: str, subject: str) -> Expectation:
    """The documented error-rate row of `check` on `subject`."""
    return next(t for t in expectations_for(check) if t.subject == subject)


class Ticks:
    """A clock that moves one second each time it is read."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now
