"""Pools larger than one process: Parquet shards on disk, or pairs generated block by block.

A pool folder holds ``pool.json`` (the manifest), ``items.parquet`` (row order = item index:
key, item_id, title, category_path, description) and ``pairs-NNNNN.parquet`` shards (position,
a, b, pair_id), positions running 0..N-1 through the shards. It is written whole or not at all
(a staging folder beside it, renamed), and read a block at a time, so no step holds the pool.

A :class:`LazyPool` is every unordered pair within the groups of a catalogue (fine categories,
major categories, or all items), each block computed from its number alone: a worker builds
its own block and the pool is never materialised.

:func:`score_pool_source` is the in-process scan of any of these; its result equals the scan of
the whole arrays (:func:`active_learning.scoring.top_by_margin`) and the Ray scan
(:mod:`active_learning.distributed`), ties included.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from active_learning.scoring import TopCandidates, merge_top, top_by_margin
from store.errors import BadInput
from store.files import atomic_path
from store.formats.records import CatalogueItem

if TYPE_CHECKING:
    import pyarrow as pa

    from classifier.features import ItemVectors
    from classifier.model import RelationModel

FORMAT, VERSION = "pairloop-pool", 1
MANIFEST, ITEMS = "pool.json", "items.parquet"
PAIR_COLUMNS = ("position", "a", "b", "pair_id")
ITEM_COLUMNS = ("key", "item_id", "title", "category_path", "description")
SCOPES = ("category", "major", "all")


@dataclass(frozen=True)
class PairBlock:
    """A run of consecutive pool positions and the item indices of their pairs (pair ids: store pairs)."""

    position: np.ndarray
    a: np.ndarray
    b: np.ndarray
    pair_id: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.position)


@dataclass(frozen=True)
class PoolShards:
    """An opened pool folder: its shards are read block by block (:func:`iter_blocks`)."""

    root: Path
    pairs: int
    shard_paths: list[Path]
    items: list[CatalogueItem]
    item_ids: list[int | None]


def _pair_schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema([("position", pa.int64()), ("a", pa.int32()), ("b", pa.int32()), ("pair_id", pa.int64())])


def _item_schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema([("key", pa.string()), ("item_id", pa.int64()), ("title", pa.string()),
                      ("category_path", pa.string()), ("description", pa.string())])


def write_shards(root: Path, items: Sequence[CatalogueItem], blocks: Iterable[PairBlock],
                 rows_per_shard: int = 1_000_000, item_ids: Sequence[int | None] | None = None,
                 description: str = "", descriptions: Sequence[str | None] | None = None) -> PoolShards:
    """Write a pool folder at ``root`` from its items and its blocks (consecutive positions from 0).

    Nothing appears at ``root`` until every shard is written: a failed or killed write leaves no
    pool (a killed one leaves only a hidden ``.<name>.….part`` folder beside it). An existing pool
    at ``root`` is replaced; any other non-empty folder is refused.
    """
    if rows_per_shard < 1:
        raise ValueError(f"rows_per_shard must be at least 1, got {rows_per_shard}")
    for name, given in (("item_ids", item_ids), ("descriptions", descriptions)):
        if given is not None and len(given) != len(items):
            raise ValueError(f"{name} has {len(given)} entries for {len(items)} items")
    root = Path(root)
    replaced = _replaceable(root)
    old: Path | None = None
    try:
        with atomic_path(root) as staging:
            _write_pool(staging, items, blocks, rows_per_shard, item_ids, description, descriptions)
            if replaced:  # the old pool steps aside only now, when the new one is complete
                old = root.with_name(f".{root.name}.{os.getpid()}.{secrets.token_hex(4)}.old")
                root.rename(old)
    except BaseException:
        if old is not None and not root.exists():
            old.rename(root)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return open_shards(root)


def _write_pool(folder: Path, items: Sequence[CatalogueItem], blocks: Iterable[PairBlock], rows_per_shard: int,
                item_ids: Sequence[int | None] | None, description: str,
                descriptions: Sequence[str | None] | None) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir()
    pq.write_table(pa.table({
        "key": [str(item.key) for item in items],
        "item_id": list(item_ids) if item_ids is not None else [None] * len(items),
        "title": [item.title for item in items],
        "category_path": [item.category_path for item in items],
        "description": list(descriptions) if descriptions is not None else [None] * len(items),
    }, schema=_item_schema()), folder / ITEMS)
    names, pairs = _write_pairs(folder, len(items), blocks, rows_per_shard)
    manifest = {"format": FORMAT, "version": VERSION, "pairs": pairs, "shards": names, "items": ITEMS,
                "description": description}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")


def _replaceable(root: Path) -> bool:
    """Whether ``root`` holds a pool to replace; BadInput for a file or a folder of other things."""
    if not root.exists():
        return False
    if root.is_dir() and (root / MANIFEST).exists():
        return True
    if root.is_dir() and not any(root.iterdir()):
        return False  # the finished pool is renamed onto the empty folder
    raise BadInput("exists and is not a pool folder (no pool.json): choose a new folder", root)


def _write_pairs(folder: Path, n_items: int, blocks: Iterable[PairBlock],
                 rows_per_shard: int) -> tuple[list[str], int]:
    """The blocks as shards of ``rows_per_shard`` rows (a block may straddle two); the shard names
    and the pairs written."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = _pair_schema()
    names: list[str] = []
    writer: pq.ParquetWriter | None = None
    in_shard = 0
    expected = 0
    try:
        for block in blocks:
            _check_block(block, expected, n_items)
            expected += len(block)
            start = 0
            while start < len(block):
                if writer is None or in_shard == rows_per_shard:
                    if writer is not None:
                        writer.close()
                    names.append(f"pairs-{len(names):05d}.parquet")
                    writer, in_shard = pq.ParquetWriter(folder / names[-1], schema), 0
                stop = min(len(block), start + rows_per_shard - in_shard)
                pair_id = block.pair_id[start:stop] if block.pair_id is not None else None
                writer.write_table(pa.table([
                    pa.array(block.position[start:stop], pa.int64()), pa.array(block.a[start:stop], pa.int32()),
                    pa.array(block.b[start:stop], pa.int32()),
                    pa.array(pair_id, pa.int64()) if pair_id is not None else pa.nulls(stop - start, pa.int64()),
                ], schema=schema))
                in_shard += stop - start
                start = stop
    finally:
        if writer is not None:
            writer.close()
    return names, expected


