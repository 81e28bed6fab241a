"""Development launcher behind `make run`: dev broker, four services and the gateway, one console.

    python -m deploy.devrun                  broker on 9092, services on 8001-8004, gateway on 8000
    python -m deploy.devrun --no-broker      use the broker at $KAFKA_BOOTSTRAP_SERVERS instead
    python -m deploy.devrun --migrate-only   apply each service's migrations and exit

The apps log readable lines with short request and trace ids; LOG_FORMAT=json makes them write
the JSON lines they write in production, LOG_LEVEL=DEBUG (or WARNING, ...) sets their level.

Every child runs in its own process group with its output prefixed by its name. Ctrl-C or
SIGTERM stops the apps (SIGTERM, then SIGKILL after 10 s) and then the broker. If any child
exits on its own, the rest are stopped and devrun exits non-zero.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kernel.devbroker import BrokerBinaryError, DevBroker, DevBrokerError, port_is_free
from kernel.logs import LEVEL_VARIABLE, LOG_FORMATS, parse_level

REPO_ROOT = Path(__file__).resolve().parent.parent
VAR_DIR = REPO_ROOT / "var"
HOST = "127.0.0.1"
BROKER_PORT = 9092
GATEWAY_URL = f"http://{HOST}:8000"
HEALTH_URL = f"{GATEWAY_URL}/health"
STOP_GRACE_S = 10.0
HEALTH_WAIT_S = 60.0
# uvicorn's own bound on draining requests; below STOP_GRACE_S so lifespan shutdown (relay,
# consumers, engine) still runs before devrun resorts to SIGKILL.
UVICORN_GRACEFUL_S = 8


@dataclass(frozen=True)
class AppSpec:
    """One uvicorn process: console name, ASGI app path and port."""

    name: str
    app: str
    port: int


APPS: tuple[AppSpec, ...] = (
    AppSpec("permits", "services.permits.main:app", 8001),
    AppSpec("credit", "services.credit.main:app", 8002),
    AppSpec("inspection", "services.inspection.main:app", 8003),
    AppSpec("insurance", "services.insurance.main:app", 8004),
    AppSpec("gateway", "gateway.main:app", 8000),
)
MIGRATED_SERVICES: tuple[str, ...] = ("permits", "credit", "inspection", "insurance", "gateway")
NAME_WIDTH = max(len(name) for name in (*(a.name for a in APPS), "broker", "devrun"))

# ANSI foreground colours, assigned to names in order of first use.
_COLOURS = ("36", "33", "35", "32", "34", "96", "93", "95")
_RESET = "\x1b[0m"

# The apps log through kernel/logs.py's formatters (deploy/logging/*.json): readable lines with
# short request and trace ids on the console, or with LOG_FORMAT=json the JSON lines production
# writes (to try a log pipeline locally). The prefix added here sits in front of either.
LOG_FORMAT_VARIABLE = "LOG_FORMAT"
LOG_CONFIGS: dict[str, Path] = {
    fmt: REPO_ROOT / "deploy" / "logging" / f"{fmt}.json" for fmt in LOG_FORMATS
}


def log_config_for(environ: Mapping[str, str]) -> Path:
    """The uvicorn log config LOG_FORMAT selects (text unless set); ValueError if unknown."""
    fmt = environ.get(LOG_FORMAT_VARIABLE, "").strip().lower() or "text"
    if fmt not in LOG_CONFIGS:
        raise ValueError(
            f"{LOG_FORMAT_VARIABLE}={environ[LOG_FORMAT_VARIABLE]!r}: use one of "
            f"{', '.join(sorted(LOG_CONFIGS))}"
        )
    return LOG_CONFIGS[fmt]


def format_prefix(name: str, colour_index: int | None, width: int = NAME_WIDTH) -> str:
    """Return the fixed-width `name | ` prefix, ANSI-coloured unless colour_index is None."""
    plain = f"{name:<{width}} | "
    if colour_index is None:
        return plain
    return f"\x1b[{_COLOURS[colour_index % len(_COLOURS)]}m{plain}{_RESET}"


def use_colour(stream: object = None, environ: Mapping[str, str] | None = None) -> bool:
    """True if output goes to a terminal and NO_COLOR is not set."""
    stream = sys.stdout if stream is None else stream
    environ = os.environ if environ is None else environ
    isatty = getattr(stream, "isatty", None)
    return "NO_COLOR" not in environ and callable(isatty) and bool(isatty())


class Console:
    """Prints whole prefixed lines from the event loop and the broker's reader thread."""

    def __init__(self, colour: bool) -> None:
        """Create a console; colour selects ANSI prefixes."""
        self._colour = colour
        self._indices: dict[str, int] = {}
        # The broker's log arrives on a thread; one lock keeps lines from interleaving.
        self._lock = threading.Lock()

    def prefix(self, name: str) -> str:
        """Return the prefix for name, giving each new name the next colour."""
        with self._lock:
            index = self._indices.setdefault(name, len(self._indices))
        return format_prefix(name, index if self._colour else None)

    def line(self, name: str, text: str) -> None:
        """Print one line of text under name's prefix."""
        out = f"{self.prefix(name)}{text}\n"
        # A closed stdout (piped into `head`) must not stop the shutdown path.
        with self._lock, contextlib.suppress(OSError, ValueError):
            sys.stdout.write(out)
            sys.stdout.flush()

    def say(self, text: str) -> None:
        """Print a line from devrun itself."""
        self.line("devrun", text)


