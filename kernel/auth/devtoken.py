"""`make token ROLE=<role> [SUB=<id>]`: print a development bearer token."""

from __future__ import annotations

import argparse
import sys

from kernel.auth.dev import DevIssuer
from kernel.auth.principal import USER_ROLES, Role
from kernel.settings import AuthSettings
from kernel.uscc import InvalidUSCC, validate_uscc

_DEFAULT_SUBJECTS = {
    Role.public: "anonymous",
    Role.enterprise: "91370200MA3C00000",  # completed with its check character below
    Role.officer: "officer-001",
    Role.leader: "leader-001",
    Role.insurer: "PICC-QD",
    Role.department: "QD-CBIRC",
    Role.admin: "admin-001",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--role", required=True, choices=[r.value for r in USER_ROLES])
    parser.add_argument("--sub", default="", help="USCC, insurer id, department code or user id")
    parser.add_argument("--ttl", type=int, default=8 * 3600, help="lifetime in seconds")
    args = parser.parse_args(argv)
    role = Role(args.role)
    subject = args.sub or _DEFAULT_SUBJECTS[role]
    if role is Role.enterprise:
        if not args.sub:
            from kernel.uscc import compute_check_character

            subject = subject + compute_check_character(subject)
        try:
            subject = validate_uscc(subject)
        except InvalidUSCC as exc:
            print(f"error: SUB must be the enterprise's USCC: {exc}", file=sys.stderr)
            return 2
    issuer = DevIssuer(AuthSettings())
    print(issuer.mint(role, subject, ttl_seconds=args.ttl))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
