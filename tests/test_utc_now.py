"""`utc_now`: ISO 8601 UTC with microseconds, its date and time formatted once per second."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from benchtest.values import events
from benchtest.values.events import utc_now

ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00")


def _at(monkeypatch: pytest.MonkeyPatch, ns: int) -> str:
    monkeypatch.setattr(events.time, "time_ns", lambda: ns)
    return utc_now()


def test_the_text_is_what_datetime_writes_for_the_same_instant(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Across a second, a minute, a day and a year boundary, and a fraction of 0 (which
    # datetime.isoformat leaves out: utc_now always writes it).
    for instant in (
        datetime(2026, 12, 31, 23, 59, 59, 999_999, UTC),
        datetime(2027, 1, 1, 0, 0, 0, 0, UTC),
        datetime(2027, 1, 1, 0, 0, 0, 1, UTC),
        datetime(2026, 3, 1, 12, 30, 59, 500_000, UTC),
        datetime(2026, 3, 1, 12, 31, 0, 250_000, UTC),
        datetime(2026, 3, 1, 12, 30, 59, 750_000, UTC),  # back in time: the clock was set
    ):
        epoch = instant - datetime(1970, 1, 1, tzinfo=UTC)
        ns = (epoch // timedelta(microseconds=1)) * 1000 + 999  # nanoseconds are cut, not rounded
        text = _at(monkeypatch, ns)
        assert ISO.fullmatch(text), text
        assert datetime.fromisoformat(text) == instant
        assert text == instant.isoformat(timespec="microseconds")


def test_it_reads_the_system_clock() -> None:
    text = utc_now()
    assert ISO.fullmatch(text), text
    # Generous: only that it is the system's UTC time (a stepped clock must not fail this).
    assert abs(datetime.fromisoformat(text) - datetime.now(UTC)) < timedelta(hours=1)
