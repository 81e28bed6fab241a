"""State changes shared by every credit workflow: the append-only history, ending and restoring
publicity, leaving and re-entering the lists, and the enterprise's announced standing.

Each function changes the subject row, appends the dated history row and emits the event in
the caller's transaction, so the three never disagree. Nothing here commits.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.contracts.credit import (
    CreditStandingChangedV1,
    PublicityEndedV1,
    PublicityRestoredV1,
)
from kernel.db import utcnow
from kernel.outbox import Outbox
from services.credit.models import (
    BlacklistEntry,
    CreditRecord,
    HistoryEntry,
    RedlistEntry,
    Standing,
)

SYSTEM_ACTOR = "system"

StandingName = Literal["normal", "redlisted", "blacklisted"]
EndReason = Literal["expired", "repaired", "reversed"]


async def append_history(
    session: AsyncSession,
    *,
    uscc: str,
    subject_type: str,
    subject_id: str,
    kind: str,
    on: date,
    actor: str,
    public: bool,
    note: str,
    detail: dict[str, Any] | None = None,
) -> HistoryEntry:
    """Add one dated step to a subject's history (never updated, never deleted)."""
    entry = HistoryEntry(
        uscc=uscc,
        subject_type=subject_type,
        subject_id=subject_id,
        kind=kind,
        occurred_on=on,
        recorded_at=utcnow(),
        actor=actor,
        public=public,
        note=note[:2000],
        detail=detail or {},
    )
    session.add(entry)
    return entry


async def history_of(
    session: AsyncSession, subject_type: str, subject_id: str, *, public_only: bool = False
) -> list[HistoryEntry]:
    """A subject's steps, oldest first."""
    query = (
        sa.select(HistoryEntry)
        .where(HistoryEntry.subject_type == subject_type, HistoryEntry.subject_id == subject_id)
        .order_by(HistoryEntry.id)
    )
    if public_only:
        query = query.where(HistoryEntry.public.is_(True))
    return list((await session.scalars(query)).all())


# --- standing ------------------------------------------------------------------------------


async def current_standing(session: AsyncSession, uscc: str) -> StandingName:
    """What the lists say now: the black list wins over the red list."""
    blacklisted = await session.scalar(
        sa.select(sa.func.count())
        .select_from(BlacklistEntry)
        .where(BlacklistEntry.uscc == uscc, BlacklistEntry.state == "listed")
    )
    if blacklisted:
        return "blacklisted"
    redlisted = await session.scalar(
        sa.select(sa.func.count())
        .select_from(RedlistEntry)
        .where(RedlistEntry.uscc == uscc, RedlistEntry.state == "listed")
    )
    return "redlisted" if redlisted else "normal"


