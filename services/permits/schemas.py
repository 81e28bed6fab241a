"""Permits API schemas."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.permits.domain import (
    ITEM_CODE_PATTERN,
    ApprovalMode,
    ItemStatus,
    MaterialSource,
    ReviewAction,
)
from services.permits.licences import LicenceStatus

# Approvers' phones are published (measure 4): a landline with area code, or a mobile number.
CONTACT_PHONE_PATTERN = r"^(0[0-9]{2,3}-[0-9]{7,8}|1[3-9][0-9]{9})$"


class MaterialSpec(BaseModel):
    """One material an application for the item needs."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=2, max_length=200, examples=["危险化学品经营许可证申请表"])
    source: MaterialSource = Field(
        description="applicant: uploaded by the applicant; shared: fetched from another "
        "department's data (三零e办)"
    )
    mandatory: bool = True


class ItemVersionCreate(BaseModel):
    """The implementation elements (实施要素) of a new version of a permit item.

    `approval_mode` is not accepted: it is derived from the on-site, publicity and pledge flags.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=2, max_length=200, examples=["危险化学品经营许可证核发（新办）"])
    legal_basis: str = Field(min_length=2, max_length=4000)
    statutory_limit_days: int = Field(ge=1, le=365, description="Working days set by law")
    promised_limit_days: int = Field(
        ge=0, le=365, description="Working days the bureau promises (0: decided the same day)"
    )
    requires_onsite_check: bool
    requires_publicity: bool
    pledge_allowed: bool = Field(description="承诺制: a signed pledge may replace the review")
    materials: list[MaterialSpec] = Field(max_length=60)
    service_guide: str = Field(min_length=2, max_length=20000, description="办事指南")
    department: str = Field(min_length=2, max_length=100, description="承办处室")
    contact_phone: str = Field(pattern=CONTACT_PHONE_PATTERN, examples=["0532-85912345"])
    effective_on: date

    @field_validator("materials")
    @classmethod
    def _material_names_unique(cls, materials: list[MaterialSpec]) -> list[MaterialSpec]:
        names = [m.name for m in materials]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"material listed twice: {', '.join(duplicates)}")
        return materials


class ItemCreate(ItemVersionCreate):
    """A new permit item, published as its version 1."""

    code: str = Field(pattern=ITEM_CODE_PATTERN, max_length=32, examples=["QD-AJ-001"])


class MaterialRead(BaseModel):
    name: str
    source: MaterialSource
    mandatory: bool


class ItemRead(BaseModel):
    """One version of a permit item as the public catalogue shows it."""

    model_config = ConfigDict(from_attributes=True)

    code: str
    version: int
    name: str
    legal_basis: str
    statutory_limit_days: int
    promised_limit_days: int
    requires_onsite_check: bool
    requires_publicity: bool
    pledge_allowed: bool
    approval_mode: ApprovalMode
    materials: list[MaterialRead]
    is_zero_materials: bool = Field(description="三零e办: nothing for the applicant to upload")
    service_guide: str
    department: str
    contact_phone: str
    effective_on: date
    status: ItemStatus = Field(description="On the date asked about (default: today)")
    published_at: datetime


class ItemHistory(BaseModel):
    """Every published version of one item, oldest first, and which one is in force."""

    code: str
    on: date
    in_force_version: int | None
    versions: list[ItemRead]


# --- applications ------------------------------------------------------------------------


class PledgeSignature(BaseModel):
    """The applicant's signature under the item's pledge text (承诺书)."""

    model_config = ConfigDict(extra="forbid")

    accepted: bool = Field(description="Must be true: the applicant accepts the pledge text")
    text_sha256: str = Field(
        pattern=r"^[0-9a-f]{64}$",
        description="sha256 of the pledge text as shown (GET /items/{code}/pledge), so the "
        "signature binds to the exact words the applicant read",
    )


class ApplicationCreate(BaseModel):
    """An enterprise applies for a permit item; the USCC comes from its token."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    item_code: str = Field(pattern=ITEM_CODE_PATTERN, examples=["QD-AJ-005"])
    enterprise_name: str = Field(min_length=2, max_length=200)
    form: dict[str, str] = Field(
        default_factory=dict,
        max_length=50,
        description="Item-specific particulars (e.g. business premises, storage capacity)",
    )
    pledge: PledgeSignature | None = Field(
        default=None, description="Sign to be approved on a pledge (承诺制), where allowed"
    )


class ApplicationStepRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    action: str
    actor: str
    from_status: str | None
    to_status: str
    reason: str | None
    legal_basis: str | None
    at: datetime


class ApplicationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    item_code: str
    item_version: int
    item_name: str
    uscc: str
    enterprise_name: str
    form: dict[str, str]
    path: str
    path_reason: str
    status: str
    priority: int
    submitted_at: datetime
    limit_days: int
    due_on: date | None = Field(description="Null while that year's official schedule is unknown")
    is_overdue: bool = False
    pledge_sha256: str | None
    pledge_signed_at: datetime | None
    rejection_reason: str | None
    rejection_legal_basis: str | None
    decided_at: datetime | None
    version: int
    steps: list[ApplicationStepRead] = Field(default_factory=list)


class DecisionCreate(BaseModel):
    """A review step. `reject` exists only to be refused: no officer says a direct "no"."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    action: ReviewAction
    reason: str | None = Field(default=None, min_length=2, max_length=4000)
    legal_basis: str | None = Field(default=None, min_length=2, max_length=2000)


class LicenceRead(BaseModel):
    """A licence's public particulars and its signed credential (VC-JWT)."""

    model_config = ConfigDict(from_attributes=True)

    number: str
    uscc: str
    holder_name: str
    item_code: str
    item_name: str
    approval_path: str
    valid_from: date
    valid_until: date
    status: str
    status_reason: str | None
    issued_at: datetime
    kid: str
    token: str = Field(description="The signed credential: verify it at /licences/verify")
    pledge_status: str | None
    pledge_verify_by: date | None


class LicenceStatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    status: LicenceStatus
    reason: str = Field(min_length=2, max_length=2000)
