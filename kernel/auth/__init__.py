"""Identity: token verification, the Principal, guards, and development tokens."""

from kernel.auth.dependencies import (
    CurrentPrincipal,
    OptionalPrincipal,
    require_roles,
    require_scope,
)
from kernel.auth.principal import ANONYMOUS, BUREAU_ROLES, USER_ROLES, Principal, Role
from kernel.auth.verifier import InvalidToken, TokenVerifier

__all__ = [
    "ANONYMOUS",
    "BUREAU_ROLES",
    "USER_ROLES",
    "CurrentPrincipal",
    "InvalidToken",
    "OptionalPrincipal",
    "Principal",
    "Role",
    "TokenVerifier",
    "require_roles",
    "require_scope",
]
