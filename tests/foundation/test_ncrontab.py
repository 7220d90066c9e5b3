from __future__ import annotations

from datetime import UTC, datetime

import pytest

from local.ncrontab import ScheduleError, parse_schedule

FRIDAY_NIGHT = datetime(2026, 11, 27, 23, 59, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("0 30 2 * * *", datetime(2026, 11, 28, 2, 30, tzinfo=UTC)),
        ("*/10 * * * * *", datetime(2026, 11, 27, 23, 59, 40, tzinfo=UTC)),
        ("0 0 9 * * 1-5", datetime(2026, 11, 30, 9, 0, tzinfo=UTC)),
        ("0 0 0 * * 7", datetime(2026, 11, 29, 0, 0, tzinfo=UTC)),
        ("0 0 0 1 JAN *", datetime(2027, 1, 1, 0, 0, tzinfo=UTC)),
    ],
)
def test_next_fire_time(expression: str, expected: datetime) -> None:
    assert parse_schedule(expression).next_after(FRIDAY_NIGHT) == expected


@pytest.mark.parametrize("expression", ["0 30 2 * *", "0 61 * * * *", "x * * * * *", "0 0 0 * * 1-9"])
def test_invalid_schedules_are_rejected(expression: str) -> None:
    with pytest.raises(ScheduleError):
        parse_schedule(expression)
