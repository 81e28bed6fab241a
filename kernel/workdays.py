"""China's official working-day calendar (调休 included) for time limits counted in working days."""

from __future__ import annotations

import json
import os
import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from typing import Any, Final, cast
from zoneinfo import ZoneInfo

import chinese_calendar

__all__ = [
    "SHANGHAI",
    "CalendarYearUnknown",
    "InvalidSchedule",
    "WorkingDayCalendar",
    "shanghai_today",
]

# Loaded at import so a host without tz data fails at start-up, not on the first deadline.
SHANGHAI: Final = ZoneInfo("Asia/Shanghai")

_LIBRARY_SOURCE: Final = f"chinese_calendar {chinese_calendar.__version__}"
_ISO_DATE: Final = re.compile(r"\d{4}-\d{2}-\d{2}")
_ONE_DAY: Final = timedelta(days=1)
_SATURDAY: Final = 5
# Spelled out rather than strftime("%A"), whose output follows the process locale.
_WEEKDAY_NAMES: Final = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")


class CalendarYearUnknown(LookupError):
    """No official schedule is known for a year, so working days there cannot be counted."""

    code = "calendar_year_unknown"

    def __init__(self, year: int, known_years: Iterable[int] | None = None) -> None:
        self.year = year
        self.known_years = frozenset(known_years) if known_years is not None else None
        known = (
            f" (known years: {_describe_years(self.known_years)})"
            if self.known_years is not None
            else ""
        )
        super().__init__(
            f"no official working-day schedule is known for {year}{known}; load the State "
            f"Council General Office (国务院办公厅) holiday notice for {year} with "
            "WorkingDayCalendar.load_year(), load_file() or a JSON file in the directory read "
            "by from_directory()"
        )


class InvalidSchedule(ValueError):
    """An operator-supplied year schedule that cannot be trusted."""

    code = "calendar_schedule_invalid"


@dataclass(frozen=True, slots=True)
class _YearSchedule:
    """One year's official schedule as published in the State Council notice."""

    year: int
    holidays: frozenset[date]
    makeup_workdays: frozenset[date]
    source: str

    def working_days(self) -> tuple[date, ...]:
        """Every working day of the year in order."""
        day = date(self.year, 1, 1)
        days: list[date] = []
        while day.year == self.year:
            if day in self.makeup_workdays or (
                day.weekday() < _SATURDAY and day not in self.holidays
            ):
                days.append(day)
            day += _ONE_DAY
        return tuple(days)


def _describe_years(years: frozenset[int]) -> str:
    """Compact description of a set of years, e.g. '2004-2026, 2028'."""
    if not years:
        return "none"
    runs: list[str] = []
    ordered = sorted(years)
    first = previous = ordered[0]
    for year in [*ordered[1:], None]:
        if year is not None and year == previous + 1:
            previous = year
            continue
        runs.append(str(first) if first == previous else f"{first}-{previous}")
        if year is not None:
            first = previous = year
    return ", ".join(runs)


@cache
def _library_years() -> range:
    """Years the installed chinese_calendar release has official data for."""
    years = {day.year for day in _library_holidays()}
    return range(min(years), max(years) + 1)


def _library_holidays() -> Mapping[date, str]:
    """chinese_calendar's published rest days that fall on weekdays or weekends."""
    return cast("Mapping[date, str]", chinese_calendar.holidays)


def _library_workdays() -> Mapping[date, str]:
    """chinese_calendar's published make-up working days (调休上班)."""
    return cast("Mapping[date, str]", chinese_calendar.workdays)


@cache
def _library_schedule(year: int) -> _YearSchedule:
    """The library's schedule for a year it covers."""
    # Built from the library's exported tables with the library's own rule (make-up day, or a
    # weekday that is not a holiday); tests check it agrees with chinese_calendar.is_workday.
    return _YearSchedule(
        year=year,
        holidays=frozenset(d for d in _library_holidays() if d.year == year),
        makeup_workdays=frozenset(d for d in _library_workdays() if d.year == year),
        source=_LIBRARY_SOURCE,
    )


def _parse_dates(year: int, field: str, values: Iterable[date]) -> frozenset[date]:
    """Dates of one list after checking each is a plain date in the year and listed once."""
    seen: set[date] = set()
    for value in values:
        if isinstance(value, datetime) or not isinstance(value, date):
            raise InvalidSchedule(f"{field}: {value!r} is not a date")
        if value.year != year:
            raise InvalidSchedule(
                f"{field}: {value.isoformat()} is not in {year}; a date the notice places in "
                "another year belongs in that year's schedule"
            )
        if value in seen:
            raise InvalidSchedule(f"{field}: {value.isoformat()} is listed twice")
        seen.add(value)
    return frozenset(seen)


