"""Review of issue 6: pure rules behind the fixes (cursor keys, scorecard periods, NUL search)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from kernel.inputs import _nul_in
from kernel.pagination import InvalidCursor, date_cursor, decode_cursor, encode_cursor
from services.insurance.scorecard import (
    EARLIEST_DAY,
    LATEST_DAY,
    InsurerFacts,
    PeriodInvalid,
    check_period,
    instant_bounds,
    monthly_series,
)


class TestCursorKeys:
    @pytest.mark.parametrize("key", ["a\x00b", "\x00"])
    def test_a_nul_in_a_key_is_an_invalid_cursor(self, key: str) -> None:
        with pytest.raises(InvalidCursor):
            decode_cursor(encode_cursor(key), 1)
        with pytest.raises(InvalidCursor):
            date_cursor(encode_cursor("2026-03-01", key))

    def test_ordinary_keys_still_decode(self) -> None:
        assert decode_cursor(encode_cursor("a\\u0000b", 7), 2) == ["a\\u0000b", 7]


class TestScorecardPeriodRange:
    def test_the_ends_of_the_range_are_accepted_and_computable(self) -> None:
        first = check_period(EARLIEST_DAY, EARLIEST_DAY)
        last = check_period(LATEST_DAY, LATEST_DAY)
        # Neither the instants nor the months of the extreme periods overflow.
        assert instant_bounds(first)[0].year == 1999
        assert instant_bounds(last)[1] == datetime(2099, 12, 31, 16, tzinfo=UTC)
        assert check_period(date(2099, 1, 1), LATEST_DAY).days == 365

    @pytest.mark.parametrize(
        ("first", "last", "field"),
        [
            (date(1999, 12, 31), date(2000, 1, 1), "from"),
            (date(1, 1, 1), date(1, 1, 1), "from"),
            (date(2099, 12, 31), date(2100, 1, 1), "to"),
            (date(9999, 12, 31), date(9999, 12, 31), "to"),
            # Out of range wins over reversed: the range is checked first.
            (date(9999, 12, 31), date(9999, 1, 1), "to"),
        ],
    )
    def test_outside_the_range_is_refused_naming_the_bound(
        self, first: date, last: date, field: str
    ) -> None:
        with pytest.raises(PeriodInvalid) as exc:
            check_period(first, last)
        assert (exc.value.field, exc.value.code) == (field, "period_out_of_range")

    def test_monthly_series_at_the_last_month(self) -> None:
        period = check_period(date(2099, 12, 1), LATEST_DAY)
        now = datetime(2026, 3, 16, 2, tzinfo=UTC)
        (month,) = monthly_series(InsurerFacts(), period, date(2026, 3, 16), now)
        assert month.period.last == LATEST_DAY


class TestNulSearch:
    @pytest.mark.parametrize(
        ("value", "where"),
        [
            ("a\x00", ()),
            ({"a": "ok", "b": ["x", {"c": "\x00"}]}, ("b", 1, "c")),
            ({"k\x00": 1}, ("k\x00",)),
            ([1, 2.5, None, True, "\x00"], (4,)),
        ],
    )
    def test_finds_the_first_nul(self, value: object, where: tuple[object, ...]) -> None:
        assert _nul_in(value, ()) == where

    @pytest.mark.parametrize("value", ["a\\u0000", {"a": [1, "b"]}, [], {}, 0, None])
    def test_none_without_a_nul(self, value: object) -> None:
        assert _nul_in(value, ()) is None
