"""Insurer push API schemas: what insurers send, and the records with their receipts."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from pydantic_core import PydanticCustomError

from services.insurance.domain import ObligationKind, RiskLevel
from services.insurance.models import HazardAssistanceReport, RiskAssessment, ServiceRecord
from services.insurance.receipts import RECEIPT_ALGORITHM, ReceiptKind, receipt_timestamp

MAX_NAMES = 10
MAX_EVIDENCE = 20

PersonName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
RecordId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=36)]


class EvidenceMediaType(StrEnum):
    """The kinds of file an insurer may reference as evidence."""

    jpeg = "image/jpeg"
    png = "image/png"
    webp = "image/webp"
    pdf = "application/pdf"
    mp4 = "video/mp4"


def _https_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname:
        raise PydanticCustomError("url_not_https", "the evidence url must be an https:// address")
    if any(c.isspace() for c in value):
        raise PydanticCustomError("url_invalid", "the evidence url must not contain spaces")
    return value


HttpsUrl = Annotated[str, Field(max_length=2000), AfterValidator(_https_url)]


def _distinct_names(values: list[str]) -> list[str]:
    if len(set(values)) != len(values):
        raise PydanticCustomError("names_not_distinct", "each name may appear once")
    return values


Names = Annotated[
    list[PersonName],
    Field(min_length=1, max_length=MAX_NAMES),
    AfterValidator(_distinct_names),
]


class EvidenceItem(BaseModel):
    """A file kept by the insurer, referenced by its SHA-256 (the platform stores no files)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200, examples=["现场照片-罐区.jpg"])
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256, 64 lowercase hex digits")
    media_type: EvidenceMediaType
    url: HttpsUrl | None = Field(default=None, description="Where the file can be fetched")

    def stored(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


def _distinct_evidence(values: list[EvidenceItem]) -> list[EvidenceItem]:
    if len({e.sha256 for e in values}) != len(values):
        raise PydanticCustomError("evidence_not_distinct", "each file (sha256) may appear once")
    return values


Evidence = Annotated[
    list[EvidenceItem],
    Field(min_length=1, max_length=MAX_EVIDENCE),
    AfterValidator(_distinct_evidence),
]


class _Push(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ServiceRecordCreate(_Push):
    """A delivered service (check, training, graded service, plan, guidance, on-site staff)."""

    obligation_id: RecordId = Field(description="The obligation this service delivers")
    delivered_on: date = Field(description="When the service was given; not after today")
    performed_by: Names = Field(description="Who gave the service (1 to 10 names)")
    summary: str = Field(min_length=2, max_length=4000)
    participants: int | None = Field(
        default=None, ge=1, le=100_000, description="Training only (required for training)"
    )
    hazards_found: int | None = Field(
        default=None, ge=0, le=10_000, description="key_check and full_check only (required)"
    )
    evidence: Evidence


class RiskAssessmentCreate(_Push):
    """A risk assessment (风险评估): the first one of a policy, or a reassessment."""

    policy_id: RecordId
    risk_level: RiskLevel
    assessed_on: date = Field(description="Not after today, not before the policy started")
    assessors: Names
    findings: str = Field(min_length=2, max_length=4000)
    hazards_found: int = Field(ge=0, le=10_000)
    evidence: Evidence


class AssistanceOutcome(StrEnum):
    """What the insurer saw when it left: the hazard fixed, or fixing under way."""

    rectified = "rectified"
    in_progress = "in_progress"


class HazardAssistanceCreate(_Push):
    """Help given to rectify a hazard the government found (协助整改)."""

    obligation_id: RecordId = Field(description="The hazard_assistance obligation")
    assisted_on: date
    performed_by: Names
    measures: str = Field(min_length=2, max_length=4000)
    outcome: AssistanceOutcome
    evidence: Evidence


class EvidenceRead(BaseModel):
    name: str
    sha256: str
    media_type: str
    url: str | None = None


class ReceiptRead(BaseModel):
    """Proof of what was received; recompute both hashes to verify (see the API description)."""

    algorithm: str = RECEIPT_ALGORITHM
    receipt_id: str = Field(description="The id of the record the push created")
    kind: ReceiptKind
    insurer_id: str
    received_at: str = Field(description="UTC, YYYY-MM-DDTHH:MM:SS.ffffffZ")
    request_sha256: str = Field(description="SHA-256 of the request body bytes as received")
    receipt_sha256: str = Field(description="SHA-256 of the canonical receipt string")

    @classmethod
    def of(
        cls, kind: ReceiptKind, row: ServiceRecord | RiskAssessment | HazardAssistanceReport
    ) -> ReceiptRead:
        return cls(
            receipt_id=row.id,
            kind=kind,
            insurer_id=row.insurer_id,
            received_at=receipt_timestamp(row.received_at),
            request_sha256=row.request_sha256,
            receipt_sha256=row.receipt_sha256,
        )


class ServiceRecordRead(BaseModel):
    id: str
    obligation_id: str
    policy_id: str
    insurer_id: str
    uscc: str
    kind: ObligationKind
    delivered_on: date
    performed_by: list[str]
    summary: str
    participants: int | None
    hazards_found: int | None
    evidence: list[EvidenceRead]
    received_at: datetime
    receipt: ReceiptRead

    @classmethod
    def of(cls, row: ServiceRecord) -> ServiceRecordRead:
        return cls(
            id=row.id,
            obligation_id=row.obligation_id,
            policy_id=row.policy_id,
            insurer_id=row.insurer_id,
            uscc=row.uscc,
            kind=ObligationKind(row.kind),
            delivered_on=row.delivered_on,
            performed_by=list(row.performed_by),
            summary=row.summary,
            participants=row.participants,
            hazards_found=row.hazards_found,
            evidence=[EvidenceRead.model_validate(e) for e in row.evidence],
            received_at=row.received_at,
            receipt=ReceiptRead.of(ReceiptKind.service_record, row),
        )


class RiskAssessmentRead(BaseModel):
    id: str
    policy_id: str
    obligation_id: str | None = Field(
        description="The scheduled assessment it delivered; null for a reassessment"
    )
    insurer_id: str
    uscc: str
    risk_level: RiskLevel
    assessed_on: date
    assessors: list[str]
    findings: str
    hazards_found: int
    evidence: list[EvidenceRead]
    received_at: datetime
    receipt: ReceiptRead

    @classmethod
    def of(cls, row: RiskAssessment) -> RiskAssessmentRead:
        return cls(
            id=row.id,
            policy_id=row.policy_id,
            obligation_id=row.obligation_id,
            insurer_id=row.insurer_id,
            uscc=row.uscc,
            risk_level=RiskLevel(row.risk_level),
            assessed_on=row.assessed_on,
            assessors=list(row.assessors),
            findings=row.findings,
            hazards_found=row.hazards_found,
            evidence=[EvidenceRead.model_validate(e) for e in row.evidence],
            received_at=row.received_at,
            receipt=ReceiptRead.of(ReceiptKind.risk_assessment, row),
        )


class HazardAssistanceRead(BaseModel):
    id: str
    obligation_id: str
    policy_id: str
    hazard_id: str
    insurer_id: str
    uscc: str
    assisted_on: date
    performed_by: list[str]
    measures: str
    outcome: AssistanceOutcome
    evidence: list[EvidenceRead]
    received_at: datetime
    receipt: ReceiptRead

    @classmethod
    def of(cls, row: HazardAssistanceReport) -> HazardAssistanceRead:
        return cls(
            id=row.id,
            obligation_id=row.obligation_id,
            policy_id=row.policy_id,
            hazard_id=row.hazard_id,
            insurer_id=row.insurer_id,
            uscc=row.uscc,
            assisted_on=row.assisted_on,
            performed_by=list(row.performed_by),
            measures=row.measures,
            outcome=AssistanceOutcome(row.outcome),
            evidence=[EvidenceRead.model_validate(e) for e in row.evidence],
            received_at=row.received_at,
            receipt=ReceiptRead.of(ReceiptKind.hazard_assistance, row),
        )
