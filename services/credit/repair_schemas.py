"""Credit-repair and credit-website delivery API schemas."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, HttpUrl, model_validator
from pydantic_core import PydanticCustomError

from services.credit.models import (
    HistoryEntry,
    RepairApplication,
    WebsiteDelivery,
    WebsiteDeliveryAttempt,
)
from services.credit.repair_domain import (
    CALENDAR_NOT_LOADED,
    EvidenceKind,
    RepairCalendar,
    RepairOutcome,
    RepairState,
    RepairTargetKind,
    is_contact_phone,
    is_on_time,
    is_overdue,
    normalise_phone,
    working_days_remaining,
)


def _contact_phone(value: str) -> str:
    if not is_contact_phone(value):
        raise PydanticCustomError(
            "contact_phone_invalid",
            "a mainland mobile (13812345678) or landline number with area code "
            "(0532-88886666, extension after a hyphen)",
        )
    return normalise_phone(value)


ContactPhone = Annotated[
    str,
    Field(min_length=7, max_length=32, examples=["13812345678", "0532-88886666"]),
    AfterValidator(_contact_phone),
]


class EvidenceItem(BaseModel):
    """One piece of proof: a document identified by its SHA-256 or where it can be fetched."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    kind: EvidenceKind
    title: str = Field(min_length=1, max_length=200)
    document_sha256: str | None = Field(
        default=None, pattern=r"^[0-9a-fA-F]{64}$", description="SHA-256 of the uploaded file"
    )
    url: HttpUrl | None = Field(default=None, description="Where the document can be fetched")
    issued_on: date | None = None

    @model_validator(mode="after")
    def _referenced(self) -> EvidenceItem:
        if self.document_sha256 is None and self.url is None:
            raise PydanticCustomError(
                "evidence_reference_missing",
                "give the document's document_sha256 or its url",
            )
        if self.document_sha256 is not None:
            self.document_sha256 = self.document_sha256.lower()
        return self

    def stored(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class RepairCreate(BaseModel):
    """An enterprise's credit-repair application (信用修复申请)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    target_kind: RepairTargetKind
    target_id: str = Field(min_length=1, max_length=36)
    contact_name: str = Field(min_length=1, max_length=64)
    contact_phone: ContactPhone
    statement: str = Field(
        min_length=2, max_length=4000, description="How the dishonesty was corrected"
    )
    evidence: list[EvidenceItem] = Field(max_length=50)
    commitment_signed: bool = Field(description="The credit commitment (信用承诺书) is signed")


class RepairDecisionCreate(BaseModel):
    """The officer's decision after verification; a rejection needs a reason."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    outcome: RepairOutcome
    reason: str | None = Field(default=None, max_length=4000)


class RepairRevocationCreate(BaseModel):
    """Revocation of an approved repair obtained by fraud (以欺诈等不正当手段获得信用修复)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: str = Field(min_length=2, max_length=2000)


class HistoryRead(BaseModel):
    kind: str
    occurred_on: date
    recorded_at: datetime
    actor: str
    note: str
    detail: dict[str, Any]

    @classmethod
    def of(cls, entry: HistoryEntry) -> HistoryRead:
        return cls(
            kind=entry.kind,
            occurred_on=entry.occurred_on,
            recorded_at=entry.recorded_at,
            actor=entry.actor,
            note=entry.note,
            detail=entry.detail,
        )


class RepairRead(BaseModel):
    """A repair application with its clock as of the business date, and its history."""

    id: str
    uscc: str
    target_kind: RepairTargetKind
    target_id: str
    state: RepairState
    applicant: str
    contact_name: str
    contact_phone: str
    statement: str
    evidence: list[dict[str, Any]]
    commitment_signed: bool
    received_on: date
    received_at: datetime
    due_on: date | None = Field(description="Last day to answer; null: calendar not loaded")
    due_note: str | None = Field(description="Why due_on is null, if it is")
    is_overdue: bool
    working_days_remaining: int | None = Field(
        description="While pending: working days left (0 on the due date, negative past it)"
    )
    on_time: bool | None = Field(description="Decided by the due date; null if not decided")
    decided_on: date | None
    decided_by: str | None
    decision_reason: str | None
    revoked_on: date | None
    revoked_by: str | None
    revocation_reason: str | None
    rule_pack_id: str
    rule_pack_version: str
    version: int
    history: list[HistoryRead]

    @classmethod
    def of(
        cls,
        application: RepairApplication,
        history: list[HistoryEntry],
        today: date,
        calendar: RepairCalendar,
    ) -> RepairRead:
        """The application as read on a business date."""
        state = RepairState(application.state)
        return cls(
            id=application.id,
            uscc=application.uscc,
            target_kind=RepairTargetKind(application.target_kind),
            target_id=application.target_id,
            state=state,
            applicant=application.applicant,
            contact_name=application.contact_name,
            contact_phone=application.contact_phone,
            statement=application.statement,
            evidence=application.evidence,
            commitment_signed=application.commitment_signed,
            received_on=application.received_on,
            received_at=application.received_at,
            due_on=application.due_on,
            due_note=CALENDAR_NOT_LOADED if application.due_on is None else None,
            is_overdue=is_overdue(state, application.due_on, today),
            working_days_remaining=working_days_remaining(
                state, application.due_on, today, calendar
            ),
            on_time=is_on_time(application.decided_on, application.due_on),
            decided_on=application.decided_on,
            decided_by=application.decided_by,
            decision_reason=application.decision_reason,
            revoked_on=application.revoked_on,
            revoked_by=application.revoked_by,
            revocation_reason=application.revocation_reason,
            rule_pack_id=application.rule_pack_id,
            rule_pack_version=application.rule_pack_version,
            version=application.version,
            history=[HistoryRead.of(h) for h in history],
        )


class WebsiteDeliveryAttemptRead(BaseModel):
    id: int
    attempted_at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int

    @classmethod
    def of(cls, attempt: WebsiteDeliveryAttempt) -> WebsiteDeliveryAttemptRead:
        return cls(
            id=attempt.id,
            attempted_at=attempt.attempted_at,
            status_code=attempt.status_code,
            error=attempt.error,
            duration_ms=attempt.duration_ms,
        )


class WebsiteDeliveryRead(BaseModel):
    """A result queued for the credit website and where its delivery stands."""

    id: str
    uscc: str
    kind: str
    subject_id: str
    payload: dict[str, Any]
    state: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    attempt_log: list[WebsiteDeliveryAttemptRead] | None = Field(
        default=None, description="Every attempt, oldest first (single reads only)"
    )

    @classmethod
    def of(
        cls, delivery: WebsiteDelivery, attempts: list[WebsiteDeliveryAttempt] | None = None
    ) -> WebsiteDeliveryRead:
        return cls(
            id=delivery.id,
            uscc=delivery.uscc,
            kind=delivery.kind,
            subject_id=delivery.subject_id,
            payload=delivery.payload,
            state=delivery.state,
            attempts=delivery.attempts,
            next_attempt_at=delivery.next_attempt_at,
            last_error=delivery.last_error,
            created_at=delivery.created_at,
            delivered_at=delivery.delivered_at,
            attempt_log=(
                None if attempts is None else [WebsiteDeliveryAttemptRead.of(a) for a in attempts]
            ),
        )
