"""Who is calling: role, subject and scopes taken from a verified token."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    public = "public"
    enterprise = "enterprise"
    officer = "officer"
    leader = "leader"
    insurer = "insurer"
    department = "department"
    admin = "admin"
    # Internal: one service calling another (replay reads). Never minted for people.
    service = "service"


USER_ROLES = tuple(r for r in Role if r is not Role.service)
# The bureau's own staff: whoever sees every enterprise's records.
BUREAU_ROLES: frozenset[Role] = frozenset({Role.officer, Role.leader, Role.admin})


@dataclass(frozen=True)
class Principal:
    """A verified caller. `subject` is the USCC, insurer id, department code or user id."""

    role: Role
    subject: str
    scopes: frozenset[str] = field(default_factory=frozenset)
    token: str | None = None

    @property
    def key(self) -> str:
        """Stable identity for audit and idempotency records."""
        return f"{self.role.value}:{self.subject}"

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


ANONYMOUS = Principal(role=Role.public, subject="anonymous")
