"""Alembic migrations for the label store, runnable from code (``pairloop init``) and the CLI.

Schema changes run under a lock held across processes (:func:`migration_lock`), so commands
started at once on a database nobody initialised yet create its schema once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from store.db import make_engine
from store.locks import file_lock

MIGRATIONS_DIR = Path(__file__).resolve().parent
# The PostgreSQL advisory lock every schema change takes (one bigint, named after its use).
PG_LOCK_KEY = int.from_bytes(hashlib.sha256(b"pairloop:migrations").digest()[:8], "big", signed=True)


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


@contextmanager
def migration_lock(url: str) -> Iterator[None]:
    """Hold the database's migration lock for the block: a ``flock`` on ``<file>.lock`` beside a
    SQLite file, a session advisory lock on PostgreSQL. The holder's death releases it."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite" and parsed.database and parsed.database != ":memory:":
        database = Path(parsed.database).expanduser()
        with file_lock(database.with_name(database.name + ".lock")):
            yield
    elif backend == "postgresql":
        engine = make_engine(url)
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": PG_LOCK_KEY})
                conn.commit()  # the lock belongs to the session: it outlives the transaction
                try:
                    yield
                finally:
                    conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": PG_LOCK_KEY})
                    conn.commit()
        finally:
            engine.dispose()
    else:  # an in-memory SQLite database belongs to one connection: nothing to race with
        yield


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None: no schema yet)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(url: str, revision: str = "head") -> None:
    with migration_lock(url):
        command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    with migration_lock(url):
        command.downgrade(alembic_config(url), revision)


def initialise(engine: Engine) -> str | None:
    """Create the schema of a database that has none yet, once however many processes ask at
    once; the revision the database was at before (None: it had no schema, now it is at the head)."""
    url = engine.url.render_as_string(hide_password=False)
    with migration_lock(url):
        found = current_revision(engine)
        if found is None:
            command.upgrade(alembic_config(url), "head")
        return found


def head_revision() -> str:
    heads = ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"migrations have {len(heads)} heads {heads}; merge them")
    return heads[0]
