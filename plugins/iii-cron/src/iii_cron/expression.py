"""The reference's cron expressions (Quartz-style, seconds first) on top of croniter.

Grammar (6 fields, or 7 with a year): ``sec min hour day-of-month month day-of-week [year]``.
Every field takes ``*``, a value, a list ``a,b``, a range ``a-b``, and steps ``*/n``, ``a/n``
(from ``a`` to the field's maximum) and ``a-b/n``. Months take ``JAN``-``DEC`` (or full names),
days of week ``SUN``-``SAT`` (or full names, ``TUES``, ``THURS``). ``?`` means "any" in the two
day fields. Day-of-week numbers are **1-7 with 1 = Sunday**. When both day fields are
restricted, a day must match both. Shorthands: ``@yearly``, ``@monthly``, ``@weekly``,
``@daily``, ``@hourly``.

The expression is parsed here into explicit value sets (so every error names the field), then
handed to croniter in its own dialect (day of week 0-6 with 0 = Sunday, seconds moved by
``second_at_beginning``, ``day_or=False`` for the AND rule) to compute fire times.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from croniter import CroniterBadDateError, croniter

SHORTHANDS = {
    "@yearly": "0 0 0 1 1 *",
    "@monthly": "0 0 0 1 * *",
    "@weekly": "0 0 0 * * 1",
    "@daily": "0 0 0 * * *",
    "@hourly": "0 0 * * * *",
}

MONTH_NAMES = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}

WEEKDAY_NAMES = {
    name: number
    for number, names in enumerate(
        (
            ("sun", "sunday"),
            ("mon", "monday"),
            ("tue", "tues", "tuesday"),
            ("wed", "wednesday"),
            ("thu", "thurs", "thursday"),
            ("fri", "friday"),
            ("sat", "saturday"),
        ),
        start=1,
    )
    for name in names
}

FIELD_ORDER = "sec min hour day-of-month month day-of-week [year]"

# The latest year croniter can schedule; the reference accepts up to 2100.
MAX_YEAR = 2099


class CronExpressionError(ValueError):
    """An expression the reference parser would refuse; the message says which field and why."""


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One position of the expression: its name, value range, names and whether ``?`` is allowed."""

    name: str
    minimum: int
    maximum: int
    names: dict[str, int] | None = None
    allows_any: bool = False


FIELDS = (
    FieldSpec("seconds", 0, 59),
    FieldSpec("minutes", 0, 59),
    FieldSpec("hours", 0, 23),
    FieldSpec("day-of-month", 1, 31, allows_any=True),
    FieldSpec("month", 1, 12, MONTH_NAMES),
    FieldSpec("day-of-week", 1, 7, WEEKDAY_NAMES, allows_any=True),
    FieldSpec("year", 1970, MAX_YEAR),
)


def _value(spec: FieldSpec, text: str) -> int:
    """A number or (where the field has names) a name, checked against the field's range."""
    if text.isdigit():
        value = int(text)
    elif spec.names is not None and text.lower() in spec.names:
        value = spec.names[text.lower()]
    elif spec.names is not None and text.isalpha():
        raise CronExpressionError(f"'{text}' is not a valid {spec.name} name")
    else:
        raise CronExpressionError(f"'{text}' is not a valid {spec.name} value")
    if not spec.minimum <= value <= spec.maximum:
        raise CronExpressionError(
            f"{spec.name} must be between {spec.minimum} and {spec.maximum}, got {value}"
        )
    return value


def _span(spec: FieldSpec, text: str) -> tuple[int, int, bool]:
    """The start and end of ``*``, ``?``, ``a`` or ``a-b``; the flag says ``a`` stood alone."""
    if text == "*" or (text == "?" and spec.allows_any):
        return spec.minimum, spec.maximum, False
    if "-" in text:
        first, _, last = text.partition("-")
        start, end = _value(spec, first), _value(spec, last)
        if start > end:
            raise CronExpressionError(f"invalid {spec.name} range '{text}': start is after end")
        return start, end, False
    value = _value(spec, text)
    return value, value, True


