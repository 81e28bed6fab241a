"""The enterprise profile: one answer read in parallel from the four services, each part on its
own deadline, a part that cannot be read marked missing while the rest is returned."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal

import orjson
from fastapi import APIRouter, Depends, FastAPI, Path, Request
from fastapi.responses import Response
from fastapi.security import HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from gateway.calls import CallResult, call_json
from gateway.context import GatewayRuntime, Runtime, require
from kernel.auth.principal import BUREAU_ROLES, Principal, Role
from kernel.errors import Forbidden, ProblemError
from kernel.uscc import USCC

PartName = Literal["credit", "licences", "registry", "inspections", "open_hazards", "insurance"]
PartStatus = Literal["ok", "not_found", "forbidden", "missing"]
MissingReason = Literal[
    "unavailable", "timeout", "circuit_open", "upstream_error", "bad_response", "refused"
]

# How many of the most recent inspections the profile shows; the rest are a link away
# (`next_cursor` of the part, at /api/inspection/inspections).
RECENT_INSPECTIONS: Final = 10
LIST_LIMIT: Final = 50


@dataclass(frozen=True)
class Source:
    """Where one part of the profile is read: a GET on one service, the USCC filled in."""

    part: PartName
    upstream: str
    path: str  # template with {uscc}
    params: tuple[tuple[str, str], ...] = ()

    def described(self) -> str:
        query = "&".join(f"{k}={v}" for k, v in self.params)
        return f"GET {self.path}" + (f"?{query}" if query else "")


# Every read names the enterprise itself, so each service applies its own rules to the
# caller's token (an enterprise sees only its own, an insurer only its policies, ...).
SOURCES: Final[tuple[Source, ...]] = (
    Source("credit", "credit", "/standing/{uscc}"),
    Source("licences", "permits", "/licences", (("uscc", "{uscc}"), ("limit", str(LIST_LIMIT)))),
    Source("registry", "inspection", "/enterprises/{uscc}"),
    Source(
        "inspections",
        "inspection",
        "/inspections",
        (("uscc", "{uscc}"), ("limit", str(RECENT_INSPECTIONS))),
    ),
    Source(
        "open_hazards",
        "inspection",
        "/hazards",
        (("uscc", "{uscc}"), ("state", "open"), ("limit", str(LIST_LIMIT))),
    ),
    Source("insurance", "insurance", "/enterprises/{uscc}/service-history"),
)

_PART_DATA: Final[dict[str, str]] = {
    "credit": "credit's `StandingRead`: red or black list standing now, records in publicity",
    "licences": "permits' page of the enterprise's licences (`items`, `next_cursor`)",
    "registry": "inspection's `EnterpriseRead`: the supervision registry entry (risk tier, "
    "insured, credit standing, ...)",
    "inspections": f"inspection's page of the {RECENT_INSPECTIONS} most recent inspections",
    "open_hazards": "inspection's page of hazards still open (to be rectified)",
    "insurance": "insurance's `ServiceHistoryRead`: policies, obligations, service records, "
    "whistles",
}

_OK_EXAMPLE: Final[dict[str, Any]] = {
    "status": "ok",
    "upstream": "credit",
    "source": "GET /standing/{uscc}",
    "data": {"uscc": "91350100M000100Y43", "standing": "normal", "as_of": "2025-03-14"},
    "http_status": 200,
    "code": None,
    "reason": None,
    "detail": None,
}


class ProfilePart(BaseModel):
    """One read of the profile: the service's answer, or why there is none."""

    model_config = ConfigDict(json_schema_extra={"examples": [_OK_EXAMPLE]})

    status: PartStatus = Field(
        description="`ok`: `data` is the service's answer. `not_found`: the service does not "
        "know this enterprise (an answer, not a failure). `forbidden`: the service refused "
        "this caller. `missing`: no answer could be read; `reason` says why."
    )
    upstream: str = Field(description="The service read (permits, credit, inspection, insurance)")
    source: str = Field(description="The request made to it, e.g. `GET /standing/{uscc}`")
    data: dict[str, Any] | None = Field(
        description="The service's JSON answer as it gave it (status `ok`), else null"
    )
    http_status: int | None = Field(description="The service's HTTP status; null: no answer")
    code: str | None = Field(description="The service's problem `code` when it refused")
    reason: MissingReason | None = Field(
        description="Why a `missing` part is missing: `unavailable` (not reachable, or 502/503/"
        "504), `timeout`, `circuit_open` (the gateway stopped calling a failing service for a "
        "while), `upstream_error` (another 5xx), `bad_response` (not a JSON object), `refused` "
        "(another 4xx, e.g. the service did not accept the token)"
    )
    detail: str | None = Field(description="Readable detail from the service or the gateway")