def _check_block(block: PairBlock, first: int, n_items: int) -> None:
    """A block continues the positions (``first``, ``first``+1, …) and names existing items."""
    if len(block) == 0:
        return
    if not np.array_equal(block.position, np.arange(first, first + len(block))):
        raise ValueError(f"a block's positions must continue from {first} in steps of 1")
    low = min(int(block.a.min()), int(block.b.min()))
    high = max(int(block.a.max()), int(block.b.max()))
    if low < 0 or high >= n_items:
        raise ValueError(f"item index {low if low < 0 else high} is outside the {n_items} items")


def open_shards(root: Path) -> PoolShards:
    """The pool folder at ``root``, its manifest and every shard's footer checked (BadInput names
    the file at fault); the items are read, the pairs are not."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = Path(root)
    manifest_path = root / MANIFEST
    if not manifest_path.is_file():
        raise BadInput("not a pool: the folder has no pool.json (write one with `pairloop pool build --out` "
                       "or `pairloop pool export`)", manifest_path)
    manifest = _manifest(manifest_path)
    shard_paths = [_member(root, name, manifest_path) for name in manifest["shards"]]
    counted = 0
    for path in shard_paths:
        shard = _parquet(path, pq.ParquetFile, pa)
        _require_columns(shard.schema_arrow.names, PAIR_COLUMNS, path)
        counted += shard.metadata.num_rows
    if counted != manifest["pairs"]:
        raise BadInput(f"the manifest counts {manifest['pairs']:,} pairs, its shards hold {counted:,}", manifest_path)
    items_path = _member(root, manifest["items"], manifest_path)
    table = _parquet(items_path, pq.read_table, pa)
    _require_columns(table.column_names, ITEM_COLUMNS, items_path)
    keys, titles, paths = (table.column(c).to_pylist() for c in ("key", "title", "category_path"))
    if any(k is None for k in keys) or any(t is None for t in titles):
        raise BadInput("every item needs a key and a title", items_path)
    items = [CatalogueItem(key, title, path) for key, title, path in zip(keys, titles, paths, strict=True)]
    return PoolShards(root, counted, shard_paths, items, table.column("item_id").to_pylist())


def _manifest(path: Path) -> dict[str, Any]:
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadInput(f"unreadable pool manifest: {exc}", path) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BadInput(f"not a pool manifest (its \"format\" must be {FORMAT!r})", path)
    if manifest.get("version") != VERSION:
        raise BadInput(f"pool manifest version {manifest.get('version')!r}: this pairloop reads version {VERSION}",
                       path)
    pairs, shards, items = manifest.get("pairs"), manifest.get("shards"), manifest.get("items")
    if not (isinstance(pairs, int) and pairs >= 0 and isinstance(shards, list)
            and all(isinstance(s, str) for s in shards) and isinstance(items, str)):
        raise BadInput("the pool manifest needs \"pairs\" (a count), \"shards\" (file names) and \"items\" "
                       "(a file name)", path)
    return manifest


def _member(root: Path, name: str, manifest_path: Path) -> Path:
    """A file the manifest names: inside the folder, and present."""
    if Path(name).name != name or name in ("", ".", ".."):
        raise BadInput(f"the manifest names {name!r}: pool files must sit in the pool folder", manifest_path)
    path = root / name
    if not path.is_file():
        raise BadInput("missing: the pool manifest names it", path)
    return path


def _parquet(path: Path, read: Callable[[Path], Any], pa: Any) -> Any:
    """``read(path)``, a damaged Parquet file reported as BadInput naming it."""
    try:
        return read(path)
    except (pa.ArrowException, OSError) as exc:
        raise BadInput(f"unreadable Parquet file: {exc}", path) from None


def _require_columns(names: Sequence[str], wanted: Sequence[str], path: Path) -> None:
    missing = [c for c in wanted if c not in names]
    if missing:
        raise BadInput(f"missing column(s) {', '.join(missing)}", path)


def iter_blocks(shards: PoolShards, block_pairs: int) -> Iterator[PairBlock]:
    """The pool's pairs in position order, at most ``block_pairs`` per block (a block never spans
    two shards), streamed: memory stays at one block whatever the pool size."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if block_pairs < 1:
        raise ValueError(f"block_pairs must be at least 1, got {block_pairs}")
    expected = 0
    for path in shards.shard_paths:
        batches = _parquet(path, lambda p: pq.ParquetFile(p).iter_batches(batch_size=block_pairs,
                                                                          columns=list(PAIR_COLUMNS)), pa)
        while True:
            batch = _parquet(path, lambda _p, it=batches: next(it, None), pa)
            if batch is None:
                break
            block = _block_of(batch, path)
            try:
                _check_block(block, expected, len(shards.items))
            except ValueError as exc:
                raise BadInput(f"damaged shard: {exc}", path) from None
            expected += len(block)
            yield block


