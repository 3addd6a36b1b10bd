"""AWS schedule expressions (`cron(...)`, `rate(...)`) -> the longest gap between runs (a backup's RPO)."""

from __future__ import annotations

import itertools
import re
from datetime import date, timedelta

_DAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
_MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_MONTHS = {m: i for i, m in enumerate(_MONTH_NAMES, start=1)}
_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_UNIT = {"minute": 60, "hour": 3600, "day": 86400}


def _field(text: str, low: int, high: int, names: dict[str, int] | None = None) -> set[int] | None:
    """One cron field -> the set of values it matches; None for syntax this estimator does not model."""
    if text in ("*", "?"):
        return set(range(low, high + 1))
    values: set[int] = set()
    for part in text.split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            if not step_text.isdigit() or int(step_text) == 0:
                return None
            step = int(step_text)
        start: int | None
        end: int | None
        if part in ("*", ""):
            start, end = low, high
        elif "-" in part:
            first, last = part.split("-", 1)
            start, end = _value(first, names), _value(last, names)
        else:
            single = _value(part, names)
            start, end = single, (high if step > 1 else single)
        if start is None or end is None or not (low <= start <= high and low <= end <= high):
            return None
        values.update(range(start, end + 1, step))
    return values


def _value(text: str, names: dict[str, int] | None) -> int | None:
    if text.isdigit():
        return int(text)
    return (names or {}).get(text.upper())


def schedule_interval_seconds(expression: str) -> float | None:
    """Worst-case seconds between consecutive runs of an AWS `cron(m h dom mon dow year)` or `rate(...)`."""
    text = expression.strip()
    rate = _RATE.fullmatch(text)
    if rate:
        return float(int(rate.group(1)) * _UNIT[rate.group(2).rstrip("s")])
    if not (text.startswith("cron(") and text.endswith(")")):
        return None
    fields = text[5:-1].split()
    if len(fields) not in (5, 6):
        return None
    minutes, hours = _field(fields[0], 0, 59), _field(fields[1], 0, 23)
    doms, months = _field(fields[2], 1, 31), _field(fields[3], 1, 12, _MONTHS)
    dows = _field(fields[4], 1, 7, _DAYS)
    if None in (minutes, hours, doms, months, dows):
        return None
    assert minutes is not None and hours is not None and doms is not None and months is not None
    assert dows is not None
    times = sorted(h * 60 + m for h in hours for m in minutes)
    # Sub-daily schedules repeat within days; longer ones need a year (monthly, quarterly jobs).
    horizon = 15 if len(times) > 1 and fields[2] in ("*", "?") and fields[4] in ("*", "?") else 800
    start = date(2024, 1, 1)
    runs: list[int] = []
    for offset in range(horizon):
        day = start + timedelta(days=offset)
        aws_dow = day.isoweekday() % 7 + 1  # AWS: 1 = Sunday
        if day.month in months and day.day in doms and aws_dow in dows:
            runs.extend(offset * 1440 + t for t in times)
    if len(runs) < 2:
        return None
    return float(max(b - a for a, b in itertools.pairwise(runs)) * 60)


_CALENDAR_SHORTHANDS = {
    "minutely": "rate(1 minute)",
    "hourly": "cron(0 * * * ? *)",
    "daily": "cron(0 0 * * ? *)",
    "midnight": "cron(0 0 * * ? *)",
    "weekly": "cron(0 0 ? * MON *)",
    "monthly": "cron(0 0 1 * ? *)",
    "quarterly": "cron(0 0 1 1,4,7,10 ? *)",
    "semiannually": "cron(0 0 1 1,7 ? *)",
    "yearly": "cron(0 0 1 1 ? *)",
    "annually": "cron(0 0 1 1 ? *)",
}


def calendar_to_cron(expression: str) -> str | None:
    """A systemd `OnCalendar=` expression -> the equivalent AWS cron; None for forms not modelled."""
    text = expression.strip()
    if text.lower() in _CALENDAR_SHORTHANDS:
        return _CALENDAR_SHORTHANDS[text.lower()]
    parts = text.split()
    weekdays = "?"
    if parts and parts[0][:1].isalpha():
        weekdays = parts.pop(0).replace("..", "-").upper()
    day_part = next((p for p in parts if p.count("-") == 2), "*-*-*")
    time_part = next((p for p in parts if ":" in p), "00:00:00")
    if len(parts) != (day_part in parts) + (time_part in parts):
        return None
    _, month, day = day_part.split("-")
    clock = time_part.split(":")
    if len(clock) not in (2, 3) or (len(clock) == 3 and not clock[2].isdigit()):
        return None  # sub-minute schedules are not modelled
    hour, minute = clock[0], clock[1]
    month = month.replace("..", "-")
    day = "?" if weekdays != "?" and day == "*" else day.replace("..", "-")
    return f"cron({minute} {hour} {day} {month} {weekdays} *)"


def calendar_interval_seconds(expression: str) -> float | None:
    """Worst-case seconds between runs of a systemd `OnCalendar=` expression (None: not modelled)."""
    cron = calendar_to_cron(expression)
    return schedule_interval_seconds(cron) if cron is not None else None
