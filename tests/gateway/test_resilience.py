"""Circuit breakers, retries and per-upstream timeouts: the state machine on a fake clock, then
through the gateway against raw TCP upstreams that count every connection made to them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import httpx
import orjson
import pytest

from gateway.calls import call_json
from gateway.config import GatewaySettings
from gateway.main import create_app
from gateway.proxy import Upstreams
from gateway.resilience import (
    BreakerState,
    CircuitBreaker,
    Permit,
    may_retry,
    send_with_retries,
)
from kernel.settings import AuthSettings
from tests.gateway.support import assert_problem, gateway_settings
from tests.support import free_port


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def breaker(clock: FakeClock, failures: int = 3, open_seconds: float = 10.0) -> CircuitBreaker:
    return CircuitBreaker("credit", failures=failures, open_seconds=open_seconds, clock=clock)


def admitted(b: CircuitBreaker) -> Permit:
    permit = b.admit()
    assert permit is not None, "refused"
    return permit


def fail(b: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        permit = b.admit()
        assert permit is Permit.normal
        b.record(permit, ok=False)


class TestBreakerStateMachine:
    def test_closed_until_n_consecutive_failures(self) -> None:
        clock = FakeClock()
        b = breaker(clock)
        fail(b, 2)
        assert b.state is BreakerState.closed
        assert b.consecutive_failures == 2
        fail(b, 1)
        assert b.state is BreakerState.open
        assert b.admit() is None

    def test_a_success_resets_the_count(self) -> None:
        clock = FakeClock()
        b = breaker(clock)
        fail(b, 2)
        b.record(Permit.normal, ok=True)
        assert b.consecutive_failures == 0
        fail(b, 2)
        assert b.state is BreakerState.closed

    def test_open_refuses_with_the_remaining_seconds(self) -> None:
        clock = FakeClock()
        b = breaker(clock, open_seconds=10)
        fail(b, 3)
        assert b.retry_after() == 10
        clock.now += 7.2
        assert b.admit() is None
        assert b.retry_after() == 3
        clock.now += 2.5
        assert b.retry_after() == 1  # never 0 while still open

    def test_half_open_admits_exactly_one_trial(self) -> None:
        clock = FakeClock()
        b = breaker(clock, open_seconds=10)
        fail(b, 3)
        clock.now += 10
        assert b.state is BreakerState.half_open
        assert b.admit() is Permit.trial
        assert b.admit() is None
        assert b.admit() is None
        assert b.retry_after() == 1
        assert b.state is BreakerState.half_open

    def test_a_successful_trial_closes(self) -> None:
        clock = FakeClock()
        b = breaker(clock)
        fail(b, 3)
        clock.now += 10
        b.record(admitted(b), ok=True)
        assert b.state is BreakerState.closed
        assert b.consecutive_failures == 0
        assert b.admit() is Permit.normal

    def test_a_failed_trial_reopens_for_a_full_period(self) -> None:
        clock = FakeClock()
        b = breaker(clock, open_seconds=10)
        fail(b, 3)
        clock.now += 15
        b.record(admitted(b), ok=False)
        assert b.state is BreakerState.open
        assert b.retry_after() == 10
        clock.now += 9.9
        assert b.admit() is None
        clock.now += 0.1
        assert b.admit() is Permit.trial

    def test_a_trial_that_ends_without_an_outcome_hands_its_place_on(self) -> None:
        clock = FakeClock()
        b = breaker(clock)
        fail(b, 3)
        clock.now += 10
        trial = b.admit()
        assert trial is Permit.trial
        b.release(trial)
        assert b.admit() is Permit.trial

    def test_late_answers_from_before_the_opening_change_nothing(self) -> None:
        clock = FakeClock()
        b = breaker(clock, open_seconds=10)
        in_flight = [admitted(b) for _ in range(2)]
        fail(b, 3)
        b.record(in_flight[0], ok=True)
        assert b.state is BreakerState.open
        clock.now += 10
        trial = admitted(b)
        b.record(in_flight[1], ok=False)  # no re-opening by a stale failure
        assert b.state is BreakerState.half_open
        b.record(trial, ok=True)
        assert b.state is BreakerState.closed

    def test_releasing_a_normal_permit_changes_nothing(self) -> None:
        clock = FakeClock()
        b = breaker(clock)
        fail(b, 2)
        b.release(Permit.normal)
        assert b.consecutive_failures == 2
        assert b.state is BreakerState.closed


class TestRetryRules:
    @pytest.mark.parametrize(
        ("method", "headers", "expected"),
        [
            ("GET", [], True),
            ("HEAD", [], True),
            ("OPTIONS", [], True),
            ("POST", [], False),
            ("PUT", [], False),
            ("DELETE", [], False),
            ("PATCH", [(b"content-type", b"application/json")], False),
            ("POST", [(b"idempotency-key", b"k-1")], True),
            ("DELETE", [(b"idempotency-key", b"k-2")], True),
        ],
    )
    def test_who_may_be_retried(
        self, method: str, headers: list[tuple[bytes, bytes]], expected: bool
    ) -> None:
        assert may_retry(method, headers) is expected

    @staticmethod
    def failing(errors: list[BaseException]) -> tuple[Callable[[], Awaitable[str]], list[int]]:
        calls: list[int] = []

        async def send() -> str:
            calls.append(1)
            if len(calls) <= len(errors):
                raise errors[len(calls) - 1]
            return "answer"

        return send, calls

    async def test_dropped_connections_are_retried_with_doubling_backoff(self) -> None:
        waits: list[float] = []

        async def sleep(seconds: float) -> None:
            waits.append(seconds)

        send, calls = self.failing(
            [aiohttp.ServerDisconnectedError(), aiohttp.ClientOSError(104, "reset")]
        )
        result = await send_with_retries(send, retries=3, backoff_seconds=0.5, sleep=sleep)
        assert result == "answer"
        assert len(calls) == 3
        assert waits == [0.5, 1.0]

    async def test_retries_stop_at_the_limit(self) -> None:
        async def sleep(seconds: float) -> None:
            pass

        send, calls = self.failing([aiohttp.ServerDisconnectedError()] * 5)
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await send_with_retries(send, retries=2, backoff_seconds=0, sleep=sleep)
        assert len(calls) == 3

    @pytest.mark.parametrize(
        "error",
        [
            aiohttp.SocketTimeoutError(),
            aiohttp.ConnectionTimeoutError(),
            aiohttp.ClientPayloadError("truncated"),
            TimeoutError(),
        ],
    )
    async def test_timeouts_and_other_errors_are_final(self, error: BaseException) -> None:
        send, calls = self.failing([error])
        with pytest.raises(type(error)):
            await send_with_retries(send, retries=3, backoff_seconds=0)
        assert len(calls) == 1


class RawUpstream:
    """A bare HTTP/1.1 server on asyncio streams that counts connections and acts on each as
    scripted: `drop` (read the request, close without a word), `answer` (200 JSON), `503`,
    `hold` (answer 200 once `release` is set), `hang` (never answer)."""

    def __init__(self, first: list[str] | None = None, then: str = "answer") -> None:
        self.first = list(first or [])
        self.then = then
        self.connections = 0
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.release = asyncio.Event()
        self.holding = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.url = ""

    async def __aenter__(self) -> RawUpstream:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        number = self.connections
        action = self.first.pop(0) if self.first else self.then
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method = lines[0].split(" ", 1)[0]
            headers = {
                k.strip().lower(): v.strip()
                for k, _, v in (line.partition(":") for line in lines[1:] if line)
            }
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            self.requests.append((method, headers, body))
            if action == "drop":
                return
            if action == "hang":
                await asyncio.Event().wait()
            if action == "hold":
                self.holding.set()
                await self.release.wait()
            status = b"503 Service Unavailable" if action == "503" else b"200 OK"
            payload = orjson.dumps({"connection": number, "method": method})
            writer.write(
                b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\n"
                b"Content-Length: " + str(len(payload)).encode() + b"\r\n"
                b"Connection: close\r\n\r\n" + payload
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            self._tasks.discard(task)


Gateway = tuple[httpx.AsyncClient, Upstreams]


@pytest.fixture
def gateway(
    upstream_urls: dict[str, str], auth_settings: AuthSettings, gateway_database: str
) -> Callable[..., Any]:
    """`async with gateway(credit=url, **settings) as (client, upstreams):`"""

    @asynccontextmanager
    async def make(*, credit: str, **overrides: Any) -> AsyncIterator[Gateway]:
        overrides.setdefault("rate_limits_enabled", False)
        settings = gateway_settings(
            {**upstream_urls, "credit": credit},
            auth=auth_settings,
            database_url=gateway_database,
            **overrides,
        )
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, client=("198.51.100.7", 40000))
            async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as c:
                yield c, app.state.upstreams

    return make


def assert_circuit_open(response: httpx.Response, state: str = "open") -> dict[str, Any]:
    body = assert_problem(response, 503, "upstream_unavailable")
    assert body["upstream"] == "credit"
    assert body["circuit"] == state
    assert int(response.headers["retry-after"]) >= 1
    return body


class TestBreakerThroughTheGateway:
    async def test_a_failing_upstream_opens_the_circuit_and_is_left_alone(
        self, gateway: Callable[..., Any]
    ) -> None:
        async with (
            RawUpstream(then="drop") as raw,
            gateway(credit=raw.url, breaker_failures=3, breaker_open_seconds=30, retries=1) as (
                c,
                upstreams,
            ),
        ):
            for _ in range(3):
                assert_problem(await c.get("/api/credit/x"), 502, "upstream_error")
            # Each request and its one retry count as one failure.
            assert raw.connections == 6
            assert upstreams.breaker("credit").state is BreakerState.open
            for method in ("GET", "POST"):
                response = await c.request(method, "/api/credit/x")
                body = assert_circuit_open(response)
                assert 1 <= int(response.headers["retry-after"]) <= 30
                assert "credit" in body["detail"]
            assert raw.connections == 6
            # The other services are not affected.
            assert (await c.get("/api/permits/x")).status_code == 200

    async def test_upstream_503_answers_count_as_failures(
        self, gateway: Callable[..., Any]
    ) -> None:
        async with (
            RawUpstream(then="503") as raw,
            gateway(credit=raw.url, breaker_failures=2, breaker_open_seconds=30) as (c, _),
        ):
            for _ in range(2):
                response = await c.get("/api/credit/x")
                assert response.status_code == 503
                assert response.json()["method"] == "GET"  # the upstream's own answer, relayed
            assert raw.connections == 2  # an HTTP answer is never retried
            assert_circuit_open(await c.get("/api/credit/x"))
            assert raw.connections == 2

    async def test_a_success_resets_the_count(self, gateway: Callable[..., Any]) -> None:
        async with (
            RawUpstream(["drop", "drop"], then="answer") as raw,
            gateway(credit=raw.url, breaker_failures=3, retries=0) as (c, upstreams),
        ):
            await c.post("/api/credit/x")
            await c.post("/api/credit/x")
            assert upstreams.breaker("credit").consecutive_failures == 2
            assert (await c.get("/api/credit/x")).status_code == 200
            assert upstreams.breaker("credit").consecutive_failures == 0
            assert upstreams.breaker("credit").state is BreakerState.closed

    async def test_an_unreachable_upstream_opens_the_circuit(
        self, gateway: Callable[..., Any]
    ) -> None:
        url = f"http://127.0.0.1:{free_port()}"
        async with gateway(credit=url, breaker_failures=2, retries=1) as (c, _), asyncio.timeout(5):
            for _ in range(2):
                body = assert_problem(await c.get("/api/credit/x"), 503, "upstream_unavailable")
                assert "circuit" not in body
            assert_circuit_open(await c.get("/api/credit/x"))

    async def test_the_half_open_trial_closes_it_when_the_upstream_is_back(
        self, gateway: Callable[..., Any]
    ) -> None:
        async with (
            RawUpstream(then="drop") as raw,
            gateway(credit=raw.url, breaker_failures=2, breaker_open_seconds=0.3, retries=0) as (
                c,
                upstreams,
            ),
        ):
            for _ in range(2):
                await c.get("/api/credit/x")
            assert_circuit_open(await c.get("/api/credit/x"))
            raw.then = "hold"
            await asyncio.sleep(0.35)
            assert upstreams.breaker("credit").state is BreakerState.half_open

            trial = asyncio.create_task(c.get("/api/credit/x"))
            await asyncio.wait_for(raw.holding.wait(), 5)
            # While the one trial is under way, everyone else is still turned away.
            assert_circuit_open(await c.get("/api/credit/x"), state="half_open")
            assert raw.connections == 3
            raw.release.set()
            assert (await trial).status_code == 200
            assert upstreams.breaker("credit").state is BreakerState.closed
            assert (await c.get("/api/credit/x")).status_code == 200
            assert raw.connections == 4

    async def test_a_failed_trial_opens_it_again(self, gateway: Callable[..., Any]) -> None:
        async with (
            RawUpstream(then="drop") as raw,
            gateway(credit=raw.url, breaker_failures=2, breaker_open_seconds=0.3, retries=0) as (
                c,
                upstreams,
            ),
        ):
            for _ in range(2):
                await c.get("/api/credit/x")
            await asyncio.sleep(0.35)
            assert_problem(await c.get("/api/credit/x"), 502, "upstream_error")  # the trial
            assert raw.connections == 3
            assert upstreams.breaker("credit").state is BreakerState.open
            assert_circuit_open(await c.get("/api/credit/x"))
            assert raw.connections == 3


class TestRetriesThroughTheGateway:
    async def test_a_get_survives_a_dropped_connection(self, gateway: Callable[..., Any]) -> None:
        async with (
            RawUpstream(["drop"]) as raw,
            gateway(credit=raw.url, retry_backoff_seconds=0.01) as (c, _),
        ):
            response = await c.get("/api/credit/ratings")
        assert response.status_code == 200
        assert response.json() == {"connection": 2, "method": "GET"}
        assert raw.connections == 2

    @pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
    async def test_a_write_without_idempotency_key_is_not_retried(
        self, gateway: Callable[..., Any], method: str
    ) -> None:
        async with (
            RawUpstream(["drop"]) as raw,
            gateway(credit=raw.url, retry_backoff_seconds=0.01) as (c, _),
        ):
            response = await c.request(method, "/api/credit/ratings", content=b'{"a": 1}')
        assert_problem(response, 502, "upstream_error")
        assert raw.connections == 1

    async def test_a_write_with_idempotency_key_is_retried_with_its_body(
        self, gateway: Callable[..., Any]
    ) -> None:
        async with (
            RawUpstream(["drop", "drop"]) as raw,
            gateway(credit=raw.url, retries=2, retry_backoff_seconds=0.01) as (c, _),
        ):
            response = await c.post(
                "/api/credit/ratings", content=b'{"a": 1}', headers={"Idempotency-Key": "k-7"}
            )
        assert response.status_code == 200
        assert response.json() == {"connection": 3, "method": "POST"}
        assert [body for _, _, body in raw.requests] == [b'{"a": 1}'] * 3
        assert {h["idempotency-key"] for _, h, _ in raw.requests} == {"k-7"}

    async def test_retries_are_bounded(self, gateway: Callable[..., Any]) -> None:
        async with (
            RawUpstream(then="drop") as raw,
            gateway(credit=raw.url, retries=2, retry_backoff_seconds=0.01) as (c, _),
        ):
            assert_problem(await c.get("/api/credit/x"), 502, "upstream_error")
        assert raw.connections == 3

    async def test_a_timed_out_write_is_not_retried(self, gateway: Callable[..., Any]) -> None:
        async with (
            RawUpstream(then="hang") as raw,
            gateway(
                credit=raw.url, upstream_timeouts={"credit": 0.3}, retry_backoff_seconds=0.01
            ) as (c, _),
        ):
            response = await c.post("/api/credit/x", headers={"Idempotency-Key": "k-8"})
            assert_problem(response, 504, "upstream_timeout")
            assert raw.connections == 1

    async def test_an_upstream_that_is_down_is_still_a_quick_503(
        self, gateway: Callable[..., Any]
    ) -> None:
        url = f"http://127.0.0.1:{free_port()}"
        async with (
            gateway(credit=url, retries=5, retry_backoff_seconds=0.01) as (c, _),
            asyncio.timeout(5),
        ):
            body = assert_problem(await c.get("/api/credit/x"), 503, "upstream_unavailable")
        assert body["upstream"] == "credit"


class TestTimeouts:
    async def test_an_override_applies_to_its_upstream_only(
        self, gateway: Callable[..., Any], upstream_urls: dict[str, str]
    ) -> None:
        async with gateway(
            credit=upstream_urls["credit"], read_timeout=5, upstream_timeouts={"inspection": 0.3}
        ) as (c, upstreams):
            slow = await c.get("/api/inspection/x?_sleep=1")
            body = assert_problem(slow, 504, "upstream_timeout")
            assert body["upstream"] == "inspection"
            assert "0.3 s" in body["detail"]
            assert (await c.get("/api/credit/x?_sleep=1")).status_code == 200
            assert upstreams.get("inspection").read_timeout == 0.3
            assert upstreams.get("credit").read_timeout == 5


@asynccontextmanager
async def opened(settings: GatewaySettings) -> AsyncIterator[Upstreams]:
    upstreams = Upstreams(settings)
    await upstreams.open()
    try:
        yield upstreams
    finally:
        await upstreams.close()


class TestCallJson:
    @pytest.fixture
    def settings_for(
        self, upstream_urls: dict[str, str], auth_settings: AuthSettings, gateway_database: str
    ) -> Callable[..., GatewaySettings]:
        def make(credit: str, **overrides: Any) -> GatewaySettings:
            return gateway_settings(
                {**upstream_urls, "credit": credit},
                auth=auth_settings,
                database_url=gateway_database,
                **overrides,
            )

        return make

    async def test_a_get_is_retried_after_a_dropped_connection(
        self, settings_for: Callable[..., GatewaySettings]
    ) -> None:
        async with (
            RawUpstream(["drop"]) as raw,
            opened(settings_for(raw.url, retry_backoff_seconds=0.01)) as upstreams,
        ):
            result = await call_json(upstreams, "credit", "/ratings")
        assert result.ok
        assert result.body == {"connection": 2, "method": "GET"}

    async def test_a_post_is_not_retried(
        self, settings_for: Callable[..., GatewaySettings]
    ) -> None:
        async with (
            RawUpstream(["drop"]) as raw,
            opened(settings_for(raw.url, retry_backoff_seconds=0.01)) as upstreams,
        ):
            result = await call_json(upstreams, "credit", "/ratings", method="POST")
        assert result.status is None
        assert result.error == "unavailable: ServerDisconnectedError"
        assert raw.connections == 1

    async def test_an_open_circuit_answers_without_a_connection(
        self, settings_for: Callable[..., GatewaySettings]
    ) -> None:
        async with (
            RawUpstream(then="hang") as raw,
            opened(settings_for(raw.url, breaker_failures=2)) as upstreams,
        ):
            for _ in range(2):
                result = await call_json(upstreams, "credit", "/ratings", timeout=0.2)
                assert result.error == "timeout"
            assert raw.connections == 2
            result = await call_json(upstreams, "credit", "/ratings")
            assert result.error == "circuit_open"
            assert result.status is None
            assert raw.connections == 2
            assert upstreams.breaker("credit").state is BreakerState.open

    async def test_a_5xx_answer_counts_against_the_breaker(
        self, settings_for: Callable[..., GatewaySettings]
    ) -> None:
        async with (
            RawUpstream(then="503") as raw,
            opened(settings_for(raw.url, breaker_failures=3)) as upstreams,
        ):
            result = await call_json(upstreams, "credit", "/ratings")
            assert result.status == 503
            assert upstreams.breaker("credit").consecutive_failures == 1
            assert raw.connections == 1

    async def test_a_cancelled_trial_hands_its_place_on(
        self, settings_for: Callable[..., GatewaySettings]
    ) -> None:
        async with (
            RawUpstream(["drop"], then="hold") as raw,
            opened(
                settings_for(raw.url, breaker_failures=1, breaker_open_seconds=0.2, retries=0)
            ) as upstreams,
        ):
            assert (await call_json(upstreams, "credit", "/x")).error is not None
            await asyncio.sleep(0.25)
            trial = asyncio.create_task(call_json(upstreams, "credit", "/x"))
            await asyncio.wait_for(raw.holding.wait(), 5)
            assert (await call_json(upstreams, "credit", "/x")).error == "circuit_open"
            trial.cancel()
            with pytest.raises(asyncio.CancelledError):
                await trial
            raw.release.set()
            result = await call_json(upstreams, "credit", "/x")
            assert result.ok
            assert upstreams.breaker("credit").state is BreakerState.closed