def _item(spec: FieldSpec, text: str) -> set[int]:
    """The values of one comma-separated item of a field."""
    if not text:
        raise CronExpressionError(f"empty item in the {spec.name} field")
    base, slash, step_text = text.partition("/")
    start, end, single = _span(spec, base)
    if not slash:
        return set(range(start, end + 1))
    if not step_text.isdigit() or int(step_text) == 0:
        raise CronExpressionError(f"invalid step '{step_text}' in the {spec.name} field")
    if single:
        if not base.isdigit():
            raise CronExpressionError(f"a step needs a number, '*' or a range before '/', got '{base}'")
        end = spec.maximum
    return set(range(start, end + 1, int(step_text)))


def _field(spec: FieldSpec, text: str) -> frozenset[int]:
    values: set[int] = set()
    for item in text.split(","):
        values |= _item(spec, item)
    return frozenset(values)


class CronSchedule:
    """A parsed expression: the allowed values of each field, evaluated in ``timezone``."""

    __slots__ = ("_iterator", "expression", "fields", "timezone")

    def __init__(self, expression: str, fields: tuple[frozenset[int], ...], timezone: tzinfo = UTC) -> None:
        self.expression = expression
        self.fields = fields
        self.timezone = timezone
        self._iterator = croniter(
            self.croniter_expression,
            datetime.now(timezone),
            day_or=False,
            second_at_beginning=True,
            max_years_between_matches=MAX_YEAR - 1970,
        )

    @property
    def croniter_expression(self) -> str:
        """The same schedule in croniter's dialect (day of week shifted to 0-6, Sunday = 0)."""
        parts = []
        for spec, values in zip(FIELDS, self.fields, strict=True):
            if len(values) == spec.maximum - spec.minimum + 1:
                parts.append("*")
                continue
            shift = 1 if spec is FIELDS[5] else 0
            parts.append(",".join(str(value - shift) for value in sorted(values)))
        return " ".join(parts)

    def next_after(self, timestamp: float) -> float | None:
        """The first fire time strictly after ``timestamp`` (POSIX seconds), or None if none is left.

        In a zone with daylight saving, a schedule with fixed hours fires once in the hour that
        repeats when clocks go back (the first pass); a time skipped when clocks go forward fires
        at the first instant after the gap (croniter's rule).
        """
        self._iterator.set_current(datetime.fromtimestamp(timestamp, self.timezone), force=True)
        try:
            due = float(self._iterator.get_next(float))
            while self._fixed_hours and datetime.fromtimestamp(due, self.timezone).fold:
                due = float(self._iterator.get_next(float))
        except CroniterBadDateError:
            return None
        return due

    @property
    def _fixed_hours(self) -> bool:
        return self.timezone is not UTC and len(self.fields[2]) < 24


def parse(expression: object, timezone: tzinfo = UTC) -> CronSchedule:
    """Parse a reference cron expression; raises CronExpressionError with the reason."""
    if not isinstance(expression, str) or not expression.strip():
        raise CronExpressionError("expression must be a non-empty string")
    text = SHORTHANDS.get(expression.strip().lower(), expression)
    parts = text.split()
    if len(parts) not in (6, 7):
        hint = " (classic 5-field crontab is not accepted: add seconds first)" if len(parts) == 5 else ""
        raise CronExpressionError(f"expected 6 or 7 fields ({FIELD_ORDER}), got {len(parts)}{hint}")
    if len(parts) == 6:
        parts.append("*")
    fields = tuple(_field(spec, part) for spec, part in zip(FIELDS, parts, strict=True))
    schedule = CronSchedule(expression, fields, timezone)
    if schedule.next_after(datetime.now(UTC).timestamp()) is None:
        raise CronExpressionError("the expression never fires again")
    return schedule
