"""Problem details (RFC 9457) for every error of an app with the kernel's handlers installed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import httpx
import pytest
from fastapi import FastAPI, Query
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError, OperationalError

from kernel.errors import (
    PROBLEM_BASE,
    PROBLEM_JSON,
    Conflict,
    Forbidden,
    Gone,
    NotFound,
    PreconditionFailed,
    ProblemError,
    RuleViolated,
    ServiceUnavailable,
    Unauthorized,
    install_problem_handlers,
)

SECRET = "postgresql://admin:hunter2@db.internal/credit"


class PermitItem(BaseModel):
    name: str = Field(min_length=1, max_length=20)
    quantity: int = Field(gt=0)


class LicenceLapsed(RuleViolated):
    code, title, title_zh = "licence_lapsed", "Licence lapsed", "许可证已过期"


def build_app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/items/{item_id}")
    async def read_item(
        item_id: int, limit: Annotated[int, Query(ge=1, le=50)] = 10
    ) -> dict[str, int]:
        return {"item_id": item_id, "limit": limit}

    @app.post("/items", status_code=201)
    async def create_item(item: PermitItem) -> PermitItem:
        return item

    @app.get("/conflict")
    async def conflict() -> None:
        raise Conflict("item 42 already exists", code="item_exists", field="name", existing_id="42")

    @app.get("/lapsed")
    async def lapsed() -> None:
        raise LicenceLapsed("licence QD-001 lapsed on 2026-01-31", field="licence_no")

    @app.get("/unauthorized")
    async def unauthorized() -> None:
        raise Unauthorized("a bearer token is required")

    @app.get("/gone")
    async def gone() -> None:
        raise Gone(
            "events 1..9 are past retention", code="replay_retention_exceeded", oldest_available=10
        )

    @app.get("/database-down")
    async def database_down() -> None:
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError(SECRET))

    @app.get("/integrity")
    async def integrity() -> None:
        raise IntegrityError("INSERT INTO x", {}, Exception(f"duplicate key {SECRET}"))

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError(f"could not connect to {SECRET}")

    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


def problem(r: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM_JSON
    body: dict[str, object] = r.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] == PROBLEM_BASE + code
    assert body["instance"] == r.request.url.path
    assert isinstance(body["title"], str)
    assert body["title"]
    assert isinstance(body["detail"], str)
    return body


class TestFrameworkErrors:
    async def test_unknown_route_is_404(self, client: httpx.AsyncClient) -> None:
        body = problem(await client.get("/nowhere"), 404, "not_found")
        assert body["title"] == "Not Found"

    async def test_wrong_method_is_405_with_allow(self, client: httpx.AsyncClient) -> None:
        r = await client.delete("/items")
        problem(r, 405, "method_not_allowed")
        assert r.headers["allow"] == "POST"

    async def test_unknown_route_title_is_chinese_for_zh_callers(
        self, client: httpx.AsyncClient
    ) -> None:
        r = await client.get("/nowhere", headers={"Accept-Language": "zh-CN"})
        assert r.json()["title"] != "Not Found"


class TestValidation:
    async def test_each_body_field_with_rule_message_and_location(
        self, client: httpx.AsyncClient
    ) -> None:
        r = await client.post("/items", json={"name": "", "quantity": 0})
        body = problem(r, 422, "validation_failed")
        assert body["title"] == "Request validation failed"
        assert body["detail"] == "invalid field(s): name, quantity"
        errors = {e["field"]: e for e in body["errors"]}  # type: ignore[attr-defined]
        assert set(errors) == {"name", "quantity"}
        assert errors["name"]["in"] == "body"
        assert errors["name"]["rule"] == "string_too_short"
        assert "at least 1 character" in errors["name"]["message"]
        assert errors["quantity"]["rule"] == "greater_than"
        assert "greater than 0" in errors["quantity"]["message"]

    async def test_path_and_query_fields_say_where_they_came_from(
        self, client: httpx.AsyncClient
    ) -> None:
        r = await client.get("/items/abc", params={"limit": 0})
        body = problem(r, 422, "validation_failed")
        located = sorted((e["field"], e["in"], e["rule"]) for e in body["errors"])  # type: ignore[attr-defined]
        assert located == [
            ("item_id", "path", "int_parsing"),
            ("limit", "query", "greater_than_equal"),
        ]

    async def test_missing_body_and_missing_field(self, client: httpx.AsyncClient) -> None:
        body = problem(await client.post("/items"), 422, "validation_failed")
        assert [(e["field"], e["rule"]) for e in body["errors"]] == [("body", "missing")]  # type: ignore[attr-defined]
        body = problem(await client.post("/items", json={"name": "x"}), 422, "validation_failed")
        assert [(e["field"], e["rule"]) for e in body["errors"]] == [("quantity", "missing")]  # type: ignore[attr-defined]

    async def test_malformed_json_is_422_not_500(self, client: httpx.AsyncClient) -> None:
        r = await client.post(
            "/items", content=b'{"name": ', headers={"content-type": "application/json"}
        )
        body = problem(r, 422, "validation_failed")
        assert [e["rule"] for e in body["errors"]] == ["json_invalid"]  # type: ignore[attr-defined]

    async def test_chinese_title(self, client: httpx.AsyncClient) -> None:
        r = await client.post(
            "/items", json={"name": "", "quantity": 1}, headers={"Accept-Language": "zh-CN"}
        )
        assert problem(r, 422, "validation_failed")["title"] == "请求参数校验失败"


class TestProblemErrors:
    async def test_status_code_detail_and_extra(self, client: httpx.AsyncClient) -> None:
        body = problem(await client.get("/conflict"), 409, "item_exists")
        assert body["title"] == "Conflict"
        assert body["detail"] == "item 42 already exists"
        assert body["field"] == "name"
        assert body["existing_id"] == "42"

    async def test_subclass_brings_its_own_code_and_titles(self, client: httpx.AsyncClient) -> None:
        body = problem(await client.get("/lapsed"), 422, "licence_lapsed")
        assert body["title"] == "Licence lapsed"
        assert body["field"] == "licence_no"
        zh = problem(
            await client.get("/lapsed", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}),
            422,
            "licence_lapsed",
        )
        assert zh["title"] == "许可证已过期"
        assert zh["detail"] == "licence QD-001 lapsed on 2026-01-31"

    async def test_unauthorized_carries_the_bearer_challenge(
        self, client: httpx.AsyncClient
    ) -> None:
        r = await client.get("/unauthorized")
        problem(r, 401, "unauthorized")
        assert r.headers["www-authenticate"] == "Bearer"

    async def test_gone_with_extension_member(self, client: httpx.AsyncClient) -> None:
        body = problem(await client.get("/gone"), 410, "replay_retention_exceeded")
        assert body["oldest_available"] == 10

    async def test_english_unless_chinese_is_asked_first(self, client: httpx.AsyncClient) -> None:
        for language in ("", "en-US", "en-US,zh-CN;q=0.8"):
            r = await client.get("/conflict", headers={"Accept-Language": language})
            assert r.json()["title"] == "Conflict"
        for language in ("zh-CN", "zh", "ZH-cn"):
            r = await client.get("/conflict", headers={"Accept-Language": language})
            assert r.json()["title"] == "状态冲突"

    @pytest.mark.parametrize(
        ("cls", "status", "code", "title_zh"),
        [
            (Unauthorized, 401, "unauthorized", "需要身份认证"),
            (Forbidden, 403, "forbidden", "无权访问"),
            (NotFound, 404, "not_found", "未找到"),
            (Conflict, 409, "conflict", "状态冲突"),
            (Gone, 410, "gone", "已不可用"),
            (PreconditionFailed, 412, "precondition_failed", "版本不一致"),
            (RuleViolated, 422, "rule_violated", "不符合业务规则"),
            (ServiceUnavailable, 503, "service_unavailable", "服务暂不可用"),
        ],
    )
    def test_every_kernel_error_knows_its_status_and_titles(
        self, cls: type[ProblemError], status: int, code: str, title_zh: str
    ) -> None:
        exc = cls("why")
        assert (exc.status, exc.code, exc.title_zh, exc.detail) == (status, code, title_zh, "why")
        assert str(exc) == "why"
        assert cls("why", code="specific").code == "specific"
        assert cls.code == code  # overriding one instance never changes the class


class TestInfrastructureErrors:
    async def test_database_down_is_503_with_retry_after_and_no_leak(
        self, client: httpx.AsyncClient
    ) -> None:
        r = await client.get("/database-down")
        problem(r, 503, "database_unavailable")
        assert r.headers["retry-after"] == "5"
        assert "hunter2" not in r.text

    async def test_integrity_race_is_409_without_leaking_sql(
        self, client: httpx.AsyncClient
    ) -> None:
        r = await client.get("/integrity")
        problem(r, 409, "conflict")
        assert "hunter2" not in r.text
        assert "INSERT" not in r.text

    async def test_unexpected_exception_is_500_without_leaking_the_message(
        self, client: httpx.AsyncClient
    ) -> None:
        r = await client.get("/boom", headers={"Accept-Language": "zh-CN"})
        body = problem(r, 500, "internal_error")
        assert body["title"] == "服务内部错误"
        assert body["detail"] == "an unexpected error occurred"
        assert "hunter2" not in r.text
        assert "RuntimeError" not in r.text


class TestRequestId:
    @pytest.mark.parametrize(
        ("method", "path"),
        [("GET", "/nowhere"), ("GET", "/conflict"), ("POST", "/items"), ("GET", "/boom")],
    )
    async def test_request_id_is_echoed_in_every_problem(
        self, client: httpx.AsyncClient, method: str, path: str
    ) -> None:
        r = await client.request(method, path, headers={"X-Request-ID": "req-7f3a9c"})
        assert r.status_code >= 400
        assert r.json()["request_id"] == "req-7f3a9c"

    async def test_no_request_id_member_without_the_header(self, client: httpx.AsyncClient) -> None:
        assert "request_id" not in (await client.get("/conflict")).json()
