"""Classifier fixtures: the project's sample catalogue (fast) and FBL splits (real data)."""

from __future__ import annotations

from pathlib import Path

import pytest

from active_learning.pools import split_pair_file
from classifier.data import PairSet, read_pair_file, require_labelled
from pairloop.sample.catalogue import SampleFiles, write_sample


@pytest.fixture(scope="session")
def sample(tmp_path_factory) -> SampleFiles:
    return write_sample(tmp_path_factory.mktemp("sample"))


@pytest.fixture(scope="session")
def sample_seed(sample) -> PairSet:
    return require_labelled(read_pair_file(sample.seed_labels), "seed")


@pytest.fixture(scope="session")
def sample_truth(sample) -> PairSet:
    return require_labelled(read_pair_file(sample.truth), "truth")


_SPLITS: dict[Path, dict[str, Path]] = {}


@pytest.fixture
def fbl2023_split(datasets, tmp_path_factory) -> dict[str, Path]:
    """FBL2023 split 80/20 (seed 0), made once per session."""
    source = datasets / "fbl" / "FBL2023.tsv"
    if source not in _SPLITS:
        parts = split_pair_file(source, [0.8, 0.2], ["train", "test"], tmp_path_factory.mktemp("fbl"), seed=0)
        _SPLITS[source] = {name: path for name, (path, _n) in zip(["train", "test"], parts, strict=True)}
    return _SPLITS[source]
