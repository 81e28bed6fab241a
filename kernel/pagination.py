"""Cursor pagination: opaque cursors over a stable sort key, never offsets."""

from __future__ import annotations

import base64
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
    return value