async def refresh_standing(
    session: AsyncSession, outbox: Outbox, uscc: str, on: date, reason: str
) -> StandingName:
    """Recompute the standing and announce it if it changed (credit.standing.changed.v1).

    The standing row is locked first, so two concurrent changes for one enterprise announce
    each transition once and in order.
    """
    await session.flush()
    now = utcnow()
    values = {"uscc": uscc, "standing": "normal", "since": on, "updated_at": now}
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    await session.execute(insert(Standing).values(values).on_conflict_do_nothing())
    row = await session.scalar(
        sa.select(Standing)
        .where(Standing.uscc == uscc)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert row is not None
    new = await current_standing(session, uscc)
    previous = row.standing
    if new != previous:
        row.standing = new
        row.since = on
        row.updated_at = now
        await outbox.emit(
            session,
            uscc,
            CreditStandingChangedV1(
                uscc=uscc,
                standing=new,
                previous=previous,
                reason=reason[:2000],
                effective_on=on,
            ),
        )
    return new


# --- publicity of records ------------------------------------------------------------------


async def end_publicity(
    session: AsyncSession,
    outbox: Outbox,
    record: CreditRecord,
    *,
    reason: EndReason,
    on: date,
    actor: str,
    note: str,
    detail: dict[str, Any] | None = None,
) -> None:
    """Take a record out of publicity from `on` (it is no longer shown that day)."""
    record.state = "ended"
    record.ended_on = on
    record.end_reason = reason
    record.version += 1
    await append_history(
        session,
        uscc=record.uscc,
        subject_type="record",
        subject_id=record.id,
        kind=reason,
        on=on,
        actor=actor,
        public=True,
        note=note,
        detail=detail,
    )
    await outbox.emit(
        session,
        record.uscc,
        PublicityEndedV1(
            record_id=record.id,
            uscc=record.uscc,
            record_class=record.record_class,
            reason=reason,
            ended_on=on,
        ),
    )


async def restore_publicity(
    session: AsyncSession,
    outbox: Outbox,
    record: CreditRecord,
    *,
    on: date,
    actor: str,
    reason: str,
    detail: dict[str, Any] | None = None,
) -> None:
    """Publish a record again after a revoked repair, to the end of its original window."""
    record.state = "published"
    record.ended_on = None
    record.end_reason = None
    record.version += 1
    await append_history(
        session,
        uscc=record.uscc,
        subject_type="record",
        subject_id=record.id,
        kind="restored",
        on=on,
        actor=actor,
        public=True,
        note=reason,
        detail=detail,
    )
    await outbox.emit(
        session,
        record.uscc,
        PublicityRestoredV1(
            record_id=record.id,
            uscc=record.uscc,
            record_class=record.record_class,
            reason=reason[:2000],
            publicity_ends_on=record.publicity_ends_on,
        ),
    )


# --- the lists -----------------------------------------------------------------------------


async def remove_from_blacklist(
    session: AsyncSession,
    outbox: Outbox,
    entry: BlacklistEntry,
    *,
    reason: Literal["expired", "repaired", "reversed"],
    on: date,
    actor: str,
    note: str,
    detail: dict[str, Any] | None = None,
) -> None:
    """Move a listed enterprise off the black list (移出) and announce the new standing."""
    entry.state = "removed"
    entry.active_key = None
    entry.removed_on = on
    entry.removal_reason = reason
    entry.version += 1
    await append_history(
        session,
        uscc=entry.uscc,
        subject_type="blacklist",
        subject_id=entry.id,
        kind=f"removed_{reason}",
        on=on,
        actor=actor,
        public=True,
        note=note,
        detail=detail,
    )
    await refresh_standing(session, outbox, entry.uscc, on, note)


async def restore_blacklist(
    session: AsyncSession,
    outbox: Outbox,
    entry: BlacklistEntry,
    *,
    on: date,
    actor: str,
    reason: str,
    detail: dict[str, Any] | None = None,
) -> None:
    """Put an entry removed by a revoked repair back on the list (恢复列入状态), same term.

    The unique `active_key` makes this fail at flush if another case for the enterprise has
    been opened since; the caller turns that into a conflict.
    """
    entry.state = "listed"
    entry.active_key = entry.uscc
    entry.removed_on = None
    entry.removal_reason = None
    entry.version += 1
    await append_history(
        session,
        uscc=entry.uscc,
        subject_type="blacklist",
        subject_id=entry.id,
        kind="restored",
        on=on,
        actor=actor,
        public=True,
        note=reason,
        detail=detail,
    )
    await session.flush()
    await refresh_standing(session, outbox, entry.uscc, on, reason)


async def remove_from_redlist(
    session: AsyncSession,
    outbox: Outbox,
    entry: RedlistEntry,
    *,
    reason: str,
    on: date,
    actor: str,
    note: str,
    detail: dict[str, Any] | None = None,
) -> None:
    """Move an enterprise off the red list (expired, a new dishonesty, black-listed...)."""
    entry.state = "removed"
    entry.active_key = None
    entry.removed_on = on
    entry.removal_reason = reason[:32]
    entry.version += 1
    await append_history(
        session,
        uscc=entry.uscc,
        subject_type="redlist",
        subject_id=entry.id,
        kind=f"removed_{reason}"[:32],
        on=on,
        actor=actor,
        public=True,
        note=note,
        detail=detail,
    )
    await refresh_standing(session, outbox, entry.uscc, on, note)


async def after_dishonesty(
    session: AsyncSession, outbox: Outbox, uscc: str, *, on: date, actor: str, note: str
) -> None:
    """A new penalty or dishonesty record ends the enterprise's red listing (动态调整).

    An open nomination is left to the approver, who sees the criteria recomputed.
    """
    entry = await session.scalar(
        sa.select(RedlistEntry).where(RedlistEntry.uscc == uscc, RedlistEntry.state == "listed")
    )
    if entry is not None:
        await remove_from_redlist(
            session, outbox, entry, reason="dishonesty", on=on, actor=actor, note=note
        )
