"""The one time formatter: every UTC time the project writes, in one of seven spellings.

Times are epoch seconds (what the history, the state files and `time.time()` hold) or aware
datetimes; either way they are written in UTC, whatever the machine's zone. The spellings are
fixed because files and other programs read them: `iso` is RFC 3339 to the second (audit log,
state files, Alertmanager, GraphQL filters), `iso-ms` is JavaScript's `toISOString()` (the
reference worker's timestamps), `minute` and `second` are for people (reports, status page,
alerts, the scheduler's log) and say "UTC", `date` is a day; `day` and `time` label the
report's time axes (whose title says UTC).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Literal

__all__ = ["STYLES", "Style", "format_utc"]

Style = Literal["iso", "iso-ms", "minute", "second", "date", "day", "time"]

#: Each style with an example of what it writes.
STYLES: dict[Style, str] = {
    "iso": "2025-09-04T15:35:00Z",
    "iso-ms": "2025-09-04T15:35:00.250Z",
    "minute": "2025-09-04 15:35 UTC",
    "second": "2025-09-04 15:35:00 UTC",
    "date": "2025-09-04",
    "day": "Sep 04",
    "time": "15:35",
}

_STRFTIME: dict[Style, str] = {
    "iso": "%Y-%m-%dT%H:%M:%SZ",
    "minute": "%Y-%m-%d %H:%M UTC",
    "second": "%Y-%m-%d %H:%M:%S UTC",
    "date": "%Y-%m-%d",
    "day": "%b %d",
    "time": "%H:%M",
}


def format_utc(when: float | datetime, style: Style = "iso") -> str:
    """`when` (epoch seconds, or a datetime: a naive one is taken as UTC) written in `style`.

    Smaller units are cut, not rounded: 15:35:59.9 is 15:35 in `minute`, as a clock shows it.
    """
    if isinstance(when, datetime):
        moment = (when.replace(tzinfo=timezone.utc) if when.tzinfo is None
                  else when.astimezone(timezone.utc))
    else:
        moment = datetime.fromtimestamp(when, timezone.utc)
    if style == "iso-ms":
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return moment.strftime(_STRFTIME[style])
