"""Train and evaluate the relation classifier on the store: shared by `pairloop train`,
`pairloop evaluate` and `pairloop round close`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine

from pairloop.settings import Settings
from store.errors import BadInput

Progress = Callable[[int], None]


@dataclass(frozen=True)
class TrainParams:
    features: str = "tfidf"
    members: int = 10
    c: float = 10.0
    seed: int = 0
    keep_round_labels: bool = True  # every member keeps all labels bought in rounds
    cv: int = 0  # K-fold cross-validation on top (0: off)
    domain_gate: bool = True  # with round labels: a domain gate, the store's pool against the other labels


def train_on_store(engine: Engine, settings: Settings, params: TrainParams | None = None,
                   on_fold: Progress | None = None):
    """Fit the committee on the store's verified labels and save it as a new version.

    Returns the recorded :class:`classifier.registry.ModelInfo`.
    """
    from active_learning.rounds import acquired_pair_ids
    from classifier.committee import RelationCommittee
    from classifier.data import labels_hash, require_labelled, store_labelled_pairs
    from classifier.encoders import ENCODERS
    from classifier.model import RelationModel, make_featuriser
    from classifier.registry import save_model
    from classifier.validation import cross_validate

    params = params or TrainParams(features=settings.features)
    if params.features not in ENCODERS:
        raise BadInput(f"unknown features {params.features!r}; choose from {', '.join(ENCODERS)}")
    from active_learning.pools import store_pool

    with engine.connect() as conn:
        labelled = store_labelled_pairs(conn, settings.majority_rule, settings.min_agreeing)
        pool = store_pool(conn, settings.majority_rule, settings.min_agreeing) if params.domain_gate else None
    labelled = require_labelled(labelled, "the store's verified labels")
    acquired = acquired_pair_ids(engine) if params.keep_round_labels else set()
    priority = np.array([key in acquired for key in labelled.keys], dtype=bool)
    committee = {"n_members": params.members, "C": params.c, "random_state": params.seed}
    metrics: dict[str, Any] = {"classes": labelled.classes(), "round_labels": int(priority.sum())}
    if params.cv:
        metrics["cv"] = cross_validate(labelled, params.cv, params.features, params.seed, committee,
                                       on_fold=on_fold)
    model = RelationModel.train(labelled, make_featuriser(params.features), RelationCommittee(**committee),
                                priority, pool, params.seed)
    metrics["domain_gate"] = model.committee.domain_ is not None
    return save_model(engine, model, settings.data_path / "models", labels_hash(labelled), len(labelled), metrics)


def evaluate_file(engine: Engine, settings: Settings, test: Path, version: str | None = None,
                  out: Path | None = None, progress: Progress | None = None) -> dict[str, Any]:
    """Score a labelled pair file with a trained version; write metrics.json and confusion.png."""
    from classifier.data import read_pair_file, require_labelled
    from classifier.evaluation import classification_metrics, write_report
    from classifier.model import check_vocabulary
    from classifier.registry import load_model, record_metrics

    pairs = require_labelled(read_pair_file(test, None, settings.majority_rule, settings.min_agreeing),
                             "the test file")
    model, info = load_model(engine, version)
    coverage = check_vocabulary(model.featuriser, pairs, "the test file")
    vectors = model.featuriser.encode(pairs.items, progress)
    predicted = model.predict(pairs, vectors)
    metrics = classification_metrics(pairs.labels.astype(str), predicted, model.classes)
    metrics.update({"version": info.version, "test": str(test), "vocabulary_coverage": round(coverage, 4),
                    "evaluated_at": datetime.now(UTC).isoformat(timespec="seconds")})
    out = out or settings.data_path / "evaluations" / f"{info.version}-{test.stem}"
    json_path, png_path = write_report(metrics, out, f"{info.version} on {test.name}")
    record_metrics(engine, info.version, test.name, {k: metrics[k] for k in ("n", "macro_f1", "accuracy")})
    return {**metrics, "json": str(json_path), "png": str(png_path)}


def retrain_for_round(engine: Engine, settings: Settings) -> dict[str, Any]:
    """What `round close` records: the new version, and its held-out macro-F1 when
    ``PAIRLOOP_TEST_SET`` names a labelled pair file."""
    info = train_on_store(engine, settings)
    result: dict[str, Any] = {"version": info.version, "n_labels": info.n_labels}
    if settings.test_set is not None:
        metrics = evaluate_file(engine, settings, settings.test_set, info.version)
        result.update(test_macro_f1=metrics["macro_f1"], test_accuracy=metrics["accuracy"],
                      test_report=metrics["json"])
    return result


def load_or_train(engine: Engine, settings: Settings):
    """The newest classifier version, trained first when there is none; (model, version)."""
    from classifier.registry import latest_version, load_model

    if latest_version(engine) is None:
        train_on_store(engine, settings)
    model, info = load_model(engine)
    return model, info.version
