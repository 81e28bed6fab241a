"""Receipts for insurer pushes: a hash that binds the answer to the exact request. No I/O.

The algorithm, and how an insurer verifies a receipt, is RECEIPT_SPEC below; the push
endpoints publish it in their OpenAPI description.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Final

RECEIPT_ALGORITHM: Final = "qd-insurer-receipt/1"

RECEIPT_SPEC: Final = """\
Every push (service record, risk assessment, hazard-assistance report) is answered with the
stored record and a ``receipt``. Algorithm ``qd-insurer-receipt/1``, precisely:

1. ``request_sha256 = sha256(body).hexdigest()`` where ``body`` is the HTTP request body
   exactly as the service received it (the bytes on the wire, not a re-serialisation).
2. ``received_at`` is the instant the service accepted the push, in UTC, written
   ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (always six fractional digits, always ``Z``).
3. The canonical string is these six lines joined by a single ``\\n`` (no trailing newline),
   encoded as UTF-8, each ``<...>`` replaced by the receipt's field of that name:

       qd-insurer-receipt/1
       kind=<kind>
       record_id=<receipt_id>
       insurer_id=<insurer_id>
       received_at=<received_at>
       request_sha256=<request_sha256>

   ``kind`` is ``service_record``, ``risk_assessment`` or ``hazard_assistance``;
   ``receipt_id`` is the id of the record the push created; ``insurer_id`` is the pushing
   insurer's registered id.
4. ``receipt_sha256 = sha256(canonical).hexdigest()`` (64 lowercase hex digits).

An insurer's engineer verifies a receipt by keeping the bytes it sent, recomputing
``sha256(body)`` and comparing it with ``request_sha256`` (this proves the bureau recorded
that very request, not a changed one), then rebuilding the canonical string from the
receipt's own fields and comparing its SHA-256 with ``receipt_sha256`` (this proves the
record id, kind, insurer and reception time belong to that request). Every value in the
canonical string is from a closed alphabet (ids, hex digits, the timestamp), so no value
can contain a newline and forge another line. A replay with the same Idempotency-Key
returns the same receipt, byte for byte (so ``request_sha256`` is that of the first request's
bytes, even when the retry spelled the same JSON differently).

The receipt is a hash, not a signature: it binds the answer to the request, and the bureau
keeps both hashes on the record's row, so either side can show the other what was received;
who issued it is established by the TLS connection, not by the receipt.
"""


class ReceiptKind(StrEnum):
    """What kind of record a push created."""

    service_record = "service_record"
    risk_assessment = "risk_assessment"
    hazard_assistance = "hazard_assistance"


def request_sha256(body: bytes) -> str:
    """SHA-256 (hex) of the request body bytes exactly as received."""
    return hashlib.sha256(body).hexdigest()


def receipt_timestamp(instant: datetime) -> str:
    """The receipt's spelling of an instant: UTC, microseconds, ``Z``."""
    if instant.tzinfo is None:
        raise ValueError("a receipt time must be timezone-aware")
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_receipt(
    kind: ReceiptKind, record_id: str, insurer_id: str, received_at: datetime, req_sha256: str
) -> bytes:
    """The canonical string the receipt hash covers (see the module docstring)."""
    for name, value in (("record_id", record_id), ("insurer_id", insurer_id)):
        if not value or any(c in value for c in "\r\n="):
            raise ValueError(f"{name} cannot be written into a receipt: {value!r}")
    if len(req_sha256) != 64 or any(c not in "0123456789abcdef" for c in req_sha256):
        raise ValueError("request_sha256 must be 64 lowercase hex digits")
    lines = (
        RECEIPT_ALGORITHM,
        f"kind={kind.value}",
        f"record_id={record_id}",
        f"insurer_id={insurer_id}",
        f"received_at={receipt_timestamp(received_at)}",
        f"request_sha256={req_sha256}",
    )
    return "\n".join(lines).encode("utf-8")


@dataclass(frozen=True)
class Receipt:
    """What the service hands back for one push, and keeps on the record's row."""

    kind: ReceiptKind
    receipt_id: str
    insurer_id: str
    received_at: datetime
    request_sha256: str
    receipt_sha256: str


def issue_receipt(
    kind: ReceiptKind, record_id: str, insurer_id: str, received_at: datetime, body: bytes
) -> Receipt:
    """The receipt for a push of `body` that created record `record_id`."""
    req = request_sha256(body)
    canonical = canonical_receipt(kind, record_id, insurer_id, received_at, req)
    return Receipt(
        kind=kind,
        receipt_id=record_id,
        insurer_id=insurer_id,
        received_at=received_at,
        request_sha256=req,
        receipt_sha256=hashlib.sha256(canonical).hexdigest(),
    )


def verify_receipt(receipt: Receipt, body: bytes) -> bool:
    """True when `receipt` was issued for exactly `body` (what an insurer checks)."""
    if request_sha256(body) != receipt.request_sha256:
        return False
    canonical = canonical_receipt(
        receipt.kind,
        receipt.receipt_id,
        receipt.insurer_id,
        receipt.received_at,
        receipt.request_sha256,
    )
    return hashlib.sha256(canonical).hexdigest() == receipt.receipt_sha256
