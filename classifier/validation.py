"""K-fold cross-validated macro-F1 of the whole recipe (featuriser fitted inside each fold)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from sklearn.model_selection import StratifiedKFold

from classifier.committee import RelationCommittee
from classifier.data import PairSet
from classifier.evaluation import macro_f1
from classifier.model import RelationModel, make_featuriser


def fold_models(labelled: PairSet, folds: int = 5, features: str = "tfidf", seed: int = 0,
                committee: dict[str, Any] | None = None) -> Iterator[tuple[np.ndarray, RelationModel]]:
    """Per stratified fold: its held-out positions and the whole recipe fitted on the other folds."""
    y = labelled.labels.astype(str)
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(np.zeros(len(y)), y):
        yield test, RelationModel.train(labelled.subset(train), make_featuriser(features),
                                        RelationCommittee(**{**(committee or {}), "random_state": seed}))


def cross_validate(labelled: PairSet, folds: int = 5, features: str = "tfidf", seed: int = 0,
                   committee: dict[str, Any] | None = None,
                   on_fold: Callable[[], None] | None = None) -> dict[str, Any]:
    """Mean and per-fold macro-F1 over stratified folds; nothing of a test fold leaks into training."""
    y = labelled.labels.astype(str)
    scores = []
    for test, model in fold_models(labelled, folds, features, seed, committee):
        scores.append(macro_f1(y[test], model.predict(labelled.subset(test))))
        if on_fold:
            on_fold()
    return {"folds": folds, "macro_f1": round(float(np.mean(scores)), 4),
            "macro_f1_std": round(float(np.std(scores)), 4), "per_fold": [round(s, 4) for s in scores]}