def _build_schedule(
    year: int,
    holidays: Iterable[date],
    makeup_workdays: Iterable[date],
    source: str,
) -> _YearSchedule:
    """Validated schedule for one year."""
    if isinstance(year, bool) or not isinstance(year, int) or not 1 <= year <= 9999:
        raise InvalidSchedule(f"year must be an integer between 1 and 9999, got {year!r}")
    rest = _parse_dates(year, "holidays", holidays)
    work = _parse_dates(year, "workdays", makeup_workdays)
    if not rest:
        # Every official notice grants at least New Year's Day; an empty list means a wrong file.
        raise InvalidSchedule(f"holidays for {year} must not be empty")
    both = sorted(rest & work)
    if both:
        listed = ", ".join(d.isoformat() for d in both)
        raise InvalidSchedule(f"dates listed both as holiday and as workday: {listed}")
    weekdays = sorted(d for d in work if d.weekday() < _SATURDAY)
    if weekdays:
        # A make-up working day (调休上班) is always a Saturday or Sunday; a weekday here is a typo.
        listed = ", ".join(f"{d.isoformat()} ({_WEEKDAY_NAMES[d.weekday()]})" for d in weekdays)
        raise InvalidSchedule(f"make-up workdays must fall on a Saturday or Sunday: {listed}")
    if not source.strip():
        raise InvalidSchedule("source must name the notice the schedule comes from")
    return _YearSchedule(year, rest, work, source.strip())


def _schedule_from_json(document: Any) -> _YearSchedule:
    """Validated schedule from a parsed JSON schedule document."""
    if not isinstance(document, dict):
        raise InvalidSchedule("the file must hold a JSON object")
    expected = {"year", "source", "holidays", "workdays"}
    missing = sorted(expected - document.keys())
    if missing:
        raise InvalidSchedule(f"missing keys: {', '.join(missing)}")
    unknown = sorted(document.keys() - expected)
    if unknown:
        raise InvalidSchedule(f"unknown keys: {', '.join(unknown)}")
    year = document["year"]
    if isinstance(year, bool) or not isinstance(year, int):
        raise InvalidSchedule(f"year must be an integer, got {year!r}")
    source = document["source"]
    if not isinstance(source, str):
        raise InvalidSchedule(f"source must be a string, got {source!r}")
    return _build_schedule(
        year,
        _json_dates("holidays", document["holidays"]),
        _json_dates("workdays", document["workdays"]),
        source,
    )


def _json_dates(field: str, values: Any) -> list[date]:
    """Dates from a JSON list of YYYY-MM-DD strings."""
    if not isinstance(values, list):
        raise InvalidSchedule(f"{field} must be a list of YYYY-MM-DD strings")
    dates: list[date] = []
    for value in values:
        # fromisoformat alone would also accept forms like 20270101 that operators should not
        # rely on; one spelling keeps files greppable.
        if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
            raise InvalidSchedule(f"{field}: {value!r} is not a YYYY-MM-DD date")
        try:
            dates.append(date.fromisoformat(value))
        except ValueError as exc:
            raise InvalidSchedule(f"{field}: {value!r} is not a real date ({exc})") from exc
    return dates


