"""Key projects (嵌入式服务) over the API: every role, every rule, the record in order, If-Match."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from kernel.app import ServiceRuntime
from kernel.auth.dev import DevIssuer
from kernel.uscc import make_uscc
from kernel.workdays import shanghai_today
from services.permits.domain import PROJECT_STAGES
from services.permits.models import GuidanceRecord, Project, ProjectMilestone, ProjectOfficer
from tests.support import bearer

API = tuple[httpx.AsyncClient, ServiceRuntime]
OWNER = make_uscc(4101)
OTHER = make_uscc(4102)
STAGES = [s.value for s in PROJECT_STAGES]
FILING, CONDITIONS, DESIGN = STAGES[0], STAGES[1], STAGES[2]


def officer(issuer: DevIssuer, sub: str = "officer-wang") -> dict[str, str]:
    return bearer(issuer, "officer", sub)


def leader(issuer: DevIssuer) -> dict[str, str]:
    return bearer(issuer, "leader", "leader-zhao")


def enterprise(issuer: DevIssuer, uscc: str = OWNER) -> dict[str, str]:
    return bearer(issuer, "enterprise", uscc)


def plan(start: date | None = None, gap_days: int = 60) -> list[dict[str, str]]:
    start = start or shanghai_today() + timedelta(days=30)
    return [
        {"stage": s, "planned_on": (start + timedelta(days=gap_days * i)).isoformat()}
        for i, s in enumerate(STAGES)
    ]


def project_body(**extra: Any) -> dict[str, Any]:
    return {
        "name": "年产20万吨高端聚烯烃新材料项目",
        "uscc": OWNER,
        "enterprise_name": "青岛海湾新材料有限公司",
        "district": "黄岛区",
        "sector": "hazardous_chemicals",
        "investment_yuan": 3_200_000_000,
        "description": "新建聚烯烃装置及配套罐区，涉及重点监管危险化工工艺。",
        "stages": plan(),
        "officer_ids": ["officer-wang", "officer-li"],
        **extra,
    }


async def register(client: httpx.AsyncClient, issuer: DevIssuer, **extra: Any) -> dict[str, Any]:
    r = await client.post("/projects", json=project_body(**extra), headers=officer(issuer))
    assert r.status_code == 201, r.text
    return dict(r.json())


async def guide(
    client: httpx.AsyncClient,
    issuer: DevIssuer,
    project_id: str,
    sub: str = "officer-wang",
    **extra: Any,
) -> httpx.Response:
    body = {
        "mode": "on_site",
        "advice": "安全条件论证报告需补充多米诺效应分析；外部安全防护距离按GB/T 37243核算。",
        "questions": [{"question": "罐区是否需要单独评价？", "answer": "纳入整体安全评价。"}],
        **extra,
    }
    return await client.post(
        f"/projects/{project_id}/guidance", json=body, headers=officer(issuer, sub)
    )


async def advance(
    client: httpx.AsyncClient,
    project_id: str,
    stage: str,
    headers: dict[str, str],
    **extra: Any,
) -> httpx.Response:
    return await client.post(
        f"/projects/{project_id}/stage", json={"stage": stage, **extra}, headers=headers
    )


async def rows(runtime: ServiceRuntime, model: type[Any]) -> list[Any]:
    async with runtime.session_factory() as session:
        return list((await session.scalars(sa.select(model))).all())


def problem(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = dict(r.json())
    assert body["code"] == code, body
    return body


class TestRegister:
    async def test_officer_registers_with_stages_and_officers(
        self, api: API, issuer: DevIssuer
    ) -> None:
        client, runtime = api
        body = await register(client, issuer)
        assert body["uscc"] == OWNER
        assert body["investment_yuan"] == 3_200_000_000
        assert body["current_stage"] is None
        assert body["next_stage"] == FILING
        assert body["next_stage_label"] == "立项/项目备案"
        assert body["is_completed"] is False
        assert body["registered_by"] == "officer:officer-wang"
        assert [(s["stage"], s["position"]) for s in body["stages"]] == [
            (s, i) for i, s in enumerate(STAGES, start=1)
        ]
        assert [s["label"] for s in body["stages"]][-1] == "投产"
        assert all(s["reached_at"] is None and s["guidance_count"] == 0 for s in body["stages"])
        assert [o["officer_id"] for o in body["officers"]] == ["officer-wang", "officer-li"]
        assert [(e["kind"], e["officer_id"]) for e in body["timeline"]] == [
            ("registered", None),
            ("officer_assigned", "officer-wang"),
            ("officer_assigned", "officer-li"),
        ]
        assert len(await rows(runtime, ProjectMilestone)) == 6
        assert len(await rows(runtime, ProjectOfficer)) == 2

    @pytest.mark.parametrize("role", ["leader", "admin"])
    async def test_leader_and_admin_register(self, api: API, issuer: DevIssuer, role: str) -> None:
        client, _ = api
        r = await client.post("/projects", json=project_body(), headers=bearer(issuer, role, "x"))
        assert r.status_code == 201, r.text
        assert r.json()["registered_by"] == f"{role}:x"

    @pytest.mark.parametrize("role", ["enterprise", "insurer", "department", "public"])
    async def test_other_roles_cannot_register(
        self, api: API, issuer: DevIssuer, role: str
    ) -> None:
        client, runtime = api
        r = await client.post("/projects", json=project_body(), headers=bearer(issuer, role, OWNER))
        assert r.status_code == 403
        assert (await client.post("/projects", json=project_body())).status_code == 401
        assert await rows(runtime, Project) == []

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"uscc": OWNER[:-1] + ("0" if OWNER[-1] != "0" else "1")}, "uscc"),
            ({"district": "朝阳区"}, "district"),
            ({"sector": "banking"}, "sector"),
            ({"investment_yuan": 0}, "investment_yuan"),
            ({"officer_ids": []}, "officer_ids"),
            ({"officer_ids": ["officer-wang", "officer-wang"]}, "officer_ids"),
            ({"officer_ids": ["officer wang"]}, "officer_ids.0"),
            (
                {"stages": [{"stage": "groundbreaking", "planned_on": "2026-01-01"}]},
                "stages.0.stage",
            ),
            ({"name": "x"}, "name"),
        ],
    )
    async def test_bad_input_names_the_field(
        self, api: API, issuer: DevIssuer, change: dict[str, Any], field: str
    ) -> None:
        client, runtime = api
        r = await client.post("/projects", json=project_body(**change), headers=officer(issuer))
        body = problem(r, 422, "validation_failed")
        assert field in {e["field"] for e in body["errors"]}
        assert await rows(runtime, Project) == []

    async def test_stage_plan_rules(self, api: API, issuer: DevIssuer) -> None:
        client, runtime = api
        incomplete = project_body(stages=plan()[:-1])
        r = await client.post("/projects", json=incomplete, headers=officer(issuer))
        assert problem(r, 422, "stage_plan_incomplete")["field"] == "stages"
        assert "投产" in r.json()["detail"]
        swapped = plan()
        swapped[1]["planned_on"], swapped[2]["planned_on"] = (
            swapped[2]["planned_on"],
            swapped[1]["planned_on"],
        )
        r = await client.post(
            "/projects", json=project_body(stages=swapped), headers=officer(issuer)
        )
        assert problem(r, 422, "stage_plan_out_of_order")["field"] == "stages"
        assert await rows(runtime, Project) == []

    async def test_same_project_twice_is_409(self, api: API, issuer: DevIssuer) -> None:
        client, runtime = api
        await register(client, issuer)
        r = await client.post("/projects", json=project_body(), headers=leader(issuer))
        assert problem(r, 409, "project_exists")["field"] == "name"
        other = await client.post(
            "/projects", json=project_body(uscc=OTHER), headers=leader(issuer)
        )
        assert other.status_code == 201
        assert len(await rows(runtime, Project)) == 2

    async def test_idempotency_key(self, api: API, issuer: DevIssuer) -> None:
        client, runtime = api
        headers = {**officer(issuer), "Idempotency-Key": "register-0001"}
        first = await client.post("/projects", json=project_body(), headers=headers)
        again = await client.post("/projects", json=project_body(), headers=headers)
        assert first.status_code == again.status_code == 201
        assert again.headers["idempotent-replayed"] == "true"
        assert first.json() == again.json()
        assert len(await rows(runtime, Project)) == 1
        r = await client.post("/projects", json=project_body(name="另一个项目"), headers=headers)
        problem(r, 422, "idempotency_key_reused")


class TestList:
    async def test_bureau_sees_all_enterprise_its_own(self, api: API, issuer: DevIssuer) -> None:
        client, _ = api
        mine = await register(client, issuer)
        theirs = await register(client, issuer, uscc=OTHER, district="即墨区")
        for headers in (officer(issuer), leader(issuer), bearer(issuer, "admin", "a")):
            r = await client.get("/projects", headers=headers)
            assert [p["id"] for p in r.json()["items"]] == [mine["id"], theirs["id"]]
        r = await client.get("/projects", headers=enterprise(issuer))
        assert [p["id"] for p in r.json()["items"]] == [mine["id"]]
        r = await client.get("/projects", headers=enterprise(issuer, make_uscc(4199)))
        assert r.json()["items"] == []
        for role in ("insurer", "department", "public"):
            r = await client.get("/projects", headers=bearer(issuer, role, "x"))
            problem(r, 403, "forbidden")
        assert (await client.get("/projects")).status_code == 401

    async def test_filters(self, api: API, issuer: DevIssuer) -> None:
        client, _ = api
        a = await register(client, issuer)
        b = await register(
            client, issuer, uscc=OTHER, district="即墨区", officer_ids=["officer-li"]
        )
        await guide(client, issuer, a["id"])
        await advance(client, a["id"], FILING, officer(issuer))
        headers = officer(issuer)

        async def ids(**params: str) -> list[str]:
            r = await client.get("/projects", params=params, headers=headers)
            assert r.status_code == 200, r.text
            return [p["id"] for p in r.json()["items"]]

        assert await ids(district="即墨区") == [b["id"]]
        assert await ids(district="黄岛区") == [a["id"]]
        assert await ids(stage=FILING) == [a["id"]]
        assert await ids(stage=CONDITIONS) == []
        assert await ids(officer_id="officer-wang") == [a["id"]]
        assert await ids(officer_id="officer-li") == [a["id"], b["id"]]
        assert await ids(district="黄岛区", stage=FILING, officer_id="officer-li") == [a["id"]]
        r = await client.get("/projects", params={"district": "海淀区"}, headers=headers)
        assert problem(r, 422, "validation_failed")["errors"][0]["field"] == "district"
        r = await client.get("/projects", params={"stage": "demolition"}, headers=headers)
        assert problem(r, 422, "validation_failed")["errors"][0]["field"] == "stage"

    async def test_cursor_pagination(self, api: API, issuer: DevIssuer) -> None:
        client, _ = api
        made = [(await register(client, issuer, name=f"重点项目{i:02d}"))["id"] for i in range(5)]
        seen: list[str] = []
        cursor = None
        pages = 0
        while True:
            params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = (await client.get("/projects", params=params, headers=leader(issuer))).json()
            seen += [p["id"] for p in page["items"]]
            pages += 1
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == made
        assert pages == 3
        r = await client.get("/projects", params={"cursor": "bm9wZQ"}, headers=leader(issuer))
        problem(r, 422, "invalid_cursor")


class TestGet:
    async def test_bureau_and_owner_read_it_others_do_not(
        self, api: API, issuer: DevIssuer
    ) -> None:
        client, _ = api
        p = await register(client, issuer)
        url = f"/projects/{p['id']}"
        for headers in (officer(issuer, "officer-zhou"), leader(issuer), enterprise(issuer)):
            r = await client.get(url, headers=headers)
            assert r.status_code == 200, r.text
            assert r.headers["etag"] == f'"{p["version"]}"'
            assert r.json()["id"] == p["id"]
        problem(await client.get(url, headers=enterprise(issuer, OTHER)), 403, "project_not_yours")
        for role in ("insurer", "department", "public"):
            r = await client.get(url, headers=bearer(issuer, role, "x"))
            problem(r, 403, "project_not_yours")
        assert (await client.get(url)).status_code == 401

    async def test_stages_behind_plan_are_flagged(self, api: API, issuer: DevIssuer) -> None:
        client, _ = api
        started = shanghai_today() - timedelta(days=10)
        p = await register(client, issuer, stages=plan(start=started, gap_days=7))
        assert [s["is_behind_plan"] for s in p["stages"]] == [
            True,
            True,
            False,
            False,
            False,
            False,
        ]
        await guide(client, issuer, p["id"])
        r = await advance(client, p["id"], FILING, leader(issuer))
        assert [s["is_behind_plan"] for s in r.json()["stages"]][:3] == [False, True, False]

    async def test_unknown_project_is_404(self, api: API, issuer: DevIssuer) -> None:
        client, _ = api
        for r in (
            await client.get("/projects/nope", headers=leader(issuer)),
            await client.get(f"/projects/{'9' * 80}", headers=leader(issuer)),
            await guide(client, issuer, "nope"),
            await advance(client, "nope", FILING, leader(issuer)),
            await client.post(
                "/projects/nope/officers", json={"officer_ids": ["x"]}, headers=leader(issuer)
            ),
            await client.delete("/projects/nope/officers/x", headers=leader(issuer)),
        ):
            problem(r, 404, "project_not_found")


class TestOfficers:
    async def test_leader_assigns_and_releases(self, api: API, issuer: DevIssuer) -> None:
        client, runtime = api
        p = await register(client, issuer)
        url = f"/projects/{p['id']}/officers"
        r = await client.post(url, json={"officer_ids": ["officer-zhou"]}, headers=leader(issuer))
        assert r.status_code == 200, r.text
        assert [o["officer_id"] for o in r.json()["officers"]] == [
            "officer-wang",
            "officer-li",
            "officer-zhou",
        ]
        r = await client.delete(f"{url}/officer-wang", headers=bearer(issuer, "admin", "a"))
        assert r.status_code == 200, r.text
        body = r.json()
        assert [o["officer_id"] for o in body["officers"]] == ["officer-li", "officer-zhou"]
        assert body["timeline"][-1]["kind"] == "officer_released"
        assert body["timeline"][-1]["officer_id"] == "officer-wang"
        assert body["timeline"][-1]["actor"] == "admin:a"
        # Released: no longer guides this project. Re-assigned later: guides again.
        problem(await guide(client, issuer, p["id"]), 403, "officer_not_assigned")
        r = await client.post(url, json={"officer_ids": ["officer-wang"]}, headers=leader(issuer))
        assert r.status_code == 200
        assert (await guide(client, issuer, p["id"])).status_code == 201
        assert len(await rows(runtime, ProjectOfficer)) == 4

    async def test_rules(self, api: API, issuer: DevIssuer) -> None:
        client, _ = api
        p = await register(client, issuer, officer_ids=["officer-wang"])
        url = f"/projects/{p['id']}/officers"
        r = await client.post(
            url, json={"officer_ids": ["officer-li", "officer-wang"]}, headers=leader(issuer)
        )
        assert problem(r, 409, "officer_already_assigned")["field"] == "officer_ids"
        r = await client.delete(f"{url}/officer-wang", headers=leader(issuer))
        assert problem(r, 422, "project_needs_an_officer")["field"] == "officer_id"
        problem(
            await client.delete(f"{url}/officer-nobody", headers=leader(issuer)),
            404,
            "officer_not_assigned",
        )
        r = await client.post(url, json={"officer_ids": []}, headers=leader(issuer))
        assert problem(r, 422, "validation_failed")["errors"][0]["field"] == "officer_ids"

    @pytest.mark.parametrize("role", ["officer", "enterprise", "insurer"])
    async def test_only_leader_or_admin(self, api: API, issuer: DevIssuer, role: str) -> None:
        client, _ = api
        p = await register(client, issuer)
        url = f"/projects/{p['id']}/officers"
        headers = bearer(issuer, role, "officer-wang" if role == "officer" else OWNER)
        problem(
            await client.post(url, json={"officer_ids": ["x"]}, headers=headers), 403, "forbidden"
        )
        problem(await client.delete(f"{url}/officer-li", headers=headers), 403, "forbidden")


class TestGuidance:
    async def test_assigned_officer_records_guidance_at_server_time(
        self, api: API, issuer: DevIssuer
    ) -> None:
        client, runtime = api
        p = await register(client, issuer)
        follow_up = (shanghai_today() + timedelta(days=14)).isoformat()
        before = datetime.now().astimezone()
        r = await guide(client, issuer, p["id"], follow_up_on=follow_up, mode="meeting")
        assert r.status_code == 201, r.text
        g = r.json()
        assert g["stage"] == FILING  # the next stage when none is named
        assert g["stage_label"] == "立项/项目备案"
        assert g["officer_id"] == "officer-wang"
        assert (g["mode"], g["mode_label"]) == ("meeting", "会议指导")
        assert g["questions"] == [
            {"question": "罐区是否需要单独评价？", "answer": "纳入整体安全评价。"}
        ]
        assert g["follow_up_on"] == follow_up
        assert datetime.fromisoformat(g["given_at"]) >= before - timedelta(seconds=1)
        (stored,) = await rows(runtime, GuidanceRecord)
        assert stored.advice.startswith("安全条件论证报告")
        r = await guide(client, issuer, p["id"], sub="officer-li", stage=DESIGN, mode="online")
        assert r.status_code == 201
        assert r.json()["stage"] == DESIGN

    async def test_client_cannot_set_the_time(self, api: API, issuer: DevIssuer) -> None:
        client, _ = api
        p = await register(client, issuer)
        r = await guide(client, issuer, p["id"], given_at="2020-01-01T00:00:00+08:00")
        assert problem(r, 422, "validation_failed")["errors"][0]["field"] == "given_at"

    async def test_who_may_guide(self, api: API, issuer: DevIssuer) -> None:
        client, runtime = api
        p = await register(client, issuer)
        problem(
            await guide(client, issuer, p["id"], sub="officer-zhou"), 403, "officer_not_assigned"
        )
        for role in ("leader", "admin", "enterprise"):
            r = await client.post(
                f"/projects/{p['id']}/guidance",
                json={"mode": "phone", "advice": "电话沟通"},
                headers=bearer(issuer, role, "officer-wang"),
            )
            problem(r, 403, "forbidden")
        assert await rows(runtime, GuidanceRecord) == []

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"mode": "email"}, "mode"),
            ({"advice": ""}, "advice"),
            ({"stage": "groundbreaking"}, "stage"),
            ({"questions": [{"question": "有答复吗？"}]}, "questions.0.answer"),
            ({"follow_up_on": "next week"}, "follow_up_on"),
        ],
    )
    async def test_bad_input_names_the_field(
        self, api: API, issuer: DevIssuer, change: dict[str, Any], field: str
    ) -> None:
        client, _ = api
        p = await register(client, issuer)
        body = problem(await guide(client, issuer, p["id"], **change), 422, "validation_failed")
        assert field in {e["field"] for e in body["errors"]}

    async def test_rules(self, api: API, issuer: DevIssuer) -> None:
        client, runtime = api
        p = await register(client, issuer)
        past = (shanghai_today() - timedelta(days=1)).isoformat()
        r = await guide(client, issuer, p["id"], follow_up_on=past)
        assert problem(r, 422, "follow_up_in_past")["field"] == "follow_up_on"
        await guide(client, issuer, p["id"])
        await advance(client, p["id"], FILING, officer(issuer))
        r = await guide(client, issuer, p["id"], stage=FILING)
        assert problem(r, 422, "stage_already_reached")["field"] == "stage"
        assert len(await rows(runtime, GuidanceRecord)) == 1

    async def test_idempotency_key(self, api: API, issuer: DevIssuer) -> None:
        client, runtime = api
        p = await register(client, issuer)
        body = {"mode": "phone", "advice": "提醒按期提交安全条件论证报告"}
        headers = {**officer(issuer), "Idempotency-Key": "guide-0001"}
        url = f"/projects/{p['id']}/guidance"
        first = await client.post(url, json=body, headers=headers)
        again = await client.post(url, json=body, headers=headers)
        assert first.status_code == again.status_code == 201
        assert first.json() == again.json()
        assert len(await rows(runtime, GuidanceRecord)) == 1


class TestStage:
    async def test_guidance_before_each_stage(self, api: API, issuer: DevIssuer) -> None:
        client, runtime = api
        p = await register(client, issuer)
        r = await advance(client, p["id"], FILING, officer(issuer))
        assert problem(r, 422, "guidance_required_before_stage")["field"] == "stage"
        assert "立项/项目备案" in r.json()["detail"]
        # Guidance for a later stage does not open this one.
        await guide(client, issuer, p["id"], stage=CONDITIONS)
        problem(
            await advance(client, p["id"], FILING, officer(issuer)),
            422,
            "guidance_required_before_stage",
        )
        await guide(client, issuer, p["id"], stage=FILING)
        r = await advance(client, p["id"], FILING, officer(issuer), note="发改部门备案完成")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["current_stage"] == FILING
        assert body["next_stage"] == CONDITIONS
        assert body["stages"][0]["reached_by"] == "officer:officer-wang"
        assert body["stages"][0]["note"] == "发改部门备案完成"
        assert body["stages"][0]["guidance_count"] == 1
        assert body["stages"][1]["guidance_count"] == 1
        (stored,) = await rows(runtime, Project)
        assert stored.current_stage == FILING

    async def test_no_skipping_no_going_back(self, api: API, issuer: DevIssuer) -> None:
        client, _ = api
        p = await register(client, issuer)
        for stage in (FILING, CONDITIONS, DESIGN):
            await guide(client, issuer, p["id"], stage=stage)
        r = await advance(client, p["id"], CONDITIONS, officer(issuer))
        assert problem(r, 422, "stage_skipped")["field"] == "stage"
        assert (await advance(client, p["id"], FILING, officer(issuer))).status_code == 200
        problem(
            await advance(client, p["id"], FILING, leader(issuer)), 422, "stage_already_reached"
        )
        problem(await advance(client, p["id"], DESIGN, leader(issuer)), 422, "stage_skipped")
        assert (await advance(client, p["id"], CONDITIONS, leader(issuer))).status_code == 200
        r = await advance(client, p["id"], FILING, leader(issuer))
        problem(r, 422, "stage_already_reached")

    async def test_who_may_mark_a_stage(self, api: API, issuer: DevIssuer) -> None:
        client, _ = api
        p = await register(client, issuer)
        await guide(client, issuer, p["id"])
        r = await advance(client, p["id"], FILING, officer(issuer, "officer-zhou"))
        problem(r, 403, "officer_not_assigned")
        for role in ("admin", "enterprise", "insurer"):
            r = await advance(client, p["id"], FILING, bearer(issuer, role, OWNER))
            problem(r, 403, "forbidden")
        r = await advance(client, p["id"], FILING, leader(issuer))
        assert r.status_code == 200
        assert r.json()["stages"][0]["reached_by"] == "leader:leader-zhao"

    async def test_stale_if_match_is_412(self, api: API, issuer: DevIssuer) -> None:
        client, runtime = api
        p = await register(client, issuer)
        await guide(client, issuer, p["id"], stage=FILING)
        await guide(client, issuer, p["id"], stage=CONDITIONS)
        etag = (await client.get(f"/projects/{p['id']}", headers=leader(issuer))).headers["etag"]
        r = await advance(client, p["id"], FILING, {**officer(issuer), "If-Match": etag})
        assert r.status_code == 200, r.text
        assert r.headers["etag"] != etag
        new_etag = r.headers["etag"]
        assert new_etag == f'"{r.json()["version"]}"'
        r = await advance(client, p["id"], CONDITIONS, {**leader(issuer), "If-Match": etag})
        problem(r, 412, "version_mismatch")
        r = await advance(client, p["id"], CONDITIONS, {**leader(issuer), "If-Match": "v2"})
        problem(r, 412, "if_match_invalid")
        (stored,) = await rows(runtime, Project)
        assert stored.current_stage == FILING
        r = await advance(client, p["id"], CONDITIONS, {**leader(issuer), "If-Match": new_etag})
        assert r.status_code == 200
        assert r.json()["current_stage"] == CONDITIONS

    async def test_whole_life_cycle_and_the_record_in_order(
        self, api: API, issuer: DevIssuer
    ) -> None:
        client, _ = api
        p = await register(client, issuer)
        for i, stage in enumerate(STAGES):
            sub = "officer-wang" if i % 2 == 0 else "officer-li"
            r = await guide(client, issuer, p["id"], sub=sub, advice=f"第{i + 1}阶段前的指导意见")
            assert r.status_code == 201, r.text
            assert r.json()["stage"] == stage
            r = await advance(client, p["id"], stage, officer(issuer, sub))
            assert r.status_code == 200, r.text
        body = r.json()
        assert body["is_completed"] is True
        assert body["current_stage"] == "production"
        assert body["current_stage_label"] == "投产"
        assert body["next_stage"] is None
        problem(await guide(client, issuer, p["id"]), 409, "project_completed")
        problem(
            await advance(client, p["id"], "production", leader(issuer)), 409, "project_completed"
        )

        got = await client.get(f"/projects/{p['id']}", headers=enterprise(issuer))
        timeline = got.json()["timeline"]
        assert [e["kind"] for e in timeline] == [
            "registered",
            "officer_assigned",
            "officer_assigned",
            *["guidance", "stage_reached"] * len(STAGES),
        ]
        times = [datetime.fromisoformat(e["at"]) for e in timeline]
        assert times == sorted(times)
        pairs = timeline[3:]
        for i, stage in enumerate(STAGES):
            advised, reached = pairs[2 * i], pairs[2 * i + 1]
            assert advised["stage"] == reached["stage"] == stage
            assert advised["guidance"]["advice"] == f"第{i + 1}阶段前的指导意见"
            assert datetime.fromisoformat(advised["at"]) <= datetime.fromisoformat(reached["at"])
        assert all(s["reached_at"] is not None for s in got.json()["stages"])
        assert [e["stage"] for e in timeline if e["kind"] == "stage_reached"] == STAGES

    async def test_racing_advances_reach_the_stage_once(self, api: API, issuer: DevIssuer) -> None:
        client, runtime = api
        p = await register(client, issuer)
        await guide(client, issuer, p["id"])
        results = await asyncio.gather(
            advance(client, p["id"], FILING, officer(issuer)),
            advance(client, p["id"], FILING, leader(issuer)),
        )
        # SQLite: the loser's versioned UPDATE finds the row changed (409); PostgreSQL: it waits
        # on the row lock, then sees the stage reached (422). Either way, reached once.
        assert sorted(r.status_code for r in results)[0] == 200
        (loser,) = [r for r in results if r.status_code != 200]
        assert (loser.status_code, loser.json()["code"]) in {
            (409, "project_changed"),
            (422, "stage_already_reached"),
        }
        (milestone,) = [m for m in await rows(runtime, ProjectMilestone) if m.reached_at]
        assert milestone.stage == FILING
        (stored,) = await rows(runtime, Project)
        assert stored.version == p["version"] + 1

    async def test_bad_input_names_the_field(self, api: API, issuer: DevIssuer) -> None:
        client, _ = api
        p = await register(client, issuer)
        r = await client.post(f"/projects/{p['id']}/stage", json={}, headers=leader(issuer))
        assert problem(r, 422, "validation_failed")["errors"][0]["field"] == "stage"
        r = await advance(client, p["id"], "ribbon_cutting", leader(issuer))
        assert problem(r, 422, "validation_failed")["errors"][0]["field"] == "stage"
