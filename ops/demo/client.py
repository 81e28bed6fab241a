"""The demo loader's only way in: the gateway's public API, with development tokens."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Final

import httpx

from kernel.auth.dev import DevIssuer

# The gateway answers 429 when a caller's bucket is empty and 502-504 while an upstream
# restarts or its breaker is open: all say "later", with Retry-After where it knows when.
_RETRY_STATUSES: Final = frozenset({429, 502, 503, 504})
_ATTEMPTS: Final = 8
_MAX_WAIT_SECONDS: Final = 5.0


@dataclass
class Tally:
    """What a run did, per kind of thing: created, found already there, failed (by code)."""

    created: Counter[str] = field(default_factory=Counter)
    existing: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    failures: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    examples: dict[str, str] = field(default_factory=dict)

    def fail(self, kind: str, code: str, detail: str) -> None:
        self.failed[kind] += 1
        self.failures[kind][code] += 1
        self.examples.setdefault(f"{kind}:{code}", detail[:300])

    def as_dict(self) -> dict[str, Any]:
        kinds = sorted(set(self.created) | set(self.existing) | set(self.failed))
        return {
            kind: {
                "created": self.created[kind],
                "existing": self.existing[kind],
                "failed": self.failed[kind],
                **({"failures": dict(self.failures[kind])} if self.failures[kind] else {}),
            }
            for kind in kinds
        }


class ApiFailure(Exception):
    """A request the suite refused or could not answer; `code` is the problem's stable code."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class Answer:
    """A successful response: its body and whether an Idempotency-Key replayed it."""

    status: int
    body: Any
    replayed: bool


class Gateway:
    """Bounded-concurrency calls to `/api/...` as a role and subject, retried when told to."""

    def __init__(self, base_url: str, issuer: DevIssuer, concurrency: int, tally: Tally) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            timeout=httpx.Timeout(60.0, connect=10.0),
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        )
        self._issuer = issuer
        self._tokens: dict[tuple[str, str], str] = {}
        self._slots = asyncio.Semaphore(concurrency)
        self.tally = tally
        self.requests = 0

    async def aclose(self) -> None:
        await self._client.aclose()

    def _auth(self, role: str, subject: str) -> dict[str, str]:
        if role == "public":
            return {}
        token = self._tokens.get((role, subject))
        if token is None:
            token = self._issuer.mint(role, subject)
            self._tokens[(role, subject)] = token
        return {"Authorization": f"Bearer {token}"}

    async def call(
        self,
        method: str,
        path: str,
        *,
        role: str = "public",
        subject: str = "anonymous",
        body: Any = None,
        params: dict[str, Any] | None = None,
        key: str | None = None,
        if_match: int | None = None,
    ) -> Answer:
        """The 2xx answer to one request, or ApiFailure with the problem's code."""
        headers = self._auth(role, subject)
        if key is not None:
            headers["Idempotency-Key"] = key
        if if_match is not None:
            headers["If-Match"] = f'"{if_match}"'
        last: ApiFailure | None = None
        for attempt in range(_ATTEMPTS):
            async with self._slots:
                self.requests += 1
                try:
                    response = await self._client.request(
                        method, f"/api/{path}", json=body, params=params, headers=headers
                    )
                except httpx.TransportError as exc:
                    # A write without a key might have happened before the connection broke:
                    # repeating it could act twice, so only reads and keyed writes are retried.
                    last = ApiFailure(0, "transport_error", repr(exc))
                    if method != "GET" and key is None:
                        raise last from exc
                    response = None
            if response is None:
                await asyncio.sleep(min(_MAX_WAIT_SECONDS, 0.2 * 2**attempt))
                continue
            if response.status_code < 300:
                return Answer(
                    response.status_code,
                    response.json() if response.content else None,
                    response.headers.get("Idempotent-Replayed") == "true",
                )
            failure = _failure(response)
            if response.status_code not in _RETRY_STATUSES:
                raise failure
            last = failure
            await asyncio.sleep(_retry_after(response, attempt))
        assert last is not None
        raise last

    async def get(self, path: str, **kwargs: Any) -> Any:
        """The body of a GET."""
        return (await self.call("GET", path, **kwargs)).body

    async def pages(self, path: str, *, limit: int = 200, **kwargs: Any) -> list[Any]:
        """Every item of a cursor-paginated list."""
        params = dict(kwargs.pop("params", None) or {})
        items: list[Any] = []
        cursor = None
        while True:
            page = await self.get(
                path,
                params={**params, "limit": limit, **({"cursor": cursor} if cursor else {})},
                **kwargs,
            )
            items.extend(page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                return items

    async def create(self, kind: str, method: str, path: str, **kwargs: Any) -> Any | None:
        """Make one thing and count it; None (counted as failed) if the suite refused."""
        answer = await self.create_answer(kind, method, path, **kwargs)
        return None if answer is None else answer.body

    async def create_answer(
        self, kind: str, method: str, path: str, **kwargs: Any
    ) -> Answer | None:
        """As `create`, with whether the answer was an earlier run's (replayed)."""
        try:
            answer = await self.call(method, path, **kwargs)
        except ApiFailure as exc:
            if exc.code == "idempotency_key_reused":
                # The same key with another body: an earlier run made this thing on another
                # day (the bodies carry dates relative to today). It exists; don't make twice.
                self.tally.existing[kind] += 1
            else:
                self.tally.fail(kind, exc.code, exc.detail)
            return None
        if answer.replayed:
            self.tally.existing[kind] += 1
        else:
            self.tally.created[kind] += 1
        return answer


def _failure(response: httpx.Response) -> ApiFailure:
    try:
        problem = response.json()
    except ValueError:
        problem = None
    if isinstance(problem, dict):
        code = str(problem.get("code") or f"http_{response.status_code}")
        detail = str(problem.get("detail") or problem.get("title") or "")
        errors = problem.get("errors")
        if errors:
            detail = f"{detail} {errors}"
        return ApiFailure(response.status_code, code, detail)
    return ApiFailure(response.status_code, f"http_{response.status_code}", response.text[:300])


def _retry_after(response: httpx.Response, attempt: int) -> float:
    try:
        told = float(str(response.headers.get("Retry-After", "")))
    except ValueError:
        told = 0.0
    return float(min(_MAX_WAIT_SECONDS, max(told, 0.1 * 2**attempt)))
