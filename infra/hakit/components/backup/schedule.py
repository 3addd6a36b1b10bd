"""AWS schedule expressions: six-field cron(...) and rate(...), plus AWS Backup's own limits (pure)."""

import re
from collections.abc import Mapping
from dataclasses import dataclass

_MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAY_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_MONTHS = {m: i + 1 for i, m in enumerate(_MONTH_NAMES)}
_DAYS = {d: i + 1 for i, d in enumerate(_DAY_NAMES)}
_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\((.*)\)$")


@dataclass(frozen=True)
class _CronField:
    name: str
    low: int
    high: int
    names: Mapping[str, int]


_CRON_FIELDS = (
    _CronField("minutes", 0, 59, {}),
    _CronField("hours", 0, 23, {}),
    _CronField("day-of-month", 1, 31, {}),
    _CronField("month", 1, 12, _MONTHS),
    _CronField("day-of-week", 1, 7, _DAYS),
    _CronField("year", 1970, 2199, {}),
)


def _cron_value(text: str, spec: _CronField) -> int:
    value = spec.names.get(text.upper()) if spec.names else None
    if value is None:
        if not text.isdigit():
            raise ValueError(f"{spec.name} value {text!r} is not a number")
        value = int(text)
    if not spec.low <= value <= spec.high:
        raise ValueError(f"{spec.name} value {text} is outside {spec.low}..{spec.high}")
    return value


def _cron_item(item: str, spec: _CronField) -> None:
    if spec.name == "day-of-month" and (item in ("L", "LW") or re.fullmatch(r"\d{1,2}W", item)):
        if item[:-1].isdigit():
            _cron_value(item[:-1], spec)
        return
    if spec.name == "day-of-week":
        nth = re.fullmatch(r"(\w+)#([1-5])", item)
        if nth:
            _cron_value(nth.group(1), spec)
            return
        if item == "L" or (item.endswith("L") and len(item) > 1):
            if item != "L":
                _cron_value(item[:-1], spec)
            return
    base, slash, step = item.partition("/")
    if slash and (not step.isdigit() or int(step) < 1):
        raise ValueError(f"{spec.name} step {step!r} must be a positive number")
    if base == "*":
        return
    low, dash, high = base.partition("-")
    first = _cron_value(low, spec)
    if dash and _cron_value(high, spec) < first:
        raise ValueError(f"{spec.name} range {base} runs backwards")


def parse_cron(expression: str) -> tuple[str, ...]:
    """Check an AWS six-field cron(...) expression; return its fields or raise ValueError saying why."""
    match = _CRON.fullmatch(expression.strip())
    if not match:
        raise ValueError(f"{expression!r} is not cron(minutes hours day-of-month month day-of-week year)")
    fields = tuple(match.group(1).split())
    if len(fields) != 6:
        raise ValueError(f"{expression!r} has {len(fields)} fields; AWS cron has 6")
    for text, spec in zip(fields, _CRON_FIELDS, strict=True):
        if text == "?":
            if spec.name not in ("day-of-month", "day-of-week"):
                raise ValueError(f"'?' is only allowed in day-of-month or day-of-week, not {spec.name}")
            continue
        for item in text.split(","):
            _cron_item(item, spec)
    if (fields[2] == "?") == (fields[4] == "?"):
        raise ValueError(f"{expression!r}: exactly one of day-of-month and day-of-week must be '?'")
    return fields


def parse_rate(expression: str) -> tuple[int, str]:
    """Check an AWS rate(value unit) expression; return (value, unit) or raise ValueError."""
    match = _RATE.fullmatch(expression.strip())
    if not match:
        raise ValueError(f"{expression!r} is not rate(<value> minute|minutes|hour|hours|day|days)")
    value, unit = int(match.group(1)), match.group(2)
    if value < 1:
        raise ValueError(f"{expression!r}: the value must be positive")
    if (value == 1) == unit.endswith("s"):
        raise ValueError(f"{expression!r}: use the singular unit for 1 and the plural otherwise")
    return value, unit


def check_backup_schedule(expression: str, where: str) -> None:
    """AWS Backup schedules are cron(...) only and fire at most once an hour."""
    if expression.strip().startswith("rate("):
        try:
            parse_rate(expression)
        except ValueError as error:
            raise ValueError(f"{where}: {error}") from None
        raise ValueError(f"{where}: AWS Backup accepts only cron(...) schedules, not {expression!r}")
    try:
        fields = parse_cron(expression)
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None
    if not fields[0].isdigit():
        raise ValueError(
            f"{where}: AWS Backup runs at most hourly; "
            f"the minutes field must be one number, got {fields[0]!r}"
        )
