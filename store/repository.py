"""Bulk writes and reads on the label store, in SQLAlchemy Core (no ORM object per row).

Every insert here is insert-or-ignore on the table's natural key, which is what makes
re-importing a file, or receiving a webhook twice, add nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite

from store.models import Behaviour, Item, Label, Pair

CHUNK = 5000


def insert_ignore(
    conn: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    update_on: tuple[Sequence[str], Sequence[str]] | None = None,
) -> None:
    """Insert rows, skipping those that collide with an existing unique key.

    ``update_on=(key_columns, columns)`` updates ``columns`` of colliding rows instead.
    """
    if not rows:
        return
    dialect = conn.dialect.name
    if dialect not in ("postgresql", "sqlite"):  # pragma: no cover
        raise NotImplementedError(f"unsupported database dialect {dialect}")
    stmt = (postgresql if dialect == "postgresql" else sqlite).insert(table)
    if update_on is None:
        stmt = stmt.on_conflict_do_nothing()
    else:
        keys, columns = update_on
        stmt = stmt.on_conflict_do_update(
            index_elements=list(keys), set_={c: stmt.excluded[c] for c in columns}
        )
    for start in range(0, len(rows), CHUNK):
        conn.execute(stmt, list(rows[start : start + CHUNK]))


def canonical(a: int, b: int) -> tuple[int, int, bool]:
    """The stored order of a pair, and whether (a, b) was the reversed order."""
    return (a, b, False) if a < b else (b, a, True)


ITEM_TEXT = ("title", "category_path", "description", "image_url", "attributes")


def upsert_items(conn: Connection, rows: Sequence[Mapping[str, Any]], update: bool = True) -> None:
    """Insert items; with ``update``, refresh the text of items that already exist."""
    update_on = (("source", "external_id"), ITEM_TEXT) if update else None
    insert_ignore(conn, Item.__table__, rows, update_on)


def item_ids(conn: Connection, source: str, external_ids: Iterable[str]) -> dict[str, int]:
    """Map external ids of one source to item ids (missing ids are simply absent)."""
    wanted = list(dict.fromkeys(external_ids))
    found: dict[str, int] = {}
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start : start + CHUNK]
        stmt = select(Item.external_id, Item.id).where(
            Item.source == source, Item.external_id.in_(chunk)
        )
        found.update((external_id, item_id) for external_id, item_id in conn.execute(stmt))
    return found


def ensure_pairs(conn: Connection, pairs: Iterable[tuple[int, int]]) -> dict[tuple[int, int], int]:
    """Create the canonical pairs that do not exist yet; map each to its pair id."""
    wanted = list(dict.fromkeys(pairs))
    insert_ignore(conn, Pair.__table__, [{"item_a_id": a, "item_b_id": b} for a, b in wanted])
    ids: dict[tuple[int, int], int] = {}
    for start in range(0, len(wanted), CHUNK // 5):
        chunk = wanted[start : start + CHUNK // 5]
        stmt = select(Pair.item_a_id, Pair.item_b_id, Pair.id).where(
            tuple_(Pair.item_a_id, Pair.item_b_id).in_(chunk)
        )
        ids.update({(a, b): pid for a, b, pid in conn.execute(stmt)})
    return ids


def insert_labels(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    insert_ignore(conn, Label.__table__, rows)


def insert_behaviour(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    insert_ignore(conn, Behaviour.__table__, rows)
