"""``pairloop init``: create or upgrade the database to the newest schema."""

from __future__ import annotations

import typer
from alembic.runtime.migration import MigrationContext

import migrations
from pairloop.console import console, emit_json
from pairloop.settings import get_settings
from store.db import check_connection, make_engine


def init(
    downgrade: str | None = typer.Option(
        None, "--downgrade", metavar="REVISION", help="Downgrade to this revision instead ('base': empty)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Create the database (SQLite by default) or upgrade it to the newest schema."""
    settings = get_settings()
    engine = make_engine(settings.db_url)
    check_connection(engine)
    if downgrade:
        migrations.downgrade(settings.db_url, downgrade)
    else:
        migrations.upgrade(settings.db_url)
    with engine.connect() as conn:
        revision = MigrationContext.configure(conn).get_current_revision() or "base"
    engine.dispose()
    shown = engine.url.render_as_string(hide_password=True)
    if as_json:
        emit_json({"database": shown, "revision": revision})
    else:
        console.print(f"database ready: {shown} (revision {revision})")
