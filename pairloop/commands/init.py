"""``pairloop init``: create or upgrade the database to the newest schema."""

from __future__ import annotations

import typer

from pairloop.commands.options import JsonOpt
from pairloop.console import RICH_PROGRESS, console, emit_json
from pairloop.settings import get_settings
from pairloop.usecases.context import Context
from pairloop.usecases.store import init_store


def init(
    downgrade: str | None = typer.Option(
        None, "--downgrade", metavar="REVISION", help="Downgrade to this revision instead ('base': empty)."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Create the database (SQLite by default) or upgrade it to the newest schema."""
    with Context(get_settings(), RICH_PROGRESS) as ctx:
        result = init_store(ctx, downgrade)
    if as_json:
        emit_json(result)
    else:
        console.print(f"database ready: {result.database} (revision {result.revision})")
