"""Train and evaluate the relation classifier on the store: `pairloop train`, `pairloop
evaluate`, and the retraining that closes a round."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from pairloop.usecases.context import Context
from store.errors import BadInput

if TYPE_CHECKING:
    from classifier.data import PairSet
    from classifier.registry import ModelInfo

# The item encoders of classifier.encoders.ENCODERS, named here so that help texts need not
# import scikit-learn (tests check the two agree).
FEATURE_NAMES = "tfidf, tfidf-svd, minilm"


@dataclass(frozen=True)
class TrainParams:
    features: str = "tfidf"
    members: int = 10
    c: float = 10.0
    seed: int = 0
    keep_round_labels: bool = True  # every member keeps all labels bought in rounds
    cv: int = 0  # K-fold cross-validation on top (0: off)
    domain_gate: bool = True  # with round labels: a domain gate, the store's pool against the other labels


class TrainResult(BaseModel):
    """A trained classifier version, as the registry recorded it."""

    version: str = Field(description="The new version, e.g. c0003-1a2b3c4d (number, training-label hash).")
    path: str = Field(description="The saved model file.")
    n_labels: int = Field(description="Verified labels it was trained on.")
    labels_hash: str = Field(description="Hash of the training labels.")
    featuriser: dict[str, Any] = Field(description="The item encoder's settings.")
    params: dict[str, Any] = Field(default_factory=dict, description="The committee's parameters.")
    metrics: dict[str, Any] | None = Field(
        None, description="classes, round_labels, domain_gate, and cv (macro-F1 ± std) when asked for.")


def check_features(name: str) -> None:
    """BadInput unless ``name`` is a known item encoder."""
    from classifier.encoders import ENCODERS

    if name not in ENCODERS:
        raise BadInput(f"unknown features {name!r}; choose from {', '.join(ENCODERS)}")


def train_on_store(ctx: Context, params: TrainParams | None = None, labelled: PairSet | None = None) -> TrainResult:
    """Fit the committee on the store's verified labels (``labelled``: when already read) and save
    it as a new version."""
    from active_learning.pools import store_pool
    from active_learning.rounds import acquired_pair_ids
    from classifier.committee import RelationCommittee
    from classifier.data import labels_hash, require_labelled, store_labelled_pairs
    from classifier.model import RelationModel, make_featuriser
    from classifier.registry import save_model
    from classifier.validation import cross_validate

    engine, settings = ctx.engine, ctx.settings
    params = params or TrainParams(features=settings.features)
    check_features(params.features)
    with engine.connect() as conn:
        if labelled is None:
            labelled = store_labelled_pairs(conn, settings.majority_rule, settings.min_agreeing)
        pool = store_pool(conn, settings.majority_rule, settings.min_agreeing) if params.domain_gate else None
    labelled = require_labelled(labelled, "the store's verified labels")
    acquired = acquired_pair_ids(engine) if params.keep_round_labels else set()
    priority = np.array([key in acquired for key in labelled.keys], dtype=bool)
    committee = {"n_members": params.members, "C": params.c, "random_state": params.seed}
    metrics: dict[str, Any] = {"classes": labelled.classes(), "round_labels": int(priority.sum())}
    if params.cv:
        with ctx.progress.task(f"{params.cv}-fold cross-validation", params.cv) as on_fold:
            metrics["cv"] = cross_validate(labelled, params.cv, params.features, params.seed, committee,
                                           on_fold=on_fold)
    with ctx.progress.status("training the committee"):
        model = RelationModel.train(labelled, make_featuriser(params.features), RelationCommittee(**committee),
                                    priority, pool, params.seed)
    metrics["domain_gate"] = model.committee.domain_ is not None
    info = save_model(engine, model, settings.data_path / "models", labels_hash(labelled), len(labelled), metrics)
    return TrainResult(**asdict(info))


class ClassFigures(BaseModel):
    precision: float
    recall: float
    f1: float
    support: int = Field(description="Test pairs of this class.")


class Confusion(BaseModel):
    labels: list[str] = Field(description="The model's classes: rows are true, columns predicted.")
    matrix: list[list[int]]


class Evaluation(BaseModel):
    """A trained version scored on a labelled pair file (also written as metrics.json)."""

    n: int = Field(description="Labelled test pairs.")
    macro_f1: float
    accuracy: float
    per_class: dict[str, ClassFigures]
    confusion: Confusion
    version: str = Field(description="The classifier version evaluated.")
    test: str = Field(description="The test file.")
    vocabulary_coverage: float = Field(description="Share of test items the featuriser's vocabulary knows.")
    evaluated_at: str = Field(description="When (UTC, ISO 8601).")
    json_path: str = Field(alias="json", description="The written metrics.json.")
    png_path: str = Field(alias="png", description="The written confusion.png.")

    model_config = ConfigDict(validate_by_name=True, serialize_by_alias=True)  # "json" is a BaseModel method


def evaluate_file(ctx: Context, test: Path, version: str | None = None, out: Path | None = None) -> Evaluation:
    """Score a labelled pair file with a trained version (default: the newest); write
    metrics.json and confusion.png (both or neither) and record the figures with the version."""
    from classifier.data import read_pair_file, require_labelled
    from classifier.evaluation import classification_metrics, write_report
    from classifier.model import check_vocabulary
    from classifier.registry import load_model, record_metrics

    engine, settings = ctx.engine, ctx.settings
    pairs = require_labelled(read_pair_file(test, None, settings.majority_rule, settings.min_agreeing),
                             "the test file")
    model, info = load_model(engine, version)
    coverage = check_vocabulary(model.featuriser, pairs, "the test file")
    with ctx.progress.task(f"scoring {test.name}", len(pairs.items)) as advance:
        vectors = model.featuriser.encode(pairs.items, advance)
    predicted = model.predict(pairs, vectors)
    metrics = classification_metrics(pairs.labels.astype(str), predicted, model.classes)
    metrics.update({"version": info.version, "test": str(test), "vocabulary_coverage": round(coverage, 4),
                    "evaluated_at": datetime.now(UTC).isoformat(timespec="seconds")})
    out = out or settings.data_path / "evaluations" / f"{info.version}-{test.stem}"
    json_path, png_path = write_report(metrics, out, f"{info.version} on {test.name}")
    record_metrics(engine, info.version, test.name, {k: metrics[k] for k in ("n", "macro_f1", "accuracy")})
    return Evaluation(**metrics, json=str(json_path), png=str(png_path))


class Retrained(BaseModel):
    """The classifier a closed round trained (or kept), and its held-out figures when a test set is given."""

    version: str
    retrained: bool = Field(True, description="False: no verified label had changed since this version, "
                                              "which was kept rather than trained again.")
    n_labels: int = Field(description="Verified labels it was trained on.")
    test_set: str | None = Field(None, description="The held-out file scored (--test, else PAIRLOOP_TEST_SET).")
    test_macro_f1: float | None = Field(None, description="Held-out macro-F1 on the test set.")
    test_accuracy: float | None = None
    test_report: str | None = Field(None, description="metrics.json of the held-out evaluation.")


def check_test_set(ctx: Context, test: Path | None = None) -> Path | None:
    """The held-out file a round's close scores: ``test``, else ``PAIRLOOP_TEST_SET`` (None: no
    test set). Read once here, so that a missing or unusable file is a :class:`BadInput` naming
    it before anything is trained or closed."""
    from classifier.data import read_pair_file, require_labelled

    path = test or ctx.settings.test_set
    if path is not None:
        settings = ctx.settings
        require_labelled(read_pair_file(path, None, settings.majority_rule, settings.min_agreeing), "the test file")
    return path


def unchanged_classifier(ctx: Context, labelled: PairSet) -> ModelInfo | None:
    """The newest classifier version when it was trained on exactly ``labelled``, the store's
    verified labels of now (same pairs, same relations), with the configured features."""
    from classifier.data import labels_hash
    from classifier.registry import latest_version, model_info

    newest = latest_version(ctx.engine)
    if newest is None:
        return None
    info = model_info(ctx.engine, newest)
    settings = ctx.settings
    if info.labels_hash != labels_hash(labelled) or info.featuriser.get("encoder") != settings.features:
        return None
    return info


def retrain_for_round(ctx: Context, test_set: Path | None = None) -> Retrained:
    """What closing a round records: a new version trained on the store's verified labels, or the
    newest one when no label changed since it was trained; its held-out figures on ``test_set``
    (checked by :func:`check_test_set`) when there is one."""
    from classifier.data import store_labelled_pairs

    settings = ctx.settings
    with ctx.engine.connect() as conn:
        labelled = store_labelled_pairs(conn, settings.majority_rule, settings.min_agreeing)
    kept = unchanged_classifier(ctx, labelled)
    if kept is None:
        info = train_on_store(ctx, labelled=labelled)
        result = Retrained(version=info.version, n_labels=info.n_labels)
    else:
        result = Retrained(version=kept.version, retrained=False, n_labels=kept.n_labels)
    if test_set is not None:
        evaluation = evaluate_file(ctx, test_set, result.version)
        result = result.model_copy(update={"test_set": str(test_set), "test_macro_f1": evaluation.macro_f1,
                                           "test_accuracy": evaluation.accuracy,
                                           "test_report": evaluation.json_path})
    return result


def load_or_train(ctx: Context):
    """The newest classifier version, trained first when there is none; (model, version)."""
    from classifier.registry import latest_version, load_model

    if latest_version(ctx.engine) is None:
        train_on_store(ctx)
    model, info = load_model(ctx.engine)
    return model, info.version
