"""The operator CLI: `safety <command>` (or `python -m ops <command>`).

Exit codes: 0 success, 1 failure (one `error: ...` line on stderr), 2 bad usage. A command is
one function with typer's annotations, registered below with one line; results go to stdout
(`--json` where a script would read them), progress and errors to stderr.
"""

from __future__ import annotations

import typer

from ops.audit import audit_app
from ops.demo.cli import demo_data
from ops.health import health
from ops.migrations import migrate
from ops.publish import publish_list
from ops.replay import replay
from ops.tokens import token

app = typer.Typer(
    name="safety",
    help="Operate the work-safety platform (安全生产监管平台): migrations, development tokens, "
    "event replay, audit chains, the monthly inspection list.",
    no_args_is_help=True,
    add_completion=False,
    # Expected failures print one line; anything else is a bug and keeps its plain traceback.
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

app.command("migrate")(migrate)
app.command("token")(token)
app.command("replay")(replay)
app.add_typer(audit_app, name="audit")
app.command("publish-list")(publish_list)
app.command("health")(health)
app.command("demo-data")(demo_data)


def main() -> None:
    """Console-script entry point (`safety = "ops.cli:main"`)."""
    app()
