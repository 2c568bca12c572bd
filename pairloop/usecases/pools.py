"""Candidate pools: KARL's stratified pairs into the store or into Parquet shards, the store's open
pool exported as shards, a pool of shards scored by the classifier, and fixed splits of pair files."""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, Field
from sqlalchemy import Connection, func, select

from pairloop.usecases.context import Context
from store import repository
from store.errors import BadInput
from store.files import atomic_open
from store.formats.records import CatalogueItem
from store.models import Item, Pair
from store.verified import MajorityRule

if TYPE_CHECKING:
    from active_learning.shards import PairBlock, PoolShards

# Store rows read per query when a pool is exported: memory holds one such chunk, not the pool.
EXPORT_CHUNK = 100_000
# Pairs listed in a scoring result (all of them go to the CSV file).
SHOWN = 20


class PoolBuilt(BaseModel):
    items: int = Field(description="Catalogue items with a category path the pairs were drawn from.")
    categories: int = Field(description="Distinct category paths among them.")
    candidates: int = Field(description="Candidate pairs drawn.")
    pairs_added: int = Field(description="Of these, pairs the store did not hold yet (0 when written to shards).")
    out: str | None = Field(None, description="The pool folder the pairs were written to as Parquet shards "
                                              "(null: written into the store).")


def build_pool(ctx: Context, per_category: int = 20, partners: int = 10, source: str | None = None,
               seed: int = 0, out: Path | None = None, rows_per_shard: int = 1_000_000) -> PoolBuilt:
    """KARL's stratified candidate pairs from the catalogue (``per_category`` query items per fine
    category, ``partners`` partners each in the same major category), written into the store's pairs,
    or with ``out`` into a pool folder of Parquet shards (its items: the store items the pairs join)."""
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
    built = PoolBuilt(items=len(items), categories=len({i.category_path for i in items}), candidates=len(pairs),
                      pairs_added=0)
    if out is not None:
        _pairs_to_shards(ctx, pairs, out, rows_per_shard,
                         f"pairloop pool build --per-category {per_category} --partners {partners} --seed {seed}"
                         + (f" --source {source}" if source else ""))
        return built.model_copy(update={"out": str(out)})
    with ctx.progress.task("writing pairs", len(pairs)) as advance, ctx.engine.begin() as conn:
        before = conn.execute(select(func.count()).select_from(Pair)).scalar_one()
        for start in range(0, len(pairs), repository.CHUNK):
            chunk = pairs[start : start + repository.CHUNK]
            repository.ensure_pairs(conn, chunk)
            advance(len(chunk))
        added = conn.execute(select(func.count()).select_from(Pair)).scalar_one() - before
    return built.model_copy(update={"pairs_added": added})


def _pairs_to_shards(ctx: Context, pairs: list[tuple], out: Path, rows_per_shard: int, description: str) -> None:
    """Pairs of store item ids as a pool folder, its items those the pairs join (by item id)."""
    from active_learning.shards import source_blocks, write_shards

    ends = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    ids = np.unique(ends)
    with ctx.engine.connect() as conn:
        items, descriptions = _store_items(conn, ids)
    ia, ib = np.searchsorted(ids, ends[:, 0]), np.searchsorted(ids, ends[:, 1])
    with ctx.progress.task("writing shards", len(pairs)) as advance:
        write_shards(out, items, _counted(source_blocks((ia, ib), rows_per_shard), advance), rows_per_shard,
                     item_ids=ids.tolist(), description=description, descriptions=descriptions)


def _store_items(conn: Connection, ids: np.ndarray) -> tuple[list[CatalogueItem], list[str | None]]:
    """The store items of the given sorted ids, in that order, and their descriptions."""
    rows: dict[int, tuple] = {}
    for start in range(0, len(ids), repository.CHUNK):
        chunk = ids[start : start + repository.CHUNK].tolist()
        stmt = select(Item.id, Item.title, Item.category_path, Item.description).where(Item.id.in_(chunk))
        rows.update({row.id: row for row in conn.execute(stmt)})
    found = [rows[i] for i in ids.tolist()]
    return [CatalogueItem(r.id, r.title, r.category_path) for r in found], [r.description for r in found]


def _counted(blocks: Iterable[PairBlock], advance: Callable[[int], None]) -> Iterator[PairBlock]:
    for block in blocks:
        yield block
        advance(len(block))


