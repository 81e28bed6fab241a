"""The whole suite as real processes: broker, four services and the gateway, over real HTTP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from kernel.auth.dev import DevIssuer
from kernel.devbroker import DevBroker
from kernel.settings import REPO_ROOT, AuthSettings
from tests.support import free_port
from tests.support.calendar import rehearsal_calendar_dir

SERVICES = ("permits", "credit", "inspection", "insurance")
E2E_RATE_LIMITS = {
    name: {"rate": 10_000, "burst": 100_000} for name in ("public", "read", "write", "data")
}


@dataclass
class Suite:
    """Handles on the running processes and the addresses to reach them."""

    broker: DevBroker
    gateway: str
    ports: dict[str, int]
    issuer: DevIssuer
    logs: Path
    env: dict[str, str] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def token(self, role: str, sub: str = "e2e-user") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.issuer.mint(role, sub)}"}

    def restart(self, service: str, **extra_env: str) -> None:
        """Stop a service (SIGTERM, as an operator would) and start it again with more env."""
        self.stop(service)
        self.env.update(extra_env)
        self.procs[service] = _start(
            service, f"services.{service}.main:app", self.ports[service], self.env, self.logs
        )

    def stop(self, service: str) -> None:
        """Stop a service as an operator would (SIGTERM); a stopped one is left as it is."""
        proc = self.procs[service]
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(15)

    def log_tail(self, name: str, lines: int = 40) -> str:
        path = self.logs / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _start(
    name: str, app: str, port: int, env: dict[str, str], logs: Path
) -> subprocess.Popen[bytes]:
    log = (logs / f"{name}.log").open("ab")
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            app,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--timeout-graceful-shutdown",
            "5",
        ],
        cwd=REPO_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Suite]:
    root = tmp_path_factory.mktemp("e2e")
    logs = root / "logs"
    logs.mkdir()
    auth = AuthSettings(dev_key_dir=root / "keys")
    issuer = DevIssuer(auth)
    ports = {name: free_port() for name in (*SERVICES, "gateway")}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    # Credit's clock is moved into years the installed official calendar does not cover yet;
    # operators load those schedules from files, as the services do here.
    calendar_dir = rehearsal_calendar_dir(root)
    broker = DevBroker()
    broker.start()
    env = {
        **os.environ,
        "APP_ENV": "local",
        "PYTHONUNBUFFERED": "1",
        "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
        "AUTH_DEV_KEY_DIR": str(root / "keys"),
        "INSPECTION_SOURCE_URLS": json.dumps({s: urls[s] for s in SERVICES}),
        "PERMITS_SOURCE_URLS": json.dumps({s: urls[s] for s in ("inspection", "credit")}),
        "CREDIT_SOURCE_URLS": json.dumps({s: urls[s] for s in ("inspection", "permits")}),
        "CREDIT_CONSUMER_SWEEP_SECONDS": "2",
        "CREDIT_CALENDAR_DIR": str(calendar_dir),
        "PERMITS_CALENDAR_DIR": str(calendar_dir),
        "INSPECTION_CALENDAR_DIR": str(calendar_dir),
        "INSURANCE_CALENDAR_DIR": str(calendar_dir),
        "CREDIT_RELAY_POLL_SECONDS": "0.2",
        "PERMITS_LICENCE_KEY_DIR": str(root / "licence-keys"),
        "PERMITS_PUBLIC_BASE_URL": f"{urls['gateway']}/api/permits",
        "INSPECTION_CONSUMER_SWEEP_SECONDS": "2",
        "INSPECTION_KAFKA_TIMEOUT_SECONDS": "3",
        "INSURANCE_KAFKA_TIMEOUT_SECONDS": "3",
        "INSURANCE_RELAY_POLL_SECONDS": "0.2",
        "INSURANCE_SOURCE_URLS": json.dumps({"inspection": urls["inspection"]}),
        "INSURANCE_CONSUMER_SWEEP_SECONDS": "2",
        "GATEWAY_DATABASE_URL": f"sqlite+aiosqlite:///{root / 'gateway.db'}",
        # Every e2e caller comes from 127.0.0.1 and polls: budgets no flow can exhaust (the
        # limits themselves are tested in tests/gateway/test_ratelimit.py and below).
        "GATEWAY_RATE_LIMITS": json.dumps(E2E_RATE_LIMITS),
    }
    for service in SERVICES:
        env[f"{service.upper()}_DATABASE_URL"] = f"sqlite+aiosqlite:///{root / (service + '.db')}"
        env[f"GATEWAY_{service.upper()}_URL"] = urls[service]
    suite = Suite(broker, urls["gateway"], ports, issuer, logs, env)
    try:
        for service in SERVICES:
            suite.procs[service] = _start(
                service, f"services.{service}.main:app", ports[service], env, logs
            )
        suite.procs["gateway"] = _start("gateway", "gateway.main:app", ports["gateway"], env, logs)
        yield suite
    finally:
        for proc in suite.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in suite.procs.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        broker.stop()


def wait_healthy(suite: Suite, timeout: float = 30.0) -> dict[str, object]:
    """Poll the gateway's /health until every upstream is ready; fail with the logs if not."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        for name, proc in suite.procs.items():
            if proc.poll() is not None:
                pytest.fail(f"{name} exited with {proc.returncode}:\n{suite.log_tail(name)}")
        try:
            r = httpx.get(f"{suite.gateway}/health", timeout=3)
            last = r.json()
            if r.status_code == 200:
                return dict(r.json())
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.25)
    pytest.fail(f"suite not healthy within {timeout}s: {last}")
