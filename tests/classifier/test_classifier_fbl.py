"""Real data: in-distribution macro-F1 on FBL2023 (80/20, stratified, seed 0) — KARL reports 0.82."""

from __future__ import annotations

import pytest

from classifier.data import read_pair_file, require_labelled
from classifier.evaluation import macro_f1
from classifier.model import RelationModel, make_featuriser

pytestmark = [pytest.mark.datasets, pytest.mark.slow]


def test_in_distribution_macro_f1_on_fbl2023_reaches_karl(fbl2023_split):
    train = require_labelled(read_pair_file(fbl2023_split["train"]), "train")
    test = require_labelled(read_pair_file(fbl2023_split["test"]), "test")
    # 2,800 rows hold 2,721 distinct pairs (a pair read twice would sit on both sides of a split);
    # 2,666 of them have a majority label.
    assert (len(train), len(test)) == (2133, 533)
    model = RelationModel.train(train, make_featuriser("tfidf"))
    assert macro_f1(test.labels.astype(str), model.predict(test)) >= 0.82
