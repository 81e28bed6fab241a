"""One OpenAPI document for the suite: the gateway's own routes and every service's, as callers
reach them through the gateway (`/api/{service}/...`), behind the gateway's `/docs`."""

from __future__ import annotations

import asyncio
import copy
import hashlib
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response

from gateway.calls import CallResult, call_json
from gateway.config import UPSTREAM_NAMES
from gateway.context import GatewayRuntime
from gateway.proxy import BLOCKED_SEGMENTS, PROXY_METHODS

OPENAPI_VERSION: Final = "3.1.0"
# A document built while a service was unreachable is kept only this long (or less, when the
# configured cache is shorter), so the next request after it tries the service again.
DEGRADED_CACHE_SECONDS: Final = 3.0

# Component names a document may use (OpenAPI 3.1 §4.8.7.1).
COMPONENT_NAME: Final = re.compile(r"^[a-zA-Z0-9._-]+$")
_NAME_UNSAFE: Final = re.compile(r"[^a-zA-Z0-9._-]")

# Operations the proxy forwards (it refuses TRACE), as path-item keys.
_FORWARDED_METHODS: Final = frozenset(m.lower() for m in PROXY_METHODS)
_OPERATION_KEYS: Final = frozenset(
    {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
)
# Component kinds whose entries are renamed per service; security schemes are merged instead.
_PREFIXED_KINDS: Final = (
    "schemas",
    "responses",
    "parameters",
    "examples",
    "requestBodies",
    "headers",
    "links",
    "callbacks",
    "pathItems",
)

Json = dict[str, Any]


def _pointer_token(name: str) -> str:
    return name.replace("~", "~0").replace("/", "~1")


def _rewrite(node: Any, refs: Mapping[str, str]) -> Any:
    """A copy of `node` with every `$ref` (and discriminator mapping) in `refs` replaced."""
    if isinstance(node, dict):
        out: Json = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                out[key] = refs.get(value, value)
            elif key == "discriminator" and isinstance(value, dict):
                mapping = value.get("mapping")
                out[key] = {
                    **value,
                    **(
                        {"mapping": {k: refs.get(v, v) for k, v in mapping.items()}}
                        if isinstance(mapping, dict)
                        else {}
                    ),
                }
            else:
                out[key] = _rewrite(value, refs)
        return out
    if isinstance(node, list):
        return [_rewrite(item, refs) for item in node]
    return node


def _component_names(components: Json, prefix: str, taken: set[str]) -> dict[str, str]:
    """Each component's new `$ref`, keyed by its old one: prefixed, made safe and unique."""
    refs: dict[str, str] = {}
    for kind in _PREFIXED_KINDS:
        entries = components.get(kind)
        if not isinstance(entries, dict):
            continue
        for name in entries:
            base = prefix + _NAME_UNSAFE.sub("_", str(name))
            new, n = base, 1
            while f"{kind}/{new}" in taken:
                n += 1
                new = f"{base}_{n}"
            taken.add(f"{kind}/{new}")
            refs[f"#/components/{kind}/{_pointer_token(str(name))}"] = f"#/components/{kind}/{new}"
    return refs


def _same_scheme(a: Any, b: Any) -> bool:
    """Two security schemes accept the same credentials (descriptions aside)."""
    if not isinstance(a, dict) or not isinstance(b, dict):
        return False
    return {k: v for k, v in a.items() if k != "description"} == {
        k: v for k, v in b.items() if k != "description"
    }


def _is_forwarded(path: str) -> bool:
    segments = [s for s in path.split("/") if s]
    return not (segments and segments[0].lower() in BLOCKED_SEGMENTS)


@dataclass
class Unavailable:
    service: str
    reason: str


@dataclass
class Merger:
    """Builds the suite's document from the gateway's own and each service's."""

    gateway: Json
    server_url: str
    paths: Json = field(default_factory=dict)
    components: dict[str, Json] = field(default_factory=dict)
    tags: dict[str, Json] = field(default_factory=dict)
    tag_groups: list[Json] = field(default_factory=list)
    operation_ids: set[str] = field(default_factory=set)
    taken: set[str] = field(default_factory=set)
    services: list[Json] = field(default_factory=list)

    def _unique_operation_id(self, wanted: str) -> str:
        new, n = wanted, 1
        while new in self.operation_ids:
            n += 1
            new = f"{wanted}_{n}"
        self.operation_ids.add(new)
        return new

    def _add_components(self, components: Json, refs: Mapping[str, str]) -> None:
        for kind in _PREFIXED_KINDS:
            entries = components.get(kind)
            if not isinstance(entries, dict):
                continue
            target = self.components.setdefault(kind, {})
            prefix = f"#/components/{kind}/"
            for name, value in entries.items():
                new_ref = refs[prefix + _pointer_token(str(name))]
                target[new_ref[len(prefix) :]] = _rewrite(value, refs)

    def _add_security_schemes(self, schemes: Any, prefix: str) -> dict[str, str]:
        """Merge schemes by name; one that differs from a same-named one gets the prefix."""
        renamed: dict[str, str] = {}
        if not isinstance(schemes, dict):
            return renamed
        target = self.components.setdefault("securitySchemes", {})
        for name, scheme in schemes.items():
            if name not in target:
                target[name] = scheme
                continue
            if _same_scheme(target[name], scheme):
                continue
            new = prefix + _NAME_UNSAFE.sub("_", name)
            target[new] = scheme
            renamed[name] = new
        return renamed

    def _add_tags(self, declared: Any, used: Iterable[str], group: str) -> None:
        described = {t["name"]: t for t in declared or () if isinstance(t, dict) and "name" in t}
        names: list[str] = []
        for name in used:
            if name not in self.tags:
                self.tags[name] = {"name": name}
            if name not in names:
                names.append(name)
        for original, tag in described.items():
            name = original if group == "gateway" else f"{group}.{original}"
            if name in self.tags and "description" in tag:
                self.tags[name] = {**tag, "name": name}
        if names:
            self.tag_groups.append({"name": group, "tags": names})

    def add_gateway(self) -> None:
        """The gateway's own routes keep their paths and names (they are the suite's front)."""
        doc = self.gateway
        components = doc.get("components") or {}
        refs = _component_names(components, "", self.taken)
        self._add_components(components, refs)
        self._add_security_schemes(components.get("securitySchemes"), "gateway.")
        used: list[str] = []
        for path, item in (doc.get("paths") or {}).items():
            new_item = _rewrite(item, refs)
            for key, op in new_item.items():
                if key in _OPERATION_KEYS and isinstance(op, dict):
                    op["operationId"] = self._unique_operation_id(
                        str(op.get("operationId") or f"gateway.{key}{path}")
                    )
                    op["tags"] = op.get("tags") or ["gateway"]
                    used.extend(op["tags"])
            self.paths[path] = new_item
        self._add_tags(doc.get("tags"), used, "gateway")

    def add_service(self, name: str, doc: Json) -> None:
        """One service's document, its paths as the gateway serves them, its names prefixed."""
        prefix = f"{name}."
        components = doc.get("components") or {}
        refs = _component_names(components, prefix, self.taken)
        self._add_components(components, refs)
        schemes = self._add_security_schemes(components.get("securitySchemes"), prefix)
        default_security = doc.get("security")
        used: list[str] = []
        for path, item in (doc.get("paths") or {}).items():
            if not isinstance(item, dict) or not isinstance(path, str) or not _is_forwarded(path):
                continue
            public = f"/api/{name}{path if path.startswith('/') else '/' + path}"
            if public in self.paths:
                continue  # a gateway route answers this path itself
            new_item: Json = {}
            for key, value in _rewrite(item, refs).items():
                if key == "servers":
                    continue  # callers reach every operation at the gateway
                if key in _OPERATION_KEYS:
                    if key not in _FORWARDED_METHODS or not isinstance(value, dict):
                        continue
                    value = self._service_operation(name, key, path, value, default_security)
                    if schemes and "security" in value:
                        value["security"] = [
                            {schemes.get(k, k): v for k, v in req.items()}
                            for req in value["security"]
                            if isinstance(req, dict)
                        ]
                    used.extend(value["tags"])
                new_item[key] = value
            if any(k in _OPERATION_KEYS or k == "$ref" for k in new_item):
                self.paths[public] = new_item
        self._add_tags(doc.get("tags"), used, name)
        info = doc.get("info") or {}
        self.services.append(
            {
                "name": name,
                "title": str(info.get("title", name)),
                "version": str(info.get("version", "")),
                "prefix": f"/api/{name}",
            }
        )

    def _service_operation(
        self, service: str, method: str, path: str, op: Json, default_security: Any
    ) -> Json:
        op.pop("servers", None)
        op["tags"] = [f"{service}.{t}" for t in op.get("tags") or ()] or [service]
        op["operationId"] = self._unique_operation_id(
            f"{service}.{op.get('operationId') or method + path}"
        )
        if "security" not in op and isinstance(default_security, list):
            op["security"] = copy.deepcopy(default_security)
        return op

    def document(self, unavailable: list[Unavailable]) -> Json:
        info = dict(self.gateway.get("info") or {})
        lines = [str(info.get("description") or "").strip(), "", "Services in this document:"]
        lines += [f"- `{s['prefix']}`: {s['title']} {s['version']}".rstrip() for s in self.services]
        if unavailable:
            lines += [
                "",
                "**Unavailable while this document was built** (their operations are missing; "
                "retry in a few seconds):",
            ]
            lines += [f"- {u.service}: {u.reason}" for u in unavailable]
        info["description"] = "\n".join(lines).strip()
        components = {k: v for k, v in self.components.items() if v}
        doc: Json = {
            "openapi": OPENAPI_VERSION,
            "info": info,
            "servers": [{"url": self.server_url, "description": "This gateway"}],
            "paths": self.paths,
            "components": components,
            "tags": list(self.tags.values()),
            "x-tagGroups": self.tag_groups,
            "x-services": self.services,
            "x-unavailable-services": [
                {"service": u.service, "reason": u.reason} for u in unavailable
            ],
        }
        if "security" in self.gateway:
            doc["security"] = self.gateway["security"]
        return doc


def _service_document(result: CallResult) -> Json | str:
    """The service's document, or why it cannot be used."""
    if result.error is not None or result.status is None:
        return result.error or "unavailable"
    if result.status != 200:
        return f"answered {result.status}"
    body = result.body
    if (
        not isinstance(body, dict)
        or not str(body.get("openapi", "")).startswith("3.1")
        or not isinstance(body.get("paths"), dict)
    ):
        return "not an OpenAPI 3.1 document"
    return body


def merge(gateway: Json, services: Mapping[str, Json | str], *, server_url: str = "/") -> Json:
    """The suite's document: the gateway's own, then each service's (or why it is missing)."""
    merger = Merger(copy.deepcopy(gateway), server_url)
    merger.add_gateway()
    unavailable: list[Unavailable] = []
    for name, doc in services.items():
        if isinstance(doc, str):
            unavailable.append(Unavailable(name, doc))
        else:
            merger.add_service(name, doc)
    return merger.document(unavailable)


@dataclass
class Built:
    body: bytes
    etag: str
    expires_at: float


class SuiteOpenApi:
    """The merged document, rebuilt from the services when its cache time has passed."""

    def __init__(
        self,
        app: FastAPI,
        runtime: GatewayRuntime,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._app = app
        self._runtime = runtime
        self._clock = clock
        self._built: Built | None = None
        self._lock = asyncio.Lock()

    async def current(self, server_url: str) -> Built:
        built = self._built
        if built is not None and self._clock() < built.expires_at:
            return built
        async with self._lock:
            # Whoever waited on the lock finds the document another request just built.
            built = self._built
            if built is not None and self._clock() < built.expires_at:
                return built
            self._built = built = await self._build(server_url)
            return built

    async def _build(self, server_url: str) -> Built:
        settings = self._runtime.settings
        results = await asyncio.gather(
            *(
                call_json(
                    self._runtime.upstreams,
                    name,
                    "/openapi.json",
                    timeout=settings.health_timeout,
                )
                for name in UPSTREAM_NAMES
            )
        )
        services = {
            name: _service_document(r) for name, r in zip(UPSTREAM_NAMES, results, strict=True)
        }
        doc = merge(self._app.openapi(), services, server_url=server_url)
        body = orjson.dumps(doc)
        ttl = settings.openapi_cache_seconds
        if doc["x-unavailable-services"]:
            ttl = min(ttl, DEGRADED_CACHE_SECONDS)
        return Built(
            body=body,
            etag='"' + hashlib.sha256(body).hexdigest()[:32] + '"',
            expires_at=self._clock() + ttl,
        )


def _matches(if_none_match: str, etag: str) -> bool:
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or etag in tags


def install_openapi(app: FastAPI, runtime: GatewayRuntime) -> None:
    """Serve the suite's document at the app's OpenAPI URL, which `/docs` and `/redoc` load."""
    url = app.openapi_url
    if not url:
        return
    suite = SuiteOpenApi(app, runtime)

    async def openapi_document(request: Request) -> Response:
        built = await suite.current(request.scope.get("root_path", "") or "/")
        headers = {"ETag": built.etag, "Cache-Control": "no-cache"}
        if _matches(request.headers.get("if-none-match", ""), built.etag):
            return Response(status_code=304, headers=headers)
        return Response(built.body, media_type="application/json", headers=headers)

    # FastAPI's own route serves only the gateway's document; the docs pages keep reading
    # `app.openapi_url`, which now answers the suite's.
    app.router.routes[:] = [r for r in app.router.routes if getattr(r, "path", None) != url]
    app.add_route(url, openapi_document, methods=["GET"], include_in_schema=False)
