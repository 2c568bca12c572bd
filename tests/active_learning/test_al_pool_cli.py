"""``pairloop pool build --out``, ``pool export`` and ``pool score`` against a real store (SQLite and
PostgreSQL): shards hold what the store would, the export is the pool ``round start`` draws from,
and the score is the in-process scan's, on Ray too."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from sqlalchemy import func, insert, select

from active_learning.pools import store_pool
from active_learning.scoring import top_by_margin
from active_learning.shards import iter_blocks, open_shards
from classifier.registry import load_model
from pairloop.settings import get_settings
from store.models import Pair, Round, RoundPair
from store.verified import MajorityRule


@pytest.fixture
def stocked(cli, sample):
    """The sample catalogue, its seed labels (three agreeing annotators each) and its unlabelled pool."""
    cli("import", "items", sample.catalogue)
    cli("import", "labels", sample.seed_labels)
    cli("import", "pairs", sample.pool)
    return cli


def _hold(engine, pair_ids: list[int]) -> None:
    """An open round holding these pairs (they leave the pool)."""
    with engine.begin() as conn:
        round_id = conn.execute(insert(Round).values(state="labelling", strategy="margin", params={}, seed=0)
                                .returning(Round.id)).scalar_one()
        conn.execute(insert(RoundPair), [{"round_id": round_id, "pair_id": pid, "rank": n, "score": 0.0,
                                          "status": "selected"} for n, pid in enumerate(pair_ids, start=1)])


def test_build_out_writes_the_stratified_pairs_as_shards_not_into_the_store(cli, engine, sample, tmp_path):
    cli("import", "items", sample.catalogue)
    out = tmp_path / "pool"
    report = json.loads(cli("pool", "build", "--per-category", "5", "--partners", "4", "--out", out,
                            "--shard-rows", "100", "--json").stdout)
    assert report["out"] == str(out) and report["pairs_added"] == 0
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Pair)).scalar_one() == 0
    shards = open_shards(out)
    assert shards.pairs == report["candidates"] and len(shards.shard_paths) == -(-shards.pairs // 100)
    assert all(item.key == str(item_id) for item, item_id in zip(shards.items, shards.item_ids, strict=True))
    in_shards = {frozenset((shards.item_ids[a], shards.item_ids[b])) for block in iter_blocks(shards, 1000)
                 for a, b in zip(block.a.tolist(), block.b.tolist(), strict=True)}

    stored = json.loads(cli("pool", "build", "--per-category", "5", "--partners", "4", "--json").stdout)
    assert stored["candidates"] == report["candidates"] and stored["out"] is None
    with engine.connect() as conn:
        in_store = {frozenset(ends) for ends in conn.execute(select(Pair.item_a_id, Pair.item_b_id))}
    assert in_shards == in_store and len(in_store) == shards.pairs
    assert "written to" in cli("pool", "build", "--out", out).stdout  # the old pool is replaced


def test_export_writes_the_open_pool_with_pair_ids(stocked, engine, tmp_path):
    with engine.connect() as conn:
        held = conn.execute(select(Pair.id).order_by(Pair.id.desc()).limit(7)).scalars().all()
    _hold(engine, held)
    out = tmp_path / "pool"
    report = json.loads(stocked("pool", "export", out, "--shard-rows", "700", "--json").stdout)
    with engine.connect() as conn:
        pool = store_pool(conn, MajorityRule.COARSE, get_settings().min_agreeing)
        ends = {pid: (a, b) for pid, a, b in conn.execute(select(Pair.id, Pair.item_a_id, Pair.item_b_id))}
    shards = open_shards(out)
    blocks = list(iter_blocks(shards, 500))
    pair_ids = np.concatenate([b.pair_id for b in blocks]).tolist()
    assert pair_ids == pool.keys and not set(held) & set(pair_ids)
    assert len(ends) - len(pair_ids) == 30 + 7  # the 30 verified seed pairs and the 7 held ones left out
    assert report == {"out": str(out), "pairs": len(pool), "items": len(shards.items), "shards": len(pool) // 700 + 1}
    a = np.concatenate([b.a for b in blocks])
    b = np.concatenate([b.b for b in blocks])
    assert [(shards.item_ids[i], shards.item_ids[j]) for i, j in zip(a, b, strict=True)] == [ends[p] for p in pair_ids]


def _in_process_top(engine, k: int):
    """The reference: the store pool scanned whole in one process."""
    model, _info = load_model(engine)
    with engine.connect() as conn:
        pool = store_pool(conn, MajorityRule.COARSE, get_settings().min_agreeing)
    return pool, top_by_margin(model, model.featuriser.encode(pool.items), pool.ia, pool.ib, k)


def test_score_equals_the_in_process_scan_and_writes_every_kept_pair(stocked, engine, tmp_path):
    stocked("train")
    stocked("pool", "export", tmp_path / "pool", "--shard-rows", "1000")
    out = tmp_path / "top.csv"
    report = json.loads(stocked("pool", "score", tmp_path / "pool", "--top", "25", "--out", out, "--json").stdout)
    pool, (position, margin) = _in_process_top(engine, 25)
    assert report["ran_on"] == "in-process" and report["pairs"] == len(pool) and report["top"] == 25
    assert report["classifier_version"].startswith("c0001-") and report["pairs_per_s"] > 0
    assert [row["position"] for row in report["best"]] == position[:20].tolist()
    with out.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(row["position"]) for row in rows] == position.tolist()
    assert [int(row["pair_id"]) for row in rows] == [pool.keys[p] for p in position]
    assert [int(row["rank"]) for row in rows] == list(range(1, 26))
    assert np.array_equal(np.asarray([float(row["margin"]) for row in rows], dtype=np.float32), margin)
    assert [(row["item_a"], row["item_b"]) for row in rows] == [
        (str(pool.items[pool.ia[p]].key), str(pool.items[pool.ib[p]].key)) for p in position]
    table = stocked("pool", "score", tmp_path / "pool", "--top", "5").stdout
    assert "least certain pairs" in table and "scored in-process" in table


def test_score_refuses_a_folder_that_is_not_a_pool_and_a_store_without_a_classifier(sqlite_cli, tmp_path):
    (tmp_path / "pool").mkdir()
    result = sqlite_cli("pool", "score", tmp_path / "pool", expect=2)
    assert f"{tmp_path / 'pool' / 'pool.json'}: not a pool" in result.stderr
    (tmp_path / "pool" / "pool.json").write_text('{"format": "pairloop-pool", "version": 9}')
    assert "version 9" in sqlite_cli("pool", "score", tmp_path / "pool", expect=2).stderr
    sqlite_cli("import", "pairs", _two_pairs(tmp_path))
    sqlite_cli("pool", "export", tmp_path / "pool2")
    assert "no trained model yet" in sqlite_cli("pool", "score", tmp_path / "pool2", expect=2).stderr


def _two_pairs(tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_text("item_a,item_b,title_a,title_b\nA1,A2,red apple,green apple\nA1,A3,red apple,bread\n")
    return path


def test_export_of_an_empty_pool_is_refused_and_writes_nothing(sqlite_cli, tmp_path):
    result = sqlite_cli("pool", "export", tmp_path / "pool", expect=2)
    assert "the pool is empty" in result.stderr
    assert not (tmp_path / "pool").exists()


@pytest.mark.ray
@pytest.mark.postgres
@pytest.mark.parametrize("empty_db_url", ["postgresql"], indirect=True)
def test_score_on_ray_equals_the_in_process_scan(stocked, engine, ray_cluster, monkeypatch, tmp_path):
    stocked("train")
    stocked("pool", "export", tmp_path / "pool", "--shard-rows", "900")
    here = json.loads(stocked("pool", "score", tmp_path / "pool", "--top", "40", "--json").stdout)
    monkeypatch.setenv("PAIRLOOP_RAY_ADDRESS", ray_cluster.address)
    monkeypatch.setenv("PAIRLOOP_RAY_BLOCK_PAIRS", "1000")
    get_settings.cache_clear()
    on_ray = json.loads(stocked("pool", "score", tmp_path / "pool", "--top", "40", "--json").stdout)
    assert on_ray["ran_on"] == f"ray:{ray_cluster.address}" and here["ran_on"] == "in-process"
    assert on_ray["best"] == here["best"] and on_ray["pairs"] == here["pairs"]
