"""The worker under test: one `Worker`, made by the plugin and read by every output.

A run checks either the worker `--target` names or, without one, the built-in reference worker
(`synthetics.reference`), which is started on a loopback port only when a check needs it. Every
output says which it was in the same words, so it asks this object rather than the settings:
`label` is what history, alerts, metrics and the status page file the worker under (its URL, or
`builtin` for the reference worker, whose port changes every run), and `description` is the one
line the terminal, the HTML report and the GitHub summary show (loud for the reference worker,
which is not production).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

__all__ = ["BUILTIN_LABEL", "Worker"]

#: The label of the built-in reference worker in history and metrics: one label for every run,
#: whatever port it got.
BUILTIN_LABEL = "builtin"


@dataclass(frozen=True)
class Worker:
    """The worker being checked: its URL (None while the built-in one is not started) and
    whether it is the built-in reference worker."""

    url: str | None
    builtin: bool

    @classmethod
    def from_target(cls, target: str | None) -> Worker:
        """The worker `--target` names (a parsed URL), or the built-in one (not started)."""
        return cls(target, builtin=target is None)

    @classmethod
    def from_label(cls, label: str) -> Worker:
        """The worker a history or metrics label stands for."""
        return cls.from_target(None if label == BUILTIN_LABEL else label)

    def started(self, url: str) -> Worker:
        """This worker, now listening at `url` (the built-in one once it is started)."""
        return replace(self, url=url)

    @property
    def label(self) -> str:
        """What history, alerts, metrics and the status page file this worker under."""
        return BUILTIN_LABEL if self.builtin else (self.url or "")

    @property
    def description(self) -> str:
        """The one line every report shows for this worker."""
        if not self.builtin:
            return self.url or ""
        where = f" at {self.url} (" if self.url else " (started on loopback when a check needs it; "
        return (f"BUILT-IN REFERENCE WORKER{where}a local stand-in, NOT the production worker; "
                "pass --target URL to check a real one)")