class PoolExported(BaseModel):
    out: str = Field(description="The pool folder written.")
    pairs: int = Field(description="Open pairs exported: no verified label, not held by an open round.")
    items: int = Field(description="Store items these pairs join.")
    shards: int = Field(description="Parquet shards written.")


def export_pool(ctx: Context, out: Path, rule: MajorityRule | None = None, min_agreeing: int | None = None,
                rows_per_shard: int = 1_000_000) -> PoolExported:
    """The store's open pool (the pairs ``round start`` chooses from: no verified label under
    ``rule``, not held by an open round), in pair id order, as a pool folder of Parquet shards with
    pair ids. Read from the store a chunk at a time; a pair that opens during the export is left out."""
    from active_learning.shards import write_shards
    from store.verified import verified_labels

    rule = rule or ctx.settings.majority_rule
    min_agreeing = min_agreeing or ctx.settings.min_agreeing
    with ctx.engine.connect() as conn:
        with ctx.progress.status("reading the open pool"):
            verified = set(verified_labels(conn, rule, min_agreeing=min_agreeing)[0])
            ids: set[int] = set()
            pairs, last = 0, 0
            for pid, a, b in _open_pairs(conn, verified, None):
                ids.update(np.unique(np.concatenate([a, b])).tolist())
                pairs, last = pairs + len(pid), int(pid[-1])
            index = np.asarray(sorted(ids), dtype=np.int64)
            items, descriptions = _store_items(conn, index)
        if pairs == 0:
            raise BadInput("the pool is empty: every stored pair is labelled or held by an open round "
                           "(add candidates with `pairloop pool build` or `pairloop import`)")
        with ctx.progress.task("exporting pairs", pairs) as advance:
            shards = write_shards(out, items, _counted(_indexed(_open_pairs(conn, verified, last), index), advance),
                                  rows_per_shard, item_ids=index.tolist(), descriptions=descriptions,
                                  description=f"pairloop pool export --rule {rule.value} "
                                              f"--min-agreeing {min_agreeing}")
    return PoolExported(out=str(out), pairs=shards.pairs, items=len(items), shards=len(shards.shard_paths))