def _block_of(batch: pa.RecordBatch, path: Path) -> PairBlock:
    pair_id = batch.column("pair_id")
    if 0 < pair_id.null_count < len(pair_id):
        raise BadInput("pair_id is given for some pairs and not others", path)
    return PairBlock(
        batch.column("position").to_numpy(), batch.column("a").to_numpy(), batch.column("b").to_numpy(),
        pair_id.to_numpy() if pair_id.null_count == 0 and len(pair_id) else None,
    )


def pairs_at(shards: PoolShards, positions: np.ndarray) -> PairBlock:
    """The pairs at the given pool positions, in the order given (reads only the shards they fall in)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    positions = np.asarray(positions, dtype=np.int64)
    if len(positions) and (positions.min() < 0 or positions.max() >= shards.pairs):
        raise ValueError(f"positions must lie in 0..{shards.pairs - 1}")
    rows = [_parquet(p, pq.ParquetFile, pa).metadata.num_rows for p in shards.shard_paths]
    starts = np.concatenate([[0], np.cumsum(rows)]).astype(np.int64)
    shard_of = np.searchsorted(starts, positions, side="right") - 1
    a = np.empty(len(positions), dtype=np.int32)
    b = np.empty(len(positions), dtype=np.int32)
    pair_id = np.zeros(len(positions), dtype=np.int64)
    has_ids = True
    for s in np.unique(shard_of):
        hits = np.flatnonzero(shard_of == s)
        table = _parquet(shards.shard_paths[s], lambda p: pq.read_table(p, columns=["a", "b", "pair_id"]), pa)
        local = pa.array(positions[hits] - starts[s])
        a[hits] = table.column("a").take(local).to_numpy()
        b[hits] = table.column("b").take(local).to_numpy()
        ids = table.column("pair_id").take(local)
        has_ids = has_ids and ids.null_count == 0
        if has_ids:
            pair_id[hits] = ids.to_numpy()
    return PairBlock(positions, a, b, pair_id if has_ids and len(positions) else None)


class _Blocked:
    """A pool cut into blocks of ``block_pairs`` consecutive positions (the last may be shorter)."""

    pairs: int

    def n_blocks(self, block_pairs: int) -> int:
        return -(-self.pairs // block_pairs)


@dataclass(frozen=True)
class LazyPool(_Blocked):
    """All unordered pairs within each fine category (``scope="category"``), each major category
    (``"major"``) or among all items (``"all"``), optionally only the first ``limit``.

    Items are ordered by (group, category path, key), as :mod:`active_learning.pools` orders them;
    group after group, the pairs of a group of ``n`` run (0,1), (0,2), (1,2), (0,3), … over that
    order, so position ``p`` maps to its pair by arithmetic alone. Item indices (``a``, ``b``)
    point into ``items`` as given. Items without a category path take part only in ``"all"``.
    """

    items: list[CatalogueItem]
    scope: str = "category"
    limit: int | None = None
    _order: np.ndarray = field(init=False, repr=False, compare=False)
    _starts: np.ndarray = field(init=False, repr=False, compare=False)
    _offsets: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.scope not in SCOPES:
            raise BadInput(f"unknown pool scope {self.scope!r}: use one of {', '.join(SCOPES)}")
        if self.limit is not None and self.limit < 0:
            raise BadInput(f"a pool limit must be 0 or more, got {self.limit}")
        group = {"category": lambda i: i.category_path, "major": lambda i: i.major_category,
                 "all": lambda _i: ""}[self.scope]
        members = sorted((group(item), item.category_path or "", str(item.key), n) for n, item in enumerate(self.items)
                         if self.scope == "all" or item.category_path)
        order = np.asarray([m[3] for m in members], dtype=np.int64)
        labels = [m[0] for m in members]
        starts = np.asarray([n for n in range(len(labels)) if n == 0 or labels[n] != labels[n - 1]], dtype=np.int64)
        sizes = np.diff(np.append(starts, len(labels)))
        keep = sizes >= 2  # a group of one item has no pair
        starts, sizes = starts[keep], sizes[keep]
        object.__setattr__(self, "_order", order)
        object.__setattr__(self, "_starts", starts)
        offsets = np.concatenate([[0], np.cumsum(sizes * (sizes - 1) // 2)]).astype(np.int64)
        object.__setattr__(self, "_offsets", offsets)

    @property
    def pairs(self) -> int:
        total = int(self._offsets[-1])
        return total if self.limit is None else min(total, self.limit)

    def block(self, i: int, block_pairs: int) -> PairBlock:
        """Block ``i``: positions ``i·block_pairs`` up to the next block's (the last may be shorter)."""
        if not 0 <= i < self.n_blocks(block_pairs):
            raise IndexError(f"block {i} of a pool of {self.n_blocks(block_pairs)} blocks")
        position = np.arange(i * block_pairs, min((i + 1) * block_pairs, self.pairs), dtype=np.int64)
        group = np.searchsorted(self._offsets, position, side="right") - 1
        rank = position - self._offsets[group]
        j = triangular_root(rank)
        first = rank - j * (j - 1) // 2
        base = self._starts[group]
        return PairBlock(position, self._order[base + first].astype(np.int32), self._order[base + j].astype(np.int32))


