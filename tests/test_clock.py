"""The one time formatter (synthetics.clock): fixed spellings, in UTC whatever the zone."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from synthetics.clock import STYLES, Style, format_utc

T = 1_757_000_100.25  # 2025-09-04 15:35:00.25 UTC


@pytest.mark.parametrize("style", list(STYLES))
def test_each_style_writes_its_documented_example(style: Style) -> None:
    assert format_utc(T, style) == STYLES[style]


def test_the_default_is_rfc3339_to_the_second() -> None:
    assert format_utc(T) == "2025-09-04T15:35:00Z"


def test_datetimes_are_written_in_utc_and_naive_ones_taken_as_utc() -> None:
    berlin = datetime(2025, 9, 4, 17, 35, 0, 250_000, tzinfo=timezone(timedelta(hours=2)))
    assert format_utc(berlin, "iso-ms") == "2025-09-04T15:35:00.250Z"
    assert format_utc(datetime(2025, 9, 4, 15, 35), "minute") == "2025-09-04 15:35 UTC"


def test_smaller_units_are_cut_not_rounded() -> None:
    assert format_utc(T + 59.749, "second") == "2025-09-04 15:35:59 UTC"  # 15:35:59.999
    assert format_utc(T + 59.749, "minute") == "2025-09-04 15:35 UTC"
    assert format_utc(T + 59.749, "iso-ms") == "2025-09-04T15:35:59.999Z"


def test_the_machines_zone_does_not_matter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Pacific/Kiritimati")  # UTC+14: another day
    time.tzset()
    try:
        assert format_utc(T, "date") == "2025-09-04"
        assert format_utc(datetime(2025, 9, 4, 23, 30), "second") == "2025-09-04 23:30:00 UTC"
    finally:
        monkeypatch.undo()
        time.tzset()
