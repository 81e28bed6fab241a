"""A TCP proxy that can be cut and restored: how the fault scenarios take a dependency away.

It runs its own event loop on a thread, so a caller that blocks (waiting for a process, a
broker stop) never stalls the traffic it carries. Two ways to cut:

- `reset`: every live connection is aborted (RST) and new ones are refused, as when the
  process behind it died or its host went away;
- `stall`: connections stay open and new ones are accepted, but no byte moves either way, as
  in a network partition that drops packets silently (the caller's timeouts must fire).

`restore()` lets traffic flow again on the same address; a stalled connection resumes where
it stopped (its peer may have given up on it meanwhile).

`ProxiedBroker` puts a development broker behind such a proxy, so that cutting it takes the
broker away from every client while its log survives.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, Literal, TypeVar

from bench.common import free_port
from kernel.devbroker import _TANSU_ENV_VARS, resolve_verified_binary

CutMode = Literal["reset", "stall"]
T = TypeVar("T")

_CHUNK = 65536


class TcpProxy:
    """127.0.0.1:`port` forwarded to `target_host`:`target_port` until cut."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1", port: int | None = None):
        self.target = (target_host, target_port)
        self.port = port or free_port()
        self.cut_mode: CutMode | None = None
        self.connections_total = 0
        self.connections_reset = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="proxy")
        self._server: asyncio.Server | None = None
        self._flowing: asyncio.Event | None = None
        self._live: set[asyncio.StreamWriter] = set()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> TcpProxy:
        self._thread.start()
        self._call(self._start())
        return self

    def stop(self) -> None:
        """Close every connection and the listener, then end the thread."""
        if not self._thread.is_alive():
            return
        self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def cut(self, mode: CutMode = "reset") -> None:
        """Take the target away (see the module docstring for the two modes)."""
        self._call(self._cut(mode))

    def restore(self) -> None:
        """Let traffic through again, on the same port."""
        self._call(self._restore())

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    async def _start(self) -> None:
        self._flowing = asyncio.Event()
        self._flowing.set()
        await self._listen()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._serve, "127.0.0.1", self.port, reuse_address=True
        )

    async def _cut(self, mode: CutMode) -> None:
        assert self._flowing is not None
        self.cut_mode = mode
        self._flowing.clear()
        if mode == "reset":
            if self._server is not None:
                self._server.close()
                self._server = None
            for writer in list(self._live):
                self.connections_reset += 1
                writer.transport.abort()
            self._live.clear()

    async def _restore(self) -> None:
        assert self._flowing is not None
        if self._server is None:
            await self._listen()
        self.cut_mode = None
        self._flowing.set()

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._live):
            writer.transport.abort()
        self._live.clear()
        if self._flowing is not None:
            self._flowing.set()  # let stalled pumps run into their closed sockets and end

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert self._flowing is not None
        self.connections_total += 1
        self._live.add(writer)
        try:
            # A connection made during a stall waits, as a SYN into a partition would.
            await self._flowing.wait()
            if self.cut_mode == "reset" or writer.is_closing():
                return
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            self._live.discard(writer)
            writer.transport.abort()
            return
        self._live.add(up_writer)
        try:
            await asyncio.gather(
                self._pump(reader, up_writer), self._pump(up_reader, writer), return_exceptions=True
            )
        finally:
            for w in (writer, up_writer):
                self._live.discard(w)
                w.transport.abort()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert self._flowing is not None
        try:
            while True:
                data = await reader.read(_CHUNK)
                if not data:
                    break
                if not self._flowing.is_set():
                    await self._flowing.wait()
                    if writer.is_closing():
                        break
                writer.write(data)
                await writer.drain()
        finally:
            # One direction ended: end the other too, as a real socket pair would.
            with contextlib.suppress(Exception):
                writer.transport.abort()


class ProxiedBroker:
    """A development broker (Tansu, memory storage) that clients reach only through a TcpProxy.

    Tansu listens on a private port and advertises the proxy's address in its metadata, so
    every connection a client makes — bootstrap and the partition leader alike — crosses the
    proxy, and cutting it takes the broker away while its log and committed offsets survive:
    what a Kafka broker with a disk looks like to its clients when it dies and comes back.
    (kernel.devbroker.DevBroker advertises its own listener; a restart of it loses the log.)
    """

    def __init__(self, logs: Path) -> None:
        self._private_port = free_port()
        self.proxy = TcpProxy(self._private_port)
        logs.mkdir(parents=True, exist_ok=True)
        self._log_path = logs / "broker.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return self.proxy.address

    def start(self, timeout: float = 20.0) -> ProxiedBroker:
        binary, _digest = resolve_verified_binary()  # the same hash-pinned binary as DevBroker
        env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV_VARS}
        env["NO_COLOR"] = "1"
        with self._log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                [
                    str(binary),
                    "broker",
                    "--listener-url",
                    f"tcp://127.0.0.1:{self._private_port}",
                    "--advertised-listener-url",
                    f"tcp://{self.proxy.address}",
                    "--storage-engine",
                    "memory://tansu/",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while True:
            if self._proc.poll() is not None:
                raise RuntimeError(f"broker exited at start: {self._log_path.read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self._private_port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"broker not listening after {timeout} s") from None
                time.sleep(0.05)
        self.proxy.start()
        return self

    def stop(self) -> None:
        self.proxy.stop()
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            # SIGINT: Tansu exits at once on it (on SIGTERM it lingers 5 s, see DevBroker.stop).
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def __enter__(self) -> ProxiedBroker:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
