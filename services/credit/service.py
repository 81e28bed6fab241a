"""Credit use cases: domain rules + repository + outbox, inside the caller's transaction."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from kernel.auth import Principal
from kernel.contracts.credit import PenaltyPublishedV1
from kernel.db import utcnow
from kernel.errors import Conflict, RuleViolated
from kernel.outbox import Outbox
from services.credit.domain import (
    NoticeFacts,
    PenaltyRuleViolated,
    WorkingDays,
    check_penalty_content,
    publicity_window,
    repair_notice,
    rule_pack_in_force,
)
from services.credit.models import CreditRecord
from services.credit.repository import PenaltyRepository
from services.credit.schemas import PenaltyCreate


async def record_penalty(
    session: AsyncSession,
    outbox: Outbox,
    working_days: WorkingDays,
    officer: Principal,
    data: PenaltyCreate,
    today: date,
) -> CreditRecord:
    """Record a penalty decision and publish it today, with its window and repair notice."""
    pack = rule_pack_in_force(today)
    try:
        check_penalty_content(data.fine_amount, data.other_measures)
        window = publicity_window(pack, data.severity, data.decided_on, today, working_days)
    except PenaltyRuleViolated as exc:
        raise RuleViolated(str(exc), code=exc.code, field=exc.field) from exc
    repo = PenaltyRepository(session)
    if await repo.get_by_decision_number(data.decision_number) is not None:
        raise Conflict(
            f"penalty decision {data.decision_number} is already recorded",
            code="penalty_exists",
            field="decision_number",
        )
    notice = repair_notice(
        pack,
        NoticeFacts(
            enterprise_name=data.enterprise_name,
            uscc=data.uscc,
            decision_number=data.decision_number,
            decided_on=data.decided_on,
            severity=data.severity,
            fine_amount=data.fine_amount,
            window=window,
        ),
    )
    penalty = CreditRecord(
        id=str(uuid.uuid4()),
        record_class="penalty",
        document_number=data.decision_number,
        uscc=data.uscc,
        enterprise_name=data.enterprise_name,
        decided_on=data.decided_on,
        legal_basis=data.legal_basis,
        summary=data.violation_summary,
        fine_amount=data.fine_amount,
        other_measures=data.other_measures or None,
        severity=data.severity.value,
        source=data.source.value,
        publicity_starts_on=window.starts_on,
        publicity_ends_on=window.ends_on,
        repair_eligible_on=window.repair_eligible_on,
        publish_by=window.publish_by,
        state="published",
        version=1,
        rule_pack_id=pack.id,
        rule_pack_version=pack.version,
        repair_notice=notice,
        recorded_at=utcnow(),
        recorded_by=officer.key,
    )
    repo.add(penalty)
    # Flush first: a concurrent twin with the same decision number fails here, before the event.
    await session.flush()
    await outbox.emit(
        session,
        penalty.uscc,
        PenaltyPublishedV1(
            record_id=penalty.id,
            uscc=penalty.uscc,
            decision_number=penalty.document_number,
            severity=penalty.severity,
            publicity_starts_on=penalty.publicity_starts_on,
            publicity_ends_on=penalty.publicity_ends_on,
            repair_eligible_on=window.repair_eligible_on,
        ),
    )
    return penalty
