"""Throw-away PostgreSQL databases for benchmarks (the local server, as the tests use it)."""

from __future__ import annotations

import os
import uuid

PG_ADMIN = os.environ.get("PAIRLOOP_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def create_database() -> tuple[str, str] | None:
    """A new empty database: (name, SQLAlchemy URL), or None (with a line why) when unreachable."""
    import psycopg

    name = f"pairloop_bench_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(PG_ADMIN.replace("+psycopg", ""), autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        print(f"PostgreSQL skipped: {str(exc).splitlines()[0]}")
        return None
    return name, PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"


def drop_database(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

