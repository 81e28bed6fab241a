"""Request bodies that tests start from and change one field at a time."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from kernel.uscc import make_uscc
from kernel.workdays import shanghai_today


def policy_body(n: int = 1, **overrides: Any) -> dict[str, Any]:
    """A valid policy registration, in force today, for enterprise `make_uscc(n)`."""
    today = shanghai_today()
    body: dict[str, Any] = {
        "policy_number": f"AQ-2026-{n:04d}",
        "uscc": make_uscc(n),
        "enterprise_name": f"青岛第{n}化工有限公司",
        "sector": "hazardous_chemicals",
        "starts_on": (today - timedelta(days=10)).isoformat(),
        "ends_on": (today + timedelta(days=350)).isoformat(),
        "coverage_amount": "5000000.00",
        "premium": "18000.00",
    }
    body.update(overrides)
    return body
