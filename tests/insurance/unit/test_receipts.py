"""Push receipts: the canonical string, both hashes, and what an insurer can verify."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.insurance.receipts import (
    RECEIPT_ALGORITHM,
    RECEIPT_SPEC,
    ReceiptKind,
    canonical_receipt,
    issue_receipt,
    receipt_timestamp,
    request_sha256,
    verify_receipt,
)

BODY = b'{"policy_id":"p-1","risk_level":"high"}'
AT = datetime(2026, 3, 16, 2, 0, 0, 123456, tzinfo=UTC)
RECORD = "5f0c6f62-8d4e-4c61-9a57-1c9f6f3f2b10"


def test_request_hash_is_sha256_of_the_exact_bytes() -> None:
    assert request_sha256(BODY) == hashlib.sha256(BODY).hexdigest()
    # The same JSON spelled differently is a different request.
    assert request_sha256(b'{"risk_level":"high","policy_id":"p-1"}') != request_sha256(BODY)
    assert request_sha256(BODY + b" ") != request_sha256(BODY)


def test_timestamp_is_utc_with_microseconds_and_z() -> None:
    assert receipt_timestamp(AT) == "2026-03-16T02:00:00.123456Z"
    shanghai = timezone(timedelta(hours=8))
    assert receipt_timestamp(AT.astimezone(shanghai)) == "2026-03-16T02:00:00.123456Z"
    assert receipt_timestamp(datetime(2026, 3, 16, tzinfo=UTC)) == "2026-03-16T00:00:00.000000Z"
    with pytest.raises(ValueError, match="timezone-aware"):
        receipt_timestamp(datetime(2026, 3, 16, 2, 0))


def test_canonical_string_is_the_documented_six_lines() -> None:
    req = request_sha256(BODY)
    canonical = canonical_receipt(ReceiptKind.risk_assessment, RECORD, "PICC-QD", AT, req)
    assert (
        canonical
        == (
            f"{RECEIPT_ALGORITHM}\n"
            "kind=risk_assessment\n"
            f"record_id={RECORD}\n"
            "insurer_id=PICC-QD\n"
            "received_at=2026-03-16T02:00:00.123456Z\n"
            f"request_sha256={req}"
        ).encode()
    )


def test_issued_receipt_hashes_the_canonical_string() -> None:
    receipt = issue_receipt(ReceiptKind.service_record, RECORD, "PICC-QD", AT, BODY)
    assert receipt.receipt_id == RECORD
    assert receipt.request_sha256 == hashlib.sha256(BODY).hexdigest()
    expected = hashlib.sha256(
        canonical_receipt(ReceiptKind.service_record, RECORD, "PICC-QD", AT, receipt.request_sha256)
    ).hexdigest()
    assert receipt.receipt_sha256 == expected
    assert len(receipt.receipt_sha256) == 64
    assert verify_receipt(receipt, BODY)


def test_receipt_is_deterministic() -> None:
    first = issue_receipt(ReceiptKind.hazard_assistance, RECORD, "PICC-QD", AT, BODY)
    assert issue_receipt(ReceiptKind.hazard_assistance, RECORD, "PICC-QD", AT, BODY) == first


@pytest.mark.parametrize(
    "change",
    [
        {"kind": ReceiptKind.service_record},
        {"receipt_id": "00000000-0000-0000-0000-000000000000"},
        {"insurer_id": "CPIC-QD"},
        {"received_at": AT + timedelta(microseconds=1)},
        {"request_sha256": hashlib.sha256(b"other").hexdigest()},
    ],
    ids=["kind", "record", "insurer", "time", "request"],
)
def test_every_bound_field_changes_the_receipt(change: dict[str, object]) -> None:
    receipt = issue_receipt(ReceiptKind.risk_assessment, RECORD, "PICC-QD", AT, BODY)
    tampered = replace(receipt, **change)  # type: ignore[arg-type]
    assert not verify_receipt(tampered, BODY)


def test_a_different_body_does_not_verify() -> None:
    receipt = issue_receipt(ReceiptKind.risk_assessment, RECORD, "PICC-QD", AT, BODY)
    assert not verify_receipt(receipt, BODY.replace(b"high", b"low"))


@pytest.mark.parametrize("bad", ["", "a\nkind=x", "a=b", "a\rb"])
def test_values_that_could_forge_a_line_are_refused(bad: str) -> None:
    req = request_sha256(BODY)
    with pytest.raises(ValueError, match="cannot be written"):
        canonical_receipt(ReceiptKind.service_record, bad, "PICC-QD", AT, req)
    with pytest.raises(ValueError, match="cannot be written"):
        canonical_receipt(ReceiptKind.service_record, RECORD, bad, AT, req)


@pytest.mark.parametrize("bad", ["", "ab" * 31, "A" * 64, "g" * 64, "a" * 65])
def test_request_hash_must_be_64_lowercase_hex(bad: str) -> None:
    with pytest.raises(ValueError, match="64 lowercase hex"):
        canonical_receipt(ReceiptKind.service_record, RECORD, "PICC-QD", AT, bad)


def test_the_published_spec_shows_the_canonical_lines_in_order() -> None:
    # RECEIPT_SPEC is what insurers read in the OpenAPI description: it must not drift.
    req = request_sha256(BODY)
    lines = canonical_receipt(ReceiptKind.service_record, RECORD, "PICC-QD", AT, req).split(b"\n")
    published = [ln.strip() for ln in RECEIPT_SPEC.splitlines() if ln.startswith("       ")]
    assert [p.split("=")[0] for p in published] == [ln.decode().split("=")[0] for ln in lines]
    assert published[0] == RECEIPT_ALGORITHM
