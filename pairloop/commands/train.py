"""``pairloop train``: fit the relation committee on the store's verified labels and version it."""

from __future__ import annotations

import typer

from pairloop.commands.simulate import FEATURE_NAMES
from pairloop.console import console, emit_json, progress_bar
from pairloop.settings import get_settings
from pairloop.store_access import open_store
from store.errors import BadInput

FEATURES_HELP = f"Item encoder: {FEATURE_NAMES} (tfidf: char n-grams, any language; minilm: English)."


def train(
    features: str = typer.Option("tfidf", "--features", help=FEATURES_HELP),
    members: int = typer.Option(10, min=1, help="Logistic regressions in the committee."),
    c: float = typer.Option(10.0, "--c", min=1e-6, help="Inverse regularisation strength of each member."),
    cv: int = typer.Option(0, "--cv", min=0, help="Also report K-fold cross-validated macro-F1 (0: off)."),
    keep_round_labels: bool = typer.Option(
        True, help="Every member keeps all labels bought in rounds (only seed labels are downsampled)."),
    seed: int = typer.Option(0, help="Random seed of the class-balanced downsampling."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Train the committee on the verified labels (majority rule: PAIRLOOP_MAJORITY_RULE) and save a version."""
    import numpy as np

    from active_learning.rounds import acquired_pair_ids
    from classifier.committee import RelationCommittee
    from classifier.data import labels_hash, require_labelled, store_labelled_pairs
    from classifier.encoders import ENCODERS
    from classifier.model import RelationModel, make_featuriser
    from classifier.registry import save_model
    from classifier.validation import cross_validate

    if features not in ENCODERS:
        raise BadInput(f"unknown features {features!r}; choose from {', '.join(ENCODERS)}")
    settings = get_settings()
    engine = open_store(settings)
    with engine.connect() as conn:
        labelled = store_labelled_pairs(conn, settings.majority_rule, settings.min_agreeing)
    labelled = require_labelled(labelled, "the store's verified labels")
    acquired = acquired_pair_ids(engine) if keep_round_labels else set()
    priority = np.array([key in acquired for key in labelled.keys], dtype=bool)
    params = {"n_members": members, "C": c, "random_state": seed}
    metrics = {"classes": labelled.classes(), "round_labels": int(priority.sum())}
    if cv:
        with progress_bar(f"{cv}-fold cross-validation", cv) as advance:
            metrics["cv"] = cross_validate(labelled, cv, features, seed, params, on_fold=advance)
    with progress_bar("training", None):
        model = RelationModel.train(labelled, make_featuriser(features), RelationCommittee(**params), priority)
    info = save_model(engine, model, settings.data_path / "models", labels_hash(labelled), len(labelled), metrics)
    engine.dispose()
    if as_json:
        emit_json({"version": info.version, "path": info.path, "n_labels": info.n_labels,
                   "labels_hash": info.labels_hash, "featuriser": info.featuriser, "metrics": metrics})
        return
    line = f"trained {info.version} on {info.n_labels:,} verified labels ({_inline(metrics['classes'])})"
    if cv:
        line += f"; {cv}-fold macro-F1 {metrics['cv']['macro_f1']:.3f} ± {metrics['cv']['macro_f1_std']:.3f}"
    console.print(line)


def _inline(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items()))
