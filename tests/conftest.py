"""Shared fixtures: a database per test on SQLite and on the local PostgreSQL, the CLI, datasets."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

import migrations
from pairloop.cli import app
from pairloop.settings import get_settings
from store.db import make_engine

# A real Label Studio and rounds wired to it, and a real two-node Ray cluster, for the tests (in
# several folders) that need them.
pytest_plugins = ["support.label_studio", "support.ray_cluster"]

REPO = Path(__file__).resolve().parents[1]
PG_ADMIN_URL = os.environ.get("PAIRLOOP_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def datasets_root() -> Path | None:
    root = Path(os.environ.get("PAIRLOOP_DATASETS", REPO.parent / "shared" / "datasets"))
    return root if root.is_dir() else None


@pytest.fixture
def datasets() -> Path:
    root = datasets_root()
    if root is None:
        pytest.skip("../shared/datasets (or $PAIRLOOP_DATASETS) is absent: real-data test skipped")
    return root


def _postgres_available() -> str | None:
    import psycopg

    try:
        with psycopg.connect(PG_ADMIN_URL.replace("+psycopg", ""), connect_timeout=3):
            return None
    except psycopg.OperationalError as exc:
        return str(exc).strip().splitlines()[0]


@pytest.fixture(scope="session")
def postgres_server() -> str:
    problem = _postgres_available()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL must run in CI (.ci/run starts it): {problem}")
        pytest.skip(f"local PostgreSQL is not reachable: {problem}")
    return PG_ADMIN_URL


def create_pg_database(admin_url: str) -> tuple[str, str]:
    import psycopg

    name = f"pairloop_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name, admin_url.rsplit("/", 1)[0] + f"/{name}"


def drop_pg_database(admin_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin_url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_db_url(request, tmp_path) -> Iterator[str]:
    """A URL to a fresh, empty database: a SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'pairloop.db'}"
        return
    admin = request.getfixturevalue("postgres_server")
    name, url = create_pg_database(admin)
    try:
        yield url
    finally:
        drop_pg_database(admin, name)


@pytest.fixture
def db_url(empty_db_url: str) -> str:
    """A fresh database at the newest schema."""
    migrations.upgrade(empty_db_url)
    return empty_db_url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'pairloop.db'}"
    migrations.upgrade(url)
    return url


class Cli:
    """Runs ``pairloop`` in-process against one database and data directory."""

    def __init__(self, url: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch):
        monkeypatch.setenv("PAIRLOOP_DATABASE_URL", url)
        monkeypatch.setenv("PAIRLOOP_DATA_DIR", str(data_dir))
        get_settings.cache_clear()
        self.runner = CliRunner()

    def __call__(self, *args: str, expect: int | None = 0):
        result = self.runner.invoke(app, [str(a) for a in args])
        if expect is not None and result.exit_code != expect:
            raise AssertionError(
                f"pairloop {' '.join(map(str, args))} exited {result.exit_code}, expected {expect}\n"
                f"stdout: {result.stdout}\nstderr: {result.stderr}\nexception: {result.exception!r}"
            )
        return result


@pytest.fixture
def cli(db_url, tmp_path, monkeypatch) -> Iterator[Cli]:
    yield Cli(db_url, tmp_path / "data", monkeypatch)
    get_settings.cache_clear()


@pytest.fixture
def sqlite_cli(sqlite_url, tmp_path, monkeypatch) -> Iterator[Cli]:
    yield Cli(sqlite_url, tmp_path / "data", monkeypatch)
    get_settings.cache_clear()
