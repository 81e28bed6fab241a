"""How the gateway treats a failing service: a circuit breaker per upstream, and retries only
where sending a request twice cannot do harm."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable
from enum import Enum, StrEnum
from typing import TypeVar

import aiohttp

log = logging.getLogger("gateway.resilience")

T = TypeVar("T")

# Methods that RFC 9110 calls safe: repeating them changes nothing. PUT and DELETE are left out
# on purpose: the services give them side effects (events, audit rows) that a second delivery
# would repeat; a caller who wants those retried sends an Idempotency-Key.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
IDEMPOTENCY_KEY = b"idempotency-key"

# Upstream answers that say the service itself is in trouble (as opposed to the request).
FAILURE_STATUSES = frozenset({502, 503, 504})


def may_retry(method: str, headers: Iterable[tuple[bytes, bytes]]) -> bool:
    """Whether a request may be sent again: a safe method, or one carrying an Idempotency-Key."""
    return method in SAFE_METHODS or any(k == IDEMPOTENCY_KEY for k, _ in headers)


def _never_reached(exc: BaseException) -> bool:
    # A refused or reset connection, or one closed before the response head: the service either
    # never saw the request or gave no answer to it. A timeout is not among them (the request
    # may be running there, and a retry would multiply the caller's wait), nor a TLS failure
    # (it fails the same way every time).
    if isinstance(exc, aiohttp.ClientSSLError):
        return False
    return isinstance(exc, aiohttp.ClientOSError | aiohttp.ServerDisconnectedError)


async def send_with_retries(
    send: Callable[[], Awaitable[T]],
    *,
    retries: int,
    backoff_seconds: float,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """`send()`, tried again up to `retries` times (waiting backoff × 2^n) while the service
    could not be reached or dropped the connection before answering. Every other outcome,
    an HTTP answer or a timeout included, is final."""
    attempt = 0
    while True:
        try:
            return await send()
        except (aiohttp.ClientOSError, aiohttp.ServerDisconnectedError) as exc:
            if attempt >= retries or not _never_reached(exc):
                raise
            log.info("retrying after %r (attempt %d of %d)", exc, attempt + 1, retries)
        await sleep(backoff_seconds * 2**attempt)
        attempt += 1


class BreakerState(StrEnum):
    closed = "closed"
    open = "open"
    # The open period is over: the next request is let through as a trial.
    half_open = "half_open"


class Permit(Enum):
    """How a request was let through: in the normal flow, or as the half-open trial."""

    normal = "normal"
    trial = "trial"


class CircuitBreaker:
    """Stops sending to a service after `failures` consecutive failures, for `open_seconds`;
    then lets one trial request through, whose outcome closes or re-opens the circuit.

    Callers ask `admit()` before sending and report the outcome with `record()`; a request
    that ends without an outcome (the caller went away) reports `release()`.
    """

    def __init__(
        self,
        name: str,
        *,
        failures: int,
        open_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.failures_to_open = failures
        self.open_seconds = open_seconds
        self._clock = clock
        self._state = BreakerState.closed
        self._failures = 0
        self._open_until = 0.0

    @property
    def state(self) -> BreakerState:
        if self._state is BreakerState.open and self._clock() >= self._open_until:
            return BreakerState.half_open
        return self._state

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    def admit(self) -> Permit | None:
        """Let a request through (and how), or None while the circuit is open."""
        if self._state is BreakerState.closed:
            return Permit.normal
        if self._state is BreakerState.open and self._clock() >= self._open_until:
            self._state = BreakerState.half_open
            return Permit.trial
        return None

    def retry_after(self) -> int:
        """Whole seconds until a refused caller may try again (at least 1)."""
        if self._state is BreakerState.open:
            return max(1, math.ceil(self._open_until - self._clock()))
        # A trial is under way: its answer is due within the read timeout, usually far sooner.
        return 1

    def record(self, permit: Permit, ok: bool) -> None:
        """The outcome of a request `admit()` let through."""
        if permit is Permit.trial:
            if ok:
                self._close()
            else:
                self._open()
            return
        # Answers to requests sent before the circuit opened say nothing about the service now.
        if self._state is not BreakerState.closed:
            return
        if ok:
            self._failures = 0
            return
        self._failures += 1
        if self._failures >= self.failures_to_open:
            self._open()

    def release(self, permit: Permit) -> None:
        """A request ended without an outcome; a trial's place goes to the next request."""
        if permit is Permit.trial and self._state is BreakerState.half_open:
            self._state = BreakerState.open
            self._open_until = self._clock()

    def _open(self) -> None:
        if self._state is BreakerState.closed:
            log.warning(
                "circuit to %s opened after %d consecutive failures", self.name, self._failures
            )
        self._state = BreakerState.open
        self._open_until = self._clock() + self.open_seconds

    def _close(self) -> None:
        log.info("circuit to %s closed: the trial request succeeded", self.name)
        self._state = BreakerState.closed
        self._failures = 0
