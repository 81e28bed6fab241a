"""Schemathesis against one app in-process: profiles, checks, a token per operation, figures.

Each tests/fuzz/test_fuzz_<app>.py builds its schema from the app's own OpenAPI document (no
server needed to collect), then sends every generated case, with the token of a caller the
operation admits, to a running instance of that app on a real database, in-process over ASGI
in schemathesis' own event-loop thread (Target, AppSlot).

Profiles (FUZZ_PROFILE): `bounded` (the default, in `make test`: few examples per operation,
derandomized so every run sends the same cases) and `long` (`make fuzz`: many examples, the
coverage phase's boundary values too, a fresh seed unless FUZZ_SEED is set).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import json
import os
import random
import re
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import hypothesis
import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from hypothesis import HealthCheck, Phase
from hypothesis.errors import Flaky
from schemathesis.checks import CheckContext, not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import AcceptedNegativeData
from schemathesis.core.parameters import ParameterLocation
from schemathesis.core.transport import Response
from schemathesis.generation.case import Case
from schemathesis.generation.meta import CoveragePhaseData, CoverageScenario
from schemathesis.schemas import BaseSchema
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from kernel.auth.dev import DevIssuer
from kernel.devbroker import DevBroker
from kernel.errors import PROBLEM_JSON
from kernel.settings import AuthSettings, ServiceSettings
from kernel.uscc import make_uscc
from tests.conftest import IN_CI, POSTGRES_AVAILABLE
from tests.support import serving
from tests.support.databases import DatabaseMaker

S = TypeVar("S", bound=ServiceSettings)

PROFILE = os.environ.get("FUZZ_PROFILE", "bounded")
if PROFILE not in ("bounded", "long"):
    raise RuntimeError(f"FUZZ_PROFILE must be bounded or long, not {PROFILE!r}")


@dataclass(frozen=True)
class Profile:
    """How hard to fuzz: examples per operation and the schemathesis phases that run."""

    max_examples: int
    phases: tuple[str, ...]
    seed: int | None
    derandomize: bool


if PROFILE == "long" and not os.environ.get("FUZZ_SEED"):
    # A fresh seed, set where pytest-xdist's workers (started later) inherit it and the
    # summary can print it, so any run can be replayed with FUZZ_SEED.
    os.environ["FUZZ_SEED"] = str(random.SystemRandom().randrange(1, 2**31))

PROFILES = {
    # `make test`: a few positive and negative cases per operation, the same ones every run.
    "bounded": Profile(max_examples=6, phases=("examples", "fuzzing"), seed=2026, derandomize=True),
    # `make fuzz`: many cases, plus the coverage phase's boundary and type-confusion values.
    "long": Profile(
        max_examples=int(os.environ.get("FUZZ_MAX_EXAMPLES", "150")),
        phases=("examples", "coverage", "fuzzing", "stateful"),
        seed=int(os.environ["FUZZ_SEED"]) if os.environ.get("FUZZ_SEED") else None,
        derandomize=False,
    ),
}
ACTIVE = PROFILES[PROFILE]
# Sequences of calls along the links schemathesis infers (an id a POST returned, used by the
# GET, the decision, ...): in the long profile only, as one more test per app.
STATEFUL = "stateful" in ACTIVE.phases
STATEFUL_SETTINGS = hypothesis.settings(
    max_examples=int(os.environ.get("FUZZ_STATEFUL_EXAMPLES", "60")),
    stateful_step_count=20,
    # No shrinking: a sequence replayed against the app's changed data is not the same sequence.
    phases=(Phase.explicit, Phase.generate),
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
    print_blob=True,
)

for _name, _profile in PROFILES.items():
    hypothesis.settings.register_profile(
        f"fuzz-{_name}",
        max_examples=_profile.max_examples,
        derandomize=_profile.derandomize,
        database=None,  # nothing written under .hypothesis/, nothing replayed from an old run
        deadline=None,  # latency is for bench/, never a test failure
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )
# Applied per test (`@FUZZ_SETTINGS`), so loading it changes no other test's Hypothesis settings.
FUZZ_SETTINGS = hypothesis.settings.get_profile(f"fuzz-{PROFILE}")


def load_schema(app: FastAPI) -> BaseSchema:
    """The schema of `app`'s operations, from its OpenAPI document, configured by the profile."""
    config = SchemathesisConfig.from_dict(
        {
            **({"seed": ACTIVE.seed} if ACTIVE.seed is not None else {}),
            # In-process over ASGI (Target sets schema.app); the host is a name only.
            "base-url": "http://testserver",
            # Cases carry the token of a caller the operation admits (Target.headers_for), not a
            # generated one; the ignored_auth check probes each operation without it instead.
            "generation": {"mode": "all", "database": "none", "with-security-parameters": False},
            "checks": {
                # A 412 (a malformed If-Match) refuses the request too: nothing was accepted.
                "negative_data_rejection": {
                    "expected-statuses": [400, 401, 403, 404, 405, 406, 409, 412, 415, 422, 428]
                }
            },
            "phases": {
                name: {"enabled": name in ACTIVE.phases}
                for name in ("examples", "coverage", "fuzzing", "stateful")
            },
        }
    )
    return schemathesis.openapi.from_dict(app.openapi(), config=config)


