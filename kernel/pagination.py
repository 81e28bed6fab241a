"""Cursor pagination: opaque cursors over a stable sort key, never offsets."""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime
from typing import Generic, TypeVar

import orjson
from pydantic import BaseModel, Field

from kernel.errors import ProblemError

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of results and the cursor of the next (null on the last page)."""

    items: list[T]
    next_cursor: str | None = Field(default=None, description="Pass as `cursor` for more")


class InvalidCursor(ProblemError):
    status, code, title, title_zh = 422, "invalid_cursor", "Invalid cursor", "分页游标无效"


def encode_cursor(*key: str | int) -> str:
    """An opaque cursor for the sort key of the last item returned."""
    return base64.urlsafe_b64encode(orjson.dumps(list(key))).decode().rstrip("=")


def decode_cursor(cursor: str, arity: int) -> list[str | int]:
    """The sort key inside `cursor`; 422 if it was not made by `encode_cursor`."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = orjson.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, orjson.JSONDecodeError) as exc:
        raise InvalidCursor("cursor is malformed", field="cursor") from exc
    if not isinstance(value, list) or len(value) != arity:
        raise InvalidCursor("cursor does not belong to this listing", field="cursor")
    # A key is compared in SQL, where PostgreSQL text cannot hold NUL (a 500, not a 422).
    if any(isinstance(key, str) and "\x00" in key for key in value):
        raise InvalidCursor("cursor is malformed", field="cursor")
    return value


def date_cursor(cursor: str) -> tuple[date, str]:
    """A (day, id) key, as `encode_cursor(day.isoformat(), id)` wrote it; 422 otherwise."""
    day, last_id = decode_cursor(cursor, 2)
    try:
        return date.fromisoformat(str(day)), str(last_id)
    except ValueError as exc:
        raise InvalidCursor("cursor is malformed", field="cursor") from exc


def instant_cursor(cursor: str) -> tuple[datetime, str]:
    """An (instant in UTC, id) key; 422 otherwise.

    Keys are compared with timezone-aware columns, where a naive instant fails in the
    database (a 500), so it is a malformed cursor here.
    """
    at, last_id = decode_cursor(cursor, 2)
    try:
        instant = datetime.fromisoformat(str(at))
    except ValueError as exc:
        raise InvalidCursor("cursor is malformed", field="cursor") from exc
    if instant.tzinfo is None:
        raise InvalidCursor("cursor is malformed", field="cursor")
    try:
        instant = instant.astimezone(UTC)
    except OverflowError as exc:  # an offset pushing year 1 or 9999 off the calendar
        raise InvalidCursor("cursor is malformed", field="cursor") from exc
    return instant, str(last_id)
