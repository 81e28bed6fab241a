"""If-Match parsing and the version check behind every 412."""

from __future__ import annotations

import pytest

from kernel.errors import PreconditionFailed
from kernel.versioning import _expected_version, check_version, etag


@pytest.mark.parametrize(
    ("header", "expected"),
    [(None, None), ("*", None), ('"7"', 7), ('W/"7"', 7), ("7", 7), (' "12" ', 12)],
)
async def test_if_match_forms(header: str | None, expected: int | None) -> None:
    assert await _expected_version(header) == expected


@pytest.mark.parametrize("header", ['"seven"', "W/", '"7.5"', ""])
async def test_malformed_if_match_is_412(header: str) -> None:
    with pytest.raises(PreconditionFailed) as err:
        await _expected_version(header)
    assert err.value.code == "if_match_invalid"


def test_version_check() -> None:
    check_version(3, None)
    check_version(3, 3)
    with pytest.raises(PreconditionFailed) as err:
        check_version(4, 3)
    assert err.value.code == "version_mismatch"
    assert etag(4) == '"4"'
