"""Bulk writes and reads on the label store, in SQLAlchemy Core (no ORM object per row).

Every insert here is insert-or-ignore on the table's natural key, which is what makes
re-importing a file, or receiving a webhook twice, add nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Table, bindparam, select, text, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite

from store.models import AnnotatorName, Behaviour, Item, Label, Pair

CHUNK = 5000
IMPORT_LOCK = 0x7061_6972  # "pair": the PostgreSQL advisory lock that serialises imports


def _insert(conn: Connection, table: Table):
    dialect = conn.dialect.name
    if dialect not in ("postgresql", "sqlite"):  # pragma: no cover
        raise NotImplementedError(f"unsupported database dialect {dialect}")
    return (postgresql if dialect == "postgresql" else sqlite).insert(table)


def insert_ignore(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert rows, skipping those that collide with an existing unique key; the number inserted.

    The count is the statement's own row count, so what a concurrent transaction inserted first
    (PostgreSQL makes this one wait for it to commit, then skips the row) is never counted here:
    what an import reports it added comes from here, never from counting the table before and after.
    """
    stmt = _insert(conn, table).on_conflict_do_nothing().execution_options(preserve_rowcount=True)
    return sum(conn.execute(stmt, list(rows[start : start + CHUNK])).rowcount for start in range(0, len(rows), CHUNK))


def serialise_imports(conn: Connection) -> None:
    """Make this transaction's import wait for any other import to commit (PostgreSQL; SQLite
    has one writer at a time anyway). Two imports of overlapping files would otherwise lock the
    same items in different orders and deadlock, and neither can usefully run ahead of the other."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": IMPORT_LOCK})


def canonical(a: int, b: int) -> tuple[int, int, bool]:
    """The stored order of a pair, and whether (a, b) was the reversed order."""
    return (a, b, False) if a < b else (b, a, True)


ITEM_TEXT = ("title", "category_path", "description", "image_url", "attributes")


def upsert_items(conn: Connection, rows: Sequence[Mapping[str, Any]], update: bool = True) -> int:
    """Insert items; with ``update``, refresh the text of items that already exist. Returns the
    number of items this call inserted.

    The new items are inserted first, which counts them exactly; only when some already existed
    is the chunk written again to refresh their text (rewriting the new ones unchanged), so a
    first import costs one pass and a re-import two."""
    inserted = insert_ignore(conn, Item.__table__, rows)
    if update and inserted < len(rows):
        refresh = _insert(conn, Item.__table__)
        refresh = refresh.on_conflict_do_update(index_elements=["source", "external_id"],
                                                set_={column: refresh.excluded[column] for column in ITEM_TEXT})
        for start in range(0, len(rows), CHUNK):
            conn.execute(refresh, list(rows[start : start + CHUNK]))
    return inserted


def item_sources(conn: Connection) -> set[str]:
    """The sources the store's items belong to."""
    return set(conn.execute(select(Item.source).distinct()).scalars())


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


def add_pairs(conn: Connection, pairs: Iterable[tuple[int, int]]) -> int:
    """Create the canonical pairs that do not exist yet; the number created."""
    rows = [{"item_a_id": a, "item_b_id": b} for a, b in dict.fromkeys(pairs)]
    return insert_ignore(conn, Pair.__table__, rows)


def pair_ids(conn: Connection, pairs: Iterable[tuple[int, int]]) -> dict[tuple[int, int], int]:
    """Map existing canonical pairs to their pair ids (missing pairs are simply absent)."""
    wanted = list(dict.fromkeys(pairs))
    ids: dict[tuple[int, int], int] = {}
    for start in range(0, len(wanted), CHUNK // 5):
        chunk = wanted[start : start + CHUNK // 5]
        stmt = select(Pair.item_a_id, Pair.item_b_id, Pair.id).where(
            tuple_(Pair.item_a_id, Pair.item_b_id).in_(chunk)
        )
        ids.update({(a, b): pid for a, b, pid in conn.execute(stmt)})
    return ids


def ensure_pairs(conn: Connection, pairs: Iterable[tuple[int, int]]) -> dict[tuple[int, int], int]:
    """Create the canonical pairs that do not exist yet; map each to its pair id."""
    wanted = list(dict.fromkeys(pairs))
    add_pairs(conn, wanted)
    return pair_ids(conn, wanted)


def label_key(namespace: str, *parts: str | int | None) -> str:
    """A label's idempotency key (``labels.external_key``): the namespace and a SHA-256 of the
    parts as a JSON array. Collision-free for any strings (no separator to forge, unlike joined
    text) and of fixed length whatever the ids' lengths."""
    encoded = json.dumps(parts, separators=(",", ":"))  # ASCII: every character escaped the same way
    return f"{namespace}:{hashlib.sha256(encoded.encode('ascii')).hexdigest()}"


def insert_labels(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
    """Append labels (a key already stored is skipped); the number this call appended."""
    return insert_ignore(conn, Label.__table__, rows)


def insert_behaviour(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
    """Add behaviour evidence (a known (pair, kind, dataset) is skipped); the number added."""
    return insert_ignore(conn, Behaviour.__table__, rows)


def remember_names(conn: Connection, names: Mapping[str, str]) -> None:
    """Cache actor → e-mail (new actors added, changed e-mails updated)."""
    if not names:
        return
    table = AnnotatorName.__table__
    now = datetime.now(UTC)
    rows = [{"actor": actor, "email": email[:255], "updated_at": now} for actor, email in names.items()]
    insert_ignore(conn, table, rows)
    conn.execute(update(table).where(table.c.actor == bindparam("a"), table.c.email != bindparam("e"))
                 .values(email=bindparam("e"), updated_at=now), [{"a": r["actor"], "e": r["email"]} for r in rows])


def cached_names(conn: Connection, actors: Sequence[str]) -> dict[str, str]:
    """The cached e-mails of these actors (those never seen are absent)."""
    if not actors:
        return {}
    return dict(conn.execute(select(AnnotatorName.actor, AnnotatorName.email)
                             .where(AnnotatorName.actor.in_(list(actors)))).all())
