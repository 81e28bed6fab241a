"""GET /inspections as a shared data set, on SQLite and PostgreSQL: the gateway's data:share
service token reads what the bureau sees, read only; other service tokens are refused."""

from __future__ import annotations

import pytest

from kernel.auth.principal import Role
from kernel.auth.service_token import DATA_SHARE_SCOPE, REPLAY_SCOPE
from tests.inspection.api.test_cases import USCC_A, USCC_B, Api, api, start_body

__all__ = ["api"]  # the fixture, shared with the case tests


def service(api: Api, *scopes: str) -> dict[str, str]:
    token = api.issuer.mint(Role.service, "svc:gateway", scopes=scopes, ttl_seconds=300)
    return {"Authorization": f"Bearer {token}"}


class TestSharedListing:
    async def test_the_data_share_token_sees_what_the_bureau_sees(self, api: Api) -> None:
        await api.enterprise_entry(USCC_A)
        await api.enterprise_entry(USCC_B)
        a = await api.start(USCC_A)
        b = await api.start(USCC_B)
        shared = service(api, DATA_SHARE_SCOPE)
        everything = await api.ok("GET", "/inspections", shared)
        assert {c["id"] for c in everything["items"]} == {a["id"], b["id"]}
        assert everything == await api.ok("GET", "/inspections", api.officer)
        one = await api.ok("GET", f"/inspections?uscc={USCC_B}", shared)
        assert [c["id"] for c in one["items"]] == [b["id"]]
        assert (await api.ok("GET", "/inspections?state=closed", shared))["items"] == []
        page = await api.ok("GET", "/inspections?limit=1", shared)
        rest = await api.ok("GET", f"/inspections?limit=1&cursor={page['next_cursor']}", shared)
        assert {c["id"] for c in page["items"] + rest["items"]} == {a["id"], b["id"]}

    async def test_it_reads_only(self, api: Api) -> None:
        await api.enterprise_entry(USCC_A)
        shared = service(api, DATA_SHARE_SCOPE)
        r = await api.client.post("/inspections", json=start_body(), headers=shared)
        assert r.status_code == 403
        case = await api.start(USCC_A)
        # One case at a time stays the bureau's and the enterprise's.
        await api.refused("GET", f"/inspections/{case['id']}", shared, 404, "inspection_not_found")

    async def test_another_service_scope_is_refused(self, api: Api) -> None:
        await api.refused("GET", "/inspections", service(api, REPLAY_SCOPE), 403, "scope_required")

    @pytest.mark.parametrize(
        ("role", "subject"),
        [("insurer", "PICC-QD"), ("department", "QD-CBIRC"), ("public", "anyone")],
    )
    async def test_other_roles_still_list_nothing(self, api: Api, role: str, subject: str) -> None:
        await api.enterprise_entry(USCC_A)
        await api.start(USCC_A)
        assert (await api.ok("GET", "/inspections", api.as_(role, subject)))["items"] == []
