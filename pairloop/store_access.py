"""Open the configured store: reachable, and at the newest schema revision."""

from __future__ import annotations

from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine

import migrations
from pairloop.settings import Settings
from store.db import check_connection, make_engine
from store.errors import SchemaOutdated


def open_store(settings: Settings) -> Engine:
    """An engine on the configured database; a fresh database is initialised on first use."""
    engine = make_engine(settings.db_url)
    check_connection(engine)
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    head = migrations.head_revision()
    if current is None:
        migrations.upgrade(settings.db_url)
    elif current != head:
        raise SchemaOutdated(
            f"the database schema is at revision {current}, the code expects {head}: "
            "run `pairloop init` to upgrade it"
        )
    return engine
