"""deploy/logging/*.json: the uvicorn log configs every way of running the apps points at.

They are kernel.logs.logging_config dumped (one source), they load, and the path the manifests
give (/app/deploy/logging/json.json) is where the image puts the file.
"""

from __future__ import annotations

import io
import json
import logging
import logging.config
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kernel.logs import LOG_FORMATS, JsonFormatter, LogFormat, TextFormatter, logging_config
from kernel.settings import REPO_ROOT

LOGGING_DIR = REPO_ROOT / "deploy" / "logging"
REGENERATE = (
    'python -c "import json; from kernel.logs import logging_config as c; '
    "[open(f'deploy/logging/{f}.json', 'w').write(json.dumps(c(f), indent=2) + chr(10)) "
    "for f in ('json', 'text')]\""
)


def _load(fmt: str) -> dict[str, Any]:
    loaded = json.loads((LOGGING_DIR / f"{fmt}.json").read_text())
    assert isinstance(loaded, dict)
    return loaded


@pytest.mark.parametrize("fmt", LOG_FORMATS)
def test_shipped_file_is_the_kernel_config(fmt: LogFormat) -> None:
    assert _load(fmt) == logging_config(fmt), f"regenerate with: {REGENERATE}"


def test_configs_differ_only_in_the_formatter() -> None:
    json_, text = _load("json"), _load("text")
    assert json_["formatters"] == {"app": {"()": "kernel.logs.JsonFormatter"}}
    assert text["formatters"] == {"app": {"()": "kernel.logs.TextFormatter"}}
    assert {k: v for k, v in json_.items() if k != "formatters"} == {
        k: v for k, v in text.items() if k != "formatters"
    }


def test_uvicorn_access_log_is_off_and_everything_else_reaches_root() -> None:
    config = _load("json")
    loggers = config["loggers"]
    # No handler and no propagation: uvicorn skips its access lines (the middleware writes them).
    assert loggers["uvicorn.access"] == {"handlers": [], "propagate": False}
    for name in ("uvicorn", "uvicorn.error"):
        assert loggers[name]["propagate"] is True
    assert config["root"]["handlers"] == ["stdout"]
    assert config["handlers"]["stdout"]["stream"] == "ext://sys.stdout"
    assert config["disable_existing_loggers"] is False  # module loggers made at import survive


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """dictConfig replaces root's handlers; put pytest's (caplog) back afterwards."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    names = ("uvicorn", "uvicorn.error", "uvicorn.access", "aiokafka", "alembic.runtime.plugins")
    loggers = {n: logging.getLogger(n) for n in names}
    saved_loggers = {
        n: (lg.handlers[:], lg.level, lg.propagate, lg.disabled) for n, lg in loggers.items()
    }
    try:
        yield
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        for n, (handlers, level, propagate, disabled) in saved_loggers.items():
            lg = loggers[n]
            lg.handlers[:] = handlers
            lg.setLevel(level)
            lg.propagate = propagate
            lg.disabled = disabled


@pytest.mark.usefixtures("restore_logging")
@pytest.mark.parametrize("fmt", LOG_FORMATS)
def test_config_loads_with_the_kernel_formatter(fmt: str) -> None:
    logging.config.dictConfig(_load(fmt))
    (handler,) = logging.getLogger().handlers
    expected = JsonFormatter if fmt == "json" else TextFormatter
    assert type(handler.formatter) is expected
    assert isinstance(handler, logging.StreamHandler)
    stream = io.StringIO()
    handler.setStream(stream)
    # uvicorn sets this level from --log-level (info by default); an earlier test in the same
    # process may have started uvicorn with another.
    logging.getLogger("uvicorn.error").setLevel(logging.INFO)
    logging.getLogger("uvicorn.error").info("Started server process [%d]", 42)
    logging.getLogger("uvicorn.access").info("never written")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    assert "Started server process [42]" in lines[0]
    if fmt == "json":
        assert json.loads(lines[0])["logger"] == "uvicorn.error"


def test_image_path_of_the_config_is_the_shipped_file() -> None:
    """Manifests name /app/deploy/logging/json.json: the Dockerfile's WORKDIR plus deploy/."""
    text = (REPO_ROOT / "Dockerfile").read_text()
    runtime = text[text.rindex("FROM ") :]
    workdirs = re.findall(r"^WORKDIR\s+(\S+)", runtime, flags=re.M)
    assert workdirs[-1] == "/app"
    assert re.search(r"^COPY deploy \./deploy$", runtime, flags=re.M)
    image_path = Path("/app/deploy/logging/json.json")
    assert (REPO_ROOT / image_path.relative_to(workdirs[-1])).is_file()
    ignore = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    assert "!deploy/" in ignore
    assert not any(line.startswith("deploy/logging") for line in ignore)
