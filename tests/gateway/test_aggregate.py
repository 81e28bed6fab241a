"""The enterprise profile, read in parallel from stand-ins of the four services over HTTP."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import Response

from gateway.aggregate import SOURCES
from kernel.auth.dev import DevIssuer
from kernel.auth.principal import Role
from kernel.uscc import make_uscc
from tests.gateway.conftest import GatewayFactory
from tests.gateway.support import assert_problem
from tests.support import bearer, free_port, serving

OWN = make_uscc(101)
OTHER = make_uscc(202)
PARTS = ("credit", "licences", "registry", "inspections", "open_hazards", "insurance")
UPSTREAM_OF: dict[str, str] = {s.part: s.upstream for s in SOURCES}


@dataclass
class Seen:
    path: str
    query: dict[str, str]
    authorization: str | None
    request_id: str | None


@dataclass
class StandIns:
    """How the stand-in services answer the next requests, and what reached them."""

    # part -> an HTTP status to answer with a problem, "not-json" (200) or "html-503"
    answers: dict[str, int | str] = field(default_factory=dict)
    # parts whose answer waits until `release` is set (the end of the test)
    stalled: set[str] = field(default_factory=set)
    # part -> the part whose request must have arrived before this one answers
    meet: dict[str, str] = field(default_factory=dict)
    arrived: defaultdict[str, asyncio.Event] = field(
        default_factory=lambda: defaultdict(asyncio.Event)
    )
    release: asyncio.Event = field(default_factory=asyncio.Event)
    seen: dict[str, Seen] = field(default_factory=dict)

    async def answer(self, part: str, request: Request, data: dict[str, Any]) -> Response:
        self.seen[part] = Seen(
            request.url.path,
            dict(request.query_params),
            request.headers.get("authorization"),
            request.headers.get("x-request-id"),
        )
        self.arrived[part].set()
        if part in self.meet:
            try:
                async with asyncio.timeout(10):
                    await self.arrived[self.meet[part]].wait()
            except TimeoutError:
                return _problem(504, "other_request_never_came")
        if part in self.stalled:
            await self.release.wait()
        steer = self.answers.get(part)
        if steer == "not-json":
            return Response(b"<html>maintenance</html>", media_type="text/html")
        if steer == "html-503":
            return Response(b"<html>down</html>", status_code=503, media_type="text/html")
        if isinstance(steer, int):
            return _problem(steer, f"steered_{steer}")
        return Response(orjson.dumps(data), media_type="application/json")


def _problem(status: int, code: str) -> Response:
    body = {"status": status, "code": code, "detail": f"stand-in answered {status}"}
    return Response(orjson.dumps(body), status_code=status, media_type="application/problem+json")


def _page(kind: str, uscc: str) -> dict[str, Any]:
    return {"items": [{"kind": kind, "uscc": uscc, "id": f"{kind}-1"}], "next_cursor": None}


def service_apps(s: StandIns) -> dict[str, FastAPI]:
    """Small apps answering the paths the profile reads, as the real services shape them."""
    credit, permits, inspection, insurance = FastAPI(), FastAPI(), FastAPI(), FastAPI()

    @credit.get("/standing/{uscc}")
    async def standing(request: Request, uscc: str) -> Response:
        return await s.answer(
            "credit", request, {"uscc": uscc, "standing": "redlisted", "as_of": "2025-03-14"}
        )

    @permits.get("/licences")
    async def licences(request: Request) -> Response:
        return await s.answer("licences", request, _page("licence", request.query_params["uscc"]))

    @inspection.get("/enterprises/{uscc}")
    async def registry(request: Request, uscc: str) -> Response:
        return await s.answer("registry", request, {"uscc": uscc, "tier": "B", "is_insured": True})

    @inspection.get("/inspections")
    async def inspections(request: Request) -> Response:
        uscc = request.query_params["uscc"]
        return await s.answer("inspections", request, _page("inspection", uscc))

    @inspection.get("/hazards")
    async def hazards(request: Request) -> Response:
        return await s.answer(
            "open_hazards", request, _page("hazard", request.query_params["uscc"])
        )

    @insurance.get("/enterprises/{uscc}/service-history")
    async def history(request: Request, uscc: str) -> Response:
        return await s.answer("insurance", request, {"uscc": uscc, "scope": "all", "policies": []})

    return {"credit": credit, "permits": permits, "inspection": inspection, "insurance": insurance}


@pytest.fixture(scope="module")
def stand_ins() -> StandIns:
    return StandIns()


@pytest.fixture(scope="module")
async def service_urls(stand_ins: StandIns) -> AsyncIterator[dict[str, str]]:
    async with AsyncExitStack() as stack:
        yield {
            name: await stack.enter_async_context(serving(app))
            for name, app in service_apps(stand_ins).items()
        }


@pytest.fixture(autouse=True)
def _fresh_stand_ins(stand_ins: StandIns) -> Iterator[None]:
    stand_ins.answers.clear()
    stand_ins.stalled.clear()
    stand_ins.meet.clear()
    stand_ins.arrived.clear()
    stand_ins.seen.clear()
    stand_ins.release = asyncio.Event()
    yield
    # Stalled answers finish, so the stand-ins can shut down.
    stand_ins.release.set()


@pytest.fixture
def gateway(make_gateway: GatewayFactory, service_urls: dict[str, str]) -> Any:
    def make(urls: dict[str, str] | None = None, **overrides: Any) -> Any:
        return make_gateway(urls={**service_urls, **(urls or {})}, **overrides)

    return make


def closed_port() -> str:
    return f"http://127.0.0.1:{free_port()}"


async def profile(
    client: httpx.AsyncClient, uscc: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    # A hang is a failure: every part has its own deadline, far below this one.
    async with asyncio.timeout(15):
        return await client.get(f"/api/enterprises/{uscc}/profile", headers=headers)


def assert_parts_ok(body: dict[str, Any], parts: tuple[str, ...] | list[str]) -> None:
    for part in parts:
        assert body["parts"][part]["status"] == "ok", (part, body["parts"][part])
        assert body["parts"][part]["upstream"] == UPSTREAM_OF[part]


class TestAllPartsRead:
    async def test_every_part_is_the_services_answer(self, gateway: Any, issuer: DevIssuer) -> None:
        async with gateway() as client:
            response = await profile(client, OTHER, bearer(issuer, Role.officer, "o-1"))
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        body = response.json()
        assert body["uscc"] == OTHER
        assert body["complete"] is True
        assert body["missing"] == []
        assert set(body["parts"]) == set(PARTS)
        assert_parts_ok(body, PARTS)
        parts = body["parts"]
        assert parts["credit"]["data"]["standing"] == "redlisted"
        assert parts["credit"]["source"] == "GET /standing/{uscc}"
        assert parts["licences"]["data"]["items"] == [
            {"kind": "licence", "uscc": OTHER, "id": "licence-1"}
        ]
        assert parts["registry"]["data"]["tier"] == "B"
        assert parts["inspections"]["data"]["items"][0]["kind"] == "inspection"
        assert parts["open_hazards"]["data"]["items"][0]["kind"] == "hazard"
        assert parts["insurance"]["data"]["uscc"] == OTHER
        assert body["generated_at"].endswith("Z") or "+00:00" in body["generated_at"]

    async def test_each_service_is_asked_about_this_enterprise(
        self, gateway: Any, issuer: DevIssuer, stand_ins: StandIns
    ) -> None:
        async with gateway() as client:
            await profile(client, OTHER, bearer(issuer, Role.leader, "l-1"))
        seen = stand_ins.seen
        assert set(seen) == set(PARTS)
        assert seen["credit"].path == f"/standing/{OTHER}"
        assert seen["registry"].path == f"/enterprises/{OTHER}"
        assert seen["insurance"].path == f"/enterprises/{OTHER}/service-history"
        assert seen["licences"].query == {"uscc": OTHER, "limit": "50"}
        assert seen["inspections"].query == {"uscc": OTHER, "limit": "10"}
        assert seen["open_hazards"].query == {"uscc": OTHER, "state": "open", "limit": "50"}

    async def test_the_callers_token_and_request_id_reach_every_upstream(
        self, gateway: Any, issuer: DevIssuer, stand_ins: StandIns
    ) -> None:
        headers = {**bearer(issuer, Role.enterprise, OWN), "X-Request-ID": "profile-trace-1"}
        async with gateway() as client:
            response = await profile(client, OWN, headers)
        assert response.status_code == 200, response.text
        assert {p: s.authorization for p, s in stand_ins.seen.items()} == {
            p: headers["Authorization"] for p in PARTS
        }
        assert {s.request_id for s in stand_ins.seen.values()} == {"profile-trace-1"}

    async def test_the_reads_run_in_parallel(
        self, gateway: Any, issuer: DevIssuer, stand_ins: StandIns
    ) -> None:
        # Each of the two answers only once the other's request has arrived: read one after
        # the other, the first would give up (504) before the second was ever sent.
        stand_ins.meet.update(credit="insurance", insurance="credit")
        async with gateway(aggregate_timeout=20) as client:
            response = await profile(client, OWN, bearer(issuer, Role.enterprise, OWN))
        body = response.json()
        assert body["complete"] is True, body["missing"]
        assert_parts_ok(body, PARTS)


class TestPartsMissing:
    async def test_an_unreachable_service_leaves_its_part_missing(
        self, gateway: Any, issuer: DevIssuer
    ) -> None:
        async with gateway(urls={"insurance": closed_port()}) as client:
            response = await profile(client, OWN, bearer(issuer, Role.enterprise, OWN))
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["complete"] is False
        assert body["missing"] == [
            {"part": "insurance", "upstream": "insurance", "reason": "unavailable"}
        ]
        insurance = body["parts"]["insurance"]
        assert insurance["status"] == "missing"
        assert insurance["data"] is None
        assert insurance["http_status"] is None
        assert_parts_ok(body, [p for p in PARTS if p != "insurance"])

    async def test_a_slow_service_times_out_without_holding_the_answer(
        self, gateway: Any, issuer: DevIssuer, stand_ins: StandIns
    ) -> None:
        stand_ins.stalled.add("credit")  # never answers while the test runs
        async with gateway(aggregate_timeout=0.5) as client:
            response = await profile(client, OWN, bearer(issuer, Role.enterprise, OWN))
        body = response.json()
        assert body["parts"]["credit"]["status"] == "missing"
        assert body["parts"]["credit"]["reason"] == "timeout"
        assert "0.5 s" in body["parts"]["credit"]["detail"]
        assert body["missing"] == [{"part": "credit", "upstream": "credit", "reason": "timeout"}]
        assert_parts_ok(body, [p for p in PARTS if p != "credit"])

    async def test_one_slow_part_of_a_service_costs_only_that_part(
        self, gateway: Any, issuer: DevIssuer, stand_ins: StandIns
    ) -> None:
        stand_ins.stalled.add("open_hazards")
        async with gateway(aggregate_timeout=0.5) as client:
            response = await profile(client, OWN, bearer(issuer, Role.enterprise, OWN))
        body = response.json()
        assert [m["part"] for m in body["missing"]] == ["open_hazards"]
        assert_parts_ok(body, ["registry", "inspections"])

    @pytest.mark.parametrize(
        ("status", "reason"), [(500, "upstream_error"), (503, "unavailable"), (502, "unavailable")]
    )
    async def test_a_server_error_leaves_the_part_missing(
        self, gateway: Any, issuer: DevIssuer, stand_ins: StandIns, status: int, reason: str
    ) -> None:
        stand_ins.answers["licences"] = status
        async with gateway() as client:
            response = await profile(client, OWN, bearer(issuer, Role.enterprise, OWN))
        assert response.status_code == 200
        body = response.json()
        licences = body["parts"]["licences"]
        assert licences["status"] == "missing"
        assert licences["reason"] == reason
        assert licences["http_status"] == status
        assert licences["code"] == f"steered_{status}"
        assert body["missing"] == [{"part": "licences", "upstream": "permits", "reason": reason}]
        assert_parts_ok(body, [p for p in PARTS if p != "licences"])

    async def test_an_answer_that_is_not_json_is_a_bad_response(
        self, gateway: Any, issuer: DevIssuer, stand_ins: StandIns
    ) -> None:
        stand_ins.answers["credit"] = "not-json"
        async with gateway() as client:
            body = (await profile(client, OWN, bearer(issuer, Role.enterprise, OWN))).json()
        assert body["parts"]["credit"]["status"] == "missing"
        assert body["parts"]["credit"]["reason"] == "bad_response"

    async def test_a_server_error_page_that_is_not_json_still_counts_by_its_status(
        self, gateway: Any, issuer: DevIssuer, stand_ins: StandIns
    ) -> None:
        stand_ins.answers["registry"] = "html-503"
        async with gateway() as client:
            body = (await profile(client, OWN, bearer(issuer, Role.enterprise, OWN))).json()
        registry = body["parts"]["registry"]
        assert (registry["status"], registry["reason"], registry["http_status"]) == (
            "missing",
            "unavailable",
            503,
        )
        assert registry["code"] is None

    async def test_a_token_the_service_refuses_is_a_refused_part(
        self, gateway: Any, issuer: DevIssuer, stand_ins: StandIns
    ) -> None:
        stand_ins.answers["insurance"] = 401
        async with gateway() as client:
            body = (await profile(client, OWN, bearer(issuer, Role.enterprise, OWN))).json()
        insurance = body["parts"]["insurance"]
        assert (insurance["status"], insurance["reason"], insurance["http_status"]) == (
            "missing",
            "refused",
            401,
        )

    async def test_an_open_circuit_is_a_missing_part(self, gateway: Any, issuer: DevIssuer) -> None:
        headers = bearer(issuer, Role.enterprise, OWN)
        async with gateway(
            urls={"credit": closed_port()}, breaker_failures=1, breaker_open_seconds=600
        ) as client:
            first = (await profile(client, OWN, headers)).json()
            second = (await profile(client, OWN, headers)).json()
        assert first["parts"]["credit"]["reason"] == "unavailable"
        assert second["parts"]["credit"]["reason"] == "circuit_open"
        assert second["missing"] == [
            {"part": "credit", "upstream": "credit", "reason": "circuit_open"}
        ]
        assert_parts_ok(second, [p for p in PARTS if p != "credit"])

    async def test_nothing_readable_is_a_503_naming_the_services(
        self, gateway: Any, issuer: DevIssuer, stand_ins: StandIns
    ) -> None:
        stand_ins.answers.update(dict.fromkeys(PARTS, 500))
        async with gateway() as client:
            response = await profile(client, OWN, bearer(issuer, Role.enterprise, OWN))
        body = assert_problem(response, 503, "profile_unavailable")
        assert body["upstreams"] == ["credit", "inspection", "insurance", "permits"]
        assert {m["part"] for m in body["missing"]} == set(PARTS)
        assert response.headers["retry-after"] == "5"


class TestServiceAnswers:
    async def test_a_404_is_not_found_data_and_the_profile_is_complete(
        self, gateway: Any, issuer: DevIssuer, stand_ins: StandIns
    ) -> None:
        stand_ins.answers["registry"] = 404
        async with gateway() as client:
            response = await profile(client, OWN, bearer(issuer, Role.enterprise, OWN))
        body = response.json()
        registry = body["parts"]["registry"]
        assert registry["status"] == "not_found"
        assert registry["code"] == "steered_404"
        assert registry["reason"] is None
        assert body["complete"] is True
        assert body["missing"] == []

    async def test_a_403_is_forbidden(
        self, gateway: Any, issuer: DevIssuer, stand_ins: StandIns
    ) -> None:
        stand_ins.answers["insurance"] = 403
        async with gateway() as client:
            body = (await profile(client, OWN, bearer(issuer, Role.enterprise, OWN))).json()
        assert body["parts"]["insurance"]["status"] == "forbidden"
        assert body["parts"]["insurance"]["http_status"] == 403
        assert body["complete"] is True


class TestAuthorisation:
    @pytest.mark.parametrize("role", [Role.officer, Role.leader, Role.admin])
    async def test_the_bureau_reads_any_enterprise(
        self, gateway: Any, issuer: DevIssuer, role: Role
    ) -> None:
        async with gateway() as client:
            response = await profile(client, OTHER, bearer(issuer, role, "staff-1"))
        assert response.status_code == 200, response.text

    async def test_an_enterprise_reads_its_own(self, gateway: Any, issuer: DevIssuer) -> None:
        async with gateway() as client:
            # Lower case is the same code, normalised before the comparison.
            response = await profile(client, OWN.lower(), bearer(issuer, Role.enterprise, OWN))
        assert response.status_code == 200, response.text
        assert response.json()["uscc"] == OWN

    async def test_an_enterprise_may_not_read_another(
        self, gateway: Any, issuer: DevIssuer, stand_ins: StandIns
    ) -> None:
        async with gateway() as client:
            response = await profile(client, OTHER, bearer(issuer, Role.enterprise, OWN))
        assert_problem(response, 403, "profile_not_yours")
        assert stand_ins.seen == {}

    @pytest.mark.parametrize(
        ("role", "sub"), [(Role.insurer, "ins-1"), (Role.department, "dept-ambulance")]
    )
    async def test_other_roles_are_forbidden(
        self, gateway: Any, issuer: DevIssuer, stand_ins: StandIns, role: Role, sub: str
    ) -> None:
        async with gateway() as client:
            response = await profile(client, OWN, bearer(issuer, role, sub))
        assert_problem(response, 403, "forbidden")
        assert stand_ins.seen == {}

    async def test_anonymous_is_401(self, gateway: Any, stand_ins: StandIns) -> None:
        async with gateway() as client:
            response = await profile(client, OWN)
        assert_problem(response, 401, "unauthorized")
        assert stand_ins.seen == {}


class TestUsccValidation:
    @pytest.mark.parametrize(
        ("uscc", "needle"),
        [
            (OWN[:-1] + ("0" if OWN[-1] != "0" else "1"), "check character"),
            (OWN[:17], "exactly 18 characters"),
            ("91370200MA3CXXXXXI", "not allowed"),
        ],
    )
    async def test_a_malformed_uscc_is_422_naming_the_field(
        self, gateway: Any, issuer: DevIssuer, stand_ins: StandIns, uscc: str, needle: str
    ) -> None:
        async with gateway() as client:
            response = await profile(client, uscc, bearer(issuer, Role.officer, "o-1"))
        body = assert_problem(response, 422, "validation_failed")
        (error,) = body["errors"]
        assert error["field"] == "uscc"
        assert error["in"] == "path"
        assert error["rule"] == "uscc_invalid"
        assert needle in error["message"]
        assert stand_ins.seen == {}