class WorkingDayCalendar:
    """Official working days: chinese_calendar's years plus schedules loaded by operators."""

    def __init__(self) -> None:
        self._loaded: dict[int, _YearSchedule] = {}
        self._working_days: dict[int, tuple[date, ...]] = {}
        self._working_sets: dict[int, frozenset[date]] = {}

    @classmethod
    def from_directory(cls, path: str | os.PathLike[str]) -> WorkingDayCalendar:
        """Calendar with every *.json schedule in a directory loaded on top of the library."""
        directory = Path(path)
        if not directory.is_dir():
            raise NotADirectoryError(f"calendar schedule directory {directory} does not exist")
        calendar = cls()
        origins: dict[int, Path] = {}
        for file in sorted(directory.glob("*.json")):
            schedule = _read_schedule_file(file)
            if schedule.year in origins:
                # Two files for one year would make the result depend on file names.
                raise InvalidSchedule(
                    f"{file}: {schedule.year} is already defined by {origins[schedule.year]}"
                )
            origins[schedule.year] = file
            calendar._install(schedule)
        return calendar

    def load_year(
        self,
        year: int,
        holidays: Iterable[date],
        makeup_workdays: Iterable[date],
        *,
        source: str = "loaded by operator",
    ) -> None:
        """Use a year's official schedule, replacing the library's data for that year."""
        self._install(_build_schedule(year, holidays, makeup_workdays, source))

    def load_file(self, path: str | os.PathLike[str]) -> int:
        """Load a JSON year schedule file and return the year it defines."""
        schedule = _read_schedule_file(Path(path))
        self._install(schedule)
        return schedule.year

    def supported_years(self) -> frozenset[int]:
        """Years whose working days are known."""
        return frozenset(_library_years()) | self._loaded.keys()

    def source_for(self, year: int) -> str:
        """Where a year's schedule comes from (the notice, or the library release)."""
        return self._schedule(year).source

    def is_working_day(self, day: date) -> bool:
        """True if day is an official working day."""
        return _as_date(day) in self._working_set(day.year)

    def next_working_day(self, day: date) -> date:
        """First working day strictly after day."""
        return self.add_working_days(day, 1)

    def add_working_days(self, start: date, n: int) -> date:
        """Date that is the n-th working day after start (start itself is never counted)."""
        # Administrative time limits start counting the day after the triggering event, so
        # working day 1 is the first working day after start; n == 0 is start itself.
        start = _as_date(start)
        if n < 0:
            raise ValueError(f"n must be zero or positive, got {n}")
        if n == 0:
            return start
        first = start + _ONE_DAY
        year = first.year
        days = self._working_list(year)
        index = bisect_left(days, first) + n - 1
        while index >= len(days):
            index -= len(days)
            year += 1
            days = self._working_list(year)
        return days[index]

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in (start, end]; negative when end is before start."""
        start, end = _as_date(start), _as_date(end)
        if end < start:
            return -self.working_days_between(end, start)
        first = start + _ONE_DAY
        count = 0
        for year in range(first.year, end.year + 1):
            days = self._working_list(year)
            count += bisect_right(days, end) - bisect_left(days, first)
        return count

    def _install(self, schedule: _YearSchedule) -> None:
        """Make a validated schedule authoritative for its year."""
        self._loaded[schedule.year] = schedule
        self._working_days.pop(schedule.year, None)
        self._working_sets.pop(schedule.year, None)

    def _schedule(self, year: int) -> _YearSchedule:
        """Schedule for a year, or CalendarYearUnknown."""
        loaded = self._loaded.get(year)
        if loaded is not None:
            return loaded
        if year in _library_years():
            return _library_schedule(year)
        raise CalendarYearUnknown(year, self.supported_years())

    def _working_list(self, year: int) -> tuple[date, ...]:
        """Sorted working days of a year, computed once."""
        days = self._working_days.get(year)
        if days is None:
            days = self._schedule(year).working_days()
            self._working_days[year] = days
        return days

    def _working_set(self, year: int) -> frozenset[date]:
        """Working days of a year as a set, computed once."""
        days = self._working_sets.get(year)
        if days is None:
            days = frozenset(self._working_list(year))
            self._working_sets[year] = days
        return days


def _as_date(value: date) -> date:
    """The value itself, refusing datetimes whose calendar date depends on a time zone."""
    if isinstance(value, datetime):
        raise TypeError(
            "expected a date, got a datetime; convert it with shanghai_today() first, because "
            "business dates are Asia/Shanghai dates"
        )
    return value


def _read_schedule_file(path: Path) -> _YearSchedule:
    """Validated schedule from a JSON file; errors name the file."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise InvalidSchedule(f"{path}: not UTF-8 text ({exc})") from exc
    except json.JSONDecodeError as exc:
        raise InvalidSchedule(f"{path}: not valid JSON ({exc})") from exc
    try:
        return _schedule_from_json(document)
    except InvalidSchedule as exc:
        raise InvalidSchedule(f"{path}: {exc}") from exc


# Business dates a listing may be asked about: wide enough for every record, and far enough
# from the ends of the calendar that a day's first instant in UTC never overflows.
EARLIEST_BUSINESS_DAY: Final = date(1970, 1, 1)
LATEST_BUSINESS_DAY: Final = date(9998, 12, 31)


def business_day_start(day: date) -> datetime:
    """The first instant of a business day (Asia/Shanghai), in UTC."""
    return datetime.combine(day, time.min, tzinfo=SHANGHAI).astimezone(UTC)


def shanghai_today(now: datetime | None = None) -> date:
    """Calendar date in Asia/Shanghai at an aware instant (default: now)."""
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None or now.utcoffset() is None:
        # A naive datetime could be UTC or local time; guessing shifts dates by a day at night.
        raise ValueError("now must be timezone-aware")
    return now.astimezone(SHANGHAI).date()
