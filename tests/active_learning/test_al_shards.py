"""Pools as Parquet shards and lazy pools: written whole or not at all, read back exactly, and
scored block by block with the same top-k as the whole pool at once, ties included."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest

from active_learning.scoring import top_by_margin
from active_learning.shards import (
    LazyPool,
    PairBlock,
    ShardBlocks,
    iter_blocks,
    open_shards,
    pairs_at,
    score_pool_source,
    source_blocks,
    triangular_root,
    write_shards,
)
from classifier.data import read_pair_file
from store.errors import BadInput
from store.formats.records import CatalogueItem

PATHS = ["Food > Fruit", "Food > Fruit", "Food > Bread", "Home > Kitchen", "Home > Kitchen", None, "Food > Fruit",
         "Lone > One", "Home > Garden", "Food > Bread", "Home > Kitchen", None, "Food > Fruit"]


def _items() -> list[CatalogueItem]:
    return [CatalogueItem(f"k{n:02d}", f"title {n}", path) for n, path in enumerate(PATHS)]


def _all_blocks(pool: LazyPool, block_pairs: int) -> list[tuple[int, int, int]]:
    rows = []
    for i in range(pool.n_blocks(block_pairs)):
        block = pool.block(i, block_pairs)
        rows += zip(block.position.tolist(), block.a.tolist(), block.b.tolist(), strict=True)
    return rows


def _brute_force(items: list[CatalogueItem], scope: str) -> set[frozenset[int]]:
    group = {"category": lambda i: i.category_path, "major": lambda i: i.major_category, "all": lambda _i: ""}[scope]
    return {frozenset((a, b)) for a, b in combinations(range(len(items)), 2)
            if (scope == "all" or (items[a].category_path and items[b].category_path))
            and group(items[a]) == group(items[b])}


@pytest.mark.parametrize("scope", ["category", "major", "all"])
def test_lazy_blocks_cover_exactly_the_pairs_of_a_brute_force_enumeration(scope):
    items = _items()
    pool = LazyPool(items, scope)
    expected = _brute_force(items, scope)
    rows = _all_blocks(pool, 4)
    assert pool.pairs == len(expected) == len(rows)
    assert [p for p, _a, _b in rows] == list(range(pool.pairs))
    assert {frozenset((a, b)) for _p, a, b in rows} == expected  # every pair once, no item paired with itself
    for block_pairs in (1, 3, 1000):  # blocks cut anywhere give the same sequence
        assert _all_blocks(pool, block_pairs) == rows
    limited = LazyPool(items, scope, limit=5)
    assert limited.pairs == 5 and _all_blocks(limited, 2) == rows[:5]
    assert LazyPool(items, scope, limit=10**9).pairs == pool.pairs


def test_a_lazy_pool_is_the_same_whatever_the_order_of_the_items():
    items = _items()
    shuffled = items[:]
    random.Random(3).shuffle(shuffled)
    for scope in ("category", "major", "all"):
        keys = [(items[a].key, items[b].key) for _p, a, b in _all_blocks(LazyPool(items, scope), 5)]
        again = [(shuffled[a].key, shuffled[b].key) for _p, a, b in _all_blocks(LazyPool(shuffled, scope), 5)]
        assert keys == again


def test_lazy_positions_invert_exactly_in_a_large_group():
    """2·10^10 pairs in one group: the float inversion is corrected to the exact pair."""
    n = 200_000
    pool = LazyPool([CatalogueItem(f"{i:06d}", "t", "Food") for i in range(n)], "category")
    assert pool.pairs == n * (n - 1) // 2
    block_pairs = 1_000_000
    for i in (0, 7_777, pool.n_blocks(block_pairs) - 1):
        block = pool.block(i, block_pairs)
        low, high = np.minimum(block.a, block.b).astype(np.int64), np.maximum(block.a, block.b).astype(np.int64)
        assert np.array_equal(high * (high - 1) // 2 + low, block.position)  # keys sort as indices here
    last = pool.block(pool.n_blocks(block_pairs) - 1, block_pairs)
    assert (int(last.a[-1]), int(last.b[-1])) == (n - 2, n - 1)
    with pytest.raises(IndexError):
        pool.block(pool.n_blocks(block_pairs), block_pairs)


def test_the_triangular_root_is_exact_where_floating_point_is_not():
    """Columns up to 3·10^9 (ranks past 2^53, a pool of 4·10^18 pairs): the float estimate is off
    by one there, the result is not."""
    j = np.random.default_rng(0).integers(10**8, 3 * 10**9, 2000, dtype=np.int64)
    start = j * (j - 1) // 2
    for rank, column in ((start, j), (start + j - 1, j), (start - 1, j - 1)):
        assert np.array_equal(triangular_root(rank), column)
    estimate = np.floor((1 + np.sqrt(1 + 8 * (start - 1).astype(np.float64))) / 2).astype(np.int64)
    assert (estimate != j - 1).any()  # the correction is needed, not decoration


def test_a_lazy_pool_refuses_an_unknown_scope():
    with pytest.raises(BadInput, match="unknown pool scope 'aisle'"):
        LazyPool(_items(), "aisle")


def test_shards_round_trip_items_pairs_and_pair_ids(tmp_path):
    items = _items()
    lazy = LazyPool(items, "all")
    blocks = [PairBlock(b.position, b.a, b.b, b.position * 10 + 7) for b in source_blocks(lazy, 9)]
    item_ids = [100 + n if n % 3 else None for n in range(len(items))]
    shards = write_shards(tmp_path / "pool", items, blocks, rows_per_shard=20, item_ids=item_ids,
                          description="test pool", descriptions=[f"about {n}" for n in range(len(items))])
    assert shards.pairs == lazy.pairs == 78
    assert [p.name for p in shards.shard_paths] == [f"pairs-{n:05d}.parquet" for n in range(4)]
    manifest = json.loads((tmp_path / "pool" / "pool.json").read_text())
    assert manifest == {"format": "pairloop-pool", "version": 1, "pairs": 78, "items": "items.parquet",
                        "shards": [p.name for p in shards.shard_paths], "description": "test pool"}

    again = open_shards(tmp_path / "pool")
    assert again == shards
    assert again.items == items and again.item_ids == item_ids
    read = list(iter_blocks(again, 7))
    assert max(len(b) for b in read) == 7
    position = np.concatenate([b.position for b in read])
    assert np.array_equal(position, np.arange(78))
    assert np.array_equal(np.concatenate([b.a for b in read]), np.concatenate([b.a for b in blocks]))
    assert np.array_equal(np.concatenate([b.b for b in read]), np.concatenate([b.b for b in blocks]))
    assert np.array_equal(np.concatenate([b.pair_id for b in read]), position * 10 + 7)

    picked = pairs_at(again, np.array([77, 0, 21, 40]))
    assert picked.position.tolist() == [77, 0, 21, 40] and picked.pair_id.tolist() == [777, 7, 217, 407]
    whole = lazy.block(0, 100)
    assert picked.a.tolist() == whole.a[[77, 0, 21, 40]].tolist()


@pytest.mark.parametrize("block_pairs", [1, 7, 100, 250, 333, 5000])
def test_blocks_read_by_number_equal_the_streamed_pool(tmp_path, block_pairs):
    """What a Ray worker reads (ShardBlocks: only the row groups of its block) is the pool."""
    items = [CatalogueItem(str(n), f"t{n}", f"c{n % 3}") for n in range(60)]
    shards = open_shards(write_shards(tmp_path / "pool", items, source_blocks(LazyPool(items, "all"), 97),
                                      rows_per_shard=250).root)
    by_number = ShardBlocks(shards)
    blocks = [by_number.block(i, block_pairs) for i in range(by_number.n_blocks(block_pairs))]
    streamed = list(iter_blocks(shards, 10**6))
    for column in ("position", "a", "b"):
        assert np.array_equal(np.concatenate([getattr(b, column) for b in blocks]),
                              np.concatenate([getattr(b, column) for b in streamed]))
    assert [len(b) for b in blocks] == [min(block_pairs, shards.pairs - i * block_pairs) for i in range(len(blocks))]


def test_a_pool_without_pair_ids_reads_none(tmp_path):
    shards = write_shards(tmp_path / "pool", _items(), source_blocks(LazyPool(_items(), "category"), 4))
    assert all(block.pair_id is None for block in iter_blocks(shards, 4))
    assert pairs_at(shards, np.array([1, 2])).pair_id is None


def test_an_existing_pool_is_replaced_and_another_folder_refused(tmp_path):
    items = _items()
    write_shards(tmp_path / "pool", items, source_blocks(LazyPool(items, "all"), 10), rows_per_shard=10)
    smaller = write_shards(tmp_path / "pool", items, source_blocks(LazyPool(items, "category"), 10))
    assert open_shards(tmp_path / "pool").pairs == smaller.pairs == LazyPool(items, "category").pairs
    assert sorted(p.name for p in (tmp_path / "pool").iterdir()) == ["items.parquet", "pairs-00000.parquet",
                                                                      "pool.json"]
    assert [p.name for p in tmp_path.iterdir()] == ["pool"]  # the old pool is gone, nothing left beside
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("keep me")
    with pytest.raises(BadInput, match="is not a pool folder") as raised:
        write_shards(tmp_path / "notes", items, [])
    assert raised.value.path == str(tmp_path / "notes")
    assert (tmp_path / "notes" / "todo.txt").read_text() == "keep me"


def _failing(blocks, after: int):
    for n, block in enumerate(blocks):
        if n == after:
            raise RuntimeError("the source broke")
        yield block


def test_a_failed_write_leaves_nothing_and_keeps_the_old_pool(tmp_path):
    items = _items()
    with pytest.raises(RuntimeError, match="the source broke"):
        write_shards(tmp_path / "pool", items, _failing(source_blocks(LazyPool(items, "all"), 5), 3),
                     rows_per_shard=5)
    assert list(tmp_path.iterdir()) == []
    old = write_shards(tmp_path / "pool", items, source_blocks(LazyPool(items, "category"), 5))
    with pytest.raises(RuntimeError, match="the source broke"):
        write_shards(tmp_path / "pool", items, _failing(source_blocks(LazyPool(items, "all"), 5), 3))
    assert [p.name for p in tmp_path.iterdir()] == ["pool"]
    assert open_shards(tmp_path / "pool") == old


def test_blocks_out_of_order_or_naming_unknown_items_are_refused(tmp_path):
    items = _items()
    gap = [PairBlock(np.array([0, 1]), np.array([0, 1]), np.array([1, 2])),
           PairBlock(np.array([3]), np.array([0]), np.array([2]))]
    with pytest.raises(ValueError, match="continue from 2"):
        write_shards(tmp_path / "pool", items, gap)
    with pytest.raises(ValueError, match="item index 13 is outside the 13 items"):
        write_shards(tmp_path / "pool", items, [PairBlock(np.array([0]), np.array([0]), np.array([13]))])
    assert list(tmp_path.iterdir()) == []


KILLED_WRITER = """
import os, signal, sys
from pathlib import Path
from active_learning.shards import LazyPool, source_blocks, write_shards
from store.formats.records import CatalogueItem

