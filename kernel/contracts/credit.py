"""Events produced by the credit service (topic `credit.events`)."""

from __future__ import annotations

from datetime import date
from typing import ClassVar, Literal

from pydantic import Field

from kernel.events import EventContract, contract
from kernel.uscc import USCC


@contract
class PenaltyPublishedV1(EventContract):
    """An administrative penalty entered publicity, with its computed window."""

    TYPE: ClassVar[str] = "credit.penalty.published.v1"

    record_id: str = Field(max_length=36)
    uscc: USCC
    decision_number: str = Field(max_length=64)
    severity: str = Field(max_length=16)
    publicity_starts_on: date
    publicity_ends_on: date
    repair_eligible_on: date


@contract
class CreditStandingChangedV1(EventContract):
    """An enterprise entered or left the red or black list (incentives and sanctions follow)."""

    TYPE: ClassVar[str] = "credit.standing.changed.v1"

    uscc: USCC
    standing: Literal["normal", "redlisted", "blacklisted"]
    previous: Literal["normal", "redlisted", "blacklisted"]
    reason: str = Field(max_length=2000)
    effective_on: date


RecordClass = Literal["penalty", "dishonesty", "incentive"]


@contract
class DishonestyRecordedV1(EventContract):
    """A dishonesty record (失信记录) entered publicity, e.g. after a false pledge."""

    TYPE: ClassVar[str] = "credit.dishonesty.recorded.v1"

    record_id: str = Field(max_length=36)
    uscc: USCC
    document_number: str = Field(max_length=64)
    severity: str = Field(max_length=16)
    publicity_starts_on: date
    publicity_ends_on: date
    repair_eligible_on: date


@contract
class IncentiveRecordedV1(EventContract):
    """An incentive record (守信激励) was published for an enterprise."""

    TYPE: ClassVar[str] = "credit.incentive.recorded.v1"

    record_id: str = Field(max_length=36)
    uscc: USCC
    document_number: str = Field(max_length=64)
    publicity_starts_on: date
    publicity_ends_on: date


@contract
class PublicityEndedV1(EventContract):
    """A record left publicity: its period ran out, its credit was repaired, or it was reversed."""

    TYPE: ClassVar[str] = "credit.publicity.ended.v1"

    record_id: str = Field(max_length=36)
    uscc: USCC
    record_class: RecordClass
    reason: Literal["expired", "repaired", "reversed"]
    ended_on: date


@contract
class PublicityRestoredV1(EventContract):
    """A record ended by a repair is public again: the repair was revoked (e.g. fraud)."""

    TYPE: ClassVar[str] = "credit.publicity.restored.v1"

    record_id: str = Field(max_length=36)
    uscc: USCC
    record_class: RecordClass
    reason: str = Field(max_length=2000)
    publicity_ends_on: date


@contract
class RepairDecidedV1(EventContract):
    """The credit officer decided a credit-repair application."""

    TYPE: ClassVar[str] = "credit.repair.decided.v1"

    application_id: str = Field(max_length=36)
    uscc: USCC
    target_kind: Literal["record", "blacklist"]
    target_id: str = Field(max_length=36)
    outcome: Literal["approved", "rejected"]
    decided_on: date
    due_on: date | None = Field(description="Null when the official calendar was not loaded")
    on_time: bool | None


@contract
class RepairRevokedV1(EventContract):
    """An approved repair was revoked (found fraudulent); the listing is restored."""

    TYPE: ClassVar[str] = "credit.repair.revoked.v1"

    application_id: str = Field(max_length=36)
    uscc: USCC
    target_kind: Literal["record", "blacklist"]
    target_id: str = Field(max_length=36)
    reason: str = Field(max_length=2000)
    revoked_on: date
