"""Red- and black-list API schemas.

Public reads (`*PublicRead`) carry only what is published: never the objection, the pre-notice,
the facts as written by officers or the reasons given inside the bureau.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from kernel.uscc import USCC
from services.credit.lists_domain import (
    MEM_ORDER_11,
    QINGDAO_REDLIST_NOTICE,
    BlacklistOutcome,
    BlacklistState,
    ListingCriterion,
    RedlistCriterion,
    RedlistOutcome,
    RedlistState,
)
from services.credit.models import BlacklistEntry, HistoryEntry, RedlistEntry

# --- requests ------------------------------------------------------------------------------


class BlacklistProposal(BaseModel):
    """A proposal to list an enterprise (拟列入严重失信主体名单)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    uscc: USCC
    enterprise_name: str = Field(min_length=2, max_length=200)
    criterion: ListingCriterion = Field(description="列入情形")
    facts: str = Field(min_length=2, max_length=3000, description="违法失信事实")
    basis_record_ids: list[str] = Field(
        default_factory=list,
        max_length=20,
        description="Ids of this enterprise's credit records (penalty decisions) the case rests on",
    )


class ObjectionCreate(BaseModel):
    """The enterprise's statement of its case (陈述、申辩) against a pre-notice."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    statement: str = Field(min_length=2, max_length=4000)


class BlacklistDecision(BaseModel):
    """A leader's decision on a case (列入决定 or 不予列入)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    outcome: BlacklistOutcome
    reason: str | None = Field(
        default=None,
        max_length=4000,
        description="Required to withdraw, and to list after an objection (answering it)",
    )


class RedlistNomination(BaseModel):
    """An officer's nomination of an enterprise for the red list (守信红名单)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    uscc: USCC
    enterprise_name: str = Field(min_length=2, max_length=200)
    standardisation_level: int = Field(ge=1, le=3, description="安全生产标准化等级, 1 is highest")
    standardisation_certificate: str = Field(min_length=2, max_length=64)
    accident_free_attested: bool = Field(
        description="The nominator attests no production-safety accident in the last 3 years"
    )
    joint_incentive: bool = Field(default=False, description="Also in 联合激励对象名录")
    grounds: str = Field(min_length=2, max_length=4000, description="推荐理由")


class RedlistDecision(BaseModel):
    """A leader's decision on a nomination."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    outcome: RedlistOutcome
    reason: str | None = Field(default=None, max_length=4000, description="Required to reject")


# --- reads ---------------------------------------------------------------------------------


class HistoryRead(BaseModel):
    """One dated step of a case, as the bureau and the enterprise see it."""

    kind: str
    occurred_on: date
    actor: str
    public: bool
    note: str
    detail: dict[str, Any]

    @classmethod
    def of(cls, row: HistoryEntry) -> HistoryRead:
        return cls(
            kind=row.kind,
            occurred_on=row.occurred_on,
            actor=row.actor,
            public=row.public,
            note=row.note,
            detail=row.detail,
        )


class PublicHistoryRead(BaseModel):
    """One published step (listing, removal, restoration)."""

    kind: str
    occurred_on: date
    note: str

    @classmethod
    def of(cls, row: HistoryEntry) -> PublicHistoryRead:
        return cls(kind=row.kind, occurred_on=row.occurred_on, note=row.note)


class BlacklistCaseRead(BaseModel):
    """A black-list case with everything the bureau (or the enterprise, for its own) sees."""

    id: str
    uscc: str
    enterprise_name: str
    criterion: ListingCriterion
    criterion_zh: str
    facts: str
    basis_record_ids: list[str]
    state: BlacklistState
    proposed_on: date
    proposed_by: str
    notice_served_on: date | None
    objection_due_on: date | None = Field(description="Last day to object (inclusive)")
    pre_notice: str | None = Field(description="列入前告知书 (zh-CN), as served")
    objection: str | None
    objected_on: date | None
    decided_on: date | None
    decided_by: str | None
    decision_reason: str | None
    listed_until: date | None = Field(description="Last day listed (inclusive)")
    early_removal_on: date | None = Field(description="First day early removal may be sought")
    removed_on: date | None
    removal_reason: str | None
    rule_pack_id: str
    rule_pack_version: str
    version: int
    history: list[HistoryRead]

    @classmethod
    def of(cls, entry: BlacklistEntry, history: list[HistoryEntry]) -> BlacklistCaseRead:
        criterion = ListingCriterion(entry.criterion)
        return cls(
            id=entry.id,
            uscc=entry.uscc,
            enterprise_name=entry.enterprise_name,
            criterion=criterion,
            criterion_zh=MEM_ORDER_11.case(criterion).zh,
            facts=entry.facts,
            basis_record_ids=list(entry.basis_record_ids),
            state=BlacklistState(entry.state),
            proposed_on=entry.proposed_on,
            proposed_by=entry.proposed_by,
            notice_served_on=entry.notice_served_on,
            objection_due_on=entry.objection_due_on,
            pre_notice=entry.pre_notice,
            objection=entry.objection,
            objected_on=entry.objected_on,
            decided_on=entry.decided_on,
            decided_by=entry.decided_by,
            decision_reason=entry.decision_reason,
            listed_until=entry.listed_until,
            early_removal_on=entry.early_removal_on,
            removed_on=entry.removed_on,
            removal_reason=entry.removal_reason,
            rule_pack_id=entry.rule_pack_id,
            rule_pack_version=entry.rule_pack_version,
            version=entry.version,
            history=[HistoryRead.of(h) for h in history],
        )


