"""Scoring and selection on a real two-node Ray cluster equal the same work in one process.

The pools hold twins (items with another key and the same texts), so margins tie, also across
the shortlist's cut: the tie-break (smaller pool position first) is what makes Ray's result the
same as one process's, whatever the blocks.
"""

from __future__ import annotations

import csv
import os
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select, update
from support.ray_cluster import worker_pids

from active_learning.distributed import Shortlister, top_by_margin_on_ray
from active_learning.oracle import TruthOracle
from active_learning.rounds import select_round
from active_learning.scoring import top_by_margin
from active_learning.selection import Constraints
from active_learning.shards import LazyPool, open_shards, source_blocks, write_shards
from active_learning.simulation import SimulationConfig, SimulationData, Simulator
from active_learning.strategies import get_strategy
from classifier.committee import RelationCommittee
from classifier.data import read_pair_file, require_labelled, store_labelled_pairs
from classifier.model import RelationModel, make_featuriser
from migrations import upgrade
from store import formats
from store.db import make_engine
from store.importer import Importer
from store.models import Round, RoundPair
from store.verified import MajorityRule

pytestmark = pytest.mark.ray

TWIN = "~twin"
BLOCK = 1_000
SHORTLIST = 301  # odd: the twin of the last shortlisted pair falls just outside (see test_the_cut_splits_a_tie)


def _rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def _write(path: Path, fields: list[str], rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fields)
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def twin_files(sample, tmp_path_factory) -> dict[str, Path]:
    """The sample catalogue, pool and truth, each pair also with a twin of its first item."""
    out = tmp_path_factory.mktemp("twins")
    fields, items = _rows(sample.catalogue)
    catalogue = _write(out / "catalogue.csv", fields, items + [{**i, "external_id": i["external_id"] + TWIN}
                                                                for i in items])
    files = {"catalogue": catalogue}
    for name, path in (("pool", sample.pool), ("truth", sample.truth)):
        fields, pairs = _rows(path)
        files[name] = _write(out / path.name, fields, pairs + [{**p, "item_a": p["item_a"] + TWIN} for p in pairs])
    return files


@pytest.fixture(scope="module")
def twin_store(sample, twin_files, tmp_path_factory) -> Path:
    """A SQLite store: the twin catalogue, the sample's seed labels, the twin pool (copied per test)."""
    path = tmp_path_factory.mktemp("store") / "pairloop.db"
    upgrade(f"sqlite:///{path}")
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        importer = Importer(conn)
        importer.items(formats.read_items(twin_files["catalogue"]))
        importer.pairs(formats.read_pairs(sample.seed_labels))
        importer.pairs(formats.read_pairs(twin_files["pool"]))
        importer.finish()
    engine.dispose()
    return path


@pytest.fixture
def engine_copy(twin_store, tmp_path):
    shutil.copy(twin_store, tmp_path / "pairloop.db")
    engine = make_engine(f"sqlite:///{tmp_path / 'pairloop.db'}")
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def store_model(twin_store) -> RelationModel:
    engine = make_engine(f"sqlite:///{twin_store}")
    with engine.connect() as conn:
        labelled = store_labelled_pairs(conn, MajorityRule.COARSE, min_agreeing=1)
    engine.dispose()
    return RelationModel.train(labelled, make_featuriser(), RelationCommittee(n_members=5))


@pytest.fixture(scope="module")
def twin_pool(twin_files):
    return read_pair_file(twin_files["pool"])


def _round(engine, round_id: int) -> tuple[list[tuple[int, int, float]], dict]:
    with engine.connect() as conn:
        pairs = conn.execute(select(RoundPair.pair_id, RoundPair.rank, RoundPair.score)
                             .where(RoundPair.round_id == round_id).order_by(RoundPair.rank)).all()
        metrics = conn.execute(select(Round.metrics).where(Round.id == round_id)).scalar_one()
    return [tuple(row) for row in pairs], metrics


def test_the_cut_splits_a_tie(store_model, twin_pool):
    """The pool's margins tie across the shortlist's cut, so the tests below test the tie-break."""
    vectors = store_model.featuriser.encode(twin_pool.items)
    margin = store_model.member_proba(vectors, twin_pool.ia, twin_pool.ib).mean(axis=0)
    top_two = np.sort(margin, axis=1)[:, -2:]
    margins = np.sort((top_two[:, 1] - top_two[:, 0]).astype(np.float32))
    assert margins[SHORTLIST - 1] == margins[SHORTLIST]


