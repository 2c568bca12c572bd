"""Both items of some pairs, as pages that list pairs show them (the queue, LLM disagreements)."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel
from sqlalchemy import Connection, select
from sqlalchemy.orm import aliased

from store.models import Item, Pair


class PairItem(BaseModel):
    id: int
    external_id: str
    title: str


def pair_items(conn: Connection, pair_ids: Sequence[int]) -> dict[int, tuple[PairItem, PairItem]]:
    """Each pair's two items, in the pair's stored order (item a, item b)."""
    if not pair_ids:
        return {}
    a, b = aliased(Item), aliased(Item)
    rows = conn.execute(select(Pair.id, a.id, a.external_id, a.title, b.id, b.external_id, b.title)
                        .join(a, a.id == Pair.item_a_id).join(b, b.id == Pair.item_b_id)
                        .where(Pair.id.in_(list(pair_ids)))).all()
    return {row[0]: (PairItem(id=row[1], external_id=row[2], title=row[3]),
                     PairItem(id=row[4], external_id=row[5], title=row[6])) for row in rows}
