"""Opaque cursors: round trip, and anything not made by encode_cursor is a 422 InvalidCursor."""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kernel.errors import ProblemError
from kernel.pagination import (
    InvalidCursor,
    Page,
    date_cursor,
    decode_cursor,
    encode_cursor,
    instant_cursor,
)

# Any text a database column can hold: PostgreSQL text has no NUL, and cursors refuse it.
_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40
)
keys = st.lists(st.one_of(_text, st.integers(-(2**63), 2**63 - 1)), max_size=4)


@pytest.mark.parametrize(
    "key",
    [
        ("9f1c2d3e-4a5b-4c6d-8e7f-0a1b2c3d4e5f",),
        ("2026-03-02", "penalty-17"),
        (41,),
        ("青岛海湾化工有限公司", 7),
        ("",),
    ],
)
def test_round_trip(key: tuple[str | int, ...]) -> None:
    cursor = encode_cursor(*key)
    assert decode_cursor(cursor, len(key)) == list(key)


@given(keys)
def test_round_trip_any_key(key: list[str | int]) -> None:
    assert decode_cursor(encode_cursor(*key), len(key)) == key


def test_a_key_with_a_nul_character_is_refused() -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(encode_cursor("a\x00b", 1), 2)
    with pytest.raises(InvalidCursor):
        decode_cursor(encode_cursor("a\x00b"), 1)


def test_cursor_is_url_safe_and_unpadded() -> None:
    cursor = encode_cursor("a?b&c=d/e+f", 10**12)
    assert "=" not in cursor
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "!!",
        "",
        "not a cursor",
        "%%%%",
        b64(b"not json"),
        b64(b'["unterminated'),
        b64(b"\xff\xfe\xfd"),
        "游标",
    ],
)
def test_malformed_cursor_is_invalid(cursor: str) -> None:
    with pytest.raises(InvalidCursor) as exc:
        decode_cursor(cursor, 1)
    assert exc.value.status == 422
    assert exc.value.code == "invalid_cursor"
    assert exc.value.extra == {"field": "cursor"}


@pytest.mark.parametrize(
    ("value", "arity"),
    [
        (["a", "b"], 1),
        (["a"], 2),
        ([], 1),
        ({"after": "a"}, 1),
        ("a", 1),
        (42, 1),
        (None, 1),
    ],
)
def test_wrong_shape_or_arity_is_invalid(value: object, arity: int) -> None:
    with pytest.raises(InvalidCursor, match="does not belong"):
        decode_cursor(b64(orjson.dumps(value)), arity)


def test_cursor_of_one_listing_is_refused_by_another() -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(encode_cursor("2026-03-02", "penalty-17"), 1)


def test_invalid_cursor_is_a_problem_with_chinese_title() -> None:
    assert issubclass(InvalidCursor, ProblemError)
    assert InvalidCursor.title_zh == "分页游标无效"


def test_page_defaults_to_last_page() -> None:
    page = Page[int](items=[1, 2])
    assert page.next_cursor is None
    assert page.model_dump() == {"items": [1, 2], "next_cursor": None}


class TestTypedCursors:
    def test_date_cursor_round_trip_and_refusals(self) -> None:
        assert date_cursor(encode_cursor("2026-03-12", "a1")) == (date(2026, 3, 12), "a1")
        for bad in (encode_cursor("12/03/2026", "a1"), encode_cursor("2026-03-12")):
            with pytest.raises(InvalidCursor):
                date_cursor(bad)

    def test_instant_cursor_needs_an_aware_instant(self) -> None:
        at = datetime(2026, 3, 12, 8, 30, tzinfo=UTC)
        assert instant_cursor(encode_cursor(at.isoformat(), "b2")) == (at, "b2")
        for bad in ("2026-03-12T08:30:00", "soon"):
            with pytest.raises(InvalidCursor):
                instant_cursor(encode_cursor(bad, "b2"))