@pytest.mark.parametrize("strategy", ["margin", "entropy", "least_confidence", "qbc", "ranked_batch"])
def test_a_round_selected_on_ray_equals_the_one_selected_in_process(ray_driver, engine_copy, store_model, strategy):
    def run(shortlister: Shortlister | None) -> tuple[list, dict]:
        round_id = select_round(engine_copy, store_model, strategy, 20, seed=7, classifier_version="c0001-test",
                                min_agreeing=1, max_candidates=SHORTLIST, constraints=Constraints(max_per_item=2),
                                shortlister=shortlister)
        with engine_copy.begin() as conn:  # closed, its pairs are back in the pool for the next run
            conn.execute(update(Round).where(Round.id == round_id).values(state="closed"))
        return _round(engine_copy, round_id)

    here, here_metrics = run(None)
    on_ray, ray_metrics = run(Shortlister(ray_driver.address, BLOCK))
    assert on_ray == here and len(here) == 20
    assert (here_metrics.pop("scored_on"), ray_metrics.pop("scored_on")) == ("in-process", f"ray:{ray_driver.address}")
    assert ray_metrics == here_metrics
    assert here_metrics["pool"] > 4 * BLOCK and here_metrics["candidates"] == SHORTLIST


@pytest.fixture(scope="module")
def lazy_pool(twin_pool) -> LazyPool:
    pool = LazyPool(twin_pool.items, "category", limit=9_500)
    assert pool.pairs == 9_500
    return pool


def _in_process(model, vectors, pool: LazyPool, k: int) -> tuple[np.ndarray, np.ndarray]:
    whole = pool.block(0, pool.pairs)
    return top_by_margin(model, vectors, whole.a, whole.b, k)


def test_a_lazy_pool_and_its_shards_score_on_ray_as_in_process(ray_driver, store_model, lazy_pool, tmp_path):
    vectors = store_model.featuriser.encode(lazy_pool.items)
    position, margin = _in_process(store_model, vectors, lazy_pool, SHORTLIST)
    assert len(np.unique(margin)) < len(margin)  # tied margins among the best

    seen: list[int] = []
    lazy = top_by_margin_on_ray(store_model, vectors, lazy_pool, SHORTLIST, BLOCK, progress=seen.append)
    assert np.array_equal(lazy.position, position) and np.array_equal(lazy.margin, margin)
    assert sum(seen) == lazy_pool.pairs

    # Shards of 2,500 rows read in blocks of 1,000: Ray joins rows of two shards into one block.
    shards = write_shards(tmp_path / "pool", lazy_pool.items, source_blocks(lazy_pool, 700), rows_per_shard=2_500)
    seen.clear()
    on_shards = top_by_margin_on_ray(store_model, vectors, open_shards(shards.root), SHORTLIST, BLOCK,
                                     progress=seen.append)
    assert np.array_equal(on_shards.position, position) and np.array_equal(on_shards.margin, margin)
    assert sum(seen) == lazy_pool.pairs


def test_a_worker_killed_mid_job_costs_time_not_results(ray_driver, store_model, twin_pool):
    pool = LazyPool(twin_pool.items, "all", limit=300_000)
    block = 10_000
    vectors = store_model.featuriser.encode(pool.items)
    position, margin = _in_process(store_model, vectors, pool, SHORTLIST)
    killed: list[int] = []
    seen: list[int] = []

    def kill_after_the_first_block(pairs: int) -> None:
        seen.append(pairs)
        if not killed:
            victims = worker_pids("_BlockScorer", ray_driver.address)
            assert victims, "no scoring actor of this cluster found"
            os.kill(victims[0], signal.SIGKILL)
            killed.append(victims[0])

    top = top_by_margin_on_ray(store_model, vectors, pool, SHORTLIST, block, progress=kill_after_the_first_block)
    assert killed and sum(seen) == pool.pairs
    assert np.array_equal(top.position, position) and np.array_equal(top.margin, margin)


def test_a_simulation_shortlisted_on_ray_equals_the_one_in_process(ray_driver, sample, seed_pairs, twin_files):
    """The simulator's pool: the sample's truth and its twins, less the seed and test pairs."""
    data = SimulationData(seed_pairs, read_pair_file(twin_files["truth"]),
                          require_labelled(read_pair_file(sample.test), "test"))
    config = SimulationConfig(rounds=2, batch_size=10, committee={"n_members": 3}, max_candidates=SHORTLIST)

    def run(shortlister: Shortlister | None):
        simulator = Simulator(data, config, shortlister)
        result = simulator.run("margin", 3, TruthOracle(simulator.data.pool))
        return result, simulator.shortlisted

    here, shortlisted = run(None)
    assert shortlisted == 2 and get_strategy("margin").shortlist == "uncertainty"
    assert run(Shortlister(ray_driver.address, BLOCK)) == (here, 2)
