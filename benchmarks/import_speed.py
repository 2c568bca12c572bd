"""Import the 49,688 Instacart products into SQLite and PostgreSQL.

Prints rows/s of pairloop's importer next to a plain DBAPI ``executemany`` of the same rows
into the same table, measured in the same run. Goal: ≥ 20,000 rows/s on SQLite.

    .venv/bin/python -m benchmarks.import_speed
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import migrations
from benchmarks._postgres import create_database, drop_database
from store.db import make_engine
from store.formats import instacart
from store.importer import Importer

DATASETS = Path(os.environ.get("PAIRLOOP_DATASETS", Path(__file__).resolve().parents[2] / "shared" / "datasets"))


def _importer_run(url: str, directory: Path) -> tuple[int, float]:
    engine = make_engine(url)
    start = time.perf_counter()
    with engine.begin() as conn:
        importer = Importer(conn)
        importer.items(instacart.read_items(directory))
        report = importer.finish()
    elapsed = time.perf_counter() - start
    engine.dispose()
    return report.items_added, elapsed


def _baseline_run(url: str, directory: Path) -> tuple[int, float]:
    """The same rows parsed the same way, inserted with one raw ``executemany``."""
    engine = make_engine(url)
    start = time.perf_counter()
    rows = [r.row() for r in instacart.read_items(directory)]
    placeholder = "?" if engine.dialect.name == "sqlite" else "%s"
    columns = ("source", "external_id", "title", "category_path", "created_at")
    sql = f"INSERT INTO items ({', '.join(columns)}) VALUES ({', '.join([placeholder] * len(columns))})"
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.executemany(sql, [(r["source"], r["external_id"], r["title"], r["category_path"], "2026-01-01")
                                 for r in rows])
        raw.commit()
    finally:
        raw.close()
    elapsed = time.perf_counter() - start
    engine.dispose()
    return len(rows), elapsed


def _fresh_sqlite(tmp: Path) -> str:
    url = f"sqlite:///{tmp / f'{uuid.uuid4().hex}.db'}"
    migrations.upgrade(url)
    return url


def _fresh_postgres() -> tuple[str, str] | None:
    created = create_database()
    if created is not None:
        migrations.upgrade(created[1])
    return created


def main(argv: list[str] | None = None) -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv or [])
    directory = DATASETS / "instacart"
    if not (directory / "products.csv").exists():
        print(f"skipped: {directory} is absent")
        return
    with tempfile.TemporaryDirectory() as tmp:
        targets = [("sqlite", lambda: (None, _fresh_sqlite(Path(tmp))))]
        targets.append(("postgresql", _fresh_postgres))
        print(f"{'database':<11} {'pairloop rows/s':>16} {'executemany rows/s':>19} {'ratio':>6}")
        for label, fresh in targets:
            results = []
            for run in (_importer_run, _baseline_run):
                created = fresh()
                if created is None:
                    break
                name, url = created
                try:
                    rows, seconds = run(url, directory)
                finally:
                    if name:
                        drop_database(name)
                results.append(rows / seconds)
            if len(results) == 2:
                ours, base = results
                print(f"{label:<11} {ours:>16,.0f} {base:>19,.0f} {ours / base:>6.2f}")


if __name__ == "__main__":
    main(sys.argv[1:])
