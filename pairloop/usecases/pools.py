"""Candidate pools: KARL's stratified pairs into the store, and fixed splits of pair files."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, Field
from sqlalchemy import func, select

from pairloop.usecases.context import Context
from store import repository
from store.errors import BadInput
from store.formats.records import CatalogueItem
from store.models import Item, Pair


class PoolBuilt(BaseModel):
    items: int = Field(description="Catalogue items with a category path the pairs were drawn from.")
    categories: int = Field(description="Distinct category paths among them.")
    candidates: int = Field(description="Candidate pairs drawn.")
    pairs_added: int = Field(description="Of these, pairs the store did not hold yet.")


def build_pool(ctx: Context, per_category: int = 20, partners: int = 10, source: str | None = None,
               seed: int = 0) -> PoolBuilt:
    """KARL's stratified candidate pairs from the catalogue (``per_category`` query items per fine
    category, ``partners`` partners each in the same major category), written into the store's pairs."""
    from active_learning.pools import stratified_pairs

    stmt = select(Item.id, Item.title, Item.category_path).where(Item.category_path.is_not(None))
    if source:
        stmt = stmt.where(Item.source == source)
    with ctx.engine.connect() as conn:
        items = [CatalogueItem(i, title, path) for i, title, path in conn.execute(stmt)]
    if not items:
        raise BadInput("no items with a category path" + (f" in source {source!r}" if source else "")
                       + ": the stratified pool needs categories (import a catalogue with category_path)")
    pairs = stratified_pairs(items, per_category, partners, seed)
    with ctx.progress.task("writing pairs", len(pairs)) as advance, ctx.engine.begin() as conn:
        before = conn.execute(select(func.count()).select_from(Pair)).scalar_one()
        for start in range(0, len(pairs), repository.CHUNK):
            chunk = pairs[start : start + repository.CHUNK]
            repository.ensure_pairs(conn, chunk)
            advance(len(chunk))
        added = conn.execute(select(func.count()).select_from(Pair)).scalar_one() - before
    return PoolBuilt(items=len(items), categories=len({i.category_path for i in items}), candidates=len(pairs),
                     pairs_added=added)


class PoolPart(BaseModel):
    path: str
    pairs: int


def split_pool(ctx: Context, path: Path, shares: Sequence[float], names: Sequence[str], out_dir: Path,
               seed: int = 0) -> list[PoolPart]:
    """Split a pair file into fixed parts (stratified by majority label), each in the file's own
    format, named ``<stem>-<name>``; the same seed gives the same split."""
    from active_learning.pools import split_pair_file

    return [PoolPart(path=str(part), pairs=n) for part, n in split_pair_file(path, shares, names, out_dir, seed)]
