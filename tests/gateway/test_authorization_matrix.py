"""Every route the gateway serves itself × every role: who is let in, who is refused.

The table below is the gateway's access policy, route by route. A route added without a row
fails `test_every_route_has_a_rule`; a guard that drifts from its row fails the matrix. Being
let in means no role refusal (401, or 403 `forbidden`): the route may still answer 404, 422 or
an object-level 403 (another enterprise's profile, a department without a grant), which its
own tests cover. Proxied paths (`/api/<service>/...`) are the services' to authorise; the
gateway only verifies the credentials, so every role passes it there.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from gateway.main import create_app
from kernel.auth.dev import DevIssuer
from kernel.auth.principal import USER_ROLES, Role
from kernel.settings import AuthSettings
from tests.gateway.conftest import GatewayFactory
from tests.gateway.support import gateway_settings

ANONYMOUS = "anonymous"
CALLERS = (ANONYMOUS, *(r.value for r in USER_ROLES))
EVERYONE = frozenset(CALLERS)
BUREAU = frozenset({"officer", "leader", "admin"})

USCC = "91370200MA3C0Y4K2X"
SUBJECTS = {
    "enterprise": USCC,
    "insurer": "PICC-QD",
    "department": "QD-CBIRC",
}
# Well-formed identifiers for path parameters (nothing behind them: 404 is an admission).
PATH_VALUES = {
    "client_id": "qdc_" + "a" * 24,
    "key_id": "b" * 24,
    "grant_id": "00000000-0000-4000-8000-000000000000",
    "dataset": "licences",
    "uscc": USCC,
    "service": "permits",
    "path": "items",
    "code": USCC,
    "period": "2026-12",
    "insurer_id": "PICC-QD",
    "rest": "no-such-page",
}

# (method, route path) -> the callers the gateway lets in.
RULES: dict[tuple[str, str], frozenset[str]] = {
    ("GET", "/health"): EVERYONE,
    ("GET", "/ready"): EVERYONE,
    # Prometheus scrapes it, like every service's; deployments keep it off the public ingress.
    ("GET", "/metrics"): EVERYONE,
    ("GET", "/docs"): EVERYONE,
    ("GET", "/docs/oauth2-redirect"): EVERYONE,
    ("GET", "/redoc"): EVERYONE,
    ("GET", "/openapi.json"): EVERYONE,
    ("GET", "/.well-known/jwks.json"): EVERYONE,
    # Client authentication happens inside (client id and secret), for any caller.
    ("POST", "/oauth/token"): EVERYONE,
    ("POST", "/api/gateway/clients"): frozenset({"admin"}),
    ("GET", "/api/gateway/clients"): frozenset({"admin"}),
    # A machine client may read its own registration (404 for anyone else's).
    ("GET", "/api/gateway/clients/{client_id}"): frozenset({"admin", "insurer", "department"}),
    ("POST", "/api/gateway/clients/{client_id}/revoke"): frozenset({"admin"}),
    ("POST", "/api/gateway/clients/{client_id}/secret"): frozenset({"admin"}),
    ("POST", "/api/gateway/api-keys"): frozenset({"admin"}),
    # An insurer lists, reads and revokes its own keys (a lost key is revoked at once).
    ("GET", "/api/gateway/api-keys"): frozenset({"admin", "insurer"}),
    ("GET", "/api/gateway/api-keys/{key_id}"): frozenset({"admin", "insurer"}),
    ("POST", "/api/gateway/api-keys/{key_id}/revoke"): frozenset({"admin", "insurer"}),
    ("GET", "/api/enterprises/{uscc}/profile"): BUREAU | {"enterprise"},
    ("GET", "/api/data"): BUREAU | {"department"},
    ("GET", "/api/data/{dataset}"): frozenset({"department"}),
    ("POST", "/api/gateway/grants"): frozenset({"admin"}),
    ("GET", "/api/gateway/grants"): BUREAU | {"department"},
    ("GET", "/api/gateway/grants/{grant_id}"): BUREAU | {"department"},
    ("POST", "/api/gateway/grants/{grant_id}/revoke"): frozenset({"admin"}),
    ("GET", "/api/gateway/data-reads"): BUREAU | {"department", "enterprise"},
    # Who registered, changed or revoked clients, keys and grants (kernel.audit_api).
    ("GET", "/api/gateway/audit"): frozenset({"leader", "admin"}),
    ("GET", "/api/gateway/audit/verify"): frozenset({"leader", "admin"}),
    # The public portal (gateway/portal): pages anyone reads, built on the services' public
    # APIs without the caller's token; "/" and "/portal" redirect to "/portal/".
    **{
        ("GET", path): EVERYONE
        for path in (
            "/",
            "/portal",
            "/portal/",
            "/portal/approvers",
            "/portal/credit/black",
            "/portal/credit/penalties",
            "/portal/credit/red",
            "/portal/credit/search",
            "/portal/credit/{code}",
            "/portal/guidance",
            "/portal/inspections",
            "/portal/inspections/{period}",
            "/portal/inspections/{period}/check",
            "/portal/insurers",
            "/portal/insurers/{insurer_id}",
            "/portal/licences/verify",
            "/portal/measures",
            "/portal/permits/items",
            "/portal/permits/items/{code}",
            "/portal/static/{path:path}",
            # Unknown portal paths: the zh-CN "not found" page, not the API's problem+json.
            "/portal/{rest:path}",
        )
    },
    # The proxy: credentials verified here, authorisation by the service behind.
    **{(m, "/api/{service}/{path:path}"): EVERYONE for m in ("GET", "POST", "PUT", "DELETE")},
}


def served_routes() -> set[tuple[str, str]]:
    """Every (method, path) the gateway app answers itself (HEAD aside)."""
    app = create_app(
        gateway_settings(
            {},
            auth=AuthSettings(jwks_path=None, jwks_url=None),
            database_url="sqlite+aiosqlite:///:memory:",
        )
    )
    found: set[tuple[str, str]] = set()
    for path, operations in app.openapi()["paths"].items():
        found |= {(method.upper(), path) for method in operations}
    for context in iter_route_contexts(app.routes):
        if isinstance(context.original_route, APIRoute) and not context.include_in_schema:
            # Hidden from the document (/metrics) but served all the same.
            found |= {(m, str(context.path)) for m in (context.methods or set()) - {"HEAD"}}
    for route in app.routes:
        if isinstance(route, Mount) and isinstance(route.app, StaticFiles):
            found.add(("GET", route.path + "/{path:path}"))
        if isinstance(route, Route) and not isinstance(route, APIRoute):
            methods = (route.methods or set()) - {"HEAD"}
            if route.path == "/api/{service}/{path:path}":
                methods &= {"GET", "POST", "PUT", "DELETE"}
            found |= {(m, route.path) for m in methods}
    return found


def test_every_route_has_a_rule() -> None:
    served = served_routes()
    assert served - set(RULES) == set(), "routes without an access rule"
    assert set(RULES) - served == set(), "rules for routes the gateway no longer serves"


def credentials(issuer: DevIssuer, caller: str) -> dict[str, str]:
    if caller == ANONYMOUS:
        return {}
    token = issuer.mint(Role(caller), SUBJECTS.get(caller, f"{caller}-001"))
    return {"Authorization": f"Bearer {token}"}


def concrete(path: str) -> str:
    for name, value in PATH_VALUES.items():
        path = path.replace(f"{{{name}:path}}", value).replace(f"{{{name}}}", value)
    return path


def refused(response: httpx.Response) -> bool:
    """A role refusal: 401, or 403 with the role guard's code (not an object-level 403)."""
    if response.status_code == 401:
        return True
    if response.status_code == 403:
        body: dict[str, Any] = response.json()
        return body.get("code") in ("forbidden", "scope_required")
    return False


