"""Every route of every app has an explicit access rule (OWASP API5, broken function-level
authorisation), and the rule is what the route really does.

One table per service maps (method, path template) to its rule. Three checks hold the tables
to the code:
- coverage: every route an app serves (its own, the kernel's /health, /ready, /metrics,
  /events, and FastAPI's /openapi.json and /docs) has a row, and every row a route;
- declaration: the guard the route's dependency tree declares (kernel.auth `require_roles`
  and `require_scope` say whom they admit; `current_principal`; none) is the one the table
  names;
- behaviour: each route is called over ASGI by every kind of caller (no token, each role, a
  service token with each scope): whoever the rule admits is never refused (no 401, no 403
  `forbidden`/`scope_required`; 404 and 422 are admissions), everyone else gets 401 without a
  token and 403 with one, as problem+json, and a refused write changes no table.

The gateway's own table is tests/gateway/test_authorization_matrix.py (its behaviour is checked
there); here it is held against the gateway's declared guards and routes as well, so that no
app of the platform can gain a route without a rule.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from gateway.context import require as gateway_require
from gateway.main import create_app as create_gateway
from kernel.auth.dependencies import current_principal, optional_principal
from kernel.auth.dev import DevIssuer
from kernel.auth.principal import BUREAU_ROLES, USER_ROLES, Role
from kernel.auth.service_token import DATA_SHARE_SCOPE, REPLAY_SCOPE
from kernel.errors import PROBLEM_JSON
from kernel.settings import AuthSettings
from kernel.uscc import make_uscc
from tests.gateway import test_authorization_matrix as gateway_matrix
from tests.gateway.support import gateway_settings
from tests.security.conftest import Service
from tests.support.seed import seed_insurer

# --- Rules ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """Who may call a route.

    kind: `public` (no token needed), `signed_in` (any valid token; object-level rules, if
    any, are inside and tested in test_object_level.py), `roles` (a `require_roles` guard,
    with `scope` as its shared scope for service tokens), `scope` (a `require_scope` guard:
    service tokens holding `scope` only), `handler` (the dependency tree only authenticates;
    the endpoint refuses every role outside `roles` with 403 before it reads anything).
    """

    kind: str
    roles: frozenset[Role] = frozenset()
    scope: str | None = None

    def declared(self) -> Rule:
        """The rule the route's dependencies alone declare."""
        return SIGNED_IN if self.kind == "handler" else self

    def admits(self, caller: Caller) -> bool:
        if self.kind == "public":
            return True
        if caller.role is None:
            return False
        if self.kind == "signed_in":
            return True
        if self.kind == "scope":
            return caller.role is Role.service and self.scope in caller.scopes
        if caller.role in self.roles:
            return True
        return (
            self.kind == "roles"
            and self.scope is not None
            and caller.role is Role.service
            and self.scope in caller.scopes
        )

    def __str__(self) -> str:
        names = ",".join(sorted(r.value for r in self.roles))
        return f"{self.kind}({names}{'; ' + self.scope if self.scope else ''})"


PUBLIC = Rule("public")
SIGNED_IN = Rule("signed_in")
BUREAU = tuple(sorted(BUREAU_ROLES))


def roles(*admitted: Role, shared_scope: str | None = None) -> Rule:
    return Rule("roles", frozenset(admitted), shared_scope)


def in_handler(*admitted: Role) -> Rule:
    return Rule("handler", frozenset(admitted))


def scope(required: str) -> Rule:
    return Rule("scope", scope=required)


ENT, OFF, LEAD, ADM = Role.enterprise, Role.officer, Role.leader, Role.admin
INS, DEPT = Role.insurer, Role.department

