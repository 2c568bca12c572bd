"""Active-learning fixtures: the sample catalogue, a small trained model, a store with a pool."""

from __future__ import annotations

from pathlib import Path

import pytest

from active_learning.pools import split_pair_file
from classifier.committee import RelationCommittee
from classifier.data import PairSet, read_pair_file, require_labelled
from classifier.model import RelationModel, make_featuriser
from pairloop.sample.catalogue import SampleFiles, write_sample
from store import formats
from store.importer import Importer


@pytest.fixture(scope="session")
def sample(tmp_path_factory) -> SampleFiles:
    return write_sample(tmp_path_factory.mktemp("sample"))


@pytest.fixture(scope="session")
def sample_split(sample, tmp_path_factory) -> dict[str, Path]:
    """The sample's truth file split 80/20 into a labelled pool and a test file."""
    parts = split_pair_file(sample.truth, [0.8, 0.2], ["pool", "test"], tmp_path_factory.mktemp("split"))
    return {"pool": parts[0][0], "test": parts[1][0]}


@pytest.fixture(scope="session")
def seed_pairs(sample) -> PairSet:
    return require_labelled(read_pair_file(sample.seed_labels), "seed")


@pytest.fixture(scope="session")
def sample_model(seed_pairs) -> RelationModel:
    return RelationModel.train(seed_pairs, make_featuriser(), RelationCommittee(n_members=5))


@pytest.fixture(scope="session")
def pool_context(sample_model, sample_split, seed_pairs):
    """(pool, X_pool, X_labelled) of the sample, featurised by ``sample_model``."""
    pool = read_pair_file(sample_split["pool"])
    featuriser = sample_model.featuriser
    X_pool = featuriser.features(featuriser.encode(pool.items), pool.ia, pool.ib)
    X_labelled = featuriser.features(featuriser.encode(seed_pairs.items), seed_pairs.ia, seed_pairs.ib)
    return pool, X_pool, X_labelled


@pytest.fixture
def stocked_engine(engine, sample, monkeypatch):
    """A store holding the sample's seed labels (one annotator each) and its unlabelled pool."""
    with engine.begin() as conn:
        importer = Importer(conn)
        importer.items(formats.read_items(sample.catalogue))
        importer.pairs(formats.read_pairs(sample.seed_labels))
        importer.pairs(formats.read_pairs(sample.pool))
        importer.finish()
    return engine


_SPLITS: dict[str, dict[str, Path]] = {}


@pytest.fixture
def fbl_ood(datasets, tmp_path_factory) -> dict[str, Path]:
    """KARL's out-of-distribution setting: FBL2023 80/20 (seed, ID test), FBL2024-dev 70/30 (pool, test)."""
    if not _SPLITS:
        out = tmp_path_factory.mktemp("fbl")
        fbl = datasets / "fbl"
        (seed, _), (id_test, _) = split_pair_file(fbl / "FBL2023.tsv", [0.8, 0.2], ["train", "test"], out)
        (pool, _), (test, _) = split_pair_file(fbl / "FBL2024-dev.tsv", [0.7, 0.3], ["pool", "test"], out)
        _SPLITS["fbl"] = {"seed": seed, "id_test": id_test, "pool": pool, "test": test}
    return _SPLITS["fbl"]