class ProfileParts(BaseModel):
    """The profile's parts; each is one read, so one failure costs only that part."""

    credit: ProfilePart = Field(description=_PART_DATA["credit"])
    licences: ProfilePart = Field(description=_PART_DATA["licences"])
    registry: ProfilePart = Field(description=_PART_DATA["registry"])
    inspections: ProfilePart = Field(description=_PART_DATA["inspections"])
    open_hazards: ProfilePart = Field(description=_PART_DATA["open_hazards"])
    insurance: ProfilePart = Field(description=_PART_DATA["insurance"])


class MissingPart(BaseModel):
    """A part that could not be read."""

    part: PartName
    upstream: str
    reason: MissingReason


class EnterpriseProfile(BaseModel):
    """An enterprise as the four services see it, read at `generated_at`."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "uscc": "91350100M000100Y43",
                    "generated_at": "2025-03-14T02:15:00Z",
                    "complete": False,
                    "parts": {
                        "credit": _OK_EXAMPLE,
                        "licences": {
                            **_OK_EXAMPLE,
                            "upstream": "permits",
                            "source": "GET /licences?uscc={uscc}&limit=50",
                            "data": {"items": [], "next_cursor": None},
                        },
                        "registry": {
                            **_OK_EXAMPLE,
                            "status": "not_found",
                            "upstream": "inspection",
                            "source": "GET /enterprises/{uscc}",
                            "data": None,
                            "http_status": 404,
                            "code": "enterprise_not_found",
                            "detail": "enterprise 91350100M000100Y43 is not in the registry",
                        },
                        "inspections": {
                            **_OK_EXAMPLE,
                            "upstream": "inspection",
                            "source": "GET /inspections?uscc={uscc}&limit=10",
                            "data": {"items": [], "next_cursor": None},
                        },
                        "open_hazards": {
                            **_OK_EXAMPLE,
                            "upstream": "inspection",
                            "source": "GET /hazards?uscc={uscc}&state=open&limit=50",
                            "data": {"items": [], "next_cursor": None},
                        },
                        "insurance": {
                            **_OK_EXAMPLE,
                            "status": "missing",
                            "upstream": "insurance",
                            "source": "GET /enterprises/{uscc}/service-history",
                            "data": None,
                            "http_status": None,
                            "reason": "timeout",
                            "detail": "no answer within 3 s",
                        },
                    },
                    "missing": [
                        {"part": "insurance", "upstream": "insurance", "reason": "timeout"}
                    ],
                }
            ]
        }
    )

    uscc: str
    generated_at: datetime
    complete: bool = Field(description="True when no part is missing")
    parts: ProfileParts
    missing: list[MissingPart] = Field(description="The parts that could not be read")


class ProfileUnavailable(ProblemError):
    status, code, title = 503, "profile_unavailable", "Enterprise profile unavailable"
    title_zh = "企业画像暂不可用"


# Headers that tie the parallel reads to the caller's request in the services' logs and traces.
_CORRELATION: Final = ("x-request-id", "traceparent", "tracestate")


def _problem_field(body: Any, name: str) -> str | None:
    value = body.get(name) if isinstance(body, dict) else None
    return value[:500] if isinstance(value, str) else None


_ERROR_REASONS: Final[dict[str, MissingReason]] = {
    "timeout": "timeout",
    "circuit_open": "circuit_open",
    "bad_response": "bad_response",
}


def _missing_reason(result: CallResult) -> MissingReason:
    # call_json's errors are `kind` or `kind: exception name`; any other kind is a failure to
    # reach the service.
    return _ERROR_REASONS.get((result.error or "").split(":", 1)[0], "unavailable")


def read_part(source: Source, result: CallResult, timeout: float) -> ProfilePart:
    """What one call's result means for its part of the profile."""
    base = {"upstream": source.upstream, "source": source.described()}
    status = result.status
    if status is None:
        reason = _missing_reason(result)
        why = (
            f"no answer within {timeout:g} s"
            if reason == "timeout"
            else f"the {source.upstream} service could not be read ({result.error})"
        )
        return ProfilePart(
            status="missing",
            data=None,
            http_status=None,
            code=None,
            reason=reason,
            detail=why,
            **base,
        )
    # An answer that is not JSON still has a status: a proxy's HTML 503 page is a 503.
    body = result.body if result.error is None else None
    if 200 <= status < 300:
        if isinstance(body, dict):
            return ProfilePart(
                status="ok",
                data=body,
                http_status=status,
                code=None,
                reason=None,
                detail=None,
                **base,
            )
        return ProfilePart(
            status="missing",
            data=None,
            http_status=status,
            code=None,
            reason="bad_response",
            detail=f"the {source.upstream} service answered without a JSON object",
            **base,
        )
    code, detail = _problem_field(body, "code"), _problem_field(body, "detail")
    part_status: PartStatus
    reason_of: MissingReason | None
    if status == 404:
        part_status, reason_of = "not_found", None
    elif status == 403:
        part_status, reason_of = "forbidden", None
    elif status in (502, 503, 504):
        part_status, reason_of = "missing", "unavailable"
    elif status >= 500:
        part_status, reason_of = "missing", "upstream_error"
    elif 400 <= status < 500:
        part_status, reason_of = "missing", "refused"
    else:
        part_status, reason_of = "missing", "bad_response"
    return ProfilePart(
        status=part_status,
        data=None,
        http_status=status,
        code=code,
        reason=reason_of,
        detail=detail or f"the {source.upstream} service answered {status}",
        **base,
    )