# What every service serves the same way (kernel.app and FastAPI).
COMMON: dict[tuple[str, str], Rule] = {
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("GET", "/docs/oauth2-redirect"): PUBLIC,
    ("GET", "/redoc"): PUBLIC,
    ("GET", "/health"): PUBLIC,
    ("GET", "/ready"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    # Replay reads the outbox: other services only, never a person or the gateway's proxy.
    ("GET", "/events"): scope(REPLAY_SCOPE),
    # Who changed what (kernel.audit_api): the bureau's oversight, not its day-to-day staff.
    ("GET", "/audit"): roles(Role.leader, Role.admin),
    ("GET", "/audit/verify"): roles(Role.leader, Role.admin),
}

PERMITS: dict[tuple[str, str], Rule] = {
    **COMMON,
    ("POST", "/items"): roles(ADM),
    ("POST", "/items/{code}/versions"): roles(ADM),
    ("GET", "/items"): PUBLIC,
    ("GET", "/items/{code}"): PUBLIC,
    ("GET", "/items/{code}/versions"): PUBLIC,
    ("GET", "/items/{code}/versions/{version}"): PUBLIC,
    ("GET", "/items/{code}/pledge"): PUBLIC,
    ("POST", "/applications"): roles(ENT),
    # The bureau, or the applicant (403 application_not_yours for anyone else).
    ("GET", "/applications/{application_id}"): SIGNED_IN,
    ("GET", "/applications"): in_handler(*BUREAU, ENT),
    # Which reviewer may take which step (only a leader confirms a "no") is the domain's
    # review_transition; test_function_level.py holds it.
    ("POST", "/applications/{application_id}/decisions"): roles(OFF, LEAD),
    ("GET", "/licences/verify"): PUBLIC,
    ("GET", "/licences"): roles(OFF, LEAD, ADM, ENT, shared_scope=DATA_SHARE_SCOPE),
    ("GET", "/licences/{number}"): PUBLIC,
    ("GET", "/licences/{number}/qr.png"): PUBLIC,
    ("GET", "/licences/{number}/qr.svg"): PUBLIC,
    ("POST", "/licences/{number}/status"): roles(LEAD, ADM),
    ("GET", "/status-lists/{purpose}"): PUBLIC,
    ("GET", "/.well-known/jwks.json"): PUBLIC,
    ("GET", "/figures"): PUBLIC,
    ("POST", "/projects"): roles(*BUREAU),
    ("GET", "/projects"): in_handler(*BUREAU, ENT),
    ("GET", "/projects/{project_id}"): SIGNED_IN,
    ("POST", "/projects/{project_id}/officers"): roles(LEAD, ADM),
    ("DELETE", "/projects/{project_id}/officers/{officer_id}"): roles(LEAD, ADM),
    ("POST", "/projects/{project_id}/guidance"): roles(OFF),
    ("POST", "/projects/{project_id}/stage"): roles(OFF, LEAD),
}

CREDIT: dict[tuple[str, str], Rule] = {
    **COMMON,
    # Aggregates for the portal's ten-measures board: counts only, public.
    ("GET", "/public/stats"): PUBLIC,
    # What publicity showed of an enterprise's records, ended ones included (portal history).
    ("GET", "/public/enterprises/{uscc}/history"): PUBLIC,
    ("POST", "/penalties"): roles(*BUREAU),
    # Publicity: anyone reads what is published; the bureau and the enterprise itself more.
    ("GET", "/penalties/{penalty_id}"): PUBLIC,
    ("GET", "/penalties"): PUBLIC,
    ("GET", "/records"): PUBLIC,
    ("GET", "/records/{record_id}"): PUBLIC,
    ("GET", "/records/{record_id}/notice"): PUBLIC,
    ("GET", "/records/{record_id}/guide"): PUBLIC,
    ("POST", "/incentives"): roles(*BUREAU),
    ("POST", "/records/{record_id}/reversal"): roles(LEAD),
    # The export holds listing facts the public lists do not: the bureau, and a department
    # only through the gateway under a grant (the gateway's service token, data:share).
    ("GET", "/exports"): roles(*BUREAU, shared_scope=DATA_SHARE_SCOPE),
    ("GET", "/exports/{on}.json"): roles(*BUREAU, shared_scope=DATA_SHARE_SCOPE),
    ("GET", "/exports/{on}.csv"): roles(*BUREAU, shared_scope=DATA_SHARE_SCOPE),
    ("GET", "/blacklist/cases"): roles(*BUREAU),
    ("GET", "/blacklist/cases/mine"): roles(ENT),
    ("POST", "/blacklist"): roles(*BUREAU),
    ("POST", "/blacklist/{case_id}/notice"): roles(*BUREAU),
    ("POST", "/blacklist/{case_id}/objection"): roles(ENT),
    ("POST", "/blacklist/{case_id}/decision"): roles(LEAD),
    ("GET", "/blacklist"): PUBLIC,
    ("GET", "/blacklist/{case_id}"): PUBLIC,
    ("GET", "/redlist/nominations"): roles(*BUREAU),
    ("GET", "/redlist/check/{uscc}"): roles(*BUREAU),
    ("POST", "/redlist"): roles(*BUREAU),
    ("POST", "/redlist/{entry_id}/decision"): roles(LEAD),
    ("GET", "/redlist"): PUBLIC,
    ("GET", "/redlist/{entry_id}"): PUBLIC,
    ("GET", "/joint-incentives"): PUBLIC,
    ("POST", "/repairs"): roles(ENT),
    ("GET", "/repairs"): roles(ENT, *BUREAU),
    ("GET", "/repairs/{repair_id}"): roles(ENT, *BUREAU),
    ("POST", "/repairs/{repair_id}/decision"): roles(*BUREAU),
    ("POST", "/repairs/{repair_id}/revocation"): roles(LEAD),
    ("GET", "/website-deliveries"): roles(*BUREAU),
    ("GET", "/website-deliveries/{delivery_id}"): roles(*BUREAU),
    ("POST", "/website-deliveries/{delivery_id}/retry"): roles(*BUREAU),
    ("GET", "/standing/{uscc}"): PUBLIC,
    ("GET", "/changes"): PUBLIC,
}

INSPECTION: dict[tuple[str, str], Rule] = {
    **COMMON,
    # Aggregates for the portal's ten-measures board: counts only, public.
    ("GET", "/public/stats"): PUBLIC,
    ("POST", "/enterprises"): roles(*BUREAU),
    # The bureau or the enterprise itself (403 enterprise_not_yours, before any lookup).
    ("GET", "/enterprises/{uscc}"): in_handler(*BUREAU, ENT),
    ("GET", "/enterprises"): roles(*BUREAU),
    ("PUT", "/enterprises/{uscc}/registration"): roles(*BUREAU),
    ("POST", "/plans"): roles(*BUREAU),
    ("GET", "/plans"): roles(*BUREAU),
    ("GET", "/plans/{plan_id}"): roles(*BUREAU),
    ("POST", "/plans/{plan_id}/approval"): roles(LEAD),
    ("GET", "/plans/{plan_id}/entries"): roles(*BUREAU),
    # An enterprise reads its own entry of an approved plan (404 for anything else).
    ("GET", "/plans/{plan_id}/entries/{uscc}"): roles(*BUREAU, ENT),
    ("POST", "/joint-inspections"): roles(*BUREAU),
    ("GET", "/joint-inspections"): roles(*BUREAU),
    ("POST", "/inspectors"): roles(*BUREAU),
    ("GET", "/inspectors"): roles(*BUREAU),
    ("GET", "/inspectors/{inspector_id}"): roles(*BUREAU),
    ("PATCH", "/inspectors/{inspector_id}"): roles(*BUREAU),
    ("POST", "/draws/{year}/{month}"): roles(OFF, LEAD),
    ("GET", "/draws/{year}/{month}"): PUBLIC,
    ("POST", "/draws/{year}/{month}/reveal"): roles(LEAD),
    # Anyone may recompute a revealed draw from its published inputs: it writes nothing.
    ("POST", "/draws/{year}/{month}/recompute"): PUBLIC,
    ("POST", "/draws/{year}/{month}/guidance-requests"): roles(ENT),
    ("GET", "/draws/{year}/{month}/guidance-requests"): roles(ENT, *BUREAU),
    ("POST", "/draws/{year}/{month}/guidance-requests/{request_id}/assignment"): roles(OFF, LEAD),
    ("POST", "/draws/{year}/{month}/guidance-requests/{request_id}/answer"): roles(OFF, LEAD),
    ("POST", "/inspections"): roles(*BUREAU),
    # Every signed-in caller sees what its role allows (an enterprise its own cases).
    ("GET", "/inspections"): roles(*USER_ROLES, shared_scope=DATA_SHARE_SCOPE),
    ("GET", "/inspections/{case_id}"): SIGNED_IN,
    ("POST", "/inspections/{case_id}/findings"): roles(*BUREAU),
    ("POST", "/inspections/{case_id}/hazards"): roles(*BUREAU),
    ("POST", "/inspections/{case_id}/deliberation"): roles(*BUREAU),
    ("POST", "/inspections/{case_id}/decisions/{n}/approval"): roles(LEAD),
    ("POST", "/inspections/{case_id}/feedback"): roles(*BUREAU),
    ("GET", "/follow-ups"): roles(*BUREAU),
    ("GET", "/pledge-visits"): roles(*BUREAU),
    ("GET", "/pledge-visits/{visit_id}"): roles(*BUREAU),
    ("POST", "/pledge-visits/{visit_id}/result"): roles(*BUREAU),
    # The bureau all, an enterprise its own (another's hazard is 404).
    ("GET", "/hazards"): SIGNED_IN,
    ("GET", "/hazards/{hazard_id}"): SIGNED_IN,
    ("POST", "/hazards/{hazard_id}/rectification-report"): roles(ENT),
    ("POST", "/hazards/{hazard_id}/verification"): roles(*BUREAU),
    ("GET", "/guidance/violations"): PUBLIC,
    ("GET", "/guidance/violations/categories"): PUBLIC,
    ("GET", "/guidance/violations/{code}"): PUBLIC,
    ("GET", "/guidance/hazardous-work"): PUBLIC,
    ("GET", "/guidance/hazardous-work/{code}"): PUBLIC,
    ("GET", "/guidance/flexible-workers"): PUBLIC,
    ("GET", "/guidance/key-items"): PUBLIC,
    ("POST", "/outreach/groups"): roles(*BUREAU),
    ("GET", "/outreach/groups"): PUBLIC,
    ("GET", "/outreach/groups/{group_id}"): roles(*BUREAU),
    ("POST", "/outreach/groups/{group_id}/members"): roles(*BUREAU),
    ("POST", "/outreach/themes"): roles(*BUREAU),
    ("GET", "/outreach/themes"): PUBLIC,
    ("POST", "/outreach/sessions"): roles(*BUREAU),
    ("GET", "/outreach/sessions"): PUBLIC,
    ("GET", "/outreach/sessions/attended"): roles(ENT),
    ("GET", "/outreach/sessions/{session_id}"): PUBLIC,
    ("PUT", "/outreach/sessions/{session_id}/attendance"): roles(*BUREAU),
    ("GET", "/outreach/sessions/{session_id}/attendance"): roles(*BUREAU),
    ("GET", "/outreach/figures"): PUBLIC,
}

INSURANCE: dict[tuple[str, str], Rule] = {
    **COMMON,
    # Aggregates for the portal's ten-measures board: counts only, public.
    ("GET", "/public/stats"): PUBLIC,
    ("POST", "/policies"): roles(INS),
    ("POST", "/policies/{policy_id}/cancellation"): roles(ADM, INS),
    # The bureau, the policy's insurer and its enterprise (403 policy_not_yours otherwise).
    ("GET", "/policies/{policy_id}"): SIGNED_IN,
    ("GET", "/policies"): in_handler(*BUREAU, INS, ENT),
    ("POST", "/insurers"): roles(ADM),
    # Contacts for the bureau only; everyone signed in sees id, name and status.
    ("GET", "/insurers"): SIGNED_IN,
    ("GET", "/insurers/{insurer_id}"): SIGNED_IN,
    ("POST", "/insurers/{insurer_id}/suspension"): roles(ADM),
    ("POST", "/insurers/{insurer_id}/reinstatement"): roles(ADM),
    ("GET", "/policies/{policy_id}/obligations"): SIGNED_IN,
    ("GET", "/obligations"): in_handler(*BUREAU, INS, ENT),
    ("GET", "/obligations/{obligation_id}"): SIGNED_IN,
    ("POST", "/obligations/{obligation_id}/verification"): roles(OFF, LEAD),
    ("POST", "/insurer/service-records"): roles(INS),
    ("POST", "/insurer/risk-assessments"): roles(INS),
    ("POST", "/insurer/hazard-assistance"): roles(INS),
    ("GET", "/service-records/{record_id}"): SIGNED_IN,
    ("GET", "/risk-assessments/{assessment_id}"): SIGNED_IN,
    ("GET", "/risk-assessments"): in_handler(*BUREAU, INS, ENT),
    ("GET", "/hazard-assistance/{report_id}"): SIGNED_IN,
    ("GET", "/scorecards"): PUBLIC,
    ("GET", "/scorecards/{insurer_id}"): PUBLIC,
    ("GET", "/supervision/overdue"): roles(*BUREAU),
    ("GET", "/supervision/summary"): roles(*BUREAU),
    # An insurer only for an enterprise it insured (403 enterprise_not_insured_by_you).
    ("GET", "/enterprises/{uscc}/service-history"): in_handler(*BUREAU, ENT, INS),
    # A department reads it through the gateway's coverage-gaps data set, under a grant.
    ("GET", "/coverage-gaps"): roles(*BUREAU, shared_scope=DATA_SHARE_SCOPE),
    ("POST", "/whistles"): roles(ENT),
    ("GET", "/whistles"): in_handler(*BUREAU, INS, ENT),
    ("GET", "/whistles/{whistle_id}"): SIGNED_IN,
    ("POST", "/whistles/{whistle_id}/acknowledgement"): roles(INS),
    ("POST", "/whistles/{whistle_id}/delivery"): roles(INS),
    ("POST", "/whistles/{whistle_id}/closure"): roles(ENT),
    ("POST", "/campaigns"): roles(*BUREAU),
    ("GET", "/campaigns"): SIGNED_IN,
    ("GET", "/campaigns/{campaign_id}"): SIGNED_IN,
    ("POST", "/campaigns/{campaign_id}/visits"): in_handler(*BUREAU, INS),
    ("GET", "/campaigns/{campaign_id}/visits"): in_handler(*BUREAU, INS),
    ("GET", "/enterprises/{uscc}/expert-visits"): in_handler(*BUREAU, ENT),
}

TABLES: dict[str, dict[tuple[str, str], Rule]] = {
    "permits": PERMITS,
    "credit": CREDIT,
    "inspection": INSPECTION,
    "insurance": INSURANCE,
}

# --- Routes and their declared guards -------------------------------------------------------


def served(app: FastAPI) -> dict[tuple[str, str], Dependant | None]:
    """Every (method, path) the app answers (HEAD aside), with its effective dependency tree
    (router-level dependencies included); None for plain Starlette routes (docs, OpenAPI)."""
    found: dict[tuple[str, str], Dependant | None] = {}
    for route in iter_route_contexts(app.routes):
        path = route.path
        assert path is not None, route
        if isinstance(route.original_route, APIRoute):
            for method in route.methods or ():
                found[(method, path)] = route.dependant
        elif isinstance(route.original_route, Route):
            for method in (route.methods or set()) - {"HEAD"}:
                found[(method, path)] = None
        elif isinstance(route.original_route, Mount) and isinstance(
            route.original_route.app, StaticFiles
        ):
            # Files anyone may fetch (the portal's stylesheet and script).
            found[("GET", path + "/{path:path}")] = None
        else:
            pytest.fail(f"{path}: a route of a kind this test cannot read ({route!r})")
    return found


def _calls(dependant: Dependant) -> Iterator[Any]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from _calls(sub)


def declared_rule(dependant: Dependant | None) -> Rule:
    """The rule the dependency tree declares: the intersection of its role guards, its scope
    guard, plain authentication, or nothing."""
    if dependant is None:
        return PUBLIC
    calls = list(_calls(dependant))
    scoped = {c.scope for c in calls if isinstance(getattr(c, "scope", None), str)}
    guards = [c for c in calls if isinstance(getattr(c, "roles", None), frozenset)]
    if scoped:
        assert not guards, f"a scope guard and role guards together: {calls}"
        assert len(scoped) == 1, f"two scope guards: {calls}"
        return scope(scoped.pop())
    if guards:
        admitted = frozenset.intersection(*(g.roles for g in guards))
        shared = {g.shared_scope for g in guards}
        return Rule("roles", admitted, shared.pop() if len(shared) == 1 else None)
    if current_principal in calls:
        return SIGNED_IN
    assert optional_principal in calls or not any(
        getattr(c, "__module__", "").startswith("kernel.auth") for c in calls
    ), calls
    return PUBLIC


@pytest.mark.parametrize("name", sorted(TABLES))
def test_every_route_has_a_rule_and_every_rule_a_route(
    services: dict[str, Service], name: str
) -> None:
    routes = set(served(services[name].app))
    table = set(TABLES[name])
    assert sorted(routes - table) == [], f"{name}: routes without an access rule"
    assert sorted(table - routes) == [], f"{name}: rules for routes {name} no longer serves"


@pytest.mark.parametrize("name", sorted(TABLES))
def test_each_route_declares_the_guard_its_rule_names(
    services: dict[str, Service], name: str
) -> None:
    wrong = {
        f"{method} {path}": f"table {TABLES[name][(method, path)].declared()}, code {declared}"
        for (method, path), dependant in sorted(served(services[name].app).items())
        if (method, path) in TABLES[name]
        and (declared := declared_rule(dependant)) != TABLES[name][(method, path)].declared()
    }
    assert wrong == {}


def _gateway_guard(dependant: Dependant | None) -> frozenset[str] | None:
    """The roles a gateway route's `require` guard admits (None: no guard)."""
    if dependant is None:
        return None
    guards = [
        c
        for c in _calls(dependant)
        if getattr(c, "__qualname__", "") == f"{gateway_require.__qualname__}.<locals>.guard"
    ]
    if not guards:
        return None
    sets = [frozenset(inspect.getclosurevars(g).nonlocals["allowed"]) for g in guards]
    return frozenset(r.value for r in frozenset.intersection(*sets))


def test_the_gateway_table_covers_every_gateway_route_and_matches_its_guards() -> None:
    app = create_gateway(
        gateway_settings(
            {},
            auth=AuthSettings(jwks_path=None, jwks_url=None),
            database_url="sqlite+aiosqlite:///:memory:",
        )
    )
    routes = served(app)
    # The proxy answers every method; the table lists the ones it forwards.
    proxy = "/api/{service}/{path:path}"
    routes = {
        k: v for k, v in routes.items() if k[1] != proxy or k[0] in ("GET", "POST", "PUT", "DELETE")
    }
    table = gateway_matrix.RULES
    assert sorted(set(routes) - set(table)) == [], "gateway routes without an access rule"
    assert sorted(set(table) - set(routes)) == [], "gateway rules without a route"
    wrong = {}
    for key, dependant in sorted(routes.items()):
        guarded = _gateway_guard(dependant)
        expected = table[key]
        if guarded is None and expected != gateway_matrix.EVERYONE:
            wrong[key] = f"no guard, table admits only {sorted(expected)}"
        elif guarded is not None and guarded != expected:
            wrong[key] = f"guard admits {sorted(guarded)}, table {sorted(expected)}"
    assert wrong == {}


# --- Behaviour: every route called by every kind of caller ---------------------------------

ENTERPRISE = make_uscc(7001)
INSURER = "SEC-PICC"


@dataclass(frozen=True)
class Caller:
    name: str
    role: Role | None  # None: no token at all
    subject: str = ""
    scopes: tuple[str, ...] = ()

    def headers(self, issuer: DevIssuer) -> dict[str, str]:
        if self.role is None:
            return {}
        token = issuer.mint(self.role, self.subject, scopes=self.scopes)
        return {"Authorization": f"Bearer {token}"}


SUBJECTS = {Role.enterprise: ENTERPRISE, Role.insurer: INSURER, Role.department: "QD-CBIRC"}
CALLERS = (
    Caller("anonymous", None),
    *(Caller(r.value, r, SUBJECTS.get(r, f"{r.value}-001")) for r in USER_ROLES),
    Caller("service+replay", Role.service, "svc:credit", (REPLAY_SCOPE,)),
    Caller("service+share", Role.service, "svc:gateway", (DATA_SHARE_SCOPE,)),
)

# Well-formed values for path parameters; nothing stands behind the ids (404 is an admission).
# The USCC is the enterprise caller's own, so that a route checking ownership admits it.
NOBODY = str(uuid.UUID(int=7))
PATH_VALUES = {
    "code": "QD-AJ-001",
    "version": "1",
    "number": "QDAJ-2026-000001",
    "purpose": "revocation",
    "officer_id": "officer-001",
    "on": "2026-03-16",
    "uscc": ENTERPRISE,
    "year": "2026",
    "month": "5",
    "n": "1",
    "insurer_id": INSURER,
}


def concrete(path: str) -> str:
    while "{" in path:
        start = path.index("{")
        name = path[start + 1 : path.index("}", start)]
        path = path.replace(f"{{{name}}}", PATH_VALUES.get(name, NOBODY))
    return path


# Bodies for the routes whose endpoint checks the role only after FastAPI validated the body:
# the refusal is reached with a valid one (an invalid one is 422 for everyone).
BODIES: dict[tuple[str, str, str], dict[str, Any]] = {
    ("insurance", "POST", "/campaigns/{campaign_id}/visits"): {
        "uscc": ENTERPRISE,
        "enterprise_name": "青岛安检机械加工有限公司",
        "sector": "machinery",
        "employees": 45,
        "annual_revenue": "8000000.00",
        "visited_on": "2026-06-10",
        "experts": [{"name": "刘专家", "speciality": "电气安全", "organisation": "青岛市专家库"}],
    },
}


def role_refusal(response: httpx.Response) -> bool:
    """A refusal by role: 401, or 403 from a role guard (not an object-level 403)."""
    if response.status_code == 401:
        return True
    return response.status_code == 403 and response.json().get("code") in (
        "forbidden",
        "scope_required",
    )


@pytest.fixture(scope="module")
async def registered(services: dict[str, Service]) -> dict[str, Service]:
    """The services with the insurer caller registered, so that its routes admit it."""
    await seed_insurer(services["insurance"].runtime, INSURER)
    return services


ALL_ROUTES = sorted((name, m, p) for name, table in TABLES.items() for (m, p) in table)


WRITES = ("POST", "PUT", "PATCH", "DELETE")


@pytest.mark.parametrize(("name", "method", "path"), ALL_ROUTES)
async def test_each_caller_is_let_in_or_refused_as_the_rule_says(
    registered: dict[str, Service], issuer: DevIssuer, name: str, method: str, path: str
) -> None:
    rule = TABLES[name][(method, path)]
    service = registered[name]
    # The refused first, and every table compared around them: a refusal writes nothing
    # (not even an idempotency record: each write carries a key).
    refused = [c for c in CALLERS if not rule.admits(c)]
    admitted = [c for c in CALLERS if rule.admits(c)]
    before = await service.snapshot() if method in WRITES and refused else None
    outcomes: dict[str, int] = {}
    wrong: list[str] = []
    for caller in (*refused, *admitted):
        kwargs: dict[str, Any] = {"headers": caller.headers(issuer)}
        if method in WRITES:
            kwargs["headers"]["Idempotency-Key"] = f"rules-{caller.name}"
            if method != "DELETE":
                kwargs["json"] = BODIES.get((name, method, path), {})
        response = await service.client.request(method, concrete(path), **kwargs)
        outcomes[caller.name] = response.status_code
        assert response.status_code < 500, (caller.name, response.text)
        if response.status_code >= 400:
            assert response.headers["content-type"].startswith(PROBLEM_JSON), response.text
        if caller in admitted:
            if role_refusal(response):
                wrong.append(f"{caller.name} refused")
        else:
            expected = 401 if caller.role is None else 403
            if response.status_code != expected:
                wrong.append(f"{caller.name} got {response.status_code}, not {expected}")
        if before is not None and caller is refused[-1]:
            assert await service.snapshot() == before, f"{method} {path}: a refusal wrote"
    assert wrong == [], f"{method} {path} [{rule}]: {outcomes}"
