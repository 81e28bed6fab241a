"""Catalogue use cases: domain rules + repository + outbox, inside the caller's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.auth import Principal
from kernel.contracts.permits import ItemVersionPublishedV1
from kernel.db import utcnow
from kernel.errors import Conflict, NotFound, RuleViolated
from kernel.outbox import Outbox
from services.permits.domain import (
    ItemRuleViolated,
    check_new_version_effective_on,
    check_promised_within_statutory,
    derive_approval_mode,
    next_version_number,
    version_in_force,
)
from services.permits.models import ItemVersion
from services.permits.repository import ItemRepository
from services.permits.schemas import ItemCreate, ItemVersionCreate


@dataclass(frozen=True)
class ItemHistoryView:
    """An item's versions, oldest first, and the one in force on the date asked about."""

    code: str
    versions: Sequence[ItemVersion]
    in_force: ItemVersion | None


async def publish_item(
    session: AsyncSession, outbox: Outbox, admin: Principal, data: ItemCreate
) -> ItemVersion:
    """Add a new item to the catalogue as its published version 1."""
    _check_limits(data)
    repo = ItemRepository(session)
    if await repo.code_exists(data.code):
        raise Conflict(
            f"item {data.code} is already in the catalogue; publish a new version instead",
            code="item_exists",
            field="code",
        )
    return await _publish(session, outbox, admin, data.code, 1, data)


async def publish_version(
    session: AsyncSession,
    outbox: Outbox,
    admin: Principal,
    code: str,
    data: ItemVersionCreate,
    today: date,
) -> ItemVersion:
    """Publish the next version of an existing item, taking effect on its effective date."""
    repo = ItemRepository(session)
    versions = await repo.list_versions(code)
    if not versions:
        raise _item_not_found(code)
    _check_limits(data)
    try:
        check_new_version_effective_on(versions, data.effective_on, today)
    except ItemRuleViolated as exc:
        raise RuleViolated(str(exc), code=exc.code, field=exc.field) from exc
    return await _publish(session, outbox, admin, code, next_version_number(versions), data)


async def item_history(session: AsyncSession, code: str, on: date) -> ItemHistoryView:
    """An item's whole version history; 404 if the code is not in the catalogue."""
    versions = await ItemRepository(session).list_versions(code)
    if not versions:
        raise _item_not_found(code)
    return ItemHistoryView(code, versions, version_in_force(versions, on))


async def item_in_force(session: AsyncSession, code: str, on: date) -> ItemVersion:
    """The item's version in force on a date; 404 if unknown or if none is in force yet."""
    history = await item_history(session, code, on)
    if history.in_force is None:
        first = history.versions[0].effective_on.isoformat()
        raise NotFound(
            f"item {code} has no version in force on {on.isoformat()} (first effective on {first})",
            code="item_not_in_force",
        )
    return history.in_force


async def item_version(
    session: AsyncSession, code: str, version: int, on: date
) -> tuple[ItemVersion, ItemVersion | None]:
    """One version of an item and the version in force on a date; 404 if either is unknown."""
    history = await item_history(session, code, on)
    for row in history.versions:
        if row.version == version:
            return row, history.in_force
    raise NotFound(f"item {code} has no version {version}", code="item_version_not_found")


def _check_limits(data: ItemVersionCreate) -> None:
    try:
        check_promised_within_statutory(data.statutory_limit_days, data.promised_limit_days)
    except ItemRuleViolated as exc:
        raise RuleViolated(str(exc), code=exc.code, field=exc.field) from exc


def _item_not_found(code: str) -> NotFound:
    return NotFound(f"item {code} is not in the catalogue", code="item_not_found")


async def _publish(
    session: AsyncSession,
    outbox: Outbox,
    admin: Principal,
    code: str,
    version: int,
    data: ItemVersionCreate,
) -> ItemVersion:
    mode = derive_approval_mode(
        requires_onsite_check=data.requires_onsite_check,
        requires_publicity=data.requires_publicity,
        pledge_allowed=data.pledge_allowed,
    )
    row = ItemVersion(
        id=str(uuid.uuid4()),
        code=code,
        version=version,
        name=data.name,
        legal_basis=data.legal_basis,
        statutory_limit_days=data.statutory_limit_days,
        promised_limit_days=data.promised_limit_days,
        requires_onsite_check=data.requires_onsite_check,
        requires_publicity=data.requires_publicity,
        pledge_allowed=data.pledge_allowed,
        approval_mode=mode.value,
        materials=[m.model_dump(mode="json") for m in data.materials],
        service_guide=data.service_guide,
        department=data.department,
        contact_phone=data.contact_phone,
        effective_on=data.effective_on,
        published_at=utcnow(),
        published_by=admin.key,
    )
    ItemRepository(session).add(row)
    try:
        # A concurrent publication of the same version fails here, before any event is written.
        await session.flush()
    except IntegrityError as exc:
        if version == 1:
            raise Conflict(
                f"item {code} was added concurrently", code="item_exists", field="code"
            ) from exc
        raise Conflict(
            f"version {version} of item {code} was published concurrently; reload and retry",
            code="item_version_conflict",
        ) from exc
    # Catalogue events concern no enterprise; the item code is the subject (and Kafka key),
    # which keeps one item's versions in order.
    await outbox.emit(
        session,
        code,
        ItemVersionPublishedV1(
            code=code,
            version=version,
            name=data.name,
            approval_mode=mode.value,
            effective_on=data.effective_on,
        ),
    )
    return row