def triangular_root(rank: np.ndarray) -> np.ndarray:
    """The largest ``j`` with ``j(j-1)/2 <= rank``: the column of pair number ``rank`` in the order
    (0,1), (0,2), (1,2), (0,3), … Computed in floating point, then corrected to the exact integer."""
    rank = np.asarray(rank, dtype=np.int64)
    j = np.floor((1 + np.sqrt(1 + 8 * rank.astype(np.float64))) / 2).astype(np.int64)
    j -= (j * (j - 1) // 2 > rank).astype(np.int64)
    j += ((j + 1) * j // 2 <= rank).astype(np.int64)
    return j


PoolSource = PoolShards | LazyPool | tuple[np.ndarray, np.ndarray]


class BlockSource(Protocol):
    """A pool whose block ``i`` can be built from its number alone (by a Ray worker, say)."""

    @property
    def pairs(self) -> int: ...

    def n_blocks(self, block_pairs: int) -> int: ...

    def block(self, i: int, block_pairs: int) -> PairBlock: ...


@dataclass(frozen=True)
class ArrayBlocks(_Blocked):
    """Item-index arrays (a pool already in memory) cut into blocks; positions are array indices."""

    ia: np.ndarray
    ib: np.ndarray

    @property
    def pairs(self) -> int:
        return len(self.ia)

    def block(self, i: int, block_pairs: int) -> PairBlock:
        start, stop = i * block_pairs, min((i + 1) * block_pairs, self.pairs)
        return PairBlock(np.arange(start, stop, dtype=np.int64), self.ia[start:stop], self.ib[start:stop])


@dataclass(frozen=True)
class ShardBlocks(_Blocked):
    """A pool folder read by block number: block ``i`` is positions ``i·block_pairs`` onwards, read
    from the row groups that hold them (a worker reads its own block; nothing lists files). The
    row-group layout is read once, where the object is made, so a block costs no footer reads and
    memory is bounded by the block and one row group, not by the shard."""

    shards: PoolShards
    _groups: list[tuple[int, int, int, int]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        groups, start = [], 0  # (first position, rows, shard, row group), in position order
        for shard, path in enumerate(self.shards.shard_paths):
            metadata = _parquet(path, lambda p: pq.ParquetFile(p).metadata, pa)
            for group in range(metadata.num_row_groups):
                rows = metadata.row_group(group).num_rows
                groups.append((start, rows, shard, group))
                start += rows
        object.__setattr__(self, "_groups", groups)

    @property
    def pairs(self) -> int:
        return self.shards.pairs

    def block(self, i: int, block_pairs: int) -> PairBlock:
        import pyarrow as pa
        import pyarrow.parquet as pq

        start = i * block_pairs
        stop = min(start + block_pairs, self.pairs)
        parts = []
        for first, rows, shard, group in self._groups:
            if first + rows <= start or first >= stop:
                continue
            path = self.shards.shard_paths[shard]
            table = _parquet(path, lambda p, g=group: pq.ParquetFile(p).read_row_group(g, columns=list(PAIR_COLUMNS)),
                             pa)
            parts.append(table.slice(max(start - first, 0), min(stop, first + rows) - max(start, first)))
        batch = pa.concat_tables(parts).combine_chunks().to_batches()
        block = _block_of(batch[0], self.shards.root) if batch else PairBlock(*(np.empty(0, dtype=np.int64),) * 3)
        try:
            _check_block(block, start, len(self.shards.items))
        except ValueError as exc:
            raise BadInput(f"damaged pool: {exc}", self.shards.root) from None
        return block


def block_source(source: PoolSource) -> BlockSource:
    """Any pool source seen as blocks built by number."""
    if isinstance(source, PoolShards):
        return ShardBlocks(source)
    return ArrayBlocks(*source) if isinstance(source, tuple) else source


def source_blocks(source: PoolSource, block_pairs: int) -> Iterator[PairBlock]:
    """A pool source's blocks in position order: shards streamed, a lazy pool computed, arrays sliced."""
    if isinstance(source, PoolShards):
        yield from iter_blocks(source, block_pairs)
        return
    blocks = block_source(source)
    for i in range(blocks.n_blocks(block_pairs)):
        yield blocks.block(i, block_pairs)


def score_pool_source(model: RelationModel, vectors: ItemVectors, source: PoolSource, k: int, block_pairs: int,
                      progress: Callable[[int], None] | None = None) -> TopCandidates:
    """The ``k`` pairs of ``source`` with the smallest committee margin (ties: smaller position), in
    this process, one block at a time: the same ``k`` as scanning the whole pool at once."""
    best = TopCandidates.empty()
    for block in source_blocks(source, block_pairs):
        position, margin = top_by_margin(model, vectors, block.a, block.b, k, progress=progress,
                                         offset=int(block.position[0]))
        best = merge_top([best, TopCandidates(position, margin)], k)
    return best