def _listening_inodes(port: int) -> set[str]:
    """Socket inodes listening on TCP port, from /proc/net/tcp{,6} (Linux)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            # fields: sl, local "ADDR:PORT" (hex), remote, state (0A = LISTEN), ..., inode
            if (
                len(fields) > 9
                and fields[3] == "0A"
                and int(fields[1].rsplit(":", 1)[1], 16) == port
            ):
                inodes.add(fields[9])
    return inodes


def _pid_description(pid: int) -> str:
    """Return "pid N (command line)" for a process, as far as it can be read."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        cmd = raw.replace(b"\0", b" ").decode("utf-8", errors="replace").strip()
    except OSError:
        cmd = ""
    if len(cmd) > 100:
        cmd = cmd[:97] + "..."
    return f"pid {pid} ({cmd})" if cmd else f"pid {pid}"


def _owner_from_proc(port: int) -> str | None:
    """Find the listener's process by matching socket inodes in /proc/*/fd (Linux)."""
    inodes = _listening_inodes(port)
    if not inodes:
        return None
    targets = {f"socket:[{inode}]" for inode in inodes}
    for proc_dir in Path("/proc").iterdir():
        if not proc_dir.name.isdigit():
            continue
        try:
            for fd in (proc_dir / "fd").iterdir():
                if os.readlink(fd) in targets:
                    return _pid_description(int(proc_dir.name))
        except OSError:  # another user's process, or it exited meanwhile
            continue
    return "a process this user cannot inspect"