# --- where the fuzzed apps keep their data ------------------------------------------------------

# PostgreSQL by default (production's database, and the stricter one: a value SQLite stores
# may be a 500 there); FUZZ_DATABASE=sqlite fuzzes the embedded default instead.
DATABASE = os.environ.get("FUZZ_DATABASE", "postgresql")
if DATABASE not in ("sqlite", "postgresql"):
    raise RuntimeError(f"FUZZ_DATABASE must be sqlite or postgresql, not {DATABASE!r}")


@asynccontextmanager
async def service_database(
    maker: DatabaseMaker, directory: Path, service: str
) -> AsyncIterator[str]:
    """A database holding `service`'s migrated schema, dropped afterwards (PostgreSQL)."""
    if DATABASE == "sqlite":
        yield await maker.sqlite(directory / f"{service}.db", service)
        return
    if not POSTGRES_AVAILABLE:
        if IN_CI:
            pytest.fail("PostgreSQL is required in CI but is not reachable")
        pytest.skip("PostgreSQL not reachable on this machine (FUZZ_DATABASE=sqlite fuzzes SQLite)")
    url = await maker.postgresql(service)
    try:
        yield url
    finally:
        maker.release(url)


def quiet_settings(settings_class: type[S], database_url: str, **values: Any) -> S:
    """A service's settings for fuzzing its HTTP surface: relay, consumers and jobs off."""
    return settings_class(
        database_url=database_url,
        relay_enabled=False,
        consumers_enabled=False,
        background_enabled=False,
        **values,
    )


@dataclass(frozen=True)
class FuzzEnv:
    """What every service's fuzz fixture needs from the session (the `fuzz_env` fixture)."""

    tmp_path_factory: pytest.TempPathFactory
    database_maker: DatabaseMaker
    broker: DevBroker
    auth_settings: AuthSettings
    issuer: DevIssuer


@asynccontextmanager
async def fuzzed_service(
    target: Target,
    env: FuzzEnv,
    settings_class: type[S],
    create_app: Callable[[S], FastAPI],
    *,
    extra: Callable[[Path], dict[str, Any]] = lambda directory: {},
    prepare: Callable[[S], Awaitable[None]] | None = None,
) -> AsyncIterator[Target]:
    """`target` fuzzing its service on a migrated database with the session's broker and
    tokens; `extra` adds settings (given the service's folder), `prepare` seeds what an admin
    would have set up before the fuzzed calls."""
    directory = env.tmp_path_factory.mktemp(f"fuzz-{target.name}")
    async with service_database(env.database_maker, directory, target.name) as database_url:
        settings = quiet_settings(
            settings_class,
            database_url,
            kafka_bootstrap_servers=env.broker.bootstrap,
            auth=env.auth_settings,
            **extra(directory),
        )
        if prepare is not None:
            await prepare(settings)
        yield target.start(create_app(settings), env.issuer)
        target.stop()


