"""Official working-day calendar: library years, operator-loaded years, deadline arithmetic."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import chinese_calendar
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kernel.workdays import (
    CalendarYearUnknown,
    InvalidSchedule,
    WorkingDayCalendar,
    shanghai_today,
)

LIBRARY_YEARS = range(2004, 2027)


def days(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def iso(first: date, last: date) -> list[str]:
    return [d.isoformat() for d in days(first, last)]


# An illustrative 2027 schedule in the shape of a State Council notice; not the real notice,
# which had not been published when these tests were written.
SCHEDULE_2027: dict[str, Any] = {
    "year": 2027,
    "source": "国办发明电〔2026〕X号",
    "holidays": [
        *iso(date(2027, 1, 1), date(2027, 1, 3)),
        *iso(date(2027, 2, 6), date(2027, 2, 12)),
    ],
    "workdays": ["2027-02-14"],
}
SCHEDULE_2028: dict[str, Any] = {
    "year": 2028,
    "source": "国办发明电〔2027〕X号",
    "holidays": iso(date(2028, 1, 1), date(2028, 1, 3)),
    "workdays": [],
}


@pytest.fixture(scope="module")
def calendar() -> WorkingDayCalendar:
    return WorkingDayCalendar()


def write(path: Path, document: Any) -> Path:
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return path


class TestOfficialSchedule:
    @pytest.mark.parametrize(
        ("day", "working"),
        [
            # 2024: Spring Festival 10-17 Feb; Sundays 4 Feb and 18 Feb worked.
            (date(2024, 2, 4), True),
            (date(2024, 2, 9), True),  # New Year's Eve was officially a working day
            (date(2024, 2, 10), False),
            (date(2024, 2, 16), False),  # a Friday inside the holiday
            (date(2024, 2, 18), True),
            # 2024: National Day 1-7 Oct; Sunday 29 Sep and Saturday 12 Oct worked.
            (date(2024, 9, 29), True),
            (date(2024, 10, 8), True),
            (date(2024, 10, 12), True),
            (date(2024, 10, 13), False),
            # 2025: Spring Festival 28 Jan - 4 Feb; Sunday 26 Jan and Saturday 8 Feb worked.
            (date(2025, 1, 26), True),
            (date(2025, 1, 28), False),
            (date(2025, 2, 4), False),
            (date(2025, 2, 5), True),
            (date(2025, 2, 8), True),
            # 2025: National Day and Mid-Autumn 1-8 Oct; Sunday 28 Sep and Saturday 11 Oct worked.
            (date(2025, 9, 28), True),
            (date(2025, 10, 8), False),
            (date(2025, 10, 11), True),
            # 2026: New Year 1-3 Jan, Sunday 4 Jan worked; Spring Festival 15-23 Feb.
            (date(2026, 1, 2), False),
            (date(2026, 1, 4), True),
            (date(2026, 2, 14), True),
            (date(2026, 2, 23), False),
            (date(2026, 2, 28), True),
            # 2026: Mid-Autumn 25-27 Sep; National Day 1-7 Oct; 20 Sep and 10 Oct worked.
            (date(2026, 9, 20), True),
            (date(2026, 9, 25), False),
            (date(2026, 10, 8), True),
            (date(2026, 10, 10), True),
            (date(2026, 10, 11), False),
            # Ordinary weeks.
            (date(2025, 3, 14), True),  # Friday
            (date(2025, 3, 15), False),  # Saturday
            (date(2025, 3, 16), False),  # Sunday
        ],
    )
    def test_known_days(self, calendar: WorkingDayCalendar, day: date, working: bool) -> None:
        assert calendar.is_working_day(day) is working

    @pytest.mark.parametrize(
        ("first", "last"),
        [
            (date(2024, 10, 1), date(2024, 10, 7)),
            (date(2025, 10, 1), date(2025, 10, 8)),
            (date(2026, 10, 1), date(2026, 10, 7)),
            (date(2026, 2, 15), date(2026, 2, 23)),
        ],
    )
    def test_holiday_periods_have_no_working_day(
        self, calendar: WorkingDayCalendar, first: date, last: date
    ) -> None:
        assert not any(calendar.is_working_day(d) for d in days(first, last))

    def test_2025_has_248_working_days(self, calendar: WorkingDayCalendar) -> None:
        # 261 weekdays - 18 weekday holidays + 5 make-up days (2025 notice).
        assert calendar.working_days_between(date(2024, 12, 31), date(2025, 12, 31)) == 248

    @pytest.mark.parametrize("year", LIBRARY_YEARS)
    def test_agrees_with_chinese_calendar_on_every_day(
        self, calendar: WorkingDayCalendar, year: int
    ) -> None:
        for day in days(date(year, 1, 1), date(year, 12, 31)):
            assert calendar.is_working_day(day) is chinese_calendar.is_workday(day), day

    def test_supported_years_cover_the_library(self, calendar: WorkingDayCalendar) -> None:
        assert set(LIBRARY_YEARS) <= calendar.supported_years()
        assert 2027 not in calendar.supported_years()

    def test_source_names_the_library(self, calendar: WorkingDayCalendar) -> None:
        assert calendar.source_for(2025) == f"chinese_calendar {chinese_calendar.__version__}"

    def test_datetime_is_refused(self, calendar: WorkingDayCalendar) -> None:
        with pytest.raises(TypeError, match="shanghai_today"):
            calendar.is_working_day(datetime(2025, 3, 14, 23, 0, tzinfo=UTC))
        with pytest.raises(TypeError, match="expected a date"):
            calendar.add_working_days(datetime(2025, 3, 14, 23, 0, tzinfo=UTC), 1)


class TestAddWorkingDays:
    @pytest.mark.parametrize(
        ("start", "n", "expected"),
        [
            (date(2024, 3, 1), 3, date(2024, 3, 6)),  # Friday + 3: Mon, Tue, Wed
            (date(2024, 3, 1), 1, date(2024, 3, 4)),
            (date(2024, 3, 2), 1, date(2024, 3, 4)),  # from a Saturday
            (date(2024, 3, 4), 5, date(2024, 3, 11)),
            # Spring Festival 2024: Fri 9 Feb worked, then Sun 18 Feb.
            (date(2024, 2, 8), 1, date(2024, 2, 9)),
            (date(2024, 2, 8), 2, date(2024, 2, 18)),
            (date(2024, 2, 8), 3, date(2024, 2, 19)),
            # Spring Festival 2025 from a Friday: Sun 26 Jan, Mon 27 Jan, then Wed 5 Feb.
            (date(2025, 1, 24), 3, date(2025, 2, 5)),
            (date(2025, 1, 24), 1, date(2025, 1, 26)),
            # Spring Festival 2026: Sat 14 Feb worked, then 24 Feb.
            (date(2026, 2, 13), 1, date(2026, 2, 14)),
            (date(2026, 2, 13), 2, date(2026, 2, 24)),
            # National Day.
            (date(2024, 9, 30), 1, date(2024, 10, 8)),
            (date(2025, 9, 30), 1, date(2025, 10, 9)),
            (date(2026, 9, 24), 1, date(2026, 9, 28)),  # Mid-Autumn weekend first
            (date(2026, 9, 30), 1, date(2026, 10, 8)),
            (date(2026, 9, 30), 3, date(2026, 10, 10)),  # Saturday 10 Oct is worked
            # Across a year end.
            (date(2024, 12, 31), 1, date(2025, 1, 2)),
            (date(2025, 12, 30), 2, date(2026, 1, 4)),
            # A typical 20-working-day time limit over the 2025 National Day.
            (date(2025, 9, 22), 20, date(2025, 10, 24)),
        ],
    )
    def test_deadlines(
        self, calendar: WorkingDayCalendar, start: date, n: int, expected: date
    ) -> None:
        assert calendar.add_working_days(start, n) == expected

    def test_zero_is_the_start_even_on_a_holiday(self, calendar: WorkingDayCalendar) -> None:
        assert calendar.add_working_days(date(2024, 10, 1), 0) == date(2024, 10, 1)

    def test_negative_is_refused(self, calendar: WorkingDayCalendar) -> None:
        with pytest.raises(ValueError, match="zero or positive, got -1"):
            calendar.add_working_days(date(2024, 10, 1), -1)

    def test_long_span_crosses_several_years(self, calendar: WorkingDayCalendar) -> None:
        end = calendar.add_working_days(date(2019, 12, 31), 1000)
        assert end.year == 2024
        assert calendar.working_days_between(date(2019, 12, 31), end) == 1000
        assert calendar.is_working_day(end)

    @pytest.mark.parametrize(
        ("day", "expected"),
        [
            (date(2025, 3, 14), date(2025, 3, 17)),  # Friday -> Monday
            (date(2025, 3, 17), date(2025, 3, 18)),
            (date(2025, 1, 25), date(2025, 1, 26)),  # Saturday -> make-up Sunday
            (date(2024, 9, 30), date(2024, 10, 8)),
        ],
    )
    def test_next_working_day_is_strictly_after(
        self, calendar: WorkingDayCalendar, day: date, expected: date
    ) -> None:
        assert calendar.next_working_day(day) == expected


class TestWorkingDaysBetween:
    @pytest.mark.parametrize(
        ("start", "end", "expected"),
        [
            (date(2024, 3, 1), date(2024, 3, 1), 0),
            (date(2024, 3, 1), date(2024, 3, 4), 1),  # start excluded, end included
            (date(2024, 3, 1), date(2024, 3, 8), 5),
            (date(2024, 3, 8), date(2024, 3, 1), -5),
            (date(2024, 9, 30), date(2024, 10, 8), 1),
            # 29 Sep (Sun) and 30 Sep, National Day, then 8-11 Oct and Saturday 12 Oct.
            (date(2024, 9, 28), date(2024, 10, 12), 7),
            (date(2025, 1, 24), date(2025, 2, 8), 6),
        ],
    )
    def test_counts(
        self, calendar: WorkingDayCalendar, start: date, end: date, expected: int
    ) -> None:
        assert calendar.working_days_between(start, end) == expected

    def test_start_in_an_unknown_year_is_fine_when_not_counted(
        self, calendar: WorkingDayCalendar
    ) -> None:
        # (2003-12-31, 2004-01-05] lies entirely in 2004: New Year's Day, then Fri 2 and Mon 5.
        assert calendar.working_days_between(date(2003, 12, 31), date(2004, 1, 5)) == 2
        assert calendar.add_working_days(date(2003, 12, 31), 1) == date(2004, 1, 2)


library_days = st.dates(min_value=date(2004, 1, 1), max_value=date(2026, 6, 30))


@given(library_days, st.integers(min_value=0, max_value=120))
def test_between_inverts_add(day: date, n: int) -> None:
    calendar = WorkingDayCalendar()
    end = calendar.add_working_days(day, n)
    assert calendar.working_days_between(day, end) == n
    if n:
        assert calendar.is_working_day(end)
        assert calendar.working_days_between(day, end - timedelta(days=1)) == n - 1


@given(library_days, library_days, library_days)
def test_between_is_additive_and_antisymmetric(a: date, b: date, c: date) -> None:
    calendar = WorkingDayCalendar()
    ab = calendar.working_days_between(a, b)
    assert ab == -calendar.working_days_between(b, a)
    assert ab + calendar.working_days_between(b, c) == calendar.working_days_between(a, c)


@given(library_days)
def test_next_working_day_skips_only_rest_days(day: date) -> None:
    calendar = WorkingDayCalendar()
    following = calendar.next_working_day(day)
    assert following > day
    assert calendar.is_working_day(following)
    assert not any(
        calendar.is_working_day(d) for d in days(day + timedelta(1), following - timedelta(1))
    )


class TestUnknownYear:
    @pytest.mark.parametrize("day", [date(2027, 1, 4), date(2003, 6, 2), date(2100, 3, 1)])
    def test_is_working_day_raises(self, calendar: WorkingDayCalendar, day: date) -> None:
        with pytest.raises(CalendarYearUnknown) as e:
            calendar.is_working_day(day)
        assert e.value.year == day.year
        assert isinstance(e.value, LookupError)
        assert not isinstance(e.value, NotImplementedError)

    def test_message_lists_known_years_and_how_to_load(self, calendar: WorkingDayCalendar) -> None:
        with pytest.raises(CalendarYearUnknown) as e:
            calendar.is_working_day(date(2027, 1, 4))
        message = str(e.value)
        assert "for 2027" in message
        assert "known years: 2004-2026" in message
        assert "load_year()" in message
        assert "load_file()" in message
        assert "from_directory()" in message
        assert e.value.known_years == frozenset(LIBRARY_YEARS)

    def test_deadline_running_into_an_unknown_year_raises(
        self, calendar: WorkingDayCalendar
    ) -> None:
        assert calendar.add_working_days(date(2026, 12, 29), 2) == date(2026, 12, 31)
        with pytest.raises(CalendarYearUnknown, match="for 2027"):
            calendar.add_working_days(date(2026, 12, 29), 3)

    def test_count_running_into_an_unknown_year_raises(self, calendar: WorkingDayCalendar) -> None:
        with pytest.raises(CalendarYearUnknown, match="for 2027"):
            calendar.working_days_between(date(2026, 12, 1), date(2027, 1, 15))

    def test_source_for_unknown_year_raises(self, calendar: WorkingDayCalendar) -> None:
        with pytest.raises(CalendarYearUnknown):
            calendar.source_for(2027)

    def test_can_be_raised_without_known_years(self) -> None:
        error = CalendarYearUnknown(2030)
        assert error.year == 2030
        assert "2030" in str(error)
        assert "known years" not in str(error)

    def test_known_years_are_summarised_as_ranges(self) -> None:
        error = CalendarYearUnknown(2030, [2004, 2005, 2006, 2028, 2026])
        assert "known years: 2004-2006, 2026, 2028" in str(error)


class TestLoadYear:
    def test_loaded_year_is_used_across_new_year(self, tmp_path: Path) -> None:
        calendar = WorkingDayCalendar()
        assert calendar.load_file(write(tmp_path / "2027.json", SCHEDULE_2027)) == 2027
        assert 2027 in calendar.supported_years()
        assert calendar.source_for(2027) == "国办发明电〔2026〕X号"
        # Thu 31 Dec 2026, then New Year's Day (Fri) and the weekend, then Mon 4 Jan.
        assert calendar.add_working_days(date(2026, 12, 30), 1) == date(2026, 12, 31)
        assert calendar.add_working_days(date(2026, 12, 30), 2) == date(2027, 1, 4)
        assert calendar.add_working_days(date(2026, 12, 30), 3) == date(2027, 1, 5)
        assert calendar.next_working_day(date(2026, 12, 31)) == date(2027, 1, 4)
        assert calendar.working_days_between(date(2026, 12, 25), date(2027, 1, 8)) == 9

    def test_loaded_year_holidays_and_make_up_days(self, tmp_path: Path) -> None:
        calendar = WorkingDayCalendar()
        calendar.load_file(write(tmp_path / "2027.json", SCHEDULE_2027))
        assert not calendar.is_working_day(date(2027, 1, 1))
        assert not calendar.is_working_day(date(2027, 2, 8))  # a Monday in the holiday
        assert calendar.is_working_day(date(2027, 2, 14))  # make-up Sunday
        assert calendar.add_working_days(date(2027, 2, 5), 1) == date(2027, 2, 14)
        assert calendar.add_working_days(date(2027, 2, 5), 2) == date(2027, 2, 15)

    def test_load_year_from_dates(self) -> None:
        calendar = WorkingDayCalendar()
        calendar.load_year(2027, days(date(2027, 1, 1), date(2027, 1, 3)), [])
        assert calendar.add_working_days(date(2026, 12, 31), 1) == date(2027, 1, 4)
        assert calendar.source_for(2027) == "loaded by operator"

    def test_loading_is_per_calendar(self) -> None:
        loaded = WorkingDayCalendar()
        loaded.load_year(2027, [date(2027, 1, 1)], [], source="test")
        assert 2027 not in WorkingDayCalendar().supported_years()

    def test_loaded_year_overrides_the_library_and_the_cache(self) -> None:
        calendar = WorkingDayCalendar()
        assert calendar.add_working_days(date(2025, 3, 14), 1) == date(2025, 3, 17)
        # A correction notice declaring Monday 17 March 2025 a holiday.
        calendar.load_year(
            2025,
            [date(2025, 1, 1), date(2025, 3, 17)],
            [date(2025, 3, 15)],
            source="correction",
        )
        assert calendar.source_for(2025) == "correction"
        assert calendar.is_working_day(date(2025, 3, 15))
        assert not calendar.is_working_day(date(2025, 3, 17))
        assert calendar.add_working_days(date(2025, 3, 14), 2) == date(2025, 3, 18)
        # The Spring Festival of the library's 2025 is gone with the override.
        assert calendar.is_working_day(date(2025, 1, 28))
        assert WorkingDayCalendar().is_working_day(date(2025, 3, 17))

    @pytest.mark.parametrize(
        ("holidays", "workdays", "message"),
        [
            ([], [], "holidays for 2027 must not be empty"),
            ([date(2026, 12, 31)], [], "holidays: 2026-12-31 is not in 2027"),
            ([date(2027, 1, 1)], [date(2028, 1, 1)], "workdays: 2028-01-01 is not in 2027"),
            (
                [date(2027, 1, 1), date(2027, 2, 14)],
                [date(2027, 2, 14)],
                "both as holiday and as workday: 2027-02-14",
            ),
            ([date(2027, 1, 1)], [date(2027, 2, 15)], "2027-02-15 (Monday)"),
            ([date(2027, 1, 1), date(2027, 1, 1)], [], "holidays: 2027-01-01 is listed twice"),
            ([datetime(2027, 1, 1, tzinfo=UTC)], [], "is not a date"),
            (["2027-01-01"], [], "'2027-01-01' is not a date"),
        ],
    )
    def test_invalid_schedule_is_rejected(
        self, holidays: list[Any], workdays: list[Any], message: str
    ) -> None:
        calendar = WorkingDayCalendar()
        with pytest.raises(InvalidSchedule) as e:
            calendar.load_year(2027, holidays, workdays)
        assert message in str(e.value)
        assert isinstance(e.value, ValueError)
        assert 2027 not in calendar.supported_years()

    @pytest.mark.parametrize("year", [0, 10000, True])
    def test_invalid_year(self, year: int) -> None:
        with pytest.raises(InvalidSchedule, match="year must be an integer between 1 and 9999"):
            WorkingDayCalendar().load_year(year, [date(2027, 1, 1)], [])


def variant(**changes: Any) -> dict[str, Any]:
    document = {**SCHEDULE_2027, **changes}
    return {key: value for key, value in document.items() if value is not ...}


class TestLoadFile:
    @pytest.mark.parametrize(
        ("document", "message"),
        [
            ([SCHEDULE_2027], "the file must hold a JSON object"),
            (variant(source=...), "missing keys: source"),
            (variant(holidays=..., workdays=...), "missing keys: holidays, workdays"),
            ({**SCHEDULE_2027, "note": "x"}, "unknown keys: note"),
            (variant(year="2027"), "year must be an integer, got '2027'"),
            (variant(year=True), "year must be an integer"),
            (variant(source=7), "source must be a string"),
            (variant(source="  "), "source must name the notice"),
            (variant(holidays="2027-01-01"), "holidays must be a list of YYYY-MM-DD strings"),
            (variant(holidays=[]), "holidays for 2027 must not be empty"),
            (variant(holidays=["2027/01/01"]), "holidays: '2027/01/01' is not a YYYY-MM-DD date"),
            (variant(holidays=["20270101"]), "is not a YYYY-MM-DD date"),
            (variant(holidays=[20270101]), "holidays: 20270101 is not a YYYY-MM-DD date"),
            (variant(holidays=["2027-02-30"]), "holidays: '2027-02-30' is not a real date"),
            (variant(holidays=["2026-12-31"]), "holidays: 2026-12-31 is not in 2027"),
            (variant(workdays=["2028-01-01"]), "workdays: 2028-01-01 is not in 2027"),
            (
                variant(workdays=["2027-01-02"]),
                "dates listed both as holiday and as workday: 2027-01-02",
            ),
            (variant(workdays=["2027-02-15"]), "must fall on a Saturday or Sunday"),
        ],
    )
    def test_invalid_file_is_rejected_naming_the_file(
        self, tmp_path: Path, document: Any, message: str
    ) -> None:
        path = write(tmp_path / "2027.json", document)
        calendar = WorkingDayCalendar()
        with pytest.raises(InvalidSchedule) as e:
            calendar.load_file(path)
        assert str(e.value).startswith(f"{path}: ")
        assert message in str(e.value)
        assert 2027 not in calendar.supported_years()

    def test_not_json(self, tmp_path: Path) -> None:
        path = tmp_path / "2027.json"
        path.write_text("{year: 2027}", encoding="utf-8")
        with pytest.raises(InvalidSchedule, match="not valid JSON"):
            WorkingDayCalendar().load_file(path)

    def test_not_utf8(self, tmp_path: Path) -> None:
        path = tmp_path / "2027.json"
        path.write_bytes('{"source": "国办"}'.encode("gb18030"))
        with pytest.raises(InvalidSchedule, match="not UTF-8"):
            WorkingDayCalendar().load_file(path)

    def test_missing_file(self, tmp_path: Path) -> None:
        with pytest.raises(FileNotFoundError):
            WorkingDayCalendar().load_file(tmp_path / "absent.json")

    def test_accepts_str_path(self, tmp_path: Path) -> None:
        path = write(tmp_path / "2027.json", SCHEDULE_2027)
        assert WorkingDayCalendar().load_file(str(path)) == 2027


class TestFromDirectory:
    def test_loads_every_json_file(self, tmp_path: Path) -> None:
        write(tmp_path / "2027.json", SCHEDULE_2027)
        write(tmp_path / "2028.json", SCHEDULE_2028)
        (tmp_path / "README.txt").write_text("not a schedule", encoding="utf-8")
        calendar = WorkingDayCalendar.from_directory(tmp_path)
        assert {2027, 2028} <= calendar.supported_years()
        assert 2029 not in calendar.supported_years()
        # Mon 3 Jan 2028 is a holiday in the 2028 file.
        assert calendar.add_working_days(date(2027, 12, 31), 1) == date(2028, 1, 4)
        assert calendar.working_days_between(date(2026, 12, 31), date(2028, 1, 4)) == (
            calendar.working_days_between(date(2026, 12, 31), date(2027, 12, 31)) + 1
        )

    def test_empty_directory_gives_the_library_calendar(self, tmp_path: Path) -> None:
        calendar = WorkingDayCalendar.from_directory(str(tmp_path))
        assert calendar.supported_years() == frozenset(LIBRARY_YEARS)

    def test_two_files_for_one_year_are_rejected(self, tmp_path: Path) -> None:
        write(tmp_path / "a.json", SCHEDULE_2027)
        write(tmp_path / "b.json", SCHEDULE_2027)
        with pytest.raises(InvalidSchedule, match=r"2027 is already defined by .*a\.json"):
            WorkingDayCalendar.from_directory(tmp_path)

    def test_one_invalid_file_fails_the_whole_load(self, tmp_path: Path) -> None:
        write(tmp_path / "2027.json", SCHEDULE_2027)
        write(tmp_path / "2028.json", {**SCHEDULE_2028, "holidays": []})
        with pytest.raises(
            InvalidSchedule, match=r"2028\.json: holidays for 2028 must not be empty"
        ):
            WorkingDayCalendar.from_directory(tmp_path)

    def test_missing_directory(self, tmp_path: Path) -> None:
        with pytest.raises(NotADirectoryError, match="does not exist"):
            WorkingDayCalendar.from_directory(tmp_path / "absent")


class TestShanghaiToday:
    @pytest.mark.parametrize(
        ("now", "expected"),
        [
            (datetime(2025, 12, 31, 15, 59, 59, tzinfo=UTC), date(2025, 12, 31)),
            (datetime(2025, 12, 31, 16, 0, tzinfo=UTC), date(2026, 1, 1)),
            (datetime(2025, 6, 1, 0, 0, tzinfo=UTC), date(2025, 6, 1)),
            (datetime(2025, 6, 1, 1, 0, tzinfo=timezone(timedelta(hours=9))), date(2025, 6, 1)),
            (datetime(2025, 6, 1, 0, 30, tzinfo=timezone(timedelta(hours=9))), date(2025, 5, 31)),
        ],
    )
    def test_converts_instants(self, now: datetime, expected: date) -> None:
        assert shanghai_today(now) == expected

    def test_naive_datetime_is_refused(self) -> None:
        with pytest.raises(ValueError, match="timezone-aware"):
            shanghai_today(datetime(2025, 6, 1, 12, 0))

    def test_default_is_now(self) -> None:
        before = datetime.now(UTC)
        today = shanghai_today()
        after = datetime.now(UTC)
        assert today in {shanghai_today(before), shanghai_today(after)}
