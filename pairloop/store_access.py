"""Open the configured store: reachable, and at the newest schema revision."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pairloop.settings import Settings
from store.db import check_connection, make_engine
from store.errors import SchemaOutdated

if TYPE_CHECKING:
    from sqlalchemy import Engine


def open_store(settings: Settings) -> Engine:
    """An engine on the configured database; a fresh database is initialised on first use (once,
    when several commands start on it at once: the others wait for it, see :func:`migrations.initialise`)."""
    import migrations  # Alembic loads when a command opens the store, not with `pairloop --help`

    engine = make_engine(settings.db_url)
    check_connection(engine)
    head = migrations.head_revision()
    current = migrations.current_revision(engine)
    if current != head:
        # No schema, or one another process is creating right now: under the migration lock
        # the first creates it and the others find it done.
        current = migrations.initialise(engine) or head
    if current != head:
        raise SchemaOutdated(
            f"the database schema is at revision {current}, the code expects {head}: "
            "run `pairloop init` to upgrade it"
        )
    return engine
