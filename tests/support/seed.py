"""Rows tests put straight into a service's tables, as an admin endpoint would have."""

from __future__ import annotations

import zlib

from kernel.app import ServiceRuntime
from kernel.db import utcnow
from kernel.uscc import make_uscc
from services.insurance.models import Insurer


async def seed_insurer(runtime: ServiceRuntime, insurer_id: str, name: str | None = None) -> None:
    """Register an insurer in the insurance service's table (POST /insurers by an admin)."""
    async with runtime.session_factory() as session, session.begin():
        # A stable, well-spread seed: distinct ids (anagrams too) get distinct USCCs.
        n = 800_000_000 + zlib.crc32(insurer_id.encode()) % 100_000_000
        session.add(
            Insurer(
                id=insurer_id,
                name=name or f"{insurer_id} 财产保险股份有限公司青岛市分公司",
                uscc=make_uscc(n),
                contact_name="张经理",
                contact_phone="0532-80000000",
                status="active",
                registered_at=utcnow(),
                registered_by="admin:seed",
                updated_at=utcnow(),
            )
        )
