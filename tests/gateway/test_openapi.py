"""The suite's one OpenAPI document at the gateway, merged from the real services' documents."""

from __future__ import annotations

import asyncio
import importlib
import re
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from fastapi.responses import Response

from gateway.config import UPSTREAM_NAMES
from gateway.main import DOCS_CSP, create_app
from gateway.openapi import COMPONENT_NAME, merge
from kernel.settings import AuthSettings
from tests.gateway.conftest import GatewayFactory
from tests.gateway.support import gateway_settings
from tests.support import eventually, free_port, serving

OPERATIONS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_PARAM = re.compile(r"{([^}]+)}")


@pytest.fixture(scope="module")
def service_documents() -> dict[str, dict[str, Any]]:
    """Each real service's own document, as its app generates it."""
    return {
        name: importlib.import_module(f"services.{name}.main").app.openapi()
        for name in UPSTREAM_NAMES
    }


def document_app(doc: dict[str, Any], fetches: Counter[str], name: str) -> FastAPI:
    """A stand-in that serves one service's real document at /openapi.json."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    body = orjson.dumps(doc)

    @app.get("/openapi.json")
    async def openapi() -> Response:
        fetches[name] += 1
        return Response(body, media_type="application/json")

    return app


@pytest.fixture(scope="module")
def fetches() -> Counter[str]:
    return Counter()


@pytest.fixture(autouse=True)
def _count_from_zero(fetches: Counter[str]) -> None:
    fetches.clear()


@pytest.fixture(scope="module")
async def document_urls(
    service_documents: dict[str, dict[str, Any]], fetches: Counter[str]
) -> AsyncIterator[dict[str, str]]:
    async with AsyncExitStack() as stack:
        yield {
            name: await stack.enter_async_context(serving(document_app(doc, fetches, name)))
            for name, doc in service_documents.items()
        }


@pytest.fixture
def gateway(make_gateway: GatewayFactory, document_urls: dict[str, str]) -> Any:
    def make(urls: dict[str, str] | None = None, **overrides: Any) -> Any:
        return make_gateway(urls={**document_urls, **(urls or {})}, **overrides)

    return make


@pytest.fixture(scope="module")
def gateway_own(auth_settings: AuthSettings, gateway_database: str) -> dict[str, Any]:
    """The gateway's document of its own routes (FastAPI's, before merging)."""
    urls = {name: "http://127.0.0.1:9" for name in UPSTREAM_NAMES}
    settings = gateway_settings(urls, auth=auth_settings, database_url=gateway_database)
    return create_app(settings).openapi()


async def merged(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    doc: dict[str, Any] = response.json()
    return doc


def resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = doc
    for token in ref[2:].split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict), ref
        assert token in node, f"unresolved $ref {ref}"
        node = node[token]
    return node


def refs_in(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            elif key == "discriminator" and isinstance(value, dict):
                yield from (v for v in (value.get("mapping") or {}).values())
            else:
                yield from refs_in(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs_in(item)


def operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method in OPERATIONS:
                yield path, method, op


def assert_valid_openapi(doc: dict[str, Any], own_paths: set[str]) -> None:
    """The rules of OpenAPI 3.1 a merge could break (no validator package is installed)."""
    assert doc["openapi"] == "3.1.0"
    assert doc["info"]["title"]
    assert doc["info"]["version"]
    for ref in refs_in(doc):
        resolve(doc, ref)
    for kind, entries in doc["components"].items():
        for name in entries:
            assert COMPONENT_NAME.fullmatch(name), f"components.{kind}: {name!r}"
    ids = [op["operationId"] for _, _, op in operations(doc)]
    assert len(ids) == len(set(ids)), [i for i, n in Counter(ids).items() if n > 1]
    declared_tags = {t["name"] for t in doc["tags"]}
    schemes = set(doc["components"].get("securitySchemes", {}))
    for path, method, op in operations(doc):
        assert path.startswith("/api/") or path in own_paths, path
        assert op["responses"], (path, method)
        assert set(op["tags"]) <= declared_tags, (path, op["tags"])
        for requirement in op.get("security", ()):
            assert set(requirement) <= schemes, (path, requirement)
        shared = doc["paths"][path].get("parameters", [])
        in_path = {
            p["name"]
            for p in [*shared, *op.get("parameters", [])]
            if "$ref" not in p and p["in"] == "path"
        }
        assert set(_PARAM.findall(path)) == in_path, (path, method, in_path)
    grouped = {t for g in doc["x-tagGroups"] for t in g["tags"]}
    assert grouped == declared_tags


class TestMergedDocument:
    async def test_is_a_valid_openapi_31_document(
        self, gateway: Any, gateway_own: dict[str, Any]
    ) -> None:
        async with gateway() as client:
            doc = await merged(client)
        assert_valid_openapi(doc, set(gateway_own["paths"]))
        assert doc["x-unavailable-services"] == []
        assert doc["servers"] == [{"url": "/", "description": "This gateway"}]

    async def test_every_forwarded_service_operation_is_there_under_its_prefix(
        self, gateway: Any, service_documents: dict[str, dict[str, Any]]
    ) -> None:
        async with gateway() as client:
            doc = await merged(client)
        for name, own in service_documents.items():
            for path, item in own["paths"].items():
                if path.split("/")[1] in ("events", "metrics"):
                    continue
                public = f"/api/{name}{path}"
                assert public in doc["paths"], public
                methods = {m for m in item if m in OPERATIONS}
                assert {m for m in doc["paths"][public] if m in OPERATIONS} == methods
            for schema in own["components"]["schemas"]:
                assert f"{name}.{schema}" in doc["components"]["schemas"]
        assert {s["name"] for s in doc["x-services"]} == set(UPSTREAM_NAMES)

    async def test_the_gateways_own_routes_keep_their_paths(
        self, gateway: Any, gateway_own: dict[str, Any]
    ) -> None:
        async with gateway() as client:
            doc = await merged(client)
        for path, item in gateway_own["paths"].items():
            assert set(doc["paths"][path]) == set(item)
        profile = doc["paths"]["/api/enterprises/{uscc}/profile"]["get"]
        ok = profile["responses"]["200"]["content"]["application/json"]["schema"]
        assert ok == {"$ref": "#/components/schemas/EnterpriseProfile"}
        schema = doc["components"]["schemas"]["EnterpriseProfile"]
        assert schema["examples"][0]["parts"]["credit"]["status"] == "ok"
        assert profile["security"] == [{"HTTPBearer": []}]

    async def test_paths_the_gateway_never_forwards_are_left_out(
        self, gateway: Any, service_documents: dict[str, dict[str, Any]]
    ) -> None:
        # The services do document their replay endpoint; callers of the gateway cannot reach it.
        assert all("/events" in d["paths"] for d in service_documents.values())
        async with gateway() as client:
            doc = await merged(client)
        blocked = [
            p
            for p in doc["paths"]
            if p.startswith(tuple(f"/api/{n}/" for n in UPSTREAM_NAMES))
            and p.split("/")[3] in ("events", "metrics")
        ]
        assert blocked == []

    async def test_references_point_at_the_services_renamed_schemas(self, gateway: Any) -> None:
        async with gateway() as client:
            doc = await merged(client)
        standing = doc["paths"]["/api/credit/standing/{uscc}"]["get"]
        ok = standing["responses"]["200"]["content"]["application/json"]["schema"]
        assert ok == {"$ref": "#/components/schemas/credit.StandingRead"}
        read = doc["components"]["schemas"]["credit.StandingRead"]
        assert all(r.startswith("#/components/schemas/credit.") for r in refs_in(read)), list(
            refs_in(read)
        )
        assert standing["operationId"].startswith("credit.")
        assert standing["tags"] == ["credit.public"]

    async def test_tags_are_grouped_by_service_and_schemes_merged(self, gateway: Any) -> None:
        async with gateway() as client:
            doc = await merged(client)
        groups = {g["name"]: g["tags"] for g in doc["x-tagGroups"]}
        assert list(groups) == ["gateway", *UPSTREAM_NAMES]
        for name in UPSTREAM_NAMES:
            assert groups[name]
            assert all(t.startswith(f"{name}.") for t in groups[name])
        assert "aggregation" in groups["gateway"]
        # Every service and the gateway take the same bearer token: one scheme.
        assert doc["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
        assert not any(k.endswith(".HTTPBearer") for k in doc["components"]["securitySchemes"])


class TestUnreachableService:
    async def test_it_is_named_and_the_rest_is_served(
        self, gateway: Any, gateway_own: dict[str, Any]
    ) -> None:
        async with gateway(urls={"insurance": f"http://127.0.0.1:{free_port()}"}) as client:
            doc = await merged(client)
        assert [u["service"] for u in doc["x-unavailable-services"]] == ["insurance"]
        assert "insurance" in doc["info"]["description"].split("Unavailable", 1)[1]
        assert not any(p.startswith("/api/insurance/") for p in doc["paths"])
        assert any(p.startswith("/api/inspection/") for p in doc["paths"])
        assert_valid_openapi(doc, set(gateway_own["paths"]))

    @pytest.mark.parametrize(
        ("status", "body", "reason"),
        [
            (200, {"swagger": "2.0", "paths": {}}, "not an OpenAPI 3.1 document"),
            (200, ["not", "a", "document"], "not an OpenAPI 3.1 document"),
            (500, {"detail": "boom"}, "answered 500"),
        ],
    )
    async def test_a_service_answering_something_else_is_unavailable(
        self, gateway: Any, status: int, body: Any, reason: str
    ) -> None:
        app = FastAPI(openapi_url=None)

        @app.get("/openapi.json")
        async def wrong() -> Response:
            return Response(orjson.dumps(body), status_code=status, media_type="application/json")

        async with serving(app) as url, gateway(urls={"permits": url}) as client:
            doc = await merged(client)
        assert doc["x-unavailable-services"] == [{"service": "permits", "reason": reason}]
        assert not any(p.startswith("/api/permits/") for p in doc["paths"])

    async def test_it_is_tried_again_soon_after(
        self, gateway: Any, service_documents: dict[str, dict[str, Any]], fetches: Counter[str]
    ) -> None:
        port = free_port()
        async with gateway(urls={"insurance": f"http://127.0.0.1:{port}"}) as client:
            first = await merged(client)
            assert [u["service"] for u in first["x-unavailable-services"]] == ["insurance"]
            app = document_app(service_documents["insurance"], fetches, "insurance")
            async with serving(app, port=port):
                # Not on every request (a down service is not hammered by docs readers) ...
                again = await merged(client)
                assert again["x-unavailable-services"] == first["x-unavailable-services"]
                assert fetches["insurance"] == 0

                # ... but within seconds, well before the normal cache time (60 s) ends.
                async def complete() -> dict[str, Any] | None:
                    doc = await merged(client)
                    return None if doc["x-unavailable-services"] else doc

                doc = await eventually(complete, timeout=15, interval=0.25)
        assert "/api/insurance/enterprises/{uscc}/service-history" in doc["paths"]
        assert fetches["insurance"] == 1


class TestCaching:
    async def test_the_services_are_read_once_within_the_cache_time(
        self, gateway: Any, fetches: Counter[str]
    ) -> None:
        async with gateway(openapi_cache_seconds=60) as client:
            first = await client.get("/openapi.json")
            second = await client.get("/openapi.json")
        assert first.content == second.content
        assert first.headers["etag"] == second.headers["etag"]
        assert fetches == dict.fromkeys(UPSTREAM_NAMES, 1)

    async def test_concurrent_first_requests_build_it_once(
        self, gateway: Any, fetches: Counter[str]
    ) -> None:
        async with gateway() as client:
            answers = await asyncio.gather(*(client.get("/openapi.json") for _ in range(5)))
        assert {a.status_code for a in answers} == {200}
        assert fetches == dict.fromkeys(UPSTREAM_NAMES, 1)

    async def test_without_a_cache_time_every_request_rebuilds(
        self, gateway: Any, fetches: Counter[str]
    ) -> None:
        async with gateway(openapi_cache_seconds=0) as client:
            await client.get("/openapi.json")
            await client.get("/openapi.json")
        assert fetches == dict.fromkeys(UPSTREAM_NAMES, 2)

    async def test_a_matching_etag_is_304(self, gateway: Any) -> None:
        async with gateway() as client:
            first = await client.get("/openapi.json")
            etag = first.headers["etag"]
            again = await client.get("/openapi.json", headers={"If-None-Match": etag})
            other = await client.get("/openapi.json", headers={"If-None-Match": '"other"'})
        assert again.status_code == 304
        assert again.content == b""
        assert again.headers["etag"] == etag
        assert other.status_code == 200


class TestDocsPages:
    @pytest.mark.parametrize("page", ["/docs", "/redoc"])
    async def test_the_pages_load_the_merged_document(self, gateway: Any, page: str) -> None:
        async with gateway() as client:
            response = await client.get(page)
            document = await client.get("/openapi.json")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        assert "'/openapi.json'" in response.text or '"/openapi.json"' in response.text
        assert response.headers["content-security-policy"] == DOCS_CSP.decode()
        assert document.json()["x-services"]


class TestMerge:
    """The merge on small documents, for what the services' documents do not show today."""

    @staticmethod
    def gateway_doc() -> dict[str, Any]:
        return {
            "openapi": "3.1.0",
            "info": {"title": "Gateway", "version": "1"},
            "paths": {},
            "components": {
                "securitySchemes": {"Key": {"type": "apiKey", "in": "header", "name": "X-Key"}}
            },
        }

    def test_names_refs_methods_and_schemes_are_rewritten(self) -> None:
        service = {
            "openapi": "3.1.0",
            "info": {"title": "S", "version": "2"},
            "servers": [{"url": "http://internal:8001"}],
            "security": [{"Key": []}],
            "paths": {
                "/pets": {
                    "servers": [{"url": "http://internal:8001"}],
                    "get": {
                        "operationId": "list",
                        "responses": {"200": {"$ref": "#/components/responses/Ok"}},
                    },
                    "post": {"operationId": "list", "responses": {"201": {"description": "made"}}},
                    "trace": {"operationId": "trace", "responses": {"200": {"description": "x"}}},
                },
                "/shared": {"$ref": "#/components/pathItems/Shared"},
                "/Metrics/x": {"get": {"operationId": "m", "responses": {}}},
            },
            "components": {
                "schemas": {
                    "Pet[Cat]": {
                        "oneOf": [{"$ref": "#/components/schemas/a~1b"}],
                        "discriminator": {
                            "propertyName": "kind",
                            "mapping": {"ab": "#/components/schemas/a~1b"},
                        },
                    },
                    "a/b": {"type": "object"},
                },
                "responses": {
                    "Ok": {
                        "description": "ok",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/Pet[Cat]"}
                            }
                        },
                    }
                },
                "pathItems": {"Shared": {"get": {"responses": {"200": {"description": "x"}}}}},
                "securitySchemes": {"Key": {"type": "apiKey", "in": "query", "name": "key"}},
            },
        }
        doc = merge(self.gateway_doc(), {"svc": service, "down": "timeout"})
        assert set(doc["paths"]) == {"/api/svc/pets", "/api/svc/shared"}
        pets = doc["paths"]["/api/svc/pets"]
        assert set(pets) == {"get", "post"}
        assert pets["get"]["operationId"] == "svc.list"
        assert pets["post"]["operationId"] == "svc.list_2"
        assert pets["get"]["responses"]["200"] == {"$ref": "#/components/responses/svc.Ok"}
        assert pets["get"]["tags"] == ["svc"]
        # The service's own Key differs from the gateway's: renamed, and its use follows.
        assert pets["get"]["security"] == [{"svc.Key": []}]
        assert doc["components"]["securitySchemes"]["Key"]["in"] == "header"
        assert doc["components"]["securitySchemes"]["svc.Key"]["in"] == "query"
        schemas = doc["components"]["schemas"]
        assert set(schemas) == {"svc.Pet_Cat_", "svc.a_b"}
        assert schemas["svc.Pet_Cat_"]["oneOf"] == [{"$ref": "#/components/schemas/svc.a_b"}]
        assert schemas["svc.Pet_Cat_"]["discriminator"]["mapping"] == {
            "ab": "#/components/schemas/svc.a_b"
        }
        assert doc["paths"]["/api/svc/shared"] == {"$ref": "#/components/pathItems/svc.Shared"}
        assert "servers" not in pets
        assert doc["servers"] == [{"url": "/", "description": "This gateway"}]
        assert doc["x-unavailable-services"] == [{"service": "down", "reason": "timeout"}]
        for ref in refs_in(doc):
            resolve(doc, ref)
