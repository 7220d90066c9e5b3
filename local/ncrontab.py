"""NCRONTAB expressions as Azure Functions reads them: `{second} {minute} {hour} {day} {month} {day-of-week}`.

The local host fires timer functions with this, so a schedule that works here parses the same way on Azure.
Supported per field: `*`, numbers, ranges `a-b`, steps `*/n` and `a-b/n`, lists `a,b`, and month/day names.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

_FIELDS = (
    ("second", 0, 59),
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day", 1, 31),
    ("month", 1, 12),
    ("dow", 0, 7),
)  # 0 and 7 are both Sunday
_NAMES = {
    "month": {m: i + 1 for i, m in enumerate("JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split())},
    "dow": {d: i for i, d in enumerate("SUN MON TUE WED THU FRI SAT".split())},
}


class ScheduleError(ValueError):
    """The expression is not valid NCRONTAB; the message names the field."""


@dataclass(frozen=True)
class Schedule:
    expression: str
    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]

    def next_after(self, moment: datetime) -> datetime:
        """The first time strictly after `moment` that matches (same tzinfo as `moment`)."""
        start = moment.replace(microsecond=0) + timedelta(seconds=1)
        day = start.replace(hour=0, minute=0, second=0)
        for _ in range(366 * 5):
            weekday = (day.weekday() + 1) % 7  # Python: Monday=0; cron: Sunday=0
            if day.month in self.months and day.day in self.days and weekday in self.weekdays:
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        for second in sorted(self.seconds):
                            candidate = day.replace(hour=hour, minute=minute, second=second)
                            if candidate >= start:
                                return candidate
            day += timedelta(days=1)
        raise ScheduleError(f"schedule {self.expression!r} never fires")


def parse_schedule(expression: str) -> Schedule:
    """Parse a six-field NCRONTAB expression, e.g. `0 30 2 * * *` (02:30:00 every day)."""
    parts = expression.split()
    if len(parts) != 6:
        raise ScheduleError(
            f"schedule {expression!r} must have six fields (second minute hour day month day-of-week), "
            f"got {len(parts)}"
        )
    values = [
        _parse_field(part, name, low, high) for part, (name, low, high) in zip(parts, _FIELDS, strict=True)
    ]
    return Schedule(expression, *values)


def _parse_field(text: str, name: str, low: int, high: int) -> frozenset[int]:
    result: set[int] = set()
    for item in text.split(","):
        base, _, step_text = item.partition("/")
        step = _number(step_text, name) if step_text else 1
        if step < 1:
            raise ScheduleError(f"{name}: step must be at least 1 in {text!r}")
        if base == "*":
            first, last = low, high
        elif "-" in base:
            first_text, last_text = base.split("-", 1)
            first, last = _value(first_text, name), _value(last_text, name)
        else:
            first = _value(base, name)
            last = high if step_text else first
        if not (low <= first <= high and low <= last <= high and first <= last):
            raise ScheduleError(f"{name}: {item!r} is outside {low}-{high}")
        result.update(range(first, last + 1, step))
    if name == "dow" and 7 in result:
        result = (result - {7}) | {0}
    return frozenset(result)


def _value(text: str, name: str) -> int:
    names = _NAMES.get(name, {})
    if text.upper() in names:
        return names[text.upper()]
    return _number(text, name)


def _number(text: str, name: str) -> int:
    if not text.isdigit():
        raise ScheduleError(f"{name}: {text!r} is not a number")
    return int(text)
