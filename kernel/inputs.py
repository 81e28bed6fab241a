"""Request inputs every service refuses before a handler runs."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any

import orjson
from fastapi import Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

# PostgreSQL text cannot hold U+0000: a NUL reaching a query or a row is a database error (a
# 500), so it is refused as a validation error naming the field, on every database alike.
NUL = "\x00"
_NUL_RULE = "string_nul_character"


def _nul_error(where: str, *loc: str | int) -> dict[str, Any]:
    return {
        "loc": (where, *loc),
        "type": _NUL_RULE,
        "msg": "the text contains a NUL character (U+0000)",
    }


def _nul_in(value: Any, loc: tuple[str | int, ...]) -> tuple[str | int, ...] | None:
    """Where in a parsed JSON value a string (or an object key) holds a NUL, if anywhere."""
    if isinstance(value, str):
        return loc if NUL in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            found = (*loc, key) if NUL in key else _nul_in(item, (*loc, key))
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _nul_in(item, (*loc, index))
            if found is not None:
                return found
    return None


async def reject_nul_characters(request: Request) -> None:
    """Rule `no_nul_characters`: no path segment, query value or body string holds U+0000."""
    for name, value in request.path_params.items():
        if NUL in str(value):
            raise RequestValidationError([_nul_error("path", name)])
    for name, value in request.query_params.multi_items():
        if NUL in name or NUL in value:
            raise RequestValidationError([_nul_error("query", name)])
    body = await request.body()
    # A JSON body can only carry a NUL escaped; a raw one is malformed JSON, refused later.
    if b"\\u0000" not in body:
        return
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return  # the body validation that follows reports malformed JSON
    loc = _nul_in(parsed, ())
    if loc is not None:
        raise RequestValidationError([_nul_error("body", *loc)])


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_date(value: Any) -> Any:
    """Rule `date_format`: a date parameter is written YYYY-MM-DD (RFC 3339 full-date).

    Pydantic alone would also read a number as Unix time (`?on=0` is 1970-01-01) and a
    date-time at midnight as its date: inputs the API's document does not allow.
    """
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        return value
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    raise PydanticCustomError("date_format", "the date must be written YYYY-MM-DD")


# A date as the OpenAPI document says (format: date), for query and path parameters.
IsoDate = Annotated[date, BeforeValidator(_iso_date)]


# The year of a public statistics query (the portal's ten-measures board reads one per service).
StatsYear = Annotated[
    int | None,
    Query(ge=2000, le=2100, description="Calendar year of the flow figures; default this year"),
]
