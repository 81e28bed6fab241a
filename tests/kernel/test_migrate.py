"""kernel.migrate.upgrade at start: a database at head is left alone, one behind is upgraded."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from alembic import command

from kernel import migrate
from kernel.migrate import current_heads, script_heads, upgrade


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def test_a_database_behind_is_upgraded_and_one_at_head_is_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = sqlite_url(tmp_path / "credit.db")
    assert current_heads(url) == ()
    upgrade("credit", url, "0001")
    assert current_heads(url) == ("0001",)
    upgrade("credit", url)
    assert current_heads(url) == script_heads("credit") == ("0004",)

    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(command, "upgrade", lambda *args: calls.append(args))
    upgrade("credit", url)
    assert calls == []
    upgrade("credit", url, "0001")  # any other target goes to Alembic
    assert len(calls) == 1


def test_a_new_revision_file_is_seen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "credit"
    shutil.copytree(migrate.migrations_dir("credit"), folder)
    monkeypatch.setattr(migrate, "migrations_dir", lambda service: folder)
    assert script_heads("credit") == ("0004",)
    (folder / "versions" / "0005_next.py").write_text(
        'revision = "0005"\ndown_revision = "0004"\n'
        "branch_labels = None\ndepends_on = None\n\n\n"
        "def upgrade() -> None:\n    pass\n\n\ndef downgrade() -> None:\n    pass\n"
    )
    assert script_heads("credit") == ("0005",)