@pytest.mark.parametrize(("method", "path"), sorted(RULES))
async def test_each_role_is_let_in_or_refused_as_the_table_says(
    make_gateway: GatewayFactory, issuer: DevIssuer, method: str, path: str
) -> None:
    admitted = RULES[(method, path)]
    outcomes: dict[str, int] = {}
    wrong: list[str] = []
    async with make_gateway() as client:
        for caller in CALLERS:
            kwargs: dict[str, Any] = {"headers": credentials(issuer, caller)}
            if method == "POST":
                kwargs["json"] = {}
            response = await client.request(method, concrete(path), **kwargs)
            outcomes[caller] = response.status_code
            # The stand-ins do not speak the services' APIs: a portal page then says its data
            # is unavailable (503) or not a valid document (502), which is no refusal either.
            unavailable = path.startswith("/portal") and response.status_code in (502, 503)
            assert response.status_code < 500 or unavailable, (caller, response.text)
            if refused(response) == (caller in admitted):
                wrong.append(caller)
            if caller not in admitted:
                # Anonymous callers are asked to sign in; signed-in ones are told no.
                expected = 401 if caller in (ANONYMOUS, "public") else 403
                assert response.status_code == expected, (caller, response.text)
    assert wrong == [], f"{method} {path}: {outcomes}"
