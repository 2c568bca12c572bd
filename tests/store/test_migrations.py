"""Alembic: upgrade to head creates the schema, downgrade to base removes it, on both databases."""

from __future__ import annotations

from sqlalchemy import inspect

import migrations
from store.db import make_engine
from store.models import Base


def tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade(empty_db_url):
    migrations.upgrade(empty_db_url)
    assert set(Base.metadata.tables) <= tables(empty_db_url)
    migrations.downgrade(empty_db_url, "base")
    assert tables(empty_db_url) <= {"alembic_version"}
    migrations.upgrade(empty_db_url)
    assert set(Base.metadata.tables) <= tables(empty_db_url)


def test_models_and_migrations_agree(db_url):
    """Autogenerate finds nothing to do: every model change has its migration."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(db_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []


def test_single_head():
    assert migrations.head_revision()