async def read_profile(
    runtime: GatewayRuntime,
    uscc: str,
    token: str | None,
    correlation: Mapping[str, str],
) -> EnterpriseProfile:
    """Every part read at once, each bounded by the aggregate timeout."""
    timeout = runtime.settings.aggregate_timeout
    results = await asyncio.gather(
        *(
            call_json(
                runtime.upstreams,
                s.upstream,
                s.path.format(uscc=uscc),
                token=token,
                params={k: v.format(uscc=uscc) for k, v in s.params},
                headers=correlation,
                timeout=timeout,
            )
            for s in SOURCES
        )
    )
    parts = {s.part: read_part(s, r, timeout) for s, r in zip(SOURCES, results, strict=True)}
    missing = [
        MissingPart(part=name, upstream=p.upstream, reason=p.reason)
        for name, p in parts.items()
        if p.status == "missing" and p.reason is not None
    ]
    return EnterpriseProfile(
        uscc=uscc,
        generated_at=datetime.now(UTC),
        complete=not missing,
        parts=ProfileParts.model_validate(parts),
        missing=missing,
    )


# Declares the bearer scheme in the OpenAPI document (Swagger's "Authorize"); the identity
# layer has already verified whatever credentials came.
_bearer_scheme = HTTPBearer(auto_error=False, description="JWT from the identity provider")

ProfileReader = Annotated[
    Principal, Depends(require(Role.enterprise, Role.officer, Role.leader, Role.admin))
]


def aggregation_router() -> APIRouter:
    router = APIRouter(tags=["aggregation"])

    @router.get(
        "/api/enterprises/{uscc}/profile",
        response_model=EnterpriseProfile,
        dependencies=[Depends(_bearer_scheme)],
        summary="An enterprise's credit standing, licences, inspections and insurance at once",
        description=(
            "Reads the services in parallel with the caller's own token, so each applies its "
            "own rules. Each part waits at most the gateway's aggregate timeout; a part that "
            "fails, times out, meets an open circuit or gets a 5xx is `missing` and the rest is "
            "still returned (`complete` false). A service's 404 is the part's `not_found` and "
            "its 403 the part's `forbidden`: answers, not failures. The bureau (officer, "
            "leader, admin) may read any enterprise, an enterprise only its own. When no part "
            "at all could be read the answer is 503 `profile_unavailable` naming the services."
        ),
        responses={
            401: {"description": "No credentials (`unauthorized`)"},
            403: {
                "description": "A role that may not read profiles (`forbidden`), or an "
                "enterprise asking for another's (`profile_not_yours`)"
            },
            422: {"description": "A malformed USCC (`validation_failed` naming `uscc`)"},
            503: {
                "description": "No part could be read (`profile_unavailable`, with `upstreams` "
                "and `missing`)"
            },
        },
    )
    async def get_profile(
        request: Request,
        runtime: Runtime,
        caller: ProfileReader,
        uscc: Annotated[USCC, Path(description="统一社会信用代码 of the enterprise")],
    ) -> Response:
        if caller.role not in BUREAU_ROLES and caller.subject != uscc:
            raise Forbidden("an enterprise may read only its own profile", code="profile_not_yours")
        correlation = {name: value for name in _CORRELATION if (value := request.headers.get(name))}
        profile = await read_profile(runtime, uscc, caller.token, correlation)
        if len(profile.missing) == len(SOURCES):
            # Nothing was read: a 200 carrying no data would look like an answer to caches,
            # monitors and retry logic, so this is the same 503 an unreachable service gets.
            upstreams = sorted({m.upstream for m in profile.missing})
            raise ProfileUnavailable(
                f"no part of the profile could be read from {', '.join(upstreams)}; retry later",
                headers={"Retry-After": "5"},
                upstreams=upstreams,
                missing=[m.model_dump() for m in profile.missing],
            )
        return Response(
            orjson.dumps(profile.model_dump(mode="json")),
            media_type="application/json",
            headers={"Cache-Control": "no-store"},
        )

    return router


def install_aggregation(app: FastAPI, runtime: GatewayRuntime) -> None:
    """Add the aggregated routes (before the proxy's catch-all)."""
    app.include_router(aggregation_router())
