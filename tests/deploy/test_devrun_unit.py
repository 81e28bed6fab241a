"""Pure parts of the development launcher: prefixes, port checks, health parsing, environment."""

from __future__ import annotations

import os
import re
import signal
import socket
import sys
from collections.abc import Iterator

import pytest

from deploy import devrun

ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture
def listener() -> Iterator[int]:
    """A TCP port held by a listening socket of this test process."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((devrun.HOST, 0))
        s.listen()
        yield s.getsockname()[1]


class TestPrefix:
    def test_plain_prefix_is_fixed_width(self) -> None:
        assert devrun.format_prefix("permits", None) == "permits    | "
        assert devrun.format_prefix("inspection", None) == "inspection | "
        widths = {len(devrun.format_prefix(a.name, None)) for a in devrun.APPS}
        assert widths == {devrun.NAME_WIDTH + 3}

    def test_name_width_fits_every_process(self) -> None:
        names = [a.name for a in devrun.APPS] + ["broker", "devrun"]
        assert devrun.NAME_WIDTH == max(map(len, names)) == len("inspection")

    def test_coloured_prefix_has_same_visible_text(self) -> None:
        coloured = devrun.format_prefix("credit", 2)
        assert coloured != devrun.format_prefix("credit", None)
        assert coloured.startswith("\x1b[")
        assert coloured.endswith("\x1b[0m")
        assert ANSI.sub("", coloured) == devrun.format_prefix("credit", None)

    def test_colours_cycle(self) -> None:
        assert devrun.format_prefix("x", 0) == devrun.format_prefix("x", len(devrun._COLOURS))

    def test_console_prints_whole_prefixed_lines(self, capsys: pytest.CaptureFixture[str]) -> None:
        console = devrun.Console(colour=False)
        console.line("gateway", "GET /health HTTP/1.1 200 OK")
        console.say("hello")
        assert capsys.readouterr().out.splitlines() == [
            "gateway    | GET /health HTTP/1.1 200 OK",
            "devrun     | hello",
        ]

    def test_colour_only_on_a_terminal_without_no_color(self) -> None:
        class Tty:
            def isatty(self) -> bool:
                return True

        class Pipe:
            def isatty(self) -> bool:
                return False

        assert devrun.use_colour(Tty(), {})
        assert not devrun.use_colour(Tty(), {"NO_COLOR": "1"})
        assert not devrun.use_colour(Pipe(), {})


class TestPorts:
    def test_held_port_is_reported_with_owner(self, listener: int) -> None:
        problems = devrun.busy_ports({listener: "permits"})
        assert len(problems) == 1
        assert f"port {listener} needed by permits is already in use" in problems[0]
        if sys.platform.startswith("linux"):
            assert f"pid {os.getpid()}" in problems[0]

    def test_owner_lookup_finds_this_process(self, listener: int) -> None:
        if not sys.platform.startswith("linux"):
            pytest.skip("/proc lookup is Linux-only")
        owner = devrun.port_owner(listener)
        assert owner is not None
        assert owner.startswith(f"pid {os.getpid()} (")

    def test_free_port_is_not_reported(self) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((devrun.HOST, 0))
            port = s.getsockname()[1]
        assert devrun.busy_ports({port: "gateway"}) == []

    def test_port_released_by_a_closed_connection_counts_as_free(self) -> None:
        # A restart must not be refused because of TIME_WAIT left by the previous run. Like
        # uvicorn (asyncio) and Tansu (tokio), the server sets SO_REUSEADDR; Linux honours it
        # for a TIME_WAIT socket only if the socket that left it had it too.
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as srv:
            srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            srv.bind((devrun.HOST, 0))
            srv.listen()
            port = srv.getsockname()[1]
            client = socket.create_connection((devrun.HOST, port))
            conn, _ = srv.accept()
            conn.close()  # server side closes first: it holds the TIME_WAIT
            client.close()
        assert devrun.busy_ports({port: "gateway"}) == []


class TestHealth:
    def test_ok(self) -> None:
        assert devrun.health_summary(b'{"status": "ok", "upstreams": {}}') == (True, "ok")

    def test_degraded_names_the_waiting_upstreams(self) -> None:
        body = (
            b'{"status": "degraded", "upstreams": {'
            b'"permits": {"status": "ok"}, "credit": {"status": "unavailable"},'
            b'"insurance": {"status": "not_ready"}}}'
        )
        assert devrun.health_summary(body) == (
            False,
            "degraded: credit unavailable, insurance not_ready",
        )

    @pytest.mark.parametrize("body", [b"<html>", b"[]", b""])
    def test_garbage_is_not_ok(self, body: bytes) -> None:
        assert devrun.health_summary(body)[0] is False

    def test_unreachable_gateway_is_not_ok(self) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((devrun.HOST, 0))
            port = s.getsockname()[1]
        ok, detail = devrun.probe_health(f"http://{devrun.HOST}:{port}/health", timeout=1)
        assert not ok
        assert detail.startswith("no answer")


class TestEnvironmentAndCommands:
    def test_app_env_defaults_to_local_but_is_not_overridden(self) -> None:
        assert devrun.child_env({})["APP_ENV"] == "local"
        assert devrun.child_env({"APP_ENV": "test"})["APP_ENV"] == "test"
        assert devrun.child_env({})["PYTHONUNBUFFERED"] == "1"

    def test_no_service_settings_are_injected(self) -> None:
        env = devrun.child_env({"PATH": "/bin"})
        assert set(env) == {"PATH", "APP_ENV", "PYTHONUNBUFFERED"}

    def test_apps_and_ports(self) -> None:
        assert {(a.app, a.port) for a in devrun.APPS} == {
            ("services.permits.main:app", 8001),
            ("services.credit.main:app", 8002),
            ("services.inspection.main:app", 8003),
            ("services.insurance.main:app", 8004),
            ("gateway.main:app", 8000),
        }

    def test_uvicorn_command_line(self) -> None:
        app = devrun.APPS[0]
        config = devrun.log_config_for({})
        argv = devrun.uvicorn_argv(app, config)
        assert argv[:4] == [sys.executable, "-m", "uvicorn", app.app]
        assert argv[argv.index("--host") + 1] == "127.0.0.1"
        assert argv[argv.index("--port") + 1] == str(app.port)
        assert argv[argv.index("--log-config") + 1] == str(config)
        # Access lines come from kernel.logs.RequestLogMiddleware; the config turns uvicorn's off.
        assert "--no-access-log" not in argv

    def test_log_format_selects_the_shipped_config(self) -> None:
        text = devrun.REPO_ROOT / "deploy" / "logging" / "text.json"
        json_ = devrun.REPO_ROOT / "deploy" / "logging" / "json.json"
        assert devrun.log_config_for({}) == text
        assert devrun.log_config_for({"LOG_FORMAT": ""}) == text
        assert devrun.log_config_for({"LOG_FORMAT": "JSON"}) == json_
        assert devrun.log_config_for({"LOG_FORMAT": "text"}) == text
        assert all(path.is_file() for path in devrun.LOG_CONFIGS.values())
        with pytest.raises(ValueError, match="LOG_FORMAT='xml': use one of json, text"):
            devrun.log_config_for({"LOG_FORMAT": "xml"})

    def test_exit_descriptions(self) -> None:
        assert devrun.describe_exit(3) == "exit code 3"
        assert devrun.describe_exit(-signal.SIGKILL) == "killed by SIGKILL"

    def test_help_exits_cleanly(self, capsys: pytest.CaptureFixture[str]) -> None:
        with pytest.raises(SystemExit) as exc:
            devrun.main(["--help"])
        assert exc.value.code == 0
        out = capsys.readouterr().out
        assert "--migrate-only" in out
        assert "--no-broker" in out
