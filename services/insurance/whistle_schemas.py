"""Whistle API schemas (企业吹哨、保险报到)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from services.insurance.models import Whistle, WhistleEvent
from services.insurance.push_schemas import Evidence
from services.insurance.schemas import Phone
from services.insurance.whistle_rules import (
    Feedback,
    WhistleCategory,
    WhistleStatus,
    is_breached,
    is_overdue,
)

PersonName = Annotated[str, Field(min_length=2, max_length=64)]


class WhistleCreate(BaseModel):
    """An enterprise's call for help; it goes to the insurer of its policy in force."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    category: WhistleCategory
    description: str = Field(min_length=10, max_length=2000)
    location: str | None = Field(default=None, min_length=2, max_length=200)
    contact_name: PersonName
    contact_phone: Phone


class AcknowledgementCreate(BaseModel):
    """The insurer's answer (报到): who will help and how to reach them."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    responder_name: PersonName
    responder_phone: Phone
    note: str | None = Field(default=None, max_length=2000)


class DeliveryCreate(BaseModel):
    """What the insurer did, with the files that prove it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    summary: str = Field(min_length=10, max_length=4000)
    # The same files-by-hash the push API takes: 1 to 20 distinct items.
    evidence: Evidence


class ClosureCreate(BaseModel):
    """The enterprise closes its request and says whether the help was good enough."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    feedback: Feedback
    note: str | None = Field(
        default=None, max_length=2000, description="Required when unsatisfied: what was wrong"
    )


class WhistleRead(BaseModel):
    id: str
    uscc: str
    enterprise_name: str
    policy_id: str
    insurer_id: str
    category: WhistleCategory
    description: str
    location: str | None
    contact_name: str
    contact_phone: str
    status: WhistleStatus
    raised_at: datetime
    ack_due_at: datetime
    delivery_due_at: datetime
    acknowledged_at: datetime | None
    responder_name: str | None
    responder_phone: str | None
    delivered_at: datetime | None
    delivery_summary: str | None
    evidence: list[dict[str, Any]]
    closed_at: datetime | None
    feedback: Feedback | None
    feedback_note: str | None
    ack_breached_at: datetime | None = Field(description="When a missed acknowledgement was seen")
    delivery_breached_at: datetime | None = Field(description="When a missed delivery was seen")
    ack_overdue: bool = Field(description="Now: not acknowledged and its due has passed")
    delivery_overdue: bool = Field(description="Now: not delivered and its due has passed")
    breached: bool = Field(description="Now: an SLA was or is being missed")

    @classmethod
    def of(cls, w: Whistle, now: datetime) -> WhistleRead:
        return cls(
            id=w.id,
            uscc=w.uscc,
            enterprise_name=w.enterprise_name,
            policy_id=w.policy_id,
            insurer_id=w.insurer_id,
            category=WhistleCategory(w.category),
            description=w.description,
            location=w.location,
            contact_name=w.contact_name,
            contact_phone=w.contact_phone,
            status=WhistleStatus(w.status),
            raised_at=w.raised_at,
            ack_due_at=w.ack_due_at,
            delivery_due_at=w.delivery_due_at,
            acknowledged_at=w.acknowledged_at,
            responder_name=w.responder_name,
            responder_phone=w.responder_phone,
            delivered_at=w.delivered_at,
            delivery_summary=w.delivery_summary,
            evidence=list(w.evidence or []),
            closed_at=w.closed_at,
            feedback=Feedback(w.feedback) if w.feedback else None,
            feedback_note=w.feedback_note,
            ack_breached_at=w.ack_breached_at,
            delivery_breached_at=w.delivery_breached_at,
            ack_overdue=is_overdue(w.ack_due_at, w.acknowledged_at, now),
            delivery_overdue=is_overdue(w.delivery_due_at, w.delivered_at, now),
            breached=(
                w.ack_breached_at is not None
                or w.delivery_breached_at is not None
                or is_breached(w.ack_due_at, w.acknowledged_at, now)
                or is_breached(w.delivery_due_at, w.delivered_at, now)
            ),
        )


class WhistleEventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    action: str
    at: datetime
    actor: str
    note: str | None


class WhistleDetail(WhistleRead):
    """A whistle with its history, oldest first."""

    history: list[WhistleEventRead]

    @classmethod
    def with_history(cls, w: Whistle, events: list[WhistleEvent], now: datetime) -> WhistleDetail:
        return cls(
            **WhistleRead.of(w, now).model_dump(),
            history=[WhistleEventRead.model_validate(e) for e in events],
        )
