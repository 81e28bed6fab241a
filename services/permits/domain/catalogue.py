"""Permit item catalogue (事项目录) rules: approval modes, time limits, versions. No I/O."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Final, Protocol, TypeVar

# Catalogue codes as the bureau numbers them, e.g. QD-AJ-001 (青岛 · 安监 · serial).
ITEM_CODE_PATTERN: Final = r"^QD-[A-Z]{2,6}-[0-9]{3,4}$"


class ApprovalMode(StrEnum):
    """How an application for an item is decided (measure 3, "秒批+承诺制")."""

    instant = "instant"  # 秒批: decided on submission, no officer review
    pledge = "pledge"  # 承诺制: granted on a signed pledge, verified afterwards
    standard = "standard"  # reviewed by an officer within the promised time limit


class ItemStatus(StrEnum):
    """A published version's standing on a given date.

    There is no draft: a version is published when it is created and is immutable after.
    `retired` means a later version has come into force and replaced it.
    """

    published = "published"
    retired = "retired"


class MaterialSource(StrEnum):
    """Where a required material comes from."""

    applicant = "applicant"  # the applicant uploads it
    shared = "shared"  # fetched from another department's data ("三零e办": nothing to upload)


class ItemRuleViolated(ValueError):
    """A catalogue entry that cannot be published as submitted; `field` and `code` say why."""

    def __init__(self, field: str, code: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.code = code


@dataclass(frozen=True)
class Material:
    name: str
    source: MaterialSource
    mandatory: bool


def derive_approval_mode(
    *, requires_onsite_check: bool, requires_publicity: bool, pledge_allowed: bool
) -> ApprovalMode:
    """Rule `approval_mode`: the fastest lawful way an item can be decided.

    The bureau grants "秒批" to every item that needs neither an on-site check nor a statutory
    publicity period. Otherwise an item whose implementation elements allow a pledge (承诺制,
    e.g. a gas station's licence renewal) may be granted on the pledge and checked afterwards.
    Everything else is reviewed in the ordinary way.
    """
    if not requires_onsite_check and not requires_publicity:
        return ApprovalMode.instant
    if pledge_allowed:
        return ApprovalMode.pledge
    return ApprovalMode.standard


def check_promised_within_statutory(statutory_limit_days: int, promised_limit_days: int) -> None:
    """Rule `promised_within_statutory`: the bureau's promise may compress the law's limit,
    never extend it (both in working days)."""
    if promised_limit_days > statutory_limit_days:
        raise ItemRuleViolated(
            "promised_limit_days",
            "promised_limit_exceeds_statutory",
            f"the promised time limit ({promised_limit_days} working days) may not exceed the "
            f"statutory one ({statutory_limit_days} working days)",
        )


def is_zero_materials(materials: Iterable[Material]) -> bool:
    """Rule `zero_materials` (三零e办 零材料): the applicant need not upload anything."""
    return not any(m.mandatory and m.source is MaterialSource.applicant for m in materials)


class Versioned(Protocol):
    @property
    def version(self) -> int: ...

    @property
    def effective_on(self) -> date: ...


V = TypeVar("V", bound=Versioned)


def version_in_force(versions: Iterable[V], on: date) -> V | None:
    """Rule `version_in_force`: the latest published version whose effective date has come."""
    candidates = [v for v in versions if v.effective_on <= on]
    if not candidates:
        return None
    return max(candidates, key=lambda v: (v.effective_on, v.version))


def version_status(version: Versioned, in_force: Versioned | None) -> ItemStatus:
    """A version is retired once a later one is in force; in force or scheduled, published."""
    if in_force is not None and version.version < in_force.version:
        return ItemStatus.retired
    return ItemStatus.published


def next_version_number(versions: Iterable[Versioned]) -> int:
    """Versions of one item are numbered 1, 2, 3, ... in publication order."""
    return max((v.version for v in versions), default=0) + 1


def check_new_version_effective_on(
    versions: Iterable[Versioned], effective_on: date, today: date
) -> None:
    """Rules for a new version's effective date.

    `effective_on_after_latest`: it must come after the latest published version's date,
    including one published for a future date, so that version numbers and effective dates
    rise together and no version can be slipped in between two others.
    `version_not_retroactive`: it may not lie in the past, because what was in force on a past
    day (the basis of applications already decided) must never change.
    """
    latest = max(versions, key=lambda v: v.version, default=None)
    if latest is not None and effective_on <= latest.effective_on:
        raise ItemRuleViolated(
            "effective_on",
            "effective_on_not_after_latest",
            f"effective_on must be after {latest.effective_on.isoformat()}, the effective date "
            f"of the latest published version ({latest.version})",
        )
    if effective_on < today:
        raise ItemRuleViolated(
            "effective_on",
            "effective_on_in_past",
            f"a new version cannot take effect in the past (today is {today.isoformat()})",
        )
