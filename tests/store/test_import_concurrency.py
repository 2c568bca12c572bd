"""Two imports at once, on SQLite and PostgreSQL: each reports what it inserted itself, so the
reports add up to what the store holds, and a repeated import reports nothing added."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select

from pairloop.settings import Settings
from pairloop.usecases.context import Context
from pairloop.usecases.imports import ImportResult, import_labels
from store.db import make_engine
from store.models import Item, Label, Pair

COUNTED = {"items_added": Item, "pairs_added": Pair, "labels_added": Label}


def pair_file(path: Path, rows: range, reverse: bool = False) -> Path:
    lines = [f"I{i},J{i % 97},{('substitute', 'complementary', 'unrelated')[i % 3]},ann{i % 4}\n" for i in rows]
    path.write_text("item_a,item_b,relation,actor\n" + "".join(reversed(lines) if reverse else lines),
                    encoding="utf-8")
    return path


def at_once(db_url: str, data_dir: Path, paths: list[Path]) -> list[ImportResult]:
    """Import each file in its own thread with its own engine, all released together."""
    start = threading.Barrier(len(paths))
    results: dict[int, ImportResult] = {}
    errors: list[BaseException] = []

    def run(n: int, path: Path) -> None:
        with Context(Settings(database_url=db_url, data_dir=data_dir)) as ctx:
            ctx.engine  # noqa: B018 (open the store before the start signal)
            start.wait()
            try:
                results[n] = import_labels(ctx, path)
            except BaseException as exc:  # reported by the test, not lost in the thread
                errors.append(exc)

    threads = [threading.Thread(target=run, args=(n, path)) for n, path in enumerate(paths)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return [results[n] for n in range(len(paths))]


def stored(db_url: str) -> dict[str, int]:
    engine = make_engine(db_url)
    with engine.connect() as conn:
        counts = {key: conn.execute(select(func.count()).select_from(model)).scalar_one()
                  for key, model in COUNTED.items()}
    engine.dispose()
    return counts


@pytest.mark.parametrize("files", ["overlapping", "opposite-orders", "the-same"])
def test_reports_of_imports_at_once_add_up_to_the_store(db_url, tmp_path, files):
    first = pair_file(tmp_path / "first.csv", range(0, 3000))
    second = {
        "overlapping": lambda: pair_file(tmp_path / "second.csv", range(1500, 4500)),
        "opposite-orders": lambda: pair_file(tmp_path / "second.csv", range(0, 3000), reverse=True),
        "the-same": lambda: first,
    }[files]()
    reports = at_once(db_url, tmp_path / "data", [first, second])
    truth = stored(db_url)
    assert {key: sum(getattr(r, key) for r in reports) for key in COUNTED} == truth
    again = at_once(db_url, tmp_path / "data", [first, second])
    assert all(getattr(r, key) == 0 for r in again for key in COUNTED), again
    assert stored(db_url) == truth
