"""Import tests' fixtures: pairloop's CLI on one database by URL, and on SQLite and PostgreSQL at once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import Result
from sqlalchemy import delete, func, select
from sqlalchemy.orm import aliased
from typer.testing import CliRunner

import migrations
from pairloop.cli import app
from pairloop.settings import get_settings
from store.db import make_engine
from store.models import Behaviour, Item, Label, Pair
from store.taxonomy import mirror_fine
from tests.conftest import create_pg_database, drop_pg_database

TABLES = {"items": Item, "pairs": Pair, "labels": Label, "behaviour": Behaviour}


class StoreCli:
    """``pairloop`` run in-process against one database (its URL passed per call, so several
    can be used in one test), with the store's rows read back by SQL."""

    def __init__(self, url: str, data_dir: Path):
        self.url = url
        self.backend = url.split(":", 1)[0].split("+", 1)[0]
        self.env = {"PAIRLOOP_DATABASE_URL": url, "PAIRLOOP_DATA_DIR": str(data_dir)}
        self.engine = make_engine(url)
        self.runner = CliRunner()

    def __call__(self, *args: object) -> Result:
        get_settings.cache_clear()
        try:
            return self.runner.invoke(app, [str(a) for a in args], env=self.env)
        finally:
            get_settings.cache_clear()

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            return {name: conn.execute(select(func.count()).select_from(model)).scalar_one()
                    for name, model in TABLES.items()}

    def labels(self) -> list[tuple]:
        """Every label as (item a, item b, actor, relation, fine code), items as (source, external id),
        in the order of the file that imported it (fine codes read item a → item b)."""
        a, b = aliased(Item), aliased(Item)
        stmt = (select(a.source, a.external_id, b.source, b.external_id, Label.actor, Label.relation,
                       Label.fine_code, Label.presented_reversed)
                .join(Pair, Label.pair_id == Pair.id).join(a, Pair.item_a_id == a.id).join(b, Pair.item_b_id == b.id))
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        return [((sb, eb), (sa, ea), actor, rel, mirror_fine(fine) if fine else fine) if rev
                else ((sa, ea), (sb, eb), actor, rel, fine)
                for sa, ea, sb, eb, actor, rel, fine, rev in rows]

    def clear(self) -> None:
        with self.engine.begin() as conn:
            for model in (Label, Behaviour, Pair, Item):
                conn.execute(delete(model))

    def close(self) -> None:
        self.engine.dispose()


@pytest.fixture
def store_cli(db_url: str, tmp_path: Path) -> Iterator[StoreCli]:
    """The CLI on SQLite or PostgreSQL (each test runs on both)."""
    store = StoreCli(db_url, tmp_path / "data")
    yield store
    store.close()


@pytest.fixture
def both_stores(sqlite_url: str, postgres_server: str, tmp_path: Path) -> Iterator[tuple[StoreCli, StoreCli]]:
    """The CLI on a SQLite store and on a PostgreSQL store, to run the same file on both."""
    name, pg_url = create_pg_database(postgres_server)
    stores = ()
    try:
        migrations.upgrade(pg_url)
        stores = (StoreCli(sqlite_url, tmp_path / "data-sqlite"), StoreCli(pg_url, tmp_path / "data-pg"))
        yield stores
    finally:
        for store in stores:
            store.close()
        drop_pg_database(postgres_server, name)
