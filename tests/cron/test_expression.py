"""The reference's expression format: fields, day-of-week numbering, errors, timezones."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from iii_cron.expression import CronExpressionError, parse

# Sunday 2026-03-15 10:00:00 UTC
SUNDAY = datetime(2026, 3, 15, 10, 0, 0, tzinfo=UTC)


def fire_times(expression: str, count: int = 3, start: datetime = SUNDAY, timezone=UTC) -> list[datetime]:
    schedule = parse(expression, timezone)
    times, after = [], start.timestamp()
    for _ in range(count):
        after = schedule.next_after(after)
        times.append(datetime.fromtimestamp(after, UTC))
    return times


def weekdays(expression: str, count: int) -> set[str]:
    """The weekday names of the next ``count`` fire times after SUNDAY 10:00."""
    return {t.strftime("%a") for t in fire_times(expression, count)}


def test_seconds_come_first_and_next_is_strictly_after() -> None:
    assert fire_times("* * * * * *") == [datetime(2026, 3, 15, 10, 0, s, tzinfo=UTC) for s in (1, 2, 3)]
    assert fire_times("*/5 * * * * *") == [datetime(2026, 3, 15, 10, 0, s, tzinfo=UTC) for s in (5, 10, 15)]
    assert fire_times("30 * * * * *", 1) == [datetime(2026, 3, 15, 10, 0, 30, tzinfo=UTC)]
    assert fire_times("0 0 2 * * *", 1) == [datetime(2026, 3, 16, 2, 0, 0, tzinfo=UTC)]
    schedule = parse("* * * * * *")
    assert schedule.next_after(SUNDAY.timestamp() + 0.5) == SUNDAY.timestamp() + 1


def test_seven_fields_take_a_year() -> None:
    assert fire_times("0 0 0 29 2 ? 2028", 1) == [datetime(2028, 2, 29, tzinfo=UTC)]
    assert fire_times("0 0 12 1 1 * 2027-2030", 2) == [
        datetime(2027, 1, 1, 12, tzinfo=UTC),
        datetime(2028, 1, 1, 12, tzinfo=UTC),
    ]


@pytest.mark.parametrize(
    ("field", "days"),
    [
        ("1", ["Sun"]),
        ("7", ["Sat"]),
        ("SUN", ["Sun"]),
        ("sat", ["Sat"]),
        ("2-6", ["Mon", "Tue", "Wed", "Thu", "Fri"]),
        ("MON-FRI", ["Mon", "Tue", "Wed", "Thu", "Fri"]),
        ("Monday-Thurs", ["Mon", "Tue", "Wed", "Thu"]),
        ("1,7", ["Sun", "Sat"]),
        ("*/2", ["Sun", "Tue", "Thu", "Sat"]),
        ("2/3", ["Mon", "Thu"]),
        ("3-7/2", ["Tue", "Thu", "Sat"]),
        ("?", ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]),
    ],
)
def test_day_of_week_is_one_to_seven_with_sunday_one(field: str, days: list[str]) -> None:
    assert weekdays(f"0 0 12 * * {field}", 14) == set(days)


def test_both_day_fields_restricted_must_both_match() -> None:
    # Friday the 13th: the next ones after 2026-03-15 are November 2026 and August 2027.
    assert fire_times("0 0 0 13 * FRI", 2) == [
        datetime(2026, 11, 13, tzinfo=UTC),
        datetime(2027, 8, 13, tzinfo=UTC),
    ]


def test_months_by_name_and_shorthands() -> None:
    assert fire_times("0 0 0 1 JAN,jul *", 2) == [
        datetime(2026, 7, 1, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
    ]
    assert fire_times("@daily", 1) == [datetime(2026, 3, 16, tzinfo=UTC)]
    assert fire_times("@hourly", 1) == [datetime(2026, 3, 15, 11, tzinfo=UTC)]
    assert fire_times("@weekly", 1) == [datetime(2026, 3, 22, tzinfo=UTC)]  # Sunday 00:00
    assert fire_times("@monthly", 1) == [datetime(2026, 4, 1, tzinfo=UTC)]
    assert fire_times("@yearly", 1) == [datetime(2027, 1, 1, tzinfo=UTC)]


def test_timezone_moves_the_wall_clock() -> None:
    paris = ZoneInfo("Europe/Paris")  # UTC+1 in March before the switch on the 29th
    assert fire_times("0 0 9 * * *", 1, timezone=paris) == [datetime(2026, 3, 16, 8, tzinfo=UTC)]
    # after the DST switch Paris is UTC+2
    assert fire_times("0 0 9 * * *", 1, start=datetime(2026, 4, 1, tzinfo=UTC), timezone=paris) == [
        datetime(2026, 4, 1, 7, tzinfo=UTC)
    ]


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("", "non-empty"),
        (None, "non-empty"),
        (42, "non-empty"),
        ("* * * * *", "classic 5-field"),
        ("* * * * * * * *", "got 8"),
        ("60 * * * * *", "seconds must be between 0 and 59, got 60"),
        ("* 60 * * * *", "minutes must be between 0 and 59"),
        ("* * 24 * * *", "hours must be between 0 and 23"),
        ("* * * 0 * *", "day-of-month must be between 1 and 31"),
        ("* * * * 13 *", "month must be between 1 and 12"),
        ("* * * * * 0", "day-of-week must be between 1 and 7, got 0"),
        ("* * * * * 8", "day-of-week must be between 1 and 7, got 8"),
        ("* * * * * SAT-SUN", "start is after end"),
        ("* * * * * FUNDAY", "not a valid day-of-week name"),
        ("* * * * FOO *", "not a valid month name"),
        ("* * * * * MON/2", "a step needs a number"),
        ("*/0 * * * * *", "invalid step '0'"),
        ("*/x * * * * *", "invalid step 'x'"),
        ("1,,2 * * * * *", "empty item"),
        ("? * * * * *", "not a valid seconds value"),
        ("* * * * ? *", "not a valid month value"),
        ("* * * * * * 1969", "year must be between 1970"),
        ("0 0 0 31 2 ?", "never fires again"),
        ("0 0 0 1 1 * 2020", "never fires again"),
        ("@reboot", "got 1"),
    ],
)
def test_invalid_expressions_say_why(expression: object, reason: str) -> None:
    with pytest.raises(CronExpressionError) as caught:
        parse(expression)
    assert reason in str(caught.value)


def test_daylight_saving_changes() -> None:
    paris = ZoneInfo("Europe/Paris")
    # clocks go forward at 02:00 on 2026-03-29: 02:30 does not exist, it fires at 03:00 local
    assert fire_times("0 30 2 * * *", 3, start=datetime(2026, 3, 27, 12, tzinfo=UTC), timezone=paris) == [
        datetime(2026, 3, 28, 1, 30, tzinfo=UTC),
        datetime(2026, 3, 29, 1, 0, tzinfo=UTC),
        datetime(2026, 3, 30, 0, 30, tzinfo=UTC),
    ]
    # clocks go back at 03:00 on 2026-10-25: a fixed 02:30 fires once, in the first pass
    assert fire_times("0 30 2 * * *", 2, start=datetime(2026, 10, 24, 12, tzinfo=UTC), timezone=paris) == [
        datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
        datetime(2026, 10, 26, 1, 30, tzinfo=UTC),
    ]
    # an every-30-minutes schedule keeps real-time spacing through the repeated hour
    half_hours = fire_times(
        "0 */30 * * * *", 4, start=datetime(2026, 10, 25, 0, 1, tzinfo=UTC), timezone=paris
    )
    assert half_hours == [
        datetime(2026, 10, 25, h, m, tzinfo=UTC) for h, m in ((0, 30), (1, 0), (1, 30), (2, 0))
    ]
