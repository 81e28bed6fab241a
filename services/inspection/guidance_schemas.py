"""Public guidance list schemas."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from kernel.vocab import Sector


class ViolationItemRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    category: str
    title: str
    is_management: bool = Field(description="制度管理类: the lenient first-offence rule applies")
    legal_basis: str
    penalty_basis: str
    sectors: list[Sector] = Field(description="Empty: applies to every sector")


class ViolationCategoryRead(BaseModel):
    category: str
    items: int
    management_items: int


class HazardousWorkRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str
    definition: str
    permit: str
    key_controls: list[str]
    legal_basis: str


WorkerKind = Literal["dispatched", "flexible", "intern"]


class WorkerGuideRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    title: str
    worker_kinds: list[WorkerKind]
    duty: str
    measures: list[str]
    legal_basis: str


class KeyItemRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    year: int
    sector: Sector | None = Field(description="Null: every sector")
    title: str
    content: str
    legal_basis: str
    violation_codes: list[str]
