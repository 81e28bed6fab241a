"""Data-sharing request and answer bodies: grants, reads, the read log."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from gateway.models import DataRead, Grant
from gateway.sharing import CATALOGUE, DEPARTMENT_PATTERN, GrantStatus, grant_status


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL: refused here as bad input, never a 500 there.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


Text = Annotated[str, AfterValidator(_no_nul)]


class GrantCreate(BaseModel):
    """An administrator's decision that a department may read one data set for one purpose."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    department: str = Field(
        pattern=DEPARTMENT_PATTERN, max_length=64, description="Department code, e.g. QD-CBIRC"
    )
    dataset: str = Field(max_length=64, description="A data set of the catalogue (GET /api/data)")
    purpose: Text = Field(min_length=2, max_length=500, description="What the data is read for")
    legal_basis: Text | None = Field(default=None, min_length=2, max_length=500)
    expires_at: AwareDatetime = Field(description="In the future, at most 2 years ahead")

    @field_validator("dataset")
    @classmethod
    def _in_catalogue(cls, value: str) -> str:
        if value not in CATALOGUE:
            raise ValueError(f"unknown data set (known: {', '.join(CATALOGUE)})")
        return value

    @field_validator("expires_at")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        try:
            return value.astimezone(UTC)
        except OverflowError as exc:
            raise ValueError("out of range") from exc


class GrantRevoke(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: Text = Field(min_length=2, max_length=500)


class GrantRead(BaseModel):
    """A grant as recorded, with its status now."""

    id: str
    department: str
    dataset: str
    purpose: str
    legal_basis: str | None
    expires_at: datetime
    created_at: datetime
    created_by: str
    revoked_at: datetime | None
    revoked_by: str | None
    revoked_reason: str | None
    status: GrantStatus

    @classmethod
    def of(cls, grant: Grant, now: datetime) -> GrantRead:
        return cls(
            id=grant.id,
            department=grant.department,
            dataset=grant.dataset,
            purpose=grant.purpose,
            legal_basis=grant.legal_basis,
            expires_at=grant.expires_at,
            created_at=grant.created_at,
            created_by=grant.created_by,
            revoked_at=grant.revoked_at,
            revoked_by=grant.revoked_by,
            revoked_reason=grant.revoked_reason,
            status=grant_status(grant, now),
        )


class DataReadNotice(BaseModel):
    """A read that returned an enterprise's records, as that enterprise sees it: who read,
    which data set, when, for what purpose (not what else the read returned)."""

    id: int
    at: datetime
    department: str
    actor: str
    dataset: str
    grant_id: str
    purpose: str

    @classmethod
    def notice_of(cls, row: DataRead) -> DataReadNotice:
        return cls(
            id=row.id,
            at=row.at,
            department=row.department,
            actor=row.actor,
            dataset=row.dataset,
            grant_id=row.grant_id,
            purpose=row.purpose,
        )


class DataReadRead(DataReadNotice):
    """One read as its owner (the bureau) and the department that made it see it."""

    query: dict[str, Any]
    record_count: int
    outcome: str  # served | failed
    request_id: str | None

    @classmethod
    def of(cls, row: DataRead) -> DataReadRead:
        return cls(
            id=row.id,
            at=row.at,
            department=row.department,
            actor=row.actor,
            dataset=row.dataset,
            grant_id=row.grant_id,
            purpose=row.purpose,
            query=row.query,
            record_count=row.record_count,
            outcome=row.outcome,
            request_id=row.request_id,
        )


class DataSetRead(BaseModel):
    """One page of a data set, read under a grant and logged as read `read_id`."""

    dataset: str
    grant_id: str
    purpose: str
    read_id: int
    items: list[Any]
    next_cursor: str | None