class BlacklistPublicRead(BaseModel):
    """A published black-list entry (严重失信主体名单)."""

    id: str
    uscc: str
    enterprise_name: str
    criterion: ListingCriterion
    criterion_zh: str = Field(description="列入情形")
    basis: str = Field(description="列入依据")
    state: BlacklistState
    decided_on: date
    listed_until: date = Field(description="Last day listed (inclusive)")
    removed_on: date | None
    removal_reason: str | None
    sanctions: list[str] = Field(description="失信惩戒措施")
    history: list[PublicHistoryRead]

    @classmethod
    def of(cls, entry: BlacklistEntry, history: list[HistoryEntry]) -> BlacklistPublicRead:
        criterion = ListingCriterion(entry.criterion)
        assert entry.decided_on is not None
        assert entry.listed_until is not None
        return cls(
            id=entry.id,
            uscc=entry.uscc,
            enterprise_name=entry.enterprise_name,
            criterion=criterion,
            criterion_zh=MEM_ORDER_11.case(criterion).zh,
            basis=MEM_ORDER_11.source,
            state=BlacklistState(entry.state),
            decided_on=entry.decided_on,
            listed_until=entry.listed_until,
            removed_on=entry.removed_on,
            removal_reason=entry.removal_reason,
            sanctions=list(MEM_ORDER_11.sanctions),
            history=[PublicHistoryRead.of(h) for h in history if h.public],
        )


class CriterionRead(BaseModel):
    """One red-list criterion as computed."""

    code: RedlistCriterion
    passed: bool
    detail: str


class RedlistCheckRead(BaseModel):
    """The red-list criteria computed now for an enterprise; nothing is saved."""

    uscc: str
    checked_on: date
    eligible: bool
    criteria: list[CriterionRead]


class RedlistEntryRead(BaseModel):
    """A nomination or red listing with everything the bureau sees."""

    id: str
    uscc: str
    enterprise_name: str
    standardisation_level: int
    standardisation_certificate: str
    accident_free_attested: bool
    joint_incentive: bool
    grounds: str
    criteria: list[CriterionRead]
    state: RedlistState
    nominated_on: date
    nominated_by: str
    decided_on: date | None
    decided_by: str | None
    decision_reason: str | None
    listed_until: date | None
    removed_on: date | None
    removal_reason: str | None
    rule_pack_id: str
    rule_pack_version: str
    version: int
    history: list[HistoryRead]

    @classmethod
    def of(cls, entry: RedlistEntry, history: list[HistoryEntry]) -> RedlistEntryRead:
        return cls(
            id=entry.id,
            uscc=entry.uscc,
            enterprise_name=entry.enterprise_name,
            standardisation_level=entry.standardisation_level,
            standardisation_certificate=entry.standardisation_certificate,
            accident_free_attested=entry.accident_free_attested,
            joint_incentive=entry.joint_incentive,
            grounds=entry.grounds,
            criteria=[CriterionRead.model_validate(c) for c in entry.criteria],
            state=RedlistState(entry.state),
            nominated_on=entry.nominated_on,
            nominated_by=entry.nominated_by,
            decided_on=entry.decided_on,
            decided_by=entry.decided_by,
            decision_reason=entry.decision_reason,
            listed_until=entry.listed_until,
            removed_on=entry.removed_on,
            removal_reason=entry.removal_reason,
            rule_pack_id=entry.rule_pack_id,
            rule_pack_version=entry.rule_pack_version,
            version=entry.version,
            history=[HistoryRead.of(h) for h in history],
        )


class RedlistPublicRead(BaseModel):
    """A published red-list entry (守信红名单)."""

    id: str
    uscc: str
    enterprise_name: str
    standardisation_level: int
    state: RedlistState
    listed_on: date
    listed_until: date = Field(description="Last day listed (inclusive)")
    removed_on: date | None
    removal_reason: str | None
    joint_incentive: bool
    incentives: list[str] = Field(description="守信激励措施")
    history: list[PublicHistoryRead]

    @classmethod
    def of(cls, entry: RedlistEntry, history: list[HistoryEntry]) -> RedlistPublicRead:
        assert entry.decided_on is not None
        assert entry.listed_until is not None
        return cls(
            id=entry.id,
            uscc=entry.uscc,
            enterprise_name=entry.enterprise_name,
            standardisation_level=entry.standardisation_level,
            state=RedlistState(entry.state),
            listed_on=entry.decided_on,
            listed_until=entry.listed_until,
            removed_on=entry.removed_on,
            removal_reason=entry.removal_reason,
            joint_incentive=entry.joint_incentive,
            incentives=list(QINGDAO_REDLIST_NOTICE.incentives),
            history=[PublicHistoryRead.of(h) for h in history if h.public],
        )


class JointIncentiveRead(BaseModel):
    """One enterprise in the joint-incentive directory (联合激励对象名录)."""

    id: str
    uscc: str
    enterprise_name: str
    standardisation_level: int
    listed_on: date
    listed_until: date
    measures: list[str] = Field(description="联合激励措施")

    @classmethod
    def of(cls, entry: RedlistEntry) -> JointIncentiveRead:
        assert entry.decided_on is not None
        assert entry.listed_until is not None
        return cls(
            id=entry.id,
            uscc=entry.uscc,
            enterprise_name=entry.enterprise_name,
            standardisation_level=entry.standardisation_level,
            listed_on=entry.decided_on,
            listed_until=entry.listed_until,
            measures=list(QINGDAO_REDLIST_NOTICE.incentives),
        )