@contextmanager
def served_in_thread(apps: dict[str, FastAPI]) -> Iterator[dict[str, str]]:
    """Serve `apps` over real HTTP on loopback from a thread of their own; their base URLs.

    The fuzzed app runs in schemathesis' event-loop thread and the tests' loop is idle while
    a (synchronous) fuzz test runs, so what it calls needs a loop that keeps running.
    """
    loop = asyncio.new_event_loop()
    ready: concurrent.futures.Future[dict[str, str]] = concurrent.futures.Future()
    stop = asyncio.Event()

    async def serve() -> None:
        try:
            async with AsyncExitStack() as stack:
                urls = {n: await stack.enter_async_context(serving(a)) for n, a in apps.items()}
                ready.set_result(urls)
                await stop.wait()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc)
            raise

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    try:
        yield ready.result(timeout=60)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=60)
        if thread.is_alive():
            raise RuntimeError("the servers did not stop within 60 s")
        loop.close()


# --- the checks ---------------------------------------------------------------------------------


def _header(response: Response, name: str) -> str:
    values = response.headers.get(name.lower()) or [""]
    return values[0]


@schemathesis.check
def problem_details(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """Every 4xx/5xx is an RFC 9457 document whose `status` is the response's; a 422 for
    invalid input names each field."""
    status = response.status_code
    if status < 400:
        return None
    content_type = _header(response, "content-type").split(";")[0].strip()
    if content_type != PROBLEM_JSON:
        raise AssertionError(f"{status} answered as {content_type or 'no content type'}")
    try:
        body = json.loads(response.content or b"")
    except ValueError as exc:
        raise AssertionError(f"{status} problem body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise AssertionError(f"{status} problem body is not an object")
    missing = [k for k in ("type", "title", "status") if k not in body]
    if missing:
        raise AssertionError(f"{status} problem lacks {', '.join(missing)}")
    if body["status"] != status:
        raise AssertionError(f"problem says status {body['status']!r}, the response {status}")
    if status == 422 and body.get("code") == "validation_failed":
        # Each error names its field, as sent (a parameter's name may be the empty string).
        errors = body.get("errors")
        if not errors or not all(
            isinstance(e, dict) and isinstance(e.get("field"), str) and e.get("in") for e in errors
        ):
            raise AssertionError(f"422 validation_failed names no field: {errors!r}")
    return None


_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?")


def _number_for_another_type(case: Case) -> bool:
    """A coverage case that sent a number where the schema wants another type."""
    data = case.meta.phase.data if case.meta is not None else None
    if not isinstance(data, CoveragePhaseData) or data.scenario != CoverageScenario.INCORRECT_TYPE:
        return False
    location, name = data.parameter_location, data.parameter
    value: Any = None
    if location is ParameterLocation.BODY:
        key = data.description.split(":", 1)[0]  # "is_active: Incorrect type" (a top property)
        value = case.body.get(key) if isinstance(case.body, dict) else case.body
    elif location is not None and name is not None:
        container = {
            ParameterLocation.QUERY: case.query,
            ParameterLocation.PATH: case.path_parameters,
            ParameterLocation.HEADER: case.headers,
        }.get(location)
        value = (container or {}).get(name)
    if isinstance(value, bool):
        return False
    return isinstance(value, int | float) or (
        isinstance(value, str) and _NUMBER.fullmatch(value) is not None
    )


@schemathesis.check
def rejects_invalid_data(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """schemathesis' negative_data_rejection, less one thing FastAPI does by design: in a JSON
    body pydantic's lax mode reads a number as a boolean (0, 1) or as a date or date-time (Unix
    time), so the coverage phase's "incorrect type" case for such a field is accepted. Query
    and path dates are strict (kernel.inputs.IsoDate); a string field refuses a number; every
    other invalid input is still checked."""
    try:
        return negative_data_rejection(ctx, response, case)
    except AcceptedNegativeData:
        if _number_for_another_type(case):
            return None
        raise


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    rejects_invalid_data,
    ignored_auth,
    problem_details,
]


# --- who calls: a token per operation -------------------------------------------------------------

# Among the roles an operation admits, the one that reaches furthest into it (bureau roles see
# every enterprise's records; leaders also approve).
ROLE_PREFERENCE = ("leader", "admin", "officer", "insurer", "enterprise", "department")
# Subjects the fuzzed apps know: insurance has PICC-QD registered (seeded by its test module).
ENTERPRISE_USCC = make_uscc(350100000)
SUBJECTS = {
    "enterprise": ENTERPRISE_USCC,
    "insurer": "PICC-QD",
    "department": "QD-MARKET",
    "officer": "officer-fuzz",
    "leader": "leader-fuzz",
    "admin": "admin-fuzz",
    "service": "svc:fuzz",
}


def _guard(call: Any) -> tuple[frozenset[str] | None, str | None]:
    """The roles (or service scope) a role/scope guard admits, read from the guard itself."""
    roles = getattr(call, "roles", None)
    scope = getattr(call, "scope", None)
    if roles is None and scope is None and getattr(call, "__name__", "") == "guard":
        nonlocals = inspect.getclosurevars(call).nonlocals
        roles, scope = nonlocals.get("allowed"), nonlocals.get("scope")
    if roles is not None:
        return frozenset(str(getattr(r, "value", r)) for r in roles), None
    return None, scope if isinstance(scope, str) else None


def _dependency_calls(dependant: Any) -> Iterator[Any]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _dependency_calls(sub)


@dataclass(frozen=True)
class Caller:
    role: str
    subject: str
    scopes: tuple[str, ...] = ()


def callers_of(app: FastAPI) -> dict[tuple[str, str], Caller]:
    """For each (METHOD, path) of `app`, the caller to fuzz it as."""
    out: dict[tuple[str, str], Caller] = {}
    for route in iter_route_contexts(app.routes):
        if not isinstance(route.original_route, APIRoute):
            continue
        caller = Caller("officer", SUBJECTS["officer"])
        for call in _dependency_calls(route.dependant):
            roles, scope = _guard(call)
            if scope is not None:
                caller = Caller("service", SUBJECTS["service"], (scope,))
            elif roles:
                role = next((r for r in ROLE_PREFERENCE if r in roles), sorted(roles)[0])
                caller = Caller(role, SUBJECTS.get(role, f"{role}-fuzz"))
        for method in route.methods or ():
            out[(method.upper(), route.path_format)] = caller
    return out


# --- figures ------------------------------------------------------------------------------------


@dataclass
class Figures:
    """What one app's fuzzing sent and got back."""

    operations: set[str] = field(default_factory=set)
    cases: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    failed_operations: set[str] = field(default_factory=set)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "operations": len(self.operations),
            "cases": self.cases,
            "server_errors": sum(n for s, n in self.statuses.items() if s >= 500),
            "statuses": {str(s): n for s, n in sorted(self.statuses.items())},
            "failed_operations": sorted(self.failed_operations),
            "seconds": round(self.seconds, 1),
        }


# Per app, in this process (a pytest-xdist worker hands them to the controller at the end).
FIGURES: dict[str, Figures] = {}
_FIGURES_LOCK = threading.Lock()


class AppSlot:
    """The ASGI app schemathesis sends to: the running app a test module puts in it.

    The schema (and so its operations) is built when the module is imported, from an app that
    never runs; the app under test is made later by a fixture, on a fresh database. Its
    lifespan starts with the first request and lasts until `close()`: schemathesis ends the
    lifespans it started after every test (one per operation), which would restart the app,
    migrations check and all, for each operation.
    """

    def __init__(self) -> None:
        self.app: FastAPI | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._running: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if self.app is None:
            raise RuntimeError("no app under test: use the module's `target` fixture")
        await self.app(scope, receive, send)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self._start()
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": repr(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})  # the app keeps running
                return

    async def _start(self) -> None:
        if self._running is not None and not self._running.done():
            return
        app = self.app
        if app is None:
            raise RuntimeError("no app under test: use the module's `target` fixture")
        loop = asyncio.get_running_loop()
        started: asyncio.Future[None] = loop.create_future()
        self._stop = asyncio.Event()

        async def run() -> None:
            try:
                async with app.router.lifespan_context(app):
                    started.set_result(None)
                    await self._stop.wait()
            except BaseException as exc:
                if not started.done():
                    started.set_exception(exc)
                raise

        self._loop = loop
        self._running = loop.create_task(run(), name="fuzzed-app-lifespan")
        await started

    def close(self, timeout: float = 60.0) -> None:
        """End the app's lifespan (engine, tasks, sessions) on the loop it runs on."""
        running, loop = self._running, self._loop
        self._running = None
        self.app = None
        if running is None or loop is None or running.done():
            return

        async def stop() -> None:
            self._stop.set()
            await running

        asyncio.run_coroutine_threadsafe(stop(), loop).result(timeout)


class Target:
    """One app's fuzzing: its schema, callers, figures; `check(case)` is one fuzzed request."""

    def __init__(self, name: str, document_app: FastAPI) -> None:
        self.name = name
        self.slot = AppSlot()
        self.schema = load_schema(document_app)
        # Every request, the checks' probes included, goes to the slot over ASGI.
        self.schema.app = self.slot
        self._callers = callers_of(document_app)
        self._issuer: DevIssuer | None = None
        self._tokens: dict[Caller, str] = {}
        with _FIGURES_LOCK:
            self.figures = FIGURES.setdefault(name, Figures())

    def start(self, app: FastAPI, issuer: DevIssuer) -> Target:
        """Fuzz `app` (schemathesis runs its lifespan on first use) with `issuer`'s tokens."""
        self.slot.app = app
        self._issuer = issuer
        return self

    def stop(self) -> None:
        """End the app's lifespan (engine, tasks), which started in schemathesis' thread."""
        self.slot.close()

    def headers_for(self, case: Case) -> dict[str, str]:
        caller = self._callers.get((case.operation.method.upper(), case.operation.path))
        if caller is None or self._issuer is None:
            return {}
        token = self._tokens.get(caller)
        if token is None:
            token = self._issuer.mint(caller.role, caller.subject, scopes=caller.scopes)
            self._tokens[caller] = token
        return {"Authorization": f"Bearer {token}"}

    def check(self, case: Case) -> None:
        """Send one case as its operation's caller and run every check on the answer."""
        started = time.perf_counter()
        headers = self.headers_for(case)
        response = case.call(headers=headers)
        self.validate(case, response, headers, started)

    def validate(
        self, case: Case, response: Response, headers: dict[str, str], started: float
    ) -> None:
        label = case.operation.label  # a case may use another method (the coverage phase's)
        self.figures.statuses[response.status_code] += 1
        try:
            case.validate_response(
                response, checks=CHECKS, headers=headers, transport_kwargs={"headers": headers}
            )
        except BaseException:  # schemathesis' FailureGroup is a BaseExceptionGroup
            self.figures.failed_operations.add(label)
            raise
        finally:
            self.figures.operations.add(label)
            self.figures.cases += 1
            self.figures.seconds += time.perf_counter() - started

    def run_stateful(self) -> None:
        """Fuzz sequences of calls along the schema's inferred links, as the same callers."""
        target = self
        machine = self.schema.as_state_machine()
        found: list[BaseException] = []

        class Workflow(machine):  # type: ignore[misc,valid-type]
            def get_call_kwargs(self, case: Case) -> dict[str, Any]:
                return {"headers": target.headers_for(case)}

            def validate_response(
                self,
                response: Response,
                case: Case,
                additional_checks: Any = None,
                **kwargs: Any,
            ) -> None:
                try:
                    target.validate(
                        case, response, kwargs.get("headers") or {}, time.perf_counter()
                    )
                except BaseException as exc:
                    found.append(exc)
                    raise

        try:
            Workflow.run(settings=STATEFUL_SETTINGS)
        except Flaky:
            # The app's data outlives each sequence: a sequence Hypothesis runs again meets other
            # records and takes other links, which it calls flaky (schemathesis' own runner does
            # the same triage). What a check found on the way is the finding; without one, every
            # sequence that ran passed.
            if found:
                raise found[0] from None