def _open_pairs(conn: Connection, verified: set[int],
                last: int | None) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(pair ids, item a ids, item b ids) of the open pool, by pair id, a chunk at a time (up to ``last``)."""
    from active_learning.pools import unheld_pairs

    stmt = unheld_pairs(Pair.id, Pair.item_a_id, Pair.item_b_id)
    if last is not None:
        stmt = stmt.where(Pair.id <= last)
    for rows in conn.execute(stmt.execution_options(yield_per=EXPORT_CHUNK)).partitions():
        pid, a, b = np.asarray(rows, dtype=np.int64).reshape(-1, 3).T
        keep = np.asarray([p not in verified for p in pid.tolist()], dtype=bool)
        if keep.any():
            yield pid[keep], a[keep], b[keep]


def _indexed(chunks: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]], index: np.ndarray) -> Iterator[PairBlock]:
    """Chunks of store pairs as blocks of item indices into ``index`` (sorted item ids), positions
    counted on; pairs with an item outside ``index`` (opened since it was read) are left out."""
    from active_learning.shards import PairBlock

    position = 0
    for pid, a, b in chunks:
        ia, ib = np.searchsorted(index, a), np.searchsorted(index, b)
        known = (ia < len(index)) & (ib < len(index))
        known[known] &= (index[ia[known]] == a[known]) & (index[ib[known]] == b[known])
        pid, ia, ib = pid[known], ia[known], ib[known]
        yield PairBlock(np.arange(position, position + len(pid), dtype=np.int64), ia, ib, pid)
        position += len(pid)


class ScoredPair(BaseModel):
    rank: int = Field(description="1: the least certain pair.")
    position: int = Field(description="The pair's position in the pool (0-based).")
    pair_id: int | None = Field(description="The store's pair id (null for pools not exported from the store).")
    item_a: str = Field(description="Key of the first item (a store item id for pools built from the store).")
    item_b: str = Field(description="Key of the second item.")
    margin: float = Field(description="Gap between the committee's two likeliest relations (small: uncertain).")


class PoolScored(BaseModel):
    pool: str = Field(description="The pool folder scored.")
    classifier_version: str
    pairs: int = Field(description="Pairs scored.")
    top: int = Field(description="Pairs kept: the smallest margins, ties by smaller position.")
    seconds: float = Field(description="Wall time of the scoring (after loading the model and encoding the items).")
    pairs_per_s: float = Field(description="Pairs scored per second.")
    ran_on: str = Field(description="Where the pairs were scored: \"in-process\" or \"ray:<address>\".")
    out: str | None = Field(None, description="The CSV file holding every kept pair (null: none written).")
    best: list[ScoredPair] = Field(description=f"The first {SHOWN} kept pairs, least certain first.")


def score_pool(ctx: Context, pool: Path, top: int, classifier_version: str | None = None,
               out: Path | None = None) -> PoolScored:
    """Score every pair of a pool folder with the classifier (default: the newest version) and keep
    the ``top`` least certain (smallest committee margin); on the Ray cluster when
    ``PAIRLOOP_RAY_ADDRESS`` is set, else in this process, with the same result either way."""
    from active_learning.shards import open_shards, pairs_at, score_pool_source
    from classifier.data import PairSet
    from classifier.model import check_vocabulary
    from classifier.registry import load_model

    if top < 1:
        raise BadInput(f"--top must be at least 1, got {top}")
    shards = open_shards(pool)
    if shards.pairs == 0:
        raise BadInput("the pool holds no pairs", pool)
    with ctx.progress.status("loading the classifier"):
        model, info = load_model(ctx.engine, classifier_version)
    check_vocabulary(model.featuriser, PairSet(shards.items, np.empty(0, np.int64), np.empty(0, np.int64), [],
                                               source=str(pool)), "the pool")
    with ctx.progress.task("encoding items", len(shards.items)) as advance:
        vectors = model.featuriser.encode(shards.items, advance)
    block_pairs = ctx.settings.ray_block_pairs
    cluster = ctx.cluster()
    with ctx.progress.task("scoring pairs", shards.pairs) as advance:
        start = time.perf_counter()
        if cluster:
            from active_learning.distributed import top_by_margin_on_ray

            best = top_by_margin_on_ray(model, vectors, shards, top, block_pairs, advance)
        else:
            best = score_pool_source(model, vectors, shards, top, block_pairs, advance)
        seconds = time.perf_counter() - start
    rows = _scored_pairs(shards, pairs_at(shards, best.position), best.margin)
    if out is not None:
        _write_scored(out, rows)
    return PoolScored(pool=str(pool), classifier_version=info.version, pairs=shards.pairs, top=len(rows),
                      seconds=round(seconds, 3), pairs_per_s=round(shards.pairs / seconds, 1) if seconds else 0.0,
                      ran_on=f"ray:{cluster.address}" if cluster else "in-process",
                      out=str(out) if out is not None else None, best=rows[:SHOWN])


def _scored_pairs(shards: PoolShards, block: PairBlock, margin: np.ndarray) -> list[ScoredPair]:
    keys = [str(item.key) for item in shards.items]
    pair_ids = block.pair_id.tolist() if block.pair_id is not None else [None] * len(block)
    return [ScoredPair(rank=rank, position=p, pair_id=pid, item_a=keys[a], item_b=keys[b], margin=m)
            for rank, (p, pid, a, b, m) in enumerate(zip(block.position.tolist(), pair_ids, block.a.tolist(),
                                                         block.b.tolist(), margin.tolist(), strict=True), start=1)]


def _write_scored(out: Path, rows: list[ScoredPair]) -> None:
    with atomic_open(out, newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(list(ScoredPair.model_fields))
        for row in rows:
            writer.writerow(["" if v is None else v for v in row.model_dump().values()])


class PoolPart(BaseModel):
    path: str
    pairs: int


def split_pool(ctx: Context, path: Path, shares: Sequence[float], names: Sequence[str], out_dir: Path,
               seed: int = 0) -> list[PoolPart]:
    """Split a pair file into fixed parts (stratified by majority label), each in the file's own
    format, named ``<stem>-<name>``; the same seed gives the same split."""
    from active_learning.pools import split_pair_file

    return [PoolPart(path=str(part), pairs=n) for part, n in split_pair_file(path, shares, names, out_dir, seed)]