def _owner_from_lsof(port: int) -> str | None:
    """Ask lsof for the listener's process (macOS and Linux without /proc)."""
    lsof = shutil.which("lsof")
    if lsof is None:
        return None
    try:
        out = subprocess.run(  # noqa: S603 - fixed argv, lsof found on PATH
            [lsof, "-nP", f"-iTCP:{port}", "-sTCP:LISTEN", "-Fpc"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    pid = next((ln[1:] for ln in out.splitlines() if ln.startswith("p")), None)
    cmd = next((ln[1:] for ln in out.splitlines() if ln.startswith("c")), None)
    if pid is None:
        return None
    return f"pid {pid} ({cmd})" if cmd else f"pid {pid}"


def port_owner(port: int) -> str | None:
    """Describe the process listening on TCP port, or None if it cannot be found."""
    if Path("/proc/net/tcp").exists():
        return _owner_from_proc(port)
    return _owner_from_lsof(port)


def busy_ports(ports: Mapping[int, str], host: str = HOST) -> list[str]:
    """Return one message per port in `ports` (port -> user) that something already holds."""
    messages = []
    for port, user in ports.items():
        if port_is_free(host, port):
            continue
        owner = port_owner(port)
        held_by = f"by {owner}" if owner else f"(find the owner with `lsof -i :{port}`)"
        messages.append(f"port {port} needed by {user} is already in use {held_by}")
    return messages


def health_summary(body: bytes) -> tuple[bool, str]:
    """Parse a gateway /health body: (status is ok, short description)."""
    try:
        report = json.loads(body)
    except ValueError:
        return False, "response is not JSON"
    if not isinstance(report, dict):
        return False, "unexpected response"
    status = report.get("status")
    if status == "ok":
        return True, "ok"
    upstreams = report.get("upstreams")
    if isinstance(upstreams, dict):
        waiting = [
            f"{name} {info.get('status')}"
            for name, info in upstreams.items()
            if isinstance(info, dict) and info.get("status") != "ok"
        ]
        if waiting:
            return False, f"{status}: {', '.join(waiting)}"
    return False, str(status)


# No proxies: a developer's HTTP_PROXY must not intercept a probe of 127.0.0.1.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def probe_health(url: str = HEALTH_URL, timeout: float = 2.0) -> tuple[bool, str]:
    """GET the gateway's /health once (blocking): (status is ok, short description)."""
    try:
        with _DIRECT.open(url, timeout=timeout) as response:
            body: bytes = response.read(1 << 16)
    except urllib.error.HTTPError as exc:  # 503 carries the degraded report
        body = exc.read(1 << 16)
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return False, f"no answer ({reason})"
    return health_summary(body)


def child_env(environ: Mapping[str, str]) -> dict[str, str]:
    """Environment for children: APP_ENV=local unless set; unbuffered Python output."""
    env = dict(environ)
    env.setdefault("APP_ENV", "local")
    # Pipes make Python block-buffer stdout; access log lines would otherwise lag or be lost.
    env["PYTHONUNBUFFERED"] = "1"
    return env


def describe_exit(returncode: int) -> str:
    """Human form of a child's exit status (negative means killed by a signal)."""
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit code {returncode}"


@dataclass
class Child:
    """A running child process and the task printing its output."""

    name: str
    proc: asyncio.subprocess.Process
    pump: asyncio.Task[None]


async def _pump(name: str, stream: asyncio.StreamReader, console: Console) -> None:
    """Print a child's output line by line until it closes."""
    while True:
        try:
            raw = await stream.readline()
        except ValueError:  # a line over the reader limit; asyncio has discarded it
            console.line(name, "[devrun: over-long output line dropped]")
            continue
        if not raw:
            return
        console.line(name, raw.decode("utf-8", errors="replace").rstrip("\r\n"))


async def spawn(name: str, argv: Sequence[str], env: Mapping[str, str], console: Console) -> Child:
    """Start argv in its own process group with output piped to the console."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=REPO_ROOT,
        env=dict(env),
        # Own group: Ctrl-C reaches only devrun, which then stops children in order, and a
        # group signal also reaches anything a child started.
        start_new_session=True,
        limit=1 << 20,
    )
    assert proc.stdout is not None
    return Child(name, proc, asyncio.create_task(_pump(name, proc.stdout, console)))


def _signal_group(pid: int, sig: signal.Signals) -> None:
    """Send sig to a child's process group, ignoring a group that is already gone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


async def stop_children(children: Sequence[Child], console: Console, grace: float) -> None:
    """SIGTERM every child's group, SIGKILL those still running after `grace` seconds."""
    running = [c for c in children if c.proc.returncode is None]
    for child in running:
        _signal_group(child.proc.pid, signal.SIGTERM)
    waits = {asyncio.create_task(c.proc.wait()): c for c in running}
    if waits:
        _, late = await asyncio.wait(waits, timeout=grace)
        for task in late:
            child = waits[task]
            console.say(f"{child.name} did not stop within {grace:g} s; killing it")
            _signal_group(child.proc.pid, signal.SIGKILL)
        if late:
            await asyncio.wait(late)
    for child in children:
        # Anything a child left behind in its group goes too: no orphans.
        _signal_group(child.proc.pid, signal.SIGKILL)
    pumps = [c.pump for c in children]
    if pumps:
        await asyncio.wait(pumps, timeout=2.0)
    for child in children:
        child.pump.cancel()


def uvicorn_argv(app: AppSpec, log_config: Path) -> list[str]:
    """Command line for one app."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        app.app,
        "--host",
        HOST,
        "--port",
        str(app.port),
        "--log-config",
        str(log_config),
        "--timeout-graceful-shutdown",
        str(UVICORN_GRACEFUL_S),
    ]


class Launcher:
    """Runs the stack and owns every process it starts."""

    def __init__(self, console: Console, env: Mapping[str, str]) -> None:
        """Create a launcher printing to console, giving children env."""
        self.console = console
        self.env = dict(env)
        self.children: list[Child] = []
        self.broker: DevBroker | None = None
        self.stopping = asyncio.Event()
        self._signals = 0

    def install_signal_handlers(self) -> None:
        """Turn Ctrl-C and SIGTERM into an orderly stop; a second one kills at once."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._on_signal, sig)

    def _on_signal(self, sig: signal.Signals) -> None:
        """Record a stop request; on the second, SIGKILL the children right away."""
        self._signals += 1
        if self._signals == 1:
            self.console.say(f"{sig.name}: stopping (again to kill immediately)")
            self.stopping.set()
            return
        for child in self.children:
            _signal_group(child.proc.pid, signal.SIGKILL)

    async def migrate(self) -> int:
        """Run `python -m kernel.migrate <service>` for each service, stopping at a failure."""
        for service in MIGRATED_SERVICES:
            argv = [sys.executable, "-m", "kernel.migrate", service]
            child = await spawn(service, argv, self.env, self.console)
            self.children = [child]
            code = await self._wait_or_stop(child)
            await stop_children([child], self.console, STOP_GRACE_S)
            if code is None:
                return 130
            if code != 0:
                self.console.say(f"migrations of {service} failed ({describe_exit(code)})")
                return 1
        self.console.say("all migrations applied")
        return 0

    async def _wait_or_stop(self, child: Child) -> int | None:
        """Wait for child to exit (its status) or for a stop request (None)."""
        exited = asyncio.create_task(child.proc.wait())
        stop = asyncio.create_task(self.stopping.wait())
        done, _ = await asyncio.wait({exited, stop}, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if exited in done:
            return exited.result()
        exited.cancel()
        return None

    async def run(self, use_broker: bool, started: float, log_config: Path) -> int:
        """Start broker and apps, then supervise until a signal or an unexpected exit."""
        health: asyncio.Task[None] | None = None
        try:
            if use_broker:
                if not await self._start_broker():
                    return 1
            else:
                self._describe_external_broker()
            if self.stopping.is_set():
                return 0
            for app in APPS:
                argv = uvicorn_argv(app, log_config)
                self.children.append(await spawn(app.name, argv, self.env, self.console))
            health = asyncio.create_task(self._report_health(started))
            return await self._supervise()
        finally:
            if health is not None:
                health.cancel()
            if self.children:
                await stop_children(self.children, self.console, STOP_GRACE_S)
            # The broker goes last so that apps can flush and close their clients against it.
            if self.broker is not None:
                await asyncio.to_thread(self.broker.stop)
            self.console.say("stopped")

    async def _start_broker(self) -> bool:
        """Start the dev broker on BROKER_PORT; False (after saying why) if it cannot."""
        self.broker = DevBroker(
            BROKER_PORT, HOST, log_sink=lambda text: self.console.line("broker", text)
        )
        try:
            await asyncio.to_thread(self.broker.start)
        except (BrokerBinaryError, DevBrokerError) as exc:
            self.console.say(f"error: {exc}")
            return False
        configured = self.env.get("KAFKA_BOOTSTRAP_SERVERS")
        if configured and configured != self.broker.bootstrap:
            self.console.say(
                f"warning: KAFKA_BOOTSTRAP_SERVERS={configured} is set, so services will not "
                f"use this dev broker ({self.broker.bootstrap}); unset it or pass --no-broker"
            )
        return True

    def _describe_external_broker(self) -> None:
        """Say which broker the services will use with --no-broker."""
        configured = self.env.get("KAFKA_BOOTSTRAP_SERVERS")
        if configured:
            self.console.say(f"--no-broker: services use KAFKA_BOOTSTRAP_SERVERS={configured}")
        else:
            self.console.say(
                "--no-broker: KAFKA_BOOTSTRAP_SERVERS is not set; services use their default "
                f"({HOST}:{BROKER_PORT})"
            )

    async def _supervise(self) -> int:
        """Block until a stop request (0) or until any process exits on its own (1)."""
        exits: dict[asyncio.Task[Any], str] = {
            asyncio.create_task(c.proc.wait()): c.name for c in self.children
        }
        if self.broker is not None:
            # Popen.wait blocks, so it waits in a thread; broker.stop() ends it at shutdown.
            exits[asyncio.create_task(asyncio.to_thread(self.broker.wait))] = "broker"
        stop = asyncio.create_task(self.stopping.wait())
        try:
            done, _ = await asyncio.wait({stop, *exits}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (stop, *exits):
                task.cancel()
        if stop in done:
            return 0
        for task in done:
            code = task.result()
            # Tansu can exit with status 0 after a panic: any exit here is a failure.
            detail = describe_exit(code) if isinstance(code, int) else "unknown status"
            self.console.say(f"{exits[task]} exited unexpectedly ({detail}); stopping the others")
        return 1

    async def _report_health(self, started: float) -> None:
        """Poll the gateway's /health and say once when everything is up."""
        detail = "not polled"
        deadline = started + HEALTH_WAIT_S
        while time.monotonic() < deadline:
            ok, detail = await asyncio.to_thread(probe_health)
            if ok:
                elapsed = time.monotonic() - started
                self.console.say(f"all services up in {elapsed:.1f} s — gateway {GATEWAY_URL}/docs")
                return
            await asyncio.sleep(0.5)
        self.console.say(
            f"warning: {HEALTH_URL} did not report ok within {HEALTH_WAIT_S:g} s "
            f"(last: {detail}); leaving everything running"
        )


async def _main(args: argparse.Namespace) -> int:
    """Check ports, then run migrations or the whole stack."""
    started = time.monotonic()
    console = Console(use_colour())
    VAR_DIR.mkdir(exist_ok=True)  # services keep their SQLite files here
    launcher = Launcher(console, child_env(os.environ))
    launcher.install_signal_handlers()
    if args.migrate_only:
        return await launcher.migrate()
    try:
        log_config = log_config_for(launcher.env)
        # Checked here: each app would otherwise fail alone, at import, with the same message.
        if launcher.env.get(LEVEL_VARIABLE, "").strip():
            parse_level(launcher.env[LEVEL_VARIABLE])
    except ValueError as exc:
        console.say(f"error: {exc}")
        return 1

    needed = {app.port: app.name for app in APPS}
    if not args.no_broker:
        needed[BROKER_PORT] = "the dev broker"
    problems = busy_ports(needed)
    for problem in problems:
        console.say(f"error: {problem}")
    if problems:
        return 1
    return await launcher.run(use_broker=not args.no_broker, started=started, log_config=log_config)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(
        prog="python -m deploy.devrun",
        description=(
            "Run the development stack: Kafka-compatible dev broker on 9092, permits 8001, "
            "credit 8002, inspection 8003, insurance 8004, gateway 8000. Ctrl-C stops it."
        ),
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--migrate-only",
        action="store_true",
        help="apply each service's database migrations (python -m kernel.migrate) and exit",
    )
    mode.add_argument(
        "--no-broker",
        action="store_true",
        help="do not start the dev broker; services use $KAFKA_BOOTSTRAP_SERVERS",
    )
    args = parser.parse_args(argv)
    return asyncio.run(_main(args))


if __name__ == "__main__":
    sys.exit(main())
