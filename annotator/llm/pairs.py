"""Make the pairs of a file known to the store (items and pairs only, never its labels).

The proposal cache is keyed on pair ids, so a file's pairs must exist in the store before
they are asked about. Their answers are *not* imported: asking an LLM about a held-out
test file must not leak its human labels into training.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection

from store import repository
from store.formats.records import PairRow


def register_pairs(conn: Connection, rows: Sequence[PairRow]) -> list[tuple[int, bool]]:
    """For each row, its pair id and whether the file lists the items in reverse stored order."""
    items = [item for row in rows for item in (row.item_a, row.item_b)]
    # Items named only in a pair file never overwrite a catalogue's text.
    repository.upsert_items(conn, [item.row() for item in items], update=False)
    ids: dict[tuple[str, str], int] = {}
    for source in {item.source for item in items}:
        externals = (item.external_id for item in items if item.source == source)
        ids.update(((source, ext), iid) for ext, iid in repository.item_ids(conn, source, externals).items())
    ordered = [
        repository.canonical(ids[r.item_a.source, r.item_a.external_id], ids[r.item_b.source, r.item_b.external_id])
        for r in rows
    ]
    pair_ids = repository.ensure_pairs(conn, [(a, b) for a, b, _ in ordered])
    return [(pair_ids[a, b], reversed_) for a, b, reversed_ in ordered]
