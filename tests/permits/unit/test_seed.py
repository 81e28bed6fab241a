"""The seeded catalogue is valid data and shows every approval mode."""

from __future__ import annotations

import hashlib

import orjson

from services.permits.domain import (
    ApprovalMode,
    check_promised_within_statutory,
    derive_approval_mode,
)
from services.permits.schemas import ItemCreate
from services.permits.seed import SEED_ITEMS

# seed.py is loaded by migration 0002 only; databases migrated before an edit would never see
# it. Publish a new version or write a new data migration instead, then leave this pin alone.
SEED_SHA256 = "285abfba0a673e6b24733097121b744268dfaba9fad051e6f8c83806b8f3d1fd"


def test_every_seeded_item_passes_the_api_validation_and_rules() -> None:
    for item in SEED_ITEMS:
        parsed = ItemCreate.model_validate(item)
        check_promised_within_statutory(parsed.statutory_limit_days, parsed.promised_limit_days)


def test_codes_are_unique_and_there_are_at_least_ten() -> None:
    codes = [item["code"] for item in SEED_ITEMS]
    assert len(codes) >= 10
    assert len(set(codes)) == len(codes)


def test_each_approval_mode_appears() -> None:
    modes = {
        derive_approval_mode(
            requires_onsite_check=item["requires_onsite_check"],
            requires_publicity=item["requires_publicity"],
            pledge_allowed=item["pledge_allowed"],
        )
        for item in SEED_ITEMS
    }
    assert modes == set(ApprovalMode)


def test_gas_station_renewal_is_the_pledge_item() -> None:
    pledge = [
        item["name"]
        for item in SEED_ITEMS
        if item["pledge_allowed"] and item["requires_onsite_check"]
    ]
    assert pledge == ["加油站危险化学品经营许可证延期（承诺制）"]


def test_seed_is_frozen_with_its_migration() -> None:
    digest = hashlib.sha256(orjson.dumps(list(SEED_ITEMS), option=orjson.OPT_SORT_KEYS)).hexdigest()
    assert digest == SEED_SHA256, "seed.py changed after migration 0002 shipped"