items = [CatalogueItem(str(n), "t", "Food") for n in range(200)]

def blocks():
    for n, block in enumerate(source_blocks(LazyPool(items, "all"), 1000)):
        if n == 5:  # five blocks written into two shards: killed mid-write
            os.kill(os.getpid(), signal.SIGKILL)
        yield block

write_shards(Path(sys.argv[1]), items, blocks(), rows_per_shard=2000)
"""


def test_a_killed_write_leaves_no_pool(tmp_path):
    root = tmp_path / "pool"
    done = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(root)], cwd=Path(__file__).parents[2],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == -9, done.stderr
    assert not root.exists()
    assert all(p.name.startswith(".pool.") for p in tmp_path.iterdir())  # only a hidden staging folder
    with pytest.raises(BadInput, match="no pool.json"):
        open_shards(root)


def _damage(root: Path, case: str) -> Path:
    """Damage a written pool one way; the file the error must name."""
    manifest_path = root / "pool.json"
    manifest = json.loads(manifest_path.read_text())
    if case == "no manifest":
        manifest_path.unlink()
    elif case == "not json":
        manifest_path.write_text("{format: pool")
    elif case == "other format":
        manifest_path.write_text(json.dumps({**manifest, "format": "something-else"}))
    elif case == "newer version":
        manifest_path.write_text(json.dumps({**manifest, "version": 2}))
    elif case == "pairs not counted":
        manifest_path.write_text(json.dumps({**manifest, "pairs": "many"}))
    elif case == "wrong count":
        manifest_path.write_text(json.dumps({**manifest, "pairs": manifest["pairs"] + 1}))
    elif case == "outside the folder":
        manifest_path.write_text(json.dumps({**manifest, "shards": ["../pairs-00000.parquet"]}))
    elif case == "missing shard":
        (root / "pairs-00001.parquet").unlink()
        return root / "pairs-00001.parquet"
    elif case == "corrupt shard":
        (root / "pairs-00001.parquet").write_bytes(b"PAR1 not really")
        return root / "pairs-00001.parquet"
    elif case == "corrupt items":
        (root / "items.parquet").write_bytes(b"garbage")
        return root / "items.parquet"
    return manifest_path


@pytest.mark.parametrize("case", ["no manifest", "not json", "other format", "newer version", "pairs not counted",
                                  "wrong count", "outside the folder", "missing shard", "corrupt shard",
                                  "corrupt items"])
def test_a_bad_manifest_or_shard_names_the_file(tmp_path, case):
    items = _items()
    write_shards(tmp_path / "pool", items, source_blocks(LazyPool(items, "all"), 10), rows_per_shard=30)
    at_fault = _damage(tmp_path / "pool", case)
    with pytest.raises(BadInput) as raised:
        open_shards(tmp_path / "pool")
    assert raised.value.path == str(at_fault)
    assert str(at_fault) in str(raised.value)


def test_a_shard_with_positions_out_of_order_is_refused_while_reading(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    items = _items()
    shards = write_shards(tmp_path / "pool", items, source_blocks(LazyPool(items, "all"), 10), rows_per_shard=30)
    table = pq.read_table(shards.shard_paths[1])
    reversed_positions = table.set_column(0, "position", pa.array(table.column("position").to_numpy()[::-1]))
    pq.write_table(reversed_positions, shards.shard_paths[1])
    with pytest.raises(BadInput, match="damaged shard") as raised:
        list(iter_blocks(open_shards(tmp_path / "pool"), 10))
    assert raised.value.path == str(shards.shard_paths[1])


@pytest.fixture(scope="module")
def tied_pool(sample_split):
    """The sample pool with every pair listed twice more, far apart: equal margins at many positions."""
    pool = read_pair_file(sample_split["pool"])
    ia = np.concatenate([pool.ia, pool.ib[::-1], pool.ia]).astype(np.int32)
    ib = np.concatenate([pool.ib, pool.ia[::-1], pool.ib]).astype(np.int32)
    return pool.items, ia, ib


@pytest.mark.parametrize(("k", "block_pairs"), [(50, 1000), (300, 777), (7000, 4096)])
def test_block_wise_scoring_equals_the_whole_scan_ties_included(sample_model, tied_pool, tmp_path, k, block_pairs):
    items, ia, ib = tied_pool
    vectors = sample_model.featuriser.encode(items)
    position, margin = top_by_margin(sample_model, vectors, ia, ib, k)
    assert len(np.unique(margin)) < len(margin)  # the pool really ties
    shards = write_shards(tmp_path / "pool", items, source_blocks((ia, ib), 1000), rows_per_shard=2500)
    seen: list[int] = []
    for source in ((ia, ib), shards):
        best = score_pool_source(sample_model, vectors, source, k, block_pairs, seen.append)
        assert np.array_equal(best.position, position)
        assert np.array_equal(best.margin, margin)
    assert sum(seen) == 2 * len(ia)


def test_scoring_a_lazy_pool_equals_scanning_its_pairs(sample_model, sample_split):
    items = read_pair_file(sample_split["pool"]).items
    lazy = LazyPool(items, "major", limit=20_000)
    whole = lazy.block(0, lazy.pairs)
    vectors = sample_model.featuriser.encode(items)
    position, margin = top_by_margin(sample_model, vectors, whole.a, whole.b, 200)
    best = score_pool_source(sample_model, vectors, lazy, 200, 3000)
    assert np.array_equal(best.position, position) and np.array_equal(best.margin, margin)
